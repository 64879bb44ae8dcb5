"""iCalendar text: bytes to unfolded content lines, and the shape pass that keeps what busy time
depends on (steps 1 and 2 of calendar_sync.ics); `Skipped` and `clean` report what was not used."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from icalendar.parser.content_line import NEWLINE, UFOLD

from calendar_sync.errors import CalendarParseError

# icalendar's unfolding, `(\r?\n)+[ \t]`, written so that a run of bare newlines stays linear.
_FOLD = re.compile(rb"(?:(?<!\n)\r\n|(?<![\r\n])\n)(?:\r?\n)*[ \t]")
_NAME = re.compile(r"[^;:]*")
# What busy time and its wording depend on; everything else in a VEVENT is dropped unread.
KEPT = frozenset(
    {
        "UID",
        "DTSTART",
        "DTEND",
        "DURATION",
        "RRULE",
        "RDATE",
        "EXDATE",
        "RECURRENCE-ID",
        "SEQUENCE",
        "STATUS",
        "TRANSP",
        "CLASS",
        "SUMMARY",
        "X-MICROSOFT-CDO-BUSYSTATUS",
    }
)
# Outlook writes these in every event; read, each says what its absence says (CLASS other than
# PRIVATE or CONFIDENTIAL is public; TRANSP other than TRANSPARENT is opaque; busy is the status
# of an event with neither X-MICROSOFT-CDO-BUSYSTATUS nor TRANSP, calendar_sync.status), so an
# event's only line of its name, written exactly so, is dropped unread (the busy status only when
# no TRANSP line stays): about a quarter of icalendar's parse of an Outlook event.
_CDO = "X-MICROSOFT-CDO-BUSYSTATUS"
_DEFAULT_LINES = {"CLASS": "CLASS:PUBLIC", "TRANSP": "TRANSP:OPAQUE", _CDO: f"{_CDO}:BUSY"}


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something in a calendar that was not used: which event (UID), what, and why."""

    uid: str
    what: str
    why: str

    def __str__(self) -> str:
        return f"UID {self.uid or '(none)'}: {self.what}: {self.why}"


def clean(text: object, limit: int = 160) -> str:
    """Text from a calendar made safe for a message or a log line: one line, bounded length."""
    out = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(text)[:limit])
    return out if len(str(text)) <= limit else out + "…"


# ---------------------------------------------------------------- 1. text


def _utf8(data: bytes) -> bytes:
    """The bytes as UTF-8: UTF-16 and UTF-32 (with a BOM, or UTF-16 without) are converted."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return data.decode("utf-32", errors="replace").encode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace").encode("utf-8")
    if len(data) >= 4 and data[0] == 0 and data[2] == 0 and data[1] and data[3]:
        return data.decode("utf-16-be", errors="replace").encode("utf-8")
    if len(data) >= 4 and data[1] == 0 and data[3] == 0 and data[0] and data[2]:
        return data.decode("utf-16-le", errors="replace").encode("utf-8")
    return data


def content_lines(data: bytes, source: str) -> list[str]:
    """Unfolded content lines, cut where icalendar cuts them: at CRLF or LF only.

    Not str.splitlines(): it also cuts at U+2028, U+0085, form feed … which Outlook leaves
    inside a SUMMARY pasted from Word or a web page.
    """
    # Unfolded as bytes: writers that fold at 75 octets at times cut a UTF-8 sequence in two.
    # A fold always ends in a newline and a space or tab: without one there is nothing to
    # unfold (the unfolding patterns test every position, about 0.4 ms per calendar).
    data = _utf8(data)
    if b"\n " in data or b"\n\t" in data:
        data = _FOLD.sub(b"", data)
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    head = text.lstrip(" \r\n\t")
    if not head[:15].upper().startswith("BEGIN:VCALENDAR"):  # upper() is per character
        if not head:
            raise CalendarParseError(source, "not an iCalendar file: it is empty")
        looks = " (it looks like HTML or XML)" if head.startswith("<") else ""
        raise CalendarParseError(
            source, f"not an iCalendar file: it does not start with BEGIN:VCALENDAR{looks}"
        )
    # What icalendar's `Contentlines.from_ical` does (its unfolding again, its `\r?\n` split,
    # empty lines dropped) without making a `Contentline` object of every line.
    if "\n " in text or "\n\t" in text:
        text = UFOLD.sub("", text)
    return [line for line in NEWLINE.split(text) if line]


# ---------------------------------------------------------------- 2. shape


@dataclass(slots=True)
class Shape:
    """What the shape pass keeps: VTIMEZONE blocks and VEVENTs (as content lines)."""

    zones: list[list[str]]
    events: list[list[str]]
    skipped: list[Skipped]


def line_name(line: str) -> str:
    match = _NAME.match(line)
    return match.group().upper() if match else ""


def line_value(line: str) -> str:
    return line.partition(":")[2].strip()


def _uid_of(event: list[str]) -> str:
    return clean(next((line_value(x) for x in event if line_name(x) == "UID"), ""), 120)


def _drop_defaults(event: list[str], names: list[str]) -> None:
    """Remove the event's lines that only say the default: the only line of their name, written
    as Outlook writes the default (a repeated one is reported, the first used: kept); the busy
    status only when no TRANSP line stays (TRANSPARENT would make the event free without it)."""
    transp = names.count("TRANSP")
    for name in ("CLASS", "TRANSP", _CDO):
        line = _DEFAULT_LINES.get(name)
        if line is None or names.count(name) != 1 or (name == _CDO and transp):
            continue
        with contextlib.suppress(ValueError):
            event.remove(line)
            transp -= name == "TRANSP"


def read_shape(lines: Sequence[str], source: str) -> Shape:
    """One linear pass over the content lines (no recursion, however deep the nesting)."""
    shape = Shape([], [], [])
    stack: list[tuple[str, int]] = []  # (component, content line number)
    event: list[str] | None = None
    zone: list[str] | None = None
    calendars = 0
    nested: set[int] = set()  # events that held a nested VEVENT (reported once each)
    defaults: list[str] = []  # names of the event's lines that may say the default
    for number, line in enumerate(lines, 1):
        name = line_name(line)
        if name == "BEGIN":
            comp = line_value(line).upper()
            stack.append((comp, number))
            depth = len(stack)
            if depth == 1 and comp == "VCALENDAR":
                calendars += 1
            elif depth == 2 and stack[0][0] == "VCALENDAR":
                if comp == "VEVENT":
                    event = [line]
                    defaults = []
                elif comp == "VTIMEZONE":
                    zone = [line]
            elif zone is not None:
                zone.append(line)  # STANDARD / DAYLIGHT
            elif event is not None and depth == 3 and comp == "VEVENT" and id(event) not in nested:
                nested.add(id(event))
                why = "a VEVENT inside it was ignored"
                shape.skipped.append(Skipped(_uid_of(event), "VEVENT", why))
        elif name == "END":
            comp = line_value(line).upper()
            if not stack:
                raise CalendarParseError(
                    source, f"END:{clean(comp, 40)} without BEGIN (content line {number})"
                )
            if stack[-1][0] != comp:
                raise CalendarParseError(
                    source,
                    f"END:{clean(comp, 40)} where END:{clean(stack[-1][0], 40)} was expected"
                    f" (content line {number})",
                )
            stack.pop()
            depth = len(stack)
            if depth == 1 and comp == "VEVENT" and event is not None:
                if defaults:
                    _drop_defaults(event, defaults)
                    defaults = []
                event.append(line)
                shape.events.append(event)
                event = None
            elif depth == 1 and comp == "VTIMEZONE" and zone is not None:
                zone.append(line)
                shape.zones.append(zone)
                zone = None
            elif zone is not None:
                zone.append(line)
        elif zone is not None:
            zone.append(line)
        elif event is not None and len(stack) == 2 and name in KEPT:
            if name in _DEFAULT_LINES:
                defaults.append(name)
            event.append(line)
    if stack:
        comp, number = stack[-1]
        raise CalendarParseError(
            source, f"truncated: BEGIN:{clean(comp, 40)} (content line {number}) has no END"
        )
    if not calendars:
        raise CalendarParseError(source, "no VCALENDAR in the file")
    return shape
