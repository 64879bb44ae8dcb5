"""Issue 21 (cold load): an event's only CLASS:PUBLIC or TRANSP:OPAQUE line is dropped before
icalendar's parse (calendar_sync.ics.text), since each says what its absence says. The reader's
blocks and what it reports skipping must be exactly those read with every such line kept: for
repeated lines (the first is used, the repeat reported), other spellings, parameters, nested
events, moved occurrences, and the HAL-02 tests' generated calendars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calendar_sync import ics
from calendar_sync.errors import CalendarError
from calendar_sync.ics import text
from calendar_sync.snapshot import Window
from tests.calendar_sync.test_occurrences import calendar
from tests.core.helpers import TZ

NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)


def _event(uid: str, *lines: str, start: str = "20261124T090000") -> str:
    body = "".join(f"{line}\r\n" for line in lines)
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:Möte {uid}\r\n"
        f"DTSTART;TZID=W. Europe Standard Time:{start}\r\n"
        f"DTEND;TZID=W. Europe Standard Time:{start[:9]}{int(start[9:11]) + 1:02d}0000\r\n"
        f"{body}END:VEVENT\r\n"
    )


def _calendar(*events: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + "".join(events) + "END:VCALENDAR\r\n").encode()


CASES = {
    "defaults once": _calendar(
        _event("a", "CLASS:PUBLIC", "TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:OOF"),
        _event("b", "TRANSP:OPAQUE", "CLASS:PUBLIC"),
    ),
    "repeated, default first": _calendar(
        _event("a", "CLASS:PUBLIC", "CLASS:PRIVATE", "TRANSP:OPAQUE", "TRANSP:TRANSPARENT")
    ),
    "repeated, default second": _calendar(
        _event("a", "CLASS:PRIVATE", "CLASS:PUBLIC", "TRANSP:TRANSPARENT", "TRANSP:OPAQUE")
    ),
    "default twice": _calendar(_event("a", "CLASS:PUBLIC", "CLASS:PUBLIC", "TRANSP:OPAQUE")),
    "other spellings": _calendar(
        _event("a", "class:PUBLIC", "TRANSP:opaque"),
        _event("b", "CLASS;X-A=1:PUBLIC", "TRANSP;X-B=2:OPAQUE"),
        _event("c", "CLASS:CONFIDENTIAL", "TRANSP:TRANSPARENT"),
        _event("d", 'CLASS;X-A="broken:PUBLIC', "TRANSP:OPAQUE"),
    ),
    "nested event": _calendar(
        _event(
            "a",
            "CLASS:PUBLIC",
            "BEGIN:VEVENT",
            "UID:inner",
            "CLASS:PRIVATE",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
            "TRANSP:OPAQUE",
        )
    ),
    "moved occurrence": _calendar(
        _event("s", "RRULE:FREQ=DAILY;COUNT=5", "CLASS:PUBLIC", "TRANSP:OPAQUE"),
        _event(
            "s",
            "RECURRENCE-ID;TZID=W. Europe Standard Time:20261125T090000",
            "CLASS:PRIVATE",
            "TRANSP:TRANSPARENT",
            start="20261125T130000",
        ),
        _event(
            "s",
            "RECURRENCE-ID;TZID=W. Europe Standard Time:20261126T090000",
            "CLASS:PUBLIC",
            "TRANSP:OPAQUE",
            start="20261126T150000",
        ),
    ),
    "busy status": _calendar(
        _event("a", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY"),
        _event("b", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY", "TRANSP:OPAQUE", "CLASS:PUBLIC"),
        _event("c", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY", "TRANSP:TRANSPARENT"),
        _event("d", "TRANSP:OPAQUE", "TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY"),
        _event("e", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY", "X-MICROSOFT-CDO-BUSYSTATUS:FREE"),
        _event("f", "X-MICROSOFT-CDO-BUSYSTATUS:FREE", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY"),
        _event("g", "X-MICROSOFT-CDO-BUSYSTATUS:busy", "TRANSP:TRANSPARENT"),
        _event("h", "TRANSP:transparent", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY"),
    ),
    "no DTSTART": _calendar(
        "BEGIN:VEVENT\r\nUID:x\r\nCLASS:PUBLIC\r\nTRANSP:OPAQUE\r\nEND:VEVENT\r\n"
    ),
}


def _read(data: bytes, window: Window) -> Any:
    try:
        r = ics.read_ics(data, window.start, window.end, TZ, "test")
    except CalendarError as exc:
        return f"{type(exc).__name__}: {exc}"
    return r.blocks, [str(s) for s in r.skipped]


def _both(data: bytes, window: Window, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    dropped = _read(data, window)
    with monkeypatch.context() as m:
        m.setattr(text, "_DEFAULT_LINES", {})  # every line kept, as before the change
        kept = _read(data, window)
    return dropped, kept


@pytest.mark.parametrize("name", sorted(CASES))
def test_dropping_default_lines_changes_nothing(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dropped, kept = _both(CASES[name], Window.around(NOW, TZ), monkeypatch)
    assert dropped == kept


def test_generated_calendars_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    for seed in range(150):
        data, now = calendar(seed)
        dropped, kept = _both(data, Window.around(now, TZ), monkeypatch)
        assert dropped == kept, seed


def test_only_an_unrepeated_default_line_is_dropped() -> None:
    lines = text.content_lines(CASES["defaults once"] + CASES["repeated, default first"], "t")
    shape = text.read_shape(lines, "t")
    events = [set(e) for e in shape.events]
    assert all("CLASS:PUBLIC" not in e and "TRANSP:OPAQUE" not in e for e in events[:2])
    assert "X-MICROSOFT-CDO-BUSYSTATUS:OOF" in events[0]
    assert {"CLASS:PUBLIC", "CLASS:PRIVATE", "TRANSP:OPAQUE", "TRANSP:TRANSPARENT"} <= events[2]


def test_a_private_or_free_event_still_reads_so() -> None:
    data = _calendar(
        _event("p", "CLASS:PRIVATE", "TRANSP:OPAQUE"),
        _event("f", "CLASS:PUBLIC", "TRANSP:TRANSPARENT", start="20261124T130000"),
    )
    window = Window.around(NOW, TZ)
    blocks = ics.read_ics(data, window.start, window.end, TZ, "test").blocks
    by_start = {b.start - timedelta(0): b for b in blocks}
    private, free = (by_start[k] for k in sorted(by_start))
    assert private.private and private.subject is None and private.status.value == "busy"
    assert not free.private and free.subject == "Möte f" and free.status.value == "free"
