"""Closed numbers: holidays (HAL-15) and Medborgarservice's own opening hours (ALV-27).

Which group or contact centre is open at a moment, when the contact centre opens next, and
what a caller hears while it is closed, in the written form (`message`) and as the spoken
segments a platform plays (`segments`), following `routing.wording`, `routing.spoken` and
`routing.numerals`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from routing import numerals, spoken, wording
from routing.models import ContactCentre, Group, Hours, Policy

HOLIDAY_WORDING = "eftersom det är helgdag"
SEARCH_DAYS = 400  # how far ahead the next opening is looked for


def is_holiday(policy: Policy, day: date) -> bool:
    """HAL-15: a configured holiday of the organisation."""
    return day in policy.holidays


def closed_for_holiday(group: Group, policy: Policy, local: datetime) -> bool:
    """HAL-15: a group with telephone hours is closed on a holiday unless it is open on them."""
    return (
        group.telephone_hours is not None
        and not group.open_on_holidays
        and is_holiday(policy, local.date())
    )


def group_open(group: Group, policy: Policy, local: datetime) -> bool:
    """ALV-08/HAL-15: inside the group's telephone hours and not on a holiday it keeps closed."""
    hours = group.telephone_hours
    if hours is None:
        return True
    return hours.contains(local) and not closed_for_holiday(group, policy, local)


def group_open_on(group: Group, policy: Policy, day: date) -> bool:
    """HAL-05/HAL-15: whether the group has telephone hours on this day at all."""
    hours = group.telephone_hours
    if hours is not None and day.weekday() not in hours.days:
        return False
    return group.open_on_holidays or not is_holiday(policy, day)


def _cc_day_open(cc: ContactCentre, policy: Policy, day: date) -> bool:
    if day in cc.closed_days:
        return False
    return cc.open_on_holidays or not is_holiday(policy, day)


def contact_centre_open(policy: Policy, local: datetime) -> bool:
    """ALV-27: Medborgarservice is open (always, when no opening hours are configured)."""
    cc = policy.contact_centre
    if cc is None:
        return True
    if not _cc_day_open(cc, policy, local.date()):
        return False
    return cc.opening_hours is None or cc.opening_hours.contains(local)


def next_opening(policy: Policy, now: datetime) -> datetime | None:
    """ALV-27: when Medborgarservice opens next after `now` (local time), None if never."""
    cc = policy.contact_centre
    if cc is None:
        return None
    hours = cc.opening_hours or Hours(frozenset(range(7)), datetime.min.time(), datetime.max.time())
    local = now.astimezone(policy.timezone)
    day = local.date()
    for _ in range(SEARCH_DAYS):
        if day.weekday() in hours.days and _cc_day_open(cc, policy, day):
            opens = datetime.combine(day, hours.start, tzinfo=policy.timezone)
            if opens > local:
                return opens
        day += timedelta(days=1)
    return None


def _when(opens: datetime, now: datetime, policy: Policy) -> tuple[str, str]:
    """('måndag klockan 8.00', 'måndag klockan åtta'): the day as near as callers need it."""
    today = now.astimezone(policy.timezone).date()
    ahead = (opens.date() - today).days
    if ahead == 0:
        day_written = day_spoken = "i dag"
    elif ahead == 1:
        day_written = day_spoken = "i morgon"
    elif ahead < 7:
        day_written = day_spoken = wording.WEEKDAY_NAMES[opens.weekday()]
    else:
        other_year = opens.year != today.year
        day_written = (
            f"{wording.WEEKDAY_NAMES[opens.weekday()]} den {opens.day} "
            f"{wording.MONTH_NAMES[opens.month - 1]}" + (f" {opens.year}" if other_year else "")
        )
        day_spoken = numerals.date_words(opens.date(), year=other_year)
    return (
        f"{day_written} klockan {wording.clock(opens)}",
        f"{day_spoken} klockan {numerals.clock_words(opens)}",
    )


def contact_centre_closed(policy: Policy, now: datetime) -> tuple[str, tuple[str, ...]]:
    """ALV-27: 'Medborgarservice har stängt just nu och öppnar igen måndag klockan 8.00.' and
    its spoken segments, then the organisation's own out-of-hours message, if any."""
    cc = policy.contact_centre or ContactCentre()
    opens = next_opening(policy, now)
    if opens is None:
        written = f"{cc.name} har stängt just nu."
        segments = [written]
    else:
        when_written, when_spoken = _when(opens, now, policy)
        written = f"{cc.name} har stängt just nu och öppnar igen {when_written}."
        segments = [f"{cc.name} har stängt just nu", f"och öppnar igen {when_spoken}."]
    if cc.out_of_hours_message and cc.out_of_hours_message.strip():
        extra = cc.out_of_hours_message.strip()
        written += " " + (extra if extra.endswith((".", "!", "?")) else extra + ".")
        segments.append(spoken.sentence(spoken.speakable(extra)))
    return written, tuple(segments)


def group_closed(
    group: Group, policy: Policy, now: datetime, switchboard: str | None
) -> tuple[tuple[str, tuple[str, ...]], bool]:
    """ALV-08/HAL-15: what a caller to a closed group hears, and whether the call then goes on
    to Medborgarservice (only while it is open; else the caller hears when it opens)."""
    hours = group.telephone_hours
    assert hours is not None  # only groups with telephone hours close
    local = now.astimezone(policy.timezone)
    transfer = switchboard is not None and contact_centre_open(policy, local)
    written = wording.telephone_hours_message(group.designation, hours, None)
    segments = list(spoken.telephone_hours_segments(group.designation, hours, None))
    if closed_for_holiday(group, policy, local):
        written = f"{group.designation} har stängt i dag, {HOLIDAY_WORDING}. " + written
        segments[:0] = [f"{group.designation} har stängt i dag,", f"{HOLIDAY_WORDING}."]
    if transfer:
        written += " " + wording.TRANSFERRED_TO_SWITCHBOARD
        segments.append(wording.TRANSFERRED_TO_SWITCHBOARD)
    elif switchboard is not None:
        cc_written, cc_segments = contact_centre_closed(policy, now)
        written += " " + cc_written
        segments.extend(cc_segments)
    return (written, tuple(segments)), transfer


NOBODY_NOW = "Ingen kan ta ditt samtal just nu."


def nobody_available(policy: Policy, now: datetime) -> tuple[str, tuple[str, ...]]:
    """A group with nobody available while Medborgarservice is closed (ALV-27, HAL-05)."""
    written, segments = contact_centre_closed(policy, now)
    return f"{NOBODY_NOW} {written}", (NOBODY_NOW, *segments)
