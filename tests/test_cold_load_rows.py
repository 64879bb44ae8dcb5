"""Issue 21 (cold load): a reader process answers with its blocks as rows of plain values
(calendar_sync.block_rows), cheaper to pickle than the blocks; the blocks made from them in the
service are exactly those `read_ics` makes, and blocks rows would not give back exactly (a
fraction of a second, another zone object, the ends of `datetime`'s range) are sent as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from calendar_sync import ics
from calendar_sync.block_rows import blocks_of, rows_of, whole_seconds
from calendar_sync.snapshot import Window
from calendar_sync.workers import CalendarReaders, ReadJob
from routing.absence import BusyStatus, CalendarBlock
from tests.calendar_sync.test_occurrences import calendar
from tests.core.helpers import TZ


def test_reader_answers_are_the_blocks_read_in_process() -> None:
    jobs: list[ReadJob] = []
    expected: list[object] = []
    for seed in range(60):
        data, now = calendar(seed)
        window = Window.around(now, TZ)
        jobs.append(ReadJob(data, window.start, window.end, TZ.key, f"g{seed}"))
        try:
            read = ics.read_ics(data, window.start, window.end, TZ, f"g{seed}")
            expected.append((read.blocks, [str(s) for s in read.skipped]))
        except Exception as exc:
            expected.append(f"{type(exc).__name__}: {exc}")
    with CalendarReaders(2) as readers:
        outcomes = readers.read_many(jobs)
    got = [
        (o.blocks, [str(s) for s in o.skipped])
        if isinstance(o, ics.IcsRead)
        else f"{type(o).__name__}: {o}"
        for o in outcomes
    ]
    assert got == expected
    assert sum(len(e[0]) for e in expected if isinstance(e, tuple)) > 100


def _block(start: datetime, end: datetime) -> CalendarBlock:
    return CalendarBlock(start, end, BusyStatus.OOF, "Semester", False, True)


def test_rows_give_whole_second_utc_blocks_back() -> None:
    start = datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC)
    blocks = [
        _block(start, start + timedelta(hours=1)),
        _block(datetime(1601, 1, 1, tzinfo=UTC), datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        CalendarBlock(start, start + timedelta(days=1), BusyStatus.BUSY, None, True, False),
    ]
    assert whole_seconds(blocks)
    instants: dict[float, datetime] = {}
    again = blocks_of(rows_of(blocks), instants)
    assert again == blocks
    assert all(b.start.tzinfo is UTC and b.end.tzinfo is UTC for b in again)
    assert again[0].start is again[2].start  # one datetime per epoch second


def test_blocks_rows_would_change_are_not_sent_as_rows() -> None:
    start = datetime(2026, 11, 24, 9, tzinfo=UTC)
    assert not whole_seconds([_block(start, start + timedelta(microseconds=1))])
    other = ZoneInfo("UTC")  # the same offset, another zone object
    assert not whole_seconds([_block(start.replace(tzinfo=other), start)])
    assert not whole_seconds([_block(datetime(1, 1, 1, tzinfo=UTC), start)])
    assert not whole_seconds([_block(start, datetime(9999, 12, 31, tzinfo=UTC))])
