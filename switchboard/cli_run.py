"""`switchboard run DIR` (the service) and `switchboard call DIR --to NUMBER` (a simulated call)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import signal
import subprocess
import sys
import time
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from routing.models import PresenceBook
from switchboard.config import ConfigError, load_config
from switchboard.logging import setup_logging
from switchboard.telephony.simulated import SimCall, SimulatedAsterisk

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the `run` and `call` commands."""
    run = subparsers.add_parser("run", help="run the service for an organisation folder")
    run.add_argument("folder")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080)
    run.set_defaults(func=cmd_run)
    call = subparsers.add_parser("call", help="place a call on the simulated telephone platform")
    call.add_argument("folder")
    call.add_argument("--to", required=True)
    call.add_argument("--from", dest="caller", default="0701112233")
    call.add_argument("--no-answer", action="store_true")
    call.add_argument("--leave-message", metavar="TEXT")
    call.add_argument("--json", action="store_true")
    call.set_defaults(func=cmd_call)


def _load(folder: str) -> Any:
    try:
        return load_config(folder)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads the configuration after validating it."""
    config = _load(args.folder)
    if config is None:
        return 2
    setup_logging()
    return asyncio.run(_serve(args, config))


async def _serve(args: argparse.Namespace, config: Any) -> int:
    from switchboard.app import create_app

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reload = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    while True:
        runner = web.AppRunner(create_app(config), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        log.info("service started", extra={"organisation": config.org.id, "port": args.port})
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(reload.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await w
        if stop.is_set():
            await runner.cleanup()
            log.info("service stopped")
            return 0
        reload.clear()
        try:
            new = load_config(args.folder)
        except ConfigError as exc:
            log.error(
                "reload refused, keeping the running configuration",
                extra={"problems": exc.problems},
            )
            await runner.cleanup()  # restart with the configuration that was valid
            continue
        await runner.cleanup()
        config = new
        log.info("configuration reloaded")


def cmd_call(args: argparse.Namespace) -> int:
    """Place one call on the simulated platform and show what the caller experiences."""
    config = _load(args.folder)
    if config is None:
        return 2
    logging.basicConfig(level=logging.ERROR)
    steps = asyncio.run(_call(args, config))
    for step in steps:
        if args.json:
            print(json.dumps(step, ensure_ascii=False))
        else:
            detail = ", ".join(f"{k}: {v}" for k, v in step.items() if k != "step")
            print(f"{step['step']:<10} {detail}")
    return 0


async def _book(config: Any) -> PresenceBook:
    try:
        from calendar_sync.service import open_calendar_sync
        from calendar_sync.sources import CalendarSourcesSettings

        raw = config.settings.get("calendar_sources")
        sources = raw if isinstance(raw, CalendarSourcesSettings) else CalendarSourcesSettings()
        async with open_calendar_sync(config.org, sources) as sync:
            await sync.sync_once()
            return sync.book()
    except Exception as exc:
        log.error("no calendar presence: %s", exc)
        return PresenceBook()


async def _call(args: argparse.Namespace, config: Any) -> list[dict[str, object]]:
    from switchboard.app import telephony_settings
    from switchboard.telephony.service import TelephonyService

    book = await _book(config)
    spool = Path(config.voicemail.spool or Path(config.org.data_dir) / "spool")

    async def leave(call: SimCall, mailbox: str, context: str) -> None:
        path = write_spool_message(spool, context, mailbox, call, time.time())
        call.variables["SPOOL_FILE"] = str(path)

    sim = SimulatedAsterisk(secret=secrets.token_urlsafe(12), on_voicemail=leave)
    await sim.start()
    settings = telephony_settings(config)
    from dataclasses import replace

    svc = TelephonyService(
        config.org,
        replace(settings, platform="simulated"),
        lambda: book,
        lambda: datetime.now(UTC),
        simulated=sim,
    )
    await svc.start()
    try:
        await asyncio.wait_for(svc.mirrored.wait(), 10)
        call = await sim.place_call(
            args.to, args.caller, answer=not args.no_answer, leave_message=args.leave_message
        )
        await call.wait(30)
        await svc.controller.wait_idle(5)
    finally:
        await svc.stop()
    out = [s.as_json() for s in call.steps]
    if "SPOOL_FILE" in call.variables:
        for s in out:
            if s["step"] == "voicemail":
                s["spool"] = call.variables["SPOOL_FILE"]
    return out


def write_spool_message(spool: Path, context: str, mailbox: str, call: SimCall, now: float) -> Path:
    """Write msgNNNN.txt + msgNNNN.wav into INBOX as app_voicemail (Asterisk 22) does."""
    inbox = spool / context / mailbox / "INBOX"
    inbox.mkdir(parents=True, exist_ok=True)
    n = 0
    while (inbox / f"msg{n:04d}.txt").exists():
        n += 1
    base = inbox / f"msg{n:04d}"
    wav = base.with_suffix(".wav")
    _speak(call.leave_message or "", wav)
    with wave.open(str(wav)) as w:
        duration = max(1, round(w.getnframes() / w.getframerate()))
    origdate = datetime.fromtimestamp(now, UTC).strftime("%a %b %d %I:%M:%S %p UTC %Y")
    name = call.caller_name
    txt = (
        ";\n; Message Information file\n;\n[message]\n"
        f"origmailbox={mailbox}\ncontext={call.context}\nexten={call.exten}\nrdnis=unknown\n"
        f"priority=5\ncallerchan={call.channel}\n"
        f'callerid="{name}" <{call.caller}>\n'
        if name
        else ";\n; Message Information file\n;\n[message]\n"
        f"origmailbox={mailbox}\ncontext={call.context}\nexten={call.exten}\nrdnis=unknown\n"
        f"priority=5\ncallerchan={call.channel}\ncallerid={call.caller}\n"
    )
    txt += (
        f"origdate={origdate}\norigtime={int(now)}\ncategory=\n"
        f"msg_id={int(now)}-{secrets.token_hex(4)}\nflag=\nduration={duration}\n"
    )
    # Audio first, text last: intake treats the .txt as the message's commit marker.
    tmp = base.with_suffix(".txt.tmp")
    tmp.write_text(txt, encoding="utf-8")
    tmp.replace(base.with_suffix(".txt"))
    return base.with_suffix(".txt")


def _speak(text: str, wav: Path) -> None:
    espeak = shutil.which("espeak-ng")
    if espeak and text:
        try:
            subprocess.run(
                [espeak, "-v", "sv", "-w", str(wav), text],
                check=True,
                timeout=30,
                capture_output=True,
            )
            return
        except (OSError, subprocess.SubprocessError):
            pass
    # Without espeak-ng: one second of 8 kHz silence per 12 characters, so the audio is valid.
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000 * max(1, len(text) // 12))
