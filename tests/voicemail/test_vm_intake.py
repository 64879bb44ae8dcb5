"""Intake from the spool into the register: arrival times, idempotence, waiting, quarantine."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storekit import Storage
from vmkit import LATER, STHLM, VM_FIXTURES, copy_real_spool, make_org, message_txt, put_message
from vmkit import wav_bytes as wav

from routing.models import Directory
from voicemail.intake import SpoolIntake
from voicemail.models import RecordStatus
from voicemail.register import RecordFilter
from voicemail.service import Register

FOUR_S = b"\x01\x00" * 8000 * 4  # four seconds of 8 kHz 16-bit audio (the fixture's duration=4)


async def test_alv15_arrival_is_origtime_of_real_message(register: Register, spool: Path) -> None:
    """ALV-15: the real Asterisk message arrives at its origtime, not when intake or playback ran."""
    copy_real_spool(spool)
    report = await SpoolIntake(register, spool).run_once(LATER)
    [record] = report.taken
    assert record.arrived_at == datetime.fromtimestamp(1795449850, UTC)
    assert record.arrived_at.astimezone(STHLM).isoformat() == "2026-11-23T17:04:10+01:00"
    assert record.registered_at == LATER  # REC-05: registration time is a separate field
    assert record.owner_id == "anna.andersson"
    assert record.caller_number == "+46701234567"
    assert record.caller_name == "Örjan Öst"
    assert record.duration_s == 9
    assert record.registration_number == "ALV-RÖST-2026-000001"
    wav_path = VM_FIXTURES.parent / "spool/asterisk22/default/83012/INBOX/msg0000.wav"
    assert record.sha256 == hashlib.sha256(wav_path.read_bytes()).hexdigest()
    # ALV-23: the owner's phone mailbox keeps its copy
    assert sorted(p.name for p in (spool / "default/83012/INBOX").iterdir()) == [
        "msg0000.txt",
        "msg0000.wav",
    ]


async def test_rec03_audio_kept_byte_for_byte(register: Register, spool: Path) -> None:
    """REC-03: the register's copy of the audio is identical to what Asterisk wrote."""
    copy_real_spool(spool)
    original = (spool / "default/83012/INBOX/msg0000.wav").read_bytes()
    [record] = (await SpoolIntake(register, spool).run_once(LATER)).taken
    _, path = await register.play(record.registration_number, "anna.andersson", LATER)
    assert path.read_bytes() == original


async def test_intake_is_idempotent_by_msg_id(register: Register, spool: Path) -> None:
    """The same msg_id dropped again (e.g. copied back) is recognised and not registered twice."""
    copy_real_spool(spool)
    await SpoolIntake(register, spool).run_once(LATER)
    copy_real_spool(spool)
    report = await SpoolIntake(register, spool).run_once(LATER)
    assert report.taken == [] and report.already_registered == 1
    assert await register.store.count() == 1


async def test_keep_spool_mode_is_idempotent(register: Register, spool: Path) -> None:
    """With the spool left in place, repeated passes register nothing twice."""
    put_message(spool, "83012", 0, message_txt(1795449850, "1795449850-00000001"), wav(b"a"))
    intake = SpoolIntake(register, spool, remove_taken=False)
    for _ in range(3):
        await intake.run_once(LATER)
    assert await register.store.count() == 1


async def test_message_without_msg_id_keyed_by_audio_hash(register: Register, spool: Path) -> None:
    """Without msg_id the audio hash keys the message; two silent calls stay two records."""
    txt = (VM_FIXTURES / "asterisk18_no_msg_id.txt").read_bytes()  # duration=4
    put_message(spool, "83013", 0, txt, wav(FOUR_S), folder="INBOX")
    put_message(spool, "83013", 0, txt, wav(FOUR_S), folder="Old")  # same message twice
    silent = (VM_FIXTURES / "zero_length_silent_call.txt").read_bytes()
    put_message(spool, "83012", 0, silent, b"")
    put_message(spool, "83012", 1, silent.replace(b"1795424400", b"1795424460"), b"")
    report = await SpoolIntake(register, spool).run_once(LATER)
    keys = sorted(r.intake_key.split(":")[0] for r in report.taken)
    assert len(report.taken) == 3, keys
    assert report.already_registered == 1


async def test_rec04_zero_length_message_is_registered(register: Register, spool: Path) -> None:
    """REC-04: a silent call with empty audio is still kept as a record."""
    silent = (VM_FIXTURES / "zero_length_silent_call.txt").read_bytes()
    put_message(spool, "83012", 0, silent, b"")
    [record] = (await SpoolIntake(register, spool).run_once(LATER)).taken
    assert record.audio_bytes == 0 and record.duration_s == 0
    assert record.sha256 == hashlib.sha256(b"").hexdigest()


async def test_rec05_stored_2359_arrives_that_day(register: Register, spool: Path) -> None:
    """REC-05: stored 23:59:30 local arrives that day, whenever it is taken in or opened."""
    txt = (VM_FIXTURES / "asterisk18_no_msg_id.txt").read_bytes()
    put_message(spool, "83013", 0, txt, wav(b"late" + FOUR_S))
    [record] = (await SpoolIntake(register, spool).run_once(LATER)).taken
    local = record.arrived_at.astimezone(STHLM)
    assert (local.date().isoformat(), local.strftime("%H:%M:%S")) == ("2026-03-27", "23:59:30")
    assert record.registration_number.startswith("ALV-RÖST-2026-")


async def test_unknown_mailbox_still_enters_register(register: Register, spool: Path) -> None:
    """A folder that maps to no user is reported, and its message is registered without owner."""
    put_message(spool, "89999", 0, message_txt(1795449850, "1795449850-00000002"), wav(b"x"))
    report = await SpoolIntake(register, spool).run_once(LATER)
    assert report.unknown_mailboxes == {"89999"}
    [record] = report.taken
    assert record.owner_id is None and record.mailbox == "89999"


async def test_half_written_message_waits_then_is_taken(register: Register, spool: Path) -> None:
    """Audio without txt waits; once the txt is there and settled, the message is taken in."""
    d = put_message(spool, "83012", 0, None, wav(b"growing"))
    intake = SpoolIntake(register, spool)
    report = await intake.run_once(LATER)
    assert report.taken == [] and len(report.waiting) == 1
    (d / "msg0000.txt").write_bytes(message_txt(1795449850, "1795449850-00000003"))
    # the moment the file system says the txt was written (not today's date: faketime-safe),
    # plus 2 µs: a datetime keeps whole microseconds, and a moment a hair before the file's
    # own time is one the file is "ahead of" (file_age then counts it as settled)
    mtime = (d / "msg0000.txt").stat().st_mtime
    now = datetime.fromtimestamp(mtime, UTC) + timedelta(microseconds=2)
    assert (await intake.run_once(now)).taken == []  # just written: may still be growing
    report = await intake.run_once(LATER)
    assert len(report.taken) == 1


async def test_malformed_txt_is_quarantined_with_reason(
    register: Register, spool: Path, tmp_path: Path
) -> None:
    """A malformed txt is moved aside with a reason, reported and audited; never dropped."""
    bad = (VM_FIXTURES / "malformed_no_origtime.txt").read_bytes()
    put_message(spool, "83012", 0, bad, wav(b"keep me"))
    report = await SpoolIntake(register, spool).run_once(LATER)
    [q] = report.quarantined
    assert "origtime" in q.reason
    moved = Path(q.moved_to)
    assert (moved / "msg0000.txt").read_bytes() == bad
    assert (moved / "msg0000.wav").read_bytes() == wav(b"keep me")
    assert "origtime" in (moved / "reason.txt").read_text(encoding="utf-8")
    events = await register.store.events()
    assert events[-1].action == "intake.quarantined"


async def test_leftover_txt_after_crash_is_recognised(register: Register, spool: Path) -> None:
    """A txt left behind by a crash between removing audio and txt is removed, not re-registered."""
    txt = message_txt(1795449850, "1795449850-00000004")
    put_message(spool, "83012", 0, txt, wav(b"a"))
    await SpoolIntake(register, spool, remove_taken=False).run_once(LATER)
    (spool / "default/83012/INBOX/msg0000.wav").unlink()
    report = await SpoolIntake(register, spool, remove_taken=True).run_once(LATER)
    assert report.already_registered == 1 and report.quarantined == []
    assert not (spool / "default/83012/INBOX/msg0000.txt").exists()


async def test_registration_numbers_gapless_per_year(register: Register, spool: Path) -> None:
    """Numbers run 1, 2, 3 … without gaps per organisation and year, restarting each year."""
    times = [1795449850, 1795449851, 1798761600 + 3600, 1795449852]  # third is in 2027
    for n, t in enumerate(times):
        put_message(spool, "83012", n, message_txt(t, f"{t}-0000000{n}"), wav(bytes([n])))
    await SpoolIntake(register, spool, batch_size=2).run_once(LATER)
    numbers = sorted(r.registration_number for r in await register.records())
    assert numbers == [
        "ALV-RÖST-2026-000001",
        "ALV-RÖST-2026-000002",
        "ALV-RÖST-2026-000003",
        "ALV-RÖST-2027-000001",
    ]


async def test_hal08_successor_does_not_get_old_messages(
    register: Register, spool: Path, tmp_path: Path
) -> None:
    """HAL-08: when 83012 passes to a successor, Anna's messages stay Anna's, new ones are theirs."""
    put_message(spool, "83012", 0, message_txt(1795449850, "1795449850-00000005"), wav(b"a"))
    await SpoolIntake(register, spool).run_once(LATER)
    users = tuple(
        replace(u, mailbox="83099", extension="+462683099") if u.id == "anna.andersson" else u
        for u in register.org.directory.users
    )
    from routing.models import User

    successor = User("sara.svensson", "Sara Svensson", "+462683012", None, mailbox="83012")
    org2 = replace(make_org(tmp_path / "data"), directory=Directory.build((*users, successor)))
    reg2 = Register(register.store, org2, register.settings, register.audio)
    put_message(spool, "83012", 0, message_txt(1795449900, "1795449900-00000006"), wav(b"b"))
    [new] = (await SpoolIntake(reg2, spool).run_once(LATER)).taken
    assert new.owner_id == "sara.svensson"
    assert [r.msg_id for r in await reg2.mailbox("sara.svensson")] == ["1795449900-00000006"]
    assert [r.msg_id for r in await reg2.mailbox("anna.andersson")] == ["1795449850-00000005"]


async def test_alv12_global_switch_off_and_on_loses_nothing(
    org: object, spool: Path, storage: Storage
) -> None:
    """ALV-12: with the global switch off, messages still enter; on again, all are there."""
    from vmkit import make_settings

    from routing.models import Organisation

    assert isinstance(org, Organisation)
    put_message(spool, "83012", 0, message_txt(1795449850, "1795449850-00000007"), wav(b"a"))
    async with await storage.open_register(org, make_settings(extension_users=False)) as off:
        await SpoolIntake(off, spool).run_once(LATER)
    put_message(spool, "83012", 1, message_txt(1795449860, "1795449860-00000008"), wav(b"b"))
    async with await storage.open_register(org, make_settings(extension_users=True)) as on:
        await SpoolIntake(on, spool).run_once(LATER)
        mine = await on.mailbox("anna.andersson")
    assert len(mine) == 2


async def test_other_context_is_not_scanned(register: Register, spool: Path) -> None:
    """Only the organisation's voicemail context is taken in."""
    put_message(spool, "83012", 0, message_txt(1, "1-00000009"), wav(b"a"), context="other")
    assert (await SpoolIntake(register, spool).run_once(LATER)).taken == []


async def test_records_filter_by_status(register: Register, spool: Path) -> None:
    """Newly taken records await classification."""
    put_message(spool, "83012", 0, message_txt(1795449850, "1795449850-0000000a"), wav(b"a"))
    await SpoolIntake(register, spool).run_once(LATER)
    waiting = await register.records(RecordFilter(status=RecordStatus.AWAITING_CLASSIFICATION))
    assert len(waiting) == 1
