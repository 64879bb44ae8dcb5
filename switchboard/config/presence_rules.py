"""organisation.yaml's `calendar:` section: how calendar entries become presence (the reason
codes in subjects, the keep-open and forward markers), with the organisation's hours."""

from __future__ import annotations

from typing import Any

from routing.absence import AbsenceReason, BusyStatus
from routing.presence import DEFAULT_REASON_CODES, PresenceRules
from storage.yamlcheck import Checker
from switchboard.config.organisation import Identity

_KEYS = {"reason_codes", "keep_open_marker", "forward_marker", "max_age_s"}
_REASONS = {r.value: r for r in AbsenceReason}


def parse_presence_rules(
    c: Checker, raw: Any, identity: Identity, redirect_on: frozenset[BusyStatus]
) -> PresenceRules:
    """The section (absent: the default reason codes and markers)."""
    cal_raw = c.mapping(raw, "calendar", _KEYS)
    reason_codes = DEFAULT_REASON_CODES
    if "reason_codes" in cal_raw:
        codes = c.mapping(cal_raw["reason_codes"], "calendar.reason_codes", set(_REASONS) | {""})
        parsed: list[tuple[str, AbsenceReason]] = []
        for reason_name, words in codes.items():
            if reason_name not in _REASONS:
                continue
            if not isinstance(words, list):
                c.err(f"calendar.reason_codes.{reason_name}", "must be a list of subject words")
                continue
            parsed.extend((str(w), _REASONS[reason_name]) for w in words)
        reason_codes = tuple(parsed)
    if "max_age_s" in cal_raw:
        # Never took effect: how old a calendar may get is set per source, where it is polled.
        c.err(
            "calendar.max_age_s",
            "is not used: set max_age under calendar_sources.<source> "
            "(e.g. calendar_sources.exchange.max_age: 15m)",
        )
    return PresenceRules(
        timezone=identity.timezone,
        working_hours=identity.working_hours,
        holidays=identity.holidays,
        redirect_on=redirect_on,
        reason_codes=reason_codes,
        keep_open_marker=c.string(cal_raw, "keep_open_marker", "calendar") or "-",
        forward_marker=c.string(cal_raw, "forward_marker", "calendar") or ">",
    )
