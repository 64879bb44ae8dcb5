"""The spool intake: each pass lists the spool, screens every message from the listing
(kept, waiting, unsafe, an orphan txt), hands the ready ones to the group commit
(`voicemail.intake.batches`) and follows the owners' phone mailboxes; `run` is the one intake
loop (the service's leader and `switchboard registry intake` both run it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from voicemail import policy
from voicemail.intake.audio_copies import copy_audio
from voicemail.intake.batches import GroupCommit
from voicemail.intake.quarantine import Quarantine
from voicemail.intake.report import IntakeReport, printable
from voicemail.phonewatch import PhoneWatch
from voicemail.service import Register
from voicemail.spool import KIND_NAMES, SpoolSlot, file_age, readiness, scan_spool
from voicemail.spool_format import MAX_TXT_BYTES
from voicemail.spoolfs import SpoolFs

log = logging.getLogger("voicemail.intake")


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
        # the phone mailbox: seconds a message may be out of sight (being renumbered) before
        # it counts as deleted on the phone
        self.watch = PhoneWatch(register.store, self.fs, self.context, missing_after_s)
        self.quarantine = Quarantine(register, self.fs, self.quarantine_dir)
        self.batches = GroupCommit(
            register,
            self.fs,
            self.context,
            self.watch,
            self.quarantine,
            batch_size=batch_size,
            remove_taken=remove_taken,
            incomplete_after_s=self.incomplete_after_s,
        )

    async def run_once(self, now: datetime) -> IntakeReport:
        """One pass: take in everything ready now; report what waits or was quarantined."""
        report = IntakeReport()
        owners = policy.mailbox_owners(self.register.org.directory, self.register.org.plan)
        listing = await asyncio.to_thread(scan_spool, self.spool, self.context)
        for hazard in listing.hazards:
            try:
                report.quarantined.append(await self.quarantine.link(hazard, now))
            except OSError as exc:
                self.quarantine.trouble(hazard.label, exc, report)
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
                self.quarantine.trouble(slot.label, exc, report)
        await self._handle_orphans(orphans, now_epoch, now, report)
        await self.batches.take(candidates, owners, now_epoch, now, report)
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
            await self.quarantine.set_aside(slot, why, now, report)
            return False
        state, why = readiness(slot, now_epoch, self.settle_s)
        if state == "wait":
            if slot.txt is not None and slot.audio is None:
                orphans.append(slot)
            else:
                report.waiting.append((printable(slot.label), why))
            return False
        return True

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
                self.quarantine.trouble(slot.label, exc, report)
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
                why = "msgNNNN.txt without any audio file"
                await self.quarantine.set_aside(slot, why, now, report)
            else:
                report.waiting.append((printable(slot.label), "msgNNNN.txt without audio yet"))

    def _copy_audio(self, slot: SpoolSlot, duration_s: int) -> tuple[str, int, Path]:
        """Copy the slot's audio into the store when it is whole and unchanged (blocking)."""
        with self.fs.folders() as folders:
            return copy_audio(folders, self.register.audio, slot, duration_s)

    async def run(
        self,
        stop: asyncio.Event,
        interval_s: float = 2.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_report: Callable[[IntakeReport], Awaitable[None]] | None = None,
    ) -> None:
        """Watch the spool until `stop` is set: one pass every `interval_s` seconds, each
        pass's report handed to `on_report` (e.g. for VoicemailRefresh)."""
        failing = False
        while not stop.is_set():
            try:
                report = await self.run_once(clock())
                if failing:
                    log.info("voicemail intake recovered")
                    failing = False
                if on_report is not None:
                    await on_report(report)
            except Exception as exc:  # keep watching: log once when failing, once on recovery
                if not failing:
                    log.error("voicemail intake failing: %s", exc, exc_info=True)
                    failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
