"""The switches read and changed: the voicemail switch (ALV-12) and every user's switches
(ALV-05, ALV-10, ALV-19), one user at a time or many at once; every change audited with who,
when, before and after (issue 20). Blocking goes through the contact centre's path (ALV-21,
HAL-12)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from routing.effective import GLOBAL_VOICEMAIL, USER_SWITCHES
from routing.models import SharedPhone, User
from switchboard.web.auth import Account
from switchboard.web.errors import Forbidden, InvalidField, UnknownUser
from switchboard.web.features.admin.schemas import Switches, UserSwitches
from switchboard.web.features.contact_centre.service import require_unit_admin, set_blocked
from switchboard.web.http import bool_field
from switchboard.web.services import WebServices
from switchboard.web.store import SwitchChange

BULK_SWITCHES = ("voicemail", "mobile_follows_calendar", "international_unlocked")


def switches(svc: WebServices) -> Switches:
    """The voicemail switch (ALV-12) and every user's switches (ALV-05, ALV-10, ALV-19)."""
    org = svc.org()
    return Switches(
        voicemail_extension_users=org.policy.voicemail_extension_users,
        international_calls=org.policy.international_calls,
        users=[
            UserSwitches(
                id=u.id,
                name=u.name,
                voicemail=u.voicemail,
                mobile_follows_calendar=u.mobile_follows_calendar,
                international_unlocked=u.international_unlocked,
                blocked=u.blocked,
            )
            for u in sorted(org.directory.users, key=lambda u: u.name)
        ],
    )


def voicemail_for_all(svc: WebServices) -> bool:
    """The ALV-12 switch as it is in force."""
    default = svc.config.org.policy.voicemail_extension_users
    return svc.store.overrides().get(("", GLOBAL_VOICEMAIL), default)


def switch_value(
    overrides: Mapping[tuple[str, str], bool], entry: User | SharedPhone, name: str
) -> bool:
    """One switch of a user or shared phone as in force: the administrators' value, else the
    directory's."""
    value = overrides.get((entry.id, name))
    return bool(getattr(entry, name, False)) if value is None else value


def require_whole_organisation(acct: Account) -> None:
    """HAL-12: an organisation-wide switch is for an administrator of every unit."""
    if acct.units:
        raise Forbidden(
            "du administrerar bara " + ", ".join(sorted(acct.units)) + "; be en administratör"
            " för hela organisationen att ändra röstbrevlådan för alla"
        )


async def set_voicemail_for_all(svc: WebServices, enabled: bool, by: str) -> None:
    """ALV-12: voicemail for every extension user, on or off; audited; every board row is told.
    The caller checks `require_whole_organisation` first."""
    before = voicemail_for_all(svc)
    await svc.store.set_switches([("", GLOBAL_VOICEMAIL, before, enabled)], by, svc.now(), "org")
    for u in svc.config.directory.users:
        svc.store.hub.publish(u.id)


async def set_user_switches(
    svc: WebServices, user_id: str, by: str, data: dict[str, object]
) -> None:
    """Persist the given per-user switches (audited, before -> after)."""
    user = svc.config.directory.user(user_id)
    if user is None:
        raise UnknownUser(user_id)
    unknown = set(data) - set(USER_SWITCHES)
    if unknown:
        raise InvalidField(sorted(unknown)[0], "unknown switch")
    values = {name: bool_field(data, name) for name in USER_SWITCHES}
    if all(v is None for v in values.values()):
        raise InvalidField("switches", f"give at least one of {', '.join(USER_SWITCHES)}")
    overrides = svc.store.overrides()
    rows = [
        (user_id, name, switch_value(overrides, user, name), value)
        for name, value in values.items()
        if value is not None
    ]
    await svc.store.set_switches(rows, by, svc.now(), "user")


async def change_user_switches(
    svc: WebServices, acct: Account, user_id: str, data: dict[str, object]
) -> None:
    """A scoped administrator changes a user's switches; `blocked` tells the contact centre."""
    require_unit_admin(svc, acct, user_id)  # HAL-12: a scoped administrator, own units only
    blocked = bool_field(data, "blocked")
    if blocked is not None:  # ALV-21 through the path that tells the contact centre (HAL-12)
        await set_blocked(svc, acct, user_id, blocked, None)
        data = {k: v for k, v in data.items() if k != "blocked"}
    if data or blocked is None:
        await set_user_switches(svc, user_id, acct.user_id, data)


async def set_for_many(
    svc: WebServices, acct: Account, users: Sequence[User], name: str, value: bool
) -> int:
    """Set one switch for many users at once (one transaction, each audited as a bulk change);
    only users of units `acct` administers (HAL-12). How many changed value."""
    if name not in BULK_SWITCHES:
        raise InvalidField("installning", "välj röstbrevlåda, mobilen eller utlandssamtal")
    for u in users:
        require_unit_admin(svc, acct, u.id)
    overrides = svc.store.overrides()
    rows = [(u.id, name, switch_value(overrides, u, name), value) for u in users]
    await svc.store.set_switches(rows, acct.user_id, svc.now(), "bulk")
    return sum(1 for _, _, before, after in rows if before is not after)


async def history(
    svc: WebServices, acct: Account, limit: int, offset: int
) -> tuple[int, list[SwitchChange]]:
    """The switches' audit, newest first: how many changes, and this page of them; a
    unit-scoped administrator sees the changes of their units' users and phones (HAL-12)."""
    targets: list[str] | None = None
    if acct.units:
        d = svc.config.directory
        entries: list[User | SharedPhone] = [*d.users, *d.shared_phones]
        targets = [e.id for e in entries if acct.administers(e.unit)]
    return await svc.store.switch_changes(limit, offset, targets)
