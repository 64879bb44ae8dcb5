"""The availability board: directory search and each user's live state (ALV-03, ALV-09, HAL-06).

Only public fields leave here (User.public(): never the personal identity number, HAL-10).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from routing.effective import EffectiveState
from routing.models import Call, Organisation, User
from routing.wording import absence_message, public_reason
from switchboard.web.redirect_policy import open_ended

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


def matches(user: User, q: str = "", unit: str = "", title: str = "", keyword: str = "") -> bool:
    """Every word of `q` in name, title, unit or keywords; the other filters as substrings."""
    haystack = " ".join((user.name, user.title, user.unit, *user.keywords)).casefold()
    if any(word not in haystack for word in q.casefold().split()):
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
    return sorted((u for u in users if matches(u, q, unit, title, keyword)), key=lambda u: u.name)


def caller_message(user: User, st: EffectiveState, now: datetime) -> str | None:
    """What someone calling the user's public number hears now (None: it just rings)."""
    if user.extension:
        return st.decide(Call(user.extension), now).message
    redirect = st.redirect_at(user, now)
    return absence_message(user.name, redirect, now, st.org.timezone) if redirect else None


def entry(user: User, st: EffectiveState, now: datetime) -> dict[str, object]:
    """One directory row: public fields, the public number, state and the caller's message."""
    org = st.org
    tz = org.timezone
    view = st.view(user.id, now)
    redirect = view.redirect if view is not None else None
    user = view.user if view is not None else user
    state = view.state if view is not None else "available"
    reason = public_reason(redirect.reason) if redirect else None
    further = redirect is not None and open_ended(redirect)
    # ALV-02: "tills vidare" shows as such, not as the organisation's maximum end
    returns = None if further else (redirect.return_time if redirect else None)
    out = user.public()
    out.update(
        public_number=user.extension,
        state=state,
        state_text=STATE_TEXT[state],
        reason=reason,
        reason_text=REASON_TEXT.get(reason or ""),
        source=redirect.source if redirect else None,
        until=redirect.until.astimezone(tz).isoformat() if redirect and redirect.until else None,
        returns=returns.astimezone(tz).isoformat() if returns else None,
        returns_text=short_time(returns, now, org) if returns else None,
        until_further_notice=further,
        message=caller_message(user, st, now),
    )
    return out


def short_time(moment: datetime, now: datetime, org: Organisation) -> str:
    """'11.30' today, else '25/11 8.00'."""
    local = moment.astimezone(org.timezone)
    clock = f"{local.hour}.{local.minute:02d}"
    if local.date() == now.astimezone(org.timezone).date():
        return clock
    return f"{local.day}/{local.month} {clock}"


def board(st: EffectiveState, now: datetime, users: Iterable[User]) -> list[dict[str, object]]:
    """Rows for these users, as the effective state has them."""
    return [entry(u, st, now) for u in users]
