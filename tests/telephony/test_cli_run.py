"""`switchboard call` end to end into the register, `switchboard run` (SIGHUP, SIGTERM) and the
composition root (intake, VoicemailRefresh, the web hook, clean shutdown)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from calendar_sync.clock import OffsetClock
from switchboard.app import RUNTIME, create_app, spool_dir
from switchboard.cli import main
from switchboard.config import load_config
from switchboard.service_runner import Server
from switchboard.telephony.calllog import CallLogStore
from switchboard.telephony.sim import SimCall, SimulatedAsterisk
from switchboard.telephony.sim.spool import write_spool_message
from voicemail.greetings import espeak_available

ROOT = Path(__file__).resolve().parents[2]
ALV = ROOT / "config" / "alvkarleby"
# The service runs on a pinned day (then at wall-clock speed), never on whatever today holds.
PINNED = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)
PINNED_AT = "2026-11-24T10:15"
AT = "2026-11-24T10:15"  # Anna Andersson's meeting, 10:00–11:30 Stockholm time


def copy_org(tmp_path: Path) -> Path:
    """A private copy of the sample organisation (its data under tmp)."""
    folder = tmp_path / "alvkarleby"
    shutil.copytree(ALV, folder, ignore=shutil.ignore_patterns("data", "scenarios"))
    return folder


def steps_of(out: str) -> list[dict[str, object]]:
    """The JSON steps printed by `switchboard call --json`."""
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_call_anna_in_her_meeting_lands_in_the_register(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Done-when: absence message → voicemail → intake → the record in the JSON export."""
    text = "Hej Anna, det gäller bygglovet på Storgatan. Ring mig på 070-111 22 33."
    code = main(
        [
            *("call", str(ALV), "--to", "026-830 12", "--from", "070-111 22 33", "--no-answer"),
            *("--at", AT, "--leave-message", text, "--json"),
        ]
    )
    assert code == 0
    steps = steps_of(capsys.readouterr().out)
    assert [s["step"] for s in steps] == ["message", "ring", "greeting", "voicemail", "hangup"]
    assert steps[0]["text"] == "Anna Andersson är på möte, åter klockan 11.30."
    for step in (steps[0], steps[2], steps[3]):
        assert Path(str(step["audio"])).is_file(), step
    with wave.open(str(steps[3]["audio"])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        frames = w.readframes(w.getnframes())
    if espeak_available():
        assert any(b != 0 for b in frames), "the left message is speech, not silence"
    txt = Path(str(steps[3]["spool"])).read_text(encoding="utf-8")
    assert "origmailbox=83012\n" in txt and "callerid=0701112233\n" in txt
    # the call's clock starts at --at and runs while the call goes on: stored a few seconds later
    origtime = int(txt.split("origtime=", 1)[1].split("\n", 1)[0])
    assert 0 <= origtime - datetime(2026, 11, 24, 9, 15, tzinfo=UTC).timestamp() < 30

    spool = Path(str(steps[3]["spool"])).parents[3]
    args = ["registry", "intake", str(ALV), "--spool", str(spool), "--once", "--settle", "0"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["registry", "export", str(ALV), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 1
    assert records[0]["caller_number"] == "+46701112233"
    assert records[0]["arrived_at"].startswith("2026-11-24T10:15")
    assert records[0]["arrived_at"].endswith("+01:00")  # Stockholm time
    assert records[0]["mailbox_number"] == "83012"


def test_call_with_a_bad_at_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unparseable --at is a one-line error and exit 2."""
    assert main(["call", str(ALV), "--to", "83012", "--at", "tomorrow"]) == 2
    assert "--at 'tomorrow'" in capsys.readouterr().err


def test_call_without_json_prints_one_line_per_step(capsys: pytest.CaptureFixture[str]) -> None:
    """Plain output: the step name, then its details; the call is logged (ALV-18)."""
    assert main(["call", str(ALV), "--to", "070-123 45 67", "--at", AT]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ring") and "answered: True" in lines[0]
    assert lines[-1].startswith("hangup")


async def test_call_is_in_the_call_log(tmp_path: Path) -> None:
    """`switchboard call` records the call in `<data_dir>/calllog.sqlite3`."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard", "call", str(ALV), "--to", "83013", "--at", AT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))},
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    data_dir = load_config(ALV).org.data_dir
    async with CallLogStore.in_data_dir(data_dir) as store:
        calls = await store.query()
    assert len(calls) == 1 and calls[0].called == "83013"
    assert calls[0].start is not None and calls[0].start.isoformat().startswith("2026-11-24T09:15")


async def test_service_takes_voicemail_in_and_refreshes_the_mailbox(tmp_path: Path) -> None:
    """`create_app`: intake runs, VoicemailRefresh goes to the platform, the register closes."""
    config = load_config(ALV)
    sim = SimulatedAsterisk(secret="t")
    await sim.start()
    app = create_app(
        config, simulated=sim, intake_interval_s=0.02, intake_settle_s=0, clock=OffsetClock(PINNED)
    )
    rt = app[RUNTIME]
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert rt.telephony is not None and rt.register is not None
        await asyncio.wait_for(rt.telephony.mirrored.wait(), 5)
        call = SimCall("PJSIP/trunk-1", "1.1", "1.1", "02683012", "0701112233", "Örjan Öst")
        call.leave_message = "Hej"
        await write_spool_message(spool_dir(config), "default", "83012", call, 1795511700.0)
        async with asyncio.timeout(10):
            while not rt.refreshed:  # noqa: ASYNC110 - bounded by the timeout
                await asyncio.sleep(0.02)
        assert rt.refreshed == ["83012@default"]
        assert sim.refreshed == ["83012"]
        assert any(
            m.get("Context") == "default"
            for m in sim.received
            if m.get("Action") == "VoicemailRefresh"
        )
        records = await rt.register.records()
        assert [r.caller_name for r in records] == ["Örjan Öst"]
        register = rt.register
    finally:
        await runner.cleanup()
    assert rt.register is None and rt.telephony is None
    with pytest.raises(Exception, match="not open"):
        _ = register.store.db


async def test_web_layer_is_wired_when_present() -> None:
    """With `switchboard.web` present its routes are added and given the call log."""
    pytest.importorskip("switchboard.web")
    app = create_app(load_config(ALV), clock=OffsetClock(PINNED))
    paths = {r.canonical for r in app.router.resources()}
    assert {"/healthz", "/api/calls", "/api/incidents"} <= paths
    rt = app[RUNTIME]
    assert rt.web is not None and rt.web.call_log is rt.calllog


async def test_healthz_reports_the_platform() -> None:
    """GET /healthz through a real TCP site on 127.0.0.1."""
    import aiohttp

    server = Server(
        ALV,
        "127.0.0.1",
        0,
        app_factory=lambda c: create_app(c, web_layer=False, clock=OffsetClock(PINNED)),
    )
    await server.start(load_config(ALV))
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{server.bound_port}/healthz") as resp,
        ):
            body = await resp.json()
    finally:
        await server.stop()
    assert body["status"] == "ok" and body["platform"] == "simulated" and body["register"]


async def test_reload_validates_and_keeps_the_running_config(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGHUP's reload: a valid folder is swapped in; a broken one is refused with the reason."""
    folder = copy_org(tmp_path)
    server = Server(
        folder,
        "127.0.0.1",
        0,
        app_factory=lambda c: create_app(c, web_layer=False, clock=OffsetClock(PINNED)),
    )
    await server.start(load_config(folder))
    try:
        first = server.runner
        assert await server.reload() is True
        assert server.runner is not first
        running, config = server.runner, server.config
        yaml = folder / "organisation.yaml"
        yaml.write_text(yaml.read_text(encoding="utf-8") + "telephony: {platform: pbx}\n", "utf-8")
        with caplog.at_level(logging.ERROR):
            assert await server.reload() is False
        assert server.runner is running and server.config is config
        refused = [r for r in caplog.records if "reload refused" in r.getMessage()]
        assert refused and "telephony.platform" in str(getattr(refused[0], "problems", ""))
    finally:
        await server.stop()


async def test_hal11_reload_refuses_a_number_passed_on_with_the_old_pin(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """HAL-11 on a live reload: Anna's extension passed to a successor who kept her PIN is
    refused against the directory in force; with a new PIN the reload is swapped in."""
    folder = copy_org(tmp_path)
    server = Server(
        folder,
        "127.0.0.1",
        0,
        app_factory=lambda c: create_app(c, web_layer=False, clock=OffsetClock(PINNED)),
    )
    await server.start(load_config(folder))
    try:
        directory = folder / "directory.yaml"
        text = directory.read_text("utf-8")
        for old, new in (
            (
                "- id: anna.andersson\n  name: Anna Andersson\n",
                "- id: ny.person\n  name: Ny Person\n",
            ),
            ("  - anna.andersson\n", "  - ny.person\n"),
        ):
            assert old in text
            text = text.replace(old, new)
        directory.write_text(text, "utf-8")
        running = server.runner
        with caplog.at_level(logging.ERROR):
            assert await server.reload() is False
        assert server.runner is running
        refused = [r for r in caplog.records if "reload refused" in r.getMessage()]
        problems = str(getattr(refused[0], "problems", ""))
        assert "passed from anna.andersson to ny.person" in problems and "4821" not in problems
        directory.write_text(text.replace("  pin: '4821'\n", "  pin: '5930'\n", 1), "utf-8")
        assert await server.reload() is True
    finally:
        await server.stop()


async def _line_with(stream: asyncio.StreamReader, needle: str, within: float) -> dict[str, object]:
    """The next JSON log line whose event contains `needle`."""
    async with asyncio.timeout(within):
        while True:
            raw = await stream.readline()
            if not raw:
                raise AssertionError(f"stream ended before {needle!r}")
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if needle in str(line.get("event")):
                return dict(line)


async def test_run_reloads_on_sighup_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`switchboard run` as a process: starts, reloads on SIGHUP (bad one refused), exits 0 on SIGTERM."""
    folder = copy_org(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard", "run", str(folder), "--port", "0", "--at", PINNED_AT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))), "SWITCHBOARD_DATA_DIR": str(tmp_path / "d")},
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        started = await _line_with(proc.stderr, "service started", 30)
        assert started["organisation"] == "alvkarleby" and started["port"]
        proc.send_signal(signal.SIGHUP)
        await _line_with(proc.stderr, "configuration reloaded", 30)
        yaml = folder / "organisation.yaml"
        yaml.write_text(yaml.read_text(encoding="utf-8") + "telephony: {platform: pbx}\n", "utf-8")
        proc.send_signal(signal.SIGHUP)
        refused = await _line_with(proc.stderr, "reload refused", 30)
        assert "telephony.platform" in json.dumps(refused["problems"])
        proc.send_signal(signal.SIGTERM)
        await _line_with(proc.stderr, "service stopped", 30)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        # read stderr to its end: an undrained pipe keeps the transport open until GC warns
        await asyncio.wait_for(proc.stderr.read(), 10)
    assert (tmp_path / "d" / "alvkarleby" / "calllog.sqlite3").exists()
