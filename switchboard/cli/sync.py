"""`switchboard sync DIR [--once]`: follow every user's calendar and print presence changes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any, TextIO

from calendar_sync.changes import PresenceChange
from calendar_sync.errors import CalendarError
from calendar_sync.service import CalendarSync, open_calendar_sync
from calendar_sync.sources import CalendarSourcesSettings


def register(subparsers: Any) -> None:
    """Add the `sync` command."""
    p = subparsers.add_parser(
        "sync",
        help="follow calendars (ICS, EWS, Graph) and print presence changes as JSON lines",
        description=__doc__,
    )
    p.add_argument("dir", metavar="DIR", help="organisation folder (organisation.yaml, ...)")
    p.add_argument("--once", action="store_true", help="run one sync cycle and exit")
    p.set_defaults(func=handler)


def _line(change: PresenceChange, out: TextIO) -> None:
    out.write(json.dumps(change.as_json(), ensure_ascii=False) + "\n")
    out.flush()


def handler(args: argparse.Namespace) -> int:
    """Run the sync loop (or one cycle); 2 for a bad folder or configuration, 1 if sync failed."""
    from switchboard.config import ConfigError, load_config, normaliser

    try:
        config = load_config(args.dir)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    settings = config.calendar_sources  # parsed and checked against the users by load_config
    try:
        return asyncio.run(_run(config, settings, args.once, sys.stdout, normaliser(config)))
    except CalendarError as exc:
        print(f"switchboard sync: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


async def _run(
    config: Any, settings: CalendarSourcesSettings, once: bool, out: TextIO, normalise: Any
) -> int:
    async with open_calendar_sync(
        config.org, settings, rules=config.rules, normalise=normalise
    ) as sync:
        if once:
            for change in await sync.sync_once():
                _line(change, out)
            return 1 if _all_failed(sync) else 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        async with sync.subscribe() as sub:
            await sync.start()
            stopper = asyncio.ensure_future(stop.wait())
            try:
                while not stop.is_set():
                    getter = asyncio.ensure_future(sub.get())
                    done, _ = await asyncio.wait(
                        {getter, stopper}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter in done:
                        _line(getter.result(), out)
                    else:
                        getter.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await getter
            finally:
                stopper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stopper
                await sync.stop()
    return 0


def _all_failed(sync: CalendarSync) -> bool:
    """True when there were sources and every one of them failed."""
    return bool(sync.coordinators) and all(c.failing_since is not None for c in sync.coordinators)
