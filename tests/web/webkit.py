"""Test doubles and builders for the web tests: a clock, a real call log, spool messages, accounts."""

from __future__ import annotations

import dataclasses
import os
import struct
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from storekit import Storage

from switchboard.config import Config
from switchboard.telephony.calllog import CallEntry, CallLogStorage
from switchboard.web.auth import Account, Accounts, Role, hash_password
from switchboard.web.services import IcsPresence, WebServices
from switchboard.web.store import WebStore
from voicemail.intake import SpoolIntake
from voicemail.service import Register

PASSWORD = "korrekt-häst-batteri"
START = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)  # 10.15 in Stockholm, a Tuesday
# one account per single role, plus the mailbox owner and her delegate (ALV-14)
ROLE_USERS = {
    Role.STAFF: "bertil.berg",
    Role.REGISTRAR: "johanna.jansson",
    Role.ADMIN: "lena.lund",
    Role.IT: "ivar.isaksson",
}
OWNER = "anna.andersson"
DELEGATE = "helena.holm"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def now(self) -> datetime:
        """The current fake time."""
        return self.current

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self.current += delta


def _utc(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, second, tzinfo=UTC)


def sample_calls() -> list[CallEntry]:
    """Three calls as the telephone service logs them: numbers as the platform gave them."""
    return [
        CallEntry(  # 09.01 in Stockholm: a mobile caller, national format from CallerIDNum
            call_id="1764000000.1",
            start=_utc(8, 1),
            answer=_utc(8, 1, 5),
            end=_utc(8, 3),
            duration_s=120,
            billable_s=115,
            caller="0701234567",
            called="83012",
            dialled=("PJSIP/83012",),
            outcome="completed",
            action="ring",
            disposition="ANSWERED",
            dial_status="ANSWER",
            channel="PJSIP/trunk-00000001",
        ),
        CallEntry(  # 09.30 in Stockholm: redirected, the caller hung up at the message
            call_id="1764000000.2",
            start=_utc(8, 30),
            end=_utc(8, 31),
            duration_s=60,
            billable_s=0,
            caller="+46731112233",
            called="83013",
            outcome="caller_hung_up",
            action="redirect",
            disposition="NO ANSWER",
            channel="PJSIP/trunk-00000002",
        ),
        CallEntry(  # 10.00 in Stockholm
            call_id="1764000000.3",
            start=_utc(9, 0),
            answer=_utc(9, 0, 2),
            end=_utc(9, 2),
            duration_s=120,
            billable_s=118,
            caller="+46855512345",
            called="83015",
            dialled=("PJSIP/83015",),
            outcome="completed",
            action="ring",
            disposition="ANSWERED",
            dial_status="ANSWER",
            channel="PJSIP/trunk-00000003",
        ),
    ]


async def open_call_log(config: Config, storage: Storage, tmp: Path) -> CallLogStorage:
    """A real call log holding `sample_calls()` (on SQLite in a temporary file)."""
    store = storage.call_log(tmp / "calllog.sqlite3", org_code=config.org.code)
    await store.open()
    for entry in sample_calls():
        await store.record(entry)
    return store


@cache
def password_hash() -> str:
    """One scrypt hash of PASSWORD, shared by every test account (scrypt is slow on purpose)."""
    return hash_password(PASSWORD)


def test_accounts() -> Accounts:
    """Single-role accounts, the mailbox owner (staff) and her delegate (registrar in the sample)."""
    h = password_hash()
    accounts = [Account(uid, frozenset({role}), h) for role, uid in ROLE_USERS.items()]
    accounts.append(Account(OWNER, frozenset({Role.STAFF}), h))
    accounts.append(Account(DELEGATE, frozenset({Role.STAFF}), h))
    return Accounts.of(accounts)


def wav(payload: bytes) -> bytes:
    """A minimal 8 kHz mono 16-bit WAV around the payload."""
    header = b"RIFF" + struct.pack("<I", 36 + len(payload)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    return header + b"data" + struct.pack("<I", len(payload)) + payload


def put_message(spool: Path, mailbox: str, n: int, origtime: int, caller: str) -> None:
    """One app_voicemail message (msgNNNN.txt + .wav) in Asterisk 22's layout, with old mtimes."""
    d = spool / "default" / mailbox / "INBOX"
    d.mkdir(parents=True, exist_ok=True)
    txt = "\n".join(
        [
            ";",
            "; Message Information file",
            ";",
            "[message]",
            f"origmailbox={mailbox}",
            "context=from-trunk",
            f"exten=026{mailbox}",
            "rdnis=unknown",
            "priority=5",
            "callerchan=PJSIP/trunk-00000002",
            f"callerid={caller}",
            "origdate=Tue Nov 24 08:04:10 AM UTC 2026",
            f"origtime={origtime}",
            "category=",
            f"msg_id={origtime}-{n:08x}",
            "flag=",
            "duration=4",
            "",
        ]
    )
    tone = bytes((i * 7) % 256 for i in range(4 * 16000))  # as long as duration=4 says
    for ext, data in (("wav", wav(tone)), ("txt", txt.encode())):
        p = d / f"msg{n:04d}.{ext}"
        p.write_bytes(data)
        os.utime(p, (1_700_000_000, 1_700_000_000))


async def open_register(
    config: Config, storage: Storage, tmp: Path, now: datetime, registrars: tuple[str, ...]
) -> Register:
    """A register with two messages for Anna Andersson's mailbox taken in from a spool."""
    settings = dataclasses.replace(config.voicemail, registrars=registrars)
    reg = await storage.open_register(config.org, settings)
    spool = tmp / "spool"
    base = int((now - timedelta(hours=2)).timestamp())
    put_message(spool, "83012", 0, base, '"Örjan Öst" <0701234567>')
    put_message(spool, "83012", 1, base + 1800, '"Stina Svensson" <0739876543>')
    await SpoolIntake(reg, spool).run_once(now)
    return reg


def make_services(
    config: Config,
    store: WebStore,
    reg: Register | None,
    clock: FakeClock,
    call_log: CallLogStorage,
    spool: Path | None = None,
) -> WebServices:
    """Real ICS presence, the given stores and call log; a fake clock."""
    return WebServices(
        config=config,
        presence=IcsPresence(config),
        store=store,
        accounts=test_accounts(),
        register=reg,
        call_log=call_log,
        spool=spool,
        now=clock.now,
        session_secret=b"test-secret-0123456789abcdef",
        sse_refresh_s=0.2,
    )
