"""The availability board and each user's availability: directory search and live state
(ALV-03, ALV-09, HAL-06), the reason shown as it is only to the person themself (HV-04), and
the manual redirect that always ends (ALV-02, HV-03).

A redirect "until further notice" (tills vidare) is stored with its end at the organisation's
maximum (`administration.manual_redirect_max_days`) and without a spoken return time, which is
how it is told apart from one with a chosen end (that always has a return time, HV-02).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from routing.absence import AbsenceReason, ManualRedirect, Redirect
from routing.effective import EffectiveState, State
from routing.models import Call, Organisation, User
from routing.presence import manual_redirect
from routing.wording import absence_message, public_reason
from switchboard.config import Config
from switchboard.web.errors import InvalidField, UnknownUser
from switchboard.web.features.directory.board import number_hit, person_route, shown, split_query
from switchboard.web.features.directory.schemas import (
    Availability,
    BoardRow,
    ManualView,
    RedirectView,
)
from switchboard.web.http import bool_field, enum_field, text_field, time_field
from switchboard.web.services import WebServices

STATE_TEXT = {"available": "Tillgänglig", "redirected": "Hänvisad", "blocked": "Spärrad"}
REASON_TEXT = {
    "meeting": "Möte",
    "lunch": "Lunch",
    "vacation": "Semester",
    "travel": "Tjänsteresa",
    "training": "Utbildning",
    "away": "Inte på plats",
    "busy": "Upptagen",
    # only ever shown to the person themself (HV-04): everyone else gets "away"
    "sick": "Sjuk",
    "care_of_child": "Vård av barn",
}
WhoSet = Callable[[str], str | None]  # user id → who set their manual redirect
FURTHER_NOTICE = frozenset({"further-notice", "tills-vidare", "tills vidare"})


# ---------------------------------------------------------------- the board


def matches(user: User, q: str = "", unit: str = "", title: str = "", keyword: str = "") -> bool:
    """Every word of `q` in name, title, unit or keywords, and its digits ('830 12') in the
    extension or mobile, as written nationally or not; the other filters as substrings."""
    haystack = " ".join((user.name, user.title, user.unit, *user.keywords)).casefold()
    words, number = split_query(q)
    if number and not number_hit(number, (user.extension, user.mobile)):
        return False
    if any(word not in haystack for word in words):
        return False
    if unit and unit.casefold() not in user.unit.casefold():
        return False
    if title and title.casefold() not in user.title.casefold():
        return False
    return not keyword or any(keyword.casefold() in k.casefold() for k in user.keywords)


def search(
    users: Iterable[User], q: str = "", unit: str = "", title: str = "", keyword: str = ""
) -> list[User]:
    """Users matching the search, by name."""
    if q or unit or title or keyword:
        users = (u for u in users if matches(u, q, unit, title, keyword))
    return sorted(users, key=lambda u: u.name)


def caller_message(user: User, st: EffectiveState, now: datetime) -> str | None:
    """What someone calling the user's public number hears now (None: it just rings)."""
    if user.extension:
        return st.decide(Call(user.extension), now).message
    redirect = st.redirect_at(user, now)
    return absence_message(user.name, redirect, now, st.org.timezone) if redirect else None


def entry(
    user: User, st: EffectiveState, now: datetime, who_set: WhoSet = lambda _uid: None
) -> BoardRow:
    """One directory row: public fields, numbers, state, where a call ends up now (routing's
    own decision, followed), the caller's message and who set a manual redirect."""
    org = st.org
    tz = org.timezone
    view = st.view(user.id, now)
    redirect = view.redirect if view is not None else None
    user = view.user if view is not None else user
    state = view.state if view is not None else "available"
    reason = public_reason(redirect.reason) if redirect else None
    further = redirect is not None and redirect.open_ended
    # ALV-02: "tills vidare" shows as such, not as the organisation's maximum end
    returns = None if further else (redirect.return_time if redirect else None)
    returns_text = short_time(returns, now, org) if returns else None
    route = person_route(user, st, now)
    set_by = who_set(user.id) if redirect is not None and redirect.source == "manual" else None
    setter = st.directory.user(set_by) if set_by else None
    return BoardRow(
        user=user,
        public_number=user.extension,
        state=state,
        state_text=STATE_TEXT[state],
        reason=reason,
        reason_text=REASON_TEXT.get(reason or ""),
        source=redirect.source if redirect else None,
        until=redirect.until.astimezone(tz).isoformat() if redirect and redirect.until else None,
        returns=returns.astimezone(tz).isoformat() if returns else None,
        returns_text=returns_text,
        until_further_notice=further,
        message=caller_message(user, st, now),
        mobile=user.mobile,
        goes_to=route.goes_to,
        route=route.steps,
        call_now=route.call_now,
        call_now_name=route.call_now_name,
        call_now_text=shown(route.call_now) if route.call_now else None,
        set_by=set_by,
        set_by_name=setter.name if setter else set_by,
        announcement=announcement(user.name, state, route.goes_to, returns_text, further),
        involves=route.involves,
    )


def announcement(
    name: str, state: State, goes_to: str | None, returns_text: str | None, further: bool
) -> str:
    """The board's polite sentence for a change: 'Anna Andersson är nu hänvisad till
    Medborgarservice till 15.00.'"""
    if state == "available":
        return f"{name} är nu tillgänglig."
    where = f" till {goes_to}" if goes_to else ""
    if state == "blocked":
        return f"{name} är nu spärrad; samtalen går{where}."
    end = f" till {returns_text}" if returns_text else (", tills vidare" if further else "")
    return f"{name} är nu hänvisad{where}{end}."


def short_time(moment: datetime, now: datetime, org: Organisation) -> str:
    """'11.30' today, else '25/11 8.00'."""
    local = moment.astimezone(org.timezone)
    clock = f"{local.hour}.{local.minute:02d}"
    if local.date() == now.astimezone(org.timezone).date():
        return clock
    return f"{local.day}/{local.month} {clock}"


def board(
    st: EffectiveState,
    now: datetime,
    users: Iterable[User],
    who_set: WhoSet = lambda _uid: None,
) -> list[BoardRow]:
    """Rows for these users, as the effective state has them."""
    return [entry(u, st, now, who_set) for u in users]


def row_text(row: BoardRow) -> str:
    """A row as the event stream sends it (JSON text)."""
    return json.dumps(row.as_json(), ensure_ascii=False, sort_keys=True)


def fingerprint(rows: Iterable[BoardRow]) -> str:
    """What a board page showed, in 16 hex digits: the event stream sends its rows again only
    when they differ from it (a change between the page and the stream's start is not lost)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row_text(row).encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------- one user's availability


def redirect_view(r: Redirect | None, svc: WebServices, own: bool = False) -> RedirectView | None:
    """A redirect in force as the API shows it (HV-04: the reason as it is only to oneself)."""
    if r is None:
        return None
    tz = svc.config.org.timezone
    return RedirectView(
        # HV-04: sickness and care of a child only to the person themself
        reason=r.reason.value if own else public_reason(r.reason),
        until_further_notice=r.open_ended,
        source=r.source,
        start=r.start.astimezone(tz).isoformat(),
        until=r.until.astimezone(tz).isoformat() if r.until else None,
        returns=r.return_time.astimezone(tz).isoformat() if r.return_time else None,
        text=r.text,
    )


async def availability(svc: WebServices, user_id: str, viewer: str | None = None) -> Availability:
    """A user's full availability: board row, calendar-derived state, manual redirect; the
    reason as it is only when `viewer` is the user (HV-04)."""
    own = viewer == user_id
    now = svc.now()
    st = await svc.effective(now)
    org = st.org
    user = org.directory.user(user_id)
    if user is None:
        raise UnknownUser(user_id)
    p = st.book.users.get(user_id)
    calendar_status = "none" if user.calendar is None else "ok"
    if p is not None and p.calendar_error:
        calendar_status = "unavailable"
    manual = svc.store.manual_for(user_id, now)
    manual_view = None
    if manual is not None:
        manual_view = ManualView(
            reason=manual.reason.value if own else public_reason(manual.reason),
            until=manual.until.astimezone(org.timezone).isoformat() if manual.until else None,
            until_further_notice=manual.open_ended,
            text=manual.text,
            set_by=svc.store.set_by(user_id),
        )
    return Availability(
        row=entry(user, st, now, svc.store.set_by),
        calendar=calendar_status,
        calendar_redirect=redirect_view(p.at(now) if p else None, svc, own),
        manual=manual_view,
        at=now.isoformat(),
    )


# ---------------------------------------------------------------- ALV-02 / HV-03 manual redirect


def end_of(data: Mapping[str, object], config: Config, now: datetime) -> tuple[datetime, bool]:
    """The redirect's end and whether it is "tills vidare" (then the end is the maximum).

    `until` is a time, or "further-notice"; `until_further_notice: true` says the same.
    """
    raw = data.get("until")
    further = bool_field(data, "until_further_notice") or False
    until: datetime | None = None
    if isinstance(raw, str) and raw.strip().casefold() in FURTHER_NOTICE:
        further = True
    else:
        until = time_field(data, "until", config.org.timezone)
    max_days = config.administration.manual_redirect_max_days
    if until is not None and further:
        raise InvalidField("until", "ange antingen en sluttid eller tills vidare, inte båda")
    if further:
        return now + timedelta(days=max_days), True
    if until is None:
        raise InvalidField(
            "until",
            "ange när hänvisningen slutar (till exempel 2026-11-24T13:00), eller välj "
            f'tills vidare ("until": "further-notice"), som gäller i högst {max_days} dagar',
        )
    if until <= now:
        raise InvalidField("until", "sluttiden måste ligga i framtiden")
    return until, False


async def set_manual_redirect(
    svc: WebServices, user_id: str, by: str, data: dict[str, object]
) -> None:
    """Validate and store a manual redirect (HV-03: it wins over the calendar until `until`)."""
    now = svc.now()
    if svc.config.directory.user(user_id) is None:
        raise UnknownUser(user_id)
    reason = enum_field(data, "reason", AbsenceReason, required=True)
    assert reason is not None
    text = text_field(data, "text", max_len=200)
    until, further = end_of(data, svc.config, now)  # ALV-02: an end, always
    redirect = manual_redirect(user_id, reason, until, svc.config.rules, now, text)
    if further:  # "tills vidare": ends by itself at the organisation's maximum, no return said
        redirect = ManualRedirect(user_id, reason, until, text, now, None, open_ended=True)
    await svc.store.set_manual(redirect, by, now)


async def clear_manual_redirect(svc: WebServices, user_id: str, by: str) -> None:
    """Clear a user's manual redirect (the calendar decides again)."""
    await svc.store.clear_manual(user_id, by, svc.now())
