"""The contact centre's shapes: a block changed, an assisted call; the request bodies' schemas
and the roles of its endpoints."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.web.auth import Role

CONTACT = frozenset({Role.CONTACT_CENTRE})
CONTACT_ADMIN = frozenset({Role.CONTACT_CENTRE, Role.ADMIN})
_STR = {"type": "string"}
BLOCKED_BODY = {
    "type": "object",
    "required": ["blocked"],
    "properties": {"blocked": {"type": "boolean"}, "note": _STR},
}
ASSISTED_BODY = {
    "type": "object",
    "required": ["user", "to"],
    "properties": {"user": _STR, "to": _STR},
}


@dataclass(frozen=True, slots=True)
class BlockChange:
    """A phone blocked or unblocked, and who was told."""

    id: str
    blocked: bool
    notified: list[str]

    def as_json(self) -> dict[str, object]:
        """PUT /api/admin/phones/{entry_id}/blocked."""
        return {"id": self.id, "blocked": self.blocked, "notified": self.notified}


@dataclass(frozen=True, slots=True)
class AssistedCall:
    """ALV-26: an international call requested for a user; the agent connects it."""

    id: int
    call_id: str
    user: str
    from_number: str
    to: str
    placed_by: str
    status: str

    def as_json(self) -> dict[str, object]:
        """POST /api/contact-centre/assisted-calls."""
        return {
            "id": self.id,
            "call_id": self.call_id,
            "user": self.user,
            "from": self.from_number,
            "to": self.to,
            "placed_by": self.placed_by,
            "status": self.status,
            "originated": False,  # no Originate in the telephony layer: the agent connects it
        }
