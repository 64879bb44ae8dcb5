"""The sections of organisation.yaml that other features own, each read by its owner's parser
(typed settings and problems with paths inside the section); the problems are placed under the
section's name, so they come out as `organisation.yaml:LINE: storage.dsn_env: …`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from calendar_sync.sources import CalendarSourcesSettings, parse_calendar_sources
from storage.problems import ConfigProblem
from storage.yamlcheck import Checker
from switchboard.config.admin_settings import AdminSettings, parse_administration
from switchboard.config.http_settings import HttpSettings, parse_http
from switchboard.config.storage_settings import StorageSettings, parse_storage
from switchboard.telephony.config import TelephonySettings, parse_telephony
from voicemail.notify_config import NotifySettings, parse_notifications

EXTENSION_SECTIONS = (
    "telephony",
    "calendar_sources",
    "storage",
    "http",
    "administration",
    "notifications",  # e-mail notifications (issue 17)
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Extensions:
    """The parsed sections (each one's defaults when it is absent)."""

    calendar_sources: CalendarSourcesSettings
    telephony: TelephonySettings
    storage: StorageSettings
    http: HttpSettings
    administration: AdminSettings
    notifications: NotifySettings | None  # None: no e-mail is sent


def _section(
    c: Checker,
    raw: Mapping[str, object],
    key: str,
    parser: Callable[[object], tuple[T, list[ConfigProblem]]],
) -> T:
    settings, problems = parser(raw.get(key))
    for problem in problems:
        c.err(f"{key}.{problem.path}" if problem.path else key, problem.message)
    return settings


def parse_extensions(c: Checker, raw: Mapping[str, object]) -> Extensions:
    """Every extension section of organisation.yaml (`raw`), problems recorded on `c`."""
    return Extensions(  # in this order: the order the problems are listed in
        calendar_sources=_section(c, raw, "calendar_sources", parse_calendar_sources),
        telephony=_section(c, raw, "telephony", parse_telephony),
        storage=_section(c, raw, "storage", parse_storage),
        http=_section(c, raw, "http", parse_http),
        administration=_section(c, raw, "administration", parse_administration),
        notifications=_section(c, raw, "notifications", parse_notifications),
    )
