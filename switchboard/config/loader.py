"""Reading an organisation folder (organisation.yaml, directory.yaml, calendars) into a `Config`.

Every problem is reported as `FILE:LINE: dotted.path: what is wrong`, all of them at once in a
`ConfigError`; nothing raw leaves here. Each section is read by its own module.
"""

from __future__ import annotations

from pathlib import Path

from routing.models import Directory, Organisation
from storage.yamlcheck import Checker
from storage.yamlfile import YamlDocument, load_yaml
from switchboard.config.checks import check_organisation, check_user_sources
from switchboard.config.directory import DIRECTORY_KEYS, parse_directory
from switchboard.config.extensions import parse_extensions
from switchboard.config.model import Config
from switchboard.config.organisation import (
    ORGANISATION_KEYS,
    data_dir,
    make_policy,
    parse_identity,
    parse_policy,
)
from switchboard.config.presence_rules import parse_presence_rules
from switchboard.config.voicemail_settings import parse_voicemail

ORGANISATION_FILE = "organisation.yaml"
DIRECTORY_FILE = "directory.yaml"


class ConfigError(Exception):
    """A configuration with problems; `problems` are lines `FILE:LINE: path: message`."""

    error_id = "invalid-config"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _read(path: Path, problems: list[str]) -> YamlDocument:
    doc = load_yaml(path, str(path))
    problems.extend(
        f"{doc.file}:{line}: {where or '(file)'}: {msg}" for where, line, msg in doc.problems
    )
    return doc


def load_config(folder: str | Path, previous: Directory | None = None) -> Config:
    """Load and validate an organisation folder; raise ConfigError listing every problem.
    With `previous` (the directory in force), a number passed to a successor must not keep
    the predecessor's PIN (HAL-11)."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError([f"{root}:1: (folder): not an organisation folder (no such directory)"])
    problems: list[str] = []
    org_doc = _read(root / ORGANISATION_FILE, problems)
    dir_doc = _read(root / DIRECTORY_FILE, problems)
    o = Checker(org_doc, problems)
    d = Checker(dir_doc, problems)

    present = org_doc.data is not None
    org_raw = o.mapping(org_doc.data, "", ORGANISATION_KEYS) if present else {}
    identity = parse_identity(o, org_raw, root.resolve().name, present)
    choices = parse_policy(o, org_raw)
    vm = parse_voicemail(o, org_raw.get("voicemail"), root)
    rules = parse_presence_rules(o, org_raw.get("calendar"), identity, choices.redirect_on)
    policy = make_policy(identity, choices, vm.extension_users)

    dir_raw = d.mapping(dir_doc.data, "", DIRECTORY_KEYS) if dir_doc.data is not None else {}
    entries = parse_directory(d, dir_raw, identity, root)
    ext = parse_extensions(o, org_raw)
    check_user_sources(d, ext.calendar_sources, entries.users)
    directory = Directory.build(
        entries.users, entries.groups, entries.shared_phones, identity.switchboard, identity.plan
    )
    warnings = check_organisation(o, d, directory, vm, policy, previous)
    if problems:
        raise ConfigError(problems)

    org = Organisation(
        id=identity.id,
        name=identity.name,
        code=identity.code,
        folder=str(root.resolve()),
        timezone=identity.timezone,
        plan=identity.plan,
        switchboard=identity.switchboard or "",
        working_hours=identity.working_hours,
        holidays=identity.holidays,
        policy=policy,
        directory=directory,
        # read after the check, as it always was: a data_dir that is not text is not reported
        data_dir=data_dir(root.resolve(), identity.id, o.string(org_raw, "data_dir", "")),
        voicemail_context=vm.context,
    )
    return Config(
        org,
        rules,
        vm,
        root.resolve(),
        calendar_sources=ext.calendar_sources,
        telephony=ext.telephony,
        storage=ext.storage,
        http=ext.http,
        administration=ext.administration,
        notifications=ext.notifications,
        warnings=warnings,
    )
