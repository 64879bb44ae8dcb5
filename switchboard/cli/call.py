"""`switchboard call DIR --to NUMBER`: one call through the real adapter against the simulated
telephone platform, and what the caller experiences step by step."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from routing.effective import EffectiveState, effective_state
from switchboard.cli.common import load_or_report, parse_at
from switchboard.config import Config
from switchboard.telephony.calllog import CallLogStore
from switchboard.telephony.sim import SimCall, SimulatedAsterisk
from switchboard.telephony.sim.spool import write_spool_message


def register(subparsers: Any) -> None:
    """Add the `call` command."""
    call = subparsers.add_parser("call", help="place a call on the simulated telephone platform")
    call.add_argument("folder")
    call.add_argument("--to", required=True)
    call.add_argument("--from", dest="caller", default="0701112233")
    call.add_argument("--no-answer", action="store_true")
    call.add_argument("--leave-message", metavar="TEXT")
    call.add_argument(
        "--at", metavar="ISO", help="the call's time; without offset local time (default: now)"
    )
    call.add_argument("--json", action="store_true")
    call.set_defaults(func=cmd_call)


def cmd_call(args: argparse.Namespace) -> int:
    """Place one call on the simulated platform and show what the caller experiences."""
    config = load_or_report(args.folder)
    if config is None:
        return 2
    at: datetime | None = None
    if args.at:
        try:
            at = parse_at(args.at, config.org.timezone)
        except ValueError:
            msg = f"switchboard: --at {args.at!r} is not a time like 2026-11-24T10:15"
            print(msg, file=sys.stderr)
            return 2
    logging.basicConfig(level=logging.ERROR)
    steps = asyncio.run(place_call(config, args, at))
    for step in steps:
        if args.json:
            print(json.dumps(step, ensure_ascii=False))
        else:
            detail = ", ".join(f"{k}: {v}" for k, v in step.items() if k != "step")
            print(f"{step['step']:<10} {detail}")
    return 0


async def _state(config: Config, at: datetime | None) -> EffectiveState:
    """The effective state a call placed now (or at `at`) meets: calendars as the service reads
    them, with the manual redirects and switches its store holds."""
    from switchboard.state import effective_at, stored_inputs

    if at is not None:
        return await effective_at(config, at)
    from calendar_sync.service import open_calendar_sync

    async with open_calendar_sync(config.org, config.calendar_sources) as sync:
        await sync.sync_once()
        calendar = dict(sync.presence)
    manual, switches = await stored_inputs(config)
    return effective_state(config.org, calendar, manual, switches)


def _dialled(number: str) -> str:
    return "".join(c for c in number if c.isdigit() or c == "+")


async def place_call(
    config: Config, args: argparse.Namespace, at: datetime | None = None
) -> list[dict[str, object]]:
    """One call through the real adapter against the simulated platform; the caller's steps."""
    from switchboard.app import spool_dir
    from switchboard.telephony.service import TelephonyService, sounds_dir
    from switchboard.telephony.sounds import SoundRenderer

    t0 = time.monotonic()
    start = at or datetime.now(UTC)

    def clock() -> datetime:
        return start + timedelta(seconds=time.monotonic() - t0)

    state = await _state(config, at)
    spool = spool_dir(config)
    settings = replace(config.telephony, platform="simulated")
    sounds = sounds_dir(settings, config.org.data_dir)
    renderer = SoundRenderer(sounds)
    cache = Path(config.org.data_dir) / "sounds" / "left-messages"

    async def leave(call: SimCall, mailbox: str, context: str) -> None:
        txt = await write_spool_message(
            spool, context, mailbox, call, clock().timestamp(), cache_dir=cache
        )
        call.variables["VM_TXT"] = str(txt)
        call.variables["VM_AUDIO"] = str(txt.with_suffix(".wav"))

    sim = SimulatedAsterisk(
        secret=secrets.token_urlsafe(12),
        on_voicemail=leave,
        sounds_dir=sounds,
        clock=lambda: clock().timestamp(),
    )
    await sim.start()
    store = CallLogStore.in_data_dir(config.org.data_dir, org_code=config.org.code)
    await store.open()
    svc = TelephonyService(
        config.org, settings, lambda: state, clock, calllog=store, renderer=renderer, simulated=sim
    )
    try:
        await svc.start()
        await asyncio.wait_for(svc.mirrored.wait(), 10)
        # A running platform has its sounds: the call is placed once what start-up began
        # rendering (greetings, messages in force) is there, so a busy machine does not turn
        # the one call shown into a call that misses its greeting.
        await renderer.idle(60)
        call = await sim.place_call(
            _dialled(args.to),
            _dialled(args.caller),
            answer=not args.no_answer,
            leave_message=args.leave_message,
        )
        await call.wait(60)
        await svc.controller.wait_idle(5)
        await renderer.idle(60)
    finally:
        await svc.stop()
        await renderer.close()
        await store.close()
    return [s.as_json() for s in call.steps]
