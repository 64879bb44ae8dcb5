"""What one intake pass did: the report, and the messages it set aside."""

from __future__ import annotations

from dataclasses import dataclass, field

from voicemail.models import PublicRecord
from voicemail.phonewatch import PhoneReport


def printable(text: str) -> str:
    """A file-system name as text every store and log can hold (undecodable bytes as \\xNN)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A spool message moved aside because it could not be read, with the reason."""

    label: str
    reason: str
    moved_to: str


@dataclass
class IntakeReport:
    """What one pass over the spool did."""

    taken: list[PublicRecord] = field(default_factory=list)
    already_registered: int = 0
    waiting: list[tuple[str, str]] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    unknown_mailboxes: set[str] = field(default_factory=set)
    kept: int = 0  # already in the register, unchanged in the owner's phone mailbox: skipped
    phone: PhoneReport | None = None  # what the owners did on the phone (keep mode)
