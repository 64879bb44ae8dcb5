"""Pure mailbox and record rules: who has a mailbox, PINs, greetings, who may listen, deadlines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from routing.models import Directory, Hours, NumberingPlan, User
from storage.problems import ConfigProblem
from voicemail.models import DisposalRule, PublicRecord, RecordStatus, VoicemailSettings

MIN_PIN_DIGITS = 4  # HAL-07


def has_mailbox(user: User, settings: VoicemailSettings) -> bool:
    """ALV-10/ALV-12: on only when enabled for the user and, for extension users, globally."""
    if not user.voicemail:
        return False
    return not (user.extension is not None and not settings.extension_users)


def mailbox_id(user: User, plan: NumberingPlan) -> str | None:
    """The user's app_voicemail mailbox: explicit, else the extension's local digits."""
    if user.mailbox:
        return user.mailbox
    if user.extension is None:
        return None
    for area, _local in plan.series:
        prefix = f"+{plan.country_code}{area}"
        if user.extension.startswith(prefix):
            return user.extension[len(prefix) :]
    return None


def mailbox_owners(directory: Directory, plan: NumberingPlan) -> dict[str, str]:
    """Mailbox id -> user id for the directory as it is now (HAL-08: today's holder)."""
    owners: dict[str, str] = {}
    for user in directory.users:
        box = mailbox_id(user, plan)
        if box is not None:
            owners.setdefault(box, user.id)
    return owners


def pin_problem(pin: str | None) -> str | None:
    """HAL-07: why a PIN is not acceptable (None when it is, or when no PIN is set)."""
    if pin is None:
        return None
    if not pin.isdigit():
        return "PIN must be digits only"
    if len(pin) < MIN_PIN_DIGITS:
        return f"PIN must have at least {MIN_PIN_DIGITS} digits"
    return None


def check_voicemail(directory: Directory, settings: VoicemailSettings) -> list[ConfigProblem]:
    """Configuration problems of the voicemail part (for the loader to add file and line)."""
    problems: list[ConfigProblem] = []
    seen: dict[str, str] = {}
    for i, user in enumerate(directory.users):
        why = pin_problem(user.pin)
        if why:
            problems.append(ConfigProblem(f"users[{i}].pin", why))
        for j, delegate in enumerate(user.delegates):
            if directory.user(delegate) is None:
                problems.append(
                    ConfigProblem(f"users[{i}].delegates[{j}]", f"no user {delegate!r}")
                )
        box = user.mailbox
        if box and user.voicemail:
            if box in seen:
                problems.append(
                    ConfigProblem(f"users[{i}].mailbox", f"mailbox {box} is also {seen[box]}'s")
                )
            seen[box] = user.id
    for k, registrar in enumerate(settings.registrars):
        if directory.user(registrar) is None:
            problems.append(ConfigProblem(f"voicemail.registrars[{k}]", f"no user {registrar!r}"))
    names = [r.name for r in settings.disposal_rules]
    for k, rule in enumerate(settings.disposal_rules):
        if rule.days_after_classification < 0:
            problems.append(
                ConfigProblem(
                    f"voicemail.disposal_rules[{k}].days_after_classification", "must be >= 0"
                )
            )
        if names.count(rule.name) > 1:
            problems.append(ConfigProblem(f"voicemail.disposal_rules[{k}].name", "used twice"))
    return problems


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def default_greeting(name: str, organisation: str) -> str:
    """ALV-11: the greeting generated from the directory."""
    return (
        f"Hej, du har kommit till {name} på {organisation}. "
        "Just nu kan jag inte ta ditt samtal, lämna ett meddelande efter tonen."
    )


def temporary_greeting(name: str, organisation: str, absence: str) -> str:
    """The greeting while redirected: adds the absence wording ('jag är på semester, åter …')."""
    return (
        f"Hej, du har kommit till {name} på {organisation}. {_sentence(absence)} "
        "Lämna ett meddelande efter tonen."
    )


@dataclass(frozen=True, slots=True)
class GreetingChoice:
    """Which greeting a caller hears: a recorded file, or text to render."""

    kind: str  # "temporary" | "recorded" | "default"
    text: str | None
    recorded: str | None = None


def choose_greeting(
    name: str, organisation: str, absence: str | None, recorded: str | None
) -> GreetingChoice:
    """Temporary (absence) greeting beats a recorded one, which beats the generated default."""
    if absence:
        return GreetingChoice("temporary", temporary_greeting(name, organisation, absence))
    if recorded:
        return GreetingChoice("recorded", None, recorded)
    return GreetingChoice("default", default_greeting(name, organisation))


def may_play(
    actor: str, record: PublicRecord, directory: Directory, settings: VoicemailSettings
) -> str | None:
    """ALV-14/HAL-08: None when the actor may play the record, else why not.

    Access follows the record's owner at intake (a user id), never the mailbox number, so a
    successor on the same number does not see the predecessor's messages.
    """
    if actor in settings.registrars:
        return None
    if record.owner_id is None:
        return "the mailbox had no owner; only registrars may play it"
    if actor == record.owner_id:
        if record.hidden_from_owner:
            return "the owner deleted it from the mailbox; only registrars may play it now"
        return None
    owner = directory.user(record.owner_id)
    if owner is not None and actor in owner.delegates:
        return None
    return "only the mailbox owner, their delegates and registrars may listen"


def counts_as_heard(actor: str, record: PublicRecord, directory: Directory) -> bool:
    """ALV-13: a playback by the owner or a delegate counts as the mailbox being listened to."""
    if record.owner_id is None:
        return False
    if actor == record.owner_id:
        return True
    owner = directory.user(record.owner_id)
    return owner is not None and actor in owner.delegates


def is_working_day(day: date, hours: Hours, holidays: frozenset[date]) -> bool:
    """A weekday in the working hours' days that is not a holiday."""
    return day.weekday() in hours.days and day not in holidays


def listening_deadline(
    arrived: datetime, tz: ZoneInfo, hours: Hours, holidays: frozenset[date]
) -> datetime:
    """ALV-13: close of the first whole working day after arrival (local time, aware).

    A message left Monday 10.00 must be heard by Tuesday's closing time; one left on Friday
    evening or Saturday by Monday's closing time.
    """
    local = arrived.astimezone(tz)
    day = local.date()
    if not (is_working_day(day, hours, holidays) and local.time() < hours.start):
        day += timedelta(days=1)
    for _ in range(400):
        if is_working_day(day, hours, holidays):
            return datetime.combine(day, hours.end, tzinfo=tz)
        day += timedelta(days=1)
    raise ValueError("no working day within 400 days: check working hours")


def who_to_tell(owner: User | None, registrars: Iterable[str]) -> tuple[str, ...]:
    """ALV-13: the delegates, else the manager; registrars for a mailbox without an owner."""
    if owner is None:
        return tuple(registrars)
    if owner.delegates:
        return tuple(owner.delegates)
    if owner.manager:
        return (owner.manager,)
    return ()


def disposal_due(record: PublicRecord, rule: DisposalRule, now: datetime) -> bool:
    """REC-04: a classified record of the rule's class whose waiting period has passed."""
    if record.status is not RecordStatus.CLASSIFIED or record.classified_at is None:
        return False  # unclassified (or already disposed) records are never disposed
    if record.classification is not rule.classification:
        return False
    return now >= record.classified_at + timedelta(days=rule.days_after_classification)


def registration_year(arrived: datetime, tz: ZoneInfo) -> int:
    """The series year of a record: the local year of its arrival (REC-05)."""
    return arrived.astimezone(tz).year
