"""AMI benchmark: calls/s through AsyncAGI against the simulated platform (p50/p99 decision
latency), and a full resync of 10,000 users. Run: python benchmarks/bench_ami.py"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from routing.models import AbsenceReason, Directory, ManualRedirect, PresenceBook, User
from switchboard.config import load_config
from switchboard.telephony.ami import AmiClient
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.mirror import StateMirror
from switchboard.telephony.service import TelephonyService
from switchboard.telephony.simulated import SimulatedAsterisk

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


async def bench_calls(n: int = 2000, concurrency: int = 50) -> None:
    """Place n calls to a redirected extension, `concurrency` at a time."""
    org = load_config(ROOT / "config" / "alvkarleby").org
    book = PresenceBook(
        {},
        {
            "anna.andersson": ManualRedirect(
                "anna.andersson", AbsenceReason.MEETING, NOW + timedelta(hours=3), set_at=NOW
            )
        },
    )
    sim = SimulatedAsterisk(secret="b")
    await sim.start()
    svc = TelephonyService(org, TelephonySettings(), lambda: book, lambda: NOW, simulated=sim)
    await svc.start()
    await asyncio.wait_for(svc.mirrored.wait(), 10)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            call = await sim.place_call("02683012", f"07011{i:05d}", answer=True)
            await call.wait(30)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - t0
    await svc.controller.wait_idle(10)
    await svc.stop()
    lat = sorted(svc.controller.latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000
    print(
        f"calls through AsyncAGI: {n} in {elapsed:.2f} s = {n / elapsed:.0f} calls/s "
        f"(each: message + dial + hangup, {concurrency} concurrent)"
    )
    print(
        f"decision latency (AsyncAGIStart handled -> RouteDecision): p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )


async def bench_resync(users: int = 10_000) -> None:
    """A full resync of `users` users, half redirected, into an empty AstDB."""
    base = load_config(ROOT / "config" / "alvkarleby").org.directory
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
    book = PresenceBook({}, manual)
    sim = SimulatedAsterisk(secret="b")
    await sim.start()
    client = AmiClient(action_timeout=30)
    await client.connect("127.0.0.1", sim.port, "switchboard", "b")
    mirror = StateMirror(directory, lambda: book, base.plan and load_tz(), lambda: NOW)
    t0 = time.perf_counter()
    writes = await mirror.full_resync(client)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = await mirror.full_resync(client)
    second = time.perf_counter() - t0
    await client.close()
    await sim.close()
    print(f"full resync of {users} users (empty AstDB): {writes} writes in {first:.2f} s")
    print(f"full resync again (nothing changed): {again} writes in {second:.2f} s")


def load_tz():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Stockholm")


async def main() -> None:
    """Run both benchmarks."""
    await bench_calls()
    await bench_resync()


if __name__ == "__main__":
    _ = replace
    asyncio.run(main())
