"""The route and presence commands on the sample organisations."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from switchboard.cli import main
from tests.conftest import ROOT

ALV = str(ROOT / "config" / "alvkarleby")
HAL = str(ROOT / "config" / "hallsberg")


def route(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    """Run `switchboard route` in-process and parse its JSON."""
    assert main(["route", *args]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_alv06_route_anna_in_her_meeting(capsys: pytest.CaptureFixture[str]) -> None:
    """ALV-06: Anna's extension at 10:15 on 24 November: meeting until 11.30, then Bertil."""
    out = route(capsys, ALV, "--to", "026-830 12", "--at", "2026-11-24T10:15")
    assert out["called"] == "+462683012" and out["number_kind"] == "user_extension"
    assert out["user"] == "anna.andersson" and out["action"] == "redirect"
    assert out["message"] == "Anna Andersson är på möte, åter klockan 11.30."
    assert out["until"] == "2026-11-24T11:30:00+01:00"
    assert out["target"] == "+462683013" and out["next"] is None


def test_alv06_route_anna_on_semester(capsys: pytest.CaptureFixture[str]) -> None:
    """ALV-06/HV-02: during the Semester week the return is Monday 7 December."""
    out = route(capsys, ALV, "--to", "83012", "--at", "2026-12-01T10:00")
    assert out["message"] == "Anna Andersson är på semester, åter måndag den 7 december."


def test_alv04_route_mobile_rings(capsys: pytest.CaptureFixture[str]) -> None:
    """ALV-04: Anna's mobile rings during the meeting."""
    out = route(capsys, ALV, "--to", "070-123 45 67", "--at", "2026-11-24T10:15")
    assert out["action"] == "ring" and out["message"] is None


def test_alv19_hallsberg_allows_international_alvkarleby_does_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ALV-19: a per-organisation policy, not a code branch."""
    alv = route(
        capsys, ALV, "--to", "+44 20 7946 0000", "--from", "026-830 12", "--at", "2026-11-24T10:15"
    )
    hal = route(
        capsys, HAL, "--to", "+44 20 7946 0000", "--from", "0582-680 12", "--at", "2026-11-24T10:15"
    )
    assert alv["action"] == "reject" and hal["action"] == "ring"


def test_route_at_with_offset_is_respected(capsys: pytest.CaptureFixture[str]) -> None:
    """--at with an explicit offset is an instant; without, local Stockholm time."""
    a = route(capsys, ALV, "--to", "83012", "--at", "2026-11-24T09:15:00+00:00")
    b = route(capsys, ALV, "--to", "83012", "--at", "2026-11-24T10:15")
    assert a["message"] == b["message"]


def test_bad_arguments_exit_2_with_one_line() -> None:
    """Unparseable numbers and times: exit 2 and a one-line message."""
    for args in (["--to", "hej"], ["--to", "83012", "--at", "i morgon"]):
        r = subprocess.run(
            [sys.executable, "-m", "switchboard", "route", ALV, *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_presence_prints_one_json_object_per_user(capsys: pytest.CaptureFixture[str]) -> None:
    """presence: one JSON line per user with state and message."""
    assert main(["presence", ALV, "--at", "2026-11-24T10:15"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 12
    by_id = {x["user"]: x for x in lines}
    assert by_id["anna.andersson"]["state"] == "redirected"
    assert by_id["frida.falk"]["state"] == "available"  # HV-05 keep-open marker
    assert by_id["karl.karlsson"]["state"] == "blocked"
    assert by_id["eva.ek"]["reason"] == "away"  # HV-04: VAB is never named
    assert by_id["lena.lund"]["calendar"] == "none"


def test_broken_calendar_marks_only_that_user_unavailable(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    """A broken calendar never stops anything: that user is flagged, everyone else is unaffected."""
    from tests.core.test_config import copy_org

    org = copy_org(tmp_path)
    (org / "calendars" / "bertil.berg.ics").write_text("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:x\n")
    assert main(["presence", str(org), "--at", "2026-11-24T10:15"]) == 0
    by_id = {x["user"]: x for x in map(json.loads, capsys.readouterr().out.splitlines())}
    assert by_id["bertil.berg"]["calendar"] == "unavailable"
    assert by_id["bertil.berg"]["calendar_error"]
    assert by_id["anna.andersson"]["state"] == "redirected"


def test_hal10_personal_id_never_in_cli_output(capsys: pytest.CaptureFixture[str]) -> None:
    """HAL-10: no personal identity number from the directory appears in any command output."""
    from switchboard.config import load_config

    ids = [u.personal_id for u in load_config(ALV).directory.users if u.personal_id]
    assert ids
    main(["presence", ALV, "--at", "2026-11-24T10:15"])
    main(["check-config", ALV])
    for number in ("83012", "83015", "070-123 45 67", "026-830 50"):
        main(["route", ALV, "--to", number, "--at", "2026-11-24T10:15"])
    captured = capsys.readouterr()
    for pid in ids:
        assert pid not in captured.out and pid not in captured.err
        assert pid.replace("-", "") not in captured.out


def test_hal10_user_repr_and_public_fields_hide_personal_id() -> None:
    """HAL-10 / ALV-03: the public view gives the extension, never the personal id or mobile."""
    from tests.core.helpers import ANNA

    assert "19800101" not in repr(ANNA)
    public = ANNA.public()
    assert public["extension"] == "+462683012"
    assert "personal_id" not in public and "mobile" not in public
