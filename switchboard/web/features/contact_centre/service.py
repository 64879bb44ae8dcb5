"""The contact centre's side (Medborgarservice): lost phones blocked by (unit) administrators and
the notices that follow (HAL-12), the directory history (HAL-13), and international calls placed
for a user without the unlock (ALV-26).

There is no Originate in the telephony layer: an assisted call is recorded as a request in the
call log (caller = the user's number, called = the destination, outcome `assisted_request`) and
in `assisted_calls`; the contact-centre agent connects it from their own phone.
"""

from __future__ import annotations

import logging
import secrets

from routing.models import NumberKind, SharedPhone, User
from routing.numbers import classify
from switchboard.directory_history import record_directory
from switchboard.telephony.calllog import CallEntry
from switchboard.web.auth import Account
from switchboard.web.errors import Forbidden, InvalidField, UnknownUser
from switchboard.web.features.calls.service import call_log
from switchboard.web.features.contact_centre.schemas import AssistedCall, BlockChange
from switchboard.web.http import text_field
from switchboard.web.services import WebServices

log = logging.getLogger("switchboard.web")
CONTACT_CENTRE = "contact_centre"  # the notices' recipient for Medborgarservice


# ---------------------------------------------------------------- HAL-12 blocking a lost phone


def phone_of(svc: WebServices, entry_id: str) -> User | SharedPhone:
    """A user (their subscriptions) or a shared phone, by id."""
    entry = svc.org().directory.by_id.get(entry_id)
    if not isinstance(entry, User | SharedPhone):
        raise UnknownUser(entry_id)
    return entry


def require_unit_admin(svc: WebServices, acct: Account, entry_id: str) -> None:
    """HAL-12: Forbidden (in Swedish) unless `acct` administers the entry's unit."""
    entry = phone_of(svc, entry_id)
    if not acct.administers(entry.unit):
        raise Forbidden(
            f"du administrerar inte enheten {entry.unit or '(ingen enhet)'}; be enhetens "
            "telefoniadministratör eller en administratör för hela organisationen"
        )


async def set_blocked(
    svc: WebServices, acct: Account, entry_id: str, blocked: bool, note: str | None
) -> BlockChange:
    """ALV-21 / HAL-12: block or unblock; only an administrator of the phone's unit; the
    contact centre and the mobile officer are told."""
    require_unit_admin(svc, acct, entry_id)
    entry = phone_of(svc, entry_id)
    now = svc.now()
    before = svc.store.overrides().get((entry_id, "blocked"), entry.blocked)
    # audited with who, when and before -> after (issue 20)
    await svc.store.set_switches(
        [(entry_id, "blocked", before, blocked)], acct.user_id, now, "user"
    )
    svc.store.hub.publish(entry_id)
    by = svc.config.directory.user(acct.user_id)
    what = entry.name if isinstance(entry, User) else entry.designation
    numbers = (
        [n for n in (entry.extension, entry.mobile) if n]
        if isinstance(entry, User)
        else [entry.mobile]
    )
    subject = f"{'Spärrad' if blocked else 'Spärr hävd'}: {what} ({entry.unit})"
    body = (
        f"{what}, {entry.unit}: {', '.join(numbers)} "
        f"{'är spärrat' if blocked else 'är inte längre spärrat'} "
        f"av {by.name if by is not None else acct.user_id}. {note or ''}".strip()
    )
    recipients = [CONTACT_CENTRE]
    officer = svc.config.administration.mobile_officer
    if officer:
        recipients.append(officer)
    log_ = call_log(svc)
    for r in recipients:
        await log_.add_notice(r, "blocked" if blocked else "unblocked", subject, body, now)
    log.info("phone block changed", extra={"entry": entry_id, "blocked": blocked})
    return BlockChange(entry_id, blocked, recipients)


# ---------------------------------------------------------------- HAL-13 directory history


async def record_directory_change(svc: WebServices) -> int:
    """Compare the loaded directory with the stored one; tell the contact centre. How many."""
    if svc.call_log is None:
        return 0
    now = svc.now()
    changes = await record_directory(svc.call_log, svc.config.directory, now)
    if changes:
        lines = [
            f"{c.kind}: {c.entry_id} {c.detail.get('name') or c.detail.get('to_name') or ''}"
            for c in changes
        ]
        await svc.call_log.add_notice(
            CONTACT_CENTRE,
            "directory",
            f"Katalogen har ändrats ({len(changes)} ändringar) – registrera dem",
            "\n".join(line.strip() for line in lines),
            now,
        )
    return len(changes)


# ---------------------------------------------------------------- ALV-26 assisted calls


async def place_assisted(svc: WebServices, acct: Account, data: dict[str, object]) -> AssistedCall:
    """ALV-26: the contact centre places an international call for a user; logged with both."""
    user_id = text_field(data, "user", required=True, max_len=100) or ""
    to = text_field(data, "to", required=True, max_len=40) or ""
    directory = svc.org().directory
    user = directory.user(user_id)
    if user is None:
        raise UnknownUser(user_id)
    e164, kind = classify(to, directory, directory.plan)
    if kind is not NumberKind.INTERNATIONAL or e164 is None:
        raise InvalidField("to", "ange ett utlandsnummer, till exempel +44 20 7946 0000")
    number = user.extension or user.mobile
    if number is None:
        raise InvalidField("user", "användaren har inget nummer att koppla från")
    now = svc.now()
    call_id = f"assisted-{now.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(4)}"
    log_ = call_log(svc)
    await log_.record(
        CallEntry(
            call_id=call_id,
            start=now,
            caller=number,
            called=e164,
            outcome="assisted_request",
            action="assisted",
            channel=f"kontaktcenter/{acct.user_id}",
        )
    )
    aid = await log_.add_assisted(call_id, user.id, e164, acct.user_id, "requested", now)
    log.info("assisted international call", extra={"call_id": call_id, "by": acct.user_id})
    return AssistedCall(
        id=aid,
        call_id=call_id,
        user=user.id,
        from_number=number,
        to=e164,
        placed_by=acct.user_id,
        status="requested",
    )
