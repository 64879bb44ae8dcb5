"""Issue 19, `check-config`: the contact centre is no covering point (HAL-03), PINs (HAL-07,
HAL-11), non-personal subscriptions (HAL-10, HAL-06) and a calendar on every personal
subscription (HAL-16, a warning)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from switchboard import phonebook
from switchboard.cli import check_config as check_config_command
from switchboard.config import ConfigError, load_config
from tests.conftest import ROOT


def copy_org(tmp_path: Path, org: str = "alvkarleby") -> Path:
    """A writable copy of a sample organisation."""
    dest = tmp_path / org
    shutil.copytree(ROOT / "config" / org, dest, ignore=shutil.ignore_patterns("data"))
    return dest


def edit(path: Path, old: str, new: str) -> None:
    """Replace text once in a file (it must be there)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems(folder: Path) -> list[str]:
    """The problem lines of a folder (empty when it loads)."""
    try:
        load_config(folder)
    except ConfigError as exc:
        return exc.problems
    return []


def check_config(*argv: str) -> int:
    """`switchboard check-config ARGV…` through the command's own parser."""
    parser = argparse.ArgumentParser(prog="switchboard")
    check_config_command.register(parser.add_subparsers())
    args = parser.parse_args(["check-config", *argv])
    code: int = args.func(args)
    return code


def only(lines: list[str], needle: str) -> str:
    """The one line containing needle."""
    hits = [line for line in lines if needle in line]
    assert len(hits) == 1, lines
    return hits[0]


@pytest.mark.parametrize("org", ["alvkarleby", "hallsberg"])
def test_hal07_hal11_samples_stay_valid(org: str) -> None:
    """HAL-07 / HAL-11: the samples pass the stricter PIN and covering rules."""
    assert problems(ROOT / "config" / org) == []


def test_hal03_covering_the_contact_centre_is_a_configuration_error(tmp_path: Path) -> None:
    """HAL-03: `covering: kontaktcenter` is refused with FILE:LINE: path: what to do."""
    org = copy_org(tmp_path, "hallsberg")
    edit(org / "directory.yaml", "  covering: nils.nilsson\n", "  covering: kontaktcenter\n")
    line = only(problems(org), "users[0].covering")
    text = (org / "directory.yaml").read_text(encoding="utf-8").splitlines()
    number = next(i for i, t in enumerate(text, 1) if "covering: kontaktcenter" in t)
    assert line.startswith(f"{org / 'directory.yaml'}:{number}: users[0].covering: ")
    assert "not a covering point" in line and "HAL-03" in line
    # a group of the unit is still a covering point
    edit(org / "directory.yaml", "  covering: kontaktcenter\n", "  covering: miljo\n")
    assert problems(org) == []


def test_hal03_contact_centre_found_by_name_without_an_explicit_list(tmp_path: Path) -> None:
    """HAL-03: without `contact_centre.groups`, a group named Medborgarservice is the centre."""
    org = copy_org(tmp_path)
    edit(
        org / "directory.yaml",
        "- id: it-support\n  designation: IT-support\n",
        "- id: ms\n  designation: Medborgarservice\n",
    )
    edit(org / "directory.yaml", "  covering: bertil.berg\n", "  covering: ms\n")
    assert "Medborgarservice is the contact centre" in only(problems(org), "users[0].covering")


def test_hal07_voicemail_user_without_pin_is_refused(tmp_path: Path) -> None:
    """HAL-07 / HAL-11: every enabled mailbox has a PIN."""
    org = copy_org(tmp_path)
    edit(org / "directory.yaml", "  pin: '4821'\n", "")
    assert "is required" in only(problems(org), "users[0].pin")


@pytest.mark.parametrize(
    ("pin", "why"),
    [
        ("0000", "one digit repeated"),
        ("7777", "one digit repeated"),
        ("1234", "run of digits"),
        ("4321", "run of digits"),
        ("23456", "run of digits"),
        ("3012", "own extension"),  # Anna's extension 026-830 12
        ("83012", "own extension"),  # her mailbox
        ("4567", "run of digits"),
        ("2345", "run of digits"),
        ("7012", "own extension, mobile"),  # her mobile 070-123 45 67
    ],
)
def test_hal11_trivial_pins_are_refused(tmp_path: Path, pin: str, why: str) -> None:
    """HAL-11: all one digit, ascending/descending runs, the user's own numbers or mailbox."""
    org = copy_org(tmp_path)
    edit(org / "directory.yaml", "  pin: '4821'\n", f"  pin: '{pin}'\n")
    line = only(problems(org), "users[0].pin")
    assert why in line and "HAL-11" in line and pin not in line.split(": ", 1)[1]


def test_hal11_number_passed_to_a_successor_needs_a_new_pin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HAL-11: Anna's extension passes to a successor; keeping her PIN is refused by
    `check-config --previous`, a new PIN passes."""
    before = ROOT / "config" / "alvkarleby"
    org = copy_org(tmp_path)
    edit(
        org / "directory.yaml",
        "- id: anna.andersson\n  name: Anna Andersson\n",
        "- id: ny.person\n  name: Ny Person\n",
    )
    edit(
        org / "directory.yaml",
        "  - anna.andersson\n  - bertil.berg\n",
        "  - ny.person\n  - bertil.berg\n",
    )
    edit(
        org / "directory.yaml",
        "  delegates:\n  - anna.andersson\n",
        "  delegates:\n  - ny.person\n",
    )
    assert problems(org) == []  # alone the folder is valid: only the handover tells
    assert check_config(str(org), "--previous", str(before)) == 2
    err = capsys.readouterr().err
    assert "users[0].pin" in err and "passed from anna.andersson to ny.person" in err
    assert "4821" not in err
    edit(org / "directory.yaml", "  pin: '4821'\n", "  pin: '5930'\n")
    assert check_config(str(org), "--previous", str(before)) == 0


def test_hal16_personal_subscription_without_calendar_is_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """HAL-16: Hallsberg's user without a calendar is reported as a warning with FILE:LINE,
    and check-config still succeeds."""
    assert check_config(str(ROOT / "config" / "hallsberg")) == 0
    out = capsys.readouterr()
    warning = only(out.err.splitlines(), "william.wik" if "william.wik" in out.err else "users[10]")
    assert ": warning: users[10].calendar: no calendar" in warning and "HAL-16" in warning
    assert warning.startswith(str(ROOT / "config" / "hallsberg" / "directory.yaml") + ":")
    assert out.out.strip().endswith("ok with 1 warning(s)")


def test_hal10_groups_and_shared_phones_hold_contact_fields_never_a_personal_id(
    tmp_path: Path,
) -> None:
    """HAL-10: a group or shared phone may hold email, cost centre, visiting address and
    keywords; a personal identity number on one is refused (and never echoed)."""
    cfg = load_config(ROOT / "config" / "alvkarleby")
    phone = cfg.directory.by_id["hemtjanst-nord"]
    assert (phone.email, phone.cost_centre, phone.keywords) == (
        "hemtjanst.nord@example.se",
        "5120",
        ("hemtjänst", "larm"),
    )
    bygglov = cfg.directory.group("bygglov")
    assert bygglov is not None and bygglov.visiting_address == "Tallvägen 1, Skutskär"
    org = copy_org(tmp_path)
    edit(
        org / "directory.yaml",
        "  designation: Hemtjänst Syd\n",
        "  designation: Hemtjänst Syd\n  personal_id: '19700110-1234'\n",
    )
    line = only(problems(org), "shared_phones[1].personal_id")
    assert "never has a personal identity number" in line and "19700110" not in line


def test_hal06_phone_book_finds_groups_and_shared_phones() -> None:
    """HAL-06: a search for "hemtjänst" finds the shared phones, marked as such, with their
    designation and public fields (no personal identity number anywhere)."""
    cfg = load_config(ROOT / "config" / "alvkarleby")
    found = phonebook.search(cfg.directory, q="hemtjänst")
    assert [(e["id"], e["kind"]) for e in found] == [
        ("hemtjanst-nord", "shared_phone"),
        ("hemtjanst-syd", "shared_phone"),
    ]
    assert found[0]["designation"] == "Hemtjänst Nord" and found[0]["number"] == "+46705550001"
    groups = phonebook.search(cfg.directory, q="bygglov")
    assert [(e["id"], e["kind"]) for e in groups] == [("bygglov", "group")]
    assert phonebook.search(cfg.directory, q="hemtjänst", title="handläggare") == []
