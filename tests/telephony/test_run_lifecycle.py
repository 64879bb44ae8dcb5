"""`switchboard run`'s lifecycle against real sockets: a SIGTERM with an AMI peer that stops
answering ends within the stop deadline (exit 0, no traceback), and a reload starts the new
configuration before it stops the old one, so a configuration that cannot start leaves the
running service serving."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from calendar_sync.clock import OffsetClock
from switchboard.app import RUNTIME, create_app
from switchboard.config import load_config
from switchboard.service_runner import Server
from switchboard.telephony.errors import AmiActionTimeout

from .amitools import captured_frame, mute_peer

ROOT = Path(__file__).resolve().parents[2]
ALV = ROOT / "config" / "alvkarleby"
# The service runs on a pinned day (then at wall-clock speed), never on whatever today holds.
PINNED = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)
PINNED_AT = "2026-11-24T10:15"
AGI_START = captured_frame("e_originate_asyncagi", b"Event: AsyncAGIStart")


def copy_org(tmp_path: Path) -> Path:
    """A private copy of the sample organisation."""
    folder = tmp_path / "alvkarleby"
    shutil.copytree(ALV, folder, ignore=shutil.ignore_patterns("data", "scenarios"))
    return folder


def add_yaml(folder: Path, text: str) -> str:
    """Append to organisation.yaml; the text before, to put back."""
    yaml = folder / "organisation.yaml"
    before = yaml.read_text(encoding="utf-8")
    yaml.write_text(before + text, encoding="utf-8")
    return before


def asterisk_at(port: int, **ami: object) -> str:
    """A `telephony:` section for Asterisk at 127.0.0.1:port (secret from $AMI_SECRET)."""
    extra = "".join(f", {k}: {v}" for k, v in ami.items())
    return (
        "telephony:\n  platform: asterisk\n"
        f"  ami: {{host: 127.0.0.1, port: {port}, secret_env: AMI_SECRET{extra}}}\n"
    )


# A start failure: the data folder (databases) would lie inside a regular file.
UNSTARTABLE = "data_dir: organisation.yaml/data\n"


@dataclass
class Run:
    """A `switchboard run` process and every line it wrote to stderr so far."""

    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False  # stderr closed: the process is gone

    async def pump(self) -> None:
        """Collect stderr until the process closes it."""
        assert self.proc.stderr is not None
        while raw := await self.proc.stderr.readline():
            self.lines.append(raw.decode("utf-8", errors="replace"))
            self.changed.set()
        self.ended = True
        self.changed.set()

    def events(self, needle: str) -> list[dict[str, object]]:
        """The JSON log lines whose event contains `needle`."""
        out = []
        for line in self.lines:
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if isinstance(obj, dict) and needle in str(obj.get("event")):
                    out.append(obj)
        return out

    async def wait_for(self, needle: str, count: int = 1, within: float = 30) -> dict[str, object]:
        """The `count`-th log line whose event contains `needle` (waits for it)."""
        async with asyncio.timeout(within):
            while len(found := self.events(needle)) < count:
                if self.ended:
                    raise AssertionError(f"exited before {needle!r}: {''.join(self.lines)}")
                self.changed.clear()
                await self.changed.wait()
        return found[count - 1]


@contextlib.asynccontextmanager
async def switchboard_run(tmp_path: Path, folder: Path, *args: str) -> AsyncIterator[Run]:
    """`switchboard run FOLDER --port 0 ARGS` in its own process, killed if still running."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard", "run", str(folder), "--port", "0", "--at", PINNED_AT, *args,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
            "SWITCHBOARD_DATA_DIR": str(tmp_path / "d"),
            "SWITCHBOARD_DEV_PASSWORD": "dev",
            "AMI_SECRET": "s3cret",
        },
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    run = Run(proc)
    pump = asyncio.create_task(run.pump())
    try:
        yield run
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.wait_for(pump, 10)


async def healthz(port: object) -> dict[str, object]:
    """GET /healthz on 127.0.0.1:port."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as resp,
    ):
        assert resp.status == 200
        body: dict[str, object] = await resp.json()
        return body


async def _eventually(cond: object, within: float) -> None:
    """Poll `cond` every 10 ms for at most `within` s (real I/O from another party)."""
    assert callable(cond)
    async with asyncio.timeout(within):
        while not cond():  # noqa: ASYNC110 - bounded by the timeout
            await asyncio.sleep(0.01)


async def test_sigterm_with_a_mute_ami_peer_exits_0_within_the_stop_deadline(
    tmp_path: Path,
) -> None:
    """The peer logs us in, then answers nothing: a call under control waits for its AGI
    answer, SIGTERM hands it back (an action that would wait 30 s) → the stop gives up after
    --stop-timeout, logs what did not finish, exits 0 with no traceback."""
    folder = copy_org(tmp_path)
    async with mute_peer() as peer:
        add_yaml(folder, asterisk_at(peer.port, action_timeout_s=30, ping_interval_s=600))
        async with switchboard_run(tmp_path, folder, "--stop-timeout", "1.5") as run:
            await run.wait_for("service started")
            await asyncio.wait_for(peer.login_seen.wait(), 10)
            peer.send(AGI_START)  # a call arrives; its first AGI command is never answered
            await _eventually(lambda: peer.actions("AGI"), 10)
            sigterm_at = time.monotonic()
            run.proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(run.proc.wait(), 20)
            took = time.monotonic() - sigterm_at
    stderr = "".join(run.lines)
    assert code == 0, stderr
    assert took < 1.5 + 5, took  # the deadline, plus the process's own start of the stop
    assert "Traceback" not in stderr
    late = run.events("did not finish within 1.5 s")
    assert late, stderr
    unfinished = late[0]["unfinished"]
    # what was still running, e.g. the hand-back of the call waiting for its answer
    assert isinstance(unfinished, list) and any("AmiClient._send" in t for t in unfinished)
    assert run.events("service stopped")


async def test_a_failing_context_is_logged_and_the_rest_still_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A context whose clean-up raises (the reported `AMI action DBPut got no answer`) is one
    error line; the stop itself does not raise and the other contexts are closed."""
    rt_of: list[web.Application] = []

    async def failing(_app: web.Application) -> AsyncGenerator[None]:
        yield
        raise AmiActionTimeout("DBPut", "sb-3", 5)

    def factory(config: object) -> web.Application:
        app = create_app(load_config(ALV), web_layer=False, clock=OffsetClock(PINNED))
        app.cleanup_ctx.append(failing)  # closed first
        rt_of.append(app)
        return app

    server = Server(ALV, "127.0.0.1", 0, app_factory=factory)
    await server.start(load_config(ALV))
    with caplog.at_level(logging.ERROR):
        await server.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "switchboard.service_runner"]
    assert lines == [
        "stopping the service: AmiActionTimeout: AMI action DBPut (sb-3) got no answer within 5 s"
    ]
    assert not any(r.exc_info for r in caplog.records)
    rt = rt_of[0][RUNTIME]
    assert rt.register is None and rt.telephony is None  # the others were still closed


async def test_reload_that_cannot_start_keeps_the_old_service_then_a_good_one_swaps(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reload: a configuration that fails to start is stopped again and the old one keeps
    serving on the port; a good one then takes over the same port."""
    monkeypatch.setenv("AMI_SECRET", "s3cret")
    folder = copy_org(tmp_path)
    server = Server(
        folder,
        "127.0.0.1",
        0,
        app_factory=lambda c: create_app(c, web_layer=False, clock=OffsetClock(PINNED)),
    )
    async with mute_peer() as peer:
        await server.start(load_config(folder))
        try:
            port, first = server.bound_port, server.runner
            assert (await healthz(port))["platform"] == "simulated"
            original = add_yaml(folder, UNSTARTABLE)
            with caplog.at_level(logging.ERROR):
                assert await server.reload() is False
            failed = [r for r in caplog.records if "reload failed to start" in r.getMessage()]
            assert failed, [r.getMessage() for r in caplog.records]
            assert server.runner is first and server.bound_port == port
            assert (await healthz(port))["platform"] == "simulated"

            (folder / "organisation.yaml").write_text(
                original + asterisk_at(peer.port), encoding="utf-8"
            )
            assert await server.reload() is True
            assert server.runner is not first and server.bound_port == port
            assert (await healthz(port))["platform"] == "asterisk"
            await asyncio.wait_for(peer.login_seen.wait(), 10)
        finally:
            await server.stop()


async def test_sighup_with_a_configuration_that_cannot_start_keeps_serving(
    tmp_path: Path,
) -> None:
    """`switchboard run`: SIGHUP with an unstartable configuration → logged, /healthz still
    answers on the same port; SIGHUP with a good one → it runs there (the peer sees its login);
    SIGTERM → exit 0."""
    folder = copy_org(tmp_path)
    async with mute_peer(answering=True) as peer, switchboard_run(tmp_path, folder) as run:
        port = (await run.wait_for("service started"))["port"]
        assert (await healthz(port))["organisation"] == "alvkarleby"
        original = add_yaml(folder, UNSTARTABLE)
        run.proc.send_signal(signal.SIGHUP)
        await run.wait_for("reload failed to start")
        assert (await healthz(port))["organisation"] == "alvkarleby"
        (folder / "organisation.yaml").write_text(
            original + asterisk_at(peer.port), encoding="utf-8"
        )
        run.proc.send_signal(signal.SIGHUP)
        await run.wait_for("configuration reloaded")
        assert (await run.wait_for("service started", count=2))["port"] == port
        assert (await healthz(port))["organisation"] == "alvkarleby"
        await asyncio.wait_for(peer.login_seen.wait(), 10)
        assert any("(telephone platform: asterisk)" in line for line in run.lines)
        run.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(run.proc.wait(), 30) == 0
    assert "Traceback" not in "".join(run.lines)
