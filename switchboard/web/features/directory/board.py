"""The board's words: where a call to someone really ends up now, the number to call now, the
sentence the board announces, and the groups, on-call numbers and shared phones.

Where a call goes is routing's own answer (`routing.destination`: `decide`, step by step, for
each number the call is passed on to), never worked out again here: when Anna's covering point
Bertil is away too, the board says what routing does with the call instead.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from routing.destination import Destination, destination
from routing.effective import EffectiveState
from routing.models import Action, Directory, Group, RouteDecision, SharedPhone, User
from routing.numbers import national_format

NOT_ANSWERED = "ingen – den som ringer får ett meddelande"
NUMBERS_KEPT = 20_000  # national forms remembered (a board of 3,000 shows about 6,000)


@functools.lru_cache(maxsize=NUMBERS_KEPT)
def shown(e164: str) -> str:
    """A number as people read it ('026-830 12', '070-123 45 67'), remembered: formatting
    takes phonenumbers a parse each time, and a board page shows a hundred numbers."""
    return national_format(e164)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a call to a person ends up now, in words, and who can act on it."""

    goes_to: str | None  # None: the person answers (the call rings them)
    steps: tuple[str, ...]  # each number passed through, in words (more than one: a chain)
    call_now: str | None  # E.164: the number that answers now (None: nobody answers)
    call_now_name: str | None
    involves: frozenset[str]  # ids whose change can change this answer


def owner_name(number: str, directory: Directory) -> str:
    """Who a number belongs to, as a page says it (the number itself when unknown)."""
    entry = directory.by_number.get(number)
    owner = directory.by_id.get(entry.owner_id) if entry and entry.owner_id else None
    if isinstance(owner, User):
        return owner.name
    if isinstance(owner, Group | SharedPhone):
        return owner.designation
    if number == directory.switchboard:
        return "Medborgarservice"
    return shown(number)


def genitive(name: str) -> str:
    """'Anna Anderssons', 'Lars Mats' (a name ending in s, x or z takes no extra s)."""
    return name if name[-1:].casefold() in ("s", "x", "z") else name + "s"


def _end_words(d: RouteDecision, directory: Directory, self_id: str | None) -> str:
    """What a decision that does not ring means for the caller."""
    if d.action is Action.VOICEMAIL or d.next == "voicemail":
        if d.user == self_id:
            return "röstbrevlådan"
        user = directory.user(d.user or "")
        return f"{genitive(user.name)} röstbrevlåda" if user else "röstbrevlådan"
    return NOT_ANSWERED


def route_of(found: Destination, directory: Directory, self_id: str | None) -> Route:
    """A `Destination` in words: a person answering themself has no `goes_to`."""
    first, final = found.decision, found.final
    involves = set(found.involves) | ({self_id} if self_id else set())
    for hop in found.hops:  # a group on the way depends on its members too
        group = directory.group(hop.decision.owner or "")
        if group is not None:
            involves.update(group.members)
    if first.action is Action.RING and not found.hops:
        number = first.called or (first.ring[0] if first.ring else None)
        name = owner_name(number, directory) if number else None
        return Route(None, (), number, name, frozenset(involves))
    steps = [
        owner_name(h.number, directory)
        + ("" if h.decision.action is Action.RING else _why_passed_on(h.decision))
        for h in found.hops
    ]
    call_now: str | None = None
    if final.action is Action.RING and found.hops:
        call_now = found.hops[-1].number
        goes_to = owner_name(call_now, directory)
    else:
        goes_to = _end_words(final, directory, self_id)
        steps.append(goes_to)
    name = owner_name(call_now, directory) if call_now else None
    return Route(goes_to, tuple(steps), call_now, name, frozenset(involves))


def _why_passed_on(d: RouteDecision) -> str:
    """Why a number on the way did not answer itself."""
    if d.reason == "outside_telephone_hours":
        return " (stängt nu)"
    if d.reason == "no_member_available":
        return " (ingen ledig)"
    if d.reason == "blocked":
        return " (spärrad)"
    if d.action in (Action.REDIRECT, Action.TRANSFER, Action.VOICEMAIL):
        return " (själv hänvisad)" if d.user else ""
    return ""


def person_route(user: User, st: EffectiveState, now: datetime) -> Route:
    """Where a call to the person's public number (the extension) ends up now."""
    if not user.extension:
        return Route(None, (), None, None, frozenset({user.id}))
    route = route_of(destination(st, user.extension, now), st.directory, user.id)
    # the covering point decides the answer even while it is not on the way (ALV-06)
    extra: set[str] = set()
    if user.covering:
        extra.add(user.covering)
        group = st.directory.group(user.covering)
        if group is not None:
            extra.update(group.members)
    return Route(
        route.goes_to, route.steps, route.call_now, route.call_now_name, route.involves | extra
    )


# ---------------------------------------------------------------- groups, on-call, shared phones


@dataclass(frozen=True, slots=True)
class OtherRow:
    """A group, on-call number or shared phone as the board shows it."""

    id: str
    kind: str  # "group", "on_call" or "shared_phone"
    kind_text: str
    designation: str
    unit: str
    number: str
    number_text: str
    state: str  # "available", "redirected" or "blocked" (the badge's colour)
    state_text: str
    detail: str
    call_now: str | None
    call_now_text: str | None

    def as_json(self) -> dict[str, object]:
        """The row as the API gives it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "designation": self.designation,
            "unit": self.unit,
            "number": self.number,
            "state": self.state,
            "state_text": self.state_text,
            "detail": self.detail,
            "call_now": self.call_now,
        }


def _group_row(g: Group, st: EffectiveState, now: datetime) -> OtherRow:
    d = st.directory
    found = destination(st, g.number, now)
    first = found.decision
    hours = f" Telefontid {g.telephone_hours.describe()}." if g.telephone_hours else ""
    route = route_of(found, d, None)
    call_now: str | None
    if first.action is Action.RING:
        names = ", ".join(owner_name(n, d) for n in first.ring)
        state, state_text, detail = "available", "Öppet", f"Svarar nu: {names}.{hours}"
        call_now = g.number
    else:
        closed_now = first.reason == "outside_telephone_hours"
        state_text = "Stängt" if closed_now else "Ingen ledig"
        detail = f"Samtalen går till {route.goes_to or NOT_ANSWERED}.{hours}"
        state, call_now = "redirected", route.call_now
    kind = "on_call" if g.on_call else "group"
    return OtherRow(
        g.id,
        kind,
        "Jour" if g.on_call else "Grupp",
        g.designation,
        g.unit,
        g.number,
        shown(g.number),
        state,
        state_text,
        detail,
        call_now,
        shown(call_now) if call_now else None,
    )


def _phone_row(p: SharedPhone, st: EffectiveState, now: datetime) -> OtherRow:
    d = st.directory
    phone = d.by_id.get(p.id)
    blocked = isinstance(phone, SharedPhone) and phone.blocked
    route = route_of(destination(st, p.mobile, now), d, None)
    state, text = ("blocked", "Spärrad") if blocked else ("available", "Ringer")
    detail = f"Samtalen går till {route.goes_to}." if blocked and route.goes_to else ""
    return OtherRow(
        p.id,
        "shared_phone",
        "Delad telefon",
        p.designation,
        p.unit,
        p.mobile,
        shown(p.mobile),
        state,
        text,
        detail,
        route.call_now,
        shown(route.call_now) if route.call_now else None,
    )


def others(st: EffectiveState, now: datetime, words: str = "", unit: str = "") -> list[OtherRow]:
    """Groups, on-call numbers and shared phones matching the search, on-call first."""
    d = st.directory
    out: list[OtherRow] = []
    for g in d.groups:
        if _matches(g.designation, g.unit, g.number, g.keywords, words, unit):
            out.append(_group_row(g, st, now))
    for p in d.shared_phones:
        if _matches(p.designation, p.unit, p.mobile, p.keywords, words, unit):
            out.append(_phone_row(p, st, now))
    return sorted(out, key=lambda r: (r.kind != "on_call", r.unit, r.designation))


def _matches(
    name: str, entry_unit: str, number_of: str, keywords: Iterable[str], words: str, unit: str
) -> bool:
    if unit and unit.casefold() != entry_unit.casefold():
        return False
    hay = " ".join((name, entry_unit, *keywords)).casefold()
    texts, number = split_query(words)
    if number and not number_hit(number, (number_of,)):
        return False
    return all(w in hay for w in texts)


def split_query(q: str) -> tuple[list[str], str]:
    """A search's words, and its digits as one number ('830 12' → '83012')."""
    words: list[str] = []
    digits = ""
    for word in q.casefold().split():
        if has_digits(word):
            digits += "".join(ch for ch in word if ch.isdigit())
        else:
            words.append(word)
    return words, digits


def has_digits(word: str) -> bool:
    """A search word with a digit in it is a number."""
    return any(ch.isdigit() for ch in word)


def number_hit(word: str, numbers: Iterable[str | None]) -> bool:
    """The word's digits in a number, written nationally ('83012', '026-830 12', '0701234567')
    or internationally ('+46 26 830 12')."""
    digits = "".join(ch for ch in word if ch.isdigit())
    if not digits:
        return False
    for n in numbers:
        if not n:
            continue
        national = "".join(ch for ch in shown(n) if ch.isdigit())
        if digits in national or digits in n:
            return True
    return False
