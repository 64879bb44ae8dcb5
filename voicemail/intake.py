"""Intake from app_voicemail's spool into the register: idempotent and crash-safe.

Order per batch, so a SIGKILL at any instant loses and duplicates nothing:

1. parse each ready `msgNNNN.txt` (pure) and skip messages the register already holds. A message
   is (context, mailbox, msg_id): app_voicemail copies one recording into every recipient's
   mailbox byte for byte, and each copy is its own record, linked by `recording_key`;
2. copy the audio into the content-addressed audio store (tmp, fsync, rename, dir fsync);
3. one transaction inserts the records, their numbers and audit events (WAL, synchronous=FULL);
4. the spool's copy stays: it is the owner's phone mailbox (ALV-23). `voicemail.phonewatch`
   then follows what the owner does with it on the phone (listens, deletes), and remembers
   what each file held, so a message already taken in is skipped, unread, on every later pass
   and never registered twice (by (mailbox, msg_id), else the audio hash). With
   `remove_taken` (the old mode) the spool files are removed instead: audio first, txt last;
   a txt left without audio is recognised by its hash, in its own mailbox, and removed.

One message never holds up the others: every spool entry is reached through
`voicemail.spoolfs` (no link followed, no FIFO opened, nothing removed outside the spool); a
link or a FIFO or a folder where a message file belongs, a txt that does not parse, and values
the register cannot hold are quarantined with their reason; a message that is not complete yet
(no `duration` line, audio still changing, or shorter than `duration` says) waits, and is
quarantined once it has stayed so for `incomplete_after_s`; anything unexpected while reading one
message is logged once and that message waits for the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from routing.errors import NumberError
from routing.numbers import normalise, validate_e164
from voicemail import policy
from voicemail.audiostore import fsync_dir
from voicemail.errors import AudioIncomplete, RecordRefused, SpoolFormatError, UnsafeSpoolEntry
from voicemail.intake_copy import Copied, copy_audio, copy_batch
from voicemail.models import NewRecord, PublicRecord, SpoolMessage
from voicemail.phonewatch import PhoneReport, PhoneWatch
from voicemail.register import SYSTEM_ACTOR
from voicemail.service import Register
from voicemail.spool import (
    KIND_NAMES,
    MAX_TXT_BYTES,
    SpoolHazard,
    SpoolSlot,
    file_age,
    parse_message,
    readiness,
    scan_spool,
)
from voicemail.spoolfs import SpoolFs

log = logging.getLogger("voicemail.intake")

Ready = tuple[SpoolSlot, SpoolMessage, bytes]
_CALLERS_KEPT = 10_000
# a batch under way: slots already registered, those being copied, their copies
_Started = tuple[list[SpoolSlot], list[Ready], "asyncio.Future[list[Copied]]"]


def printable(text: str) -> str:
    """A file-system name as text every store and log can hold (undecodable bytes as \\xNN)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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
    kept: int = 0  # already in the register, unchanged in the owner's phone mailbox: skipped
    phone: PhoneReport | None = None  # what the owners did on the phone (keep mode)


def caller_e164(number: str | None, register: Register) -> str | None:
    """The calling number in E.164 where it is valid, else as the platform wrote it."""
    if not number:
        return None
    try:
        return validate_e164(number, register.org.plan)
    except NumberError:
        return normalise(number, register.org.plan) if number.startswith("+") else number


class SpoolIntake:
    """Takes messages from `<spool>/<context>/<mailbox>/<folder>/` into a `Register`."""

    def __init__(
        self,
        register: Register,
        spool: str | Path,
        context: str | None = None,
        settle_s: float = 2.0,
        orphan_txt_after_s: float = 300.0,
        remove_taken: bool = False,
        batch_size: int = 64,
        quarantine_dir: str | Path | None = None,
        incomplete_after_s: float | None = None,
        missing_after_s: float = 30.0,
    ) -> None:
        self.register = register
        self.spool = Path(spool)
        self.fs = SpoolFs(self.spool)
        self.context = context or register.settings.context or register.org.voicemail_context
        self.settle_s = settle_s
        self.orphan_txt_after_s = orphan_txt_after_s
        # how long an incomplete message may stay unchanged before it is quarantined
        self.incomplete_after_s = (
            orphan_txt_after_s if incomplete_after_s is None else incomplete_after_s
        )
        self.remove_taken = remove_taken
        self.batch_size = batch_size
        db_dir = register.audio.root.parent
        self.quarantine_dir = Path(quarantine_dir) if quarantine_dir else db_dir / "quarantine"
        self._reported_unknown: set[str] = set()
        self._troubled: set[str] = set()
        self._callers: dict[str, str | None] = {}  # caller's number as written -> E.164
        # the phone mailbox: seconds a message may be out of sight (being renumbered) before
        # it counts as deleted on the phone
        self.watch = PhoneWatch(register.store, self.fs, self.context, missing_after_s)

    async def run_once(self, now: datetime) -> IntakeReport:
        """One pass: take in everything ready now; report what waits or was quarantined."""
        report = IntakeReport()
        owners = policy.mailbox_owners(self.register.org.directory, self.register.org.plan)
        listing = await asyncio.to_thread(scan_spool, self.spool, self.context)
        for hazard in listing.hazards:
            try:
                report.quarantined.append(await self._quarantine_link(hazard, now))
            except OSError as exc:
                self._trouble(hazard.label, exc, report)
        now_epoch = now.timestamp()
        orphans: list[SpoolSlot] = []
        candidates: list[SpoolSlot] = []
        for slot in listing.slots:
            if slot.mailbox not in owners:
                report.unknown_mailboxes.add(slot.mailbox)
            try:
                if await self._screen(slot, now_epoch, now, report, orphans):
                    candidates.append(slot)
            except Exception as exc:  # one message's trouble never holds up the others
                self._trouble(slot.label, exc, report)
        await self._handle_orphans(orphans, now_epoch, now, report)
        await self._take_batches(candidates, owners, now_epoch, now, report)
        for mailbox in sorted(report.unknown_mailboxes - self._reported_unknown):
            log.warning(
                "spool folder %s/%s maps to no user; its messages enter the register without owner",
                self.context,
                printable(mailbox),
            )
        self._reported_unknown |= report.unknown_mailboxes
        if not self.remove_taken:
            report.phone = await self.watch.observe(listing, owners, now)
        return report

    def _trouble(self, label: str, exc: BaseException, report: IntakeReport) -> None:
        """An unexpected failure on one message: it waits; logged once per message."""
        why = f"could not be read: {type(exc).__name__}: {exc}"
        report.waiting.append((printable(label), why))
        if label not in self._troubled:
            self._troubled.add(label)
            log.error("spool message %s %s", printable(label), why, exc_info=exc)

    async def _screen(
        self,
        slot: SpoolSlot,
        now_epoch: float,
        now: datetime,
        report: IntakeReport,
        orphans: list[SpoolSlot],
    ) -> bool:
        """True when the slot's txt is to be read now; else it is kept, waits, is an orphan or
        is quarantined (from the listing alone)."""
        if not self.remove_taken and self.watch.registered(slot):
            report.kept += 1
            return False
        bad = slot.unsafe()
        if bad is not None:
            why = f"{bad.path.name} is a {KIND_NAMES[bad.kind]}, not a file: never followed"
            await self._set_aside(slot, why, now, report)
            return False
        state, why = readiness(slot, now_epoch, self.settle_s)
        if state == "wait":
            if slot.txt is not None and slot.audio is None:
                orphans.append(slot)
            else:
                report.waiting.append((printable(slot.label), why))
            return False
        return True

    def _read_txts(self, slots: list[SpoolSlot]) -> list[bytes | Exception]:
        """Each slot's txt, or what reading it raised (blocking: one thread pass)."""
        out: list[bytes | Exception] = []
        for slot in slots:
            assert slot.txt is not None
            try:
                out.append(self.fs.read(slot.txt.path, MAX_TXT_BYTES))
            except Exception as exc:
                out.append(exc)
        return out

    async def _prepare(
        self,
        slot: SpoolSlot,
        data: bytes | Exception,
        now_epoch: float,
        now: datetime,
        report: IntakeReport,
    ) -> Ready | None:
        """The slot's parsed txt when it can be taken now; else waits or quarantine."""
        if isinstance(data, FileNotFoundError):
            return None  # taken by another pass meanwhile
        if isinstance(data, UnsafeSpoolEntry):  # replaced by a link or FIFO since the scan
            await self._set_aside(slot, str(data), now, report)
            return None
        if isinstance(data, Exception):
            raise data
        try:
            message = parse_message(data)
        except SpoolFormatError as exc:
            await self._set_aside(slot, exc.reason, now, report)
            return None
        self.watch.note(slot, message.msg_id, data)
        if message.duration_s is None:
            why = "msgNNNN.txt has no duration line yet: the recording is not finished"
            await self._incomplete(slot, why, now_epoch, now, report)
            return None
        return slot, message, data

    async def _incomplete(
        self, slot: SpoolSlot, why: str, now_epoch: float, now: datetime, report: IntakeReport
    ) -> None:
        """Wait for a message that is not whole yet; quarantine it once it stopped changing."""
        newest = max(f.mtime for f in slot.files)
        age = file_age(now_epoch, newest)
        if age >= self.incomplete_after_s:
            reason = f"{why} (unchanged for {age:.0f} s)"
            await self._set_aside(slot, reason, now, report)
        else:
            report.waiting.append((printable(slot.label), why))

    async def _handle_orphans(
        self,
        orphans: list[SpoolSlot],
        now_epoch: float,
        now: datetime,
        report: IntakeReport,
    ) -> None:
        """A txt without audio: left by an interrupted removal, a move in progress, or broken."""
        if not orphans:
            return
        hashed: list[tuple[SpoolSlot, str]] = []
        for slot in orphans:
            assert slot.txt is not None
            try:
                data = await asyncio.to_thread(self.fs.read, slot.txt.path, MAX_TXT_BYTES)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self._trouble(slot.label, exc, report)
                continue
            hashed.append((slot, hashlib.sha256(data).hexdigest()))
        # In its own mailbox only: a copy in another mailbox has the very same bytes.
        known = await self.register.store.known_txts(
            self.context, [(s.mailbox, h) for s, h in hashed]
        )
        for slot, digest in hashed:
            assert slot.txt is not None
            if (slot.mailbox, digest) in known:
                report.already_registered += 1
                if self.remove_taken:
                    await asyncio.to_thread(self.fs.unlink, [slot.txt.path])
            elif file_age(now_epoch, slot.txt.mtime) >= self.orphan_txt_after_s:
                await self._set_aside(slot, "msgNNNN.txt without any audio file", now, report)
            else:
                report.waiting.append((printable(slot.label), "msgNNNN.txt without audio yet"))

    def _copy_audio(self, slot: SpoolSlot, duration_s: int) -> tuple[str, int, Path]:
        """Copy the slot's audio into the store when it is whole and unchanged (blocking)."""
        return copy_audio(self.fs, self.register.audio, slot, duration_s)

    def _caller(self, number: str | None) -> str | None:
        """`caller_e164`, kept per number: callers call again, and phonenumbers is costly."""
        if not number:
            return None
        try:
            return self._callers[number]
        except KeyError:
            pass
        if len(self._callers) >= _CALLERS_KEPT:
            self._callers.clear()
        found = self._callers[number] = caller_e164(number, self.register)
        return found

    def _copy_batch(self, items: list[Ready]) -> list[Copied]:
        """The batch's audio copies, durable with their folders (blocking; see `copy_batch`)."""
        jobs: list[tuple[SpoolSlot, int]] = []
        for slot, message, _ in items:
            assert message.duration_s is not None  # a message without it waits (`_prepare`)
            jobs.append((slot, message.duration_s))
        return copy_batch(self.fs, self.register.audio, jobs)

    def _new_record(
        self,
        slot: SpoolSlot,
        message: SpoolMessage,
        data: bytes,
        copied: tuple[str, int, Path],
        owner_id: str | None,
    ) -> NewRecord:
        """The record for one message whose audio is in the store."""
        digest, size, path = copied
        arrived = datetime.fromtimestamp(message.origtime, UTC)
        return NewRecord(
            # Without msg_id (Asterisk < 11) the audio hash keys it; origtime and mailbox
            # keep two silent calls (identical empty audio) apart.
            intake_key=f"{self.context}/{slot.mailbox}/{message.msg_id}"
            if message.msg_id
            else f"sha256:{digest}:{message.origtime}:{slot.context}/{slot.mailbox}",
            msg_id=message.msg_id,
            arrived_at=arrived,
            context=self.context,
            mailbox=slot.mailbox,
            owner_id=owner_id,
            caller_raw=message.callerid.raw,
            caller_number=self._caller(message.callerid.number),
            caller_name=message.callerid.name,
            duration_s=message.duration_s,
            sha256=digest,
            audio_bytes=size,
            audio_format=path.suffix.lstrip("."),
            txt_sha256=hashlib.sha256(data).hexdigest(),
            spool_fields=message.fields,
            recording_key=message.msg_id or f"sha256:{digest}:{message.origtime}",
        )

    async def _ready(
        self, group: list[SpoolSlot], now_epoch: float, now: datetime, report: IntakeReport
    ) -> list[Ready]:
        """The group's txts read in one thread hand-off (issue 21), parsed; what can be taken."""
        ready: list[Ready] = []
        texts = await asyncio.to_thread(self._read_txts, group)
        for slot, data in zip(group, texts, strict=True):
            try:
                item = await self._prepare(slot, data, now_epoch, now, report)
            except Exception as exc:  # one message's trouble never holds up the others
                self._trouble(slot.label, exc, report)
                continue
            if item is not None:
                ready.append(item)
        return ready

    async def _take_batches(
        self,
        candidates: list[SpoolSlot],
        owners: dict[str, str],
        now_epoch: float,
        now: datetime,
        report: IntakeReport,
    ) -> None:
        """Batch after batch, each in one transaction and in order. While a batch's audio is
        copied the next batch is read and parsed, and its copies run while the first commits
        (each batch still commits only after its own copies are durable)."""
        size = self.batch_size
        groups = [candidates[i : i + size] for i in range(0, len(candidates), size)]
        pending: list[_Started] = []
        try:
            for group in groups:
                batch = await self._ready(group, now_epoch, now, report)
                if batch:
                    pending.append(await self._start_batch(batch, report))
                while len(pending) > 1:
                    await self._take_batch(pending.pop(0), owners, now, report)
            while pending:
                await self._take_batch(pending.pop(0), owners, now, report)
        finally:
            for _, _, copying in pending:  # an error ended the pass: let the copies finish
                with contextlib.suppress(Exception):
                    await copying

    async def _start_batch(self, batch: list[Ready], report: IntakeReport) -> _Started:
        """What the register holds already, and the rest's copies started in the background."""
        pairs = [(s.mailbox, m.msg_id) for s, m, _ in batch if m.msg_id]
        known = await self.register.store.known_messages(self.context, pairs)
        slots_done: list[SpoolSlot] = []
        to_copy: list[Ready] = []
        for item in batch:
            slot, message, _ = item
            if message.msg_id and (slot.mailbox, message.msg_id) in known:
                report.already_registered += 1
                slots_done.append(slot)
            else:
                to_copy.append(item)
        # one thread hand-off for the batch's copies and their folders' fsyncs (issue 21)
        copying = asyncio.ensure_future(asyncio.to_thread(self._copy_batch, to_copy))
        return slots_done, to_copy, copying

    async def _take_batch(
        self,
        started: _Started,
        owners: dict[str, str],
        now: datetime,
        report: IntakeReport,
    ) -> None:
        slots_done, to_copy, copying = started
        new: list[tuple[NewRecord, int, SpoolSlot]] = []
        results = await copying
        for (slot, message, data), copied in zip(to_copy, results, strict=True):
            if isinstance(copied, FileNotFoundError):
                continue  # removed meanwhile (Asterisk moved it to Old/, or another pass)
            if isinstance(copied, UnsafeSpoolEntry):
                await self._set_aside(slot, str(copied), now, report)
                continue
            if isinstance(copied, AudioIncomplete):
                await self._incomplete(slot, copied.reason, now.timestamp(), now, report)
                continue
            if isinstance(copied, OSError):
                self._trouble(slot.label, copied, report)
                continue
            if isinstance(copied, Exception):
                raise copied
            try:
                record = self._new_record(slot, message, data, copied, owners.get(slot.mailbox))
                year = policy.registration_year(record.arrived_at, self.register.org.timezone)
            except Exception as exc:  # the file's values, every pass alike: set it aside
                why = f"cannot be registered: {type(exc).__name__}: {exc}"
                await self._set_aside(slot, why, now, report)
                continue
            new.append((record, year, slot))
        added, stored = await self._add(new, now, report)
        report.taken.extend(added)
        report.already_registered += len(stored) - len(added)
        for taken in added:
            log.info(
                "received %s from mailbox %s/%s (%s bytes)",
                taken.registration_number,
                taken.context,
                printable(taken.mailbox),
                taken.audio_bytes,
            )
        if self.remove_taken:
            await asyncio.to_thread(self._remove_slots, slots_done + stored)

    async def _add(
        self, new: list[tuple[NewRecord, int, SpoolSlot]], now: datetime, report: IntakeReport
    ) -> tuple[list[PublicRecord], list[SpoolSlot]]:
        """Insert the batch; a record the register refuses is quarantined, the rest go in."""
        pending = list(new)
        while True:
            items = [(record, year) for record, year, _ in pending]
            try:
                added = await self.register.store.add_records(
                    items, self.register.prefix, SYSTEM_ACTOR, now
                )
            except RecordRefused as exc:
                bad = [item for item in pending if item[0].intake_key == exc.intake_key]
                if not bad:
                    raise
                pending = [item for item in pending if item[0].intake_key != exc.intake_key]
                for _, _, slot in bad:
                    why = f"the register cannot hold it: {exc.reason}"
                    await self._set_aside(slot, why, now, report)
                continue
            return added, [slot for _, _, slot in pending]

    def _remove_slots(self, slots: list[SpoolSlot]) -> None:
        """Audio first, txt last: a lone txt is recognised by its hash as already taken.

        A folder swapped for a link since the scan is left alone (the next pass quarantines
        the link; what stays behind is recognised as registered).
        """
        audio = [f.path for s in slots for f in ((s.audio,) if s.audio else ()) + s.other_audio]
        txts = [s.txt.path for s in slots if s.txt is not None]
        for paths in (audio, txts):
            try:
                self.fs.unlink(paths)
            except UnsafeSpoolEntry as exc:
                log.error("taken messages not removed from the spool: %s", printable(str(exc)))
                return

    async def _set_aside(
        self, slot: SpoolSlot, reason: str, now: datetime, report: IntakeReport
    ) -> None:
        """Quarantine one message; if even that fails (its folder swapped meanwhile), it waits."""
        try:
            report.quarantined.append(await self._quarantine(slot, reason, now))
        except OSError as exc:
            self._trouble(slot.label, exc, report)

    async def _quarantine(self, slot: SpoolSlot, reason: str, now: datetime) -> Quarantined:
        """Move a broken message aside with a `reason.txt` and an audit event; never drop it."""
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = (
            self.quarantine_dir / slot.context / slot.mailbox / f"{stamp}-{slot.folder}-{slot.name}"
        )
        paths = [f.path for f in slot.files]
        target = await asyncio.to_thread(self._move_aside, slot.label, paths, base, reason)
        return await self._report_quarantine(slot.label, reason, target, now)

    async def _quarantine_link(self, hazard: SpoolHazard, now: datetime) -> Quarantined:
        """Move a link standing in for a context, mailbox or folder aside (the link itself)."""
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        owner = hazard.mailbox or "_context"
        base = self.quarantine_dir / hazard.context / owner / f"{stamp}-link-{hazard.path.name}"
        reason = "a symbolic link where the spool has a folder: never followed"
        target = await asyncio.to_thread(
            self._move_aside, hazard.label, [hazard.path], base, reason
        )
        return await self._report_quarantine(hazard.label, reason, target, now)

    async def _report_quarantine(
        self, label: str, reason: str, target: Path, now: datetime
    ) -> Quarantined:
        shown, moved = printable(label), printable(str(target))
        log.error("quarantined %s: %s (moved to %s)", shown, printable(reason), moved)
        await self.register.store.append_event(
            SYSTEM_ACTOR,
            "intake.quarantined",
            None,
            None,
            {"spool": shown, "reason": printable(reason), "moved_to": moved},
            now,
        )
        self._troubled.discard(label)
        return Quarantined(shown, printable(reason), moved)

    def _move_aside(self, label: str, paths: list[Path], base: Path, reason: str) -> Path:
        """Into a new folder `base` (or `base-2`, …): the entries themselves, and reason.txt."""
        base.parent.mkdir(parents=True, exist_ok=True)
        target = base
        for n in range(2, 10_000):
            try:
                target.mkdir()
                break
            except FileExistsError:
                target = base.with_name(f"{base.name}-{n}")
        notes = [f"{printable(label)}: {printable(reason)}"]
        for path in paths:
            how = self.fs.move_out(path, target / path.name)
            if how not in ("moved", "gone"):
                notes.append(f"{printable(path.name)}: {how}")
        (target / "reason.txt").write_text("\n".join(notes) + "\n", encoding="utf-8")
        with contextlib.suppress(OSError):
            fsync_dir(target)
        return target

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
