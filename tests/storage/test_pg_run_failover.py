"""Failover of real `switchboard run` nodes on one PostgreSQL and the simulated platform process."""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pgcluster import Cluster
from test_pg_concurrent_intake import _fill

from switchboard.app import spool_dir
from switchboard.config import load_config
from switchboard.leadership import current_leader
from switchboard.storage import open_register

ROOT = Path(__file__).resolve().parents[2]
ALV = ROOT / "config" / "alvkarleby"
# The service runs on a pinned day (then at wall-clock speed), never on whatever today holds.
PINNED = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)
PINNED_AT = "2026-11-24T10:15"
TAKEOVER_LIMIT_S = 10.0
MESSAGES = 1500
SECRET = "failover-secret"


class Proc:
    """A subprocess whose stdout and stderr lines are collected as they arrive."""

    def __init__(self, argv: list[str], env: dict[str, str], stdin: bool = False) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.proc.stdout, self.proc.stderr)
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: object) -> None:
        for raw in stream:  # type: ignore[attr-defined]
            self.lines.put(raw.decode(errors="replace").rstrip())

    def wait_for(self, match: Callable[[str], bool], timeout: float) -> str | None:
        """The first new line `match` accepts within `timeout` seconds, or None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            self.seen.append(line)
            if match(line):
                return line
        return None

    def send(self, line: str) -> None:
        """One command line on stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())
        self.proc.stdin.flush()

    def end(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal, wait (killing after 20 s), and close the pipes."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def health(port: int) -> dict[str, object]:
    """GET /healthz on 127.0.0.1 (an empty dict when the node does not answer)."""
    import json

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            body: dict[str, object] = json.loads(resp.read())
            return body
    except OSError:
        return {}


def start_node(folder: Path, env: dict[str, str]) -> tuple[Proc, int]:
    """`switchboard run` on a free port; the process and its HTTP port."""
    node = Proc(
        [sys.executable, "-m", "switchboard", "run", str(folder), "--port", "0", "--at", PINNED_AT],
        env,
    )
    line = node.wait_for(lambda s: "at http://127.0.0.1:" in s, 60)
    assert line is not None, "\n".join(node.seen)
    port = int(line.split("at http://127.0.0.1:", 1)[1].split("/", 1)[0])
    return node, port


async def _records(folder: Path) -> tuple[list[str], list[int], bool]:
    async with await open_register(load_config(folder)) as register:
        records = await register.records()
        verified = (await register.verify()).ok
    keys = [r.msg_id or f"no-id-{int(r.arrived_at.timestamp())}" for r in records]
    # gapless within each series: the year is the arrival's (a message left at the turn of a
    # year, or by a platform whose clock is not the node's pinned day, starts the next series)
    series: dict[str, list[int]] = {}
    for r in records:
        series.setdefault(r.registration_number[:-6], []).append(int(r.registration_number[-6:]))
    numbers = [n for ns in series.values() for n in sorted(ns)]
    gapless = all(sorted(ns) == list(range(1, len(ns) + 1)) for ns in series.values())
    return keys, numbers if gapless else [], verified


def _copies_started(audio: Path) -> bool:
    """Whether the intake has begun copying audio into the store (any file in a shard)."""
    try:
        shards = [d for d in os.scandir(audio) if d.is_dir()]
    except FileNotFoundError:
        return False
    for shard in shards:
        with os.scandir(shard.path) as entries:
            if any(e.is_file() for e in entries):
                return True
    return False


def _count(dsn: str) -> int:
    async def count() -> int:
        import asyncpg

        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval("SELECT COUNT(*) FROM records"))
        except asyncpg.UndefinedTableError:
            return 0
        finally:
            await conn.close()

    return asyncio.run(count())


@pytest.mark.slow
def test_run_nodes_fail_over_ami_and_intake_after_sigkill(
    pg: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL the leading `switchboard run` mid-intake and mid-call: the standby takes the AMI
    connection and the intake within 10 s; every message once, numbers gapless, chain verifies."""
    dsn = pg.create_database()
    folder = tmp_path / "alvkarleby"
    shutil.copytree(ALV, folder, ignore=shutil.ignore_patterns("data", "scenarios"))
    spool = spool_dir(load_config(folder))
    audio = Path(load_config(folder).org.data_dir) / "voicemail" / "audio"  # the register's copies
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        "SWITCHBOARD_DSN": dsn,
        "SWITCHBOARD_AMI_SECRET": SECRET,
        "SWITCHBOARD_DEV_PASSWORD": "dev-password",
        "SWITCHBOARD_SESSION_SECRET": "s" * 32,
    }
    platform = Proc(
        [sys.executable, "-m", "switchboard", "platform", "--spool", str(spool)], env, stdin=True
    )
    nodes: list[Proc] = []
    try:
        line = platform.wait_for(lambda s: s.startswith("listening "), 30)
        assert line is not None, "\n".join(platform.seen)
        ami_port = int(line.split()[1])
        yaml = folder / "organisation.yaml"
        yaml.write_text(
            yaml.read_text(encoding="utf-8")
            + "storage: {engine: postgresql, dsn_env: SWITCHBOARD_DSN}\n"
            + "telephony:\n  platform: asterisk\n"
            + f"  ami: {{host: 127.0.0.1, port: {ami_port}, secret_env: SWITCHBOARD_AMI_SECRET}}\n",
            encoding="utf-8",
        )
        first, first_port = start_node(folder, env)
        nodes.append(first)
        second, second_port = start_node(folder, env)
        nodes.append(second)
        deadline = time.monotonic() + 30
        while not health(first_port).get("leader") and not health(second_port).get("leader"):
            assert time.monotonic() < deadline, "no node leads"
            time.sleep(0.05)
        leader, _standby, standby_port = (
            (first, second, second_port)
            if health(first_port).get("leader")
            else (second, first, first_port)
        )
        assert asyncio.run(current_leader(dsn, "switchboard.leader:public")) is not None
        assert not health(standby_port).get("ami_connected")
        platform.send("call 83012 0701112233")  # a call the leader is handling
        assert platform.wait_for(lambda s: s.startswith("placed "), 10)
        # the messages arrive now, so the intake cannot finish before the test is ready to kill
        expected = set(_fill(spool, 0, MESSAGES))
        # Kill while the intake is under way: at its first audio copy (a cheap look at the
        # folder, not a database query, whose latency let a fast intake finish before the kill).
        deadline = time.monotonic() + 60
        while not _copies_started(audio):
            assert time.monotonic() < deadline, "the leader took nothing in"
            time.sleep(0.002)
        leader.end(signal.SIGKILL)
        killed_at = time.monotonic()
        taken_before = _count(dsn)
        assert taken_before < MESSAGES, "the leader finished before it was killed"
        while not (h := health(standby_port)).get("leader") or not h.get("ami_connected"):
            assert time.monotonic() - killed_at < TAKEOVER_LIMIT_S, f"no takeover: {h}"
            time.sleep(0.02)
        takeover_s = time.monotonic() - killed_at
        print(f"takeover {takeover_s:.2f} s")
        platform.send("call 83012 0701112233 Ring mig tillbaka")  # left on the new leader
        done = platform.wait_for(lambda s: s.startswith("done ") and "spool" in s, 60)
        assert done is not None, "\n".join(platform.seen[-20:])
        deadline = time.monotonic() + 60
        while _count(dsn) < MESSAGES + 1:  # ALV-23: the spool keeps them (the phone mailbox)
            assert time.monotonic() < deadline, f"intake not finished: {_count(dsn)}"
            time.sleep(0.1)
        platform.send("sessions")
        assert platform.wait_for(lambda s: s == "sessions 1", 10), platform.seen[-5:]
    finally:
        for proc in (*nodes, platform):
            proc.end()
    monkeypatch.setenv("SWITCHBOARD_DSN", dsn)
    monkeypatch.setenv("SWITCHBOARD_AMI_SECRET", SECRET)
    keys, numbers, verified = asyncio.run(_records(folder))
    assert len(keys) == len(set(keys)) == MESSAGES + 1, "a message lost or registered twice"
    assert expected <= set(keys)
    assert len(numbers) == MESSAGES + 1, "gaps or repeats in the numbers"
    assert verified, "audit chain or audio copies do not verify"
