"""Calendar sync benchmark: 10,000 users over local EWS, Graph and ICS-feed servers.

Prints cold sync time, steady-state cycle wall time and CPU (the client's own CPU separately
from the servers'), and change propagation latency (watched file, polled feed). By default the
local servers (tests/calendar_sync/servers.py, 127.0.0.1 only) run in a separate process, as real
servers would; `--same-process` also measures the old set-up with the servers in the client's
event loop, where their CPU counts against the client. `--profile` prints a cProfile of the
client side of one steady-state feed poll. `--cold-load N` measures only the cold load of N
Outlook ICS calendars against its floor (each zone variant in a process of its own: ratios,
presence, warm restart, peak RSS); with `--profile-reader`, a cProfile of one reader's work.
Run: python benchmarks/bench_calendar_sync.py [--users N] [--same-process] [--profile]
     python benchmarks/bench_calendar_sync.py --cold-load 10000 [--zones known,custom,distinct]
         [--profile-reader]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing as mp
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import floor  # noqa: E402  (benchmarks/floor.py: floors measured in the same run)

from calendar_sync.clock import SystemClock  # noqa: E402
from calendar_sync.coordinator import SourceCoordinator, StaggeredCoordinator  # noqa: E402
from calendar_sync.ews import EwsClient  # noqa: E402
from calendar_sync.feed import IcsFeedClient, IcsFileWatcher, feed_client_session  # noqa: E402
from calendar_sync.graph import GraphClient  # noqa: E402
from calendar_sync.service import CalendarSync  # noqa: E402
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
INTERVAL_S = 5.0
FEED_CONCURRENCY = 32
PROPAGATION_SAMPLES = 5
IPC_TIMEOUT_S = 60.0


def _events(now: datetime, i: int) -> list[Event]:
    return [
        Event(now + timedelta(hours=1 + i % 5), now + timedelta(hours=2 + i % 5), "Busy", "Möte"),
        Event(now + timedelta(days=2), now + timedelta(days=3), "OOF", "Semester"),
    ]


def _split(users: int) -> tuple[int, int, int]:
    return users // 3 + users % 3, users // 3, users // 3


def _servers(users: int, now: datetime) -> tuple[EwsServer, GraphServer, FeedServer]:
    n_ews, n_graph, n_feed = _split(users)
    ews, graph, feeds = EwsServer(), GraphServer(), FeedServer()
    for i in range(n_ews):
        ews.calendars[f"u{i}@example.se"] = _events(now, i)
    for i in range(n_graph):
        graph.calendars[f"g{i}@example.se"] = _events(now, i)
    for i in range(n_feed):
        feeds.put(f"f{i}", ics(*_events(now, i)))
    return ews, graph, feeds


@dataclass
class Servers:
    """The local servers as the client sees them: base URLs, and a few remote controls."""

    ews_base: str
    graph_base: str
    feed_base: str
    put_feed: Callable[[str, bytes], Any]  # awaitable: publish a new version of a feed
    cpu: Callable[[], Any]  # awaitable: the servers' CPU seconds so far (None: shared process)
    stats: Callable[[], Any]  # awaitable: (EWS requests, Graph requests, feed answers)


@asynccontextmanager
async def same_process(users: int, now: datetime) -> AsyncIterator[Servers]:
    """The servers in this process and event loop (the old set-up)."""
    ews, graph, feeds = _servers(users, now)

    async def put(name: str, body: bytes) -> None:
        feeds.put(name, body)

    async def cpu() -> None:
        return None

    async def stats() -> tuple[int, int, Counter[int]]:
        return len(ews.batches), len(graph.batches), Counter(feeds.answered)

    async with (
        serve(ews.app()) as e,
        serve(graph.app()) as g,
        serve(feeds.app()) as f,
    ):
        yield Servers(e, g, f, put, cpu, stats)


def _server_process(conn: Connection, users: int, now_ts: float) -> None:
    """Child: serve EWS, Graph and feeds on 127.0.0.1; answer commands until "stop"."""

    async def main() -> None:
        ews, graph, feeds = _servers(users, datetime.fromtimestamp(now_ts, UTC))
        loop = asyncio.get_running_loop()
        async with (
            serve(ews.app()) as e,
            serve(graph.app()) as g,
            serve(feeds.app()) as f,
        ):
            conn.send((e, g, f))
            while True:
                if not await loop.run_in_executor(None, conn.poll, IPC_TIMEOUT_S * 10):
                    return  # the parent is gone: stop serving
                cmd, *args = await loop.run_in_executor(None, conn.recv)
                if cmd == "put":
                    feeds.put(*args)
                    conn.send(None)
                elif cmd == "cpu":
                    conn.send(time.process_time())
                elif cmd == "stats":
                    conn.send((len(ews.batches), len(graph.batches), Counter(feeds.answered)))
                else:
                    return

    asyncio.run(main())


@asynccontextmanager
async def separate_process(users: int, now: datetime) -> AsyncIterator[Servers]:
    """The servers in their own process (spawned, bounded waits, stopped on exit)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_server_process, args=(child, users, now.timestamp()), daemon=True)
    proc.start()
    loop = asyncio.get_running_loop()
    lock = asyncio.Lock()

    async def call(*msg: object) -> Any:
        async with lock:
            parent.send(msg)
            if not await loop.run_in_executor(None, parent.poll, IPC_TIMEOUT_S):
                raise TimeoutError(f"server process did not answer {msg[0]!r}")
            return parent.recv()

    async def put(name: str, body: bytes) -> None:
        await call("put", name, body)

    try:
        if not await loop.run_in_executor(None, parent.poll, IPC_TIMEOUT_S):
            raise TimeoutError("server process did not start")
        e, g, f = parent.recv()
        yield Servers(e, g, f, put, lambda: call("cpu"), lambda: call("stats"))
    finally:
        if proc.is_alive():
            parent.send(("stop",))
        await loop.run_in_executor(None, proc.join, 10)
        if proc.is_alive():
            proc.terminate()
            await loop.run_in_executor(None, proc.join, 5)


class _Meter:
    """Wall, client CPU and server CPU of a stretch of work."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers

    async def __aenter__(self) -> _Meter:
        self.s0 = await self.servers.cpu()
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.client = time.process_time() - self.c0
        s1 = await self.servers.cpu()
        self.server = None if s1 is None else s1 - self.s0

    def text(self) -> str:
        """'W s wall, C s client CPU, S s server CPU'."""
        if self.server is None:
            return f"{self.wall:.2f} s wall, {self.client:.2f} s CPU (client + servers)"
        return (
            f"{self.wall:.2f} s wall, {self.client:.2f} s client CPU"
            f" (+ {self.server:.2f} s server CPU in its own process)"
        )


async def run(
    users: int, separate: bool, profile: bool, batch_interval: float = INTERVAL_S
) -> dict[str, float]:
    """One full benchmark round; prints its figures and returns the headline ones."""
    now = datetime.now(UTC).replace(microsecond=0)
    n_ews, n_graph, n_feed = _split(users)
    where = "servers in a separate process" if separate else "servers in the same process"
    print(f"\n== {where}: {users} users (exchange {n_ews}, graph {n_graph}, ics feeds {n_feed})")
    figures: dict[str, float] = {}
    opener = separate_process if separate else same_process
    async with AsyncExitStack() as stack:
        srv = await stack.enter_async_context(opener(users, now))
        session = await stack.enter_async_context(feed_client_session(64))
        feed_session = await stack.enter_async_context(feed_client_session(FEED_CONCURRENCY))
        sync = CalendarSync(RULES, SystemClock())
        ex = ExchangeSettings(f"{srv.ews_base}/EWS/Exchange.asmx", Secret("U"), Secret("P"))
        ex = replace(ex, auth="basic")
        probe = EwsServer()
        ews_client = EwsClient(ex, probe.username, probe.password)
        stack.push_async_callback(asyncio.to_thread, ews_client.close)
        gs = replace(
            GraphSettings(Secret("T"), Secret("C"), Secret("S")),
            authority=srv.graph_base,
            base_url=f"{srv.graph_base}/v1.0",
        )
        g = GraphServer()
        graph_client = GraphClient(gs, g.tenant, g.client_id, g.client_secret, session)
        feed_client = IcsFeedClient(feed_session, TZ, concurrency=FEED_CONCURRENCY)
        poll = PollSettings(interval_s=INTERVAL_S, max_age_s=900, jitter=0.0)
        batch_poll = replace(poll, interval_s=batch_interval)
        print(f"intervals: feeds {INTERVAL_S:g} s, EWS and Graph {batch_interval:g} s")
        sync.add_source(
            "exchange", ews_client, batch_poll, {f"e{i}": f"u{i}@example.se" for i in range(n_ews)}
        )
        sync.add_source(
            "graph", graph_client, batch_poll, {f"g{i}": f"g{i}@example.se" for i in range(n_graph)}
        )
        urls = {f"f{i}": f"{srv.feed_base}/feeds/f{i}.ics" for i in range(n_feed)}
        feeds = sync.add_source("ics_url", feed_client, poll, urls, staggered=True)
        assert isinstance(feeds, StaggeredCoordinator)

        per_source: dict[str, float] = {}

        async def timed(c: SourceCoordinator) -> None:
            t = time.perf_counter()
            await c.poll_once()
            per_source[c.name] = time.perf_counter() - t

        async with _Meter(srv) as cold:
            await asyncio.gather(*(timed(c) for c in sync.coordinators))
        print(f"cold sync: {cold.text()}")
        print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in per_source.items()))
        ews_n, graph_n, _ = await srv.stats()
        print(f"  EWS requests: {ews_n}, Graph requests: {graph_n}")
        figures["cold"] = cold.wall

        async with _Meter(srv) as steady:
            await asyncio.gather(*(timed(c) for c in sync.coordinators))
        print(f"steady-state cycle, all sources at once (feeds 304): {steady.text()}")
        print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in per_source.items()))
        figures["steady_wall"], figures["steady_client_cpu"] = steady.wall, steady.client

        for c in sync.coordinators:  # each source alone: its own client CPU per cycle
            async with _Meter(srv) as alone:
                await c.poll_once()
            print(f"  {c.name} alone: {alone.text()}")
            figures[f"{c.name}_client_cpu"] = alone.client
        _, _, answers = await srv.stats()
        print(f"  feed answers so far: {dict(answers)}; parses: {feed_client.parses}")
        # The floor, same run: the feed cycle's HTTP alone (the same conditional GETs, bare
        # aiohttp), beside the feed source's own cycle; the quickest of three each.
        cycles = []
        for _ in range(3):
            t = time.perf_counter()
            await feeds.poll_once()
            cycles.append(time.perf_counter() - t)
        _, bare_304 = await floor.conditional_gets(list(urls.values()), FEED_CONCURRENCY)
        floor.emit(
            floor.Row(
                f"ICS feed poll cycle, {n_feed:,} unchanged feeds (304), {where}",
                f"the same conditional GETs, bare aiohttp, {FEED_CONCURRENCY} at a time:"
                f" {bare_304:.2f} s",
                f"{min(cycles):.2f} s",
                bare_304 / min(cycles),
                "–",
                None,
            )
        )

        if profile:
            prof = cProfile.Profile()
            prof.enable()
            await feeds.poll_once()
            prof.disable()
            print("client profile of one steady-state feed poll (top 20 by own time):")
            pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(20)

        # The running service: staggered feed slots, watched file, and change propagation.
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "watched.ics"
            path.write_bytes(ics())
            sync.add_source(
                "ics", IcsFileWatcher(TZ), PollSettings(0.5, 900, jitter=0), {"w": str(path)}
            )
            async with sync.subscribe() as sub, sync:
                await asyncio.sleep(INTERVAL_S * 1.5)  # past the cold round and the first phases
                sub.pending()
                async with _Meter(srv) as running:
                    await asyncio.sleep(INTERVAL_S * 2)
                print(
                    f"running service, per {INTERVAL_S:g} s interval (all sources polling):"
                    + (
                        f" {running.client / 2:.2f} s client CPU, {running.server / 2:.2f} s server CPU"
                        if running.server is not None
                        else f" {running.client / 2:.2f} s CPU (client + servers)"
                    )
                )
                figures["running_client_cpu"] = running.client / 2
                print(
                    f"  feed slots: {len(feeds.slots)} of ~{n_feed // max(len(feeds.slots), 1)}"
                    f" feeds; late slot polls: {feeds.late_polls}"
                )

                async def propagate(act: Callable[[], Any], who: str) -> float:
                    sub.pending()
                    t = time.perf_counter()
                    await act()
                    while True:
                        change = await asyncio.wait_for(sub.get(), timeout=60)
                        if change.user_id == who:
                            return time.perf_counter() - t

                for k in range(PROPAGATION_SAMPLES):
                    body = ics(
                        Event(
                            now - timedelta(hours=1),
                            now + timedelta(hours=1 + k),
                            "Busy" if k % 2 == 0 else "OOF",
                            "Möte",
                        )
                    )

                    async def write_file(body: bytes = body) -> None:
                        path.write_bytes(body)

                    async def put_feed(body: bytes = body, k: int = k) -> None:
                        await srv.put_feed(f"f{7 + 331 * k}", body)

                    figures.setdefault("file", 0.0)
                    figures["file"] = max(figures["file"], await propagate(write_file, "w"))
                    lat = await propagate(put_feed, f"f{7 + 331 * k}")
                    figures.setdefault("feed", 0.0)
                    figures["feed"] = max(figures["feed"], lat)
                    figures[f"feed_{k}"] = lat
                    await asyncio.sleep(0.37 * INTERVAL_S)  # change at different phases
                lats = [figures[f"feed_{k}"] for k in range(PROPAGATION_SAMPLES)]
                print(
                    f"change propagation, watched file: max {figures['file']:.2f} s"
                    f" of {PROPAGATION_SAMPLES} (goal <= 1 s)"
                )
                print(
                    f"change propagation, polled feed (interval {INTERVAL_S:g} s):"
                    f" median {statistics.median(lats):.2f} s, max {max(lats):.2f} s"
                    f" of {PROPAGATION_SAMPLES} (goal <= {INTERVAL_S + 1:g} s)"
                )
                print(f"  late slot polls: {feeds.late_polls}")
    return figures


ZONE_ROWS = {
    "custom": "each defining its own zone (one shared definition)",
    "distinct": "each defining its own zone (every one different)",
}


def cold_load(n: int, variant: str, profile: bool = False) -> dict[str, float]:
    """Cold load of n Outlook-shaped calendars as `route` / `presence` read them (no cache):
    `known` zone (W. Europe Standard Time, replaced by the IANA zone), `custom` (one
    "Customized Time Zone" definition shared by all, as in one organisation), or `distinct`
    (every calendar its own definition: the worst case for zone isolation). Then the presence
    book, and a warm restart (hash every file, read the cache, presence). `profile`: instead, a
    cProfile of one reader's work (`read_ics`) over the same files, in this process."""
    from benchmarks.bench_routing import make_users, write_calendars
    from calendar_sync.snapshot import BlockCache, Window, presence_book, read_ics_calendars

    day = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_calendars(folder, n)
        if variant != "known":
            for i, path in enumerate(sorted(folder.glob("u*.ics"))):
                text = path.read_text("utf-8").replace(
                    "W. Europe Standard Time", "Customized Time Zone"
                )
                if variant == "distinct":  # a different standard-time start → another definition
                    text = text.replace(
                        "DTSTART:16010101T030000", f"DTSTART:16010101T03{i % 60:02d}00", 1
                    )
                path.write_text(text, "utf-8")
        users = make_users(n, folder)
        window = Window.around(day, TZ)
        if profile:
            _profile_reader(users, window)
            return {}
        # The floor, before and after (as bench_routing's): a tenth of the same files parsed
        # by icalendar alone in as many processes as the cold load starts.
        workers = min(n, os.cpu_count() or 1)
        paths = [u.calendar.location for u in users[: max(200, n // 10)] if u.calendar]
        before = floor.parallel_parse(paths, workers)
        cache_file = folder / "cache.json"
        t0, c0, all0 = time.perf_counter(), time.process_time(), floor.cpu_seconds()
        cache = BlockCache(cache_file)
        reads = read_ics_calendars(users, window, TZ, cache)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        all_cpu = floor.cpu_seconds() - all0  # with the reader processes (ended by now)
        t1 = time.perf_counter()
        book = presence_book(reads, RULES)
        presence_s = time.perf_counter() - t1
        own_mb, reader_mb = floor.peak_rss_mb()  # the cold load's peaks (readers have ended)
        cache.save()
        t2 = time.perf_counter()
        warm_reads = read_ics_calendars(users, window, TZ, BlockCache(cache_file))
        warm_book = presence_book(warm_reads, RULES)
        warm = time.perf_counter() - t2
        assert len(warm_book.users) == len(book.users)
        after = floor.parallel_parse(paths, workers)
    floor_s = (before[0] + after[0]) / 2 * n / len(paths)
    floor_cpu = (before[1] + after[1]) / 2 * n / len(paths)
    errors = sum(1 for r in reads.values() if r.error)
    blocks = sum(len(r.blocks) for r in reads.values())
    print(
        f"cold load, {n} calendars, zone {variant}: {wall:.1f} s wall"
        f" ({wall / n * 1000:.2f} ms per calendar), {cpu:.1f} s CPU in this process;"
        f" {blocks} blocks, {errors} errors; floor (icalendar's parse alone, {workers}"
        f" processes) {floor_s:.1f} s: ratio {floor_s / wall:.2f};"
        f" CPU {all_cpu:.1f} s with the readers, floor {floor_cpu:.1f} s:"
        f" CPU ratio {floor_cpu / all_cpu:.2f}; presence {presence_s:.2f} s;"
        f" warm restart {warm:.2f} s; peak RSS {own_mb:.0f} MB (service),"
        f" {reader_mb:.0f} MB (reader)",
        flush=True,
    )
    if variant != "known":  # the known zone's row is bench_routing's (the table's cold load)
        ratio = floor_s / wall
        floor.emit(
            floor.Row(
                f"cold load, {n:,} Outlook calendars × 20 events, {ZONE_ROWS[variant]}",
                f"parse alone (icalendar, {workers} processes): {floor_s:.1f} s",
                f"{wall:.1f} s (CPU ratio {floor_cpu / all_cpu:.2f}); warm restart {warm:.2f} s;"
                f" peak RSS {own_mb:.0f} MB (service), {reader_mb:.0f} MB (reader)",
                ratio,
                "≥ 0.8; warm restart ≤ 3 s; ≤ 300 MB RSS per process",
                ratio >= 0.8 and warm <= 3 and max(own_mb, reader_mb) <= 300,
            )
        )
    return {
        "wall": wall,
        "blocks": blocks,
        "errors": errors,
        "ratio": floor_s / wall,
        "cpu_ratio": floor_cpu / all_cpu,
        "warm": warm,
        "rss_mb": max(own_mb, reader_mb),
    }


def _profile_reader(users: list[Any], window: Any) -> None:
    """cProfile of `read_ics` over the users' files in this process (a reader's work), after
    one unprofiled pass (zones built, as in a reader that has read a few calendars); and the
    floor's parse of the same files, for comparison."""
    import icalendar

    from calendar_sync.ics import read_ics

    datas = [Path(u.calendar.location).read_bytes() for u in users if u.calendar]

    def ours() -> None:
        for data in datas:
            read_ics(data, window.start, window.end, TZ, "bench", 10_000, 1.5)

    def library() -> None:
        for data in datas:
            icalendar.Calendar.from_ical(data)

    ours()
    for name, work in (("floor (icalendar's parse)", library), ("read_ics", ours)):
        c0 = time.process_time()
        work()
        took = time.process_time() - c0
        print(f"{name}: {took / len(datas) * 1000:.3f} ms CPU per calendar (unprofiled)")
    profiler = cProfile.Profile()
    profiler.enable()
    ours()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


async def latency(rounds: int, intervals: dict[str, float]) -> dict[str, list[float]]:
    """Calendar edit → published presence change (what routing reads), per source, with the
    sources at the given poll intervals: watched ICS file, ICS feed, CalDAV (Radicale, ctag /
    sync-token), EWS (polled; XML work in the helper process), Graph polled, and Graph with
    change notifications (push; its poll an hour away). Local servers on 127.0.0.1."""
    import functools
    import socket
    import subprocess

    import aiohttp
    import caldav

    from calendar_sync.dav import CalDavClient
    from calendar_sync.ews_stream import EwsStreaming
    from calendar_sync.graph_notify import GraphNotifications, NotifySettings
    from calendar_sync.sources import CalDavSettings

    now = datetime.now(UTC).replace(microsecond=0)
    tmp = tempfile.TemporaryDirectory()
    folder = Path(tmp.name)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (folder / "users").write_text("svc:pw\n", "utf-8")
    args = [sys.executable, "-m", "radicale", "--config", "", "--server-hosts", f"127.0.0.1:{port}"]
    args += ["--storage-filesystem-folder", str(folder / "dav"), "--auth-type", "htpasswd"]
    args += ["--auth-htpasswd-filename", str(folder / "users"), "--auth-htpasswd-encryption"]
    args += ["plain", "--rights-type", "owner_only", "--logging-level", "warning"]
    radicale = await asyncio.to_thread(
        subprocess.Popen, args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    out: dict[str, list[float]] = {
        k: [] for k in ("file", "feed", "caldav", "ews", "ews-push", "graph", "graph-push")
    }
    from tests.calendar_sync.ews_stream_server import EwsStreamingServer

    ews_streaming = EwsStreamingServer()
    ews, graph, feeds = EwsServer(), GraphServer(), FeedServer()
    feeds.put("f", ics())
    path = folder / "w.ics"
    path.write_bytes(ics())
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        dav_admin = caldav.DAVClient(url=f"http://127.0.0.1:{port}", username="svc", password="pw")
        dav_cal = await asyncio.to_thread(
            lambda: dav_admin.principal().make_calendar(name="c", cal_id="c")
        )
        async with AsyncExitStack() as stack:
            e = await stack.enter_async_context(serve(ews.app()))
            g = await stack.enter_async_context(serve(graph.app()))
            f = await stack.enter_async_context(serve(feeds.app()))
            es = await stack.enter_async_context(serve(ews_streaming.app()))
            session = await stack.enter_async_context(aiohttp.ClientSession())
            sync = CalendarSync(RULES, SystemClock())
            poll = lambda k: PollSettings(interval_s=intervals[k], max_age_s=900, jitter=0.0)  # noqa: E731
            ex = replace(
                ExchangeSettings(f"{e}/EWS/Exchange.asmx", Secret("U"), Secret("P")), auth="basic"
            )
            ews_client = EwsClient(ex, ews.username, ews.password)
            stack.push_async_callback(asyncio.to_thread, ews_client.close)
            gs = replace(
                GraphSettings(Secret("T"), Secret("C"), Secret("S")),
                authority=g,
                base_url=f"{g}/v1.0",
                automatic_replies=False,
            )
            graph_client = GraphClient(
                gs, graph.tenant, graph.client_id, graph.client_secret, session
            )
            push_client = GraphClient(
                gs, graph.tenant, graph.client_id, graph.client_secret, session
            )
            feed_client = IcsFeedClient(session, TZ)
            watcher = IcsFileWatcher(TZ)
            dav = CalDavClient(CalDavSettings(Secret("U"), Secret("P")), "svc", "pw", TZ)
            for closer in (feed_client.aclose, watcher.aclose, dav.aclose):
                stack.push_async_callback(closer)
            sync.add_source("ics", watcher, poll("file"), {"file": str(path)})
            sync.add_source(
                "ics_url", feed_client, poll("feed"), {"feed": f"{f}/feeds/f.ics"}, staggered=True
            )
            sync.add_source("caldav", dav, poll("caldav"), {"caldav": str(dav_cal.url)})
            sync.add_source("exchange", ews_client, poll("ews"), {"ews": "e@example.se"})
            sync.add_source("graph", graph_client, poll("graph"), {"graph": "g@example.se"})
            sync.add_source(
                "graph-push",
                push_client,
                PollSettings(3600, 7200, jitter=0.0),
                {"graph-push": "p@example.se"},
            )
            notifier = GraphNotifications(
                push_client,
                NotifySettings("https://placeholder", "bench-client-state"),
                functools.partial(sync.refresh, push_client),
                sync.clock,
            )
            await notifier.start()
            assert notifier.local_url is not None
            notifier.settings = replace(notifier.settings, public_url=notifier.local_url)
            sync.companions.append(functools.partial(notifier.run, ["p@example.se"]))
            ex_push = replace(
                ExchangeSettings(f"{es}/EWS/Exchange.asmx", Secret("U"), Secret("P")),
                auth="basic",
                automatic_replies=False,
            )
            ews_push_client = EwsClient(ex_push, ews_streaming.username, ews_streaming.password)
            stack.push_async_callback(asyncio.to_thread, ews_push_client.close)
            sync.add_source(
                "ews-push",
                ews_push_client,
                PollSettings(3600, 7200, jitter=0.0),
                {"ews-push": "s@example.se"},
            )
            streaming = EwsStreaming(
                ex_push,
                ews_streaming.username,
                ews_streaming.password,
                functools.partial(sync.refresh, ews_push_client),
            )
            sync.companions.append(functools.partial(streaming.run, ["s@example.se"]))
            sub = await stack.enter_async_context(sync.subscribe())
            await stack.enter_async_context(sync)
            await asyncio.wait_for(sync.loaded.wait(), 120)
            for _ in range(1200):  # the subscription's validation handshake (bounded)
                if notifier.by_user and ews_streaming.streams:
                    break
                await asyncio.sleep(0.05)
            for k in range(rounds):
                sub.pending()
                ev = [
                    Event(
                        now - timedelta(hours=1),
                        now + timedelta(hours=1 + k),
                        "Busy" if k % 2 else "OOF",
                        f"Möte {k}",
                    )
                ]
                body = ics(*ev)
                t0 = time.perf_counter()
                path.write_bytes(body)
                feeds.put("f", body)
                await asyncio.to_thread(
                    dav_cal.save_event,
                    body.decode().replace(
                        "UID:040000008200E00074C5B7101A82E0080000000", "UID:bench-"
                    ),
                )
                ews.calendars["e@example.se"] = ev
                graph.calendars["g@example.se"] = ev
                await graph.change("p@example.se", ev)
                ews_streaming.change("s@example.se", ev)
                seen: dict[str, float] = {}
                deadline = t0 + 3 * max(intervals.values()) + 30
                while len(seen) < len(out) and time.perf_counter() < deadline:
                    try:
                        change = await asyncio.wait_for(sub.get(), timeout=5)
                    except TimeoutError:
                        continue
                    if change.user_id in out and change.user_id not in seen:
                        seen[change.user_id] = time.perf_counter() - t0
                for who, t in seen.items():
                    out[who].append(t)
                print(
                    f"  round {k + 1}: "
                    + ", ".join(f"{w} {t:.2f} s" for w, t in sorted(seen.items()))
                )
                await asyncio.sleep(1.7 + (k * 0.9) % 3)  # the next edit at another phase
    finally:
        radicale.terminate()
        radicale.wait(10)
        tmp.cleanup()
    print("calendar edit → presence change (what routing reads), median / max of", rounds, "edits:")
    for who, values in out.items():
        if values:
            interval = (
                f"push, poll {3600:g} s" if who.endswith("-push") else f"poll {intervals[who]:g} s"
            )
            print(
                f"  {who:10s} ({interval}): median {statistics.median(values):.2f} s, max {max(values):.2f} s"
            )
    return out


async def main(users: int, same: bool, profile: bool, batch_interval: float) -> None:
    """Run the benchmark (separate process; then same process if asked) and print figures."""
    await run(users, separate=True, profile=profile, batch_interval=batch_interval)
    if same:
        await run(users, separate=False, profile=False, batch_interval=batch_interval)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--same-process", action="store_true", help="also the old set-up")
    parser.add_argument("--profile", action="store_true", help="cProfile one feed poll")
    parser.add_argument(
        "--batch-interval",
        type=float,
        default=INTERVAL_S,
        help="EWS and Graph poll interval in seconds (their production default is 60)",
    )
    parser.add_argument(
        "--cold-load",
        type=int,
        default=0,
        metavar="N",
        help="only: the cold load of N Outlook ICS calendars (known, custom, distinct zones)",
    )
    parser.add_argument("--zones", default="known,custom,distinct", help="cold-load variants")
    parser.add_argument(
        "--profile-reader",
        action="store_true",
        help="with --cold-load: cProfile of one reader's work over the calendars instead",
    )
    parser.add_argument(
        "--latency", type=int, default=0, metavar="ROUNDS", help="only: edit → change latency"
    )
    parser.add_argument(
        "--intervals",
        default="file=0.5,feed=30,caldav=30,ews=60,graph=60",
        help="poll intervals in seconds for --latency (the production defaults)",
    )
    args = parser.parse_args()
    if args.latency:
        chosen = {k: float(v) for k, v in (kv.split("=") for kv in args.intervals.split(","))}
        asyncio.run(latency(args.latency, chosen))
    elif args.cold_load:
        variants = [v for v in args.zones.split(",") if v]
        if len(variants) == 1 or args.profile_reader:
            for variant in variants:
                cold_load(args.cold_load, variant, args.profile_reader)
        else:  # each variant in a process of its own: its peak RSS is its own
            for variant in variants:
                cmd = [sys.executable, __file__, "--cold-load", str(args.cold_load)]
                subprocess.run([*cmd, "--zones", variant], check=True)
    else:
        asyncio.run(main(args.users, args.same_process, args.profile, args.batch_interval))
