"""What the commands share: the one-line error, loading an organisation folder without a
traceback, and reading `--at`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from switchboard.config import Config, ConfigError, load_config


def fail(message: str) -> int:
    """Print a one-line error for the user and return exit code 2."""
    print(f"switchboard: error: {message}", file=sys.stderr)
    return 2


def load_or_report(folder: str, previous: Config | None = None) -> Config | None:
    """Load an organisation, printing every problem (no traceback) when it is invalid; with
    `previous`, numbers passed to a successor must have a new PIN (HAL-11)."""
    try:
        if previous is not None:
            return load_config(folder, previous.directory)
        return load_config(folder)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return None
    except OSError as exc:
        print(f"{folder}:1: (folder): cannot read: {exc.strerror or exc}", file=sys.stderr)
        return None
    except Exception as exc:  # never a traceback, and never the error's text: it may quote data
        print(f"{folder}:1: (folder): cannot be read ({type(exc).__name__})", file=sys.stderr)
        return None


def parse_at(text: str | None, tz: ZoneInfo) -> datetime:
    """--at: ISO 8601; without an offset it is local time in the organisation's zone."""
    if text is None:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def load_at(args: argparse.Namespace) -> tuple[Config, datetime] | int:
    """The organisation from args.dir and the moment from args.at, or the exit code 2."""
    config = load_or_report(args.dir)
    if config is None:
        return 2
    try:
        return config, parse_at(args.at, config.org.timezone)
    except ValueError:
        return fail(f"--at {args.at!r} is not a time like 2026-11-24T10:15")
