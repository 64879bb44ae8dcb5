"""Hostile spool input (issue 15, items 2, 6 and 7): every poison message is quarantined with
its reason and the rest are taken in; no link in the spool is ever followed; half-written
audio waits until it is whole. Plus a fuzzer of the spool parser with bounded time per example.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# The register's test builders (vmkit) live beside the voicemail tests; share them, not copy.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "voicemail"))

from vmkit import LATER, PERSONAL_IDS, make_org, make_settings, message_txt, put_message
from vmkit import wav_bytes as wav

from routing.models import Organisation
from voicemail import policy
from voicemail.errors import AudioIncomplete, SpoolFormatError, UnsafeSpoolEntry
from voicemail.intake import IntakeReport, SpoolIntake, caller_e164
from voicemail.models import NewRecord
from voicemail.register_sql import check_new_record
from voicemail.service import Register
from voicemail.spool import scan
from voicemail.spool_format import (
    MAX_DURATION_S,
    MAX_ORIGTIME,
    audio_problem,
    parse_callerid,
    parse_message,
)
from voicemail.spoolfs import SpoolFs

SECOND = b"\x01\x00" * 8000  # one second of 8 kHz 16-bit mono
GOOD_T = 1795449850  # Monday 23 November 2026, 17.04 in Stockholm


@pytest.fixture
def org(tmp_path: Path) -> Organisation:
    """The test organisation (Anna 83012, Bertil 83013 …)."""
    return make_org(tmp_path / "data")


@pytest.fixture
async def register(org: Organisation, tmp_path: Path) -> AsyncIterator[Register]:
    """An open SQLite register (the spool side does not depend on the engine)."""
    reg = await Register.open(org, make_settings(), tmp_path / "db" / "register.sqlite3")
    try:
        yield reg
    finally:
        await reg.close()


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    """An empty spool root."""
    p = tmp_path / "spool"
    p.mkdir()
    return p


def good(spool: Path, mailbox: str, n: int, t: int = GOOD_T) -> str:
    """A sound one-second message in a mailbox; its msg_id."""
    msg_id = f"{t}-{n:08x}"
    put_message(spool, mailbox, n, message_txt(t, msg_id, mailbox=mailbox), wav(SECOND))
    return msg_id


def poison_txt(field: str, value: str) -> bytes:
    """A real-shaped txt with one field's value replaced."""
    lines = message_txt(GOOD_T, "1795449850-0000dead").decode().splitlines()
    out = [f"{field}={value}" if line.startswith(f"{field}=") else line for line in lines]
    return "\n".join(out).encode()


def leftovers(spool: Path) -> list[Path]:
    """Message files still in the spool."""
    return list(spool.rglob("msg*"))


def is_dir(path: Path) -> bool:
    """A real folder (not a link to one)."""
    return path.is_dir() and not path.is_symlink()


async def take(register: Register, spool: Path, batch: int = 64) -> IntakeReport:
    """One intake pass at a moment long after every file was written, bounded in time."""
    async with asyncio.timeout(20):  # a FIFO that hangs the pass fails here, not forever
        return await SpoolIntake(register, spool, batch_size=batch, remove_taken=True).run_once(
            LATER
        )


# --- item 2: one poison message never stalls intake for everyone after it --------------------

POISON = {
    "origtime_1e20": ("origtime", "100000000000000000000", "origtime"),
    "origtime_superscript": ("origtime", "¹⁷⁹⁵⁴⁴⁹⁸⁵⁰", "origtime"),
    "duration_superscript_three": ("duration", "³", "duration"),
    "duration_1e30": ("duration", "1" + "0" * 30, "duration"),
    "duration_5000_digits": ("duration", "9" * 5000, "duration"),
    "duration_two_days": ("duration", str(2 * 86_400), "longer than a day"),
}


@pytest.mark.parametrize("batch", [64, 1])
@pytest.mark.parametrize("name", sorted(POISON))
async def test_poison_txt_is_quarantined_and_the_rest_taken(
    register: Register, spool: Path, name: str, batch: int
) -> None:
    """Issue 15 item 2: origtime=10^20, duration=³, duration=10^30 … in one message: that one is
    quarantined with its reason, the messages before and after it (same mailbox and another)
    are taken in, in any batch size."""
    field, value, why = POISON[name]
    good(spool, "83012", 0)
    put_message(spool, "83012", 1, poison_txt(field, value), wav(SECOND))
    good(spool, "83012", 2)
    good(spool, "83013", 0)
    report = await take(register, spool, batch)
    assert len(report.taken) == 3
    [q] = report.quarantined
    assert q.label == "default/83012/INBOX/msg0001" and why in q.reason
    assert (Path(q.moved_to) / "msg0001.txt").exists()  # kept, not dropped
    assert not leftovers(spool)


async def test_fifo_as_audio_does_not_hang_intake(register: Register, spool: Path) -> None:
    """Issue 15 item 2: a FIFO named msg0000.wav is never opened (it would block forever):
    quarantined as a FIFO, the others taken in."""
    d = put_message(spool, "83012", 0, message_txt(GOOD_T, "1795449850-0000f1f0"), None)
    os.mkfifo(d / "msg0000.wav")
    good(spool, "83012", 1)
    report = await take(register, spool)
    assert [r.msg_id for r in report.taken] == ["1795449850-00000001"]
    [q] = report.quarantined
    assert "FIFO" in q.reason
    assert (Path(q.moved_to) / "msg0000.wav").is_fifo()


async def test_fifo_as_txt_does_not_hang_intake(register: Register, spool: Path) -> None:
    """A FIFO named msg0000.txt: quarantined, never opened."""
    d = put_message(spool, "83012", 0, None, wav(SECOND))
    os.mkfifo(d / "msg0000.txt")
    good(spool, "83013", 0)
    report = await take(register, spool)
    assert len(report.taken) == 1 and len(report.quarantined) == 1


async def test_directory_named_like_a_txt_does_not_block_the_pass(
    register: Register, spool: Path
) -> None:
    """Issue 15 item 2: a directory called msg0000.txt (with audio beside it): quarantined, the
    pass goes on to the next message."""
    d = put_message(spool, "83012", 0, None, wav(SECOND))
    (d / "msg0000.txt").mkdir()
    (d / "msg0000.txt" / "inside").write_text("x")
    good(spool, "83012", 1)
    report = await take(register, spool)
    assert len(report.taken) == 1
    [q] = report.quarantined
    assert "directory" in q.reason
    assert (Path(q.moved_to) / "msg0000.txt" / "inside").read_text() == "x"


async def test_mailbox_name_the_register_cannot_hold_is_quarantined(
    register: Register, spool: Path
) -> None:
    """A mailbox folder whose name is not UTF-8 (bytes 0xff): the register refuses the value,
    that message alone is quarantined, the batch goes in, the audit trail stays writable."""
    bad_box = os.fsdecode(b"83\xff12")
    put_message(spool, bad_box, 0, message_txt(GOOD_T, "1795449850-000000ff"), wav(SECOND))
    good(spool, "83012", 1)
    report = await take(register, spool)
    assert [r.mailbox for r in report.taken] == ["83012"]
    [q] = report.quarantined
    assert "\\xff" in q.label and "cannot hold" in q.reason
    assert (await register.verify()).ok


# --- item 6: links in the spool are never followed --------------------------------------------


async def test_audio_symlink_to_the_directory_is_never_a_record(
    register: Register, spool: Path, tmp_path: Path
) -> None:
    """Issue 15 item 6: msg0050.wav as a symlink to directory.yaml (personal identity numbers):
    quarantined as a link; no record, no audio copy; the target untouched."""
    secret = tmp_path / "directory.yaml"
    secret.write_text(f"personal_id: {PERSONAL_IDS[0]}\n")
    d = put_message(spool, "83012", 50, message_txt(GOOD_T, "1795449850-00000050"), None)
    (d / "msg0050.wav").symlink_to(secret)
    good(spool, "83012", 1)
    report = await take(register, spool)
    assert [r.msg_id for r in report.taken] == ["1795449850-00000001"]
    [q] = report.quarantined
    assert "symbolic link" in q.reason
    assert (Path(q.moved_to) / "msg0050.wav").is_symlink()
    assert secret.read_text() == f"personal_id: {PERSONAL_IDS[0]}\n"
    for f in register.audio.root.rglob("*.wav"):
        assert PERSONAL_IDS[0].encode() not in f.read_bytes()


async def test_lone_audio_symlink_does_not_wait_forever(
    register: Register, spool: Path, tmp_path: Path
) -> None:
    """A symlinked msg0007.wav without any txt is quarantined at once, not left waiting."""
    target = tmp_path / "elsewhere.wav"
    target.write_bytes(wav(SECOND))
    d = spool / "default" / "83012" / "INBOX"
    d.mkdir(parents=True)
    (d / "msg0007.wav").symlink_to(target)
    report = await take(register, spool)
    assert report.waiting == [] and len(report.quarantined) == 1
    assert target.exists()


@pytest.mark.parametrize("level", ["mailbox", "folder"])
async def test_symlinked_folder_never_leads_intake_outside(
    register: Register, spool: Path, tmp_path: Path, level: str
) -> None:
    """Issue 15 item 6: a mailbox folder (or its INBOX) that is a link to a folder outside the
    spool holding a message: the link is quarantined, nothing outside is read or deleted."""
    outside = tmp_path / "outside"
    inbox = put_message(outside, "x", 0, message_txt(GOOD_T, "1795449850-0000abcd"), wav(SECOND))
    before = sorted(p.name for p in inbox.iterdir())
    if level == "mailbox":
        (spool / "default").mkdir()
        (spool / "default" / "83013").symlink_to(inbox.parent)
    else:
        (spool / "default" / "83013").mkdir(parents=True)
        (spool / "default" / "83013" / "INBOX").symlink_to(inbox)
    good(spool, "83012", 0)
    report = await take(register, spool)
    assert [r.mailbox for r in report.taken] == ["83012"]
    [q] = report.quarantined
    assert "symbolic link" in q.reason and is_dir(Path(q.moved_to))
    assert sorted(p.name for p in inbox.iterdir()) == before == ["msg0000.txt", "msg0000.wav"]
    assert await register.store.count() == 1


def test_spoolfs_never_follows_a_link_on_the_way(spool: Path, tmp_path: Path) -> None:
    """Issue 15 item 6: open and unlink walk the path with O_NOFOLLOW at every step: a mailbox
    swapped for a link after the scan still cannot lead a read or a removal outside."""
    outside = tmp_path / "outside"
    inbox = put_message(outside, "x", 0, b"[message]\n", wav(SECOND))
    (spool / "default").mkdir()
    (spool / "default" / "83012").symlink_to(inbox.parent)
    fs = SpoolFs(spool)
    path = spool / "default" / "83012" / "INBOX" / "msg0000.wav"
    with pytest.raises(UnsafeSpoolEntry):
        fs.open(path)
    with pytest.raises(UnsafeSpoolEntry):
        fs.unlink([path])
    assert (inbox / "msg0000.wav").exists()
    with pytest.raises(ValueError, match="not inside"):
        fs.open(tmp_path / "outside" / "x" / "INBOX" / "msg0000.wav")


# --- item 7: half-written audio is not taken in --------------------------------------------


def truncated_wav(total: bytes, keep: int) -> bytes:
    """The first `keep` bytes of a WAV whose header already announces all of it (a slow copy)."""
    return total[:keep]


async def test_half_written_wav_waits_then_is_taken_whole(register: Register, spool: Path) -> None:
    """Issue 15 item 7: a writer pausing longer than the settle time, 32,000 of 128,044 bytes
    written: the header announces more than is there, the message waits; once the writer
    finishes, the whole file is taken in, hash of all 128,044 bytes."""
    whole = wav(SECOND * 8)
    assert len(whole) == 128_044
    txt = message_txt(GOOD_T, "1795449850-00000032", duration=8)
    written = 1_900_000_000.0
    put_message(spool, "83012", 0, txt, whole[:32_000], mtime=written)
    now = datetime.fromtimestamp(written + 10, UTC)  # settled (2 s) but recently written
    intake = SpoolIntake(register, spool)
    report = await intake.run_once(now)
    assert report.taken == [] and report.quarantined == []
    [(label, why)] = report.waiting
    assert "128000 bytes" in why and label.endswith("msg0000")
    put_message(spool, "83012", 0, txt, whole, mtime=written + 20)
    [record] = (await intake.run_once(now + timedelta(seconds=30))).taken
    assert record.audio_bytes == 128_044
    assert record.sha256 == hashlib.sha256(whole).hexdigest()


async def test_txt_without_duration_waits(register: Register, spool: Path) -> None:
    """Issue 15 item 7: app_voicemail writes `duration` last; a txt without it is not complete."""
    txt = b"\n".join(
        line
        for line in message_txt(GOOD_T, "1795449850-00000033").splitlines()
        if not line.startswith(b"duration=")
    )
    written = 1_900_000_000.0
    put_message(spool, "83012", 0, txt, wav(SECOND), mtime=written)
    report = await SpoolIntake(register, spool).run_once(datetime.fromtimestamp(written + 10, UTC))
    assert report.taken == [] and "duration" in report.waiting[0][1]


@pytest.mark.parametrize(
    ("audio", "fmt", "why"),
    [
        (wav(b"") + SECOND, "wav", "not finalised"),  # Asterisk's header while recording
        (wav(SECOND * 2), "wav", "audio lasts 2.0 s"),
        (b"\x00" * 1650 * 2, "gsm", "audio lasts 2.0 s"),
        (b"RIFF", "wav", "shorter than a WAV header"),
    ],
    ids=["header_not_finalised", "wav_shorter_than_duration", "gsm_shorter", "header_cut"],
)
async def test_incomplete_audio_waits_then_is_quarantined(
    register: Register, spool: Path, audio: bytes, fmt: str, why: str
) -> None:
    """Issue 15 item 7: audio that is not as long as `duration=8` says waits while it may still
    grow, and is quarantined (kept, with the reason) once unchanged for 5 minutes."""
    d = spool / "default" / "83012" / "INBOX"
    d.mkdir(parents=True)
    written = 1_900_000_000.0
    (d / "msg0000.txt").write_bytes(message_txt(GOOD_T, "1795449850-00000034", duration=8))
    (d / f"msg0000.{fmt}").write_bytes(audio)
    for p in d.iterdir():
        os.utime(p, (written, written))
    intake = SpoolIntake(register, spool)
    report = await intake.run_once(datetime.fromtimestamp(written + 10, UTC))
    assert report.taken == [] and why in report.waiting[0][1]
    report = await intake.run_once(datetime.fromtimestamp(written + 301, UTC))
    [q] = report.quarantined
    assert why in q.reason and (Path(q.moved_to) / f"msg0000.{fmt}").read_bytes() == audio


async def test_audio_changed_after_the_scan_is_not_copied(register: Register, spool: Path) -> None:
    """Issue 15 item 7: stable means unchanged between the listing and the copy: audio that
    grew after the scan is refused (it waits for the next pass)."""
    put_message(spool, "83012", 0, message_txt(GOOD_T, "1795449850-00000035"), wav(SECOND))
    [slot] = scan(spool, "default")
    assert slot.audio is not None
    with slot.audio.path.open("ab") as f:
        f.write(b"\x00" * 16)
    intake = SpoolIntake(register, spool)
    with pytest.raises(AudioIncomplete, match="changed"):
        intake._copy_audio(slot, 1)


# --- fuzzing the spool parser ---------------------------------------------------------------

_FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),  # bounded time per example (a loaded 2-core CI machine)
    derandomize=True,
    database=None,
)
KEYS = st.sampled_from(["msg_id", "callerid", "origmailbox", "context", "exten", "flag"])
NUMBERS = st.integers(min_value=0, max_value=10**40).map(str)
HOSTILE = st.sampled_from(
    ["³", "¹²³", "١٢", "0x10", "1e9", " 5 ", "-1", "", "9" * 5000, "1" + "0" * 30, '"a" <1>']
)
VALUES = st.one_of(NUMBERS, HOSTILE, st.text(max_size=40))


def _holds(data: bytes) -> None:
    """The parser's promise: a message every later step can hold, or SpoolFormatError."""
    try:
        msg = parse_message(data)
    except SpoolFormatError:
        return
    assert 0 <= msg.origtime < MAX_ORIGTIME
    assert msg.duration_s is None or 0 <= msg.duration_s <= MAX_DURATION_S
    arrived = datetime.fromtimestamp(msg.origtime, UTC)
    year = policy.registration_year(arrived, make_org(Path("/nonexistent")).timezone)
    assert 1970 <= year <= 9999
    check_new_record(
        NewRecord(
            intake_key=msg.msg_id or "k",
            msg_id=msg.msg_id,
            arrived_at=arrived,
            context="default",
            mailbox="83012",
            owner_id=None,
            caller_raw=msg.callerid.raw,
            caller_number=msg.callerid.number,
            caller_name=msg.callerid.name,
            duration_s=msg.duration_s,
            sha256="0" * 64,
            audio_bytes=0,
            audio_format="wav",
            txt_sha256="0" * 64,
            spool_fields=msg.fields,
        ),
        year,
    )


@_FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_spool_parser_any_bytes(data: bytes) -> None:
    """Any bytes: a bounded message or SpoolFormatError, never another exception."""
    _holds(data)


@_FUZZ
@given(VALUES, VALUES, st.lists(st.tuples(KEYS, VALUES), max_size=8), st.booleans())
def test_fuzz_spool_parser_message_shaped(
    origtime: str, duration: str, fields: list[tuple[str, str]], header: bool
) -> None:
    """`[message]` files with hostile values (huge, Unicode digits, text) in origtime, duration
    and the other real keys: a bounded message, or SpoolFormatError."""
    lines = [f"origtime={origtime}", f"duration={duration}"] + [f"{k}={v}" for k, v in fields]
    text = ("[message]\n" if header else "") + "\n".join(lines)
    _holds(text.encode("utf-8", "surrogatepass"))


@_FUZZ
@given(
    st.sampled_from(["", "  ", "k=", "[", "callerid=", 'callerid="', "a", " a", "[message"]),
    st.integers(min_value=0, max_value=60_000),
    st.sampled_from(["", "b", "b=1", "<1>", '" <1>', "]", "=", "x <"]),
    st.sampled_from(["[message]\norigtime=1\n", "[message]\norigtime=1\nk=1\n", ""]),
)
def test_fuzz_spool_parser_long_blank_runs(head: str, blanks: int, tail: str, before: str) -> None:
    """Lines with long runs of blanks (configparser's option pattern and a lazy caller-id
    pattern backtracked over them: 21 s for 32 kB) are parsed or refused within the deadline."""
    _holds((before + head + " " * blanks + tail + "\n").encode())
    parse_callerid(head + " " * blanks + tail)


@_FUZZ
@given(st.text(max_size=200))
def test_fuzz_callerid_and_number(raw: str) -> None:
    """Any callerid splits, and its number is either valid E.164 or kept as written."""
    org = make_org(Path("/nonexistent"))
    cid = parse_callerid(raw)

    class _Reg:  # caller_e164 reads only register.org.plan
        pass

    reg = _Reg()
    reg.org = org  # type: ignore[attr-defined]
    caller_e164(cid.number, reg)  # type: ignore[arg-type]


@_FUZZ
@given(
    st.sampled_from(["wav", "WAV", "gsm", "ulaw", "sln", "g729", "mp3"]),
    st.binary(max_size=300),
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=MAX_DURATION_S),
)
def test_fuzz_audio_length_check(fmt: str, header: bytes, size: int, duration: int) -> None:
    """Any header, size and duration: a reason or None, never an exception."""
    result = audio_problem(fmt, header, size, duration)
    assert result is None or isinstance(result, str)
