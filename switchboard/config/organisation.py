"""organisation.yaml's own keys: who the organisation is (name, code, time zone, numbering plan,
switchboard number, working hours, holidays, data folder) and its routing policy (`policy:`,
with Medborgarservice's `contact_centre:`, ALV-27).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from routing.absence import BusyStatus
from routing.errors import NumberError
from routing.models import ContactCentre, Hours, NumberingPlan, Policy, hours_of
from routing.numbers import make_plan, validate_e164
from storage.yamlcheck import Checker
from switchboard.config.extensions import EXTENSION_SECTIONS
from switchboard.config_policy import PERSONAL_SUBSCRIPTIONS, parse_contact_centre

DEFAULT_HOURS = Hours(frozenset(range(5)), time(8, 0), time(16, 30))
DEFAULT_TIMEZONE = "Europe/Stockholm"
ORGANISATION_KEYS = {
    "name",
    "code",
    "timezone",
    "extension_series",
    "switchboard",
    "working_hours",
    "holidays",
    "policy",
    "voicemail",
    "calendar",
    "data_dir",
    "contact_centre",
    *EXTENSION_SECTIONS,
}
_POLICY_KEYS = {"redirect_on", "international_calls", "premium_rate", "personal_subscription"}


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the organisation is and when it works."""

    id: str  # the folder's name
    name: str
    code: str
    timezone: ZoneInfo
    plan: NumberingPlan
    series: tuple[str, ...]  # as written, for messages
    switchboard: str | None  # None when missing or invalid (a problem was recorded)
    working_hours: Hours
    holidays: frozenset[date]


@dataclass(frozen=True, slots=True)
class PolicyChoices:
    """The `policy:` and `contact_centre:` sections, before the voicemail switch joins them."""

    redirect_on: frozenset[BusyStatus]
    international_calls: str
    premium_rate: str
    personal_subscription: str
    contact_centre: ContactCentre | None


def checked_number(c: Checker, value: str | None, path: str, plan: NumberingPlan) -> str | None:
    """`value` as E.164 in the plan, or None (with the problem recorded at `path`)."""
    if value is None:
        return None
    try:
        return validate_e164(value, plan)
    except NumberError as exc:
        c.err(path, f"{value!r} is {exc.problem}")
        return None


def parse_identity(c: Checker, raw: dict[str, Any], org_id: str, present: bool) -> Identity:
    """Name, code, time zone, numbering plan, switchboard number, working hours and holidays.
    `present`: organisation.yaml has content (an empty file is reported once, not per key)."""
    name = c.string(raw, "name", "", required=present) or org_id
    code = (c.string(raw, "code", "") or org_id[:3]).upper()
    tz_name = c.string(raw, "timezone", "") or DEFAULT_TIMEZONE
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        c.err("timezone", f"unknown time zone {tz_name!r}")
        tz = ZoneInfo(DEFAULT_TIMEZONE)

    series = c.strings(raw, "extension_series", "")
    if not series and present:
        c.err("extension_series", 'is required: at least one series like "026-83X XX"')
    plan = NumberingPlan("46", ())
    try:
        plan = make_plan(list(series))
    except NumberError as exc:
        c.err("extension_series", exc.problem + f" ({exc.number!r})")

    switchboard = checked_number(
        c, c.string(raw, "switchboard", "", required=True), "switchboard", plan
    )
    wh_raw = raw.get("working_hours")
    working_hours = (
        DEFAULT_HOURS if wh_raw is None else hours_of(c.weekly_hours(wh_raw, "working_hours"))
    )
    return Identity(
        id=org_id,
        name=name,
        code=code,
        timezone=tz,
        plan=plan,
        series=series,
        switchboard=switchboard,
        working_hours=working_hours or DEFAULT_HOURS,
        holidays=_holidays(c, raw.get("holidays")),
    )


def _holidays(c: Checker, raw: object) -> frozenset[date]:
    holidays: set[date] = set()
    hol = raw or []
    if not isinstance(hol, list):
        c.err("holidays", 'must be a list of dates like "2026-12-24"')
        hol = []
    for i, h in enumerate(hol):
        try:
            holidays.add(h if isinstance(h, date) else date.fromisoformat(str(h)))
        except ValueError:
            c.err(f"holidays[{i}]", f'{h!r} is not a date like "2026-12-24"')
    return frozenset(holidays)


def parse_policy(c: Checker, raw: dict[str, Any]) -> PolicyChoices:
    """The `policy:` section and the contact centre (ALV-27)."""
    pol = c.mapping(raw.get("policy"), "policy", _POLICY_KEYS)
    personal = c.choice(pol, "personal_subscription", "policy", PERSONAL_SUBSCRIPTIONS)
    contact_centre = parse_contact_centre(c, raw.get("contact_centre"), c.day)
    statuses = {s.value.lower(): s for s in BusyStatus}
    redirect_on: set[BusyStatus] = set()
    for i, s in enumerate(pol.get("redirect_on", ["busy", "oof"]) or []):
        st = statuses.get(str(s).replace("_", "").lower())
        if st is None:
            c.err(f"policy.redirect_on[{i}]", f"unknown status {s!r}")
        else:
            redirect_on.add(st)
    return PolicyChoices(
        redirect_on=frozenset(redirect_on),
        international_calls=c.choice(pol, "international_calls", "policy", ("blocked", "allowed")),
        premium_rate=c.choice(pol, "premium_rate", "policy", ("blocked", "allowed")),
        personal_subscription=personal,
        contact_centre=contact_centre,
    )


def make_policy(identity: Identity, choices: PolicyChoices, voicemail_users: bool) -> Policy:
    """The routing policy; `voicemail_users` is `voicemail.extension_users` (ALV-12)."""
    mobile = choices.personal_subscription == "mobile"
    return Policy(
        timezone=identity.timezone,
        redirect_on=choices.redirect_on,
        international_calls="allowed" if choices.international_calls == "allowed" else "blocked",
        premium_rate="allowed" if choices.premium_rate == "allowed" else "blocked",
        voicemail_extension_users=voicemail_users,
        holidays=identity.holidays,
        contact_centre=choices.contact_centre,
        personal_subscription="mobile" if mobile else "extension",
    )


def data_dir(folder: Path, org_id: str, configured: str | None) -> str:
    """`data_dir:` (relative to the folder), else $SWITCHBOARD_DATA_DIR/<org>, else
    <folder>/data."""
    if configured:
        p = Path(configured)
        return str(p if p.is_absolute() else (folder / p).resolve())
    env = os.environ.get("SWITCHBOARD_DATA_DIR")
    if env:
        return str(Path(env) / org_id)
    return str(folder / "data")
