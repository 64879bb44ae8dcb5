"""Time zones stay in their file (step 2 of calendar_sync.ics): known zones become IANA zones, a
zone the calendar defines itself is renamed after a digest of its definition.

icalendar caches VTIMEZONEs process-wide by TZID, first definition wins, and Outlook's "Customized
Time Zone" is one name with many offsets; the rename makes the same name defined otherwise in
another calendar another zone, and the same definition is built once.
"""

from __future__ import annotations

import hashlib
import re

import icalendar
from icalendar.timezone import tzp

from calendar_sync.ics.text import Shape, Skipped, clean, line_name, line_value
from calendar_sync.zones import calendar_zone

MAX_CUSTOM_ZONES = 20  # VTIMEZONEs of unknown zones per calendar (each costs a zone object)
_TZID_PARAM = re.compile(r';TZID=(?:"([^"]*)"|([^;:"]*))', re.IGNORECASE)
_ZONED = frozenset({"DTSTART", "DTEND", "RDATE", "EXDATE", "RECURRENCE-ID"})


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


def _isolate_zones(shape: Shape) -> tuple[list[str], dict[str, str]]:
    """VTIMEZONE lines to keep, and TZID → the id to use.

    Known zones (IANA, Windows names) are replaced by the IANA zone: Outlook's VTIMEZONE rules
    start in 1601 and every offset lookup walks them (about 148 ms per calendar; IANA ~9 ms).
    A zone the file defines itself ("Customized Time Zone", shared by many calendars with
    different offsets) gets an id made from its definition, so the same name defined otherwise in
    another calendar is another zone, and the same definition is built once.
    """
    kept: list[str] = []
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
        digest = hashlib.blake2b("\n".join(body).encode(), digest_size=8).hexdigest()
        own = tzid.replace('"', "") + "~" + digest
        lines = [ln if not ln.upper().startswith("TZID") else f"TZID:{own}" for ln in block]
        if tzp.timezone(own) is None:  # not built yet in this process
            try:
                component = icalendar.Timezone.from_ical("\r\n".join(lines) + "\r\n")
                tzp.cache_timezone_component(component)
            except Exception as exc:  # icalendar raises ValueError, KeyError … on bad rules
                why = f"{clean(tzid, 60)!r} unreadable ({clean(exc, 80)}): its times are local time"
                shape.skipped.append(Skipped("", "VTIMEZONE", why))
                continue
        custom += 1
        ids[tzid] = own
        kept.extend(lines)
    return kept, ids


def compose(shape: Shape) -> str:
    """One VCALENDAR: the kept zones first (they must be known before events name them)."""
    zones, ids = _isolate_zones(shape)
    undefined: set[str] = set()
    out = ["BEGIN:VCALENDAR", "VERSION:2.0", *zones]

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
