"""What the caller hears, as words: the spoken form beside the written one (ALV-06, ALV-08).

`routing.wording` writes the messages as a Swede reads them on the board ("åter klockan
11.30", "026-830 00"); a speech engine reading that text says "elva punkt trettio" and
"åttahundratrettio". This module renders the same messages as Swedish a person would say:

- times: the hour, then "och" and the minutes ("klockan elva och trettio"); whole hours without
  minutes ("klockan fjorton"); minutes 01–09 as on a digital clock ("klockan åtta noll fem");
  midnight is "noll" (a return at midnight is the next day and is read as a date);
- dates: weekday, "den", the ordinal day and the month ("måndag den sjunde december"), the year
  only when it is not this year ("tvåtusen tjugosju");
- telephone hours: days, then the range ("tisdag och torsdag, klockan nio till elva");
- numbers to dial: the digit groups as written, the area code as "noll" and the rest
  ("noll tjugosex, åtta tre noll, noll noll"; "noll sjuttio, ett två tre, fyrtiofem,
  sextiosju"): two digits as a number, three digits one by one, never a cardinal number;
- names and organisation names as written; abbreviations a speech engine misreads expanded
  ("kl." → "klockan", "t.o.m." → "till och med").

Messages come as segments (the route's `prompts`), each with the punctuation that gives the
sentence its pauses; " ".join(segments) is the sentence. A segment can be replaced by a
recording without code (see `switchboard.telephony.sounds`): "åter klockan" + "elva och trettio".
All functions are pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import phonenumbers

from routing import wording
from routing.models import Hours, Redirect

ONES = (
    "noll",
    "ett",
    "två",
    "tre",
    "fyra",
    "fem",
    "sex",
    "sju",
    "åtta",
    "nio",
    "tio",
    "elva",
    "tolv",
    "tretton",
    "fjorton",
    "femton",
    "sexton",
    "sjutton",
    "arton",
    "nitton",
)
TENS = ("", "", "tjugo", "trettio", "fyrtio", "femtio", "sextio", "sjuttio", "åttio", "nittio")
_ORDINAL_ONES = (
    "",
    "första",
    "andra",
    "tredje",
    "fjärde",
    "femte",
    "sjätte",
    "sjunde",
    "åttonde",
    "nionde",
)
_ORDINAL_TEENS = (
    "tionde",
    "elfte",
    "tolfte",
    "trettonde",
    "fjortonde",
    "femtonde",
    "sextonde",
    "sjuttonde",
    "artonde",
    "nittonde",
)
ORDINAL_TENS = ("", "", "tjugonde", "trettionde")


def number_words(n: int) -> str:
    """0–99 as one Swedish word: 'noll', 'ett', 'tjugosex', 'femtio'."""
    if not 0 <= n <= 99:
        raise ValueError(f"{n} is not between 0 and 99")
    if n < 20:
        return ONES[n]
    tens, ones = divmod(n, 10)
    return TENS[tens] + (ONES[ones] if ones else "")


def ordinal_words(n: int) -> str:
    """1–31 as a Swedish ordinal: 'första', 'sjunde', 'tjugoandra', 'trettioförsta'."""
    if not 1 <= n <= 31:
        raise ValueError(f"{n} is not a day of a month")
    if n < 10:
        return _ORDINAL_ONES[n]
    if n < 20:
        return _ORDINAL_TEENS[n - 10]
    tens, ones = divmod(n, 10)
    return TENS[tens] + _ORDINAL_ONES[ones] if ones else ORDINAL_TENS[tens]


def year_words(year: int) -> str:
    """A year as said today: 2027 → 'tvåtusen tjugosju' (other centuries: the digits)."""
    if 2000 <= year <= 2099:
        rest = year - 2000
        return "tvåtusen" + (f" {number_words(rest)}" if rest else "")
    return str(year)


def clock_words(moment: time | datetime) -> str:
    """The time of day after 'klockan': 'elva och trettio', 'fjorton', 'åtta noll fem'."""
    hour = number_words(moment.hour)
    minute = moment.minute
    if minute == 0:
        return hour
    if minute < 10:
        return f"{hour} noll {ONES[minute]}"
    return f"{hour} och {number_words(minute)}"


def date_words(day: date, *, weekday: bool = True, year: bool = False) -> str:
    """'måndag den sjunde december' (and the year when asked: '… tvåtusen tjugosju')."""
    text = f"den {ordinal_words(day.day)} {wording.MONTH_NAMES[day.month - 1]}"
    if weekday:
        text = f"{wording.WEEKDAY_NAMES[day.weekday()]} {text}"
    if year:
        text += f" {year_words(day.year)}"
    return text


def days_words(days: Iterable[int]) -> str:
    """Weekdays of telephone hours: 'måndag till fredag', 'tisdag och torsdag'."""
    names = wording.WEEKDAY_NAMES
    ordered = sorted(days)
    if ordered == [0, 1, 2, 3, 4]:
        return "måndag till fredag"
    if len(ordered) == 1:
        return names[ordered[0]]
    return ", ".join(names[d] for d in ordered[:-1]) + " och " + names[ordered[-1]]


def hours_words(hours: Hours) -> str:
    """'tisdag och torsdag, klockan nio till elva' (ALV-08)."""
    return (
        f"{days_words(hours.days)}, klockan {clock_words(hours.start)} "
        f"till {clock_words(hours.end)}"
    )


def group_words(digits: str) -> str:
    """One written digit group: two digits as a number ('fyrtiofem', 'noll noll'), three one
    by one ('åtta tre noll'); longer runs as three then pairs, as Swedish numbers are written."""
    if len(digits) == 1:
        return ONES[int(digits)]
    if len(digits) == 2:
        if digits[0] == "0":
            return f"noll {ONES[int(digits[1])]}"
        return number_words(int(digits))
    if len(digits) == 3:
        return " ".join(ONES[int(d)] for d in digits)
    head = 3 if len(digits) % 2 else 2
    chunks = [digits[:head]] + [digits[i : i + 2] for i in range(head, len(digits), 2)]
    return " ".join(group_words(c) for c in chunks)


def digit_groups(written: str) -> str:
    """A number to dial, as people say it: '026-830 00' → 'noll tjugosex, åtta tre noll, noll
    noll'. The area code is 'noll' and its rest; groups are separated by a pause (comma)."""
    text = written.strip()
    if text.startswith("+"):
        text = _national(text) or text
    groups = re.findall(r"\d+", text)
    words: list[str] = []
    for i, group in enumerate(groups):
        if i == 0 and group.startswith("0") and len(group) > 1:
            words.append(f"noll {group_words(group[1:])}")
        else:
            words.append(group_words(group))
    return ", ".join(words)


def _national(number: str) -> str | None:
    """A Swedish or international number in its written national form, if it is one."""
    try:
        parsed = phonenumbers.parse(number, "SE")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    if parsed.country_code != 46:
        return None  # read a foreign number digit group by digit group, as written
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))


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
    return digit_groups(_national(written) or written)


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


def return_segments(returns: datetime, now: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """('åter klockan', 'elva och trettio.') the same day, else ('åter', 'måndag den sjunde
    december.'), on the same day as the written form names (HV-02)."""
    local, same_day, with_year = wording.return_moment(returns, now, tz)
    if same_day:
        return "åter klockan", clock_words(local) + "."
    return "åter", date_words(local.date(), year=with_year) + "."


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
