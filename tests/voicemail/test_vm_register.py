"""The register's workflow: classification, playback rights, deletion, disposal, audit chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storekit import Storage
from vmkit import LATER, message_txt, put_message
from vmkit import wav_bytes as wav

from voicemail.errors import InvalidClassification, NotPermitted, RecordDisposed, UnknownRecord
from voicemail.intake import SpoolIntake
from voicemail.models import Classification, PublicRecord, RecordStatus
from voicemail.register_schema import SCHEMA_VERSION
from voicemail.service import Register

REGISTRAR = "rut.registrator"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10.00 Stockholm


async def take(register: Register, spool: Path, *origtimes: int) -> list[PublicRecord]:
    """Put one message per origtime into Anna's mailbox and take them in."""
    for n, t in enumerate(origtimes):
        put_message(spool, "83012", n, message_txt(t, f"{t}-{n:08x}"), wav(bytes([n]) * 10))
    report = await SpoolIntake(register, spool).run_once(LATER)
    return sorted(report.taken, key=lambda r: r.arrived_at)


async def test_rec02_queue_ordered_by_waiting_time(register: Register, spool: Path) -> None:
    """REC-02: the queue shows the longest-waiting message first, with how long it has waited."""
    t = int(T0.timestamp())
    await take(register, spool, t + 600, t, t + 60)
    queue = await register.queue(T0 + timedelta(hours=1))
    assert [int(q.waiting_s) for q in queue] == [3600, 3540, 3000]


async def test_alv16_classify_public_record_with_case(register: Register, spool: Path) -> None:
    """ALV-16: a registrar classifies a message as a public record registered in a case."""
    [r] = await take(register, spool, int(T0.timestamp()))
    done = await register.classify(
        r.registration_number,
        Classification.PUBLIC_REGISTERED,
        REGISTRAR,
        T0 + timedelta(minutes=5),
        summary="Fråga om bygglov Skutskär 3:14",
        case_reference="BN 2026/123",
    )
    assert done.status is RecordStatus.CLASSIFIED
    assert done.case_reference == "BN 2026/123"
    assert done.classified_at == T0 + timedelta(minutes=5)
    assert await register.queue(T0) == []


@pytest.mark.parametrize(
    "classification",
    [
        Classification.PUBLIC_MINOR,
        Classification.NOT_PUBLIC_INTERNAL,
        Classification.NOT_PUBLIC_PRIVATE,
        Classification.NOT_PUBLIC_OTHER_CAPACITY,
    ],
)
async def test_alv17_not_public_outcomes(
    register: Register, spool: Path, classification: Classification
) -> None:
    """ALV-17: internal, private, other-capacity and minor-importance are classification outcomes."""
    [r] = await take(register, spool, int(T0.timestamp()))
    done = await register.classify(r.id, classification, REGISTRAR, T0, summary="Kort notering")
    assert done.classification is classification and done.case_reference is None


async def test_classify_rules(register: Register, spool: Path) -> None:
    """Only registrars classify; a registered record needs a case; unknown ids are reported."""
    [r] = await take(register, spool, int(T0.timestamp()))
    with pytest.raises(NotPermitted):
        await register.classify(r.id, Classification.PUBLIC_MINOR, "anna.andersson", T0, "x")
    with pytest.raises(InvalidClassification):
        await register.classify(r.id, Classification.PUBLIC_REGISTERED, REGISTRAR, T0, "x")
    with pytest.raises(InvalidClassification):
        await register.classify(r.id, Classification.PUBLIC_MINOR, REGISTRAR, T0, summary="")
    with pytest.raises(UnknownRecord):
        await register.classify("ALV-RÖST-2026-999999", Classification.PUBLIC_MINOR, REGISTRAR, T0)


async def test_alv14_only_owner_delegates_registrars_play(register: Register, spool: Path) -> None:
    """ALV-14: owner, delegate and registrar may play; others may not; every attempt is logged."""
    [r] = await take(register, spool, int(T0.timestamp()))
    for who in ("anna.andersson", "helena.holm", REGISTRAR):
        _, path = await register.play(r.id, who, T0)
        assert path.exists()
    with pytest.raises(NotPermitted):
        await register.play(r.id, "bertil.berg", T0)
    events = await register.store.events(r.id)
    played = [(e.action, e.actor) for e in events if e.action.startswith("record.play")]
    assert played == [
        ("record.played", "anna.andersson"),
        ("record.played", "helena.holm"),
        ("record.played", REGISTRAR),
        ("record.play_refused", "bertil.berg"),
    ]


async def test_alv15_playback_does_not_change_arrival(register: Register, spool: Path) -> None:
    """ALV-15: the first playback is recorded separately; the arrival time stays origtime."""
    [r] = await take(register, spool, int(T0.timestamp()))
    later = T0 + timedelta(days=3)
    after, _ = await register.play(r.id, "anna.andersson", later)
    assert after.arrived_at == r.arrived_at and after.first_heard_at == later


async def test_rec04_owner_delete_only_hides(register: Register, spool: Path) -> None:
    """REC-04: an owner's delete hides the message from them; the record and audio stay."""
    [r] = await take(register, spool, int(T0.timestamp()))
    hidden = await register.hide(r.id, "anna.andersson", T0)
    assert hidden.hidden_from_owner and hidden.status is RecordStatus.AWAITING_CLASSIFICATION
    assert await register.mailbox("anna.andersson") == []
    assert len(await register.queue(T0)) == 1
    with pytest.raises(NotPermitted):
        await register.play(r.id, "anna.andersson", T0)
    _, path = await register.play(r.id, REGISTRAR, T0)
    assert path.exists()
    with pytest.raises(NotPermitted):
        await register.hide(r.id, "bertil.berg", T0)


async def test_rec04_disposal_never_touches_unclassified(register: Register, spool: Path) -> None:
    """REC-04: disposal destroys only classified records past their rule; metadata is kept."""
    t = int(T0.timestamp())
    a, b, c = await take(register, spool, t, t + 1, t + 2)
    await register.classify(a.id, Classification.NOT_PUBLIC_INTERNAL, REGISTRAR, T0, "Internt")
    await register.classify(b.id, Classification.PUBLIC_MINOR, REGISTRAR, T0, "Felringning")
    # c stays unclassified, however old it gets
    far = T0 + timedelta(days=3650)
    assert [d.record.id for d in await register.dispose(T0 + timedelta(days=89), "sys")] == []
    done = await register.dispose(far, "sys")
    assert [(d.record.id, d.rule) for d in done] == [(a.id, "ej-allman-90d")]
    gone = await register.get(a.id)
    assert gone.status is RecordStatus.DISPOSED and gone.sha256 == a.sha256
    assert not register.audio.path_for(a.sha256, a.audio_format).exists()
    assert (await register.get(c.id)).status is RecordStatus.AWAITING_CLASSIFICATION
    assert register.audio.path_for(c.sha256, c.audio_format).exists()
    with pytest.raises(RecordDisposed):
        await register.play(a.id, REGISTRAR, far)
    actions = [e.action for e in await register.store.events()]
    assert "disposal.run_started" in actions and "disposal.run_finished" in actions
    assert (await register.verify()).ok


async def test_rec04_disposal_run_audit_names_rule_when_and_what(
    register: Register, spool: Path
) -> None:
    """REC-04: a disposal run is logged: what was disposed, when, and under which rule."""
    t = int(T0.timestamp())
    internal, private, minor = await take(register, spool, t, t + 1, t + 2)
    await register.classify(
        internal.id, Classification.NOT_PUBLIC_INTERNAL, REGISTRAR, T0, "Internt"
    )
    await register.classify(private.id, Classification.NOT_PUBLIC_PRIVATE, REGISTRAR, T0, "Privat")
    await register.classify(minor.id, Classification.PUBLIC_MINOR, REGISTRAR, T0, "Felringning")
    run_at = T0 + timedelta(days=100)
    done = await register.dispose(run_at, "sys")
    expected = {internal.id: "ej-allman-90d", private.id: "privat-30d"}
    assert {d.record.id: d.rule for d in done} == expected
    numbers = [internal.registration_number, private.registration_number]  # rule order
    # each disposed record: its own event, at the run's time, naming the rule; the record keeps it
    for record_id, rule in expected.items():
        [event] = [
            e for e in await register.store.events(record_id) if e.action == "record.disposed"
        ]
        assert (event.actor, event.at, event.record_id) == ("sys", run_at, record_id)
        assert event.after is not None and event.after["rule"] == rule
        assert event.after["disposal_rule"] == rule and event.after["status"] == "disposed"
        assert event.before is not None and event.before["disposal_rule"] is None
        kept = await register.get(record_id)
        assert (kept.disposal_rule, kept.disposed_at) == (rule, run_at)
    assert not [e for e in await register.store.events(minor.id) if e.action == "record.disposed"]
    # the run itself: started with the records and the rules, finished with what was disposed
    run = [e for e in await register.store.events() if e.action.startswith("disposal.run")]
    assert [(e.action, e.actor, e.at, e.record_id) for e in run] == [
        ("disposal.run_started", "sys", run_at, None),
        ("disposal.run_finished", "sys", run_at, None),
    ]
    started, finished = run
    assert started.after is not None and finished.after is not None
    assert started.after["records"] == numbers
    assert started.after["rules"] == ["ej-allman-90d", "privat-30d"]
    assert finished.after["disposed"] == numbers
    assert (await register.verify()).ok


async def test_rec03_audit_chain_detects_tampering(
    register: Register, spool: Path, storage: Storage
) -> None:
    """REC-03: changing any stored audit event breaks the chain at exactly that event."""
    t = int(T0.timestamp())
    [a, _b] = await take(register, spool, t, t + 1)
    await register.classify(a.id, Classification.PUBLIC_MINOR, REGISTRAR, T0, "Felringning")
    await register.play(a.id, "anna.andersson", T0)
    assert (await register.verify()).ok
    await storage.raw("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    report = await register.verify()
    assert not report.ok and report.chain.broken_seq == 3
    assert report.chain.checked == 2


async def test_rec03_deleted_event_and_truncation_detected(
    register: Register, spool: Path, storage: Storage
) -> None:
    """REC-03: a removed event in the middle or at the end of the trail is detected."""
    t = int(T0.timestamp())
    await take(register, spool, t, t + 1, t + 2)
    await storage.raw("DELETE FROM audit_events WHERE seq = 3")
    assert (await register.verify()).chain.broken_seq == 3
    await storage.raw("DELETE FROM audit_events WHERE seq >= 3")
    report = await register.verify()
    assert not report.ok and "end" in (report.chain.problem or "")


async def test_rec03_changed_audio_is_reported(register: Register, spool: Path) -> None:
    """REC-03: an audio copy changed after intake no longer matches its recorded hash."""
    [r] = await take(register, spool, int(T0.timestamp()))
    register.audio.path_for(r.sha256, r.audio_format).write_bytes(b"edited")
    report = await register.verify()
    assert report.chain.ok and report.audio_mismatch == (r.registration_number,)


async def test_rec03_changes_are_audited_with_before_and_after(
    register: Register, spool: Path
) -> None:
    """REC-03: a reclassification is an audit event with who, when, before and after."""
    [r] = await take(register, spool, int(T0.timestamp()))
    await register.classify(r.id, Classification.PUBLIC_MINOR, REGISTRAR, T0, "Felringning")
    t1 = T0 + timedelta(hours=1)
    await register.classify(
        r.id, Classification.PUBLIC_REGISTERED, REGISTRAR, t1, "Bygglov", case_reference="BN 1"
    )
    last = (await register.store.events(r.id))[-1]
    assert last.actor == REGISTRAR and last.at == t1 and last.action == "record.classified"
    assert last.before is not None and last.after is not None
    assert last.before["classification"] == "public_minor_importance"
    assert last.after["classification"] == "public_registered"


async def test_alv13_overdue_after_one_working_day(register: Register, spool: Path) -> None:
    """ALV-13: a message unheard past the next working day's close is listed with whom to tell."""
    friday_evening = int(datetime(2026, 11, 20, 17, 0, tzinfo=UTC).timestamp())
    [r] = await take(register, spool, friday_evening)
    monday_1600 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    monday_1700 = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    assert await register.overdue(monday_1600) == []
    [o] = await register.overdue(monday_1700)
    assert o.owner_id == "anna.andersson" and o.notify == ("helena.holm",)
    await register.play(r.id, "helena.holm", monday_1700)  # the delegate listens
    assert await register.overdue(monday_1700) == []


async def test_alv13_registrar_listening_does_not_count(register: Register, spool: Path) -> None:
    """ALV-13: a registrar's playback does not count as the mailbox being watched."""
    [r] = await take(register, spool, int(T0.timestamp()))
    await register.play(r.id, REGISTRAR, T0)
    assert len(await register.overdue(T0 + timedelta(days=7))) == 1


async def test_reopen_migrates_once_and_keeps_records(
    register: Register, spool: Path, storage: Storage
) -> None:
    """Reopening an existing database keeps its records and schema version."""
    await take(register, spool, int(T0.timestamp()))
    async with await storage.open_register(register.org, register.settings) as again:
        assert await again.store.count() == 1
    assert await storage.raw("SELECT COUNT(*) FROM schema_migrations") == [(SCHEMA_VERSION,)]
    if storage.engine == "sqlite":
        assert await storage.raw("PRAGMA journal_mode") == [("wal",)]


async def test_rec02_arrival_after_now_has_waited_zero(register: Register, spool: Path) -> None:
    """REC-02: a message stamped after `now` (the PBX's clock ahead) has waited 0 s, never less."""
    t = int(T0.timestamp())
    await take(register, spool, t + 600, t)
    queue = await register.queue(T0 + timedelta(minutes=5))
    assert [int(q.waiting_s) for q in queue] == [300, 0]
