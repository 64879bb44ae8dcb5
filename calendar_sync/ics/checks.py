"""Values (step 3 of calendar_sync.ics): an unreadable property is dropped and reported, an event
without a readable DTSTART is skipped and reported, an RRULE that cannot be expanded safely is
ignored; the rest of the series stays."""

from __future__ import annotations

from typing import Any

import icalendar
from icalendar.prop import vBroken

from calendar_sync.ics.text import KEPT, Skipped, clean

_ONCE_NAMES = KEPT - {"RRULE", "RDATE", "EXDATE"}  # "MUST NOT occur more than once"


def _uid(component: Any) -> str:
    uid = component.get("UID", "")
    return clean(uid[0] if isinstance(uid, list) and uid else uid, 120)


def _drop_broken(component: Any, name: str) -> None:
    """Remove the values of `name` icalendar could not read (kept as vBroken), keep the rest."""
    values = component.get(name)
    items = values if isinstance(values, list) else [values]
    good = [v for v in items if v is not None and not isinstance(v, vBroken)]
    del component[name]
    for value in good:
        component.add(name, value, encode=False)


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _rule_problem(rule: Any) -> str | None:
    """Why an RRULE cannot be expanded safely, or None (dateutil loops on INTERVAL=0, and searches
    up to year 9999 for a date that does not exist)."""
    freq = rule.get("FREQ")
    if not freq:
        return "no FREQ"
    for key in ("INTERVAL", "COUNT"):
        for value in rule.get(key) or ():
            if not isinstance(value, int) or value < 1:
                return f"{key}={clean(value, 20)} (must be 1 or more)"
    days = [d for d in rule.get("BYMONTHDAY") or () if isinstance(d, int)]
    months = [m for m in rule.get("BYMONTH") or () if isinstance(m, int) and 1 <= m <= 12]
    if days and not any(abs(d) <= _MONTH_DAYS[m - 1] for d in days for m in months or range(1, 13)):
        return "BYMONTH/BYMONTHDAY name a day that does not exist (never occurs)"
    return None


def check_events(cal: icalendar.Calendar, skipped: list[Skipped]) -> int:
    """Drop unreadable values and unusable events (reported); how many VEVENTs there were."""
    keep: list[Any] = []
    events = 0
    for comp in cal.subcomponents:
        if comp.name != "VEVENT":
            keep.append(comp)
            continue
        events += 1
        # The UID as read names a problem; cleaning it costs more than the rest of this check,
        # so it is made when needed: before anything is dropped, or later when nothing was
        # (keeping the first of repeated values does not change what `_uid` makes of it).
        uid: str | None = _uid(comp) if comp.errors else None
        bad: set[str] = set()
        for name, message in comp.errors:
            what = clean(name or "content line", 40)
            ignored = "" if name in ("DTSTART", "RECURRENCE-ID") else ": ignored"
            why = f"unreadable ({clean(message, 100)}){ignored}"
            skipped.append(Skipped(uid or "", what, why))
            if name:
                bad.add(name)
        for name in bad:
            _drop_broken(comp, name)
        # RFC 5545: at most once; a list breaks the expansion.
        for name in sorted(n for n, v in comp.items() if n in _ONCE_NAMES and isinstance(v, list)):
            values = comp.get(name)
            uid = _uid(comp) if uid is None else uid
            del comp[name]
            if values:
                comp.add(name, values[0], encode=False)
            why = f"appears {len(values)} times: the first is used"
            skipped.append(Skipped(uid, name, why))
        if "RECURRENCE-ID" in bad:
            why = "the moved occurrence is skipped (it keeps its place in the series)"
            skipped.append(Skipped(uid or "", "VEVENT", why))
            continue
        if "DTSTART" not in comp:
            why = "no readable DTSTART" if "DTSTART" in bad else "no DTSTART"
            who = _uid(comp) if uid is None else uid
            skipped.append(Skipped(who, "VEVENT", f"{why}: the event is skipped"))
            continue
        rules = comp.get("RRULE")
        if rules is not None:
            good_rules = []
            for rule in rules if isinstance(rules, list) else [rules]:
                if rule.get("COUNT") and rule.get("UNTIL"):  # RFC 5545: one or the other
                    del rule["COUNT"]
                    uid = _uid(comp) if uid is None else uid
                    skipped.append(Skipped(uid, "RRULE", "COUNT with UNTIL: COUNT ignored"))
                problem = _rule_problem(rule)
                if problem is None:
                    good_rules.append(rule)
                else:
                    uid = _uid(comp) if uid is None else uid
                    why = f"{problem}: ignored, the event counts once"
                    skipped.append(Skipped(uid, "RRULE", why))
            if len(good_rules) != (len(rules) if isinstance(rules, list) else 1):
                del comp["RRULE"]
                for rule in good_rules:
                    comp.add("RRULE", rule, encode=False)
        keep.append(comp)
    cal.subcomponents[:] = keep
    return events
