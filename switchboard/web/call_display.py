"""Calls as people read them: parties by name and national number, outcomes in Swedish.

The call log keeps what the platform said (`PJSIP/83013`, `+46701234567`, `completed`) — that is
the record. Pages show the same facts in one form: the directory's name where the number is
known, the number in national form (`070-123 45 67`), the outcome in words.
"""

from __future__ import annotations

import re
from html import escape

from routing.models import Directory, Group, SharedPhone, User
from routing.numbers import national_format, normalise

OUTCOME_SV: dict[str, str] = {
    "answered": "Besvarat",
    "completed": "Besvarat",
    "covering_point": "Besvarat av passningsstället",
    "transfer": "Kopplat vidare och besvarat",
    "voicemail_left": "Röstmeddelande lämnat",
    "voicemail_empty": "Röstbrevlåda, inget meddelande",
    "message": "Hörde hänvisningen, ingen svarade",
    "rejected": "Spärrat (meddelande spelat)",
    "no_answer": "Inget svar",
    "caller_hung_up": "Den som ringde lade på",
    "failed_step": "Tekniskt fel i ett steg",
    "handed_back": "Lämnat till växelns reservflöde",
    "timeout": "Lämnat till växelns reservflöde (tidsgräns)",
    "interrupted": "Avbrutet (förbindelsen till växeln bröts)",
    "dialplan": "Hanterat av växeln ensam",
    "assisted_request": "Utlandssamtal via Medborgarservice",
    "in_progress": "Pågår",
}
_HIDDEN = frozenset({"anonymous", "unknown", "restricted", "private", "unavailable"})
_CHANNEL = re.compile(r"^[A-Za-z0-9_]+/([^-@/]+)")  # PJSIP/83013-00000004 → 83013


def outcome_text(outcome: str) -> str:
    """An outcome in Swedish (the dialplan fallback's `fallback_…` ones named as such)."""
    if outcome in OUTCOME_SV:
        return OUTCOME_SV[outcome]
    if outcome.startswith("fallback_"):
        inner = OUTCOME_SV.get(outcome.removeprefix("fallback_"), outcome)
        return f"{inner} (reservflödet)"
    return outcome


def _party(raw: str, directory: Directory) -> str:
    text = raw.strip()
    if not text:
        return ""
    channel = _CHANNEL.match(text)
    if channel:
        text = channel.group(1)
    e164 = normalise(text, directory.plan)
    if e164 is None:  # "anonymous", "unknown", "Restricted": the caller hid the number
        return "Dolt nummer" if text.casefold() in _HIDDEN else raw
    shown = national_format(e164)
    entry = directory.by_number.get(e164)
    owner = directory.by_id.get(entry.owner_id) if entry and entry.owner_id else None
    if isinstance(owner, User):
        return f"{owner.name}, {shown}"
    if isinstance(owner, Group | SharedPhone):
        return f"{owner.designation}, {shown}"
    if entry is not None and e164 == directory.switchboard:
        return f"Medborgarservice, {shown}"
    return shown


def party(raw: str | None, directory: Directory, memo: dict[str, str] | None = None) -> str:
    """A caller, called number or dialled channel as 'Anna Andersson, 026-830 12' (`memo`: one
    page's answers, as a call log page repeats the same numbers)."""
    key = raw or ""
    if memo is None:
        return _party(key, directory)
    if key not in memo:
        memo[key] = _party(key, directory)
    return memo[key]


def party_html(raw: str | None, directory: Directory, memo: dict[str, str] | None = None) -> str:
    """`party` as escaped HTML whose number never breaks across lines (`<span class="nr">`)."""
    text = party(raw, directory, memo)
    name, sep, number = text.rpartition(", ")
    if not number or not any(ch.isdigit() for ch in number):
        return escape(text)
    head = escape(name) + sep if sep else ""
    return f'{head}<span class="nr">{escape(number)}</span>'
