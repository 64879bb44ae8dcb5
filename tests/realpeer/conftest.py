"""The realpeer suite: the service against a real, running Asterisk 22 (docs/asterisk.md).

Runs only when `SWITCHBOARD_ASTERISK` names the run tree of the test kit
(`../shared/asterisk-kit`: `$AST_ROOT`, holding `run/ami.secret`, `run/tester.secret`,
`run/lib/sounds`, `run/spool/voicemail`, `run/log/full`); skipped otherwise (CI builds no
Asterisk). `SWITCHBOARD_ASTERISK_AMI_PORT` is the AMI port (default 15038). Asterisk must run
the project's docker/asterisk/{extensions,voicemail,manager}.conf (the kit's setup.sh copies
them) and the kit's test contexts (`phones`, `trunk-out`, `caller`).

Each test starts `switchboard run` as its own process on a copy of the sample organisation
whose users have no calendar (only the test's manual redirects count, whatever today is), with
the kit's dial templates (Local channels stand in for phones and the trunk) and a free FastAGI
port, which the service writes into AstDB for the dialplan.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from switchboard.telephony.ami import AmiClient, Message

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "realpeer-dev-password"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the whole folder unless SWITCHBOARD_ASTERISK names a kit run tree."""
    if os.environ.get("SWITCHBOARD_ASTERISK"):
        return
    skip = pytest.mark.skip(reason="set SWITCHBOARD_ASTERISK to the Asterisk kit's AST_ROOT")
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


@dataclass(frozen=True)
class Kit:
    """Where the running Asterisk's files are."""

    root: Path
    ami_port: int

    @property
    def run(self) -> Path:
        """The run tree."""
        return self.root / "run"

    def secret(self, user: str) -> str:
        """An AMI user's secret (switchboard: ami.secret, tester: tester.secret)."""
        name = "ami.secret" if user == "switchboard" else f"{user}.secret"
        return (self.run / name).read_text(encoding="utf-8").strip()

    def log_lines(self) -> int:
        """How many lines Asterisk's full log has now."""
        with (self.run / "log" / "full").open("rb") as f:
            return sum(1 for _ in f)

    def log_since(self, line: int) -> str:
        """Asterisk's full log from `line` on."""
        with (self.run / "log" / "full").open(encoding="utf-8", errors="replace") as f:
            return "".join(list(f)[line:])


@pytest.fixture
def kit() -> Kit:
    """The kit named by SWITCHBOARD_ASTERISK."""
    root = Path(os.environ["SWITCHBOARD_ASTERISK"])
    if not (root / "run" / "tester.secret").exists():
        pytest.fail(f"SWITCHBOARD_ASTERISK={root}: no run/tester.secret (run the kit's setup.sh)")
    return Kit(root, int(os.environ.get("SWITCHBOARD_ASTERISK_AMI_PORT", "15038")))


@dataclass
class Watch:
    """The tester AMI user (read all): every event with its arrival time."""

    client: AmiClient
    events: list[tuple[float, Message]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on(self, msg: Message) -> None:
        self.events.append((time.perf_counter(), msg))
        self.changed.set()

    async def wait_for(
        self, check: Callable[[Message], bool], within: float, after: float = 0.0
    ) -> tuple[float, Message]:
        """The first event (arrived after `after`) that passes `check`."""
        async with asyncio.timeout(within):
            while True:
                for t, m in self.events:
                    if t >= after and check(m):
                        return t, m
                self.changed.clear()
                await self.changed.wait()

    def since(self, after: float) -> list[Message]:
        """Events that arrived after `after`."""
        return [m for t, m in self.events if t >= after]

    async def originate(self, number: str, *, context: str = "from-trunk", caller: str = "talk",
                        callerid: str = "0701234567") -> float:  # fmt: skip
        """A call into the dialplan whose calling party (`caller` context) talks; the time."""
        t0 = time.perf_counter()
        resp = await self.client.send_action(
            "Originate",
            [
                ("Channel", f"Local/{number}@{context}"),
                ("Context", "caller"),
                ("Exten", caller),
                ("Priority", "1"),
                ("CallerID", callerid),
                ("Async", "true"),
            ],
        )
        assert resp.success, resp.message
        return t0

    async def quiet(self, within: float = 90) -> None:
        """Wait until Asterisk has no channel left."""
        async with asyncio.timeout(within):
            while True:
                resp = await self.client.send_action("CoreShowChannels", deadline=10)
                if not [e for e in resp.events if e.name == "CoreShowChannel"]:
                    return
                await asyncio.sleep(0.5)


@pytest.fixture
async def watch(kit: Kit) -> AsyncIterator[Watch]:
    """A logged-in tester connection that records every event."""
    client = AmiClient(action_timeout=10)
    await client.connect("127.0.0.1", kit.ami_port, "tester", kit.secret("tester"))
    w = Watch(client)
    client.subscribe(w.on)
    try:
        await w.quiet()  # a test starts on an idle PBX
        yield w
    finally:
        await client.close()


def free_port() -> int:
    """A TCP port nothing listens on now (for FastAGI and HTTP)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def org(kit: Kit, tmp_path: Path) -> Path:
    """The sample organisation without calendars, on the kit's Asterisk."""
    folder = tmp_path / "org"
    shutil.copytree(
        ROOT / "config" / "alvkarleby", folder, ignore=shutil.ignore_patterns("data", "scenarios")
    )
    directory = yaml.safe_load((folder / "directory.yaml").read_text(encoding="utf-8"))
    for user in directory["users"]:
        user.pop("calendar", None)  # nobody is redirected by today's calendar
    (folder / "directory.yaml").write_text(yaml.safe_dump(directory, allow_unicode=True), "utf-8")
    text = (folder / "organisation.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "voicemail:\n  extension_users: enabled",
        f"voicemail:\n  spool: {kit.run}/spool/voicemail\n  extension_users: enabled",
    )
    text += (
        f"data_dir: {tmp_path}/data\n"
        "telephony:\n"
        "  platform: asterisk\n"
        f"  sounds_dir: {kit.run}/lib/sounds\n"
        '  internal_dial: "Local/{local}@phones"\n'
        '  external_dial: "Local/{number}@trunk-out"\n'
        "  dial_timeout_s: 3\n"
        f"  fastagi: {{port: {free_port()}}}\n"
        f"  ami: {{host: 127.0.0.1, port: {kit.ami_port}, username: switchboard, "
        f"secret_file: {kit.run}/ami.secret}}\n"
    )
    (folder / "organisation.yaml").write_text(text, encoding="utf-8")
    return folder


@dataclass
class Service:
    """A `switchboard run` process on the kit."""

    proc: asyncio.subprocess.Process
    org: Path
    lines: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def logged(self, needle: str) -> list[dict[str, Any]]:
        """Its JSON log lines whose event contains `needle`."""
        return [line for line in self.lines if needle in str(line.get("event"))]

    async def wait_logged(self, needle: str, within: float = 30) -> dict[str, Any]:
        """The first log line whose event contains `needle` (waits for it)."""
        async with asyncio.timeout(within):
            while not self.logged(needle):
                if self.proc.returncode is not None:
                    raise AssertionError(f"the service exited: {self.lines[-5:]}")
                await asyncio.sleep(0.05)
        return self.logged(needle)[0]

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as a crash."""
        self.proc.send_signal(signal.SIGKILL)

    async def redirect(self, user: str, minutes: int = 120, reason: str = "meeting") -> None:
        """A manual redirect for `user` from now on, set over the HTTP API as the user."""
        base = f"http://127.0.0.1:{self.port}"
        until = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{base}/api/login", json={"user": user, "password": PASSWORD}
            ) as resp:
                assert resp.status == 200, await resp.text()
                token = (await resp.json())["token"]
            async with http.put(
                f"{base}/api/users/{user}/manual-redirect",
                json={"reason": reason, "until": until},
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 200, await resp.text()


async def _pump(service: Service) -> None:
    assert service.proc.stderr is not None
    while raw := await service.proc.stderr.readline():
        with contextlib.suppress(ValueError):
            line = json.loads(raw)
            if isinstance(line, dict):
                service.lines.append(line)
                if line.get("event") == "service started":
                    service.port = int(line["port"])


@contextlib.asynccontextmanager
async def run_service(org: Path, tmp_path: Path) -> AsyncIterator[Service]:
    """`switchboard run ORG --port 0` until the block ends (then SIGTERM, else SIGKILL)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard", "run", str(org), "--port", "0",
        env={**os.environ, "PYTHONPATH": str(ROOT), "SWITCHBOARD_DEV_PASSWORD": PASSWORD,
             "SWITCHBOARD_DATA_DIR": str(tmp_path / "data")},
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    service = Service(proc, org)
    pump = asyncio.create_task(_pump(service))
    try:
        await service.wait_logged("fallback rows")  # connected, resynced, FastAGI listening
        yield service
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await asyncio.wait_for(pump, 10)


@pytest.fixture
def report() -> Iterator[dict[str, object]]:
    """Measurements a test reports (printed at its end; run with -s to see them)."""
    out: dict[str, object] = {}
    yield out
    if out:
        print("\nREALPEER " + json.dumps(out, sort_keys=True))
