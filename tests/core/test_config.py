"""Configuration: typed loading and loud, specific errors (HAL-01, HAL-04, HAL-07, HAL-10)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from switchboard.config import ConfigError, load_config
from tests.conftest import ROOT

SAMPLES = ("alvkarleby", "hallsberg")


@pytest.mark.parametrize("org", SAMPLES)
def test_samples_load(org: str) -> None:
    """Both sample organisations load, with 10-20 users and calendars."""
    config = load_config(ROOT / "config" / org)
    assert 10 <= len(config.directory.users) <= 20
    assert all(u.extension for u in config.directory.users)


def test_mailbox_defaults_to_extension_digits_after_area_code() -> None:
    """'026-830 12' → mailbox '83012'."""
    config = load_config(ROOT / "config" / "alvkarleby")
    anna = config.directory.user("anna.andersson")
    assert anna is not None and anna.mailbox == "83012"


def copy_org(tmp_path: Path, org: str = "alvkarleby") -> Path:
    """A writable copy of a sample organisation."""
    dest = tmp_path / org
    shutil.copytree(ROOT / "config" / org, dest, ignore=shutil.ignore_patterns("data"))
    return dest


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace text in a file (must be present)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def problems(folder: Path) -> list[str]:
    """The problem lines for a folder (empty when it loads)."""
    try:
        load_config(folder)
    except ConfigError as exc:
        return exc.problems
    return []


def one(lines: list[str], needle: str) -> str:
    """The single problem line containing needle."""
    hits = [line for line in lines if needle in line]
    assert len(hits) == 1, lines
    return hits[0]


def test_number_outside_plan_names_file_line_and_path(tmp_path: Path) -> None:
    """An extension outside the plan: FILE:LINE: users[0].extension: …"""
    org = copy_org(tmp_path)
    edit(org / "directory.yaml", "extension: 026-830 12", "extension: 026-840 12")
    line = one(problems(org), "users[0].extension")
    assert line.startswith(f"{org / 'directory.yaml'}:8: users[0].extension:")
    assert "numbering plan 026-83X XX" in line


def test_invalid_and_duplicate_numbers(tmp_path: Path) -> None:
    """An invalid mobile and a duplicated extension are both reported."""
    org = copy_org(tmp_path)
    edit(org / "directory.yaml", "mobile: 070-123 45 67", "mobile: 070-12")
    edit(org / "directory.yaml", "extension: 026-830 13", "extension: 026-830 12")
    lines = problems(org)
    assert "not a valid telephone number" in one(lines, "users[0].mobile")
    assert "duplicate number +462683012" in one(lines, "users[1].extension")


def test_duplicate_ids_and_unknown_group_member(tmp_path: Path) -> None:
    """Duplicate user ids and unknown group members are errors."""
    org = copy_org(tmp_path)
    edit(org / "directory.yaml", "id: bertil.berg", "id: anna.andersson")
    lines = problems(org)
    assert "duplicate id 'anna.andersson'" in one(lines, "users[1].id")
    assert any("unknown group member 'bertil.berg'" in line for line in lines)


def test_hal04_telephone_hours_on_personal_number_is_an_error(tmp_path: Path) -> None:
    """HAL-04: telephone hours only on group numbers."""
    org = copy_org(tmp_path)
    edit(
        org / "directory.yaml",
        "  voicemail: true\n  covering: bertil.berg",
        "  voicemail: true\n  telephone_hours: {days: [mon], start: '09:00', end: '10:00'}\n  covering: bertil.berg",
    )
    assert "HAL-04" in one(problems(org), "users[0].telephone_hours")


def test_hal01_redirection_disabled_on_personal_subscription_is_an_error(tmp_path: Path) -> None:
    """HAL-01: redirection must be enabled on every personal subscription."""
    org = copy_org(tmp_path)
    edit(
        org / "directory.yaml",
        "  voicemail: true\n  covering: bertil.berg",
        "  voicemail: true\n  redirect: false\n  covering: bertil.berg",
    )
    assert "HAL-01" in one(problems(org), "users[0].redirect")


def test_hal07_pin_shorter_than_four_digits(tmp_path: Path) -> None:
    """HAL-07: a PIN has at least 4 digits."""
    org = copy_org(tmp_path)
    edit(org / "directory.yaml", "pin: '4821'", "pin: '482'")
    assert "at least 4 digits" in one(problems(org), "users[0].pin")


def test_yaml_typo_in_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    """Unknown keys (typos) are errors with a hint."""
    org = copy_org(tmp_path)
    edit(org / "directory.yaml", "mobile_follows_calendar: false", "mobile_follow_calendar: false")
    edit(org / "organisation.yaml", "timezone:", "time_zone:")
    lines = problems(org)
    assert "did you mean 'mobile_follows_calendar'" in one(lines, "users[0].mobile_follow_calendar")
    assert "did you mean 'timezone'" in one(lines, "time_zone")


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    """A YAML syntax error is reported with its line, not a traceback."""
    org = copy_org(tmp_path)
    edit(org / "organisation.yaml", "policy:\n", "policy: [\n")
    line = one(problems(org), "YAML syntax error")
    assert line.startswith(str(org / "organisation.yaml") + ":")


def test_missing_calendar_file(tmp_path: Path) -> None:
    """A calendar file that does not exist is an error."""
    org = copy_org(tmp_path)
    (org / "calendars" / "anna.andersson.ics").unlink()
    assert "does not exist" in one(problems(org), "users[0].calendar.ics")


def test_check_config_cli_exit_codes_and_no_traceback(tmp_path: Path) -> None:
    """check-config: exit 0 with one line; exit 2 with problem lines and no traceback."""
    ok = subprocess.run(
        [sys.executable, "-m", "switchboard", "check-config", str(ROOT / "config" / "hallsberg")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and len(ok.stdout.strip().splitlines()) == 1
    org = copy_org(tmp_path)
    edit(org / "directory.yaml", "pin: '4821'", "pin: '1'")
    edit(org / "organisation.yaml", 'switchboard: "026-830 00"', 'switchboard: "nej"')
    bad = subprocess.run(
        [sys.executable, "-m", "switchboard", "check-config", str(org)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 2


def test_hal10_personal_id_never_in_errors(tmp_path: Path) -> None:
    """HAL-10: a problem with a personal identity number never echoes it."""
    org = copy_org(tmp_path)
    edit(org / "directory.yaml", "personal_id: 19700110-1234", "personal_id: [19700110-1234]")
    lines = problems(org)
    assert lines and not any("19700110" in line for line in lines)
