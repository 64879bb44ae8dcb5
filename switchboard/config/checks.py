"""The rules that span both files, checked once the directory is built: calendars need a
configured source, the voicemail rules (HAL-07), the contact centre never covers (HAL-03), PINs
(HAL-07, HAL-11) and, as warnings, a calendar on every personal subscription (HAL-16)."""

from __future__ import annotations

from collections.abc import Sequence

from calendar_sync.sources import CalendarSourcesSettings, check_user_calendars
from routing.models import Directory, Policy, User
from storage.yamlcheck import Checker
from switchboard.config_policy import (
    calendar_warnings,
    covering_problems,
    handover_problems,
    pin_problems,
)
from voicemail.models import VoicemailSettings
from voicemail.policy import check_voicemail


def check_user_sources(d: Checker, sources: CalendarSourcesSettings, users: Sequence[User]) -> None:
    """A user's `calendar:` needs the source it names configured in `calendar_sources:`."""
    for problem in check_user_calendars(sources, users):
        d.err(problem.path, problem.message)


def check_organisation(
    o: Checker,
    d: Checker,
    directory: Directory,
    voicemail: VoicemailSettings,
    policy: Policy,
    previous: Directory | None,
) -> tuple[str, ...]:
    """Record the problems on organisation.yaml (`o`) or directory.yaml (`d`); return the
    warnings as `FILE:LINE: warning: path: message`. With `previous` (the directory in force),
    a number passed to a successor must not keep the predecessor's PIN (HAL-11)."""
    for problem in check_voicemail(directory, voicemail):
        checker = o if problem.path.startswith("voicemail") else d
        checker.err(problem.path, problem.message)
    for problem in [
        *covering_problems(directory, policy.contact_centre),  # HAL-03
        *pin_problems(directory, voicemail, directory.plan),  # HAL-07, HAL-11
        *(handover_problems(previous, directory) if previous is not None else ()),  # HAL-11
    ]:
        d.err(problem.path, problem.message)
    return tuple(  # HAL-16
        f"{d.doc.file}:{d.doc.line(w.path)}: warning: {w.path}: {w.message}"
        for w in calendar_warnings(directory)
    )
