"""Commands of the core: check-config, route, presence."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from routing.effective import EffectiveState
from routing.models import Call, User
from routing.numbers import normalise
from routing.wording import absence_message, public_reason
from switchboard.config import Config, ConfigError, load_config
from switchboard.state import effective_at


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


def _check_config(args: argparse.Namespace) -> int:
    """Exit 0 with a one-line summary, or 2 with one line per problem; never a traceback."""
    previous = None
    if args.previous is not None:  # HAL-11: the folder as it was before this change
        previous = load_or_report(args.previous)
        if previous is None:
            return 2
    config = load_or_report(args.dir, previous)
    if config is None:
        return 2
    d = config.directory
    for warning in config.warnings:  # HAL-16: reported, and the folder is still valid
        print(warning, file=sys.stderr)
    with_calendar = sum(1 for u in d.users if u.calendar is not None)
    warned = f" with {len(config.warnings)} warning(s)" if config.warnings else ""
    print(
        f"{config.org.name}: {len(d.users)} users ({with_calendar} with calendars), "
        f"{len(d.groups)} groups, {len(d.shared_phones)} shared phones, "
        f"series {', '.join(p.replace('X', 'x') for p in config.org.plan.patterns_e164())}: "
        f"ok{warned}"
    )
    return 0


def load_at(args: argparse.Namespace) -> tuple[Config, datetime] | int:
    """The organisation from args.dir and the moment from args.at, or the exit code 2."""
    config = load_or_report(args.dir)
    if config is None:
        return 2
    try:
        return config, parse_at(args.at, config.org.timezone)
    except ValueError:
        return fail(f"--at {args.at!r} is not a time like 2026-11-24T10:15")


def _route(args: argparse.Namespace) -> int:
    loaded = load_at(args)
    if isinstance(loaded, int):
        return loaded
    config, now = loaded
    for flag, value in (("--to", args.to), ("--from", args.caller)):
        if value is not None and normalise(value, config.org.plan) is None:
            return fail(f"{flag} {value!r} is not a telephone number")
    state = asyncio.run(effective_at(config, now))
    decision = state.decide(Call(args.to, args.caller), now)
    out = decision.as_json()
    out["at"] = now.astimezone(config.org.timezone).isoformat()
    print(json.dumps(out, ensure_ascii=False))
    return 0


def user_state(user: User, state: EffectiveState, now: datetime, tz: ZoneInfo) -> dict[str, object]:
    """One user's effective state as the JSON object `switchboard presence` prints."""
    view = state.view(user.id, now)
    redirect = view.redirect if view is not None else None
    p = state.book.users.get(user.id)
    return {
        "user": user.id,
        "name": user.name,
        "extension": user.extension,
        "state": view.state if view is not None else "available",
        "reason": public_reason(redirect.reason) if redirect else None,
        "source": redirect.source if redirect else None,
        "until": redirect.until.astimezone(tz).isoformat() if redirect and redirect.until else None,
        "returns": redirect.return_time.astimezone(tz).isoformat()
        if redirect and redirect.return_time
        else None,
        "message": absence_message(user.name, redirect, now, tz) if redirect else None,
        "calendar": "none"
        if user.calendar is None
        else ("unavailable" if p and p.calendar_error else "ok"),
        "calendar_error": p.calendar_error if p else None,
    }


def _presence(args: argparse.Namespace) -> int:
    loaded = load_at(args)
    if isinstance(loaded, int):
        return loaded
    config, now = loaded
    state = asyncio.run(effective_at(config, now))
    for user in state.directory.users:
        print(json.dumps(user_state(user, state, now, config.org.timezone), ensure_ascii=False))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add check-config, route and presence."""
    p = sub.add_parser("check-config", help="validate an organisation folder")
    p.add_argument("dir")
    p.add_argument(
        "--previous",
        metavar="DIR",
        help="the folder as it is in force: a number passed to a successor needs a new PIN",
    )
    p.set_defaults(func=_check_config)

    p = sub.add_parser("route", help="decide a call: what happens if someone calls NUMBER")
    p.add_argument("dir")
    p.add_argument("--to", required=True, help="the dialled number, in any written form")
    p.add_argument("--from", dest="caller", help="the calling number")
    p.add_argument("--at", help="ISO 8601 time; without offset local time (default: now)")
    p.set_defaults(func=_route)

    p = sub.add_parser("presence", help="every user's state as JSON lines")
    p.add_argument("dir")
    p.add_argument("--at", help="ISO 8601 time; without offset local time (default: now)")
    p.set_defaults(func=_presence)
