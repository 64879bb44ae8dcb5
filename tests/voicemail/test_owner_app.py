"""Issue 17 end to end: the running service (simulated Asterisk, the real composition root).

A message left in the spool is taken in, stays in the owner's phone mailbox (ALV-23), the
owner's e-mail arrives at a real SMTP server on 127.0.0.1, and listening on the phone is seen
and audited.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from test_owner_notify import Inbox, free_port
from test_owner_phone import listen_on_phone
from vmkit import message_txt, put_message
from vmkit import wav_bytes as wav

from calendar_sync.clock import ManualClock
from switchboard.app import RUNTIME, create_app, spool_dir
from switchboard.config import load_config

ROOT = Path(__file__).resolve().parents[2]
T = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait (bounded) until `check()` holds."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - bounded by the timeout
            await asyncio.sleep(0.02)


async def test_alv23_running_service_keeps_notifies_and_sees_phone_listening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALV-23: in the running service a new message stays in the phone mailbox, its owner's
    e-mail arrives over SMTP (no audio), and INBOX → Old is recorded as heard on the phone."""
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "alvkarleby"
    shutil.copytree(
        ROOT / "config" / "alvkarleby", folder, ignore=shutil.ignore_patterns("data", "scenarios")
    )
    port = free_port()
    with (folder / "organisation.yaml").open("a", encoding="utf-8") as f:
        f.write(
            "notifications:\n  base_url: https://vaxel.alvkarleby.example\n  smtp:\n"
            f"    host: 127.0.0.1\n    port: {port}\n    from: vaxel@alvkarleby.example\n"
        )
    config = load_config(folder)
    spool = spool_dir(config)
    t = int(T.timestamp()) - 3600
    put_message(spool, "83012", 0, message_txt(t, f"{t}-00000001"), wav(b"hej"))
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    runner = web.AppRunner(create_app(config, clock=ManualClock(T), intake_interval_s=0.05))
    await runner.setup()
    try:
        rt = runner.app[RUNTIME]
        # the owner's notice; the registrar's "väntar på registrering" may come first or after
        owner = "anna.andersson@example.se"
        await until(lambda: bool(inbox.to(owner)))
        [msg] = inbox.to(owner)
        assert msg["To"] == "anna.andersson@example.se" and not msg.is_multipart()
        assert "https://vaxel.alvkarleby.example/rostmeddelanden" in msg.get_content()
        assert (spool / "default/83012/INBOX/msg0000.wav").exists()  # the phone keeps it
        assert rt.register is not None
        [record] = await rt.register.mailbox("anna.andersson")
        listen_on_phone(spool, "83012", 0, 0)
        heard = None
        async with asyncio.timeout(10):
            while heard is None:
                heard = (await rt.register.get(record.id)).first_heard_at
                await asyncio.sleep(0.02)
        actions = [e.action for e in await rt.register.store.events(record.id)]
        assert "record.heard_on_phone" in actions
    finally:
        await runner.cleanup()
        smtp.stop()
