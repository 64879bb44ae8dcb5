"""The spoken form beside the written one (routing.spoken): pure functions, no audio (ALV-06,
ALV-08, HV-02). What espeak-ng makes of it is checked in test_spoken_espeak.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time

import pytest

from routing import numerals, spoken, wording
from routing.absence import AbsenceReason, ManualRedirect, PresenceBook, Redirect
from routing.decide import decide
from routing.models import Call, Hours
from tests.core.helpers import ANNA, POLICY, TZ, block, book, directory, local

NOW = local(2026, 11, 24, 10, 15)  # a Tuesday


def test_number_words_0_to_99() -> None:
    """Cardinals as one word, as Swedish writes them."""
    assert [numerals.number_words(n) for n in (0, 1, 11, 20, 21, 26, 30, 45, 59, 70, 99)] == [
        "noll",
        "ett",
        "elva",
        "tjugo",
        "tjugoett",
        "tjugosex",
        "trettio",
        "fyrtiofem",
        "femtionio",
        "sjuttio",
        "nittionio",
    ]
    with pytest.raises(ValueError, match="between 0 and 99"):
        numerals.number_words(100)


def test_ordinal_words_every_day_of_a_month() -> None:
    """HV-02: 'den sjunde december', never 'den sju december'; all 31 days."""
    days = [numerals.ordinal_words(n) for n in range(1, 32)]
    assert days[:10] == [
        "första",
        "andra",
        "tredje",
        "fjärde",
        "femte",
        "sjätte",
        "sjunde",
        "åttonde",
        "nionde",
        "tionde",
    ]
    assert days[19:] == [
        "tjugonde",
        "tjugoförsta",
        "tjugoandra",
        "tjugotredje",
        "tjugofjärde",
        "tjugofemte",
        "tjugosjätte",
        "tjugosjunde",
        "tjugoåttonde",
        "tjugonionde",
        "trettionde",
        "trettioförsta",
    ]
    assert len(set(days)) == 31
    with pytest.raises(ValueError, match="not a day"):
        numerals.ordinal_words(32)


@pytest.mark.parametrize(
    ("moment", "said"),
    [
        (time(11, 30), "elva och trettio"),
        (time(14, 0), "fjorton"),
        (time(8, 5), "åtta noll fem"),
        (time(12, 0), "tolv"),
        (time(16, 30), "sexton och trettio"),
        (time(13, 0), "tretton"),
        (time(1, 0), "ett"),
        (time(0, 0), "noll"),
        (time(0, 30), "noll och trettio"),
        (time(23, 59), "tjugotre och femtionio"),
    ],
)
def test_clock_words_convention(moment: time, said: str) -> None:
    """HV-02: the one convention (docs/speech.md): hour 'och' minutes, whole hours alone,
    01–09 minutes as on a digital clock; never 'punkt'."""
    assert numerals.clock_words(moment) == said


def test_date_words_weekday_ordinal_month_and_year_only_when_asked() -> None:
    """HV-02: 'måndag den sjunde december'; another year is said in words."""
    assert numerals.date_words(date(2026, 12, 7)) == "måndag den sjunde december"
    assert (
        numerals.date_words(date(2027, 1, 4), year=True)
        == "måndag den fjärde januari tvåtusen tjugosju"
    )
    assert numerals.year_words(2000) == "tvåtusen"


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("026-830 00", "noll tjugosex, åtta tre noll, noll noll"),
        ("026-830 12", "noll tjugosex, åtta tre noll, tolv"),
        ("026-830 50", "noll tjugosex, åtta tre noll, femtio"),
        ("0582-685 00", "noll fem åtta två, sex åtta fem, noll noll"),
        ("070-123 45 67", "noll sjuttio, ett två tre, fyrtiofem, sextiosju"),
        ("073-123 45 67", "noll sjuttiotre, ett två tre, fyrtiofem, sextiosju"),
        ("070-555 00 01", "noll sjuttio, fem fem fem, noll noll, noll ett"),
        ("08-123 456 78", "noll åtta, ett två tre, fyra fem sex, sjuttioåtta"),
        ("+46 70 111 22 33", "noll sjuttio, ett ett ett, tjugotvå, trettiotre"),
        ("+462683000", "noll tjugosex, åtta tre noll, noll noll"),
    ],
)
def test_digit_groups_never_a_cardinal(written: str, said: str) -> None:
    """Numbers to dial in the groups people say: area code 'noll' + rest, two digits as a number,
    three one by one — never 'åttahundratrettio'."""
    assert numerals.digit_groups(written) == said
    assert "hundra" not in said and "tusen" not in said


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("kl. 13", "klockan tretton"),
        ("Kl 9-11", "klockan nio till elva"),
        ("klockan 9.00–11.00", "klockan nio till elva"),
        ("mellan 13.00 och 15.30", "mellan tretton och femton och trettio"),
        ("t.o.m. fredag", "till och med fredag"),
        ("T.o.m. fredag", "Till och med fredag"),
        ("fr.o.m. 2026-12-07", "från och med sjunde december tvåtusen tjugosex"),
        ("åter 7/12", "åter sjunde december"),
        ("den 7 december", "den sjunde december"),
        ("den 7 dec.", "den sjunde december"),
        ("den 21:a", "den tjugoförsta"),
        ("v. 48", "vecka fyrtioåtta"),
        (
            "t.ex. bl.a. m.m. p.g.a. o.s.v.",
            "till exempel bland annat med mera på grund av och så vidare",
        ),
        ("tfn 070-111 22 33", "telefon noll sjuttio, ett ett ett, tjugotvå, trettiotre"),
        ("ring 0701112233", "ring noll sjuttio, ett ett ett, tjugotvå, trettiotre"),
        ("nr 5", "nummer fem"),
        ("ca 150 meter", "ca 150 meter"),
        ("Medborgarservice", "Medborgarservice"),
        ("ca 20 minuter", "ca tjugo minuter"),
        ("Anna Andersson på Älvkarleby kommun", "Anna Andersson på Älvkarleby kommun"),
        ("kl. 25", "klockan tjugofem"),  # not a time: the abbreviation, and a number
        ("2026-02-30", "2026-02-30"),  # not a date: left for the engine
    ],
)
def test_speakable_free_text(written: str, said: str) -> None:
    """Free text (a manual redirect's note, a greeting): numbers, times, dates and misread
    abbreviations put in words; names and every other word as written."""
    assert spoken.speakable(written) == said


def test_alv06_absence_segments_beside_the_unchanged_written_message() -> None:
    """ALV-06: the route's message stays written; its prompts are the spoken segments, whose
    joined text is the sentence espeak-ng reads."""
    d = decide(
        Call("83012"),
        directory(),
        book({"anna.andersson": [block(local(2026, 11, 24, 10), local(2026, 11, 24, 11, 30))]}),
        POLICY,
        NOW,
    )
    assert d.message == "Anna Andersson är på möte, åter klockan 11.30."
    assert d.prompts == ("Anna Andersson", "är på möte,", "åter klockan", "elva och trettio.")
    assert (
        spoken.spoken_text(d.prompts) == "Anna Andersson är på möte, åter klockan elva och trettio."
    )
    assert json.loads(json.dumps(d.as_json()))["prompts"] == list(d.prompts)


def test_hv02_spoken_and_written_name_the_same_day() -> None:
    """HV-02: another day is a date in both forms, with the year only in another year."""
    redirect = Redirect(AbsenceReason.VACATION, NOW, local(2027, 1, 4, 8), "calendar", returns=None)
    now = local(2026, 12, 30, 9)
    assert wording.absence_message("Anna Andersson", redirect, now, TZ) == (
        "Anna Andersson är på semester, åter måndag den 4 januari 2027."
    )
    assert spoken.absence_segments("Anna Andersson", redirect, now, TZ) == (
        "Anna Andersson",
        "är på semester,",
        "åter",
        "måndag den fjärde januari tvåtusen tjugosju.",
    )


def test_hv04_free_text_only_from_manual_and_in_words() -> None:
    """HV-04: a calendar subject is never spoken; a manual note is, in its spoken form."""
    manual = ManualRedirect(
        "anna.andersson",
        AbsenceReason.AWAY,
        local(2026, 11, 24, 14),
        text="Nås på 070-111 22 33 t.o.m. kl. 13.",
    )
    d = decide(
        Call("83012"), directory(), PresenceBook({}, {"anna.andersson": manual}), POLICY, NOW
    )
    assert d.message == (
        "Anna Andersson är inte på plats, åter klockan 14.00. Nås på 070-111 22 33 t.o.m. kl. 13."
    )
    assert d.prompts == (
        "Anna Andersson",
        "är inte på plats,",
        "åter klockan",
        "fjorton.",
        "Nås på noll sjuttio, ett ett ett, tjugotvå, trettiotre till och med klockan tretton.",
    )


def test_alv08_telephone_hours_segments() -> None:
    """ALV-08: 'tisdag och torsdag, klockan nio till elva', then where the call goes."""
    hours = Hours(frozenset({1, 3}), time(9), time(11))
    assert spoken.telephone_hours_segments("Bygglov", hours, "+462683000") == (
        "Bygglov har telefontid",
        "tisdag och torsdag, klockan nio till elva.",
        "Välkommen att ringa då.",
        "Du kopplas nu till Medborgarservice.",
    )
    weekdays = Hours(frozenset(range(5)), time(8), time(16, 30))
    assert (
        numerals.hours_words(weekdays) == "måndag till fredag, klockan åtta till sexton och trettio"
    )
    assert numerals.days_words({0, 2, 4}) == "måndag, onsdag och fredag"


def test_alv19_blocked_call_number_in_digit_groups() -> None:
    """ALV-19 / ALV-26: the number of Medborgarservice in digit groups."""
    assert spoken.blocked_outbound_segments("international", "026-830 00") == (
        "Samtal till utlandet är spärrade.",
        "Kontakta Medborgarservice på",
        "noll tjugosex, åtta tre noll, noll noll,",
        "om du behöver öppna dem.",
        "Ett enstaka samtal till utlandet kan Medborgarservice koppla åt dig.",  # ALV-26
    )
    assert spoken.blocked_outbound_segments("premium_rate", None) == (
        "Samtal till betalnummer är spärrade.",
    )


@pytest.mark.parametrize("reason", list(AbsenceReason))
def test_every_reason_has_no_digit_left(reason: AbsenceReason) -> None:
    """Every reason, same day and another day: the spoken segments hold words only."""
    for until in (local(2026, 11, 24, 8, 5), local(2026, 12, 7, 8)):
        redirect = Redirect(reason, NOW, until, "calendar")
        segments = spoken.absence_segments("Anna Andersson", redirect, local(2026, 11, 24, 7), TZ)
        assert not re.search(r"\d", spoken.spoken_text(segments)), segments


def test_dst_wall_clock_is_spoken() -> None:
    """The local wall clock on the DST days: 03.30 CEST after the spring change, the second
    02.30 (CET) in the autumn."""
    spring = spoken.return_segments(
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC), datetime(2026, 3, 29, 0, 30, tzinfo=UTC), TZ
    )
    autumn = spoken.return_segments(
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC), TZ
    )
    assert spring == ("åter klockan", "tre och trettio.")
    assert autumn == ("åter klockan", "två och trettio.")


def test_anna_is_a_name_not_a_number() -> None:
    """Names are never touched, even beside a number."""
    text = "Anna Andersson på Älvkarleby kommun, Hallsbergs kommun, IT-support"
    assert spoken.speakable(text) == text
    assert spoken.speakable_segments("Hej.") == ("Hej.",)
    assert ANNA.name == "Anna Andersson"
