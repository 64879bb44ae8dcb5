"""The mailbox owner's side of the register: their messages and their delegates' view.

ALV-23: the owner (and their delegates) see and play their messages on the web as on the
phone; HAL-08: a message belongs to the user who held the mailbox when it arrived
(`owner_id`, set at intake), never to whoever holds the number now; REC-04: what the owner
deleted (on the phone or the web) is hidden from them and their delegates, the register keeps
it. Playing goes through `Register.play` (ALV-14: checked and audited).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from routing.models import Directory
from voicemail import policy
from voicemail.errors import NotPermitted
from voicemail.models import PublicRecord
from voicemail.phonewatch import rows_in
from voicemail.register import RecordFilter
from voicemail.service import Register


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One message as its owner or a delegate sees it."""

    record: PublicRecord
    owner_id: str
    mine: bool  # the viewer's own mailbox (else a delegate's view)
    phone_folder: str | None  # where the phone mailbox holds it (INBOX, Old …), None if not


def watched_owners(actor: str, directory: Directory) -> list[str]:
    """Whose messages `actor` sees: their own, then those who named them delegate."""
    others = sorted(u.id for u in directory.users if actor in u.delegates and u.id != actor)
    return [actor, *others]


async def phone_folders(register: Register, ids: Sequence[int]) -> dict[int, str]:
    """Where the phone mailbox holds these records now (ALV-23)."""
    if not ids:
        return {}
    # the ids as text: one membership test that serves both engines
    sql = (
        "SELECT record_id, folder FROM phone_copies"
        " WHERE folder IS NOT NULL AND CAST(record_id AS TEXT) {in}"
    )
    rows = await rows_in(register.store, sql, (), [str(i) for i in ids])
    return {int(r[0]): str(r[1]) for r in rows}


async def inbox(register: Register, actor: str, limit: int | None = None) -> list[InboxItem]:
    """The messages `actor` may see as owner or delegate, newest first (not hidden ones)."""
    items: list[InboxItem] = []
    for owner_id in watched_owners(actor, register.org.directory):
        where = RecordFilter(
            owner_id=owner_id, include_hidden=False, oldest_first=False, limit=limit
        )
        for record in await register.store.records(where):
            items.append(InboxItem(record, owner_id, owner_id == actor, None))
    items.sort(key=lambda i: (i.record.arrived_at, i.record.id), reverse=True)
    if limit is not None:
        items = items[:limit]
    folders = await phone_folders(register, [i.record.id for i in items])
    return [InboxItem(i.record, i.owner_id, i.mine, folders.get(i.record.id)) for i in items]


def _require_owner_side(actor: str, record: PublicRecord, directory: Directory) -> None:
    """Only the owner and their delegates act on the owner's side (ALV-14)."""
    if record.hidden_from_owner or not policy.counts_as_heard(actor, record, directory):
        raise NotPermitted(
            actor,
            "mark heard",
            record.registration_number,
            "only the mailbox owner and their delegates mark a message heard",
        )


async def mark_heard(register: Register, ref: str | int, actor: str, now: datetime) -> PublicRecord:
    """ALV-13/ALV-23: the owner or a delegate marks a message heard on the web (audited)."""
    record = await register.get(ref)
    _require_owner_side(actor, record, register.org.directory)
    note = {"via": "webben", "by": actor}
    if record.first_heard_at is None:
        return await register.store.update_record(
            record.id, {"first_heard_at": now}, actor, "record.marked_heard", now, note
        )
    await register.store.append_event(actor, "record.marked_heard", record.id, None, note, now)
    return record
