"""The inbox's shapes: a message as the API returns it and the page shows it, the owner's
greeting, a user's greeting for the administrator; the greeting choice's schema."""

from __future__ import annotations

from dataclasses import dataclass

GREETING_CHOICES = ("generated", "uploaded", "phone")
CHOICE_BODY = {
    "type": "object",
    "required": ["choice"],
    "properties": {"choice": {"type": "string", "enum": list(GREETING_CHOICES)}},
}


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One message of the owner's or a delegator's mailbox."""

    id: int
    registration_number: str
    arrived_local: str
    arrived_at: str
    caller_number: str  # national form, or "okänt nummer"
    caller_name: str | None
    duration_s: int | None
    heard: bool
    heard_at: str | None
    status: str
    classification: str | None
    registered: bool
    register_state: str  # in Swedish (REC-02)
    owner_id: str
    owner_name: str
    mine: bool
    phone_folder: str | None
    audio: str | None  # the audited playback path; None once disposed

    def as_json(self) -> dict[str, object]:
        """GET /api/inbox's message."""
        return {
            "id": self.id,
            "registration_number": self.registration_number,
            "arrived_local": self.arrived_local,
            "arrived_at": self.arrived_at,
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "duration_s": self.duration_s,
            "heard": self.heard,
            "heard_at": self.heard_at,
            "status": self.status,
            "classification": self.classification,
            "registered": self.registered,
            "register_state": self.register_state,
            "owner_id": self.owner_id,
            "owner_name": self.owner_name,
            "mine": self.mine,
            "phone_folder": self.phone_folder,
            "audio": self.audio,
        }


@dataclass(frozen=True, slots=True)
class GreetingView:
    """The owner's greeting: the choice, what is recorded, the generated text."""

    choice: str
    has_uploaded: bool
    has_phone: bool
    generated_text: str
    updated_at: str | None

    def as_json(self) -> dict[str, object]:
        """GET /api/me/greeting."""
        return {
            "choice": self.choice,
            "has_uploaded": self.has_uploaded,
            "has_phone": self.has_phone,
            "generated_text": self.generated_text,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class GreetingUser:
    """ALV-11: a user with a mailbox and the greeting callers hear."""

    user_id: str
    name: str
    choice: str
    generated: bool

    def as_json(self) -> dict[str, object]:
        """GET /api/admin/greetings's user."""
        return {
            "user_id": self.user_id,
            "name": self.name,
            "choice": self.choice,
            "generated": self.generated,
        }
