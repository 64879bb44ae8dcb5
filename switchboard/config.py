"""An organisation folder (organisation.yaml, directory.yaml, calendars) loaded into typed objects.

Every problem is reported as `FILE:LINE: dotted.path: what is wrong`; nothing raw leaves here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calendar_sync.sources import (
    CalendarSourcesSettings,
    check_user_calendars,
    parse_calendar_sources,
)
from routing.errors import NumberError
from routing.models import (
    AbsenceReason,
    BusyStatus,
    CalendarRef,
    Directory,
    Group,
    Hours,
    NumberingPlan,
    Organisation,
    Policy,
    SharedPhone,
    User,
    hours_of,
)
from routing.numbers import in_plan, make_plan, normalise, validate_e164
from routing.presence import DEFAULT_REASON_CODES, PresenceRules
from storage.problems import ConfigProblem
from storage.yamlfile import Checker, load_yaml
from switchboard.admin_settings import parse_administration
from switchboard.config_policy import (
    PERSONAL_SUBSCRIPTIONS,
    calendar_warnings,
    covering_problems,
    handover_problems,
    parse_contact_centre,
    pin_problems,
)
from switchboard.http_settings import parse_http
from switchboard.storage import parse_storage
from switchboard.telephony.config import parse_telephony
from voicemail.models import Classification, DisposalRule, VoicemailSettings
from voicemail.notify_config import parse_notifications
from voicemail.policy import check_voicemail

ORGANISATION_FILE = "organisation.yaml"
DIRECTORY_FILE = "directory.yaml"
DEFAULT_HOURS = Hours(frozenset(range(5)), time(8, 0), time(16, 30))
# Sections other features own; they are validated by the parsers in SECTION_PARSERS.
EXTENSION_SECTIONS = (
    "telephony",
    "calendar_sources",
    "storage",
    "http",
    "administration",
    "notifications",  # e-mail notifications (issue 17)
)

# name -> parser(raw) -> (settings, problems) for the sections other features own.
SectionParser = Callable[[object], tuple[object, list[ConfigProblem]]]
SECTION_PARSERS: dict[str, SectionParser] = {
    "calendar_sources": parse_calendar_sources,
    "telephony": parse_telephony,
    "storage": parse_storage,
    "http": parse_http,
    "administration": parse_administration,
    "notifications": parse_notifications,
}


class ConfigError(Exception):
    """A configuration with problems; `problems` are lines `FILE:LINE: path: message`."""

    error_id = "invalid-config"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Config:
    """A loaded, validated organisation."""

    org: Organisation
    rules: PresenceRules
    voicemail: VoicemailSettings
    folder: Path
    sections: Mapping[str, object] = field(default_factory=dict)
    settings: Mapping[str, object] = field(default_factory=dict)  # parsed extension sections
    warnings: tuple[str, ...] = ()  # FILE:LINE: path: message, not errors (HAL-16)

    @property
    def policy(self) -> Policy:
        """The organisation's routing policy."""
        return self.org.policy

    @property
    def directory(self) -> Directory:
        """The organisation's directory."""
        return self.org.directory


def _p(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_ORG_KEYS = {
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
_USER_KEYS = {
    "id",
    "name",
    "title",
    "email",
    "unit",
    "extension",
    "mobile",
    "calendar",
    "mobile_follows_calendar",
    "voicemail",
    "covering",
    "personal_id",
    "keywords",
    "mailbox",
    "pin",
    "blocked",
    "international_unlocked",
    "premium_unlocked",
    "redirect",
    "telephone_hours",
    "delegates",
    "manager",
    "cost_centre",
    "visiting_address",
}
# HAL-10: a non-personal subscription has a designation, never a name or personal_id
_NON_PERSONAL_KEYS = {"email", "cost_centre", "visiting_address", "keywords", "personal_id"}
_GROUP_KEYS = {
    "id",
    "designation",
    "number",
    "telephone_hours",
    "members",
    "unit",
    "on_call",
    "open_on_holidays",
    *_NON_PERSONAL_KEYS,
}
_SHARED_KEYS = {"id", "designation", "mobile", "unit", "blocked", "telephone_hours"}
_SHARED_KEYS |= _NON_PERSONAL_KEYS
_REASONS = {r.value: r for r in AbsenceReason}


def _data_dir(folder: Path, org_id: str, configured: str | None) -> str:
    if configured:
        p = Path(configured)
        return str(p if p.is_absolute() else (folder / p).resolve())
    env = os.environ.get("SWITCHBOARD_DATA_DIR")
    if env:
        return str(Path(env) / org_id)
    return str(folder / "data")


def _mailbox_for(extension: str | None, mobile: str | None, plan: NumberingPlan) -> str | None:
    """app_voicemail mailbox: the extension's digits after the area code ('026-830 12' → 83012)."""
    if extension:
        for area, _local in plan.series:
            prefix = f"+{plan.country_code}{area}"
            if extension.startswith(prefix):
                return extension[len(prefix) :]
        return extension.lstrip("+")
    if mobile:
        return "0" + mobile[1 + len(plan.country_code) :]
    return None


def load_config(folder: str | Path, previous: Directory | None = None) -> Config:
    """Load and validate an organisation folder; raise ConfigError listing every problem.
    With `previous` (the directory in force), a number passed to a successor must not keep
    the predecessor's PIN (HAL-11)."""
    root = Path(folder)
    problems: list[str] = []
    if not root.is_dir():
        raise ConfigError([f"{root}:1: (folder): not an organisation folder (no such directory)"])
    org_doc = load_yaml(root / ORGANISATION_FILE, str(root / ORGANISATION_FILE))
    dir_doc = load_yaml(root / DIRECTORY_FILE, str(root / DIRECTORY_FILE))
    for doc in (org_doc, dir_doc):
        problems.extend(
            f"{doc.file}:{line}: {path or '(file)'}: {msg}" for path, line, msg in doc.problems
        )
    o = Checker(org_doc, problems)
    d = Checker(dir_doc, problems)

    org_raw = o.mapping(org_doc.data, "", _ORG_KEYS) if org_doc.data is not None else {}
    org_id = root.resolve().name
    name = o.string(org_raw, "name", "", required=org_doc.data is not None) or org_id
    code = (o.string(org_raw, "code", "") or org_id[:3]).upper()
    tz_name = o.string(org_raw, "timezone", "") or "Europe/Stockholm"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        o.err("timezone", f"unknown time zone {tz_name!r}")
        tz = ZoneInfo("Europe/Stockholm")

    series = o.strings(org_raw, "extension_series", "")
    if not series and org_doc.data is not None:
        o.err("extension_series", 'is required: at least one series like "026-83X XX"')
    plan = NumberingPlan("46", ())
    try:
        plan = make_plan(list(series))
    except NumberError as exc:
        o.err("extension_series", exc.problem + f" ({exc.number!r})")

    def number(c: Checker, value: str | None, path: str) -> str | None:
        if value is None:
            return None
        try:
            return validate_e164(value, plan)
        except NumberError as exc:
            c.err(path, f"{value!r} is {exc.problem}")
            return None

    switchboard = number(o, o.string(org_raw, "switchboard", "", required=True), "switchboard")
    wh_raw = org_raw.get("working_hours")
    working_hours = (
        DEFAULT_HOURS if wh_raw is None else hours_of(o.weekly_hours(wh_raw, "working_hours"))
    )
    holidays: set[date] = set()
    hol = org_raw.get("holidays") or []
    if not isinstance(hol, list):
        o.err("holidays", 'must be a list of dates like "2026-12-24"')
        hol = []
    for i, h in enumerate(hol):
        try:
            holidays.add(h if isinstance(h, date) else date.fromisoformat(str(h)))
        except ValueError:
            o.err(f"holidays[{i}]", f'{h!r} is not a date like "2026-12-24"')

    pol = o.mapping(
        org_raw.get("policy"),
        "policy",
        {"redirect_on", "international_calls", "premium_rate", "personal_subscription"},
    )
    personal = o.choice(pol, "personal_subscription", "policy", PERSONAL_SUBSCRIPTIONS)
    contact_centre = parse_contact_centre(o, org_raw.get("contact_centre"), o.day)
    statuses = {s.value.lower(): s for s in BusyStatus}
    redirect_on: set[BusyStatus] = set()
    for i, s in enumerate(pol.get("redirect_on", ["busy", "oof"]) or []):
        st = statuses.get(str(s).replace("_", "").lower())
        if st is None:
            o.err(f"policy.redirect_on[{i}]", f"unknown status {s!r}")
        else:
            redirect_on.add(st)
    international = o.choice(pol, "international_calls", "policy", ("blocked", "allowed"))
    premium = o.choice(pol, "premium_rate", "policy", ("blocked", "allowed"))

    vm_raw = o.mapping(
        org_raw.get("voicemail"),
        "voicemail",
        {"extension_users", "context", "spool", "series", "disposal_rules", "registrars"},
    )
    extension_users = vm_raw.get("extension_users", "enabled")
    if extension_users not in ("enabled", "disabled", True, False):
        o.err("voicemail.extension_users", "must be enabled or disabled")
    vm_enabled = extension_users in ("enabled", True)
    rules_out: list[DisposalRule] = []
    classes = {c.value: c for c in Classification}
    for i, r in enumerate(vm_raw.get("disposal_rules") or []):
        path = f"voicemail.disposal_rules[{i}]"
        rm = o.mapping(r, path, {"name", "classification", "days_after_classification"})
        cls = classes.get(str(rm.get("classification")))
        days = rm.get("days_after_classification")
        if cls is None:
            o.err(f"{path}.classification", f"must be one of: {', '.join(classes)}")
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            o.err(f"{path}.days_after_classification", "must be a whole number of days >= 0")
        elif cls is not None:
            rules_out.append(DisposalRule(str(rm.get("name") or f"rule-{i + 1}"), cls, days))
    spool = o.string(vm_raw, "spool", "voicemail")
    vm_settings = VoicemailSettings(
        extension_users=vm_enabled,
        context=o.string(vm_raw, "context", "voicemail") or "default",
        spool=str((root / spool).resolve()) if spool else None,
        series=o.string(vm_raw, "series", "voicemail") or "RÖST",
        disposal_rules=tuple(rules_out),
        registrars=o.strings(vm_raw, "registrars", "voicemail"),
    )

    cal_raw = o.mapping(
        org_raw.get("calendar"),
        "calendar",
        {"reason_codes", "keep_open_marker", "forward_marker", "max_age_s"},
    )
    reason_codes = DEFAULT_REASON_CODES
    if "reason_codes" in cal_raw:
        codes = o.mapping(cal_raw["reason_codes"], "calendar.reason_codes", set(_REASONS) | {""})
        parsed: list[tuple[str, AbsenceReason]] = []
        for reason_name, words in codes.items():
            if reason_name not in _REASONS:
                continue
            if not isinstance(words, list):
                o.err(f"calendar.reason_codes.{reason_name}", "must be a list of subject words")
                continue
            parsed.extend((str(w), _REASONS[reason_name]) for w in words)
        reason_codes = tuple(parsed)
    if "max_age_s" in cal_raw:
        # Never took effect: how old a calendar may get is set per source, where it is polled.
        o.err(
            "calendar.max_age_s",
            "is not used: set max_age under calendar_sources.<source> "
            "(e.g. calendar_sources.exchange.max_age: 15m)",
        )

    policy = Policy(
        timezone=tz,
        redirect_on=frozenset(redirect_on),
        international_calls="allowed" if international == "allowed" else "blocked",
        premium_rate="allowed" if premium == "allowed" else "blocked",
        voicemail_extension_users=vm_enabled,
        holidays=frozenset(holidays),
        contact_centre=contact_centre,
        personal_subscription="mobile" if personal == "mobile" else "extension",
    )
    rules = PresenceRules(
        timezone=tz,
        working_hours=working_hours or DEFAULT_HOURS,
        holidays=frozenset(holidays),
        redirect_on=frozenset(redirect_on),
        reason_codes=reason_codes,
        keep_open_marker=o.string(cal_raw, "keep_open_marker", "calendar") or "-",
        forward_marker=o.string(cal_raw, "forward_marker", "calendar") or ">",
    )

    # ---- directory.yaml
    dir_raw = (
        d.mapping(dir_doc.data, "", {"users", "groups", "shared_phones"})
        if dir_doc.data is not None
        else {}
    )
    ids: dict[str, str] = {}
    numbers: dict[str, str] = {}
    if switchboard:
        numbers[switchboard] = "switchboard"

    def claim_id(value: str | None, path: str) -> None:
        if value is None:
            return
        if value in ids:
            d.err(path, f"duplicate id {value!r} (also at {ids[value]})")
        else:
            ids[value] = path

    def claim_number(value: str | None, path: str) -> None:
        if value is None:
            return
        if value in numbers:
            d.err(path, f"duplicate number {value} (also at {numbers[value]})")
        else:
            numbers[value] = path

    def entries(key: str) -> list[Any]:
        value = dir_raw.get(key) or []
        if not isinstance(value, list):
            d.err(key, "must be a list")
            return []
        return value

    users: list[User] = []
    references: list[tuple[str, str, str]] = []  # (path, id, what)
    for i, raw in enumerate(entries("users")):
        path = f"users[{i}]"
        m = d.mapping(raw, path, _USER_KEYS)
        if not m:
            continue
        uid = d.string(m, "id", path, required=True)
        claim_id(uid, f"{path}.id")
        ext = number(d, d.string(m, "extension", path), f"{path}.extension")
        if ext is not None and not in_plan(ext, plan):
            d.err(f"{path}.extension", f"not a number in the numbering plan {', '.join(series)}")
            ext = None
        mobile = number(d, d.string(m, "mobile", path), f"{path}.mobile")
        claim_number(ext, f"{path}.extension")
        claim_number(mobile, f"{path}.mobile")
        if ext is None and mobile is None and "extension" not in m and "mobile" not in m:
            d.err(path, "a user needs an extension or a mobile number")
        if "telephone_hours" in m:
            d.err(f"{path}.telephone_hours", "telephone hours only on group numbers (HAL-04)")
        if m.get("redirect", True) is not True:
            d.err(
                f"{path}.redirect",
                "redirection must be enabled on every personal subscription (HAL-01)",
            )
        pin = m.get("pin")  # checked with the rest of the voicemail rules (HAL-07)
        calendar = _calendar_ref(d, m.get("calendar"), f"{path}.calendar", root)
        covering = d.string(m, "covering", path)
        if covering:
            references.append((f"{path}.covering", covering, "covering point"))
        manager = d.string(m, "manager", path)
        if manager:
            references.append((f"{path}.manager", manager, "manager"))
        delegates = d.strings(m, "delegates", path)  # checked with the voicemail rules
        personal_id = m.get("personal_id")
        if personal_id is not None and not isinstance(personal_id, str):
            d.err(f"{path}.personal_id", "must be text in quotes")  # never echo the value
            personal_id = None
        if uid is None:
            continue
        users.append(
            User(
                id=uid,
                name=d.string(m, "name", path, required=True) or uid,
                extension=ext,
                mobile=mobile,
                title=d.string(m, "title", path) or "",
                email=d.string(m, "email", path) or "",
                unit=d.string(m, "unit", path) or "",
                calendar=calendar,
                mobile_follows_calendar=d.boolean(m, "mobile_follows_calendar", path, False),
                voicemail=d.boolean(m, "voicemail", path, False),
                covering=covering,
                personal_id=personal_id,
                keywords=d.strings(m, "keywords", path),
                mailbox=d.string(m, "mailbox", path) or _mailbox_for(ext, mobile, plan),
                pin=str(pin) if pin is not None else None,
                blocked=d.boolean(m, "blocked", path, False),
                international_unlocked=d.boolean(m, "international_unlocked", path, False),
                premium_unlocked=d.boolean(m, "premium_unlocked", path, False),
                redirect_enabled=True,
                delegates=delegates,
                manager=manager,
                cost_centre=d.string(m, "cost_centre", path) or "",
                visiting_address=d.string(m, "visiting_address", path) or "",
            )
        )

    groups: list[Group] = []
    for i, raw in enumerate(entries("groups")):
        path = f"groups[{i}]"
        m = d.mapping(raw, path, _GROUP_KEYS)
        if not m:
            continue
        gid = d.string(m, "id", path, required=True)
        claim_id(gid, f"{path}.id")
        num = number(d, d.string(m, "number", path, required=True), f"{path}.number")
        claim_number(num, f"{path}.number")
        hours = (
            hours_of(d.weekly_hours(m["telephone_hours"], f"{path}.telephone_hours"))
            if m.get("telephone_hours") is not None
            else None
        )
        members = d.strings(m, "members", path)
        for j, member in enumerate(members):
            references.append((f"{path}.members[{j}]", member, "group member"))
        if gid is None or num is None:
            continue
        groups.append(
            Group(
                id=gid,
                designation=d.string(m, "designation", path, required=True) or gid,
                number=num,
                members=members,
                telephone_hours=hours,
                unit=d.string(m, "unit", path) or "",
                on_call=d.boolean(m, "on_call", path, False),
                open_on_holidays=d.boolean(m, "open_on_holidays", path, False),
                **_non_personal(d, m, path),
            )
        )

    shared: list[SharedPhone] = []
    for i, raw in enumerate(entries("shared_phones")):
        path = f"shared_phones[{i}]"
        m = d.mapping(raw, path, _SHARED_KEYS)
        if not m:
            continue
        sid = d.string(m, "id", path, required=True)
        claim_id(sid, f"{path}.id")
        mob = number(d, d.string(m, "mobile", path, required=True), f"{path}.mobile")
        claim_number(mob, f"{path}.mobile")
        if "telephone_hours" in m:
            d.err(f"{path}.telephone_hours", "telephone hours only on group numbers (HAL-04)")
        if sid is None or mob is None:
            continue
        shared.append(
            SharedPhone(
                id=sid,
                designation=d.string(m, "designation", path, required=True) or sid,
                mobile=mob,
                unit=d.string(m, "unit", path) or "",
                blocked=d.boolean(m, "blocked", path, False),
                **_non_personal(d, m, path),
            )
        )

    user_ids = {u.id for u in users}
    group_ids = {g.id for g in groups}
    for path, ref, what in references:
        allowed = user_ids | group_ids if what == "covering point" else user_ids
        if ref not in allowed:
            d.err(path, f"unknown {what} {ref!r}")

    sections: dict[str, object] = {k: org_raw[k] for k in EXTENSION_SECTIONS if k in org_raw}
    settings: dict[str, object] = {}
    for key, parser in SECTION_PARSERS.items():
        parsed_settings, section_problems = parser(sections.get(key))
        settings[key] = parsed_settings
        for problem in section_problems:
            o.err(_p(key, problem.path) if problem.path else key, problem.message)

    sources = settings.get("calendar_sources")
    if isinstance(sources, CalendarSourcesSettings):
        for problem in check_user_calendars(sources, users):
            d.err(problem.path, problem.message)

    directory = Directory.build(tuple(users), tuple(groups), tuple(shared), switchboard, plan)
    for problem in check_voicemail(directory, vm_settings):
        checker = o if problem.path.startswith("voicemail") else d
        checker.err(problem.path, problem.message)
    for problem in [
        *covering_problems(directory, contact_centre),  # HAL-03
        *pin_problems(directory, vm_settings, plan),  # HAL-07, HAL-11
        *(handover_problems(previous, directory) if previous is not None else ()),  # HAL-11
    ]:
        d.err(problem.path, problem.message)
    warnings = [  # HAL-16
        f"{dir_doc.file}:{dir_doc.line(w.path)}: warning: {w.path}: {w.message}"
        for w in calendar_warnings(directory)
    ]

    if problems:
        raise ConfigError(problems)
    org = Organisation(
        id=org_id,
        name=name,
        code=code,
        folder=str(root.resolve()),
        timezone=tz,
        plan=plan,
        switchboard=switchboard or "",
        working_hours=working_hours or DEFAULT_HOURS,
        holidays=frozenset(holidays),
        policy=policy,
        directory=directory,
        data_dir=_data_dir(root.resolve(), org_id, o.string(org_raw, "data_dir", "")),
        voicemail_context=vm_settings.context,
    )
    return Config(org, rules, vm_settings, root.resolve(), sections, settings, tuple(warnings))


def _non_personal(c: Checker, m: dict[str, Any], path: str) -> dict[str, Any]:
    """HAL-10: what a group or shared phone may hold besides its designation."""
    if "personal_id" in m:  # never echo the value
        c.err(
            f"{path}.personal_id",
            "a group or shared phone never has a personal identity number (HAL-10): remove it",
        )
    return {
        "email": c.string(m, "email", path) or "",
        "cost_centre": c.string(m, "cost_centre", path) or "",
        "visiting_address": c.string(m, "visiting_address", path) or "",
        "keywords": c.strings(m, "keywords", path),
    }


def _calendar_ref(c: Checker, value: Any, path: str, root: Path) -> CalendarRef | None:
    if value is None:
        return None
    m = c.mapping(value, path, {"ics", "ics_url", "exchange", "graph", "caldav"})
    if len(m) != 1:
        if m:
            c.err(path, "choose exactly one of: ics, ics_url, exchange, graph, caldav")
        return None
    kind, location = next(iter(m.items()))
    if not isinstance(location, str) or not location.strip():
        c.err(f"{path}.{kind}", "must be text")
        return None
    if kind == "ics":
        if "\x00" in location:
            c.err(f"{path}.ics", "must not contain a NUL character")
            return None
        file = (root / location).resolve()
        if not file.is_relative_to(root.resolve()):  # no ../../etc/passwd, no link out
            c.err(f"{path}.ics", f"calendar file {location!r} is outside the organisation folder")
            return None
        if not file.is_file():
            c.err(f"{path}.ics", f"calendar file {location!r} does not exist")
            return None
        return CalendarRef("ics", str(file))
    if kind in ("ics_url", "caldav"):
        if not location.startswith(("http://", "https://")):
            c.err(f"{path}.{kind}", "must be an http:// or https:// address")
            return None
        if kind == "caldav" and not location.endswith("/"):
            location += "/"  # a collection URL: caldav compares it with the server's hrefs
        return CalendarRef("ics_url" if kind == "ics_url" else "caldav", location)
    if kind == "exchange":
        if "@" not in location:
            c.err(f"{path}.exchange", "must be a mailbox address")
            return None
        return CalendarRef("exchange", location)
    return CalendarRef("graph", location)


def normaliser(config: Config) -> Callable[[str], str | None]:
    """A number normaliser bound to the organisation's plan."""
    plan = config.org.plan
    return lambda number: normalise(number, plan)
