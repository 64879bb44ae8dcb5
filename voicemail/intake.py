"""Intake from app_voicemail's spool into the register: idempotent and crash-safe.

Order per batch, so a SIGKILL at any instant loses and duplicates nothing:

1. parse each ready `msgNNNN.txt` (pure) and skip keys the register already holds;
2. copy the audio into the content-addressed audio store (tmp, fsync, rename, dir fsync);
3. one transaction inserts the records, their numbers and audit events (WAL, synchronous=FULL);
4. only then remove the spool files: audio first, txt last. A txt left without audio is
   recognised by its hash on the next pass and removed; never registered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from routing.errors import NumberError
from routing.numbers import normalise, validate_e164
from voicemail import policy
from voicemail.audiostore import fsync_dir
from voicemail.errors import SpoolFormatError
from voicemail.models import NewRecord, PublicRecord, SpoolMessage
from voicemail.service import Register
from voicemail.spool import SpoolSlot, file_age, parse_message, readiness, scan
from voicemail.store import SYSTEM_ACTOR

log = logging.getLogger("voicemail.intake")


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A spool message moved aside because it could not be read, with the reason."""

    label: str
    reason: str
    moved_to: str


@dataclass
class IntakeReport:
    """What one pass over the spool did."""

    taken: list[PublicRecord] = field(default_factory=list)
    already_registered: int = 0
    waiting: list[tuple[str, str]] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    unknown_mailboxes: set[str] = field(default_factory=set)


def caller_e164(number: str | None, register: Register) -> str | None:
    """The calling number in E.164 where it is valid, else as the platform wrote it."""
    if not number:
        return None
    try:
        return validate_e164(number, register.org.plan)
    except NumberError:
        return normalise(number, register.org.plan) if number.startswith("+") else number


def _read(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read()


class SpoolIntake:
    """Takes messages from `<spool>/<context>/<mailbox>/<folder>/` into a `Register`."""

    def __init__(
        self,
        register: Register,
        spool: str | Path,
        context: str | None = None,
        settle_s: float = 2.0,
        orphan_txt_after_s: float = 300.0,
        remove_taken: bool = True,
        batch_size: int = 64,
        quarantine_dir: str | Path | None = None,
    ) -> None:
        self.register = register
        self.spool = Path(spool)
        self.context = context or register.settings.context or register.org.voicemail_context
        self.settle_s = settle_s
        self.orphan_txt_after_s = orphan_txt_after_s
        self.remove_taken = remove_taken
        self.batch_size = batch_size
        db_dir = register.audio.root.parent
        self.quarantine_dir = Path(quarantine_dir) if quarantine_dir else db_dir / "quarantine"
        self._reported_unknown: set[str] = set()

    async def run_once(self, now: datetime) -> IntakeReport:
        """One pass: take in everything ready now; report what waits or was quarantined."""
        report = IntakeReport()
        owners = policy.mailbox_owners(self.register.org.directory, self.register.org.plan)
        slots = await asyncio.to_thread(scan, self.spool, self.context)
        now_epoch = now.timestamp()
        ready: list[tuple[SpoolSlot, SpoolMessage, bytes]] = []
        orphans: list[tuple[SpoolSlot, bytes]] = []
        for slot in slots:
            if slot.mailbox not in owners:
                report.unknown_mailboxes.add(slot.mailbox)
            state, why = readiness(slot, now_epoch, self.settle_s)
            if state == "wait":
                if slot.txt is not None and slot.audio is None:
                    orphans.append((slot, b""))
                else:
                    report.waiting.append((slot.label, why))
                continue
            assert slot.txt is not None
            try:
                data = await asyncio.to_thread(_read, slot.txt.path)
            except FileNotFoundError:
                continue  # taken by another pass meanwhile
            try:
                message = parse_message(data)
            except SpoolFormatError as exc:
                report.quarantined.append(await self._quarantine(slot, exc.reason, now))
                continue
            ready.append((slot, message, data))
        await self._handle_orphans(orphans, now_epoch, now, report)
        for i in range(0, len(ready), self.batch_size):
            await self._take_batch(ready[i : i + self.batch_size], owners, now, report)
        for mailbox in sorted(report.unknown_mailboxes - self._reported_unknown):
            log.warning(
                "spool folder %s/%s maps to no user; its messages enter the register without owner",
                self.context,
                mailbox,
            )
        self._reported_unknown |= report.unknown_mailboxes
        return report

    async def _handle_orphans(
        self,
        orphans: list[tuple[SpoolSlot, bytes]],
        now_epoch: float,
        now: datetime,
        report: IntakeReport,
    ) -> None:
        """A txt without audio: left by an interrupted removal, a move in progress, or broken."""
        if not orphans:
            return
        hashed: list[tuple[SpoolSlot, str]] = []
        for slot, _ in orphans:
            assert slot.txt is not None
            try:
                data = await asyncio.to_thread(_read, slot.txt.path)
            except FileNotFoundError:
                continue
            hashed.append((slot, hashlib.sha256(data).hexdigest()))
        known = await self.register.store.known_txt_hashes([h for _, h in hashed])
        for slot, digest in hashed:
            assert slot.txt is not None
            if digest in known:
                report.already_registered += 1
                if self.remove_taken:
                    await asyncio.to_thread(_unlink_all, [slot.txt.path])
            elif file_age(now_epoch, slot.txt.mtime) >= self.orphan_txt_after_s:
                report.quarantined.append(
                    await self._quarantine(slot, "msgNNNN.txt without any audio file", now)
                )
            else:
                report.waiting.append((slot.label, "msgNNNN.txt without audio yet"))

    async def _take_batch(
        self,
        batch: list[tuple[SpoolSlot, SpoolMessage, bytes]],
        owners: dict[str, str],
        now: datetime,
        report: IntakeReport,
    ) -> None:
        keyed = [(s, m, d) for s, m, d in batch if m.msg_id]
        known = await self.register.store.known_keys([m.msg_id for _, m, _ in keyed if m.msg_id])
        new: list[tuple[NewRecord, int]] = []
        slots_done: list[SpoolSlot] = []
        dirs: set[Path] = set()
        for slot, message, data in batch:
            if message.msg_id and message.msg_id in known:
                report.already_registered += 1
                slots_done.append(slot)
                continue
            assert slot.audio is not None
            fmt = slot.audio.path.suffix.lstrip(".")
            try:
                digest, size, path = await asyncio.to_thread(
                    self.register.audio.put_file, slot.audio.path, fmt, False
                )
            except FileNotFoundError:
                continue  # removed meanwhile (Asterisk moved it to Old/, or another pass)
            dirs.add(path.parent)
            arrived = datetime.fromtimestamp(message.origtime, UTC)
            record = NewRecord(
                # Without msg_id (Asterisk < 11) the audio hash keys it; origtime and mailbox
                # keep two silent calls (identical empty audio) apart.
                intake_key=message.msg_id
                or f"sha256:{digest}:{message.origtime}:{slot.context}/{slot.mailbox}",
                msg_id=message.msg_id,
                arrived_at=arrived,
                context=self.context,
                mailbox=slot.mailbox,
                owner_id=owners.get(slot.mailbox),
                caller_raw=message.callerid.raw,
                caller_number=caller_e164(message.callerid.number, self.register),
                caller_name=message.callerid.name,
                duration_s=message.duration_s,
                sha256=digest,
                audio_bytes=size,
                audio_format=fmt,
                txt_sha256=hashlib.sha256(data).hexdigest(),
                spool_fields=message.fields,
            )
            new.append((record, policy.registration_year(arrived, self.register.org.timezone)))
            slots_done.append(slot)
        for d in dirs:
            await asyncio.to_thread(fsync_dir, d)
        added = await self.register.store.add_records(new, self.register.prefix, SYSTEM_ACTOR, now)
        report.taken.extend(added)
        report.already_registered += len(new) - len(added)
        for taken in added:
            log.info(
                "received %s from mailbox %s/%s (%s bytes)",
                taken.registration_number,
                taken.context,
                taken.mailbox,
                taken.audio_bytes,
            )
        if self.remove_taken:
            await asyncio.to_thread(_remove_slots, slots_done)

    async def _quarantine(self, slot: SpoolSlot, reason: str, now: datetime) -> Quarantined:
        """Move a broken message aside with a `.reason` file and an audit event; never drop it."""
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = (
            self.quarantine_dir / slot.context / slot.mailbox / f"{stamp}-{slot.folder}-{slot.name}"
        )
        await asyncio.to_thread(_move_aside, slot, target, reason)
        log.error("quarantined %s: %s (moved to %s)", slot.label, reason, target)
        await self.register.store.append_event(
            SYSTEM_ACTOR,
            "intake.quarantined",
            None,
            None,
            {"spool": slot.label, "reason": reason, "moved_to": str(target)},
            now,
        )
        return Quarantined(slot.label, reason, str(target))

    async def run(
        self,
        stop: asyncio.Event,
        interval_s: float = 2.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Watch the spool until `stop` is set: one pass every `interval_s` seconds."""
        failing = False
        while not stop.is_set():
            try:
                await self.run_once(clock())
                if failing:
                    log.info("voicemail intake recovered")
                    failing = False
            except Exception as exc:  # keep watching: log once when failing, once on recovery
                if not failing:
                    log.error("voicemail intake failing: %s", exc, exc_info=True)
                    failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)


def _unlink_all(paths: list[Path]) -> None:
    parents = set()
    for p in paths:
        try:
            p.unlink()
            parents.add(p.parent)
        except FileNotFoundError:
            pass
    for parent in parents:
        fsync_dir(parent)


def _remove_slots(slots: list[SpoolSlot]) -> None:
    """Audio first, txt last: a lone txt is recognised by its hash as already taken."""
    audio = [f.path for s in slots for f in ((s.audio,) if s.audio else ()) + s.other_audio]
    _unlink_all(audio)
    _unlink_all([s.txt.path for s in slots if s.txt is not None])


def _move_aside(slot: SpoolSlot, target: Path, reason: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    (target / "reason.txt").write_text(f"{slot.label}: {reason}\n", encoding="utf-8")
    files = [f for f in (slot.txt, slot.audio, *slot.other_audio) if f is not None]
    for f in files:
        try:
            os.replace(f.path, target / f.path.name)
        except FileNotFoundError:
            continue
        except OSError:  # spool on another file system: copy durably, then remove
            shutil.copy2(f.path, target / f.path.name)
            with (target / f.path.name).open("rb") as copied:
                os.fsync(copied.fileno())
            f.path.unlink()
    fsync_dir(target)
    if files:
        fsync_dir(files[0].path.parent)
