"""`switchboard presence DIR`: every user's effective state as JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from routing.effective import EffectiveState
from routing.models import User
from routing.wording import absence_message, public_reason
from switchboard.cli.common import load_at
from switchboard.state import effective_at


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
    """Add presence."""
    p = sub.add_parser("presence", help="every user's state as JSON lines")
    p.add_argument("dir")
    p.add_argument("--at", help="ISO 8601 time; without offset local time (default: now)")
    p.set_defaults(func=_presence)
