"""The app_voicemail spool parser, fed the real Asterisk 22 message and hand-written variants."""

from __future__ import annotations

from pathlib import Path

import pytest
from vmkit import REAL_SPOOL, VM_FIXTURES, put_message

from voicemail.errors import SpoolFormatError
from voicemail.spool import readiness, scan
from voicemail.spool_format import parse_callerid, parse_message

REAL_TXT = REAL_SPOOL / "default" / "83012" / "INBOX" / "msg0000.txt"


def test_alv15_real_asterisk22_message_parses() -> None:
    """ALV-15: the real message's origtime, msg_id, callerid and duration are read exactly."""
    msg = parse_message(REAL_TXT.read_bytes())
    assert msg.origtime == 1795449850
    assert msg.msg_id == "1795449850-00000000"
    assert msg.callerid.name == "Örjan Öst"
    assert msg.callerid.number == "0701234567"
    assert msg.duration_s == 9
    assert msg.origmailbox == "83012"
    assert msg.field("macrocontext") is None  # Asterisk 21+ no longer writes it
    assert msg.field("callerchan") == "Local/02683012@from-trunk-00000002;2"


def test_asterisk18_file_without_msg_id_and_escaped_quotes() -> None:
    """An Asterisk 1.8 file: macrocontext present, no msg_id, escaped quotes in the name."""
    msg = parse_message((VM_FIXTURES / "asterisk18_no_msg_id.txt").read_bytes())
    assert msg.msg_id is None
    assert msg.field("macrocontext") == ""
    assert msg.callerid.name == 'Per "Pelle" Persson'
    assert msg.callerid.number == "+46 18 123 45 67"


def test_latin1_caller_name_is_not_refused() -> None:
    """A caller name in ISO-8859-1 bytes is decoded, not quarantined (nothing lost)."""
    msg = parse_message((VM_FIXTURES / "latin1_callerid.txt").read_bytes())
    assert msg.callerid.name == "Åsa Öberg"


def test_zero_length_message_parses() -> None:
    """REC-04: a silent call (duration 0, number only) is a message like any other."""
    msg = parse_message((VM_FIXTURES / "zero_length_silent_call.txt").read_bytes())
    assert msg.duration_s == 0
    assert msg.callerid.name is None
    assert msg.callerid.number == "0701112233"


@pytest.mark.parametrize(
    ("name", "reason"),
    [("malformed_no_section.txt", "[message]"), ("malformed_no_origtime.txt", "origtime")],
)
def test_malformed_txt_raises_with_reason(name: str, reason: str) -> None:
    """A malformed txt raises SpoolFormatError naming what is wrong."""
    with pytest.raises(SpoolFormatError) as exc:
        parse_message((VM_FIXTURES / name).read_bytes())
    assert reason in exc.value.reason


@pytest.mark.parametrize(
    ("raw", "name", "number"),
    [
        ('"Örjan Öst" <0701234567>', "Örjan Öst", "0701234567"),
        ("<0701234567>", None, "0701234567"),
        ('"" <0701234567>', None, "0701234567"),
        ("Kalle Anka <0701234567>", "Kalle Anka", "0701234567"),
        ("0701234567", None, "0701234567"),
        ("Unknown", None, None),
        ("", None, None),
        ('"Anonymous" <>', "Anonymous", None),
    ],
)
def test_callerid_forms(raw: str, name: str | None, number: str | None) -> None:
    """Every callerid form app_voicemail writes splits into name and number."""
    cid = parse_callerid(raw)
    assert (cid.name, cid.number) == (name, number)


def test_half_written_message_waits(tmp_path: Path) -> None:
    """Audio without txt, txt without audio, and files still changing all wait for a later pass."""
    put_message(tmp_path, "83012", 0, None, b"growing")
    put_message(tmp_path, "83012", 1, b"[message]\norigtime=1\n", None)
    put_message(tmp_path, "83012", 2, b"[message]\norigtime=1\n", b"x", mtime=1_000.0)
    slots = {s.name: s for s in scan(tmp_path, "default")}
    assert readiness(slots["msg0000"], 2e9, 2.0)[0] == "wait"
    assert readiness(slots["msg0001"], 2e9, 2.0)[0] == "wait"
    assert readiness(slots["msg0002"], 1_001.0, 2.0)[0] == "wait"
    assert readiness(slots["msg0002"], 1_003.0, 2.0)[0] == "ready"


def test_scan_finds_every_folder_and_prefers_wav(tmp_path: Path) -> None:
    """Scan lists INBOX and Old, and picks wav before other formats of the same message."""
    d = put_message(tmp_path, "83012", 0, b"t", b"w")
    (d / "msg0000.gsm").write_bytes(b"g")
    put_message(tmp_path, "83013", 3, b"t", b"w", folder="Old")
    slots = scan(tmp_path, "default")
    assert [s.label for s in slots] == ["default/83012/INBOX/msg0000", "default/83013/Old/msg0003"]
    assert slots[0].audio is not None and slots[0].audio.path.suffix == ".wav"
    assert [f.path.suffix for f in slots[0].other_audio] == [".gsm"]


def test_file_age_when_the_service_clock_is_behind_the_file_system() -> None:
    """A service run `--at` an earlier day still sees a message written now settle: file ages
    fall back to the file system's time instead of staying negative forever."""
    import time as _time

    from voicemail.spool import file_age

    written = _time.time() - 5
    assert file_age(written + 60, written) == 60  # the service's clock, when it is ahead
    pinned_day_ago = written - 86_400 * 9  # `switchboard run --at` nine days earlier
    assert 4 <= file_age(pinned_day_ago, written) < 60
