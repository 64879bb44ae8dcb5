"""What the caller hears, as words: the spoken form beside the written one (ALV-06, ALV-08).

`routing.wording` writes the messages as a Swede reads them on the board ("åter klockan
11.30", "026-830 00"); a speech engine reading that text says "elva punkt trettio" and
"åttahundratrettio". This module renders the same messages as Swedish a person would say, with
the numbers, times, dates and telephone hours worded by `routing.numerals`:

- free text (a manual redirect's note, a greeting): numbers to dial, times, dates and small
  numbers in words; names and organisation names as written; abbreviations a speech engine
  misreads expanded ("kl." → "klockan", "t.o.m." → "till och med");
- the messages as segments.

Messages come as segments (the route's `prompts`), each with the punctuation that gives the
sentence its pauses; " ".join(segments) is the sentence. A segment can be replaced by a
recording without code (see `switchboard.telephony.sounds`): "åter klockan" + "elva och trettio".
All functions are pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from routing import wording
from routing.absence import Redirect
from routing.models import Hours
from routing.numerals import (
    clock_words,
    date_words,
    digit_groups,
    hours_words,
    national_form,
    number_words,
    ordinal_words,
    year_words,
)

# --- free text (a manual redirect's note, a greeting) -------------------------------------------

_MONTHS = {name: i + 1 for i, name in enumerate(wording.MONTH_NAMES)}
_MONTH_SHORT = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "okt": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH_RE = "|".join(sorted([*_MONTHS, *_MONTH_SHORT], key=len, reverse=True))

# Abbreviations espeak-ng reads letter by letter or with "punkt" (checked with `espeak-ng -v sv
# -x`); words it reads right ("ca", "Medborgarservice") are left alone.
ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("fr.o.m.", "från och med"),
    ("t.o.m.", "till och med"),
    ("t.ex.", "till exempel"),
    ("bl.a.", "bland annat"),
    ("m.fl.", "med flera"),
    ("mfl", "med flera"),
    ("m.m.", "med mera"),
    ("p.g.a.", "på grund av"),
    ("o.s.v.", "och så vidare"),
    ("osv", "och så vidare"),
    ("d.v.s.", "det vill säga"),
    ("dvs", "det vill säga"),
    ("s.k.", "så kallad"),
    ("e.m.", "eftermiddag"),
    ("f.m.", "förmiddag"),
    ("ang.", "angående"),
    ("resp.", "respektive"),
    ("inkl.", "inklusive"),
    ("exkl.", "exklusive"),
    ("tel.", "telefon"),
    ("tfn", "telefon"),
    ("nr", "nummer"),
    ("kl.", "klockan"),
    ("kl", "klockan"),
)


def _abbreviation_pattern(abbr: str) -> str:
    base = abbr.rstrip(".")
    # "t.o.m" without its last dot is the same abbreviation; "tel" without one is not
    tail = r"\.?" if "." in base or not abbr.endswith(".") else r"\."
    return r"(?<![\w.])" + re.escape(base) + tail + r"(?!\w)"


def _cased(spoken: str) -> Callable[[re.Match[str]], str]:
    """The expansion, capitalised where the abbreviation began a sentence ('T.ex.')."""

    def replace(m: re.Match[str]) -> str:
        return spoken[0].upper() + spoken[1:] if m[0][0].isupper() else spoken

    return replace


_ABBREVIATION_RES = tuple(
    (re.compile(_abbreviation_pattern(a), re.IGNORECASE), _cased(spoken))
    for a, spoken in ABBREVIATIONS
)
_PHONE_RE = re.compile(r"(?<![\w.,:/+-])(\+|0)\d[\d \-]{4,16}\d(?![\w]|[.,:/-]\d)")
_ISO_DATE_RE = re.compile(r"(?<![\w.-])(\d{4})-(\d{2})-(\d{2})(?![\w-])")
_DAY_MONTH_RE = re.compile(
    rf"(?<![\w.])(\d{{1,2}})(?::[ae])?\s+({_MONTH_RE})\.?(?:\s+(\d{{4}}))?(?!\w)", re.IGNORECASE
)
_SLASH_DATE_RE = re.compile(r"(?<![\w./])(\d{1,2})/(\d{1,2})(?![\w/])")
_ORDINAL_RE = re.compile(r"(?<![\w.])(\d{1,2}):[ae](?!\w)")
_TIME = r"(\d{1,2})(?:[.:](\d{2}))?"
_KL_TIME_RE = re.compile(
    rf"(?<![\w.])(?:kl\.?|klockan)\s*{_TIME}(?:\s*(?:-|–|—|till)\s*{_TIME})?(?![\w]|[.:]\d)",
    re.IGNORECASE,
)
_BARE_TIME_RE = re.compile(
    r"(?<![\w.:])(\d{1,2})[.:](\d{2})(?:\s*(?:-|–|—)\s*(\d{1,2})[.:](\d{2}))?(?![\w]|[.:]\d)"
)
_WEEK_RE = re.compile(r"(?<![\w.])v(?:\.\s*|\s+)(\d{1,2})(?!\w)", re.IGNORECASE)
_SMALL_NUMBER_RE = re.compile(r"(?<![\w.,:/+-])(\d{1,2})(?![\w]|[.,:/-]\d)")


def _clock(hour: str, minute: str | None) -> str | None:
    h, m = int(hour), int(minute or 0)
    if h == 24 and m == 0:
        return "tjugofyra"
    if h > 23 or m > 59:
        return None
    return clock_words(time(h, m))


def _kl_time(m: re.Match[str]) -> str:
    start = _clock(m[1], m[2])
    end = _clock(m[3], m[4]) if m[3] else None
    if start is None or (m[3] and end is None):
        return m[0]
    return f"klockan {start}" + (f" till {end}" if end else "")


def _bare_time(m: re.Match[str]) -> str:
    start = _clock(m[1], m[2])
    end = _clock(m[3], m[4]) if m[3] else None
    if start is None or (m[3] and end is None):
        return m[0]
    return start + (f" till {end}" if end else "")


def _day_month(m: re.Match[str]) -> str:
    key = m[2].lower()
    month = _MONTHS.get(key) or _MONTH_SHORT[key]
    day = int(m[1])
    if not 1 <= day <= 31:
        return m[0]
    text = f"{ordinal_words(day)} {wording.MONTH_NAMES[month - 1]}"
    return text + (f" {year_words(int(m[3]))}" if m[3] else "")


def _slash_date(m: re.Match[str]) -> str:
    day, month = int(m[1]), int(m[2])
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return m[0]
    return f"{ordinal_words(day)} {wording.MONTH_NAMES[month - 1]}"


def _iso_date(m: re.Match[str]) -> str:
    try:
        day = date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return m[0]
    return f"{ordinal_words(day.day)} {wording.MONTH_NAMES[day.month - 1]} {year_words(day.year)}"


def _ordinal(m: re.Match[str]) -> str:
    n = int(m[1])
    return ordinal_words(n) if 1 <= n <= 31 else m[0]


def _phone(m: re.Match[str]) -> str:
    written = m[0].strip()
    digits = re.sub(r"\D", "", written)
    if not 7 <= len(digits) <= 13:
        return m[0]
    # the national form groups an unseparated "0701112233" as it is written: 070-111 22 33
    return digit_groups(national_form(written) or written)


def speakable(text: str) -> str:
    """Free written Swedish as a speech engine should read it: numbers to dial as digit groups,
    times, dates and numbers up to 99 in words, misread abbreviations expanded; every other
    word as written (larger quantities are left to the engine, which reads cardinals right)."""
    out = _PHONE_RE.sub(_phone, text)
    out = _ISO_DATE_RE.sub(_iso_date, out)
    out = _DAY_MONTH_RE.sub(_day_month, out)
    out = _SLASH_DATE_RE.sub(_slash_date, out)
    out = _ORDINAL_RE.sub(_ordinal, out)
    out = _KL_TIME_RE.sub(_kl_time, out)
    out = _BARE_TIME_RE.sub(_bare_time, out)
    out = _WEEK_RE.sub(lambda m: f"vecka {m[1]}", out)
    out = _SMALL_NUMBER_RE.sub(lambda m: number_words(int(m[1])), out)
    for pattern, replace in _ABBREVIATION_RES:
        out = pattern.sub(replace, out)
    return out


def sentence(text: str) -> str:
    """A segment that ends a sentence: a full stop unless it already has one."""
    text = text.strip()
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def spoken_text(segments: Sequence[str]) -> str:
    """The segments as the one sentence a speech engine reads."""
    return " ".join(s for s in segments if s)


# --- the messages ---------------------------------------------------------------------------------


BACK_AT = "åter klockan"  # before the time of a return the same day
BACK_ON = "åter"  # before the date of a return another day


def return_segments(returns: datetime, now: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """('åter klockan', 'elva och trettio.') the same day, else ('åter', 'måndag den sjunde
    december.'), on the same day as the written form names (HV-02)."""
    local, same_day, with_year = wording.return_moment(returns, now, tz)
    if same_day:
        return BACK_AT, clock_words(local) + "."
    return BACK_ON, date_words(local.date(), year=with_year) + "."


def absence_fixed_segments() -> tuple[str, ...]:
    """The segments of absence messages that name no person and no moment: each reason as
    said before a return ('är på möte,') and without one ('är på möte.'), and the words
    before a return. A platform renders them once, to play new messages from (issue 21)."""
    reasons = dict.fromkeys(wording.REASON_PHRASES.values())
    return (*(r + "," for r in reasons), *(r + "." for r in reasons), BACK_AT, BACK_ON)


def absence_segments(name: str, redirect: Redirect, now: datetime, tz: ZoneInfo) -> tuple[str, ...]:
    """The absence message as spoken segments: ('Anna Andersson', 'är på möte,', 'åter
    klockan', 'elva och trettio.') — the same content as `wording.absence_message` (ALV-06)."""
    reason = wording.REASON_PHRASES[redirect.reason]
    returns = redirect.return_time
    parts = [name]
    if returns is None:
        parts.append(reason + ".")
    else:
        parts.append(reason + ",")
        parts.extend(return_segments(max(returns, now), now, tz))
    if redirect.source == "manual" and redirect.text and redirect.text.strip():
        parts.append(sentence(speakable(redirect.text.strip())))
    return tuple(parts)


def telephone_hours_segments(
    designation: str, hours: Hours, switchboard: str | None
) -> tuple[str, ...]:
    """ALV-08: ('Bygglov har telefontid', 'tisdag och torsdag, klockan nio till elva.', …)."""
    parts = [f"{designation} har telefontid", hours_words(hours) + ".", wording.WELCOME_THEN]
    if switchboard:
        parts.append(wording.TRANSFERRED_TO_SWITCHBOARD)
    return tuple(parts)


def blocked_outbound_segments(kind: str, switchboard_display: str | None) -> tuple[str, ...]:
    """ALV-19 / HAL-09 / ALV-26: the blocked-call message, the number in digit groups."""
    parts = [f"{wording.blocked_what(kind)} är spärrade."]
    if switchboard_display:
        parts += [
            "Kontakta Medborgarservice på",
            digit_groups(switchboard_display) + ",",
            "om du behöver öppna dem.",
        ]
        if kind == "international":  # ALV-26
            parts.append(wording.ASSISTED_INTERNATIONAL)
    return tuple(parts)


def speakable_segments(text: str) -> tuple[str, ...]:
    """A written message with no segments of its own (a greeting, a fixed message)."""
    return (speakable(text),)
