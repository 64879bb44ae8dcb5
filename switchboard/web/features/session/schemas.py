"""The session's shapes: who is signed in (GET /api/me) and the login body's schema."""

from __future__ import annotations

from dataclasses import dataclass

LOGIN_BODY = {
    "type": "object",
    "required": ["user", "password"],
    "properties": {"user": {"type": "string"}, "password": {"type": "string"}},
}


@dataclass(frozen=True, slots=True)
class Me:
    """Who is signed in, their roles and the CSRF token for cookie-borne changes."""

    user: str
    name: str
    roles: list[str]
    expires: str
    csrf: str

    def as_json(self) -> dict[str, object]:
        """GET /api/me."""
        return {
            "user": self.user,
            "name": self.name,
            "roles": self.roles,
            "expires": self.expires,
            "csrf": self.csrf,
        }
