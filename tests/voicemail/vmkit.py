"""Builders for the voicemail tests: an organisation in code and spool writers."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from routing.models import Directory, Hours, Organisation, Policy, User
from routing.numbers import make_plan
from voicemail.models import Classification, DisposalRule, VoicemailSettings

STHLM = ZoneInfo("Europe/Stockholm")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REAL_SPOOL = FIXTURES / "spool" / "asterisk22"
VM_FIXTURES = FIXTURES / "voicemail"
PERSONAL_IDS = ("19700110-1234", "19710211-1235", "19720312-1236", "19800101-2389")
# Well after every fixture's mtime, so nothing waits to settle unless a test wants it to.
LATER = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def make_users() -> tuple[User, ...]:
    """Anna (83012) with a delegate and a manager, Bertil (83013), the registrar and others."""
    return (
        User(
            "anna.andersson",
            "Anna Andersson",
            "+462683012",
            "+46701234501",
            voicemail=True,
            personal_id=PERSONAL_IDS[0],
            mailbox="83012",
            pin="4821",
            delegates=("helena.holm",),
            manager="cecilia.carlsson",
        ),
        User(
            "bertil.berg",
            "Bertil Berg",
            "+462683013",
            None,
            voicemail=True,
            personal_id=PERSONAL_IDS[1],
            mailbox="83013",
            manager="cecilia.carlsson",
        ),
        User(
            "cecilia.carlsson",
            "Cecilia Carlsson",
            "+462683014",
            None,
            voicemail=True,
            personal_id=PERSONAL_IDS[2],
            mailbox="83014",
        ),
        User("helena.holm", "Helena Holm", "+462683016", None, personal_id=PERSONAL_IDS[3]),
        User("rut.registrator", "Rut Registrator", "+462683019", None),
    )


def make_org(data_dir: Path, users: tuple[User, ...] | None = None) -> Organisation:
    """An Älvkarleby-like organisation built in code."""
    plan = make_plan(["026-83X XX"])
    return Organisation(
        id="alvkarleby",
        name="Älvkarleby kommun",
        code="ALV",
        folder=str(data_dir.parent),
        timezone=STHLM,
        plan=plan,
        switchboard="+462683000",
        working_hours=Hours(frozenset(range(5)), time(8, 0), time(16, 30)),
        holidays=frozenset({date(2026, 12, 24), date(2026, 12, 25)}),
        policy=Policy(timezone=STHLM),
        directory=Directory.build(users if users is not None else make_users()),
        data_dir=str(data_dir),
    )


def make_settings(**overrides: object) -> VoicemailSettings:
    """Voicemail settings with a registrar and Älvkarleby's disposal rules."""
    base: dict[str, object] = {
        "registrars": ("rut.registrator",),
        "disposal_rules": (
            DisposalRule("ej-allman-90d", Classification.NOT_PUBLIC_INTERNAL, 90),
            DisposalRule("privat-30d", Classification.NOT_PUBLIC_PRIVATE, 30),
        ),
    }
    base.update(overrides)
    return VoicemailSettings(**base)  # type: ignore[arg-type]


def wav_bytes(payload: bytes) -> bytes:
    """A minimal 8 kHz mono 16-bit WAV around the payload."""
    import struct

    header = b"RIFF" + struct.pack("<I", 36 + len(payload)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    return header + b"data" + struct.pack("<I", len(payload)) + payload


def message_txt(
    origtime: int,
    msg_id: str | None,
    callerid: str = '"Örjan Öst" <0701234567>',
    mailbox: str = "83012",
    duration: int = 1,
) -> bytes:
    """A `msgNNNN.txt` in Asterisk 22's exact layout (`duration` as long as the tests' short
    audio: intake refuses audio shorter than the txt says)."""
    lines = [
        ";",
        "; Message Information file",
        ";",
        "[message]",
        f"origmailbox={mailbox}",
        "context=from-trunk",
        f"exten=026{mailbox}",
        "rdnis=unknown",
        "priority=5",
        "callerchan=Local/02683012@from-trunk-00000002;2",
        f"callerid={callerid}",
        "origdate=Mon Nov 23 04:04:10 PM UTC 2026",
        f"origtime={origtime}",
        "category=",
    ]
    if msg_id is not None:
        lines.append(f"msg_id={msg_id}")
    lines += ["flag=", f"duration={duration}", ""]
    return "\n".join(lines).encode()


def put_message(
    spool: Path,
    mailbox: str,
    n: int,
    txt: bytes | None,
    audio: bytes | None,
    folder: str = "INBOX",
    context: str = "default",
    mtime: float | None = 1_700_000_000.0,
) -> Path:
    """Write msgNNNN.txt / .wav into a spool folder; old mtimes unless told otherwise."""
    d = spool / context / mailbox / folder
    d.mkdir(parents=True, exist_ok=True)
    for ext, data in (("wav", audio), ("txt", txt)):
        if data is None:
            continue
        p = d / f"msg{n:04d}.{ext}"
        p.write_bytes(data)
        if mtime is not None:
            os.utime(p, (mtime, mtime))
    return d


def copy_real_spool(spool: Path) -> None:
    """The real Asterisk 22 message, copied with old mtimes and writable."""
    shutil.copytree(REAL_SPOOL, spool, dirs_exist_ok=True)
    for p in spool.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
        if p.is_file():
            os.utime(p, (1_700_000_000, 1_700_000_000))
