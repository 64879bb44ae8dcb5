"""The call log (ALV-18) and threat incidents (ALV-20), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from storekit import ENGINES, Storage, make_storage

from switchboard.telephony.ami import FrameParser, Message
from switchboard.telephony.calllog import (
    DB_NAME,
    SCHEMA_VERSION,
    CallEntry,
    CallLog,
    CallLogStorage,
    CallLogStore,
    UnknownCall,
)
from switchboard.telephony.calllog.pg import PgCallLogStore

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def entry(n: int, **kw: object) -> CallEntry:
    """A finished call starting n minutes after T0."""
    start = T0 + timedelta(minutes=n)
    base: dict[str, object] = {
        "call_id": f"1795.{n}",
        "start": start,
        "end": start + timedelta(seconds=30),
        "duration_s": 30,
        "caller": "0701112233",
        "called": "02683012",
        "dialled": ("PJSIP/83013",),
        "outcome": "completed",
        "action": "redirect",
    }
    base.update(kw)
    return CallEntry(**base)  # type: ignore[arg-type]


@pytest.fixture(params=ENGINES)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """A fresh database on each engine (on SQLite each test names its call-log file)."""
    return make_storage(str(request.param), tmp_path)


def ev(name: str, **headers: str) -> Message:
    """An AMI event message."""
    return Message("event", (("Event", name), *headers.items()))


async def test_record_get_and_reopen(storage: Storage, tmp_path: Path) -> None:
    """An entry survives closing and reopening; WAL mode and the schema version are set.

    On PostgreSQL "reopening" is a new store instance (a new pool) on the same database.
    """
    sqlite, mode = storage.engine == "sqlite", None
    async with storage.call_log(tmp_path / DB_NAME) as store:
        await store.record(entry(1, interrupted=True, outcome="interrupted"))
        assert await store.schema_version() == SCHEMA_VERSION
    if sqlite:
        assert (tmp_path / "calllog.sqlite3").exists()
    async with storage.call_log(tmp_path / DB_NAME) as store:
        got = await store.get("1795.1")
        if isinstance(store, CallLogStore):  # the SQLite file's journal mode
            async with store.db.execute("PRAGMA journal_mode") as cur:
                mode = await cur.fetchone()
    assert got == entry(1, interrupted=True, outcome="interrupted")
    if sqlite:
        assert mode is not None and mode[0] == "wal"


async def test_query_filters_and_order(storage: Storage, tmp_path: Path) -> None:
    """since/until (half-open), number digits, outcome and limit; newest first."""
    async with storage.call_log(tmp_path / "c.sqlite3") as store:
        for n in range(5):
            await store.record(entry(n, caller=f"07011122{n:02d}"))
        await store.record(entry(9, outcome="caller_hung_up", dialled=()))
        ids = [e.call_id for e in await store.query()]
        assert ids == ["1795.9", "1795.4", "1795.3", "1795.2", "1795.1", "1795.0"]
        window = await store.query(T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
        assert [e.call_id for e in window] == ["1795.2", "1795.1"]
        assert [e.call_id for e in await store.query(number="070-111 22 03")] == ["1795.3"]
        assert [e.call_id for e in await store.query(outcome="caller_hung_up")] == ["1795.9"]
        assert len(await store.query(limit=2)) == 2
        assert await store.get("nope") is None


async def test_export_csv(storage: Storage, tmp_path: Path) -> None:
    """CSV with a header row; dialled numbers space-separated; times in UTC ISO 8601."""
    async with storage.call_log(tmp_path / "c.sqlite3") as store:
        await store.record(entry(1, dialled=("PJSIP/83013", "PJSIP/83014")))
        text = await store.export_csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["call_id"] == "1795.1"
    assert rows[0]["dialled"] == "PJSIP/83013 PJSIP/83014"
    assert rows[0]["start"] == "2026-11-24T09:01:00.000+00:00"
    assert rows[0]["interrupted"] == "False"


async def test_flag_threat_makes_an_incident_with_the_calls_details(
    storage: Storage, tmp_path: Path
) -> None:
    """ALV-20: an incident record with its own reference and a copy of the call."""
    async with storage.call_log(tmp_path / "c.sqlite3", org_code="ALV") as store:
        await store.record(entry(1))
        incident = await store.flag_threat("1795.1", "ivar.isaksson", "Hotfullt samtal", T0)
        assert incident.reference == "ALV-HOT-2026-0001"
        assert incident.call["caller"] == "0701112233"
        second = await store.flag_threat("1795.1", "ivar.isaksson", "Igen", T0)
        assert second.reference == "ALV-HOT-2026-0002"
        with pytest.raises(UnknownCall):
            await store.flag_threat("nope", "ivar.isaksson", "x", T0)
        listed = await store.incidents()
    assert [i.reference for i in listed] == ["ALV-HOT-2026-0001", "ALV-HOT-2026-0002"]
    assert listed[0].as_json()["call"] == entry(1).as_json()


async def test_calls_is_the_web_layers_call_log_source(storage: Storage, tmp_path: Path) -> None:
    """`calls()` gives JSON dicts oldest first with the web API's field names."""
    async with storage.call_log(tmp_path / "c.sqlite3") as store:
        await store.record(entry(2))
        await store.record(entry(1))
        calls = await store.calls()
    assert [c["call_id"] for c in calls] == ["1795.1", "1795.2"]
    assert {"start", "answer", "end", "duration_s", "dialled", "outcome"} <= set(calls[0])


def chan(name: str, uid: str, linked: str, **headers: str) -> Message:
    """A channel event as Asterisk 22 writes it (Channel, Uniqueid, Linkedid, …)."""
    base = {"Channel": f"PJSIP/trunk-{uid}", "Uniqueid": uid, "Linkedid": linked}
    return ev(name, **{**base, **headers})


async def test_calllog_folds_events_and_rewrites_after_a_late_cdr(
    storage: Storage, tmp_path: Path
) -> None:
    """ALV-18: channel events plus the service's outcome make one entry; a Cdr arriving after
    the end (as Asterisk 22 sends them) updates it; times from the service's clock."""
    now = [T0]
    async with storage.call_log(tmp_path / "c.sqlite3") as store:
        log = CallLog(store, lambda: now[0])
        log.on_event(chan("Newchannel", "u1", "u1", CallerIDNum="0701112233", Exten="02683012"))
        now[0] = T0 + timedelta(seconds=1)
        log.on_event(chan("Newstate", "u1", "u1", ChannelState="6"))
        log.on_event(chan("DialBegin", "u1", "u1", DialString="PJSIP/83013"))
        log.on_event(chan("DialEnd", "u1", "u1", DialStatus="NOANSWER"))
        now[0] = T0 + timedelta(seconds=40)
        log.on_call_done(
            "u1", caller=None, called=None, outcome="voicemail_left", action="redirect"
        )
        log.on_event(chan("Hangup", "u1", "u1", Cause="16"))
        await log.flush()
        first = await store.get("u1")
        log.on_event(
            ev("Cdr", UniqueID="u1", Duration="41", BillableSeconds="35", Disposition="ANSWERED")
        )
        await log.flush()
        final = await store.get("u1")
    assert first is not None and first.duration_s == 40 and first.dial_status == "NOANSWER"
    assert first.answer == T0 + timedelta(seconds=1) and first.billable_s == 39
    assert final is not None and final.disposition == "ANSWERED" and final.duration_s == 40
    assert final.dialled == ("PJSIP/83013",) and final.outcome == "voicemail_left"


def captured_events(name: str) -> list[Message]:
    """The events of a capture (rx bytes as Asterisk sent them)."""
    data = (Path(__file__).parents[1] / "fixtures" / "ami" / f"{name}.rx.txt").read_bytes()
    return [m for m in FrameParser().feed(data) if m.kind == "event"]


class Ticking:
    """A clock that moves 10 ms per reading: each event happens after the one before."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=10)
        return self.now


async def test_alv18_real_cdrs_give_one_row_per_call_with_ordered_times(
    storage: Storage, tmp_path: Path
) -> None:
    """Issue 14.5 on Asterisk 22's own events (k_service_voicemail): one call has two Local
    legs and three Cdr events that carry only the channel's UniqueID (no Linkedid), two of them
    after the last Hangup. One row (the Linkedid), start ≤ answer ≤ end, the voicemail the
    caller left is the outcome (not `caller_hung_up` / NO ANSWER)."""
    events = captured_events("k_service_voicemail")
    agi = next(e for e in events if e.name == "AGIExecStart")
    linked, uid = agi["Linkedid"], agi["Uniqueid"]
    async with storage.call_log(tmp_path / "c.sqlite3") as store:
        log = CallLog(store, Ticking())
        for event in events:
            log.on_event(event)
            if event.name == "MessageWaiting":  # the service ends its handling here
                log.on_call_done(
                    uid, caller="0701234567", called="02683012", outcome="voicemail_left",
                    action="redirect",
                )  # fmt: skip
        await log.flush()
        calls = await store.calls()
    assert [c["call_id"] for c in calls] == [linked] and uid != linked
    row = calls[0]
    assert str(row["start"]) <= str(row["answer"]) <= str(row["end"])
    assert row["outcome"] == "voicemail_left" and row["disposition"] == "ANSWERED"
    assert row["dialled"] == ["83013@phones"] and row["dial_status"] == "NOANSWER"
    assert row["caller"] == "0701234567" and row["called"] == "02683012"


async def test_alv18_fallback_call_is_logged_with_what_the_caller_got(
    storage: Storage, tmp_path: Path
) -> None:
    """Issue 14.5, k_fallback_voicemail: a call the dialplan handled alone (service down,
    AMI watched by a standby or a restarted service) is one row whose outcome is the
    fallback's (ChanVariable SWITCHBOARD_OUTCOME on the Hangup; MessageWaiting on its channel)."""
    async with storage.call_log(tmp_path / "c.sqlite3") as store:
        log = CallLog(store, Ticking())
        for event in captured_events("k_fallback_voicemail"):
            log.on_event(event)
        await log.flush()
        calls = await store.calls()
    assert len(calls) == 1
    assert calls[0]["outcome"] == "fallback_voicemail_left" and calls[0]["action"] is None
    assert str(calls[0]["start"]) <= str(calls[0]["answer"]) <= str(calls[0]["end"])
    assert log.open_calls == 0


async def test_alv18_call_without_any_cdr_is_closed_at_its_last_hangup(
    storage: Storage, tmp_path: Path
) -> None:
    """Issue 14.5, k_chanunavail: a CHANUNAVAIL dial gives no Cdr at all; the call is closed
    when its last channel hangs up (not left open and later written `interrupted`)."""
    async with storage.call_log(tmp_path / "c.sqlite3") as store:
        log = CallLog(store, Ticking())
        for event in captured_events("k_chanunavail"):
            log.on_event(event)
        left = log.interrupt_open()  # the link breaks later: nothing is still open
        await log.flush()
        calls = await store.calls()
    assert left == [] and log.open_calls == 0
    assert [(c["outcome"], c["interrupted"]) for c in calls] == [("fallback_no_answer", False)]
    assert calls[0]["end"] is not None


async def test_interrupt_open_logs_calls_seen_on_the_wire(storage: Storage, tmp_path: Path) -> None:
    """On a lost link every open call not run by the controller is written as interrupted."""
    async with storage.call_log(tmp_path / "c.sqlite3") as store:
        log = CallLog(store, lambda: T0)
        log.on_event(ev("Newchannel", CallerIDNum="83012", Exten="0701234567", Linkedid="a"))
        log.on_event(ev("Newchannel", CallerIDNum="83013", Exten="0701234568", Linkedid="b"))
        done = log.interrupt_open(keep=["b"])
        await log.flush()
        a = await store.get("a")
        assert await store.get("b") is None
    assert [e.call_id for e in done] == ["a"] and log.open_calls == 1
    assert a is not None and a.interrupted and a.outcome == "interrupted"


class WriterCount:
    """The call log's store, counting how many writes of one call are under way at once."""

    def __init__(self, store: CallLogStore | PgCallLogStore) -> None:
        self.store = store
        self.active: Counter[str] = Counter()
        self.most_at_once = 0
        self.failed = 0

    async def record(self, entry: CallEntry) -> None:
        """Count, yield (as a real write does), write."""
        self.active[entry.call_id] += 1
        self.most_at_once = max(self.most_at_once, self.active[entry.call_id])
        try:
            await asyncio.sleep(0)
            await self.store.record(entry)
        except Exception:
            self.failed += 1
            raise
        finally:
            self.active[entry.call_id] -= 1

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


async def test_rapid_updates_to_one_call_leave_one_row_with_the_last_state(
    storage: Storage, tmp_path: Path
) -> None:
    """Many updates to one call in quick succession: one writer at a time for the call, and
    the log ends with exactly one row holding the last state."""
    path = tmp_path / "c.sqlite3"
    async with storage.call_log(path) as store:
        counted = WriterCount(store)
        log = CallLog(cast(CallLogStorage, counted), lambda: T0)
        log.on_event(chan("Newchannel", "u1", "u1", CallerIDNum="0701112233", Exten="02683012"))
        log.on_call_done("u1", caller=None, called=None, outcome="answered", action="ring")
        log.on_event(chan("Hangup", "u1", "u1"))
        for n in range(60):  # every event after the end rewrites the entry
            log.on_event(chan("DialBegin", "u1", "u1", DialString=f"PJSIP/{83000 + n}"))
        log.on_event(ev("Cdr", UniqueID="u1", Disposition="ANSWERED"))
        await log.flush()
        final = await store.get("u1")
    rows = await storage.raw("SELECT call_id FROM calls", path)
    assert rows == [("u1",)]
    assert counted.most_at_once == 1 and counted.failed == 0
    assert final is not None and final.disposition == "ANSWERED" and len(final.dialled) == 60
    assert final.dialled[-1] == "PJSIP/83059" and final.outcome == "answered"


async def test_concurrent_records_of_one_call_are_an_upsert(
    storage: Storage, tmp_path: Path
) -> None:
    """Writes of one call racing on the database (two nodes, a reload's overlap) never fail
    and never leave two rows: INSERT … ON CONFLICT (call_id) DO UPDATE."""
    path = tmp_path / "c.sqlite3"
    async with storage.call_log(path) as a, storage.call_log(path) as b:
        await asyncio.gather(
            *((a if n % 2 else b).record(entry(1, duration_s=n)) for n in range(40))
        )
        got = await a.get("1795.1")
    rows = await storage.raw("SELECT call_id FROM calls", path)
    assert rows == [("1795.1",)]
    assert got is not None and 0 <= (got.duration_s or 0) < 40


def test_naive_times_are_refused() -> None:
    """Times without a zone never enter the log."""
    with pytest.raises(ValueError):
        CallEntry("x", start=datetime(2026, 11, 24, 9, 0)).as_json()
