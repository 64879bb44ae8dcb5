"""Organisation rules checked when a folder loads (issue 19): Medborgarservice's own hours
(ALV-27), the contact centre never a covering point (HAL-03), personal, non-trivial PINs on
every mailbox (HAL-07, HAL-11), and a calendar on every personal subscription (HAL-16, a
warning). Problems come back with dotted paths; `switchboard.config` adds FILE:LINE.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date
from typing import Any

from routing.contact_centre import is_contact_centre
from routing.models import ContactCentre, Directory, NumberingPlan, User, hours_of
from storage.problems import ConfigProblem
from storage.yamlcheck import Checker
from voicemail.models import VoicemailSettings
from voicemail.policy import has_mailbox, mailbox_id

CONTACT_CENTRE_KEYS = {
    "name",
    "opening_hours",
    "closed_days",
    "open_on_holidays",
    "out_of_hours_message",
    "groups",
}
PERSONAL_SUBSCRIPTIONS = ("extension", "mobile")  # policy.personal_subscription (HAL-16)


def parse_contact_centre(
    c: Checker, raw: Any, day: Callable[[Any, str], date | None]
) -> ContactCentre | None:
    """ALV-27: organisation.yaml `contact_centre:`; None when the section is absent."""
    if raw is None:
        return None
    m = c.mapping(raw, "contact_centre", CONTACT_CENTRE_KEYS, required=True)
    hours = (
        hours_of(c.weekly_hours(m["opening_hours"], "contact_centre.opening_hours"))
        if m.get("opening_hours") is not None
        else None
    )
    closed: set[date] = set()
    days = m.get("closed_days") or []
    if not isinstance(days, list):
        c.err("contact_centre.closed_days", 'must be a list of dates like "2026-12-23"')
        days = []
    for i, value in enumerate(days):
        parsed = day(value, f"contact_centre.closed_days[{i}]")
        if parsed is not None:
            closed.add(parsed)
    return ContactCentre(
        name=c.string(m, "name", "contact_centre") or "Medborgarservice",
        opening_hours=hours,
        closed_days=frozenset(closed),
        open_on_holidays=c.boolean(m, "open_on_holidays", "contact_centre", False),
        out_of_hours_message=c.string(m, "out_of_hours_message", "contact_centre"),
        groups=c.strings(m, "groups", "contact_centre"),
    )


def covering_problems(directory: Directory, centre: ContactCentre | None) -> list[ConfigProblem]:
    """HAL-03: the contact centre is not a covering point (passningsställe)."""
    problems: list[ConfigProblem] = []
    for i, user in enumerate(directory.users):
        group = directory.group(user.covering) if user.covering else None
        if group is not None and is_contact_centre(group, centre):
            problems.append(
                ConfigProblem(
                    f"users[{i}].covering",
                    f"{group.designation} is the contact centre, not a covering point "
                    "(passningsställe, HAL-03): name a colleague or a group of the unit, "
                    "or remove covering",
                )
            )
    return problems


def _runs(pin: str) -> bool:
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    return steps in ({1}, {-1})


def _own_digits(user: User, plan: NumberingPlan) -> set[str]:
    """The user's extension and mobile as national digits, and the mailbox."""
    digits: set[str] = set()
    for number in (user.extension, user.mobile):
        if number and number.startswith(f"+{plan.country_code}"):
            digits.add("0" + number[1 + len(plan.country_code) :])
    box = mailbox_id(user, plan)
    if box:
        digits.add(box)
    return digits


def trivial_pin(pin: str, user: User, plan: NumberingPlan) -> str | None:
    """HAL-11: why a PIN of digits is trivial (None when it is personal enough)."""
    if len(set(pin)) == 1:
        return "PIN is one digit repeated"
    if _runs(pin):
        return "PIN is a run of digits, counting up or down"
    if any(pin in own for own in _own_digits(user, plan)):
        return "PIN is taken from the user's own extension, mobile or mailbox number"
    return None


def pin_problems(
    directory: Directory, settings: VoicemailSettings, plan: NumberingPlan
) -> list[ConfigProblem]:
    """HAL-07/HAL-11: every enabled mailbox has a PIN, and no PIN is trivial. (Digits only and
    at least four of them is `voicemail.policy.pin_problem`, checked with the voicemail rules.)"""
    problems: list[ConfigProblem] = []
    for i, user in enumerate(directory.users):
        if user.pin is None:
            if has_mailbox(user, settings) and not user.blocked:
                problems.append(
                    ConfigProblem(
                        f"users[{i}].pin",
                        "is required: the mailbox is enabled, give a personal PIN of at least "
                        "4 digits (HAL-07, HAL-11)",
                    )
                )
            continue
        if not user.pin.isdigit() or len(user.pin) < 4:
            continue  # reported by voicemail.policy.pin_problem
        why = trivial_pin(user.pin, user, plan)
        if why:
            problems.append(
                ConfigProblem(f"users[{i}].pin", f"{why}: choose a personal PIN (HAL-11)")
            )
    return problems


def calendar_warnings(directory: Directory) -> list[ConfigProblem]:
    """HAL-16: a personal subscription without a calendar cannot follow it (a warning)."""
    return [
        ConfigProblem(
            f"users[{i}].calendar",
            "no calendar: calls to this personal subscription are never redirected (HAL-16); "
            "add calendar: (ics, exchange, graph, …)",
        )
        for i, user in enumerate(directory.users)
        if user.calendar is None
    ]


def handover_problems(before: Directory, after: Directory) -> list[ConfigProblem]:
    """HAL-11: when a number passes to a successor (another user id now holds it), the
    predecessor's PIN must not come with it: the successor needs a PIN of their own."""
    held: dict[str, User] = {}
    for user in before.users:
        for number in (user.extension, user.mobile):
            if number:
                held[number] = user
    problems: list[ConfigProblem] = []
    for i, user in enumerate(after.users):
        for number in (user.extension, user.mobile):
            previous = held.get(number) if number else None
            if (
                previous is not None
                and previous.id != user.id
                and previous.pin is not None
                and user.pin == previous.pin
            ):
                problems.append(
                    ConfigProblem(
                        f"users[{i}].pin",
                        f"the number passed from {previous.id} to {user.id}: the PIN must be "
                        "reset, give the successor a new personal PIN (HAL-11)",
                    )
                )
                break
    return problems
