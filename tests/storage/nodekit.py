"""A service-node subprocess (pg_nodeworker.py) whose output lines arrive with their time."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "pg_nodeworker.py"


class Node:
    """A node subprocess whose output lines are collected with their arrival time."""

    def __init__(self, dsn: str, base: Path, spool: Path, name: str) -> None:
        path = os.pathsep.join(str(p) for p in (ROOT, ROOT / "tests", ROOT / "tests" / "voicemail"))
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), dsn, str(base), str(spool), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(filter(None, (path, os.environ.get("PYTHONPATH")))),
            },
            cwd=ROOT,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put((time.time(), raw.decode().strip()))

    def wait_for(self, prefix: str, timeout: float) -> tuple[float, str] | None:
        """The first line starting with `prefix` within `timeout` seconds, or None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                at, line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line.startswith(prefix):
                return at, line
        return None

    def end(self, sig: signal.Signals = signal.SIGTERM) -> str:
        """Signal the node, wait for it, and return its stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=30)
        self._reader.join(timeout=5)
        return err.decode(errors="replace")
