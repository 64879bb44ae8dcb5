"""The service as a process: `Server` runs one aiohttp app at a time on one listening socket,
reloads on SIGHUP (the new configuration validated and started beside the running one) and stops
on SIGTERM/SIGINT within a deadline. `switchboard run` (switchboard.cli.run) drives it."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from calendar_sync.clock import Clock, SystemClock
from routing.models import Directory
from switchboard.config import Config, ConfigError, load_config
from switchboard.telephony.service import sounds_dir
from switchboard.telephony.sounds import SoundRenderer

log = logging.getLogger(__name__)

STOP_DEADLINE_S = 8.0  # inside Docker's default 10 s between SIGTERM and SIGKILL


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


NAME_RENDER_S = 10.0  # a reload waits at most this long for the new names' sounds


async def _speak_new_names(previous: Directory | None, new: Config) -> None:
    """Render the names a reload brings (a new person, a changed name) before the new app takes
    calls, so their first caller hears the name, not the generic prompt (issue 21). The old app
    serves meanwhile, for at most `NAME_RENDER_S`; what is not rendered by then the new app
    renders at its resync."""
    if previous is None:
        return
    known = {u.name for u in previous.users if u.extension}
    names = sorted({u.name for u in new.org.directory.users if u.extension} - known)
    if not names:
        return
    renderer = SoundRenderer(sounds_dir(new.telephony, new.org.data_dir))
    if not renderer.available:
        return
    try:
        missing = await renderer.prepare_pieces(names, NAME_RENDER_S)
    finally:
        await renderer.close()
    log.info(
        "names rendered for the reload",
        extra={"names": len(names), "not_rendered_yet": missing},
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
        print(
            f"switchboard: {config.org.name} at http://{self.host}:{self.bound_port}/ "
            f"(telephone platform: {config.telephony.platform})",
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
        goes on unwatched and reports when done; `switchboard run` does not wait for it at exit.
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
        await _speak_new_names(previous, new)
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
