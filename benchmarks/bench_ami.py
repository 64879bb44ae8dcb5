"""AMI benchmark: calls/s through the shipped dialplan's AGI (FastAGI) against the simulated
platform (p50/p99 decision latency), with the platform in the same process and in a separate
one; and a full resync of 10,000 users (into an empty AstDB, then with nothing changed). Floors,
same run: a bare FastAGI server sending the same commands per call, and a bare AMI client
sending the resync's actions with the same window (benchmarks/floor.py).

Run: python benchmarks/bench_ami.py [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing as mp
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import floor  # noqa: E402

from routing.absence import AbsenceReason, ManualRedirect, PresenceBook  # noqa: E402
from routing.effective import effective_state  # noqa: E402
from routing.models import Directory, User  # noqa: E402
from switchboard.config import load_config  # noqa: E402
from switchboard.telephony.ami import AmiClient  # noqa: E402
from switchboard.telephony.asterisk_config import extensions_conf  # noqa: E402
from switchboard.telephony.config import TelephonySettings  # noqa: E402
from switchboard.telephony.mirror import StateMirror  # noqa: E402
from switchboard.telephony.service import TelephonyService  # noqa: E402
from switchboard.telephony.sim import SimulatedAsterisk  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
CONCURRENCY = 50


def _book() -> PresenceBook:
    until = NOW + timedelta(hours=3)
    anna = ManualRedirect("anna.andersson", AbsenceReason.MEETING, until, set_at=NOW)
    return PresenceBook({}, {"anna.andersson": anna})


async def _drive(sim: SimulatedAsterisk, n: int) -> float:
    """Place n calls to a redirected, answering extension, CONCURRENCY at a time; elapsed s."""
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            call = await sim.place_call("02683012", f"07011{i:05d}", answer=True)
            await call.wait(30)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0


def _report(label: str, n: int, elapsed: float, latencies: list[float]) -> None:
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[max(0, int(len(lat) * 0.99) - 1)] * 1000
    print(
        f"{label}: {n} calls in {elapsed:.2f} s = {n / elapsed:,.0f} calls/s "
        f"(message + dial + hangup each, {CONCURRENCY} concurrent); "
        f"decision p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )


async def _service(port: int, secret: str, sim: SimulatedAsterisk | None) -> TelephonyService:
    org = load_config(ROOT / "config" / "alvkarleby").org
    state = effective_state(org, {}, _book().manual)
    settings = TelephonySettings()
    if sim is None:
        from dataclasses import replace

        from switchboard.telephony.ami import AmiSettings

        settings = replace(settings, platform="asterisk", ami=AmiSettings(port=port, secret=secret))
    svc = TelephonyService(org, settings, lambda: state, lambda: NOW, simulated=sim)
    svc.controller.keep_latencies = True
    await svc.start()
    await asyncio.wait_for(svc.mirrored.wait(), 10)
    return svc


async def bench_calls_in_process(n: int) -> tuple[float, list[str]]:
    """The service and the simulated platform share one event loop (one core); calls/s and
    the AGI commands the service sent for one such call."""
    sim = SimulatedAsterisk(secret="b")
    await sim.start()
    svc = await _service(sim.port, "b", sim)
    elapsed = await _drive(sim, n)
    probe = await sim.place_call("02683012", "0701100000", answer=True)
    await probe.wait(30)
    await svc.controller.wait_idle(10)
    await svc.stop()
    await sim.close()
    _report("AGI, platform in-process       ", n, elapsed, svc.controller.latencies)
    return n / elapsed, list(probe.commands)


async def calls_floor(n: int, commands: list[str]) -> float:
    """Calls/s with the shipped dialplan's AGI answered by a bare FastAGI server
    (floor.bare_fastagi) sending the same commands per call, on a platform of its own in the
    same loop: no decision, no state, no bookkeeping."""
    org = load_config(ROOT / "config" / "alvkarleby").org
    server = await floor.bare_fastagi(lambda: commands)
    settings = dataclasses.replace(
        TelephonySettings(), agi_url=f"agi://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    )
    sim = SimulatedAsterisk(secret="f")
    sim.load_dialplan(extensions_conf(org, settings))
    await sim.start()
    try:
        elapsed = await _drive(sim, n)
    finally:
        await sim.close()
        server.close()
        await server.wait_closed()
    return n / elapsed


def _platform_process(conn: Connection, n: int) -> None:
    """Child: serve AMI, wait for the go signal, place n calls, send back the elapsed time."""

    async def main() -> None:
        sim = SimulatedAsterisk(secret="b")
        await sim.start()
        conn.send(sim.port)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # "go" once the service has resynced
        conn.send(await _drive(sim, n))
        await loop.run_in_executor(None, conn.recv)  # "stop"
        await sim.close()

    asyncio.run(main())


async def bench_calls_separate_process(n: int) -> None:
    """The simulated platform in its own process (as Asterisk is): the service's own cost."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_platform_process, args=(child, n), daemon=True)
    proc.start()
    loop = asyncio.get_running_loop()
    try:
        port = await loop.run_in_executor(None, parent.recv)
        svc = await _service(port, "b", None)
        parent.send("go")
        elapsed = await loop.run_in_executor(None, parent.recv)
        await svc.controller.wait_idle(10)
        await svc.stop()
        parent.send("stop")
        _report("AGI, platform in a process     ", n, elapsed, svc.controller.latencies)
    finally:
        await loop.run_in_executor(None, proc.join, 10)
        if proc.is_alive():
            proc.terminate()


async def bench_resync(users: int = 10_000) -> None:
    """A full resync of `users` users, half redirected: into an empty AstDB, then unchanged."""
    base_org = load_config(ROOT / "config" / "alvkarleby").org
    base = base_org.directory
    people = tuple(
        User(
            id=f"u{i}",
            name=f"Användare {i}",
            extension=f"+46268{i:05d}",
            mobile=None,
            mailbox=f"8{i:05d}",
        )
        for i in range(users)
    )
    directory = Directory.build(people, (), (), base.switchboard, base.plan)
    manual = {
        u.id: ManualRedirect(u.id, AbsenceReason.MEETING, NOW + timedelta(hours=2), set_at=NOW)
        for u in people[::2]
    }
    state = effective_state(dataclasses.replace(base_org, directory=directory), {}, manual)
    sim = SimulatedAsterisk(secret="b")
    await sim.start()
    client = AmiClient(action_timeout=30)
    await client.connect("127.0.0.1", sim.port, "switchboard", "b")
    mirror = StateMirror(lambda: state, ZoneInfo("Europe/Stockholm"), lambda: NOW)
    seen = len(sim.received)
    t0 = time.perf_counter()
    writes = await mirror.full_resync(client)
    first = time.perf_counter() - t0
    jobs = [
        (m["Action"], [(k, v) for k, v in m.headers[1:] if k != "ActionID"])
        for m in sim.received[seen:]
        if m.get("Action") != "DBGetTree"
    ]
    t0 = time.perf_counter()
    again = await mirror.full_resync(client)
    second = time.perf_counter() - t0
    await client.close()
    await sim.close()
    print(f"full resync of {users:,} users (empty AstDB): {writes:,} writes in {first:.2f} s")
    print(f"full resync again (nothing changed): {again} writes in {second:.2f} s")
    bare = SimulatedAsterisk(secret="f")
    await bare.start()
    ami = await floor.BareAmi.connect(bare.port, "switchboard", "f")
    t0 = time.perf_counter()
    await ami.actions(jobs, mirror.width)
    floor_s = time.perf_counter() - t0
    await ami.close()
    await bare.close()
    floor.emit(
        floor.Row(
            f"full resync into an empty AstDB, {users:,} users",
            f"the same {len(jobs):,} actions from a bare client, {mirror.width} in flight:"
            f" {floor_s:.2f} s",
            f"{first:.2f} s ({writes:,} writes); nothing changed: {second:.2f} s",
            floor_s / first,
            "–",
            None,
        )
    )


async def main(n: int) -> None:
    """Run every benchmark."""
    rate, commands = await bench_calls_in_process(n)
    floor_rate = await calls_floor(n, commands)
    print(
        f"  floor: bare FastAGI server, the same {len(commands)} commands per call:"
        f" {floor_rate:,.0f} calls/s"
    )
    floor.emit(
        floor.Row(
            "calls through the dialplan and AGI, platform in-process",
            f"a bare FastAGI server sending the same {len(commands)} commands per call:"
            f" {floor_rate:,.0f} calls/s",
            f"{rate:,.0f} calls/s",
            rate / floor_rate,
            "–",
            None,
        )
    )
    await bench_calls_separate_process(n)
    await bench_resync()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    asyncio.run(main(parser.parse_args().calls))
