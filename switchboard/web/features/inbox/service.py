"""The inbox read and changed: the owner's and delegates' messages (ALV-23; messages follow the
user who held the mailbox when they arrived, never the number, HAL-08), and the owner's own
greeting (ALV-11) and who still has the generated one."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from routing.models import Directory
from routing.numbers import national_format
from switchboard.web.features.inbox.schemas import GreetingUser, GreetingView, InboxMessage
from switchboard.web.features.registry.service import register_of
from switchboard.web.features.registry.words import CLASSIFICATION_TEXT
from switchboard.web.paging import Page, page_of
from switchboard.web.services import WebServices
from voicemail import owner, policy
from voicemail.models import Classification, PublicRecord, RecordStatus
from voicemail.owner_greeting import GreetingState, OwnerGreetings, greetings_of


def numbers_of(directory: Directory) -> dict[str, str]:
    """Directory numbers (extension, mobile) to their holder's name."""
    out: dict[str, str] = {}
    for u in directory.users:
        for number in (u.extension, u.mobile):
            if number:
                out.setdefault(number, u.name)
    return out


def caller_text(record: PublicRecord, names: dict[str, str]) -> tuple[str, str | None]:
    """The caller's number in national form and a name where one is known (the callerid, else
    the directory's holder of that number)."""
    number = record.caller_number or ""
    shown = national_format(number) if number.startswith("+") else number
    return shown or "okänt nummer", record.caller_name or names.get(number)


def register_state(record: PublicRecord) -> str:
    """Where the record is in registration, in Swedish (REC-02)."""
    if record.status is RecordStatus.DISPOSED:
        return "Gallrad"
    if record.classification is Classification.PUBLIC_REGISTERED:
        return f"Diarieförd ({record.case_reference})" if record.case_reference else "Diarieförd"
    if record.classification is not None:
        return CLASSIFICATION_TEXT.get(record.classification, record.classification.value)
    return "Väntar på registratorn"


def message(item: owner.InboxItem, svc: WebServices, names: dict[str, str]) -> InboxMessage:
    """One message for the API and the page."""
    r, org = item.record, svc.config.org
    number, name = caller_text(r, names)
    holder = org.directory.user(item.owner_id)
    return InboxMessage(
        id=r.id,
        registration_number=r.registration_number,
        arrived_local=r.arrived_at.astimezone(org.timezone).strftime("%Y-%m-%d %H.%M"),
        arrived_at=r.arrived_at.isoformat(),
        caller_number=number,
        caller_name=name,
        duration_s=r.duration_s,
        heard=r.first_heard_at is not None,
        heard_at=r.first_heard_at.isoformat() if r.first_heard_at else None,
        status=r.status.value,
        classification=r.classification.value if r.classification else None,
        registered=r.classification is Classification.PUBLIC_REGISTERED,
        register_state=register_state(r),
        owner_id=item.owner_id,
        owner_name=holder.name if holder else item.owner_id,
        mine=item.mine,
        phone_folder=item.phone_folder,
        audio=None if r.status is RecordStatus.DISPOSED else f"/api/registry/records/{r.id}/audio",
    )


async def inbox(svc: WebServices, user_id: str, limit: int) -> list[InboxMessage]:
    """The signed-in user's inbox, newest first."""
    items = await owner.inbox(register_of(svc), user_id, limit)
    names = numbers_of(svc.config.org.directory)
    return [message(i, svc, names) for i in items]


@dataclass(frozen=True, slots=True)
class InboxPage:
    """One page of the inbox (newest first) and what the page says of all of it."""

    messages: list[InboxMessage]
    page: Page
    unheard: int  # of all the messages, not only this page's
    any_delegated: bool  # some message is another owner's (the page shows whose)


async def inbox_page(
    svc: WebServices, user_id: str, limit: int, page: int, per_page: int
) -> InboxPage:
    """Page `page` of the user's inbox (at most `limit` messages in all): only this page's
    messages are made for the page, the counts are of all."""
    items = await owner.inbox(register_of(svc), user_id, limit)
    pg = page_of(len(items), page, per_page)
    names = numbers_of(svc.config.org.directory)
    return InboxPage(
        [message(i, svc, names) for i in pg.of(items)],
        pg,
        sum(1 for i in items if i.record.first_heard_at is None),
        any(not i.mine for i in items),
    )


# ---------------------------------------------------------------- ALV-11 the owner's greeting


def greetings(svc: WebServices) -> OwnerGreetings:
    """The register's owners' greetings (shared with the calls)."""
    return greetings_of(register_of(svc))


def greeting_view(state: GreetingState, svc: WebServices, user_id: str) -> GreetingView:
    """The owner's greeting, with the generated text."""
    user = svc.config.directory.user(user_id)
    return GreetingView(
        choice=state.choice,
        has_uploaded=state.uploaded_sha256 is not None,
        has_phone=state.phone_sha256 is not None,
        generated_text=policy.default_greeting(user.name if user else user_id, svc.config.org.name),
        updated_at=state.updated_at.isoformat() if state.updated_at else None,
    )


async def greeting_users(
    svc: WebServices, among: Collection[str] | None = None
) -> list[GreetingUser]:
    """ALV-11: every user with a mailbox and the greeting callers hear (only the users of ids
    `among`, when given)."""
    reg = register_of(svc)
    org = svc.org()
    states = await greetings(svc).states()
    out: list[GreetingUser] = []
    for u in org.directory.users:
        if among is not None and u.id not in among:
            continue
        if not policy.has_mailbox(u, reg.settings):
            continue
        state = states.get(u.id, GreetingState(u.id, "generated"))
        out.append(GreetingUser(u.id, u.name, state.choice, state.chosen_sha256 is None))
    return out
