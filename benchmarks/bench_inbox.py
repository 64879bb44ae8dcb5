"""Mina röstmeddelanden (issue 17): page and API time for an owner with 1,000 messages.

Run: `python benchmarks/bench_inbox.py [--messages 1000] [--runs 30]`. Real HTTP (aiohttp on
127.0.0.1), a SQLite register and web store, the Älvkarleby sample; a bearer session.
Goal: the page p99 <= 500 ms at 1,000 messages.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from switchboard.config import load_config
from switchboard.web import WebServices, setup_web
from switchboard.web.auth import Account, Accounts, Role, hash_password
from switchboard.web.services import IcsPresence
from switchboard.web.store import WebStore
from voicemail.models import NewRecord
from voicemail.service import Register

ROOT = Path(__file__).resolve().parents[1]
OWNER = "anna.andersson"
PASSWORD = "bänk-lösen-123"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def record(n: int) -> NewRecord:
    """Message n for Anna's mailbox, an hour apart."""
    return NewRecord(
        intake_key=f"default/83012/bench-{n}",
        msg_id=f"bench-{n}",
        arrived_at=NOW - timedelta(hours=n),
        context="default",
        mailbox="83012",
        owner_id=OWNER,
        caller_raw='"Örjan Öst" <0701234567>',
        caller_number="+46701234567",
        caller_name="Örjan Öst" if n % 2 else None,
        duration_s=9,
        sha256=f"{n:064x}",
        audio_bytes=144_000,
        audio_format="wav",
        txt_sha256=f"{n + 1:064x}",
        spool_fields=(),
    )


async def main(messages: int, runs: int, work: Path) -> None:
    config = load_config(ROOT / "config" / "alvkarleby")
    org = replace(config.org, data_dir=str(work / "data"))
    config = replace(config, org=org)
    reg = await Register.open(org, config.voicemail, work / "vm" / "register.sqlite3")
    for i in range(0, messages, 500):
        batch = [(record(n), 2026) for n in range(i, min(messages, i + 500))]
        await reg.store.add_records(batch, reg.prefix, "bench", NOW)
    store = WebStore(work / "web.sqlite3")
    await store.open()
    accounts = Accounts.of([Account(OWNER, frozenset({Role.STAFF}), hash_password(PASSWORD))])
    svc = WebServices(
        config=config,
        presence=IcsPresence(config),
        store=store,
        accounts=accounts,
        register=reg,
        now=lambda: NOW,
        session_secret=b"bench-secret-0123456789abcdef",
    )
    app = web.Application()
    setup_web(app, svc)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            resp = await client.post("/api/login", json={"user": OWNER, "password": PASSWORD})
            h = {"Authorization": f"Bearer {(await resp.json())['token']}"}
            client.session.cookie_jar.clear()
            for path in ("/rostmeddelanden", "/api/inbox"):
                times: list[float] = []
                size = 0
                for _ in range(runs):
                    start = time.perf_counter()
                    resp = await client.get(path, headers=h)
                    body = await resp.read()
                    times.append((time.perf_counter() - start) * 1000)
                    assert resp.status == 200, body[:300]
                    size = len(body)
                times.sort()
                p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
                print(
                    f"{path} with {messages} messages, {runs} runs: p50 "
                    f"{statistics.median(times):.1f} ms, p99 {p99:.1f} ms, {size // 1024} kB"
                )
    finally:
        await store.close()
        await reg.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(args.messages, args.runs, Path(tmp)))
