"""directory.yaml: users, groups and shared phones, with their numbers checked against the
numbering plan, ids and numbers unique, and references (covering points, managers, group
members) pointing at someone who exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routing.models import CalendarRef, Group, NumberingPlan, SharedPhone, User, hours_of
from routing.numbers import in_plan
from storage.yamlcheck import Checker
from switchboard.config.organisation import Identity, checked_number

DIRECTORY_KEYS = {"users", "groups", "shared_phones"}
USER_KEYS = {
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
GROUP_KEYS = {
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
SHARED_KEYS = {"id", "designation", "mobile", "unit", "blocked", "telephone_hours"}
SHARED_KEYS |= _NON_PERSONAL_KEYS
_CALENDAR_KINDS = {"ics", "ics_url", "exchange", "graph", "caldav"}


@dataclass(frozen=True, slots=True)
class Entries:
    """The directory's entries, in file order."""

    users: tuple[User, ...]
    groups: tuple[Group, ...]
    shared_phones: tuple[SharedPhone, ...]


def parse_directory(c: Checker, raw: dict[str, Any], identity: Identity, root: Path) -> Entries:
    """Users, then groups, then shared phones; then every reference is resolved."""
    reader = _Reader(c, raw, identity, root)
    if identity.switchboard:
        reader.numbers[identity.switchboard] = "switchboard"
    entries = Entries(reader.users(), reader.groups(), reader.shared_phones())
    user_ids = {u.id for u in entries.users}
    group_ids = {g.id for g in entries.groups}
    for path, ref, what in reader.references:
        allowed = user_ids | group_ids if what == "covering point" else user_ids
        if ref not in allowed:
            c.err(path, f"unknown {what} {ref!r}")
    return entries


@dataclass
class _Reader:
    c: Checker
    raw: dict[str, Any]
    identity: Identity
    root: Path
    ids: dict[str, str] = field(default_factory=dict)  # id -> where it was first seen
    numbers: dict[str, str] = field(default_factory=dict)  # number -> where it was first seen
    references: list[tuple[str, str, str]] = field(default_factory=list)  # (path, id, what)

    @property
    def plan(self) -> NumberingPlan:
        return self.identity.plan

    def claim_id(self, value: str | None, path: str) -> None:
        if value is None:
            return
        if value in self.ids:
            self.c.err(path, f"duplicate id {value!r} (also at {self.ids[value]})")
        else:
            self.ids[value] = path

    def claim_number(self, value: str | None, path: str) -> None:
        if value is None:
            return
        if value in self.numbers:
            self.c.err(path, f"duplicate number {value} (also at {self.numbers[value]})")
        else:
            self.numbers[value] = path

    def number(self, m: dict[str, Any], key: str, path: str, required: bool = False) -> str | None:
        value = self.c.string(m, key, path, required=required)
        return checked_number(self.c, value, f"{path}.{key}", self.plan)

    def entries(self, key: str) -> list[Any]:
        value = self.raw.get(key) or []
        if not isinstance(value, list):
            self.c.err(key, "must be a list")
            return []
        return value

    def users(self) -> tuple[User, ...]:
        users: list[User] = []
        for i, raw in enumerate(self.entries("users")):
            user = self.user(raw, f"users[{i}]")
            if user is not None:
                users.append(user)
        return tuple(users)

    def user(self, raw: Any, path: str) -> User | None:
        d = self.c
        m = d.mapping(raw, path, USER_KEYS)
        if not m:
            return None
        uid = d.string(m, "id", path, required=True)
        self.claim_id(uid, f"{path}.id")
        ext = self.number(m, "extension", path)
        if ext is not None and not in_plan(ext, self.plan):
            series = ", ".join(self.identity.series)
            d.err(f"{path}.extension", f"not a number in the numbering plan {series}")
            ext = None
        mobile = self.number(m, "mobile", path)
        self.claim_number(ext, f"{path}.extension")
        self.claim_number(mobile, f"{path}.mobile")
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
        calendar = calendar_ref(d, m.get("calendar"), f"{path}.calendar", self.root)
        covering = d.string(m, "covering", path)
        if covering:
            self.references.append((f"{path}.covering", covering, "covering point"))
        manager = d.string(m, "manager", path)
        if manager:
            self.references.append((f"{path}.manager", manager, "manager"))
        delegates = d.strings(m, "delegates", path)  # checked with the voicemail rules
        personal_id = m.get("personal_id")
        if personal_id is not None and not isinstance(personal_id, str):
            d.err(f"{path}.personal_id", "must be text in quotes")  # never echo the value
            personal_id = None
        if uid is None:
            return None
        return User(
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
            mailbox=d.string(m, "mailbox", path) or mailbox_for(ext, mobile, self.plan),
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

    def groups(self) -> tuple[Group, ...]:
        d = self.c
        groups: list[Group] = []
        for i, raw in enumerate(self.entries("groups")):
            path = f"groups[{i}]"
            m = d.mapping(raw, path, GROUP_KEYS)
            if not m:
                continue
            gid = d.string(m, "id", path, required=True)
            self.claim_id(gid, f"{path}.id")
            num = self.number(m, "number", path, required=True)
            self.claim_number(num, f"{path}.number")
            hours = (
                hours_of(d.weekly_hours(m["telephone_hours"], f"{path}.telephone_hours"))
                if m.get("telephone_hours") is not None
                else None
            )
            members = d.strings(m, "members", path)
            for j, member in enumerate(members):
                self.references.append((f"{path}.members[{j}]", member, "group member"))
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
        return tuple(groups)

    def shared_phones(self) -> tuple[SharedPhone, ...]:
        d = self.c
        shared: list[SharedPhone] = []
        for i, raw in enumerate(self.entries("shared_phones")):
            path = f"shared_phones[{i}]"
            m = d.mapping(raw, path, SHARED_KEYS)
            if not m:
                continue
            sid = d.string(m, "id", path, required=True)
            self.claim_id(sid, f"{path}.id")
            mob = self.number(m, "mobile", path, required=True)
            self.claim_number(mob, f"{path}.mobile")
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
        return tuple(shared)


def mailbox_for(extension: str | None, mobile: str | None, plan: NumberingPlan) -> str | None:
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


def calendar_ref(c: Checker, value: Any, path: str, root: Path) -> CalendarRef | None:
    """A user's `calendar:`: exactly one of an ICS file inside the folder, an ICS or CalDAV
    address, an Exchange mailbox or a Graph user."""
    if value is None:
        return None
    m = c.mapping(value, path, _CALENDAR_KINDS)
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
