"""`switchboard run DIR` (the service) and `switchboard call DIR --to NUMBER` (a simulated call)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import os
import secrets
import signal
import socket
import sys
import time
import wave
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web

from calendar_sync.clock import Clock, OffsetClock, SystemClock
from routing.effective import EffectiveState, effective_state
from switchboard.cli_core import fail, load_or_report, parse_at
from switchboard.config import Config, ConfigError, load_config
from switchboard.logging import setup_logging
from switchboard.telephony.calllog import CallLogStore
from switchboard.telephony.simulated import SimCall, SimulatedAsterisk
from voicemail.errors import GreetingError
from voicemail.greetings import render, wav_file

log = logging.getLogger(__name__)

STOP_DEADLINE_S = 8.0  # inside Docker's default 10 s between SIGTERM and SIGKILL


def register(subparsers: Any) -> None:
    """Add the `run` and `call` commands."""
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


def _where(task: asyncio.Task[Any]) -> str:
    """Where a task is suspended: its chain of coroutines and async generators, outermost
    first (through `asynccontextmanager` exits, so a cleanup context is named)."""
    names: list[str] = []
    obj: Any = task.get_coro()
    while obj is not None and len(names) < 40:
        code = getattr(obj, "cr_code", None) or getattr(obj, "ag_code", None)
        if code is None:
            break
        names.append(code.co_qualname)
        inner = getattr(obj, "cr_await", None) or getattr(obj, "ag_await", None)
        if inner is not None and not hasattr(inner, "cr_code") and not hasattr(inner, "ag_code"):
            # `anext(gen)` hides the generator: find it on the context manager being exited.
            frame = getattr(obj, "cr_frame", None)
            owner = frame.f_locals.get("self") if frame is not None else None
            inner = getattr(owner, "gen", inner)
        obj = inner
    return " > ".join(names) or task.get_name()


def _report_stop(task: asyncio.Task[None], what: str) -> None:
    """Log each failure of an app's stop on one line (no traceback); the rest still closed."""
    if task.cancelled() or (exc := task.exception()) is None:
        return
    errors = exc.args[1] if isinstance(exc, web.CleanupError) else [exc]
    for error in errors:
        log.error(
            "stopping %s: %s: %s",
            what,
            type(error).__name__,
            error,
            extra={"error_type": type(error).__name__},
        )


class Server:
    """The running service: one aiohttp app at a time on one listening socket.

    The socket is bound once (first `start`) and every app serves a duplicate of it, so a
    reload never frees the port: `reload()` starts the new configuration's app with all its
    contexts (databases, calendars, the platform connection) while the old one still serves,
    then starts serving it on the socket, then stops the old app. Connections queue on the one
    socket throughout; when the new app fails to start the old one simply keeps serving.

    Every stop is bounded by `stop_deadline_s`: what failed or did not finish is logged (one
    line each, no traceback) and what did not finish is kept in `unfinished`.
    """

    def __init__(
        self,
        folder: str | Path,
        host: str = "127.0.0.1",
        port: int = 8080,
        app_factory: Callable[[Config], web.Application] | None = None,
        *,
        stop_deadline_s: float = STOP_DEADLINE_S,
        clock: Clock | None = None,
    ) -> None:
        self.folder = str(folder)
        self.clock = clock or SystemClock()  # one clock for the process, kept across reloads
        self.host = host
        self.port = port
        self._factory = app_factory
        self.stop_deadline_s = stop_deadline_s
        self.config: Config | None = None
        self.runner: web.AppRunner | None = None
        self.bound_port: int | None = None
        self.unfinished: list[str] = []
        self._serving: asyncio.Task[Any] | None = None
        self._lingering: set[asyncio.Task[None]] = set()  # stops that outlived the deadline
        self._sockets: list[socket.socket] = []  # bound once; each app serves duplicates

    def _app(self, config: Config, handover: asyncio.Event | None) -> web.Application:
        if self._factory is not None:
            return self._factory(config)
        from switchboard.app import create_app

        return create_app(config, clock=self.clock, lead_after=handover)

    async def _launch(self, config: Config, handover: asyncio.Event | None = None) -> web.AppRunner:
        """The app for `config`, every context started, serving on the listening socket.

        With `handover` the app does not lead (connect to the platform, take the spool) until
        it is set: the old app's calls and intake end before the new one's begin.
        On failure whatever had started is stopped again and the error raised.
        """
        runner = web.AppRunner(self._app(config, handover), access_log=None)
        try:
            await runner.setup()  # aiohttp leaves the contexts that did start open on failure
            await self._listen(runner)
        except BaseException:
            await self._stop_runner(runner, "the configuration that failed to start")
            raise
        return runner

    async def _listen(self, runner: web.AppRunner) -> None:
        if self._sockets:
            for sock in self._sockets:
                await web.SockSite(runner, sock.dup()).start()
            return
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        server = site._server  # the bound sockets (and the port, for --port 0)
        sockets = getattr(server, "sockets", None) or []
        self._sockets = [s.dup() for s in sockets]
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port

    def _announce(self, config: Config) -> None:
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

    async def start(self, config: Config) -> None:
        """Start the app for `config` and listen."""
        if not self._sockets:
            _check_port_free(self.host, self.port)  # before anything connects or starts
        self.runner = await self._launch(config)
        self.config = config
        self._announce(config)

    async def stop(self) -> None:
        """Graceful stop within the deadline: calls handed back, databases closed."""
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await self._stop_runner(runner, "the service")
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    async def _stop_runner(self, runner: web.AppRunner, what: str) -> None:
        """Stop one app, waiting at most `stop_deadline_s`; log what failed or did not finish.

        A stop past the deadline is not cancelled (a call may still be being handed back): it
        goes on unwatched and reports when done; `cmd_run` does not wait for it at exit.
        """
        cleanup = asyncio.create_task(runner.cleanup())
        await asyncio.wait([cleanup], timeout=self.stop_deadline_s)
        if cleanup.done():
            _report_stop(cleanup, what)
            return
        waiting = {asyncio.current_task(), self._serving, cleanup}  # they wait for this stop
        busy = [_where(t) for t in asyncio.all_tasks() if t not in waiting and not t.done()]
        unfinished = [_where(cleanup), *busy]
        self.unfinished += unfinished
        log.error(
            "stopping %s did not finish within %g s",
            what,
            self.stop_deadline_s,
            extra={"unfinished": unfinished},
        )
        self._lingering.add(cleanup)
        cleanup.add_done_callback(self._lingering.discard)
        cleanup.add_done_callback(lambda task: _report_stop(task, what))

    async def reload(self) -> bool:
        """Validate the folder again and start it beside the running app; swap to it only once
        it runs. A refused or failing configuration leaves the running one serving (logged)."""
        try:
            # the directory in force: a number passed to a successor needs a new PIN (HAL-11)
            previous = self.config.org.directory if self.config is not None else None
            new = await asyncio.to_thread(load_config, self.folder, previous)
        except ConfigError as exc:
            log.error(
                "reload refused, keeping the running configuration",
                extra={"problems": exc.problems},
            )
            return False
        except OSError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return False
        except Exception as exc:  # any error keeps the running service; its text may quote data
            log.error(
                "reload refused, keeping the running configuration: the folder could not be"
                " read (%s)",
                type(exc).__name__,
            )
            return False
        handover = asyncio.Event()
        try:
            runner = await self._launch(new, handover)
        except Exception as exc:
            log.error(
                "reload failed to start, keeping the running configuration: %s: %s",
                type(exc).__name__,
                exc,
                extra={"organisation": new.org.id},
            )
            return False
        old, self.runner, self.config = self.runner, runner, new
        if old is not None:
            await self._stop_runner(old, "the previous configuration")
        handover.set()  # the old app no longer leads: the new one connects and takes over
        self._announce(new)
        log.info("configuration reloaded", extra={"organisation": new.org.id})
        return True

    async def serve(self, config: Config) -> int:
        """Run until SIGTERM/SIGINT; reload on SIGHUP. 0 once stopped (even past the stop
        deadline: that is logged), 1 when the service could not start."""
        loop = asyncio.get_running_loop()
        self._serving = asyncio.current_task()
        stop = asyncio.Event()
        hup = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, hup.set)
        code = 0
        try:
            try:
                await _unless_stopped(self.start(config), stop)
            except PortInUse as exc:
                log.error("service not started: %s", exc.strerror)
                code = 1
            except Exception as exc:
                log.error("service not started: %s: %s", type(exc).__name__, exc)
                code = 1
            while code == 0 and not stop.is_set():
                await _unless_stopped(hup.wait(), stop)
                if hup.is_set() and not stop.is_set():
                    hup.clear()
                    await _unless_stopped(self.reload(), stop)  # SIGTERM cuts a reload short
        finally:
            await self.stop()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        log.info("service stopped")
        return code


class PortInUse(OSError):
    """The HTTP port is taken (another service, or a second switchboard)."""


def _check_port_free(host: str, port: int) -> None:
    """Raise PortInUse, with one clear sentence, when `host:port` cannot be bound."""
    if port == 0:
        return
    try:
        probe = socket.create_server((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                exc.errno,
                f"port {port} on {host} is already in use (is another service running?);"
                " stop it or choose another port with --port",
            ) from None
        return  # anything else (a name to resolve, IPv6) is left to aiohttp's own bind
    probe.close()


async def _unless_stopped(work: Coroutine[Any, Any, object], stop: asyncio.Event) -> None:
    """Run `work` until it ends or `stop` is set (then it is cancelled); its errors propagate."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        task.cancel()  # no-op when it has ended
        await asyncio.wait([task, stopped])  # its own clean-up included
    if not task.cancelled() and (exc := task.exception()) is not None:
        raise exc


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


async def _state(config: Config, at: datetime | None) -> EffectiveState:
    """The effective state a call placed now (or at `at`) meets: calendars as the service reads
    them, with the manual redirects and switches its store holds."""
    from switchboard.state import effective_at, stored_inputs

    if at is not None:
        return await effective_at(config, at)
    from calendar_sync.service import open_calendar_sync
    from calendar_sync.sources import CalendarSourcesSettings

    raw = config.settings.get("calendar_sources")
    sources = raw if isinstance(raw, CalendarSourcesSettings) else CalendarSourcesSettings()
    async with open_calendar_sync(config.org, sources) as sync:
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
    from switchboard.app import spool_dir, telephony_settings
    from switchboard.telephony.service import TelephonyService, sounds_dir
    from switchboard.telephony.sounds import SoundRenderer

    t0 = time.monotonic()
    start = at or datetime.now(UTC)

    def clock() -> datetime:
        return start + timedelta(seconds=time.monotonic() - t0)

    state = await _state(config, at)
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
