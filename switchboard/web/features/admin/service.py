"""The switches read and changed: the voicemail switch (ALV-12) and every user's switches
(ALV-05, ALV-10, ALV-19); blocking goes through the contact centre's path (ALV-21, HAL-12)."""

from __future__ import annotations

from routing.effective import GLOBAL_VOICEMAIL, USER_SWITCHES
from switchboard.web.auth import Account
from switchboard.web.errors import InvalidField, UnknownUser
from switchboard.web.features.admin.schemas import Switches, UserSwitches
from switchboard.web.features.contact_centre.service import require_unit_admin, set_blocked
from switchboard.web.http import bool_field
from switchboard.web.services import WebServices


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


async def set_voicemail_for_all(svc: WebServices, enabled: bool, by: str) -> None:
    """ALV-12: voicemail for every extension user, on or off; every board row is told."""
    await svc.store.set_override("", GLOBAL_VOICEMAIL, enabled, by, svc.now())
    for u in svc.config.directory.users:
        svc.store.hub.publish(u.id)


async def set_user_switches(
    svc: WebServices, user_id: str, by: str, data: dict[str, object]
) -> None:
    """Persist the given per-user switches."""
    if svc.config.directory.user(user_id) is None:
        raise UnknownUser(user_id)
    unknown = set(data) - set(USER_SWITCHES)
    if unknown:
        raise InvalidField(sorted(unknown)[0], "unknown switch")
    values = {name: bool_field(data, name) for name in USER_SWITCHES}
    if all(v is None for v in values.values()):
        raise InvalidField("switches", f"give at least one of {', '.join(USER_SWITCHES)}")
    for name, value in values.items():
        if value is not None:
            await svc.store.set_override(user_id, name, value, by, svc.now())


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
