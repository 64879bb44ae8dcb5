"""`switchboard registry …` end to end in-process: commands, exports, exit codes, no identity numbers."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from vmkit import PERSONAL_IDS, copy_real_spool, make_org, make_settings, message_txt, put_message
from vmkit import wav_bytes as wav

from routing.models import Organisation
from routing.presence import PresenceRules
from switchboard.cli import main
from switchboard.cli.registry import shared as registry_shared
from switchboard.config import Config
from voicemail.models import VoicemailSettings

ROOT = Path(__file__).resolve().parents[2]
PNR = re.compile(r"\d{6,8}[-+]?\d{4}")
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run `switchboard registry …` against an organisation built in code; returns (code, out, err)."""
    org = make_org(tmp_path / "data")
    config = Config(org, PresenceRules(org.timezone, org.working_hours), make_settings(), tmp_path)
    monkeypatch.setattr(registry_shared, "load", lambda folder: config)
    db = str(tmp_path / "reg.sqlite3")

    def run(*argv: str) -> tuple[int, str, str]:
        cmd, *rest = argv
        code = main(["registry", cmd, "ORGDIR", "--db", db, *rest])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _spool(tmp_path: Path) -> Path:
    spool = tmp_path / "spool"
    copy_real_spool(spool)
    put_message(
        spool,
        "83013",
        0,
        message_txt(1795449900, "1795449900-00000001", mailbox="83013"),
        wav(b"b"),
    )
    put_message(
        spool,
        "89999",
        0,
        message_txt(1795449950, "1795449950-00000002", mailbox="89999"),
        wav(b"c"),
    )
    return spool


def test_cli_registrar_workflow(cli: Run, tmp_path: Path) -> None:
    """Intake, queue, classify, show, play, overdue, dispose and verify from the command line."""
    run = cli
    spool = _spool(tmp_path)
    code, out, _ = run("intake", "--spool", str(spool), "--once", "--now", "2030-01-01T00:00+00:00")
    assert code == 0 and "3 taken in" in out and "89999 maps to no user" in out
    code, out, _ = run("list", "--queue", "--now", "2026-11-23T18:04:10+01:00")
    first = out.splitlines()[0]
    assert (
        first.startswith("ALV-RÖST-2026-000001  2026-11-23 17.04") and "väntat 1 h 0 min" in first
    )
    code, out, _ = run(
        "classify", "ALV-RÖST-2026-000001", "--as", "rut.registrator",
        "--class", "public_registered", "--case", "BN 2026/7", "--summary", "Bygglov",
        "--now", "2026-11-23T18:00+01:00",
    )  # fmt: skip
    assert code == 0, out
    code, out, _ = run("show", "ALV-RÖST-2026-000001", "--json")
    shown = json.loads(out)
    assert shown["classification"] == "public_registered" and shown["case_reference"] == "BN 2026/7"
    assert [e["action"] for e in shown["audit"]] == ["record.received", "record.classified"]
    target = tmp_path / "heard.wav"
    code, out, _ = run("play", "1", "--as", "anna.andersson", "--out", str(target))
    assert code == 0 and target.read_bytes()[:4] == b"RIFF"
    code, out, _ = run("overdue", "--json", "--now", "2026-12-01T12:00+01:00")
    overdue = json.loads(out)
    assert {o["mailbox_number"] for o in overdue} == {"83013", "89999"}
    bertil = next(o for o in overdue if o["mailbox"] == "bertil.berg")
    assert bertil["notify"] == ["cecilia.carlsson"]
    code, out, _ = run("dispose", "--now", "2040-01-01T00:00+00:00")
    assert code == 0 and "0 record(s) disposed" in out
    code, out, _ = run("verify")
    assert code == 0 and "intact" in out


def test_rec01_export_json_contract(cli: Run, tmp_path: Path) -> None:
    """REC-01: the JSON export shows arrival, number, sender and (once classified) what it concerns."""
    run = cli
    run("intake", "--spool", str(_spool(tmp_path)), "--once", "--now", "2030-01-01T00:00+00:00")
    code, out, _ = run("export", "--format", "json")
    assert code == 0
    [first, *_] = json.loads(out)
    required = {
        "registration_number", "arrived_at", "mailbox", "caller_number", "caller_name",
        "duration_s", "sha256", "status", "classification",
    }  # fmt: skip
    assert required <= set(first)
    assert first["registration_number"] == "ALV-RÖST-2026-000001"
    assert first["arrived_at"] == "2026-11-23T17:04:10+01:00"
    assert first["mailbox"] == "anna.andersson"
    assert first["caller_number"] == "+46701234567"
    assert first["caller_name"] == "Örjan Öst"
    assert first["duration_s"] == 9
    assert first["classification"] is None and first["status"] == "awaiting_classification"
    run(
        "classify", "1", "--as", "rut.registrator", "--class", "public_minor_importance",
        "--summary", "Felringning", "--now", "2026-11-24T09:00+01:00",
    )  # fmt: skip
    _, out, _ = run("export", "--format", "json")
    first = json.loads(out)[0]
    assert first["summary"] == "Felringning"
    assert first["classification"] == "public_minor_importance"


def test_cli_export_csv_and_xml(cli: Run, tmp_path: Path) -> None:
    """CSV has the same columns; the XML is ERMS-shaped: incoming, received, number, sender."""
    run = cli
    run("intake", "--spool", str(_spool(tmp_path)), "--once", "--now", "2030-01-01T00:00+00:00")
    _, out, _ = run("export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 and rows[0]["caller_name"] == "Örjan Öst"
    _, out, _ = run("export", "--format", "xml")
    ns = {"e": "https://DILCIS.eu/XML/ERMS"}
    root = ET.fromstring(out.encode())
    rec = root.find("e:records/e:record", ns)
    assert rec is not None
    assert rec.findtext("e:objectId", namespaces=ns) == "ALV-RÖST-2026-000001"
    direction = rec.find("e:direction", ns)
    assert direction is not None and direction.get("directionDefinition") == "incoming"
    received = rec.find("e:dates/e:date[@dateType='received']", ns)
    assert received is not None and received.text == "2026-11-23T17:04:10+01:00"
    assert (
        rec.findtext("e:agents/e:agent[@agentType='sender']/e:name", namespaces=ns) == "Örjan Öst"
    )
    assert rec.findtext("e:title", namespaces=ns)


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (("show", "ALV-RÖST-2026-000404"), 2, "no record"),
        (("show", "nonsense"), 2, "no record"),
        (("play", "1", "--as", "bertil.berg"), 3, "may not play"),
        (("classify", "1", "--as", "anna.andersson", "--class", "public_minor_importance", "--summary", "x"), 3, "only registrars"),
        (("classify", "1", "--as", "rut.registrator", "--class", "public_registered", "--summary", "x"), 2, "diarienummer: en allmän handling som registreras i ett ärende behöver det (--case)"),
        (("classify", "1", "--as", "rut.registrator", "--class", "bogus", "--summary", "x"), 2, "invalid choice"),
        (("export", "--format", "pdf"), 2, "invalid choice"),
        (("list", "--now", "yesterday"), 2, "not an ISO 8601"),
        (("intake", "--spool", "/nonexistent/spool", "--once"), 2, "no such directory"),
    ],
)  # fmt: skip
def test_cli_errors_are_one_line(
    cli: Run, tmp_path: Path, argv: tuple[str, ...], code: int, needle: str
) -> None:
    """Unknown ids, forbidden actions and bad arguments give one line and exit 2 (3 if forbidden)."""
    run = cli
    run("intake", "--spool", str(_spool(tmp_path)), "--once", "--now", "2030-01-01T00:00+00:00")
    try:
        got, _out, err = run(*argv)
    except SystemExit as exc:  # argparse's own errors
        got, err = int(exc.code or 0), ""
    assert got == code
    if err:
        assert len(err.strip().splitlines()) == 1 and needle in err
        assert "Traceback" not in err


def test_hal10_no_personal_identity_number_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """HAL-10: no export, CLI output, log line or stored file holds a directory identity number."""
    org_dir = tmp_path / "alvkarleby"
    shutil.copytree(ROOT / "config" / "alvkarleby", org_dir, ignore=shutil.ignore_patterns("data"))
    directory_text = (org_dir / "directory.yaml").read_text(encoding="utf-8")
    pnrs = set(PNR.findall(directory_text)) | set(PERSONAL_IDS)
    assert pnrs, "the sample directory should carry identity numbers to look for"
    spool = _spool(tmp_path)
    db = str(tmp_path / "reg.sqlite3")
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    for argv in (
        ["intake", "--spool", str(spool), "--once", "--now", "2030-01-01T00:00+00:00"],
        ["list"], ["list", "--queue", "--json"], ["show", "1"], ["show", "1", "--json"],
        ["overdue", "--now", "2030-01-01T00:00+00:00"], ["overdue", "--json"],
        ["export", "--format", "json"], ["export", "--format", "csv"],
        ["export", "--format", "xml"], ["verify"], ["dispose"],
        ["play", "1", "--as", "bertil.berg"],
    ):  # fmt: skip
        main(["registry", argv[0], str(org_dir), "--db", db, *argv[1:]])
        captured = capsys.readouterr()
        outputs += [captured.out, captured.err]
    outputs.append(caplog.text)
    outputs += [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*.sqlite3*")]
    blob = "\n".join(outputs)
    assert "ALV-RÖST-2026-000001" in blob  # the commands did run against the sample config
    for pnr in pnrs:
        assert pnr not in blob
        assert pnr.replace("-", "") not in blob


def test_cli_works_with_real_sample_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI loads the sample organisation through load_config and finds Anna's mailbox."""
    org_dir = tmp_path / "alvkarleby"
    shutil.copytree(ROOT / "config" / "alvkarleby", org_dir, ignore=shutil.ignore_patterns("data"))
    spool = tmp_path / "spool"
    copy_real_spool(spool)
    assert main(["registry", "intake", str(org_dir), "--spool", str(spool), "--once"]) == 0
    assert "owner anna.andersson" in capsys.readouterr().out
    assert main(["registry", "export", str(org_dir), "--format", "json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["mailbox"] == "anna.andersson"


def test_org_and_settings_types(tmp_path: Path) -> None:
    """The builders used above produce the loader's types."""
    assert isinstance(make_org(tmp_path), Organisation)
    assert isinstance(make_settings(), VoicemailSettings)


def test_rec01_cli_exports_for_excel_and_a_date_range(cli: Run, tmp_path: Path) -> None:
    """REC-01: `--format excel` is semicolon CSV with a BOM, `--format xlsx` needs --out, and
    `--from`/`--to` (local dates) choose what is exported."""
    run = cli
    run("intake", "--spool", str(_spool(tmp_path)), "--once", "--now", "2030-01-01T00:00+00:00")
    code, out, _ = run("export", "--format", "excel")
    assert code == 0 and out.startswith("\ufeffDiarienummer;Inkom;Brevlåda")
    code, _, err = run("export", "--format", "xlsx")
    assert code == 2 and "--out" in err
    target = tmp_path / "register.xlsx"
    code, _, _ = run("export", "--format", "xlsx", "--out", str(target))
    assert code == 0 and target.read_bytes()[:2] == b"PK"
    _, out, _ = run("export", "--format", "json", "--to", "2026-11-22")
    assert json.loads(out) == []
    _, out, _ = run("export", "--format", "json", "--from", "2026-11-23", "--to", "2026-11-23")
    assert len(json.loads(out)) == 3
    with pytest.raises(SystemExit) as exited:  # argparse refuses it before anything runs
        run("export", "--from", "23/11")
    assert exited.value.code == 2
