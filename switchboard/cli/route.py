"""`switchboard route DIR --to NUMBER`: decide a call, as the service would at that moment."""

from __future__ import annotations

import argparse
import asyncio
import json

from routing.models import Call
from routing.numbers import normalise
from switchboard.cli.common import fail, load_at
from switchboard.state import effective_at


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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add route."""
    p = sub.add_parser("route", help="decide a call: what happens if someone calls NUMBER")
    p.add_argument("dir")
    p.add_argument("--to", required=True, help="the dialled number, in any written form")
    p.add_argument("--from", dest="caller", help="the calling number")
    p.add_argument("--at", help="ISO 8601 time; without offset local time (default: now)")
    p.set_defaults(func=_route)
