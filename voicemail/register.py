"""The register of voicemails as public records (allmän handling): what a store offers.

`RegisterStore` is the interface every engine implements (`voicemail.store.SqliteStore`,
`voicemail.store_pg.PostgresStore`); `RecordFilter` is how the registrar's queue, the owner's
inbox and the exports ask for records; times are stored as fixed-width UTC text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from voicemail.models import (
    AuditEvent,
    Classification,
    NewRecord,
    PublicRecord,
    RecordStatus,
)

SYSTEM_ACTOR = "system:intake"
MIGRATION_ACTOR = "system:migration"


def to_db_time(dt: datetime) -> str:
    """An aware datetime as fixed-width UTC text, so text order is time order."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime given to the register")
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(text: str | None) -> datetime | None:
    """Inverse of `to_db_time`."""
    return datetime.fromisoformat(text) if text else None


def must_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records `RegisterStore.records` returns (all conditions must hold)."""

    owner_id: str | None = None
    status: RecordStatus | None = None
    classification: Classification | None = None
    classified_before: datetime | None = None
    include_hidden: bool = True
    hidden_only: bool = False  # only those the owner deleted (hidden, still kept: REC-04)
    unheard_only: bool = False
    year: int | None = None
    arrived_from: datetime | None = None  # inclusive
    arrived_before: datetime | None = None  # exclusive
    text: str | None = None  # in the number, caller, owner, case or summary (case-blind, ASCII)
    text_number: str | None = None  # the search as E.164, also matched against the caller
    text_owners: tuple[str, ...] = ()  # owners whose name the search matched, also matched
    registration_number: str | None = None  # exactly this one (its unique index)
    limit: int | None = None
    offset: int = 0
    oldest_first: bool = True
    recording_key: str | None = None  # the copies of one recording


class RegisterStore(Protocol):
    """Storage of records, registration-number series and the audit chain."""

    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    async def close(self) -> None:
        """Close the connection."""

    @property
    def where(self) -> str:
        """Where the register lives, without secrets (for messages)."""

    async def schema_version(self) -> int:
        """The highest migration applied."""

    async def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these intake keys are already registered."""

    async def known_messages(
        self, context: str, messages: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which of these (mailbox, msg_id) pairs of the context are already registered."""

    async def known_txts(
        self, context: str, txts: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which of these (mailbox, `msgNNNN.txt` SHA-256) pairs belong to registered records."""

    async def register_id(self) -> str:
        """The register's identity (made once, when the database is created)."""

    async def integrity_problems(self, full: bool = False) -> list[str]:
        """What the engine's own consistency check finds wrong (empty when nothing)."""

    async def record_contents(self) -> list[dict[str, object]]:
        """Every record row as stored: `id` and the `CONTENT_COLUMNS`, in id order."""

    async def add_records(
        self, items: Sequence[tuple[NewRecord, int]], prefix: str, actor: str, now: datetime
    ) -> list[PublicRecord]:
        """Insert new records with gapless numbers (prefix, year) and audit events, atomically."""

    async def get(self, record_id: int) -> PublicRecord | None:
        """One record by its internal id."""

    async def get_by_number(self, registration_number: str) -> PublicRecord | None:
        """One record by its registration number."""

    async def records(self, where: RecordFilter) -> list[PublicRecord]:
        """Records matching the filter, ordered by arrival."""

    async def count(self, status: RecordStatus | None = None) -> int:
        """How many records (with this status)."""

    async def count_matching(self, where: RecordFilter) -> int:
        """How many records the filter matches (its limit and offset aside)."""

    async def update_record(
        self,
        record_id: int,
        changes: Mapping[str, object],
        actor: str,
        action: str,
        now: datetime,
        note: Mapping[str, object] | None = None,
    ) -> PublicRecord:
        """Change fields of one record and append the audit event with before/after, atomically."""

    async def append_event(
        self,
        actor: str,
        action: str,
        record_id: int | None,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
        now: datetime,
    ) -> AuditEvent:
        """Append one audit event (e.g. a playback) to the chain."""

    async def events(self, record_id: int | None = None) -> list[AuditEvent]:
        """The audit trail in order (all of it, or one record's events)."""

    async def audit_head(self) -> str:
        """The hash of the last event, as stored beside the trail."""
