"""`switchboard simulate`: exit codes, files written, one-line errors naming the scenario line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulation.scenario import ScenarioError, load_scenario
from switchboard.cli import main

ROOT = Path(__file__).resolve().parents[2]
HALLSBERG = ROOT / "config" / "hallsberg"
ALVKARLEBY = ROOT / "config" / "alvkarleby"
SCENARIO = HALLSBERG / "scenarios" / "vardag.yaml"

SMALL = """\
date: 2026-11-24
seed: 7
answer_probability: 0.8
ring_timeout_s: 25
arrivals:
  extension: {"09": 30, "10": 20}
  group: {"09": 6}
  switchboard: {"10": 10}
"""


def write(tmp_path: Path, text: str) -> Path:
    """A scenario file in tmp_path."""
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_simulate_sample_writes_json_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped Hallsberg scenario: exit 0, both reports, variants compared, a summary line."""
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    code = main(
        [
            "simulate",
            str(HALLSBERG),
            "--scenario",
            str(SCENARIO),
            "--out",
            str(out),
            "--json",
            str(js),
        ]
    )
    assert code == 0
    report = json.loads(js.read_text(encoding="utf-8"))
    for key in (
        "calls",
        "answered",
        "answered_share",
        "outcomes",
        "must_call_again",
        "by_hour",
        "by_unit",
        "by_kind",
        "coverage_warnings",
        "voicemails_created",
    ):
        assert key in report
    assert report["dates"] == ["2026-11-24"] and report["calls"] > 100
    assert {v["name"] for v in report["comparison"]} >= {
        "röstbrevlåda av",
        "mobilen följer kalendern",
    }
    # Per Persson is sick all week and Quinn Qvist home with a sick child: the jour is uncovered
    assert any(w["group"] == "bistand" for w in report["coverage_warnings"])
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    summary = json.loads(capsys.readouterr().out)
    assert summary["calls"] == report["calls"]


def test_cli_same_seed_byte_identical_and_seed_flag(tmp_path: Path) -> None:
    """Two runs with --seed 11 write identical bytes; --seed changes the day."""
    scenario = write(tmp_path, SMALL)
    paths = [tmp_path / f"{n}.json" for n in ("a", "b", "c")]
    for path, seed in zip(paths, ("11", "11", "12"), strict=True):
        args = [
            "simulate",
            str(ALVKARLEBY),
            "--scenario",
            str(scenario),
            "--seed",
            seed,
            "--json",
            str(path),
        ]
        assert main(args) == 0
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b != c


def test_cli_compare_with_another_folder_and_spool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--compare DIR2 adds a comparison row; --spool writes the voicemail left."""
    scenario = write(tmp_path, SMALL)
    spool = tmp_path / "spool"
    code = main(
        [
            "simulate",
            str(ALVKARLEBY),
            "--scenario",
            str(scenario),
            "--compare",
            str(HALLSBERG),
            "--spool",
            str(spool),
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert [v["name"] for v in report["comparison"]] == ["organisation hallsberg"]
    assert report["voicemails_written"] == report["voicemails_created"]
    assert len(list(spool.glob("default/*/INBOX/msg*.txt"))) == report["voicemails_created"]


def test_cli_progress_bar_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--progress draws a bar on stderr and leaves stdout to the report."""
    scenario = write(tmp_path, SMALL)
    assert main(["simulate", str(ALVKARLEBY), "--scenario", str(scenario), "--progress"]) == 0
    captured = capsys.readouterr()
    assert "simulating [" in captured.err and "100%" in captured.err
    json.loads(captured.out)


def test_cli_scenario_typo_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt key: exit 2, one line with the file, the line number and a hint."""
    scenario = write(tmp_path, SMALL.replace("ring_timeout_s", "ring_timout_s"))
    assert main(["simulate", str(ALVKARLEBY), "--scenario", str(scenario)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{scenario}:4: ring_timout_s: unknown key (did you mean 'ring_timeout_s'?)"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            SMALL.replace('"09": 30', '"25": 30'),
            ':6: arrivals.extension.25: hour must be "00" to "23"',
        ),
        (
            SMALL.replace("answer_probability: 0.8", "answer_probability: 1.8"),
            ":3: answer_probability: must be a number",
        ),
        (SMALL.replace("date: 2026-11-24", "date: 24/11"), ":1: date: must be a date"),
        (
            SMALL.replace("  group:", "  groups:"),
            ":7: arrivals.groups: unknown key (did you mean 'group'?)",
        ),
        (
            SMALL + "variants:\n  - name: x\n    voicemail: maybe\n",
            ":11: variants[0].voicemail: must be on or off",
        ),
        ("arrivals: [\n", "YAML syntax error"),
    ],
)
def test_scenario_problems_name_file_line_and_path(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Scenario validation: every problem as FILE:LINE: path: message."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_scenario_sample_files_load() -> None:
    """Both shipped scenarios load, for 2026-11-24, with variants."""
    for folder in (HALLSBERG, ALVKARLEBY):
        s = load_scenario(folder / "scenarios" / "vardag.yaml")
        assert str(s.dates[0]) == "2026-11-24" and s.variants


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "missing.yaml"], "file not found"),
        (["--scenario", "{s}", "--seed", "-1"], "--seed -1"),
        (["--scenario", "{s}", "--compare", "/nonexistent"], "not an organisation folder"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Missing scenario, negative seed, bad compare folder: exit 2 and one line on stderr."""
    scenario = write(tmp_path, SMALL)
    argv = ["simulate", str(ALVKARLEBY), *[a.replace("{s}", str(scenario)) for a in args]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_cli_unknown_group_in_variant_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A variant changing the hours of a group the organisation lacks: exit 2, one line."""
    text = (
        SMALL
        + 'variants:\n  - name: x\n    telephone_hours:\n      nosuch: {days: [mon], start: "08:00", end: "09:00"}\n'
    )
    assert main(["simulate", str(ALVKARLEBY), "--scenario", str(write(tmp_path, text))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no group 'nosuch'" in err[0]


def test_cli_bad_organisation_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder that is not an organisation: exit 2."""
    assert (
        main(["simulate", str(tmp_path / "nope"), "--scenario", str(write(tmp_path, SMALL))]) == 2
    )
    assert "not an organisation folder" in capsys.readouterr().err


def test_cli_voicemail_taken_in_by_the_register(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--spool with --register: every voicemail created becomes a record in the register."""
    scenario = write(tmp_path, SMALL.replace("answer_probability: 0.8", "answer_probability: 0.3"))
    spool = tmp_path / "spool"
    argv = [
        "simulate",
        str(HALLSBERG),
        "--scenario",
        str(scenario),
        "--spool",
        str(spool),
        "--register",
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["voicemails_created"] > 0
    assert report["voicemails_registered"] == report["voicemails_created"]
    # ALV-23: taken in, and still in the owners' phone mailboxes
    assert len(list(spool.glob("default/*/INBOX/msg*.txt"))) == report["voicemails_created"]


def test_cli_register_without_spool_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--register alone has nothing to take in: exit 2 with one line."""
    assert (
        main(["simulate", str(HALLSBERG), "--scenario", str(write(tmp_path, SMALL)), "--register"])
        == 2
    )
    assert "--register needs a spool" in capsys.readouterr().err
