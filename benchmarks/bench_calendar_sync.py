"""Calendar sync benchmark: 10,000 users over local EWS, Graph and ICS-feed servers.

Prints cold sync time, steady-state cycle CPU and change propagation latency (watched file,
polled feed). Servers run in this process on 127.0.0.1, so CPU figures include them.
Run: python benchmarks/bench_calendar_sync.py [--users N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calendar_sync.ews import EwsClient  # noqa: E402
from calendar_sync.feed import IcsFeedClient, IcsFileWatcher  # noqa: E402
from calendar_sync.graph import GraphClient  # noqa: E402
from calendar_sync.service import CalendarSync, SystemClock  # noqa: E402
from calendar_sync.sources import (  # noqa: E402
    ExchangeSettings,
    GraphSettings,
    PollSettings,
    Secret,
)
from routing.models import Hours  # noqa: E402
from routing.presence import PresenceRules  # noqa: E402
from tests.calendar_sync.servers import Event, EwsServer, FeedServer, GraphServer, ics, serve  # noqa: E402

TZ = ZoneInfo("Europe/Stockholm")
RULES = PresenceRules(timezone=TZ, working_hours=Hours(frozenset(range(5)), dtime(8), dtime(17)))


async def main(users: int) -> None:
    """Run the benchmark and print the figures."""
    now = datetime.now(UTC).replace(microsecond=0)
    n_ews = users // 3 + users % 3
    n_graph = n_feed = users // 3
    ews, graph, feeds = EwsServer(), GraphServer(), FeedServer()

    def events(i: int) -> list[Event]:
        return [
            Event(
                now + timedelta(hours=1 + i % 5), now + timedelta(hours=2 + i % 5), "Busy", "Möte"
            ),
            Event(now + timedelta(days=2), now + timedelta(days=3), "OOF", "Semester"),
        ]

    for i in range(n_ews):
        ews.calendars[f"u{i}@example.se"] = events(i)
    for i in range(n_graph):
        graph.calendars[f"g{i}@example.se"] = events(i)
    for i in range(n_feed):
        feeds.put(f"f{i}", ics(*events(i)))

    async with (
        serve(ews.app()) as ews_base,
        serve(graph.app()) as graph_base,
        serve(feeds.app()) as feed_base,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session,
    ):
        sync = CalendarSync(RULES, SystemClock())
        ex = ExchangeSettings(
            f"{ews_base}/EWS/Exchange.asmx", Secret("U"), Secret("P"), auth="basic"
        )
        ews_client = EwsClient(ex, ews.username, ews.password)
        gs = replace(
            GraphSettings(Secret("T"), Secret("C"), Secret("S")),
            authority=graph_base,
            base_url=f"{graph_base}/v1.0",
        )
        graph_client = GraphClient(gs, graph.tenant, graph.client_id, graph.client_secret, session)
        feed_client = IcsFeedClient(session, TZ, concurrency=32)
        poll = PollSettings(interval_s=5.0, max_age_s=900, jitter=0.0)
        sync.add_source(
            "exchange", ews_client, poll, {f"e{i}": f"u{i}@example.se" for i in range(n_ews)}
        )
        sync.add_source(
            "graph", graph_client, poll, {f"g{i}": f"g{i}@example.se" for i in range(n_graph)}
        )
        urls = {f"f{i}": f"{feed_base}/feeds/f{i}.ics" for i in range(n_feed)}
        sync.add_source("ics_url", feed_client, poll, urls)

        per_source: dict[str, float] = {}

        async def timed(c: object) -> None:
            t = time.perf_counter()
            await c.poll_once()  # type: ignore[attr-defined]
            per_source[c.name] = time.perf_counter() - t  # type: ignore[attr-defined]

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(timed(c) for c in sync.coordinators))
        cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"users: {users} (exchange {n_ews}, graph {n_graph}, ics feeds {n_feed})")
        print(f"cold sync: {cold:.2f} s wall, {cold_cpu:.2f} s CPU")
        for name, seconds in per_source.items():
            print(f"  {name}: {seconds:.2f} s")
        print(f"  EWS requests: {len(ews.batches)}, Graph requests: {len(graph.batches)}")

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(timed(c) for c in sync.coordinators))
        steady, steady_cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"steady-state cycle (all sources, feeds 304): {steady:.2f} s wall, {steady_cpu:.2f} s CPU"
        )
        for name, seconds in per_source.items():
            print(f"  {name}: {seconds:.2f} s")

        # Change propagation: a polled feed (interval 5 s) and a watched file (0.5 s ticks).
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "watched.ics"
            path.write_bytes(ics())
            sync.add_source(
                "ics", IcsFileWatcher(TZ), PollSettings(0.5, 900, jitter=0), {"w": str(path)}
            )
            async with sync.subscribe() as sub, sync:
                await asyncio.sleep(1.0)
                sub.pending()
                changed = [
                    Event(now - timedelta(hours=1), now + timedelta(hours=1), "Busy", "Möte")
                ]
                for label, act, who in (
                    ("watched file", lambda: path.write_bytes(ics(*changed)), "w"),
                    ("polled feed (interval 5 s)", lambda: feeds.put("f7", ics(*changed)), "f7"),
                ):
                    t = time.perf_counter()
                    act()
                    while True:
                        change = await asyncio.wait_for(sub.get(), timeout=30)
                        if change.user_id == who:
                            break
                    print(f"change propagation, {label}: {time.perf_counter() - t:.2f} s")
        await asyncio.to_thread(ews_client.close)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().users))
