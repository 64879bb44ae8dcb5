"""Time-zone names as calendar servers write them (IANA or Windows) resolved to IANA zones."""

from __future__ import annotations

import zoneinfo
from functools import cache

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

# Exchange sometimes writes the display name of UTC instead of its Windows id "UTC".
_ALIASES = {"Coordinated Universal Time": "Etc/UTC"}


@cache
def _iana_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def known_zone(name: str) -> str | None:
    """The IANA name for an IANA name or a Windows zone name ("W. Europe Standard Time")."""
    name = name.strip()
    if name in _iana_zones():
        return name
    iana = WINDOWS_TO_OLSON.get(name) or _ALIASES.get(name)
    return iana if iana in _iana_zones() else None


def calendar_zone(tzid: str) -> str | None:
    """The IANA name for a TZID as calendar files write it: IANA, Windows, or "globally unique"
    (RFC 5545 3.2.19: `/mozilla.org/20050126_1/Europe/Berlin`), whose IANA tail is taken."""
    iana = known_zone(tzid)
    if iana is not None or "/" not in tzid.strip().lstrip("/"):
        return iana
    parts = tzid.strip().strip("/").split("/")
    for i in range(1, len(parts)):
        tail = "/".join(parts[i:])
        if tail in _iana_zones():
            return tail
    return None


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The ZoneInfo for an IANA or Windows zone name; ValueError names an unknown one."""
    iana = known_zone(name)
    if iana is None:
        raise ValueError(f"unknown time zone {name!r}")
    return zoneinfo.ZoneInfo(iana)
