"""Calendar blocks as rows of plain values: epoch seconds of start and end, the status's value,
subject, private, all day. The block cache keeps them as JSON (calendar_sync.snapshot), and a
reader process answers with them (calendar_sync.workers): a frozen dataclass with slots is
pickled and unpickled through Python-level `__getstate__` / `__setstate__` per block, plain
tuples are not. Decoding keeps one `datetime` per epoch second in `instants` (a directory's
calendars share most of their start and end times)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from routing.absence import BusyStatus, CalendarBlock

_STATUSES = {s.value: s for s in BusyStatus}

Row = Sequence[Any]  # (start epoch s, end epoch s, status value, subject, private, all day)


def rows_of(blocks: Iterable[CalendarBlock]) -> list[list[object]]:
    """The blocks as rows (JSON-ready lists)."""
    return [
        [b.start.timestamp(), b.end.timestamp(), b.status.value, b.subject, b.private, b.all_day]
        for b in blocks
    ]


def whole_seconds(blocks: Iterable[CalendarBlock]) -> bool:
    """Whether rows give these blocks back exactly: UTC times in whole seconds (a float holds
    any such epoch second; iCalendar times and durations have no fractions), away from the ends
    of `datetime`'s range."""
    return all(
        b.start.tzinfo is UTC
        and b.end.tzinfo is UTC
        and not b.start.microsecond
        and not b.end.microsecond
        and b.start.year > 1
        and b.end.year < 9999
        for b in blocks
    )


def blocks_of(rows: Iterable[Row], instants: dict[float, datetime]) -> list[CalendarBlock]:
    """Blocks from rows; `instants` keeps each epoch second's datetime (made once)."""
    out = []
    for r in rows:
        start, end = instants.get(r[0]), instants.get(r[1])
        if start is None:
            start = instants[r[0]] = datetime.fromtimestamp(r[0], UTC)
        if end is None:
            end = instants[r[1]] = datetime.fromtimestamp(r[1], UTC)
        out.append(CalendarBlock(start, end, _STATUSES[r[2]], r[3], r[4], r[5]))
    return out
