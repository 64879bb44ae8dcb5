"""`calendar.max_age_s` never took effect: it is refused, pointing at the per-source max_age."""

from __future__ import annotations

import shutil
from pathlib import Path

from calendar_sync.sources import CalendarSourcesSettings
from switchboard.config import ConfigError, load_config
from tests.conftest import ROOT


def org_with(tmp_path: Path, extra_yaml: str) -> Path:
    """A copy of the Älvkarleby sample with lines appended to its organisation.yaml."""
    dest = tmp_path / "alvkarleby"
    shutil.copytree(ROOT / "config" / "alvkarleby", dest, ignore=shutil.ignore_patterns("data"))
    org = dest / "organisation.yaml"
    text = org.read_text(encoding="utf-8")
    assert "\ncalendar:\n" in text and "calendar_sources:" not in text
    org.write_text(text.replace("\ncalendar:\n", "\ncalendar:\n" + extra_yaml, 1), "utf-8")
    return dest


def test_organisation_calendar_max_age_s_is_an_error_naming_the_replacement(
    tmp_path: Path,
) -> None:
    """The dead key is one problem line with file, line and the key to use instead."""
    folder = org_with(tmp_path, "  max_age_s: 600\n")
    try:
        load_config(folder)
    except ConfigError as exc:
        problems = exc.problems
    else:
        raise AssertionError("calendar.max_age_s was accepted")
    (line,) = [p for p in problems if "max_age" in p]
    assert line.startswith(f"{folder / 'organisation.yaml'}:")
    assert ": calendar.max_age_s: is not used: set max_age under calendar_sources." in line


def test_per_source_max_age_is_what_the_sync_reads(tmp_path: Path) -> None:
    """The replacement, calendar_sources.<source>.max_age, loads into the poll settings."""
    folder = org_with(tmp_path, "")
    org = folder / "organisation.yaml"
    org.write_text(
        org.read_text(encoding="utf-8") + "calendar_sources:\n  ics:\n    max_age: 15m\n", "utf-8"
    )
    sources = load_config(folder).calendar_sources
    assert isinstance(sources, CalendarSourcesSettings)
    assert sources.ics.poll.max_age_s == 900.0
