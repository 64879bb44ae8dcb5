"""E-mail notifications (issue 17) through a real SMTP server (aiosmtpd) on 127.0.0.1.

ALV-13 (overdue → delegate/manager, phone listening counts), ALV-24 (warning before a long
absence without delegate), REC-02 (registrars' daily digest), the new-message e-mail to the
owner (no audio), and a mail server that is down at first: nothing lost.
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from storekit import Storage
from test_owner_phone import listen_on_phone
from vmkit import STHLM, make_org, make_settings, make_users, message_txt, put_message
from vmkit import wav_bytes as wav

from routing.absence import AbsenceReason, Redirect, UserPresence
from voicemail.intake import SpoolIntake
from voicemail.notify import Notifier, Outbox, backoff
from voicemail.notify_config import NotifySettings, SmtpSettings, parse_notifications
from voicemail.owner_checks import OwnerChecks
from voicemail.service import Register

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=STHLM)  # a working Monday


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server received."""

    messages: list[EmailMessage] = field(default_factory=list)
    rcpt: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.content  # type: ignore[attr-defined]
        msg = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.rcpt.append(list(envelope.rcpt_tos))  # type: ignore[attr-defined]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def received(smtp_port: int) -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def notify_settings(port: int) -> NotifySettings:
    smtp = SmtpSettings("127.0.0.1", port, "Växeln <vaxel@alvkarleby.example>", False)
    return NotifySettings(smtp, "https://vaxel.alvkarleby.example")


def mail(user_id: str) -> str:
    return f"{user_id}@alvkarleby.example"


@pytest.fixture
async def reg(tmp_path: Path, storage: Storage) -> AsyncIterator[Register]:
    """A register whose users have e-mail addresses, Rut as registrar."""
    users = tuple(replace(u, email=mail(u.id)) for u in make_users())
    org = make_org(tmp_path / "data", users)
    register = await storage.open_register(org, make_settings())
    try:
        yield register
    finally:
        await register.close()


async def leave_message(reg: Register, spool: Path, at: datetime, mailbox: str = "83012") -> int:
    t = int(at.timestamp())
    put_message(spool, mailbox, 0, message_txt(t, f"{t}-00000001", mailbox=mailbox), wav(b"x"))
    intake = SpoolIntake(reg, spool)
    [record] = (await intake.run_once(at + timedelta(seconds=30))).taken
    return record.id


async def deliver(reg: Register, port: int, now: datetime) -> tuple[int, int]:
    return await Notifier(Outbox(reg.store), notify_settings(port).smtp).send_due(now)


async def test_alv13_unheard_past_a_working_day_tells_the_delegate(
    reg: Register, spool: Path, received: Inbox, smtp_port: int
) -> None:
    """ALV-13: a message left Monday 10.00 and unheard is overdue after Tuesday's closing time
    (16.30): Helena, Anna's delegate, gets one e-mail (in Swedish, saying what to do); the
    check run again the same day queues nothing more."""
    await leave_message(reg, spool, MONDAY_10)
    checks = OwnerChecks(reg, Outbox(reg.store), notify_settings(smtp_port))
    tuesday_16 = datetime(2026, 11, 24, 16, 0, tzinfo=STHLM)
    await checks.run_once(tuesday_16)
    await deliver(reg, smtp_port, tuesday_16)
    assert received.to(mail("helena.holm")) == []
    wednesday = datetime(2026, 11, 25, 9, 0, tzinfo=STHLM)
    await checks.run_once(wednesday)
    await checks.run_once(wednesday + timedelta(hours=1))
    await deliver(reg, smtp_port, wednesday + timedelta(hours=1))
    [msg] = received.to(mail("helena.holm"))
    assert msg["Subject"] == "Olyssnade röstmeddelanden hos Anna Andersson"
    body = msg.get_content()
    assert "1 röstmeddelanden i Anna Anderssons brevlåda" in body
    assert "lyssna av" in body and "https://vaxel.alvkarleby.example/rostmeddelanden" in body
    assert received.to(mail("cecilia.carlsson")) == []  # the delegate, not the manager


async def test_alv13_listening_on_the_phone_counts(
    reg: Register, spool: Path, received: Inbox, smtp_port: int
) -> None:
    """ALV-13/ALV-23: Anna listened on the phone (INBOX → Old): nobody is told anything."""
    await leave_message(reg, spool, MONDAY_10)
    listen_on_phone(spool, "83012", 0, 0)
    await SpoolIntake(reg, spool).run_once(MONDAY_10 + timedelta(hours=1))
    checks = OwnerChecks(reg, Outbox(reg.store), notify_settings(smtp_port))
    await checks.run_once(datetime(2026, 11, 26, 9, 0, tzinfo=STHLM))
    await deliver(reg, smtp_port, datetime(2026, 11, 26, 9, 0, tzinfo=STHLM))
    assert [m["Subject"] for m in received.messages if "Olyssnade" in str(m["Subject"])] == []


async def test_alv13_weekend_and_holidays_are_not_working_days(
    reg: Register, spool: Path, received: Inbox, smtp_port: int
) -> None:
    """ALV-13: Bertil's message from Wednesday 23 December 17.00 is due by the close of the
    next working day, Monday 28 December (24–25 December are holidays, 26–27 a weekend);
    Bertil has no delegate, so his manager Cecilia is told, on the 28th after closing."""
    await leave_message(reg, spool, datetime(2026, 12, 23, 17, 0, tzinfo=STHLM), "83013")
    checks = OwnerChecks(reg, Outbox(reg.store), notify_settings(smtp_port))
    for day in (24, 25, 26, 27):
        await checks.run_once(datetime(2026, 12, day, 12, 0, tzinfo=STHLM))
    await checks.run_once(datetime(2026, 12, 28, 16, 0, tzinfo=STHLM))
    await deliver(reg, smtp_port, datetime(2026, 12, 28, 16, 0, tzinfo=STHLM))
    assert received.to(mail("cecilia.carlsson")) == []
    await checks.run_once(datetime(2026, 12, 28, 17, 0, tzinfo=STHLM))
    await deliver(reg, smtp_port, datetime(2026, 12, 28, 17, 0, tzinfo=STHLM))
    [msg] = received.to(mail("cecilia.carlsson"))
    assert msg["Subject"] == "Olyssnade röstmeddelanden hos Bertil Berg"


async def test_alv23_new_message_mail_to_owner_without_audio(
    reg: Register, spool: Path, received: Inbox, smtp_port: int
) -> None:
    """ALV-23/ALV-14: the owner gets an e-mail about a new message: time, caller in national
    form, a link to the inbox; no audio attached; queued once however often checked."""
    record_id = await leave_message(reg, spool, MONDAY_10)
    checks = OwnerChecks(reg, Outbox(reg.store), notify_settings(smtp_port))
    record = await reg.get(record_id)
    assert await checks.new_messages([record], MONDAY_10 + timedelta(minutes=1)) == 1
    await checks.run_once(MONDAY_10 + timedelta(minutes=2))  # the catch-up finds it queued
    await deliver(reg, smtp_port, MONDAY_10 + timedelta(minutes=2))
    [msg] = received.to(mail("anna.andersson"))
    assert msg["Subject"] == "Nytt röstmeddelande från Örjan Öst, 070-123 45 67"
    assert not msg.is_multipart() and msg.get_content_type() == "text/plain"
    body = msg.get_content()
    assert "2026-11-23 10.00" in body and "https://vaxel.alvkarleby.example/rostmeddelanden" in body
    assert "Ljudet skickas inte med e-post" in body


async def test_rec02_registrars_daily_digest(
    reg: Register, spool: Path, received: Inbox, smtp_port: int
) -> None:
    """REC-02: on a working day from 07.30 the registrar gets one digest of what waits and how
    long; not before 07.30, not on a Saturday, not twice a day."""
    await leave_message(reg, spool, MONDAY_10)
    checks = OwnerChecks(reg, Outbox(reg.store), notify_settings(smtp_port))
    await checks.run_once(datetime(2026, 11, 24, 7, 0, tzinfo=STHLM))
    await deliver(reg, smtp_port, datetime(2026, 11, 24, 7, 0, tzinfo=STHLM))
    assert received.to(mail("rut.registrator")) == []
    for hour in (8, 12):
        await checks.run_once(datetime(2026, 11, 24, hour, 0, tzinfo=STHLM))
    await checks.run_once(datetime(2026, 11, 28, 9, 0, tzinfo=STHLM))  # Saturday
    await deliver(reg, smtp_port, datetime(2026, 11, 28, 9, 0, tzinfo=STHLM))
    [msg] = received.to(mail("rut.registrator"))
    assert msg["Subject"] == "1 röstmeddelande väntar på registrering"
    assert "ALV-RÖST-2026-000001, kom 2026-11-23 10.00, har väntat 22 h" in msg.get_content()


def vacation(user_id: str, start: datetime, until: datetime | None) -> UserPresence:
    return UserPresence.of(user_id, (Redirect(AbsenceReason.VACATION, start, until, "calendar"),))


async def test_alv24_warns_before_a_long_absence_without_delegate(
    reg: Register, received: Inbox, smtp_port: int
) -> None:
    """ALV-24: Bertil (mailbox on, no delegate) has a calendar absence of three working days
    next week: he and his manager are warned beforehand, once. Anna (has a delegate) and an
    absence of half a day warn nobody."""
    start = datetime(2026, 11, 30, 8, 0, tzinfo=STHLM)
    book = {
        "bertil.berg": vacation("bertil.berg", start, start + timedelta(days=2, hours=9)),
        "anna.andersson": vacation("anna.andersson", start, start + timedelta(days=5)),
        "cecilia.carlsson": vacation("cecilia.carlsson", start, start + timedelta(hours=4)),
    }

    async def presence(now: datetime) -> dict[str, UserPresence]:
        return book

    checks = OwnerChecks(reg, Outbox(reg.store), notify_settings(smtp_port), presence)
    now = datetime(2026, 11, 26, 9, 0, tzinfo=STHLM)
    await checks.run_once(now)
    await checks.run_once(now + timedelta(hours=1))
    await deliver(reg, smtp_port, now + timedelta(hours=1))
    [own] = received.to(mail("bertil.berg"))
    assert own["Subject"] == "Din röstbrevlåda under frånvaron"
    assert "2026-11-30 08.00 – 2026-12-02 17.00" in own.get_content()
    assert "ombud" in own.get_content()
    [boss] = received.to(mail("cecilia.carlsson"))
    assert boss["Subject"] == "Bertil Bergs röstbrevlåda under frånvaron"
    assert received.to(mail("anna.andersson")) == []
    assert len(received.messages) == 2


async def test_alv24_one_working_day_is_not_warned(
    reg: Register, received: Inbox, smtp_port: int
) -> None:
    """ALV-24: exactly one working day away (Friday) over a weekend is not "more than one"."""
    friday = datetime(2026, 11, 27, 8, 0, tzinfo=STHLM)
    book = {"bertil.berg": vacation("bertil.berg", friday, friday + timedelta(days=3))}

    async def presence(now: datetime) -> dict[str, UserPresence]:
        return book

    checks = OwnerChecks(reg, Outbox(reg.store), notify_settings(smtp_port), presence)
    assert await checks.run_once(datetime(2026, 11, 25, 9, 0, tzinfo=STHLM)) == 0


async def test_mail_server_down_first_loses_nothing(reg: Register, spool: Path) -> None:
    """Issue 17: with the mail server down the e-mail stays queued (error logged, retried after
    a backoff); intake is not held up; once the server is up the e-mail arrives."""
    port = free_port()
    record_id = await leave_message(reg, spool, MONDAY_10)
    outbox = Outbox(reg.store)
    checks = OwnerChecks(reg, outbox, notify_settings(port))
    await checks.new_messages([await reg.get(record_id)], MONDAY_10)
    notifier = Notifier(outbox, notify_settings(port).smtp)
    assert await notifier.send_due(MONDAY_10) == (0, 1)
    [row] = await outbox.all()
    assert row.sent_at is None and row.attempts == 1 and row.last_error
    assert row.next_attempt_at == MONDAY_10 + backoff(1)
    assert await notifier.send_due(MONDAY_10 + timedelta(seconds=1)) == (0, 0)  # not yet due
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert await notifier.send_due(row.next_attempt_at) == (1, 0)
    finally:
        controller.stop()
    [msg] = inbox.messages
    assert msg["To"] == mail("anna.andersson")
    [done] = await outbox.all()
    assert done.sent_at == row.next_attempt_at and done.attempts == 2


def test_notifications_config_keeps_secrets_out_of_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17: SMTP settings parse; a password in the YAML is refused with what to do; the
    credentials come from the environment variables the config names."""
    raw = {
        "base_url": "https://vaxel.example",
        "smtp": {
            "host": "smtp.example",
            "port": 587,
            "from": "vaxel@example.se",
            "starttls": True,
            "user_env": "SB_SMTP_USER",
            "password_env": "SB_SMTP_PASSWORD",
        },
    }
    parsed, problems = parse_notifications(raw)
    assert problems == [] and parsed is not None and parsed.smtp.starttls
    assert parsed.smtp.credentials() is None
    monkeypatch.setenv("SB_SMTP_USER", "vaxel")
    monkeypatch.setenv("SB_SMTP_PASSWORD", "hemligt")
    assert parsed.smtp.credentials() == ("vaxel", "hemligt")
    bad = {"smtp": {**raw["smtp"], "password": "hemligt"}}  # type: ignore[dict-item]
    _, problems = parse_notifications(bad)
    assert [p.path for p in problems] == ["smtp.password"]
    assert "environment variable" in problems[0].message
