"""What callers hear, in Swedish: absence messages, telephone hours, blocked calls (ALV-06).

This is the WRITTEN form (board, JSON `message`, AstDB presence); `routing.spoken` renders the
same messages as the text a speech engine reads aloud.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from routing.absence import AbsenceReason, Redirect
from routing.models import Hours

REASON_PHRASES: dict[AbsenceReason, str] = {
    AbsenceReason.MEETING: "är på möte",
    AbsenceReason.LUNCH: "är på lunch",
    AbsenceReason.VACATION: "är på semester",
    AbsenceReason.TRAVEL: "är på tjänsteresa",
    AbsenceReason.TRAINING: "är på utbildning",
    # HV-04: health and care-of-child reasons are told only as a neutral absence
    AbsenceReason.SICK: "är inte på plats",
    AbsenceReason.CARE_OF_CHILD: "är inte på plats",
    AbsenceReason.AWAY: "är inte på plats",
    AbsenceReason.BUSY: "är upptagen",
}

WEEKDAY_NAMES = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
MONTH_NAMES = (
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
)


def public_reason(reason: AbsenceReason) -> str:
    """The reason code shown outside the service: health and VAB are only 'away' (HV-04)."""
    if reason in (AbsenceReason.SICK, AbsenceReason.CARE_OF_CHILD):
        return AbsenceReason.AWAY.value
    return reason.value


def clock(moment: datetime) -> str:
    """Swedish clock wording: 14.30, 9.05."""
    return f"{moment.hour}.{moment.minute:02d}"


def return_moment(returns: datetime, now: datetime, tz: ZoneInfo) -> tuple[datetime, bool, bool]:
    """The local return moment, whether it is today, and whether its year must be said (HV-02).

    Shared by the written and the spoken form, so both always name the same day.
    """
    local = returns.astimezone(tz)
    today = now.astimezone(tz).date()
    return local, local.date() == today, local.year != today.year


def return_phrase(returns: datetime, now: datetime, tz: ZoneInfo) -> str:
    """'åter klockan 14.30' the same day, else 'åter måndag den 1 december' (HV-02)."""
    local, same_day, with_year = return_moment(returns, now, tz)
    if same_day:
        return f"åter klockan {clock(local)}"
    text = f"åter {WEEKDAY_NAMES[local.weekday()]} den {local.day} {MONTH_NAMES[local.month - 1]}"
    if with_year:
        text += f" {local.year}"
    return text


def absence_prompts(name: str, redirect: Redirect, now: datetime, tz: ZoneInfo) -> tuple[str, ...]:
    """The written absence message as fragments, joined by `join_prompts` (the spoken
    segments a platform plays are `routing.spoken.absence_segments`)."""
    parts = [name, REASON_PHRASES[redirect.reason]]
    returns = redirect.return_time
    if returns is not None:
        parts.append(return_phrase(max(returns, now), now, tz))
    if redirect.source == "manual" and redirect.text:
        parts.append(redirect.text.strip())
    return tuple(parts)


def absence_message(name: str, redirect: Redirect, now: datetime, tz: ZoneInfo) -> str:
    """'Anna Andersson är på möte, åter klockan 14.30.' (ALV-06)."""
    return join_prompts(absence_prompts(name, redirect, now, tz))


def join_prompts(prompts: tuple[str, ...]) -> str:
    """Fragments joined into one spoken sentence (plus any free text as its own sentence)."""
    if not prompts:
        return ""
    head = f"{prompts[0]} {prompts[1]}" if len(prompts) > 1 else prompts[0]
    rest = list(prompts[2:])
    sentence = head
    if rest and rest[0].startswith("åter "):
        sentence += ", " + rest.pop(0)
    text = sentence + "."
    for extra in rest:
        text += " " + (extra if extra.endswith((".", "!", "?")) else extra + ".")
    return text


WELCOME_THEN = "Välkommen att ringa då."
TRANSFERRED_TO_SWITCHBOARD = "Du kopplas nu till Medborgarservice."


def telephone_hours_message(designation: str, hours: Hours, switchboard: str | None) -> str:
    """ALV-08: callers outside a group's telephone hours hear the hours."""
    text = f"{designation} har telefontid {hours.describe()}. {WELCOME_THEN}"
    if switchboard:
        text += f" {TRANSFERRED_TO_SWITCHBOARD}"
    return text


def blocked_what(kind: str) -> str:
    """The kind of outbound call that is blocked, as the message names it."""
    return "Samtal till utlandet" if kind == "international" else "Samtal till betalnummer"


ASSISTED_INTERNATIONAL = "Ett enstaka samtal till utlandet kan Medborgarservice koppla åt dig."


def blocked_outbound_message(kind: str, switchboard_display: str | None) -> str:
    """ALV-19 / HAL-09: what a member of staff hears when an outbound call is blocked."""
    text = f"{blocked_what(kind)} är spärrade."
    if switchboard_display:
        text += f" Kontakta Medborgarservice på {switchboard_display} om du behöver öppna dem."
        if kind == "international":  # ALV-26: an occasional call, connected for you
            text += f" {ASSISTED_INTERNATIONAL}"
    return text


UNREACHABLE_MESSAGE = "Personen du söker kan inte nås just nu."
UNASSIGNED_MESSAGE = "Numret du har ringt saknar abonnent. Du kopplas till Medborgarservice."
INVALID_MESSAGE = "Numret du har ringt finns inte."
NOBODY_AVAILABLE_MESSAGE = "Ingen kan ta ditt samtal just nu. Du kopplas till Medborgarservice."
