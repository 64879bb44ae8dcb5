"""Swedish wording for the HTML report: labels, numbers, dates, and the engine's English texts.

The JSON report is a contract and stays in English (its `why`, reasons and variant `changes`
are the engine's words); the page a municipality's managers read is Swedish. The texts the
engine and `Variant.changes` produce are translated here pattern by pattern; a text no pattern
knows (e.g. the Swedish telephone-hours message from `routing.wording`) is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from itertools import pairwise

from routing.wording import MONTH_NAMES
from simulation.models import SWITCHBOARD_UNIT, Outcome

OUTCOME_LABELS_SV: Mapping[Outcome, str] = {
    Outcome.PERSONAL_ANSWER: "Personligt svar",
    Outcome.COVERING_POINT: "Kopplat till passningsställe",
    Outcome.REDIRECT_MESSAGE: "Hänvisningsmeddelande",
    Outcome.VOICEMAIL: "Röstbrevlåda",
    Outcome.CONTACT_CENTRE: "Kopplat till kontaktcenter",
    Outcome.NO_ANSWER: "Inget svar, ingen att koppla till",
    Outcome.OUTSIDE_TELEPHONE_HOURS: "Utanför telefontid",
    Outcome.REJECTED: "Avvisat nummer",
}

KIND_LABELS_SV: Mapping[str, str] = {
    "extension": "Anknytningar",
    "mobile": "Mobiler",
    "group": "Gruppnummer",
    "shared_phone": "Gemensamma telefoner",
    "switchboard": "Växeln",
}

UNIT_LABELS_SV: Mapping[str, str] = {SWITCHBOARD_UNIT: "Växeln", "(no unit)": "(ingen enhet)"}

# routing.decide reason codes that can end a call someone must make again
REASONS_SV: Mapping[str, str] = {
    "blocked": "abonnemanget är spärrat",
    "no_member_available": "ingen i gruppen tillgänglig",
    "outside_telephone_hours": "utanför telefontid",
    "contact_centre_closed": "Medborgarservice har stängt",  # ALV-27
    "invalid_number": "ogiltigt nummer",
    "unassigned_number": "numret är inte tilldelat",
    "international_blocked": "utlandssamtal är spärrade",
    "premium_rate_blocked": "betalnummer är spärrade",
    "barred": "spärrat nummer",
}

# whole texts (a reason in `must_call_again_by_reason`, or a `why` without a name)
_WHOLE_SV: Mapping[str, str] = {
    "outside telephone hours": "utanför telefontid",
    "no such number": "numret finns inte",
    "every contact-centre line busy": "alla linjer i kontaktcentret upptagna",
    "contact centre did not answer": "kontaktcentret svarade inte",
    "line busy": "upptaget",
    "rang out": "ingen svarade",
    "busy on another call": "upptagen i ett annat samtal",
    "every member busy on a call": "alla i gruppen upptagna i samtal",
}

# endings of a `why`, longest first: "<who>: <what><ending>"
_ENDINGS_SV: Sequence[tuple[str, str]] = (
    (
        ", no voicemail; passed on to the contact centre",
        ", ingen röstbrevlåda; kopplat till kontaktcenter",
    ),
    (", no voicemail, nowhere to go", ", ingen röstbrevlåda; ingen att koppla till"),
    ("; passed on to the contact centre", "; kopplat till kontaktcenter"),
    ("; nowhere to go", "; ingen att koppla till"),
    (", nowhere to go", "; ingen att koppla till"),
)

_NO_ANSWER = re.compile(r"no answer in (\d+(?:\.\d+)?) s")
_REJECTED = re.compile(r"rejected: (.+)")

_CHANGES: Sequence[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = (
    (re.compile(r"organisation folder (.+)"), lambda m: f"annan organisationsmapp: {m[1]}"),
    (re.compile(r"voicemail on for everyone"), lambda m: "röstbrevlåda på för alla"),
    (re.compile(r"voicemail off for everyone"), lambda m: "röstbrevlåda av för alla"),
    (
        re.compile(r"mobile follows calendar on for everyone"),
        lambda m: "mobilen följer kalendern för alla",
    ),
    (
        re.compile(r"mobile follows calendar off for everyone"),
        lambda m: "mobilen följer inte kalendern för någon",
    ),
    (
        re.compile(r"telephone hours of (.+?): none \(always open\)"),
        lambda m: f"telefontid för {m[1]}: ingen (alltid öppet)",
    ),
    (re.compile(r"telephone hours of (.+?): (.+)"), lambda m: f"telefontid för {m[1]}: {m[2]}"),
    (
        re.compile(r"answer probability (\S+)"),
        lambda m: f"sannolikhet att svara: {m[1].replace('.', ',')}",
    ),
)


def plural(n: int, singular: str, plural_form: str) -> str:
    """'1 täckningsvarning', '2 täckningsvarningar'."""
    return f"{n} {singular if n == 1 else plural_form}"


def decimal(value: float, decimals: int = 1, sign: bool = False) -> str:
    """A number with a decimal comma and a real minus sign: '73,1', '−9,0', '+2,0'."""
    text = f"{value:{'+' if sign else ''}.{decimals}f}".replace(".", ",")
    return text.replace("-", "\u2212")


def percent(share: object, decimals: int = 1) -> str:
    """A share (0–1) as a Swedish percentage, '73,1 %'; '–' without one."""
    if not isinstance(share, float | int) or isinstance(share, bool):
        return "–"
    return f"{decimal(share * 100, decimals)} %"


def points(delta: object, unit: bool = True) -> str:
    """A difference in share (0–1) in percentage points, '+2,0 procentenheter' ('+2,0')."""
    if not isinstance(delta, float | int) or isinstance(delta, bool):
        return "–"
    return decimal(delta * 100, 1, sign=True) + (" procentenheter" if unit else "")


def day(d: date) -> str:
    """'24 november 2026'."""
    return f"{d.day} {MONTH_NAMES[d.month - 1]} {d.year}"


def days(iso_dates: Iterable[str]) -> str:
    """The simulated dates: '24 november 2026', '24–26 november 2026', or a list with 'och'."""
    ds = [date.fromisoformat(s) for s in iso_dates]
    if not ds:
        return "–"
    if len(ds) == 1:
        return day(ds[0])
    first, last = ds[0], ds[-1]
    if len(ds) > 2 and all((b - a).days == 1 for a, b in pairwise(ds)):
        if (first.year, first.month) == (last.year, last.month):
            return f"{first.day}–{day(last)}"
        if first.year == last.year:
            return f"{first.day} {MONTH_NAMES[first.month - 1]}–{day(last)}"
        return f"{day(first)}–{day(last)}"
    return ", ".join(day(d) for d in ds[:-1]) + " och " + day(ds[-1])


def clock(hhmm: str) -> str:
    """'08:00' → '8.00', as the municipality's own messages write the time."""
    hour, minute = hhmm.split(":")
    return f"{int(hour)}.{minute}"


def outcome(value: str) -> str:
    """An outcome value from the JSON report, in Swedish."""
    return OUTCOME_LABELS_SV[Outcome(value)]


def unit(name: str) -> str:
    """A unit name; the simulation's own placeholders in Swedish."""
    return UNIT_LABELS_SV.get(name, name)


def coverage_warning(w: Mapping[str, object]) -> str:
    """A HAL-05 warning from the JSON report, in words."""
    jour = " (jour)" if w["on_call"] else ""
    return (
        f"{w['designation']}{jour}: ingen tillgänglig {day(date.fromisoformat(str(w['date'])))} "
        f"kl. {clock(str(w['from']))}–{clock(str(w['to']))} ({w['minutes']} min)"
    )


def _what(text: str) -> str:
    if text in _WHOLE_SV:
        return _WHOLE_SV[text]
    if text in REASONS_SV:
        return REASONS_SV[text]
    m = _NO_ANSWER.fullmatch(text)
    if m:
        return f"inget svar på {m.group(1).replace('.', ',')} s"
    return text


def why(text: str) -> str:
    """Why a call ended as it did (the engine's English `why`, or a reason), in Swedish."""
    if text in _WHOLE_SV:
        return _WHOLE_SV[text]
    m = _REJECTED.fullmatch(text)
    if m:
        return f"avvisat: {REASONS_SV.get(m.group(1), m.group(1))}"
    for ending, ending_sv in _ENDINGS_SV:
        if text.endswith(ending):
            who, sep, what = text[: -len(ending)].rpartition(": ")
            return f"{who}{sep}{_what(what)}{ending_sv}"
    return text


def change(text: str) -> str:
    """One of `Variant.changes()` in Swedish."""
    for pattern, template in _CHANGES:
        m = pattern.fullmatch(text)
        if m:
            return template(m)
    return text
