"""The switches as the API returns them and the page shows them; the request bodies' schemas."""

from __future__ import annotations

from dataclasses import dataclass

SWITCH_NAMES = ("voicemail", "mobile_follows_calendar", "international_unlocked")
_BOOL = {"type": "boolean"}
VOICEMAIL_BODY = {"type": "object", "required": ["enabled"], "properties": {"enabled": _BOOL}}
SWITCHES_BODY = {"type": "object", "properties": {n: _BOOL for n in SWITCH_NAMES}}


@dataclass(frozen=True, slots=True)
class UserSwitches:
    """One user's switches as they are in force."""

    id: str
    name: str
    voicemail: bool
    mobile_follows_calendar: bool
    international_unlocked: bool
    blocked: bool

    def as_json(self) -> dict[str, object]:
        """The API's object."""
        return {
            "id": self.id,
            "name": self.name,
            "voicemail": self.voicemail,
            "mobile_follows_calendar": self.mobile_follows_calendar,
            "international_unlocked": self.international_unlocked,
            "blocked": self.blocked,
        }


@dataclass(frozen=True, slots=True)
class Switches:
    """The voicemail switch (ALV-12), international calls, and every user's switches by name."""

    voicemail_extension_users: bool
    international_calls: str  # "blocked" or "allowed"
    users: list[UserSwitches]

    def as_json(self) -> dict[str, object]:
        """GET /api/admin/switches."""
        return {
            "voicemail_extension_users": self.voicemail_extension_users,
            "international_calls": self.international_calls,
            "users": [u.as_json() for u in self.users],
        }
