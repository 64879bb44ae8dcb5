"""E-mail notifications through a durable outbox (issue 17): nothing lost, intake never blocked.

A notification is first a row in the register's `notify_outbox` (one transaction, the same
database as the records), with a `dedup_key` so a check that runs twice queues it once. A
background task (`Notifier.run`) sends what is due over SMTP (`smtplib` in a thread: STARTTLS
and login as configured, credentials from the environment), marks it sent, and on failure
keeps it with the error and a next attempt after an exponential backoff (30 s doubling, at most
an hour). A mail server that is down delays the e-mails; it never loses them and never holds
up intake, which only inserts rows.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from voicemail.notify_config import SmtpSettings
from voicemail.phonewatch import db_of
from voicemail.register import RegisterStore, from_db_time, to_db_time

log = logging.getLogger("voicemail.notify")

FIRST_RETRY_S = 30.0
MAX_RETRY_S = 3600.0


def backoff(attempts: int) -> timedelta:
    """Delay before attempt `attempts + 1`: 30 s, 60 s, 120 s … at most an hour."""
    return timedelta(seconds=min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True, slots=True)
class Mail:
    """One e-mail to one address."""

    kind: str  # new_message | overdue | absence_warning | registrar_digest
    dedup_key: str
    recipient: str
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Queued:
    """An outbox row."""

    id: int
    mail: Mail
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None


_COLUMNS = (
    "id, kind, dedup_key, recipient, subject, body, created_at, attempts, next_attempt_at,"
    " sent_at, last_error"
)


def _queued(row: Sequence[object]) -> Queued:
    created = from_db_time(str(row[6]))
    due = from_db_time(str(row[8]))
    assert created is not None and due is not None
    return Queued(
        id=int(str(row[0])),
        mail=Mail(str(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5])),
        created_at=created,
        attempts=int(str(row[7])),
        next_attempt_at=due,
        sent_at=from_db_time(row[9]) if isinstance(row[9], str) else None,
        last_error=str(row[10]) if row[10] is not None else None,
    )


class Outbox:
    """The durable queue of e-mails in the register's database (both engines)."""

    def __init__(self, store: RegisterStore) -> None:
        self.store = store

    async def put(self, mails: Sequence[Mail], now: datetime) -> int:
        """Queue these (one transaction); those already queued under their key are skipped.
        How many were new."""
        if not mails:
            return 0
        db = db_of(self.store)
        added = 0
        async with db.transaction() as tx:
            for m in mails:
                row = await tx.fetchone(
                    "INSERT INTO notify_outbox (kind, dedup_key, recipient, subject, body,"
                    " created_at, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)"
                    " ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
                    (m.kind, m.dedup_key, m.recipient, m.subject, m.body, to_db_time(now),
                     to_db_time(now)),
                )  # fmt: skip
                added += row is not None
        return added

    async def due(self, now: datetime, limit: int = 50) -> list[Queued]:
        """Unsent rows whose next attempt has come, oldest first."""
        rows = await db_of(self.store).fetch(
            f"SELECT {_COLUMNS} FROM notify_outbox WHERE sent_at IS NULL"
            " AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
            (to_db_time(now), limit),
        )
        return [_queued(r) for r in rows]

    async def all(self) -> list[Queued]:
        """Every row, oldest first (for tests and the admin's view)."""
        rows = await db_of(self.store).fetch(f"SELECT {_COLUMNS} FROM notify_outbox ORDER BY id")
        return [_queued(r) for r in rows]

    async def sent(self, item: Queued, now: datetime) -> None:
        """Mark one row sent."""
        async with db_of(self.store).transaction() as tx:
            await tx.execute(
                "UPDATE notify_outbox SET sent_at = ?, attempts = ?, last_error = NULL"
                " WHERE id = ?",
                (to_db_time(now), item.attempts + 1, item.id),
            )

    async def failed(self, item: Queued, error: str, now: datetime) -> datetime:
        """Keep one row for a later attempt; when that is."""
        attempts = item.attempts + 1
        retry = now + backoff(attempts)
        async with db_of(self.store).transaction() as tx:
            await tx.execute(
                "UPDATE notify_outbox SET attempts = ?, next_attempt_at = ?, last_error = ?"
                " WHERE id = ?",
                (attempts, to_db_time(retry), error[:500], item.id),
            )
        return retry


def build_message(mail: Mail, smtp: SmtpSettings, now: datetime) -> EmailMessage:
    """The e-mail as sent: plain UTF-8 text, no attachment (personal integrity, ALV-14)."""
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = mail.recipient
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(now.timestamp(), localtime=False)
    domain = smtp.sender.rpartition("@")[2].strip("> ") or "switchboard.invalid"
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(mail.body)
    return msg


def send_blocking(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Deliver one message (blocking: run in a thread); raises on any failure."""
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
        client.ehlo()
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        login = smtp.credentials()
        if login is not None:
            client.login(*login)
        client.send_message(message)


class Notifier:
    """Sends the outbox over SMTP: `send_due` once, or `run` until stopped."""

    def __init__(
        self,
        outbox: Outbox,
        smtp: SmtpSettings,
        send: Callable[[SmtpSettings, EmailMessage], None] = send_blocking,
    ) -> None:
        self.outbox = outbox
        self.smtp = smtp
        self.send = send
        self._failing = False
        self._kick = asyncio.Event()

    def kick(self) -> None:
        """Something was queued: send now instead of at the next round."""
        self._kick.set()

    async def send_due(self, now: datetime) -> tuple[int, int]:
        """Send every due row; (sent, failed). A failure stops this round (the server is
        likely down): the rest wait for the next."""
        sent = failed = 0
        for item in await self.outbox.due(now):
            message = build_message(item.mail, self.smtp, now)
            try:
                await asyncio.to_thread(self.send, self.smtp, message)
            except (OSError, smtplib.SMTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
                retry = await self.outbox.failed(item, error, now)
                failed += 1
                log.warning(
                    "e-mail %s to %s not sent (attempt %d): %s; next attempt %s",
                    item.mail.kind,
                    item.mail.recipient,
                    item.attempts + 1,
                    error,
                    retry.isoformat(),
                )
                self._failing = True
                break
            await self.outbox.sent(item, now)
            sent += 1
            log.info("e-mail %s sent to %s", item.mail.kind, item.mail.recipient)
        if sent and self._failing:
            log.info("e-mail delivery recovered")
            self._failing = False
        return sent, failed

    async def run(
        self,
        stop: asyncio.Event,
        interval_s: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Send what is due every `interval_s` until `stop` is set; never raises."""
        while not stop.is_set():
            try:
                await self.send_due(clock())
            except Exception as exc:  # the store briefly unavailable: try again next round
                log.error("e-mail outbox failing: %s", exc, exc_info=True)
            waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._kick.wait())}
            try:
                await asyncio.wait(waits, timeout=interval_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
                self._kick.clear()
