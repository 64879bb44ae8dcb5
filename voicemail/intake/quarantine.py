"""Setting spool messages aside: one message's trouble never holds up the others.

A message that cannot be taken in (a link or FIFO where a file belongs, a txt that does not
parse, values the register cannot hold, a recording that stayed incomplete) is moved, entries
themselves and never what a link points to, into `<quarantine>/<context>/<mailbox>/…` with a
`reason.txt`, and audited; anything unexpected is logged once and the message waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path

from voicemail.audiostore import fsync_dir
from voicemail.intake.report import IntakeReport, Quarantined, printable
from voicemail.register import SYSTEM_ACTOR
from voicemail.service import Register
from voicemail.spool import SpoolHazard, SpoolSlot
from voicemail.spoolfs import SpoolFs

log = logging.getLogger("voicemail.intake")


class Quarantine:
    """Moves broken spool messages aside into `folder`, and remembers what failed once."""

    def __init__(self, register: Register, fs: SpoolFs, folder: Path) -> None:
        self.register = register
        self.fs = fs
        self.folder = folder
        self._troubled: set[str] = set()

    def trouble(self, label: str, exc: BaseException, report: IntakeReport) -> None:
        """An unexpected failure on one message: it waits; logged once per message."""
        why = f"could not be read: {type(exc).__name__}: {exc}"
        report.waiting.append((printable(label), why))
        if label not in self._troubled:
            self._troubled.add(label)
            log.error("spool message %s %s", printable(label), why, exc_info=exc)

    async def set_aside(
        self, slot: SpoolSlot, reason: str, now: datetime, report: IntakeReport
    ) -> None:
        """Quarantine one message; if even that fails (its folder swapped meanwhile), it waits."""
        try:
            report.quarantined.append(await self.message(slot, reason, now))
        except OSError as exc:
            self.trouble(slot.label, exc, report)

    async def message(self, slot: SpoolSlot, reason: str, now: datetime) -> Quarantined:
        """Move a broken message aside with a `reason.txt` and an audit event; never drop it."""
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = self.folder / slot.context / slot.mailbox / f"{stamp}-{slot.folder}-{slot.name}"
        paths = [f.path for f in slot.files]
        target = await asyncio.to_thread(self._move_aside, slot.label, paths, base, reason)
        return await self._report(slot.label, reason, target, now)

    async def link(self, hazard: SpoolHazard, now: datetime) -> Quarantined:
        """Move a link standing in for a context, mailbox or folder aside (the link itself)."""
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        owner = hazard.mailbox or "_context"
        base = self.folder / hazard.context / owner / f"{stamp}-link-{hazard.path.name}"
        reason = "a symbolic link where the spool has a folder: never followed"
        target = await asyncio.to_thread(
            self._move_aside, hazard.label, [hazard.path], base, reason
        )
        return await self._report(hazard.label, reason, target, now)

    async def _report(self, label: str, reason: str, target: Path, now: datetime) -> Quarantined:
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
