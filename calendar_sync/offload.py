"""Blocking client calls run in a helper process, so their CPU never holds the event loop.

exchangelib builds and parses SOAP XML in Python (about 1.5 ms per mailbox); in threads of the
service's own process that time holds the GIL the event loop needs, and at short poll intervals
the loop starves. The helper is a fresh interpreter (`python -m calendar_sync.offload`, never
multiprocessing's spawn or forkserver, which would import the service's __main__ again) holding
one client object, made once by a factory; calls are multiplexed over two pipes and run in the
helper's own threads, `concurrency` at a time. A call's exception comes back and is raised in the
caller; a dead helper is started again on the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parent.parent)
START_TIMEOUT_S = 60.0


class HelperDied(RuntimeError):
    """The helper process ended while calls were in flight."""


class ProcessCalls:
    """`await calls.call("method", *args)` on an object living in a helper process."""

    def __init__(self, factory: str, args: tuple[Any, ...], concurrency: int) -> None:
        self.factory = factory  # "module:callable" that builds the object in the helper
        self.args = args
        self.concurrency = max(1, concurrency)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._out: Connection | None = None
        self._pending: dict[int, Future[Any]] = {}
        self._next = 0
        self.calls = 0

    def _start(self) -> None:
        job_r, job_w = os.pipe()
        answer_r, answer_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "calendar_sync.offload", str(job_r), str(answer_w)],
                pass_fds=(job_r, answer_w),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            os.close(job_r)
            os.close(answer_w)
        out, answers = Connection(job_w, readable=False), Connection(answer_r, writable=False)
        out.send((self.factory, self.args, self.concurrency))
        if not answers.poll(START_TIMEOUT_S) or answers.recv() != ("ready",):
            process.kill()
            process.wait()
            out.close()
            answers.close()
            raise HelperDied(f"helper {self.factory} did not start")
        self._process, self._out = process, out
        threading.Thread(
            target=self._read_answers, args=(answers, process), name="offload-answers", daemon=True
        ).start()

    def _read_answers(self, answers: Connection, process: subprocess.Popen[bytes]) -> None:
        try:
            while True:
                call_id, ok, value = answers.recv()
                with self._lock:
                    future = self._pending.pop(call_id, None)
                if future is not None and not future.done():
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        except (EOFError, OSError):
            pass
        finally:
            answers.close()
            with self._lock:
                if self._process is process:
                    self._process, self._out = None, None
                pending, self._pending = self._pending, {}
            for future in pending.values():
                if not future.done():
                    future.set_exception(HelperDied(f"helper {self.factory} stopped"))

    def submit(self, method: str, *args: Any) -> Future[Any]:
        """Send one call; its future completes when the answer arrives (any thread)."""
        with self._lock:
            if self._process is None:
                self._start()
            out = self._out
            assert out is not None
            self._next += 1
            call_id = self._next
            future: Future[Any] = Future()
            self._pending[call_id] = future
            self.calls += 1
        try:
            with self._send_lock:
                out.send((call_id, method, args))
        except (OSError, ValueError) as exc:
            with self._lock:
                self._pending.pop(call_id, None)
            future.set_exception(HelperDied(f"helper {self.factory}: {exc}"))
        return future

    async def call(self, method: str, *args: Any) -> Any:
        """Call `method(*args)` on the helper's object and await its result."""
        return await asyncio.wrap_future(self.submit(method, *args))

    def close(self) -> None:
        """Stop the helper (calls in flight fail with HelperDied)."""
        with self._lock:
            process, out = self._process, self._out
            self._process, self._out = None, None
        if out is not None:
            with contextlib.suppress(OSError):
                out.close()  # the helper ends when its job pipe closes
        if process is not None:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _serve(jobs: Connection, answers: Connection) -> None:
    factory, args, concurrency = jobs.recv()
    module, _, name = factory.partition(":")
    build: Callable[..., Any] = getattr(importlib.import_module(module), name)
    target = build(*args)
    send_lock = threading.Lock()

    def run(call_id: int, method: str, call_args: tuple[Any, ...]) -> None:
        try:
            answer = (call_id, True, getattr(target, method)(*call_args))
        except Exception as exc:  # sent back and raised in the caller
            answer = (call_id, False, exc)
        with send_lock:
            try:
                answers.send(answer)
            except Exception as exc:  # an unpicklable exception: send its text
                answers.send((call_id, False, RuntimeError(f"{type(exc).__name__}: {exc}")))

    answers.send(("ready",))
    with ThreadPoolExecutor(concurrency, thread_name_prefix="offload") as pool:
        while True:
            try:
                call_id, method, call_args = jobs.recv()
            except (EOFError, OSError):
                break
            pool.submit(run, call_id, method, call_args)
    close = getattr(target, "close", None)
    if callable(close):
        close()


if __name__ == "__main__":
    _serve(
        Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)
    )
