"""The routing decision: a pure function of the call, directory, presence, policy and `now`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from routing import wording
from routing.models import (
    Action,
    Call,
    Directory,
    Group,
    NumberKind,
    Policy,
    PresenceBook,
    RouteDecision,
    SharedPhone,
    User,
)
from routing.numbers import classify, national_format, normalise

NextHop = Literal["voicemail", "transfer"]


def mailbox_enabled(user: User, policy: Policy) -> bool:
    """ALV-10: off unless enabled per user; ALV-12: the global switch for extension users."""
    if not user.voicemail:
        return False
    return user.extension is None or policy.voicemail_extension_users


def is_available(user: User, presence: PresenceBook, now: datetime) -> bool:
    """Not blocked and not redirected at `now`."""
    if user.blocked:
        return False
    return not (user.redirect_enabled and presence.redirect_at(user.id, now) is not None)


def _covering_target(
    user: User, directory: Directory, presence: PresenceBook, policy: Policy, now: datetime
) -> str | None:
    """The covering point's number when it is set and can take the call now."""
    if not user.covering:
        return None
    entry = directory.by_id.get(user.covering)
    if isinstance(entry, User):
        if entry.extension and is_available(entry, presence, now):
            return entry.extension
        return None
    if isinstance(entry, Group):
        local = now.astimezone(policy.timezone)
        if entry.telephone_hours is not None and not entry.telephone_hours.contains(local):
            return None
        if any(_group_ring_list(entry, directory, presence, now)):
            return entry.number
    return None


def _group_ring_list(
    group: Group, directory: Directory, presence: PresenceBook, now: datetime
) -> tuple[str, ...]:
    ring: list[str] = []
    for member_id in group.members:
        member = directory.user(member_id)
        if member is not None and member.extension and is_available(member, presence, now):
            ring.append(member.extension)
    return tuple(ring)


def _next_hop(user: User, directory: Directory, policy: Policy) -> tuple[NextHop, str | None]:
    """Where an unanswered or redirected call goes next: voicemail, else Medborgarservice."""
    if mailbox_enabled(user, policy):
        return "voicemail", None
    return "transfer", directory.switchboard


def _user_call(
    e164: str,
    kind: NumberKind,
    user: User,
    directory: Directory,
    presence: PresenceBook,
    policy: Policy,
    now: datetime,
) -> RouteDecision:
    # Built in one go (no dataclasses.replace): this is the hot path of every call.
    follows_calendar = kind is NumberKind.USER_EXTENSION or user.mobile_follows_calendar
    next_hop, fallback_target = _next_hop(user, directory, policy)
    if user.blocked:
        # ALV-21: a blocked subscription is never rung; the caller meets an unreachable person
        return RouteDecision(
            e164,
            kind,
            Action.VOICEMAIL if next_hop == "voicemail" else Action.TRANSFER,
            user=user.id,
            message=wording.UNREACHABLE_MESSAGE,
            prompts=(wording.UNREACHABLE_MESSAGE,),
            reason="blocked",
            next=next_hop,
            target=fallback_target,
        )
    redirect = (
        presence.redirect_at(user.id, now) if follows_calendar and user.redirect_enabled else None
    )
    if redirect is None:
        # ALV-04: the mobile rings straight through; the extension rings when available
        return RouteDecision(
            e164, kind, Action.RING, user=user.id, next=next_hop, target=e164, ring=(e164,)
        )
    prompts = wording.absence_prompts(user.name, redirect, now, policy.timezone)
    returns = redirect.return_time
    target: str | None
    hop: NextHop | None
    if redirect.forward_to:  # HV-05: '>NUMBER' in the subject
        target, hop = redirect.forward_to, None
    else:
        target = _covering_target(user, directory, presence, policy, now)
        hop = None if target is not None else next_hop
        if target is None:
            target = fallback_target
    return RouteDecision(
        e164,
        kind,
        Action.REDIRECT,
        user=user.id,
        message=wording.join_prompts(prompts),
        prompts=prompts,
        reason=wording.public_reason(redirect.reason),
        until=returns.astimezone(policy.timezone) if returns else None,
        next=hop,
        target=target,
    )


def _group_call(
    e164: str,
    group: Group,
    directory: Directory,
    presence: PresenceBook,
    policy: Policy,
    now: datetime,
) -> RouteDecision:
    hours = group.telephone_hours
    if hours is not None and not hours.contains(now.astimezone(policy.timezone)):
        text = wording.telephone_hours_message(group.designation, hours, directory.switchboard)
        return RouteDecision(
            e164,
            NumberKind.GROUP,
            Action.REDIRECT,
            owner=group.id,
            message=text,
            prompts=(text,),
            reason="outside_telephone_hours",
            next="transfer" if directory.switchboard else None,
            target=directory.switchboard,
        )
    ring = _group_ring_list(group, directory, presence, now)
    if ring:
        return RouteDecision(e164, NumberKind.GROUP, Action.RING, owner=group.id, ring=ring)
    return RouteDecision(
        e164,
        NumberKind.GROUP,
        Action.TRANSFER,
        owner=group.id,
        message=wording.NOBODY_AVAILABLE_MESSAGE,
        prompts=(wording.NOBODY_AVAILABLE_MESSAGE,),
        reason="no_member_available",
        next="transfer",
        target=directory.switchboard,
    )


def _external_call(
    e164: str, kind: NumberKind, call: Call, directory: Directory, policy: Policy
) -> RouteDecision:
    caller: User | None = None
    if call.caller:
        _, caller_kind = classify(call.caller, directory, directory.plan)
        if caller_kind in (NumberKind.USER_EXTENSION, NumberKind.USER_MOBILE):
            caller_e164 = normalise(call.caller, directory.plan)
            entry = directory.by_number.get(caller_e164 or "")
            caller = directory.user(entry.owner_id) if entry and entry.owner_id else None
    blocked = (
        kind is NumberKind.INTERNATIONAL
        and policy.international_calls == "blocked"
        and not (caller is not None and caller.international_unlocked)
    ) or (
        kind is NumberKind.PREMIUM_RATE
        and policy.premium_rate == "blocked"
        and not (caller is not None and caller.premium_unlocked)
    )
    if blocked:
        display = national_format(directory.switchboard) if directory.switchboard else None
        text = wording.blocked_outbound_message(kind.value, display)
        return RouteDecision(
            e164,
            kind,
            Action.REJECT,
            user=caller.id if caller else None,
            message=text,
            prompts=(text,),
            reason=f"{kind.value}_blocked",
        )
    return RouteDecision(e164, kind, Action.RING, target=e164, ring=(e164,))


def decide(
    call: Call, directory: Directory, presence: PresenceBook, policy: Policy, now: datetime
) -> RouteDecision:
    """Decide one call (ALV-01, ALV-04..08, ALV-19, ALV-21, ALV-22, HAL-03, HAL-09)."""
    e164, kind = classify(call.to, directory, directory.plan)
    if e164 is None or kind is NumberKind.INVALID:
        return RouteDecision(
            e164,
            NumberKind.INVALID,
            Action.REJECT,
            message=wording.INVALID_MESSAGE,
            prompts=(wording.INVALID_MESSAGE,),
            reason="invalid_number",
        )
    entry = directory.by_number.get(e164)
    if entry is not None and entry.owner_id is not None:
        owner = directory.by_id[entry.owner_id]
        if isinstance(owner, User):
            return _user_call(e164, kind, owner, directory, presence, policy, now)
        if isinstance(owner, Group):
            return _group_call(e164, owner, directory, presence, policy, now)
        if isinstance(owner, SharedPhone):
            return _shared_phone_call(e164, owner, directory)
    if kind is NumberKind.SWITCHBOARD:
        return RouteDecision(e164, kind, Action.RING, target=e164, ring=(e164,))
    if kind is NumberKind.INTERNAL_UNASSIGNED:
        return RouteDecision(
            e164,
            kind,
            Action.TRANSFER,
            message=wording.UNASSIGNED_MESSAGE,
            prompts=(wording.UNASSIGNED_MESSAGE,),
            reason="unassigned_number",
            next="transfer",
            target=directory.switchboard,
        )
    return _external_call(e164, kind, call, directory, policy)


def _shared_phone_call(e164: str, phone: SharedPhone, directory: Directory) -> RouteDecision:
    """ALV-22: a shared phone never follows anyone's calendar; ALV-21 when it is blocked."""
    if phone.blocked:
        return RouteDecision(
            e164,
            NumberKind.SHARED_PHONE,
            Action.TRANSFER,
            owner=phone.id,
            message=wording.UNREACHABLE_MESSAGE,
            prompts=(wording.UNREACHABLE_MESSAGE,),
            reason="blocked",
            next="transfer",
            target=directory.switchboard,
        )
    return RouteDecision(
        e164, NumberKind.SHARED_PHONE, Action.RING, owner=phone.id, target=e164, ring=(e164,)
    )
