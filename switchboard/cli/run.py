"""`switchboard run DIR`: the service, until SIGTERM/SIGINT; SIGHUP reloads the folder
(the process lifecycle itself is switchboard.service_runner)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any, NoReturn

from calendar_sync.clock import Clock, OffsetClock, SystemClock
from switchboard.cli.common import fail, load_or_report, parse_at
from switchboard.logging import setup_logging
from switchboard.service_runner import STOP_DEADLINE_S, Server


def register(subparsers: Any) -> None:
    """Add the `run` command."""
    run = subparsers.add_parser("run", help="run the service for an organisation folder")
    run.add_argument("folder")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080, help="HTTP port (0: any free port)")
    run.add_argument(
        "--stop-timeout",
        type=_seconds,
        default=STOP_DEADLINE_S,
        metavar="SECONDS",
        help="on SIGTERM stop within this long, else log what is left and exit anyway "
        f"(default {STOP_DEADLINE_S:g})",
    )
    run.add_argument(
        "--at",
        metavar="ISO",
        help="run as if it were this time (then at wall-clock speed): a demonstration or a test"
        " of a day that is not today; without offset local time (default: now)",
    )
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads the configuration after validating it."""
    config = load_or_report(args.folder)
    if config is None:
        return 2
    clock: Clock = SystemClock()
    if args.at is not None:
        try:
            clock = OffsetClock(parse_at(args.at, config.org.timezone))
        except ValueError:
            return fail(f"--at {args.at!r} is not a time like 2026-11-24T10:15")
    setup_logging()
    server = Server(
        args.folder, args.host, args.port, stop_deadline_s=args.stop_timeout, clock=clock
    )
    with asyncio.Runner() as runner:
        code = runner.run(server.serve(config))
        if server.unfinished:
            _leave_now(code)
    return code


def _seconds(text: str) -> float:
    """A positive number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _leave_now(code: int) -> NoReturn:
    """Exit at once: work that outlived the stop deadline (a task, a database thread) would
    otherwise hold the loop's teardown or the interpreter's exit."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
