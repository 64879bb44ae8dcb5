"""Pure mailbox rules: who has a mailbox, PINs, greeting wording, listening deadlines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path

from vmkit import STHLM, make_org, make_settings, make_users

from routing.models import Directory, Hours
from voicemail.policy import (
    check_voicemail,
    choose_greeting,
    default_greeting,
    has_mailbox,
    listening_deadline,
    mailbox_id,
    pin_problem,
)

ANNA = make_users()[0]
HOURS = Hours(frozenset(range(5)), time(8, 0), time(16, 30))


def test_alv10_voicemail_off_unless_enabled() -> None:
    """ALV-10: a user without `voicemail: true` has no mailbox."""
    assert not has_mailbox(replace(ANNA, voicemail=False), make_settings())
    assert has_mailbox(ANNA, make_settings())


def test_alv12_global_switch_for_extension_users() -> None:
    """ALV-12: the administrator's switch turns off every mailbox of users with an extension."""
    off = make_settings(extension_users=False)
    assert not has_mailbox(ANNA, off)
    assert has_mailbox(replace(ANNA, extension=None), off)


def test_hal07_pin_needs_four_digits() -> None:
    """HAL-07: a PIN has at least four digits, and only digits."""
    assert pin_problem("1234") is None and pin_problem(None) is None
    assert pin_problem("123") is not None
    assert pin_problem("12a4") is not None


def test_hal07_config_check_reports_short_pin(tmp_path: Path) -> None:
    """HAL-07: the voicemail config check names the user's pin path."""
    users = (replace(ANNA, pin="12"), *make_users()[1:])
    problems = check_voicemail(Directory.build(users), make_settings())
    assert [p.path for p in problems] == ["users[0].pin"]


def test_config_check_unknown_registrar_and_delegate() -> None:
    """Registrars and delegates must be users of the directory."""
    users = (replace(ANNA, delegates=("nobody",)), *make_users()[1:])
    problems = check_voicemail(Directory.build(users), make_settings(registrars=("ghost",)))
    assert {p.path for p in problems} == {"users[0].delegates[0]", "voicemail.registrars[0]"}


def test_mailbox_defaults_to_extension_digits(tmp_path: Path) -> None:
    """The mailbox id defaults to the extension's digits after the area code (026-830 12 → 83012)."""
    org = make_org(tmp_path)
    assert mailbox_id(replace(ANNA, mailbox=None), org.plan) == "83012"


def test_alv11_default_greeting_from_directory() -> None:
    """ALV-11: the generated greeting names the person and the municipality."""
    assert default_greeting("Anna Andersson", "Älvkarleby kommun") == (
        "Hej, du har kommit till Anna Andersson på Älvkarleby kommun. "
        "Just nu kan jag inte ta ditt samtal, lämna ett meddelande efter tonen."
    )


def test_alv11_temporary_greeting_beats_recorded() -> None:
    """ALV-11: while redirected the greeting adds the absence; otherwise a recording replaces it."""
    temp = choose_greeting(
        "Anna Andersson",
        "Älvkarleby kommun",
        "jag är på semester, åter måndag den 1 december",
        "/x/unavail.wav",
    )
    assert temp.kind == "temporary"
    assert temp.text == (
        "Hej, du har kommit till Anna Andersson på Älvkarleby kommun. "
        "Jag är på semester, åter måndag den 1 december. Lämna ett meddelande efter tonen."
    )
    assert choose_greeting("A", "B", None, "/x/unavail.wav").kind == "recorded"
    assert choose_greeting("A", "B", None, None).kind == "default"


def test_alv13_deadline_skips_weekend_and_holidays() -> None:
    """ALV-13: one working day: Monday 10.00 → Tuesday close; Christmas Eve skipped."""
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert listening_deadline(monday, STHLM, HOURS, frozenset()) == datetime(
        2026, 11, 24, 16, 30, tzinfo=STHLM
    )
    early = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 07.00, before opening
    assert listening_deadline(early, STHLM, HOURS, frozenset()).date() == date(2026, 11, 23)
    wed = datetime(2026, 12, 23, 12, 0, tzinfo=UTC)
    holidays = frozenset({date(2026, 12, 24), date(2026, 12, 25)})
    assert listening_deadline(wed, STHLM, HOURS, holidays).date() == date(2026, 12, 28)
