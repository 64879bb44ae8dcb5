"""Calendars read in worker processes, every read bounded in time, occurrences and memory.

One hostile calendar (`RRULE:FREQ=SECONDLY` from 2007 without an end, 10,000 nested VEVENTs)
must not stall everybody else's: a read runs in a worker process; past its time limit the worker
is ended (a thread could not be) and replaced, and that calendar gets a CalendarTooComplex error
saying why. Inside the worker the occurrences in the window are bounded (calendar_sync.ics) and
so is the heap (RLIMIT_DATA). A worker starts in about 0.15 s and serves many reads; it is retired
once it has built `zones_per_worker` of the time zones calendars define (icalendar keeps them
process-wide; each answer says how many), or after `jobs_per_worker` reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from calendar_sync.block_rows import blocks_of, rows_of, whole_seconds
from calendar_sync.errors import (
    CalendarError,
    CalendarParseError,
    CalendarReadTimeout,
    CalendarTooComplex,
    CalendarUnavailable,
)
from calendar_sync.ics import MAX_OCCURRENCES, IcsRead, clean

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """Bounds of one calendar read."""

    time_s: float = 5.0  # a typical Outlook calendar takes ~10 ms
    series_time_s: float = 1.5  # one series' expansion (the worker answers instead of being ended)
    occurrences: int = MAX_OCCURRENCES
    memory_mb: int = 768  # the worker's heap (RLIMIT_DATA)
    jobs_per_worker: int = 20_000
    zones_per_worker: int = 2000  # zones calendars define, kept by icalendar (~10 KB each)


@dataclass(frozen=True, slots=True)
class ReadJob:
    """One calendar to read over a window; `source` names it in errors and logs."""

    data: bytes
    window_start: datetime
    window_end: datetime
    tz: str
    source: str


ReadOutcome = IcsRead | CalendarError


def _error_fields(exc: CalendarError) -> tuple[str, str, str]:
    kind = "too-complex" if isinstance(exc, CalendarTooComplex) else "parse"
    return kind, str(getattr(exc, "source", "")), str(getattr(exc, "reason", exc))


def _serve(jobs: Connection, answers: Connection, limits: ReadLimits) -> None:
    """Worker: say "ready", then read jobs until the pipe closes; answer ("rows", (rows,
    skipped)) (calendar_sync.block_rows), ("ok", IcsRead) when rows would not give the blocks
    back exactly, or ("error", (kind, source, reason)); and the number of zones built so far."""
    import resource

    from calendar_sync.ics import read_ics
    from calendar_sync.ics.vtimezones import zones_built

    with contextlib.suppress(ValueError, OSError):
        _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        want = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (want if hard < 0 else min(want, hard), hard))
    answers.send(("ready", None))
    while True:
        try:
            batch: list[ReadJob] = jobs.recv()  # read in turn, one answer as each is done
        except (EOFError, OSError):
            return
        for job in batch:
            try:
                answers.send((*_answer(job, limits, read_ics), zones_built()))
            except (OSError, ValueError):
                return


def _answer(job: ReadJob, limits: ReadLimits, read_ics: Any) -> tuple[str, Any]:
    try:
        read = read_ics(
            job.data,
            job.window_start,
            job.window_end,
            ZoneInfo(job.tz),
            job.source,
            limits.occurrences,
            limits.series_time_s,
        )
        if whole_seconds(read.blocks):  # rows: far cheaper to send than the blocks
            return ("rows", (rows_of(read.blocks), read.skipped))
        return ("ok", read)
    except CalendarError as exc:
        return ("error", _error_fields(exc))
    except MemoryError:
        why = f"reading it needed more than {limits.memory_mb} MB"
        return ("error", ("too-complex", job.source, why))
    except RecursionError:
        return ("error", ("too-complex", job.source, "nested too deeply to read"))
    except Exception as exc:  # a library bug on odd input: this calendar only
        why = f"unreadable ({type(exc).__name__}: {clean(exc, 120)})"
        return ("error", ("parse", job.source, why))


_ROOT = str(Path(__file__).resolve().parent.parent)
MAX_INSTANTS = 50_000  # datetimes kept for decoding answers (a few MB at most)
START_TIMEOUT_S = 60.0  # a worker's interpreter start and imports, on a loaded machine


class _Worker:
    """One worker: a fresh interpreter (`python -m calendar_sync.workers`) and two pipes.

    Not multiprocessing's spawn or forkserver: both import the parent's __main__ again in the
    child (`python -m switchboard` would start a second service), and fork copies a threaded
    process.
    """

    def __init__(self, limits: ReadLimits) -> None:
        job_r, job_w = os.pipe()
        answer_r, answer_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        args = [str(job_r), str(answer_w), str(limits.memory_mb), str(limits.occurrences)]
        args.append(str(limits.series_time_s))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "calendar_sync.workers", *args],
                pass_fds=(job_r, answer_w),
                stdin=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        finally:
            os.close(job_r)
            os.close(answer_w)
        self.jobs_out = Connection(job_w, readable=False)
        self.answers = Connection(answer_r, writable=False)
        self.jobs = 0
        self.zones = 0  # zones calendars define that it has built
        self._stopped = False
        if not self.answers.poll(START_TIMEOUT_S) or self.answers.recv()[0] != "ready":
            self.stop(kill=True)
            raise OSError("the calendar reader process did not start")

    def stop(self, kill: bool = False) -> None:
        """End the worker: at once (`kill`), or by closing its pipe (once; later calls pass)."""
        if self._stopped:
            return
        self._stopped = True
        if kill:
            with contextlib.suppress(OSError):
                self.process.kill()
        self.jobs_out.close()
        try:
            self.process.wait(2.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(2.0)
        self.answers.close()


def _outcome(kind: str, value: Any, instants: dict[float, datetime]) -> ReadOutcome:
    if kind == "rows":
        rows, skipped = value
        return IcsRead(tuple(blocks_of(rows, instants)), skipped)
    if kind == "ok":
        assert isinstance(value, IcsRead)
        return value
    error_kind, source, reason = value
    error = CalendarTooComplex if error_kind == "too-complex" else CalendarParseError
    return error(source, reason)


def _stop_all(workers: set[_Worker]) -> None:
    for worker in list(workers):
        with contextlib.suppress(Exception):
            worker.stop(kill=True)
    workers.clear()


class CalendarReaders:
    """A small pool of reader processes: `read` (blocking, thread-safe), `aread`, `read_many`."""

    def __init__(self, workers: int | None = None, limits: ReadLimits | None = None) -> None:
        # At least two: one calendar at its time limit never holds up all the others.
        self.size = max(1, workers or max(2, min(4, os.cpu_count() or 1)))
        self.limits = limits or ReadLimits()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.size)
        self._threads: ThreadPoolExecutor | None = None
        self._closed = False
        self.stopped = 0  # reads ended at the time limit or by a dead worker
        # epoch second → datetime for the answers' blocks (calendar_sync.block_rows), bounded
        self._instants: dict[float, datetime] = {}
        # Workers of a pool dropped without close() are ended with it, not left running.
        self._finalizer = weakref.finalize(self, _stop_all, self._all)

    def _take(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("calendar readers are closed")
            if self._idle:
                return self._idle.pop()
        worker = _Worker(self.limits)  # outside the lock: starting takes a moment
        with self._lock:
            self._all.add(worker)
        return worker

    def _give_back(self, worker: _Worker, healthy: bool) -> None:
        retire = (
            not healthy
            or worker.jobs >= self.limits.jobs_per_worker
            or worker.zones >= self.limits.zones_per_worker
        )
        with self._lock:
            if not retire and not self._closed:
                self._idle.append(worker)
                return
            self._all.discard(worker)
        worker.stop(kill=not healthy)

    def read(self, job: ReadJob) -> ReadOutcome:
        """Read one calendar in a worker; an error (never an exception) for a calendar that
        cannot be read within the limits."""
        return self.read_batch([job])[0]

    def read_batch(self, jobs: list[ReadJob]) -> list[ReadOutcome]:
        """Read calendars in turn in one worker (one message out, an answer per calendar, each
        within the time limit). Past the limit the worker is ended, that calendar answered with
        the reason, and the rest read by a fresh worker."""
        out: list[ReadOutcome] = []
        while len(out) < len(jobs):
            out.extend(self._read_some(jobs[len(out) :]))
        return out

    def _read_some(self, jobs: list[ReadJob]) -> list[ReadOutcome]:
        """Answers for a prefix of `jobs` (all of them unless a read failed its bounds)."""
        out: list[ReadOutcome] = []
        if len(self._instants) > MAX_INSTANTS:
            self._instants = {}
        with self._slots:
            try:
                worker = self._take()
            except OSError as exc:
                return [CalendarUnavailable(j.source, f"no calendar reader: {exc}") for j in jobs]
            healthy = False
            try:
                worker.jobs += len(jobs)
                worker.jobs_out.send(jobs)
                for job in jobs:
                    if not worker.answers.poll(self.limits.time_s):
                        self.stopped += 1
                        why = (
                            f"reading it took longer than {self.limits.time_s:g} s (an endless"
                            " or very frequent RRULE?)"
                        )
                        out.append(CalendarReadTimeout(job.source, why))
                        return out
                    kind, value, worker.zones = worker.answers.recv()
                    out.append(_outcome(kind, value, self._instants))
                healthy = True
            except (EOFError, OSError) as exc:
                self.stopped += 1
                why = f"the reader stopped while reading it ({type(exc).__name__})"
                out.append(CalendarTooComplex(jobs[len(out)].source, why))
            finally:
                self._give_back(worker, healthy)
        return out

    def read_many(self, jobs: Iterable[ReadJob], chunk: int = 16) -> list[ReadOutcome]:
        """Read many calendars, `size` workers at a time, `chunk` calendars per message, in
        order."""
        todo = list(jobs)
        chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
        return [o for part in self._executor().map(self.read_batch, chunks) for o in part]

    async def aread(self, job: ReadJob) -> ReadOutcome:
        """`read` from the event loop, in the pool's own threads (never the loop's executor)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor(), self.read, job)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.size, thread_name_prefix="calendar-read")
            return self._threads

    def close(self) -> None:
        """Stop every worker (reads in progress end with an error) and the threads."""
        with self._lock:
            self._closed = True
            self._idle = []
            threads, self._threads = self._threads, None
        self._finalizer()
        if threads is not None:
            threads.shutdown(wait=True)

    def __enter__(self) -> CalendarReaders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str]) -> None:
    """Worker entry: `python -m calendar_sync.workers JOB_FD ANSWER_FD MEMORY_MB OCCURRENCES
    SERIES_TIME_S`."""
    job_fd, answer_fd, memory_mb, occurrences = (int(a) for a in argv[:4])
    limits = ReadLimits(memory_mb=memory_mb, occurrences=occurrences, series_time_s=float(argv[4]))
    _serve(Connection(job_fd, writable=False), Connection(answer_fd, readable=False), limits)


if __name__ == "__main__":
    main(sys.argv[1:])
