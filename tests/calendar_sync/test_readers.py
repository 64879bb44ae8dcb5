"""Calendars read in bounded worker processes, and the block cache of `route` / `presence`."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calendar_sync import snapshot
from calendar_sync.errors import CalendarParseError, CalendarReadTimeout, CalendarTooComplex
from calendar_sync.ics import IcsRead
from calendar_sync.snapshot import CACHE_VERSION, BlockCache, Window, read_ics_calendars
from calendar_sync.workers import CalendarReaders, ReadJob, ReadLimits
from routing.models import CalendarRef, User

TZ = ZoneInfo("Europe/Stockholm")
ICS = Path(__file__).resolve().parent.parent / "fixtures" / "ics"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
WINDOW = Window.around(NOW, TZ)


def job(name: str) -> ReadJob:
    """A read of one fixture over the window around NOW."""
    return ReadJob((ICS / name).read_bytes(), WINDOW.start, WINDOW.end, TZ.key, name)


def user(uid: str, path: Path) -> User:
    """A user whose calendar is a local ICS file."""
    return User(uid, uid.title(), None, None, calendar=CalendarRef("ics", str(path)))


def test_a_read_past_its_time_limit_is_stopped_and_the_worker_replaced() -> None:
    """An endless MINUTELY series since 2007: the read ends at the limit with a clear reason;
    the next calendar is read by a fresh worker."""
    with CalendarReaders(1, ReadLimits(time_s=1.0)) as readers:
        hostile = readers.read(job("hostile_minutely_since_2007_no_until.ics"))
        assert isinstance(hostile, CalendarTooComplex)
        assert "took longer than 1 s" in str(hostile) and hostile.source.startswith("hostile_")
        good = readers.read(job("outlook_oof_over_weekend.ics"))
        assert isinstance(good, IcsRead) and good.blocks
        assert readers.stopped == 1


def test_reader_errors_come_back_typed_with_their_source() -> None:
    """A broken calendar is a CalendarParseError naming it; too many occurrences is
    CalendarTooComplex naming the series."""
    too_many = ReadLimits(occurrences=5)
    with CalendarReaders(1, too_many) as readers:
        broken = readers.read(job("broken_truncated.ics"))
        assert isinstance(broken, CalendarParseError) and broken.source == "broken_truncated.ics"
        assert "truncated" in broken.reason
        lunch = readers.read(job("lunch_series_empty_exdate.ics"))
        assert isinstance(lunch, CalendarTooComplex)
        assert "more than 5 occurrences" in str(lunch) and "lunch-weekdays" in str(lunch)


def test_blocks_cached_before_the_zone_fix_are_not_used(tmp_path: Path) -> None:
    """Blocks cached by an older version (which could hold another calendar's zone offsets)
    are misses: Bertil's 10:00 at −03:00 is read again as 13:00 UTC, and the old entry is
    dropped when the cache is saved."""
    path = tmp_path / "bertil.ics"
    path.write_bytes((ICS / "customized_time_zone_utc_minus3_bertil.ics").read_bytes())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    wrong = [[datetime(2026, 11, 24, 5, tzinfo=UTC).timestamp(), 0.0, "busy", "x", False, False]]
    cache_file = tmp_path / "cache.json"
    cache_file.write_text(json.dumps({f"{digest}|v2|{WINDOW.key()}": wrong}), "utf-8")
    cache = BlockCache(cache_file)
    reads = read_ics_calendars([user("bertil", path)], WINDOW, TZ, cache)
    (block,) = reads["bertil"].blocks
    assert block.start == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    cache.save()
    assert all(f"|{CACHE_VERSION}|" in key for key in json.loads(cache_file.read_text()))


def test_an_unreadable_calendar_is_remembered_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A calendar that failed its bounds is not read again for the same bytes and window (a
    hostile file costs its time limit once), and is read again once it changes."""
    path = tmp_path / "eva.ics"
    path.write_bytes((ICS / "hostile_minutely_since_2007_no_until.ics").read_bytes())
    cache = BlockCache()
    limits = ReadLimits(time_s=1.0)
    first = read_ics_calendars([user("eva", path)], WINDOW, TZ, cache, limits=limits)
    assert first["eva"].error is not None and "took longer" in first["eva"].error
    with monkeypatch.context() as m:
        m.setattr(snapshot, "CalendarReaders", None)  # any read now would fail loudly
        again = read_ics_calendars([user("eva", path)], WINDOW, TZ, cache)
    assert again["eva"].error == first["eva"].error
    path.write_bytes((ICS / "outlook_oof_over_weekend.ics").read_bytes())
    fixed = read_ics_calendars([user("eva", path)], WINDOW, TZ, cache)
    assert fixed["eva"].error is None and fixed["eva"].blocks


async def test_a_timed_out_read_is_tried_again_later_other_errors_stand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read that hit the time limit may have met a busy machine: the running service reads the
    same bytes again after TIMEOUT_RETRY_S; an unreadable calendar stays unreadable until it
    changes."""
    from calendar_sync import expander as expanding
    from calendar_sync.expander import Expander

    clock = [1000.0]
    monkeypatch.setattr(expanding.time, "monotonic", lambda: clock[0])
    outcomes: list[object] = [CalendarReadTimeout("x", "took longer than 5 s"), []]

    def parser(*_: object) -> list[object]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]

    expander = Expander(TZ, parser, "ics")  # type: ignore[arg-type]
    try:
        first = await expander.expand("x", b"data", WINDOW.start, WINDOW.end)
        assert isinstance(first, CalendarTooComplex)
        assert await expander.expand("x", None, WINDOW.start, WINDOW.end) is first
        clock[0] += expanding.TIMEOUT_RETRY_S
        assert await expander.expand("x", None, WINDOW.start, WINDOW.end) == []
        assert expander.parses == 2
    finally:
        await expander.aclose()


def test_one_worker_reads_each_customized_time_zone_with_its_own_offset(tmp_path: Path) -> None:
    """What `route` reads: Anna's and Bertil's calendars, both "Customized Time Zone" (+05:00 and
    −03:00), read one after the other by the same worker process, each at its own offset."""
    users = []
    for uid, name in (
        ("anna", "customized_time_zone_utc_plus5_anna.ics"),
        ("bertil", "customized_time_zone_utc_minus3_bertil.ics"),
    ):
        (tmp_path / f"{uid}.ics").write_bytes((ICS / name).read_bytes())
        users.append(user(uid, tmp_path / f"{uid}.ics"))
    reads = read_ics_calendars(users, WINDOW, TZ, BlockCache(), workers=1)
    assert reads["anna"].blocks[0].start == datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    assert reads["bertil"].blocks[0].start == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def test_a_read_past_its_limit_inside_a_batch_leaves_the_rest_of_the_batch_read() -> None:
    """Calendars go to a worker a batch at a time; one that passes the time limit ends that
    worker, and the calendars after it in the batch are read by a fresh one."""
    no_series_budget = ReadLimits(time_s=1.0, series_time_s=0.0)
    with CalendarReaders(1, no_series_budget) as readers:
        got = readers.read_batch(
            [
                job("outlook_oof_over_weekend.ics"),
                job("hostile_minutely_since_2007_no_until.ics"),
                job("lunch_series_empty_exdate.ics"),
            ]
        )
    assert isinstance(got[0], IcsRead) and isinstance(got[2], IcsRead) and got[2].blocks
    assert isinstance(got[1], CalendarReadTimeout) and readers.stopped == 1
