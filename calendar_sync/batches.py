"""Fetching many calendars in batches of the size a server accepts, one failure per batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from calendar_sync.errors import CalendarError

R = TypeVar("R")


async def fetch_in_batches(
    ids: Sequence[str],
    size: int,
    fetch_batch: Callable[[list[str]], Awaitable[dict[str, R]]],
) -> dict[str, R | CalendarError]:
    """Every id's result; a failed batch marks its ids with the error, and when every batch
    failed the first error is raised (the source is down, not a few mailboxes)."""
    batches = [list(ids[i : i + size]) for i in range(0, len(ids), size)]
    results = await asyncio.gather(*(fetch_batch(b) for b in batches), return_exceptions=True)
    out: dict[str, R | CalendarError] = {}
    failures: list[CalendarError] = []
    for batch, result in zip(batches, results, strict=True):
        if isinstance(result, CalendarError):
            failures.append(result)
            out.update(dict.fromkeys(batch, result))
        elif isinstance(result, BaseException):
            raise result
        else:
            out.update(result)
    if batches and len(failures) == len(batches):
        raise failures[0]
    return out
