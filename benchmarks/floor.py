"""Floors: the minimal work for each benchmark's job, measured in the same run, and the table.

Machines differ two or three times between runs (and a shared machine from minute to minute), so
a benchmark's figure means something only beside the floor for the same job measured in the same
run. Every benchmark prints its rows through `emit`: a human line, and one machine line
(`@row {json}`) that `run_all.sh` collects into one table with `python3 benchmarks/floor.py table
LOG...`.

The ratio is always "higher is better", at most about 1: landed rate / floor rate, or floor time /
landed time.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

ROW_PREFIX = "@row "
COLUMNS = ("work", "floor (same run)", "landed", "ratio", "goal", "at goal")


@dataclass(frozen=True)
class Row:
    """One line of the table: the job, its floor and what the code does, the ratio and the goal."""

    work: str
    floor: str
    landed: str
    ratio: float | None
    goal: str
    met: bool | None  # None: no goal set for this row

    def cells(self) -> tuple[str, ...]:
        """The row as table cells."""
        ratio = "–" if self.ratio is None else f"{self.ratio:.2f}"
        met = "–" if self.met is None else ("yes" if self.met else "NO")
        return (self.work, self.floor, self.landed, ratio, self.goal, met)


def emit(row: Row) -> None:
    """Print the row for a person, then as the machine line `run_all.sh` collects."""
    ratio = "–" if row.ratio is None else f"{row.ratio:.2f}"
    verdict = "" if row.met is None else (" (at goal)" if row.met else " (BELOW GOAL)")
    print(f"  floor   {row.floor}")
    print(f"  landed  {row.landed}")
    print(f"  ratio   {ratio}, goal {row.goal}{verdict}")
    print(ROW_PREFIX + json.dumps(asdict(row), ensure_ascii=False), flush=True)


def rows_in(lines: Sequence[str]) -> list[Row]:
    """The rows printed by `emit` among a benchmark's output lines."""
    return [
        Row(**json.loads(line[len(ROW_PREFIX) :])) for line in lines if line.startswith(ROW_PREFIX)
    ]


def table(rows: Sequence[Row]) -> str:
    """The rows as one Markdown table."""
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(c.replace("|", "/") for c in r.cells()) + " |" for r in rows]
    return "\n".join(out)


# --- timing ----------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values (nearest rank below)."""
    return sorted_values[int(q * (len(sorted_values) - 1))]


def timed_loop(
    fn: Callable[[Any, datetime], object],
    inputs: Sequence[object],
    nows: Sequence[datetime],
    start: int = 0,
) -> tuple[float, list[int]]:
    """Run fn(input, now) over every input with the same per-call timing as the landed code:
    (seconds, latencies in ns)."""
    latencies: list[int] = []
    clock = time.perf_counter_ns
    append = latencies.append
    n_nows = len(nows)
    t0 = time.perf_counter()
    for i, x in enumerate(inputs, start):
        a = clock()
        fn(x, nows[i % n_nows])
        append(clock() - a)
    return time.perf_counter() - t0, latencies


@dataclass
class Paired:
    """Floor and landed over the same inputs, chunk by chunk, alternating which goes first."""

    floor_rate: float  # calls per second
    floor_latencies: list[int]  # sorted, ns
    rate: float
    latencies: list[int]
    ratio: float  # median over chunks of landed rate / floor rate


def paired(
    floor_fn: Callable[[Any, datetime], object],
    landed_fn: Callable[[Any, datetime], object],
    inputs: Sequence[object],
    nows: Sequence[datetime],
    chunk: int = 10_000,
    rounds: int = 3,
) -> Paired:
    """Time floor and landed side by side on small chunks, so that a shared machine's load
    (which changes from second to second) falls on both alike; the ratio is the median of the
    chunks' ratios, the rates are totals."""
    f_time = l_time = 0.0
    f_lat: list[int] = []
    l_lat: list[int] = []
    ratios: list[float] = []
    n = 0
    for r in range(rounds):
        for k, lo in enumerate(range(0, len(inputs), chunk)):
            part = inputs[lo : lo + chunk]
            if (k + r) % 2 == 0:
                ft, fl = timed_loop(floor_fn, part, nows, lo)
                lt, ll = timed_loop(landed_fn, part, nows, lo)
            else:
                lt, ll = timed_loop(landed_fn, part, nows, lo)
                ft, fl = timed_loop(floor_fn, part, nows, lo)
            f_time, l_time = f_time + ft, l_time + lt
            f_lat += fl
            l_lat += ll
            ratios.append(ft / lt)
            n += len(part)
    f_lat.sort()
    l_lat.sort()
    return Paired(n / f_time, f_lat, n / l_time, l_lat, statistics.median(ratios))


# --- the floors --------------------------------------------------------------------------------

_SEPARATORS = str.maketrans("", "", " -()./\u00a0\t")


class Dialled(Protocol):
    """A call as the router gets it: the number as written."""

    @property
    def to(self) -> str:
        """The dialled number as written."""
        ...


class MinimalRouter:
    """The least a CPython routing decision can do: normalise the dialled digits to E.164, one
    dict lookup, a bisect over the person's busy blocks. No wording, no policy, no result
    object beyond a bool."""

    def __init__(
        self,
        busy: dict[str, tuple[tuple[datetime, ...], tuple[datetime, ...]]],
        country: str = "46",
        bare_prefix: str = "",
    ) -> None:
        """`busy`: E.164 → (sorted block starts, their ends); a bare number gets `bare_prefix`."""
        self.busy = busy
        self.country = country
        self.bare = "+" + country + bare_prefix

    def decide(self, call: Dialled, now: datetime) -> bool | None:
        """True: busy (redirect), False: ring, None: not ours."""
        s = call.to.translate(_SEPARATORS)
        if not s[1:].isdigit():
            return None
        if s[0] == "+":
            e164 = s
        elif s[0] == "0":
            e164 = "+" + self.country + s[1:]
        else:
            e164 = self.bare + s
        blocks = self.busy.get(e164)
        if blocks is None:
            return None
        starts, ends = blocks
        i = bisect.bisect_right(starts, now) - 1
        return i >= 0 and now < ends[i]


def durable_files(folder: Path, count: int, size: int) -> float:
    """Durable files per second: write `size` bytes, fsync, rename into place, fsync the
    directory; the least a crash-safe intake must do per message."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = os.urandom(size)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        t0 = time.perf_counter()
        for n in range(count):
            tmp = folder / f".{n}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, folder / f"{n}.wav")
            os.fsync(dir_fd)
        elapsed = time.perf_counter() - t0
    finally:
        os.close(dir_fd)
    return count / elapsed


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of fn() over `runs` runs."""
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


class BareAmi:
    """The least an AMI client can be: asyncio streams, frames split on the blank line, header
    lines into a dict; no objects, no futures per action, no reconnects. For floors only."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self._buffer = b""

    @classmethod
    async def connect(cls, port: int, username: str, secret: str) -> BareAmi:
        """Connect to 127.0.0.1:port and log in."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ami = cls(reader, writer)
        ami.send("Login", [("Username", username), ("Secret", secret)])
        async with asyncio.timeout(10):
            while (await ami.frame()).get("Response") != "Success":
                pass
        return ami

    def send(self, action: str, headers: Sequence[tuple[str, str]]) -> None:
        """Write one action (no waiting)."""
        lines = [f"Action: {action}", *(f"{k}: {v}" for k, v in headers)]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def frame(self) -> dict[str, str]:
        """The next response or event as a dict (a repeated header keeps its last value)."""
        while b"\r\n\r\n" not in self._buffer:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("AMI connection closed")
            self._buffer += data
        raw, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = raw.decode("utf-8", "replace").split("\r\n")
        return dict(line.split(": ", 1) for line in lines if ": " in line)

    async def run_agi(self, script: Callable[[str], Sequence[str]]) -> None:
        """Answer every AsyncAGIStart with `script(channel)`, one command after another's
        AsyncAGIExec, until cancelled."""
        pending: dict[str, list[str]] = {}
        while True:
            msg = await self.frame()
            event = msg.get("Event")
            channel = msg.get("Channel", "")
            if event == "AsyncAGIStart":
                pending[channel] = list(script(channel))
            elif event != "AsyncAGIExec" or channel not in pending:
                continue
            commands = pending.get(channel)
            if commands:
                self.send("AGI", [("Channel", channel), ("Command", commands.pop(0))])
            if not commands:
                pending.pop(channel, None)

    async def actions(
        self, jobs: Sequence[tuple[str, Sequence[tuple[str, str]]]], width: int
    ) -> None:
        """Send every action, at most `width` unanswered at a time; wait for every answer."""
        sent = answered = 0
        while answered < len(jobs):
            while sent < len(jobs) and sent - answered < width:
                action, headers = jobs[sent]
                self.send(action, [*headers, ("ActionID", str(sent))])
                sent += 1
            if "Response" in await self.frame():
                answered += 1

    async def close(self) -> None:
        """Close the connection."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def bare_fastagi(script: Callable[[], Sequence[str]]) -> asyncio.Server:
    """The least a FastAGI server can do per call: read the environment, then send each command
    of `script()` and read its one-line answer; close. Listens on 127.0.0.1 (any port)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (await reader.readline()).strip():
                pass  # agi_* environment, ended by an empty line
            for command in script():
                writer.write(command.encode() + b"\n")
                if not await reader.readline():
                    break
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def conditional_gets(
    urls: Sequence[str], concurrency: int, rounds: int = 3
) -> tuple[float, float]:
    """The HTTP work of polling feeds, alone (aiohttp, `concurrency` at a time): every URL
    fetched once (seconds), then fetched again with its ETag, answered 304 (the quickest of
    `rounds`, in seconds)."""
    import aiohttp

    etags: dict[str, str] = {}
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url: str) -> None:
            headers = {"If-None-Match": etags[url]} if url in etags else {}
            async with sem, session.get(url, headers=headers) as resp:
                await resp.read()
                etags[url] = resp.headers.get("ETag", "")

        t0 = time.perf_counter()
        await asyncio.gather(*(get(u) for u in urls))
        cold = time.perf_counter() - t0
        steady = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            await asyncio.gather(*(get(u) for u in urls))
            steady.append(time.perf_counter() - t0)
    return cold, min(steady)


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its finished child processes."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _parse_ics(path: str) -> float:
    """Parse one file; the CPU seconds it took in this process."""
    import icalendar

    c0 = time.process_time()
    icalendar.Calendar.from_ical(Path(path).read_bytes())
    return time.process_time() - c0


def parallel_parse(paths: Sequence[str], workers: int) -> tuple[float, float]:
    """The library's parse alone (icalendar) of these calendar files in `workers` processes
    started beforehand: (wall seconds, CPU seconds of the parses in the parsing processes and
    of this process meanwhile; not the processes' start, which ends up in the children's
    rusage only when they exit)."""
    import concurrent.futures
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        list(pool.map(_parse_ics, paths[:workers]))  # started, icalendar imported
        own0 = time.process_time()
        t0 = time.perf_counter()
        cpu = sum(pool.map(_parse_ics, paths, chunksize=max(1, len(paths) // (workers * 8))))
        wall = time.perf_counter() - t0
        cpu += time.process_time() - own0
    return wall, cpu


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident set size in MB: this process, and the largest finished child process."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main(argv: list[str]) -> int:
    """`floor.py table LOG...`: the rows printed in the logs as one table."""
    if len(argv) < 2 or argv[0] != "table":
        print("usage: python3 benchmarks/floor.py table LOG...", file=sys.stderr)
        return 2
    rows: list[Row] = []
    for name in argv[1:]:
        rows += rows_in(Path(name).read_text(encoding="utf-8").splitlines())
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
