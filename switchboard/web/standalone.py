"""A self-contained web app over one organisation folder: ICS presence, SQLite stores (the web
store and the call log), the voicemail register and spool intake, without the telephone side."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from switchboard.config import Config
from switchboard.storage import open_register
from switchboard.telephony.calllog import CallLogStore
from switchboard.web.auth import (
    ACCOUNTS_FILE,
    DEV_PASSWORD_ENV,
    SESSION_SECRET_ENV,
    Role,
    load_accounts,
)
from switchboard.web.routes import setup_web
from switchboard.web.services import IcsPresence, WebServices
from switchboard.web.store import WebStore
from voicemail.intake import SpoolIntake

log = logging.getLogger("switchboard.web")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def session_secret(announce: Callable[[str], None]) -> bytes:
    """The session secret from $SWITCHBOARD_SESSION_SECRET, else a random one for this run."""
    raw = os.environ.get(SESSION_SECRET_ENV, "")
    if len(raw) >= 16:
        return raw.encode()
    announce(f"{SESSION_SECRET_ENV} not set: sessions end when the service restarts")
    return secrets.token_bytes(32)


def dev_password(announce: Callable[[str], None]) -> str:
    """$SWITCHBOARD_DEV_PASSWORD, else a generated one, announced once at start-up."""
    value = os.environ.get(DEV_PASSWORD_ENV)
    if value:
        return value
    value = secrets.token_urlsafe(12)
    announce(f"development password for accounts without a hash: {value}")
    return value


def build_app(
    config: Config,
    data_dir: str | Path,
    *,
    now: Callable[[], datetime] = _utcnow,
    intake_interval_s: float | None = 5.0,
    announce: Callable[[str], None] | None = None,
) -> web.Application:
    """The web app with real services built from the organisation folder and `data_dir`."""
    say = announce or (lambda text: print(f"switchboard web: {text}", file=sys.stderr))
    data = Path(data_dir)
    accounts, _ = load_accounts(config.folder / ACCOUNTS_FILE, config.directory, dev_password(say))
    registrars = tuple(
        sorted(set(config.voicemail.registrars) | set(accounts.with_role(Role.REGISTRAR)))
    )
    vm_settings = dataclasses.replace(config.voicemail, registrars=registrars)
    spool = Path(vm_settings.spool or data / "spool")
    calllog = CallLogStore.in_data_dir(data, org_code=config.org.code)
    services = WebServices(
        config=config,
        presence=IcsPresence(config),
        store=WebStore.in_data_dir(data),
        accounts=accounts,
        call_log=calllog,
        spool=spool,
        now=now,
        session_secret=session_secret(say),
    )
    app = web.Application(client_max_size=services.max_body)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:  # closed in reverse, also on failure
            await calllog.open()
            stack.push_async_callback(calllog.close)
            await services.store.open()
            stack.push_async_callback(services.store.close)
            register = await open_register(
                dataclasses.replace(config, voicemail=vm_settings),
                data / "voicemail" / "register.sqlite3",
            )
            stack.push_async_callback(register.close)
            services.register = register
            stop = asyncio.Event()
            task: asyncio.Task[None] | None = None
            if intake_interval_s is not None and await asyncio.to_thread(spool.is_dir):
                intake = SpoolIntake(register, spool)
                task = asyncio.create_task(intake.run(stop, intake_interval_s, now))
            try:
                yield
            finally:
                stop.set()
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    app.cleanup_ctx.append(resources)
    setup_web(app, services)
    return app
