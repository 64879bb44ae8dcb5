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


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The ZoneInfo for an IANA or Windows zone name; ValueError names an unknown one."""
    iana = known_zone(name)
    if iana is None:
        raise ValueError(f"unknown time zone {name!r}")
    return zoneinfo.ZoneInfo(iana)
