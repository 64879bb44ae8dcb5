"""Loaded only under `scripts/test-dates.sh` (it puts this folder on PYTHONPATH).

libfaketime shifts the wall clock and leaves the monotonic clock alone
(FAKETIME_DONT_FAKE_MONOTONIC=1): with a faked monotonic clock, threads' timed waits
(`queue.get(timeout=…)`, `Event.wait(…)`) never return. But then Python's `time.sleep`, which
sleeps until an absolute monotonic deadline with clock_nanosleep, fails with EINVAL. Sleep with
select's relative timeout instead, which libfaketime leaves alone.
"""

import os
import select
import time

if os.environ.get("FAKETIME"):

    def _sleep(seconds: float) -> None:
        """time.sleep through select (relative timeouts)."""
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            select.select([], [], [], left)

    time.sleep = _sleep
