"""Time zones stay in their file (step 2 of calendar_sync.ics): known zones become IANA zones, a
zone the calendar defines itself is renamed after a digest of its definition.

icalendar caches VTIMEZONEs process-wide by TZID, first definition wins, and Outlook's "Customized
Time Zone" is one name with many offsets; the rename ("~" and the digest of the definition
without its TZID) makes the same name defined otherwise in another calendar another zone, and the
same definition is built once per process, as a DefinedZone (calendar_sync.ics.zone_table: its
onsets worked out once instead of dateutil's walk from 1601 at every offset asked). The
composed calendar names the zones by id and holds no VTIMEZONE: icalendar already knows them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import tzinfo
from typing import Any

import icalendar
from icalendar.timezone import tzp

from calendar_sync.ics.text import Shape, Skipped, clean, line_name, line_value
from calendar_sync.ics.zone_table import defined_zone
from calendar_sync.zones import calendar_zone

MAX_CUSTOM_ZONES = 20  # VTIMEZONEs of unknown zones per calendar (each costs a zone object)
_TZID_PARAM = re.compile(r';TZID=(?:"([^"]*)"|([^;:"]*))', re.IGNORECASE)
_ZONED = frozenset({"DTSTART", "DTEND", "RDATE", "EXDATE", "RECURRENCE-ID"})
_HIDDEN = "X-SWITCHBOARD-TZID"  # a VTIMEZONE's TZID while icalendar parses it (see _build)
_built = [0]  # zones built in this process (calendar_sync.workers retires a reader by it)


def zones_built() -> int:
    """How many zones calendars defined this process has built (and icalendar keeps)."""
    return _built[0]


class _Built:
    """What `tzp.cache_timezone_component` reads of a VTIMEZONE: its TZID, and its zone."""

    def __init__(self, component: icalendar.Component, zone: tzinfo) -> None:
        self._component = component
        self._zone = zone

    def __getitem__(self, name: str) -> Any:
        return self._component[name]

    def to_tz(self, tzp: Any = None, lookup_tzid: bool = True) -> tzinfo:
        return self._zone


def _build(lines: list[str]) -> None:
    """Build the zone as icalendar does (its parse, `tzp.create_timezone`: dateutil's zone and
    its errors), made a DefinedZone (calendar_sync.ics.zone_table), and cache it in icalendar by
    its TZID. icalendar's parse caches a VTIMEZONE with a TZID itself (first wins), so the TZID
    is parsed as another property and set afterwards."""
    depth = 0
    text = []
    for line in lines:
        name = line_name(line)
        depth += name == "BEGIN"
        depth -= name == "END"
        text.append(_HIDDEN + line[4:] if depth == 1 and name == "TZID" else line)
    component = icalendar.Timezone.from_ical("\r\n".join(text) + "\r\n")
    if _HIDDEN in component:
        component["TZID"] = component.pop(_HIDDEN)
    zone = defined_zone(tzp.create_timezone(component))
    tzp.cache_timezone_component(_Built(component, zone))
    _built[0] += 1


def _zone_id(block: list[str]) -> str:
    depth = 0
    for line in block:
        name = line_name(line)
        if name == "BEGIN":
            depth += 1
        elif name == "END":
            depth -= 1
        elif depth == 1 and name == "TZID":
            return line_value(line)
    return ""


def _isolate_zones(shape: Shape) -> dict[str, str]:
    """TZID → the id to use, each zone the file defines built (once per process) and known to
    icalendar by that id.

    Known zones (IANA, Windows names) are replaced by the IANA zone: Outlook's VTIMEZONE rules
    start in 1601 and every offset lookup walks them (about 148 ms per calendar; IANA ~9 ms).
    A zone the file defines itself ("Customized Time Zone", shared by many calendars with
    different offsets) gets an id made from its definition, so the same name defined otherwise in
    another calendar is another zone, and the same definition is built once.
    """
    ids: dict[str, str] = {}
    custom = 0
    for block in shape.zones:
        tzid = _zone_id(block)
        if not tzid or tzid in ids:
            continue
        iana = calendar_zone(tzid)
        if iana is not None:
            ids[tzid] = iana
            continue
        if custom >= MAX_CUSTOM_ZONES:
            why = f"more than {MAX_CUSTOM_ZONES} time zone definitions: {clean(tzid, 60)!r} ignored"
            shape.skipped.append(Skipped("", "VTIMEZONE", why))
            continue
        body = [ln for ln in block if not ln.upper().startswith("TZID")]
        digest = hashlib.blake2b("\n".join(body).encode(), digest_size=9).digest()
        own = "~" + base64.urlsafe_b64encode(digest).decode()  # short: icalendar reads it often
        lines = [ln if not ln.upper().startswith("TZID") else f"TZID:{own}" for ln in block]
        if tzp.timezone(own) is None:  # not built yet in this process
            try:
                _build(lines)
            except Exception as exc:  # icalendar raises ValueError, KeyError … on bad rules
                why = f"{clean(tzid, 60)!r} unreadable ({clean(exc, 80)}): its times are local time"
                shape.skipped.append(Skipped("", "VTIMEZONE", why))
                continue
        custom += 1
        ids[tzid] = own
    return ids


def compose(shape: Shape) -> str:
    """One VCALENDAR of the events, their TZIDs renamed. It holds no VTIMEZONE: every zone an
    event may name is already known to icalendar (by its IANA name, or built from the file's
    definition by `_isolate_zones`), and parsing a definition again would only cost time."""
    ids = _isolate_zones(shape)
    undefined: set[str] = set()
    out = ["BEGIN:VCALENDAR", "VERSION:2.0"]

    def rename(m: re.Match[str]) -> str:
        tzid = m.group(1) if m.group(1) is not None else m.group(2)
        new = ids.get(tzid) or calendar_zone(tzid)
        if new is None:
            undefined.add(tzid)
            return m.group(0)
        return f';TZID="{new}"' if any(c in new for c in ":;,") else f";TZID={new}"

    for event in shape.events:
        for line in event:
            if ";" in line and line_name(line) in _ZONED:
                line = _TZID_PARAM.sub(rename, line)
            out.append(line)
    for tzid in sorted(undefined):
        why = f"time zone {clean(tzid, 60)!r} is not defined in the calendar: read as local time"
        shape.skipped.append(Skipped("", "TZID", why))
    out.append("END:VCALENDAR")
    return "\r\n".join(out) + "\r\n"
