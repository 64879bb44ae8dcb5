"""The owner's phone mailbox: what app_voicemail's spool says the owner did (ALV-23, REC-04).

Intake copies a message into the register and leaves the spool's copy where it is: that copy
is the owner's phone mailbox (the message-waiting lamp stays lit, `VoiceMailMain` plays it).
After every intake pass this watch compares the spool with what it saw before:

- a message that moved from `INBOX`/`Urgent` to `Old` (or another folder) was listened to on
  the phone: the record gets `first_heard_at` and "hörd i telefonen" in its audit trail (ALV-13
  counts it);
- a message gone from every folder for `missing_after_s` was deleted on the phone: the record
  is hidden from its owner (REC-04), never deleted; the register keeps it;
- a copy whose record belongs to someone else than the mailbox's holder today (the number
  passed to a successor) is taken off the phone (HAL-08); the register keeps it.

app_voicemail renumbers `msgNNNN` files as it moves and deletes, so a message is recognised by
its content: its `msg_id` (Asterisk 11+), else the SHA-256 of its `msgNNNN.txt`. What a file
held is remembered by (inode, size, mtime) of its txt and audio, so an unchanged spool is not
read again on every pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.db import Db
from voicemail.errors import SpoolFormatError, StorageError, UnsafeSpoolEntry
from voicemail.register import RegisterStore, from_db_time, to_db_time
from voicemail.register_shared import SharedRegister
from voicemail.spool import SpoolListing, SpoolSlot, scan_mailboxes
from voicemail.spool_format import MAX_TXT_BYTES, parse_message
from voicemail.spoolfs import SpoolFs

log = logging.getLogger("voicemail.phone")

NEW_FOLDERS = frozenset({"INBOX", "Urgent"})  # app_voicemail's folders of unheard messages
PHONE_ACTOR = "system:phone"
HEARD_ON_PHONE = "hörd i telefonen"
DELETED_ON_PHONE = "raderad i telefonen: dold för ägaren, finns kvar i registret"
WITHDRAWN = "numret har gått vidare till en efterträdare: borttaget ur telefonbrevlådan"

Signature = tuple[int, int, int, int, int, int]


def db_of(store: RegisterStore) -> Db:
    """The store's database for the owner-side tables (both engines share `SharedRegister`)."""
    if not isinstance(store, SharedRegister):
        raise StorageError(f"{type(store).__name__} has no owner-side tables")
    return store.sql


async def rows_in(
    store: RegisterStore, sql: str, params: Sequence[object], values: Sequence[str]
) -> list[Sequence[Any]]:
    """`sql` whose `{in}` tests its last column against `values`, on either engine."""
    if not isinstance(store, SharedRegister):
        raise StorageError(f"{type(store).__name__} has no owner-side tables")
    return await store._rows_in(sql, params, values)


def message_key(msg_id: str | None, txt_sha256: str) -> str:
    """How a message is recognised wherever app_voicemail moved it."""
    return f"id:{msg_id}" if msg_id else f"txt:{txt_sha256}"


def signature(slot: SpoolSlot) -> Signature | None:
    """What the slot's files are now, or None unless both txt and audio are regular files."""
    t, a = slot.txt, slot.audio
    if t is None or a is None or t.kind != "file" or a.kind != "file":
        return None
    return (t.ino, t.size, t.mtime_ns, a.ino, a.size, a.mtime_ns)


@dataclass
class Seen:
    """What one spool slot held when last read."""

    sig: Signature
    key: str
    record_id: int | None = None


@dataclass(frozen=True, slots=True)
class Copy:
    """A record and where its phone copy was last seen."""

    record_id: int
    mailbox: str
    key: str
    owner_id: str | None
    first_heard_at: datetime | None
    hidden: bool
    folder: str | None  # None: not tracked yet, or left the phone
    missing_since: datetime | None
    tracked: bool


@dataclass
class PhoneReport:
    """What one look at the phone mailboxes found."""

    heard: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)
    tracked: int = 0  # copies newly known to be on the phone


_COPY_COLUMNS = (
    "r.id, r.mailbox, r.msg_id, r.txt_sha256, r.owner_id, r.first_heard_at,"
    " r.hidden_from_owner, p.folder, p.missing_since"
)
_TRACKED_SQL = (
    f"SELECT {_COPY_COLUMNS} FROM phone_copies p JOIN records r ON r.id = p.record_id"
    " WHERE p.folder IS NOT NULL AND r.context = ?"
)
_UPSERT_SQL = (
    "INSERT INTO phone_copies (record_id, mailbox, folder, seen_at, missing_since)"
    " VALUES (?, ?, ?, ?, NULL) ON CONFLICT (record_id) DO UPDATE SET folder = excluded.folder,"
    " seen_at = excluded.seen_at, missing_since = NULL"
)


def _copy(row: Sequence[Any], tracked: bool) -> Copy:
    return Copy(
        record_id=int(row[0]),
        mailbox=str(row[1]),
        key=message_key(row[2], str(row[3])),
        owner_id=row[4],
        first_heard_at=from_db_time(row[5]),
        hidden=bool(row[6]),
        folder=row[7] if tracked else None,
        missing_since=from_db_time(row[8]) if tracked else None,
        tracked=tracked,
    )


class PhoneWatch:
    """Follows the owners' phone mailboxes in one spool context (see the module text)."""

    def __init__(
        self,
        store: RegisterStore,
        fs: SpoolFs,
        context: str,
        missing_after_s: float = 30.0,
    ) -> None:
        self.store = store
        self.fs = fs
        self.context = context
        self.missing_after_s = missing_after_s
        self._seen: dict[str, Seen] = {}  # txt path -> what it held

    def registered(self, slot: SpoolSlot) -> bool:
        """The slot holds, unchanged, a message already in the register (intake skips it)."""
        sig = signature(slot)
        seen = self._seen.get(str(slot.txt.path)) if slot.txt else None
        if sig is None or seen is None:
            return False
        return seen.sig == sig and seen.record_id is not None

    def note(self, slot: SpoolSlot, msg_id: str | None, txt: bytes) -> None:
        """What intake just read from the slot (so the watch need not read it again)."""
        sig = signature(slot)
        if sig is not None and slot.txt is not None:
            key = message_key(msg_id, hashlib.sha256(txt).hexdigest())
            old = self._seen.get(str(slot.txt.path))
            known = old.record_id if old is not None and old.key == key else None
            self._seen[str(slot.txt.path)] = Seen(sig, key, known)

    def _identify(self, slot: SpoolSlot, sig: Signature) -> Seen | None:
        """Read the slot's txt (blocking): its message key; None when it cannot be read."""
        assert slot.txt is not None
        try:
            data = self.fs.read(slot.txt.path, MAX_TXT_BYTES)
            message = parse_message(data)
        except (OSError, UnsafeSpoolEntry, SpoolFormatError):
            return None  # intake waits for it or sets it aside
        return Seen(sig, message_key(message.msg_id, hashlib.sha256(data).hexdigest()))

    async def observe(
        self, listing: SpoolListing, owners: dict[str, str], now: datetime
    ) -> PhoneReport:
        """Compare the spool with the tracked copies; audit what the owners did."""
        report = PhoneReport()
        present: dict[tuple[str, str], tuple[str, SpoolSlot, Seen]] = {}
        paths: set[str] = set()
        for slot in listing.slots:
            sig = signature(slot)
            if sig is None or slot.txt is None:
                continue
            path = str(slot.txt.path)
            paths.add(path)
            seen = self._seen.get(path)
            if seen is None or seen.sig != sig:
                seen = await asyncio.to_thread(self._identify, slot, sig)
                if seen is None:
                    self._seen.pop(path, None)
                    continue
                self._seen[path] = seen
            where = present.get((slot.mailbox, seen.key))
            # copied to Old before the INBOX file is removed: the heard folder wins
            if where is None or where[0] in NEW_FOLDERS:
                present[(slot.mailbox, seen.key)] = (slot.folder, slot, seen)
        for gone in set(self._seen) - paths:
            del self._seen[gone]
        rows = await db_of(self.store).fetch(_TRACKED_SQL, (self.context,))
        tracked = {(c.mailbox, c.key): c for c in (_copy(r, True) for r in rows)}
        found = await self._lookup([k for k in present if k not in tracked])
        upserts: list[tuple[object, ...]] = []
        mailboxes = set(await asyncio.to_thread(scan_mailboxes, self.fs.given, self.context))
        for key, (folder, slot, seen) in present.items():
            item = tracked.get(key) or found.get(key)
            if item is None:
                continue  # not in the register yet: intake takes it in
            seen.record_id = item.record_id
            await self._present(item, folder, slot, owners, now, report, upserts)
        if upserts:  # one transaction for a whole spool seen for the first time
            async with db_of(self.store).transaction() as tx:
                for params in upserts:
                    await tx.execute(_UPSERT_SQL, params)
        for key, item in tracked.items():
            if key not in present and item.mailbox in mailboxes:
                await self._absent(item, now, report)
        return report

    async def _lookup(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Copy]:
        """Registered records behind present messages not tracked yet (any folder state)."""
        out: dict[tuple[str, str], Copy] = {}
        if not keys:
            return out
        base = (
            f"SELECT {_COPY_COLUMNS} FROM records r LEFT JOIN phone_copies p"
            " ON p.record_id = r.id WHERE r.context = ? AND "
        )
        ids = sorted({k[3:] for _, k in keys if k.startswith("id:")})
        txts = sorted({k[4:] for _, k in keys if k.startswith("txt:")})
        rows = await rows_in(self.store, base + "r.msg_id {in}", (self.context,), ids)
        rows += await rows_in(self.store, base + "r.txt_sha256 {in}", (self.context,), txts)
        wanted = set(keys)
        for row in rows:
            item = _copy(row, False)
            if (item.mailbox, item.key) in wanted:
                out[(item.mailbox, item.key)] = item
        return out

    async def _present(
        self,
        item: Copy,
        folder: str,
        slot: SpoolSlot,
        owners: dict[str, str],
        now: datetime,
        report: PhoneReport,
        upserts: list[tuple[object, ...]],
    ) -> None:
        if item.owner_id != owners.get(item.mailbox):
            await self._withdraw(item, folder, slot, now, report)
            return
        if not item.tracked:
            report.tracked += 1
        if not item.tracked or item.folder != folder or item.missing_since is not None:
            upserts.append((item.record_id, item.mailbox, folder, to_db_time(now)))
        was_new = item.folder is None or item.folder in NEW_FOLDERS
        if was_new and folder not in NEW_FOLDERS:
            await self._heard(item, folder, now)
            report.heard.append(item.record_id)

    async def _heard(self, item: Copy, folder: str, now: datetime) -> None:
        """ALV-13/ALV-23: listened to on the phone: in the record's audit trail."""
        note = {"via": "telefon", "händelse": HEARD_ON_PHONE, "mailbox": item.mailbox}
        note["folder"] = folder
        if item.first_heard_at is None:
            await self.store.update_record(
                item.record_id,
                {"first_heard_at": now},
                PHONE_ACTOR,
                "record.heard_on_phone",
                now,
                note,
            )
        else:
            await self.store.append_event(
                PHONE_ACTOR, "record.heard_on_phone", item.record_id, None, note, now
            )
        log.info("record %s %s (mailbox %s)", item.record_id, HEARD_ON_PHONE, item.mailbox)

    async def _absent(self, item: Copy, now: datetime, report: PhoneReport) -> None:
        """Not in any folder: deleted on the phone once it stays away (REC-04: hidden only)."""
        db = db_of(self.store)
        if item.missing_since is None:
            async with db.transaction() as tx:
                await tx.execute(
                    "UPDATE phone_copies SET missing_since = ? WHERE record_id = ?",
                    (to_db_time(now), item.record_id),
                )
            return
        if (now - item.missing_since).total_seconds() < self.missing_after_s:
            return
        async with db.transaction() as tx:
            await tx.execute(
                "UPDATE phone_copies SET folder = NULL WHERE record_id = ?", (item.record_id,)
            )
        note = {"via": "telefon", "händelse": DELETED_ON_PHONE, "mailbox": item.mailbox}
        if item.hidden:
            await self.store.append_event(
                PHONE_ACTOR, "record.deleted_on_phone", item.record_id, None, note, now
            )
        else:
            await self.store.update_record(
                item.record_id,
                {"hidden_from_owner": True},
                PHONE_ACTOR,
                "record.deleted_on_phone",
                now,
                note,
            )
        report.deleted.append(item.record_id)
        log.info("record %s %s", item.record_id, DELETED_ON_PHONE)

    async def _withdraw(
        self, item: Copy, folder: str, slot: SpoolSlot, now: datetime, report: PhoneReport
    ) -> None:
        """HAL-08: the predecessor's message leaves the successor's phone mailbox."""
        files = [f.path for f in (slot.audio, *slot.other_audio) if f is not None]
        try:
            await asyncio.to_thread(self.fs.unlink, files)
            if slot.txt is not None:
                await asyncio.to_thread(self.fs.unlink, [slot.txt.path])
        except (OSError, UnsafeSpoolEntry) as exc:
            log.error("record %s not taken off the phone: %s", item.record_id, exc)
            return
        async with db_of(self.store).transaction() as tx:
            await tx.execute(
                "INSERT INTO phone_copies (record_id, mailbox, folder, seen_at)"
                " VALUES (?, ?, NULL, ?) ON CONFLICT (record_id) DO UPDATE SET folder = NULL",
                (item.record_id, item.mailbox, to_db_time(now)),
            )
        note = {"händelse": WITHDRAWN, "mailbox": item.mailbox, "folder": folder}
        await self.store.append_event(
            PHONE_ACTOR, "record.phone_copy_withdrawn", item.record_id, None, note, now
        )
        report.withdrawn.append(item.record_id)
        log.warning("record %s: %s", item.record_id, WITHDRAWN)


async def on_phone(store: RegisterStore, context: str) -> int:
    """How many registered messages the owners' phone mailboxes hold (ALV-23): the spool's
    messages minus these are the ones intake has not taken yet."""
    row = await db_of(store).fetchone(
        "SELECT COUNT(*) FROM phone_copies p JOIN records r ON r.id = p.record_id"
        " WHERE p.folder IS NOT NULL AND r.context = ?",
        (context,),
    )
    return int(row[0]) if row else 0
