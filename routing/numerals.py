"""Numbers, times and dates as Swedish is spoken: the numeral side of `routing.spoken` (ALV-06).

- times: the hour, then "och" and the minutes ("klockan elva och trettio"); whole hours without
  minutes ("klockan fjorton"); minutes 01–09 as on a digital clock ("klockan åtta noll fem");
  midnight is "noll" (a return at midnight is the next day and is read as a date);
- dates: weekday, "den", the ordinal day and the month ("måndag den sjunde december"), the year
  only when it is not this year ("tvåtusen tjugosju");
- telephone hours: days, then the range ("tisdag och torsdag, klockan nio till elva");
- numbers to dial: the digit groups as written, the area code as "noll" and the rest
  ("noll tjugosex, åtta tre noll, noll noll"; "noll sjuttio, ett två tre, fyrtiofem,
  sextiosju"): two digits as a number, three digits one by one, never a cardinal number.

All functions are pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, time

import phonenumbers

from routing import wording
from routing.models import Hours

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
        text = national_form(text) or text
    groups = re.findall(r"\d+", text)
    words: list[str] = []
    for i, group in enumerate(groups):
        if i == 0 and group.startswith("0") and len(group) > 1:
            words.append(f"noll {group_words(group[1:])}")
        else:
            words.append(group_words(group))
    return ", ".join(words)


def national_form(number: str) -> str | None:
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
