"""Group commit (issue 21): the ready messages of a pass taken in batch after batch.

Per batch: the txts read in one thread hand-off and parsed; what the register holds already
skipped; the audio copied into the audio store (`voicemail.intake.audio_copies`, one thread
hand-off) while the next batch is read; then one transaction inserts the batch's records,
numbers and audit events, only after its own copies are durable. A record the register
refuses is set aside and the rest go in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path

from routing.errors import NumberError
from routing.numbers import normalise, validate_e164
from voicemail import policy
from voicemail.errors import AudioIncomplete, RecordRefused, SpoolFormatError, UnsafeSpoolEntry
from voicemail.intake.audio_copies import Copied, copy_batch
from voicemail.intake.quarantine import Quarantine
from voicemail.intake.report import IntakeReport, printable
from voicemail.models import NewRecord, PublicRecord, SpoolMessage
from voicemail.phonewatch import PhoneWatch
from voicemail.register import SYSTEM_ACTOR
from voicemail.service import Register
from voicemail.spool import SpoolSlot, file_age
from voicemail.spool_format import MAX_TXT_BYTES, parse_message
from voicemail.spoolfs import SpoolFolders, SpoolFs

log = logging.getLogger("voicemail.intake")

Ready = tuple[SpoolSlot, SpoolMessage, bytes]
_CALLERS_KEPT = 10_000
# batches read and copying ahead of the one being committed
_AHEAD = 3
# a batch under way: slots already registered, those being copied, their copies
_Started = tuple[list[SpoolSlot], list[Ready], "asyncio.Future[list[Copied]]"]
# a batch read: its txts' folders (open until its copies are done), what can be taken
_Read = tuple[SpoolFolders, list[Ready]]


def caller_e164(number: str | None, register: Register) -> str | None:
    """The calling number in E.164 where it is valid, else as the platform wrote it."""
    if not number:
        return None
    try:
        return validate_e164(number, register.org.plan)
    except NumberError:
        return normalise(number, register.org.plan) if number.startswith("+") else number


class GroupCommit:
    """Takes a pass's ready messages into the register, batch after batch."""

    def __init__(
        self,
        register: Register,
        fs: SpoolFs,
        context: str,
        watch: PhoneWatch,
        quarantine: Quarantine,
        *,
        batch_size: int,
        remove_taken: bool,
        incomplete_after_s: float,
    ) -> None:
        self.register = register
        self.fs = fs
        self.context = context
        self.watch = watch
        self.quarantine = quarantine
        self.batch_size = batch_size
        self.remove_taken = remove_taken
        # how long an incomplete message may stay unchanged before it is quarantined
        self.incomplete_after_s = incomplete_after_s
        self._callers: dict[str, str | None] = {}  # caller's number as written -> E.164

    def _read_txts(self, folders: SpoolFolders, slots: list[SpoolSlot]) -> list[bytes | Exception]:
        """Each slot's txt, or what reading it raised (blocking: one thread pass)."""
        out: list[bytes | Exception] = []
        for slot in slots:
            assert slot.txt is not None
            try:
                out.append(folders.read(slot.txt.path, MAX_TXT_BYTES))
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
            await self.quarantine.set_aside(slot, str(data), now, report)
            return None
        if isinstance(data, Exception):
            raise data
        try:
            message = parse_message(data)
        except SpoolFormatError as exc:
            await self.quarantine.set_aside(slot, exc.reason, now, report)
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
            await self.quarantine.set_aside(slot, reason, now, report)
        else:
            report.waiting.append((printable(slot.label), why))

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

    def _copy_batch(self, folders: SpoolFolders, items: list[Ready]) -> list[Copied]:
        """The batch's audio copies, durable with their folders (blocking; see `copy_batch`);
        then the spool folders the batch was read from are closed."""
        jobs: list[tuple[SpoolSlot, int]] = []
        for slot, message, _ in items:
            assert message.duration_s is not None  # a message without it waits (`_prepare`)
            jobs.append((slot, message.duration_s))
        try:
            return copy_batch(folders, self.register.audio, jobs)
        finally:
            folders.close()

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
    ) -> _Read:
        """The group's txts read in one thread hand-off (issue 21), each spool folder opened
        once for the batch (its audio is read from them too), parsed; what can be taken."""
        ready: list[Ready] = []
        folders = self.fs.folders()
        try:
            texts = await asyncio.to_thread(self._read_txts, folders, group)
            for slot, data in zip(group, texts, strict=True):
                try:
                    item = await self._prepare(slot, data, now_epoch, now, report)
                except Exception as exc:  # one message's trouble never holds up the others
                    self.quarantine.trouble(slot.label, exc, report)
                    continue
                if item is not None:
                    ready.append(item)
        except BaseException:
            folders.close()
            raise
        return folders, ready

    async def take(
        self,
        candidates: list[SpoolSlot],
        owners: dict[str, str],
        now_epoch: float,
        now: datetime,
        report: IntakeReport,
    ) -> None:
        """Batch after batch, each in one transaction and in order. The commits run in a chain
        of their own (`_commit_after`), so that reading, parsing and copying go on while a
        batch commits: up to `_AHEAD` batches are read and copying ahead of the commit
        (each batch still commits only after its own copies are durable, and after the batch
        before it). A failed commit ends the pass: the batches after it are not committed."""
        size = self.batch_size
        groups = [candidates[i : i + size] for i in range(0, len(candidates), size)]
        commits: list[asyncio.Task[None]] = []
        try:
            for group in groups:
                if len(commits) >= _AHEAD:
                    await commits[-_AHEAD]  # raises when that commit failed
                folders, batch = await self._ready(group, now_epoch, now, report)
                if not batch:
                    folders.close()
                    continue
                started = await self._start_batch(folders, batch, report)
                before = commits[-1] if commits else None
                commit = self._commit_after(before, started, owners, now, report)
                commits.append(asyncio.ensure_future(commit))
            if commits:
                await commits[-1]  # the last commit waits for all before it
        except asyncio.CancelledError:
            for task in commits:
                task.cancel()
            raise
        finally:
            # every batch started is finished (committed, or failed and its copies done)
            await asyncio.gather(*commits, return_exceptions=True)

    async def _commit_after(
        self,
        before: asyncio.Task[None] | None,
        started: _Started,
        owners: dict[str, str],
        now: datetime,
        report: IntakeReport,
    ) -> None:
        """Commit a batch after the one `before` it; when that one failed (or this one
        fails), its copies still finish, and the failure goes on down the chain."""
        try:
            if before is not None:
                await before
            await self._take_batch(started, owners, now, report)
        except BaseException:
            with contextlib.suppress(BaseException):
                await started[2]
            raise

    async def _start_batch(
        self, folders: SpoolFolders, batch: list[Ready], report: IntakeReport
    ) -> _Started:
        """What the register holds already, and the rest's copies started in the background
        (which close `folders` when done)."""
        pairs = [(s.mailbox, m.msg_id) for s, m, _ in batch if m.msg_id]
        try:
            known = await self.register.store.known_messages(self.context, pairs)
        except BaseException:
            folders.close()
            raise
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
        copying = asyncio.ensure_future(asyncio.to_thread(self._copy_batch, folders, to_copy))
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
                await self.quarantine.set_aside(slot, str(copied), now, report)
                continue
            if isinstance(copied, AudioIncomplete):
                await self._incomplete(slot, copied.reason, now.timestamp(), now, report)
                continue
            if isinstance(copied, OSError):
                self.quarantine.trouble(slot.label, copied, report)
                continue
            if isinstance(copied, Exception):
                raise copied
            try:
                record = self._new_record(slot, message, data, copied, owners.get(slot.mailbox))
                year = policy.registration_year(record.arrived_at, self.register.org.timezone)
            except Exception as exc:  # the file's values, every pass alike: set it aside
                why = f"cannot be registered: {type(exc).__name__}: {exc}"
                await self.quarantine.set_aside(slot, why, now, report)
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
                    await self.quarantine.set_aside(slot, why, now, report)
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
