"""Voicemail settings and the public-record classification vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Classification(StrEnum):
    """How a registrar classifies a voicemail (ALV-16, ALV-17, REC-04)."""

    PUBLIC_REGISTERED = "public_registered"  # registered in the case system (case reference)
    PUBLIC_MINOR = "public_minor_importance"  # kept, not registered
    NOT_PUBLIC_INTERNAL = "not_public_internal"
    NOT_PUBLIC_PRIVATE = "not_public_private"
    NOT_PUBLIC_OTHER_CAPACITY = "not_public_other_capacity"


@dataclass(frozen=True, slots=True)
class DisposalRule:
    """Gallring: destroy audio of records with this classification N days after classification."""

    name: str
    classification: Classification
    days_after_classification: int


@dataclass(frozen=True, slots=True)
class VoicemailSettings:
    """The organisation's `voicemail:` section."""

    extension_users: bool = True  # ALV-12 global switch for users with an extension
    context: str = "default"  # app_voicemail context = spool sub-folder
    spool: str | None = None  # absolute spool path; None = <data_dir>/spool
    series: str = "RÖST"  # registration numbers: <ORG CODE>-<series>-<year>-<NNNNNN>
    disposal_rules: tuple[DisposalRule, ...] = ()
    registrars: tuple[str, ...] = ()  # user ids who classify and may play any message (ALV-14)


# --- added with issue 5 (voicemail intake and the public-records register) -------------------


class RecordStatus(StrEnum):
    """Where a record is in its life (REC-02, REC-04)."""

    AWAITING_CLASSIFICATION = "awaiting_classification"
    CLASSIFIED = "classified"
    DISPOSED = "disposed"  # audio destroyed under a disposal rule; metadata kept


@dataclass(frozen=True, slots=True)
class CallerId:
    """A callerid value as app_voicemail writes it: `"Name" <number>`, split."""

    raw: str
    name: str | None
    number: str | None  # digits as written by the platform, not yet E.164


@dataclass(frozen=True, slots=True)
class SpoolMessage:
    """One parsed `msgNNNN.txt` `[message]` section (Asterisk app_voicemail)."""

    fields: tuple[tuple[str, str], ...]  # every key=value in file order, for the record
    origtime: int  # epoch seconds: when the recording was stored (ALV-15)
    callerid: CallerId
    duration_s: int | None
    msg_id: str | None  # Asterisk 11+; "<epoch>-<8 hex digits>"
    origmailbox: str | None
    context: str | None
    exten: str | None

    def field(self, name: str) -> str | None:
        """The value of one `[message]` key, or None."""
        for key, value in self.fields:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class NewRecord:
    """What intake hands the register for one message, before it has a number."""

    intake_key: str  # "<context>/<mailbox>/<msg_id>", else "sha256:<audio>:<origtime>:<c/m>"
    msg_id: str | None
    arrived_at: datetime  # aware, UTC: origtime
    context: str
    mailbox: str  # spool folder (mailbox id)
    owner_id: str | None  # user id, None when the folder maps to no user
    caller_raw: str
    caller_number: str | None  # E.164 where valid, else as written
    caller_name: str | None
    duration_s: int | None
    sha256: str
    audio_bytes: int
    audio_format: str  # file extension as Asterisk wrote it, e.g. "wav"
    txt_sha256: str
    spool_fields: tuple[tuple[str, str], ...]
    # The recording this record is a copy of: the same key in several mailboxes (a message
    # left for `83012&83013`, or forwarded) marks one recording's copies. None: `intake_key`.
    recording_key: str | None = None


@dataclass(frozen=True, slots=True)
class PublicRecord:
    """A voicemail as an incoming document in the register (REC-01, REC-05)."""

    id: int
    registration_number: str
    intake_key: str
    msg_id: str | None
    arrived_at: datetime  # aware UTC instant
    registered_at: datetime
    context: str
    mailbox: str
    owner_id: str | None
    caller_raw: str
    caller_number: str | None
    caller_name: str | None
    duration_s: int | None
    sha256: str
    audio_bytes: int
    audio_format: str
    status: RecordStatus
    classification: Classification | None = None
    case_reference: str | None = None
    summary: str | None = None
    classified_at: datetime | None = None
    classified_by: str | None = None
    hidden_from_owner: bool = False
    first_heard_at: datetime | None = None
    disposed_at: datetime | None = None
    disposal_rule: str | None = None
    recording_key: str | None = None  # shared by the copies of one recording (see NewRecord)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One link of the append-only, hash-chained audit trail (REC-03, ALV-14)."""

    seq: int
    at: datetime
    actor: str
    action: str
    record_id: int | None
    before: Mapping[str, object] | None
    after: Mapping[str, object] | None
    prev_hash: str
    hash: str
