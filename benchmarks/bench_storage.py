"""Register storage beside each other: SQLite (WAL, synchronous=FULL) and PostgreSQL (fsync on).

Run: `python benchmarks/bench_storage.py [--messages 1000] [--records 100000] [--dsn URL]`.
Without `--dsn` (or `SWITCHBOARD_BENCH_DSN`) a throwaway durable cluster is started with
initdb + pg_ctl on 127.0.0.1 (Debian's `postgresql` package). Same machine, same run:
durable intake rate, the same with two intake processes racing (PostgreSQL), takeover after
SIGKILL of the leader (a minimal node, and a real `switchboard run` until its AMI is connected),
and the registrar-queue latency (100 oldest waiting) at 100,000 records. Floors, same run
(benchmarks/floor.py): one durable file per message; the bare indexed queue query.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(ROOT),
    str(ROOT / "benchmarks"),
    str(ROOT / "tests"),
    str(ROOT / "tests" / "storage"),
    str(ROOT / "tests" / "voicemail"),
]

import asyncpg  # noqa: E402
import floor  # noqa: E402
from bench_voicemail import fill_spool, organisation, queue_floor, seed_rows  # noqa: E402

from voicemail.intake import SpoolIntake  # noqa: E402
from voicemail.models import RecordStatus, VoicemailSettings  # noqa: E402
from voicemail.register import RegisterStore  # noqa: E402
from voicemail.service import Register  # noqa: E402
from voicemail.store import SqliteStore  # noqa: E402
from voicemail.store_pg import PostgresStore  # noqa: E402

LATER = datetime(2030, 1, 1, tzinfo=UTC)
COLUMNS = (
    "registration_number", "reg_prefix", "reg_year", "reg_seq", "intake_key", "msg_id",
    "txt_sha256", "arrived_at", "registered_at", "context", "mailbox", "owner_id", "caller_raw",
    "caller_number", "caller_name", "duration_s", "sha256", "audio_bytes", "audio_format",
    "spool_fields", "status", "classification", "summary", "classified_at",
)  # fmt: skip
StoreFactory = Callable[[str], RegisterStore]


async def seed_sqlite(path: Path, rows: list[tuple[object, ...]]) -> None:
    """Bulk-insert into the SQLite register and ANALYZE."""
    con = sqlite3.connect(path)
    marks = ", ".join("?" for _ in COLUMNS)
    with con:
        con.executemany(f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({marks})", rows)
    con.execute("ANALYZE")
    con.close()


async def seed_pg(dsn: str, rows: list[tuple[object, ...]]) -> None:
    """COPY into the PostgreSQL register and ANALYZE."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("records", records=rows, columns=list(COLUMNS))
        await conn.execute("ANALYZE records")
    finally:
        await conn.close()


async def bench_intake(root: Path, name: str, make: StoreFactory, count: int, size: int) -> float:
    """Messages per second through one `SpoolIntake.run_once`, durable before spool removal."""
    spool = root / f"spool-{name}"
    fill_spool(spool, count, size)
    org = organisation(root / f"data-{name}")
    db = root / f"{name}" / "register.sqlite3"
    async with await Register.open(org, VoicemailSettings(), db, store=make(str(db))) as reg:
        start = time.perf_counter()
        report = await SpoolIntake(reg, spool).run_once(LATER)
        elapsed = time.perf_counter() - start
        assert (await reg.verify(check_audio=False)).ok
    assert len(report.taken) == count, (len(report.taken), report.waiting)
    return count / elapsed


def bench_two_intakes(root: Path, dsn: str, count: int, size: int) -> tuple[float, list[int]]:
    """Two intake processes racing over one spool into one PostgreSQL register: msgs/s overall."""
    spool = root / "spool-two"
    fill_spool(spool, count, size)
    worker = ROOT / "tests" / "storage" / "pg_intakeworker.py"
    path = os.pathsep.join(str(p) for p in (ROOT, ROOT / "tests", ROOT / "tests" / "voicemail"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (path, os.environ.get("PYTHONPATH")))),
    }
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), dsn, str(root / "two"), str(spool), "64"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # its log names the bench mailboxes it does not know
            env=env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    elapsed = time.perf_counter() - start
    taken = [int(o.split()[-1]) for o in outs]
    assert sum(taken) == count, taken
    return count / elapsed, taken


async def bench_queue(
    root: Path, name: str, make: StoreFactory, seed: Callable[[], object], runs: int
) -> tuple[float, float, int]:
    """`Register.queue(limit=100)` latency: p50 and p99 in ms, and how many are waiting."""
    org = organisation(root / f"qdata-{name}")
    db = root / f"q-{name}" / "register.sqlite3"
    async with await Register.open(org, VoicemailSettings(), db, store=make(str(db))):
        pass  # create the schema
    await seed()  # type: ignore[misc]
    now = datetime(2027, 1, 1, tzinfo=UTC)
    async with await Register.open(org, VoicemailSettings(), db, store=make(str(db))) as reg:
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            items = await reg.queue(now, limit=100)
            samples.append((time.perf_counter() - t0) * 1000)
        assert len(items) == 100
        waiting = await reg.store.count(RecordStatus.AWAITING_CLASSIFICATION)
    samples.sort()
    return (
        statistics.median(samples),
        samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        waiting,
    )


def bench_takeover(root: Path, dsn: str, trials: int) -> list[float]:
    """Seconds from SIGKILL of the leading node to the standby leading (leader polls 0.2 s)."""
    import signal

    from nodekit import Node

    spool = root / "spool-takeover"
    spool.mkdir()
    times: list[float] = []
    leader = Node(dsn, root / "nodes", spool, "node-0")
    assert leader.wait_for("leader", 30)
    for trial in range(1, trials + 1):
        standby = Node(dsn, root / "nodes", spool, f"node-{trial}")
        assert standby.wait_for("ready", 30)
        time.sleep(0.5)
        killed = time.time()
        leader.end(signal.SIGKILL)
        led = standby.wait_for("leader", 30)
        assert led is not None, "no takeover within 30 s"
        times.append(led[0] - killed)
        leader = standby
    leader.end()
    return times


def bench_run_takeover(root: Path, dsn: str, trials: int) -> list[float]:
    """Seconds from SIGKILL of the leading `switchboard run` to the standby leading with AMI up.

    Real processes as in tests/storage/test_pg_run_failover.py: a `switchboard platform` and
    two nodes; after each kill a fresh standby joins for the next trial.
    """
    import shutil
    import signal

    from test_pg_run_failover import ALV, SECRET, Proc, health, start_node

    folder = root / "run-takeover" / "alvkarleby"
    shutil.copytree(ALV, folder, ignore=shutil.ignore_patterns("data", "scenarios"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        "SWITCHBOARD_DSN": dsn,
        "SWITCHBOARD_AMI_SECRET": SECRET,
        "SWITCHBOARD_DEV_PASSWORD": "dev-password",
        "SWITCHBOARD_SESSION_SECRET": "s" * 32,
    }
    platform = Proc(
        [sys.executable, "-m", "switchboard", "platform", "--spool", str(root / "run-spool")],
        env,
        stdin=True,
    )
    procs: list[Proc] = [platform]
    times: list[float] = []
    try:
        line = platform.wait_for(lambda s: s.startswith("listening "), 30)
        assert line is not None, "platform did not start"
        yaml = folder / "organisation.yaml"
        yaml.write_text(
            yaml.read_text(encoding="utf-8")
            + "storage: {engine: postgresql, dsn_env: SWITCHBOARD_DSN}\n"
            + "telephony:\n  platform: asterisk\n"
            + f"  ami: {{host: 127.0.0.1, port: {int(line.split()[1])},"
            + " secret_env: SWITCHBOARD_AMI_SECRET}\n",
            encoding="utf-8",
        )
        leader, leader_port = start_node(folder, env)
        procs.append(leader)
        _until(lambda: bool(health(leader_port).get("ami_connected")), 60)
        for _ in range(trials):
            standby, port = start_node(folder, env)
            procs.append(standby)
            time.sleep(1.0 + random.random())  # settled; a kill at a random election phase
            leader.end(signal.SIGKILL)
            killed = time.monotonic()
            _until(
                lambda p=port: bool((h := health(p)).get("leader") and h.get("ami_connected")), 30
            )  # type: ignore[misc]
            times.append(time.monotonic() - killed)
            leader = standby
    finally:
        for proc in reversed(procs):
            proc.end()
    return times


def _until(check: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within} s")
        time.sleep(0.02)


async def new_database(admin_dsn: str, name: str) -> str:
    """A fresh database beside the admin DSN's (dropped first if left over)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = admin_dsn.rpartition("/")
    return f"{base}/{name}"


def main() -> None:
    """Run every benchmark on both engines and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--audio-bytes", type=int, default=32_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--takeovers", type=int, default=5)
    parser.add_argument("--run-takeovers", type=int, default=5)
    parser.add_argument("--dsn", default=os.environ.get("SWITCHBOARD_BENCH_DSN"))
    args = parser.parse_args()
    cluster = None
    admin = args.dsn
    if admin is None:
        from pgcluster import start_cluster

        cluster = start_cluster(durable=True)
        admin = cluster.dsn()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), admin, args)
    finally:
        if cluster is not None:
            cluster.stop()


def run(root: Path, admin: str, args: argparse.Namespace) -> None:
    """The benchmarks, printed as they finish."""
    version = asyncio.run(_server_version(admin))
    print(
        f"register storage: sqlite {sqlite3.sqlite_version} (WAL, synchronous=FULL)"
        f" vs PostgreSQL {version} (fsync on, synchronous_commit on), 127.0.0.1"
    )
    names = ("intake", "two", "queue", "takeover", "run")
    dsns = {n: asyncio.run(new_database(admin, f"bench_{n}")) for n in names}
    engines: dict[str, StoreFactory] = {
        "sqlite": SqliteStore,
        "postgresql": lambda _path: PostgresStore(dsns["intake"]),
    }
    kb = args.audio_bytes // 1000
    for name, make in engines.items():
        # the floor before and after: one durable file per message of the same size
        before = floor.durable_files(root / f"floor-a-{name}", args.messages, args.audio_bytes)
        rate = asyncio.run(bench_intake(root, name, make, args.messages, args.audio_bytes))
        after = floor.durable_files(root / f"floor-b-{name}", args.messages, args.audio_bytes)
        print(f"  {name:10} durable intake, {args.messages} msgs of {kb} kB: {rate:,.0f} msgs/s")
        floor.emit(
            floor.Row(
                f"durable voicemail intake into {name}, {kb} kB messages",
                "one durable file of the same size (write, fsync, rename, directory fsync):"
                f" {(before + after) / 2:,.0f}/s",
                f"{rate:,.0f} msgs/s",
                rate / ((before + after) / 2),
                "≥ 0.5",
                rate / ((before + after) / 2) >= 0.5,
            )
        )
    rate, taken = bench_two_intakes(root, dsns["two"], args.messages, args.audio_bytes)
    print(
        f"  postgresql two intake processes racing, {args.messages} msgs: {rate:,.0f} msgs/s"
        f" overall (taken {taken[0]} + {taken[1]}, incl. process start)"
    )
    takeovers = bench_takeover(root, dsns["takeover"], args.takeovers)
    print(
        f"  postgresql takeover after SIGKILL of the leader, {len(takeovers)} times:"
        f" median {statistics.median(takeovers):.2f} s, max {max(takeovers):.2f} s (limit 10 s)"
    )
    runs = bench_run_takeover(root, dsns["run"], args.run_takeovers)
    print(
        f"  postgresql takeover of a real `switchboard run` after SIGKILL, {len(runs)} times"
        f" (until leader with AMI connected): median {statistics.median(runs):.2f} s,"
        f" max {max(runs):.2f} s (limit 10 s)"
    )
    rows = seed_rows(args.records)
    queue_stores: dict[str, tuple[StoreFactory, Callable[[], object]]] = {
        "sqlite": (SqliteStore, lambda: seed_sqlite(root / "q-sqlite" / "register.sqlite3", rows)),
        "postgresql": (
            lambda _path: PostgresStore(dsns["queue"]),
            lambda: seed_pg(dsns["queue"], rows),
        ),
    }
    for name, (make, seed) in queue_stores.items():
        p50, p99, waiting = asyncio.run(bench_queue(root, name, make, seed, args.runs))
        print(
            f"  {name:10} registrar queue (100 oldest of {waiting:,} waiting) at"
            f" {args.records:,} records: p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        )
        if name == "sqlite":
            bare = queue_floor(root / "q-sqlite" / "register.sqlite3", args.runs)
        else:
            bare = asyncio.run(pg_queue_floor(dsns["queue"], args.runs))
        floor.emit(
            floor.Row(
                f"registrar queue in {name}, 100 oldest at {args.records:,} records",
                f"the bare indexed query on one connection: p50 {bare:.2f} ms",
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
                bare / p50,
                "p99 ≤ 20 ms",
                p99 <= 20,
            )
        )


async def pg_queue_floor(dsn: str, runs: int) -> float:
    """Median ms of the bare query behind the queue through one asyncpg connection."""
    conn = await asyncpg.connect(dsn)
    query = (
        "SELECT * FROM records WHERE status = 'awaiting_classification'"
        " ORDER BY arrived_at LIMIT 100"
    )
    try:
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            await conn.fetch(query)
            samples.append((time.perf_counter() - t0) * 1000)
        return statistics.median(samples)
    finally:
        await conn.close()


async def _server_version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
