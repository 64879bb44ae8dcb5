"""A loaded organisation: `Config`, each section of organisation.yaml parsed once, typed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from calendar_sync.sources import CalendarSourcesSettings
from routing.models import Directory, Organisation, Policy
from routing.numbers import normalise
from routing.presence import PresenceRules
from switchboard.config.admin_settings import AdminSettings
from switchboard.config.http_settings import HttpSettings
from switchboard.config.storage_settings import StorageSettings
from switchboard.telephony.config import TelephonySettings
from voicemail.models import VoicemailSettings
from voicemail.notify_config import NotifySettings


@dataclass(frozen=True)
class Config:
    """A loaded, validated organisation; a section left out of the folder has its defaults."""

    org: Organisation
    rules: PresenceRules
    voicemail: VoicemailSettings
    folder: Path
    calendar_sources: CalendarSourcesSettings = field(default_factory=CalendarSourcesSettings)
    telephony: TelephonySettings = field(default_factory=TelephonySettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    administration: AdminSettings = field(default_factory=AdminSettings)
    notifications: NotifySettings | None = None  # None: no e-mail is sent (issue 17)
    warnings: tuple[str, ...] = ()  # FILE:LINE: path: message, not errors (HAL-16)

    @property
    def policy(self) -> Policy:
        """The organisation's routing policy."""
        return self.org.policy

    @property
    def directory(self) -> Directory:
        """The organisation's directory."""
        return self.org.directory


def normaliser(config: Config) -> Callable[[str], str | None]:
    """A number normaliser bound to the organisation's plan."""
    plan = config.org.plan
    return lambda number: normalise(number, plan)
