"""The routing decision: a pure function of the call, directory, presence, policy and `now`.

It is the hot path of every call, so what does not change from call to call is worked out once
per directory and policy (`routing.decision_table`, filled lazily number by number). A call then
costs a dict lookup, a bisect over the user's absences and, while redirected, the local date of
`now`. Here: `decide` and the decision per kind of number (user, group, shared phone, external).
"""

from __future__ import annotations

import bisect
from datetime import datetime

from routing import closed, spoken, wording
from routing.absence import PresenceBook
from routing.decision_table import (
    DECISION_FIELDS,
    NO_RETURN,
    OTHER_YEAR,
    SAME_DAY,
    THIS_YEAR,
    DecisionTable,
    NextHop,
    Said,
    UserNumber,
    decision_table,
)
from routing.models import (
    Action,
    Call,
    Directory,
    Group,
    NumberKind,
    Policy,
    RouteDecision,
    SharedPhone,
    User,
)
from routing.numbers import classify, national_format, normalise


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
        if not closed.group_open(entry, policy, now.astimezone(policy.timezone)):
            return None  # ALV-08 outside its hours, HAL-15 a holiday it keeps closed
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


def _user_call(
    number: UserNumber,
    directory: Directory,
    presence: PresenceBook,
    policy: Policy,
    now: datetime,
) -> RouteDecision:
    """ALV-04..06, ALV-21, HV-05: ring, or the absence message and where the call goes next."""
    if not number.follows:  # blocked, or a mobile that rings straight through (ALV-04)
        return number.fixed
    uid = number.user_id
    if uid in presence.manual:  # a manual redirect may be in force (HV-03)
        redirect = presence.redirect_at(uid, now)
        if redirect is None:
            return number.fixed
    else:  # presence.redirect_at and UserPresence.at, inline: the hot path of every call
        p = presence.users.get(uid)
        if p is None:
            return number.fixed
        i = bisect.bisect_right(p.starts, now) - 1
        if i < 0:
            return number.fixed
        redirect = p.redirects[i]
        if redirect.until is not None and now >= redirect.until:
            return number.fixed
    said = number.said.get(id(redirect))  # it keeps the redirect alive: the id is its own
    if said is None:
        said = number.remember(redirect, policy)
    returns = said.returns
    if returns is None:
        decision, variant = said.no_return, NO_RETURN
    elif now > returns:  # worded from `now` itself (HV-02): not worth remembering
        return _redirect_call(number, said, None, directory, presence, policy, now)
    else:
        today = now.astimezone(policy.timezone).date()
        if today == said.day:
            decision, variant = said.same_day, SAME_DAY
        elif today.year == said.day.year:  # type: ignore[union-attr]  # set with returns
            decision, variant = said.this_year, THIS_YEAR
        else:
            decision, variant = said.other_year, OTHER_YEAR
    if decision is None:
        decision = _redirect_call(number, said, variant, directory, presence, policy, now)
    return decision


def _redirect_call(
    number: UserNumber,
    said: Said,
    variant: int | None,
    directory: Directory,
    presence: PresenceBook,
    policy: Policy,
    now: datetime,
) -> RouteDecision:
    """The redirect decision, its texts made once per wording `variant` (None: not kept)."""
    user, redirect = number.user, said.redirect
    texts = said.texts[variant] if variant is not None else None
    if texts is None:
        written = wording.absence_prompts(user.name, redirect, now, policy.timezone)
        texts = (
            wording.join_prompts(written),
            spoken.absence_segments(user.name, redirect, now, policy.timezone),
        )
        if variant is not None:
            said.texts[variant] = texts
    target: str | None
    hop: NextHop | None
    if redirect.forward_to:  # HV-05: '>NUMBER' in the subject
        target, hop = redirect.forward_to, None
    else:
        target = _covering_target(user, directory, presence, policy, now)
        hop = None if target is not None else number.next_hop
        if target is None:
            target = number.fallback
    decision = RouteDecision(
        number.e164,
        number.kind,
        Action.REDIRECT,
        user=user.id,
        message=texts[0],
        prompts=texts[1],
        reason=said.reason,
        until=said.until,
        next=hop,
        target=target,
    )
    if variant is not None and (redirect.forward_to or number.static_target):
        setattr(said, DECISION_FIELDS[variant], decision)
    return decision


def _group_call(
    e164: str,
    group: Group,
    directory: Directory,
    presence: PresenceBook,
    policy: Policy,
    now: datetime,
    table: DecisionTable,
) -> RouteDecision:
    hours = group.telephone_hours
    local = now.astimezone(policy.timezone) if hours is not None else now
    if hours is not None and not closed.group_open(group, policy, local):
        holiday = closed.closed_for_holiday(group, policy, local)
        transfer = directory.switchboard is not None
        if not holiday and closed.contact_centre_open(policy, local):  # the fixed message
            key = ("hours", group.id)
            texts = table.fixed.get(key)
            if texts is None:
                texts = table.fixed[key] = (
                    wording.telephone_hours_message(
                        group.designation, hours, directory.switchboard
                    ),
                    spoken.telephone_hours_segments(
                        group.designation, hours, directory.switchboard
                    ),
                )
        else:  # HAL-15 holiday wording; ALV-27 no transfer while Medborgarservice is closed
            texts, transfer = closed.group_closed(group, policy, now, directory.switchboard)
        return RouteDecision(
            e164,
            NumberKind.GROUP,
            Action.REDIRECT,
            owner=group.id,
            message=texts[0],
            prompts=texts[1],
            reason="outside_telephone_hours",  # a holiday closes telephone hours (HAL-15)
            next="transfer" if transfer else None,
            target=directory.switchboard if transfer else None,
        )
    ring = _group_ring_list(group, directory, presence, now)
    if ring:
        return RouteDecision(e164, NumberKind.GROUP, Action.RING, owner=group.id, ring=ring)
    if policy.contact_centre is not None and not closed.contact_centre_open(
        policy, now.astimezone(policy.timezone)
    ):  # ALV-27: nobody to pass the call on to either; the caller hears when it opens
        message, prompts = closed.nobody_available(policy, now)
        return RouteDecision(
            e164,
            NumberKind.GROUP,
            Action.REDIRECT,
            owner=group.id,
            message=message,
            prompts=prompts,
            reason="no_member_available",
        )
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
    e164: str,
    kind: NumberKind,
    call: Call,
    directory: Directory,
    policy: Policy,
    table: DecisionTable,
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
        key = ("blocked", kind.value)
        texts = table.fixed.get(key)
        if texts is None:
            display = national_format(directory.switchboard) if directory.switchboard else None
            texts = table.fixed[key] = (
                wording.blocked_outbound_message(kind.value, display),
                spoken.blocked_outbound_segments(kind.value, display),
            )
        return RouteDecision(
            e164,
            kind,
            Action.REJECT,
            user=caller.id if caller else None,
            message=texts[0],
            prompts=texts[1],
            reason=f"{kind.value}_blocked",
        )
    return RouteDecision(e164, kind, Action.RING, target=e164, ring=(e164,))


def decide(
    call: Call, directory: Directory, presence: PresenceBook, policy: Policy, now: datetime
) -> RouteDecision:
    """Decide one call (ALV-01, ALV-04..08, ALV-19, ALV-21, ALV-22, HAL-03, HAL-09)."""
    table = directory.decision_tables.get(id(policy))  # decision_table(), inline: hot path
    if not isinstance(table, DecisionTable) or table.policy is not policy:
        table = decision_table(directory, policy)
    found = table.numbers.get(call.to)
    if found is None:
        found = table.classify(call.to, directory)
    if isinstance(found, UserNumber):
        return _user_call(found, directory, presence, policy, now)
    e164, kind = found
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
        if isinstance(owner, Group):
            return _group_call(e164, owner, directory, presence, policy, now, table)
        if isinstance(owner, SharedPhone):
            return _shared_phone_call(e164, owner, directory)
    if kind is NumberKind.SWITCHBOARD:
        if policy.contact_centre is not None and not closed.contact_centre_open(
            policy, now.astimezone(policy.timezone)
        ):  # ALV-27: outside Medborgarservice's hours the caller hears when it opens
            message, prompts = closed.contact_centre_closed(policy, now)
            return RouteDecision(
                e164,
                kind,
                Action.REDIRECT,
                message=message,
                prompts=prompts,
                reason="contact_centre_closed",
            )
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
    return _external_call(e164, kind, call, directory, policy, table)


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
