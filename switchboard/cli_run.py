"""`switchboard run DIR` (the service) and `switchboard call DIR --to NUMBER` (a simulated call)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from routing.models import PresenceBook
from switchboard.cli_core import load_or_report
from switchboard.config import Config, ConfigError, load_config
from switchboard.logging import setup_logging
from switchboard.telephony.calllog import CallLogStore
from switchboard.telephony.simulated import SimCall, SimulatedAsterisk
from voicemail.errors import GreetingError
from voicemail.greetings import render, wav_file

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the `run` and `call` commands."""
    run = subparsers.add_parser("run", help="run the service for an organisation folder")
    run.add_argument("folder")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080, help="HTTP port (0: any free port)")
    run.set_defaults(func=cmd_run)
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
    from switchboard.cli_platform import register as register_platform

    register_platform(subparsers)  # `switchboard platform`: the simulated platform as a process


def cmd_run(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads the configuration after validating it."""
    config = load_or_report(args.folder)
    if config is None:
        return 2
    setup_logging()
    return asyncio.run(Server(args.folder, args.host, args.port).serve(config))


class Server:
    """The running service: one aiohttp app at a time; `reload()` swaps it for a valid config."""

    def __init__(
        self,
        folder: str | Path,
        host: str = "127.0.0.1",
        port: int = 8080,
        app_factory: Callable[[Config], web.Application] | None = None,
    ) -> None:
        self.folder = str(folder)
        self.host = host
        self.port = port
        self._factory = app_factory
        self.config: Config | None = None
        self.runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    def _app(self, config: Config) -> web.Application:
        if self._factory is not None:
            return self._factory(config)
        from switchboard.app import create_app

        return create_app(config)

    async def start(self, config: Config) -> None:
        """Start the app for `config` and listen."""
        runner = web.AppRunner(self._app(config), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.runner, self.config = runner, config
        server = site._server  # the bound port, for --port 0
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        log.info(
            "service started",
            extra={"organisation": config.org.id, "host": self.host, "port": self.bound_port},
        )
        from switchboard.app import telephony_settings

        print(
            f"switchboard: {config.org.name} at http://{self.host}:{self.bound_port}/ "
            f"(telephone platform: {telephony_settings(config).platform})",
            file=sys.stderr,
            flush=True,
        )

    async def stop(self) -> None:
        """Graceful stop: calls handed back to the dialplan, databases closed."""
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()

    async def reload(self) -> bool:
        """Validate the folder again; swap to it if valid, else keep running and log why."""
        try:
            new = await asyncio.to_thread(load_config, self.folder)
        except ConfigError as exc:
            log.error(
                "reload refused, keeping the running configuration",
                extra={"problems": exc.problems},
            )
            return False
        except OSError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return False
        await self.stop()
        await self.start(new)
        log.info("configuration reloaded", extra={"organisation": new.org.id})
        return True

    async def serve(self, config: Config) -> int:
        """Run until SIGTERM/SIGINT; reload on SIGHUP."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        hup = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, hup.set)
        try:
            await self.start(config)
            while not stop.is_set():
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(hup.wait())]
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await w
                if hup.is_set() and not stop.is_set():
                    hup.clear()
                    await self.reload()
        finally:
            await self.stop()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        log.info("service stopped")
        return 0


def cmd_call(args: argparse.Namespace) -> int:
    """Place one call on the simulated platform and show what the caller experiences."""
    config = load_or_report(args.folder)
    if config is None:
        return 2
    at: datetime | None = None
    if args.at:
        from switchboard.cli_core import parse_at

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


async def _book(config: Config, at: datetime | None) -> PresenceBook:
    if at is not None:
        from switchboard.cli_core import presence_at

        return await asyncio.to_thread(presence_at, config, at)
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


def _dialled(number: str) -> str:
    return "".join(c for c in number if c.isdigit() or c == "+")


async def place_call(
    config: Config, args: argparse.Namespace, at: datetime | None = None
) -> list[dict[str, object]]:
    """One call through the real adapter against the simulated platform; the caller's steps."""
    from switchboard.app import spool_dir, telephony_settings
    from switchboard.telephony.service import TelephonyService, sounds_dir
    from switchboard.telephony.sounds import SoundRenderer

    t0 = time.monotonic()
    start = at or datetime.now(UTC)

    def clock() -> datetime:
        return start + timedelta(seconds=time.monotonic() - t0)

    book = await _book(config, at)
    spool = spool_dir(config)
    settings = replace(telephony_settings(config), platform="simulated")
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
        config.org, settings, lambda: book, clock, calllog=store, renderer=renderer, simulated=sim
    )
    try:
        await svc.start()
        await asyncio.wait_for(svc.mirrored.wait(), 10)
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


async def write_spool_message(
    spool: Path,
    context: str,
    mailbox: str,
    call: SimCall,
    now: float,
    *,
    cache_dir: Path | None = None,
) -> Path:
    """Write msgNNNN.wav + msgNNNN.txt into INBOX as app_voicemail (Asterisk 22) does.

    The audio is espeak-ng's Swedish speech of the message (8 kHz mono 16-bit), or silence of
    a plausible length when espeak-ng is not installed.
    """
    inbox = spool / context / mailbox / "INBOX"
    inbox.mkdir(parents=True, exist_ok=True)
    n = 0
    while (inbox / f"msg{n:04d}.txt").exists() or (inbox / f"msg{n:04d}.wav").exists():
        n += 1
    base = inbox / f"msg{n:04d}"
    wav = base.with_suffix(".wav")
    text = call.leave_message or ""
    data = await speech(text, cache_dir or spool.parent / "sounds" / "left-messages")
    await asyncio.to_thread(_write, wav, data)
    with wave.open(str(wav)) as w:
        duration = max(1, round(w.getnframes() / w.getframerate()))
    origdate = datetime.fromtimestamp(now, UTC).strftime("%a %b %d %I:%M:%S %p UTC %Y")
    name = call.caller_name
    callerid = f'"{name}" <{call.caller}>' if name else (call.caller or "Unknown")
    txt = (
        ";\n; Message Information file\n;\n[message]\n"
        f"origmailbox={mailbox}\ncontext={call.context}\nexten={call.exten}\nrdnis=unknown\n"
        f"priority=5\ncallerchan={call.channel}\ncallerid={callerid}\n"
        f"origdate={origdate}\norigtime={int(now)}\ncategory=\n"
        f"msg_id={int(now)}-{secrets.token_hex(4)}\nflag=\nduration={duration}\n"
    )
    # Audio first, text last: intake treats the .txt as the message's commit marker.
    tmp = base.with_suffix(".txt.tmp")
    await asyncio.to_thread(tmp.write_text, txt, "utf-8")
    await asyncio.to_thread(os.replace, tmp, base.with_suffix(".txt"))
    return base.with_suffix(".txt")


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".wav.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


async def speech(text: str, cache_dir: Path) -> bytes:
    """WAV bytes of `text` spoken by espeak-ng (8 kHz mono); silence if it is not installed."""
    if text:
        try:
            path = await render(text, cache_dir)
            return await asyncio.to_thread(path.read_bytes)
        except (GreetingError, OSError) as exc:
            log.warning("message audio is silence: %s", exc)
    # One second of 8 kHz silence per 12 characters, so the audio is valid.
    return wav_file(b"\0\0" * 8000 * max(1, len(text) // 12))
