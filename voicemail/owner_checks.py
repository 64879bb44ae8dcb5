"""What the owner side tells whom, by e-mail through the outbox (issue 17).

- a new message → its owner: when and from whom, a link to the web inbox; never the audio
  (personal integrity, ALV-14);
- ALV-13: messages unheard past one working day (phone or web listening counts) → the owner's
  delegates, else their manager (registrars for a mailbox without owner); once a day;
- ALV-24: a voicemail user whose calendar shows an absence of more than one working day ahead,
  with the mailbox on and no delegate → the user and their manager, once per absence;
- REC-02: the registrars' daily digest of what waits for classification, on working days from
  `digest_at`.

Every check is pure over its inputs and `now`; `OwnerChecks.run_once` queues the e-mails
(deduplicated by key) and `run` repeats it. Swedish text that says what to do next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from routing.absence import Redirect, UserPresence
from routing.models import Directory, Hours, Organisation, User
from routing.numbers import national_format
from voicemail import policy
from voicemail.models import PublicRecord, VoicemailSettings
from voicemail.notify import Mail, Notifier, Outbox
from voicemail.notify_config import NotifySettings
from voicemail.register import RecordFilter
from voicemail.service import OverdueMailbox, QueueItem, Register

log = logging.getLogger("voicemail.owner_checks")

PresenceSource = Callable[[datetime], Awaitable[Mapping[str, UserPresence]]]
NEW_MESSAGE_WINDOW = timedelta(days=1)  # catch-up for new-message e-mails not yet queued


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H.%M")


def caller_of(record: PublicRecord) -> str:
    """The caller as a person reads it: name and national number where known."""
    number = record.caller_number or ""
    shown = national_format(number) if number.startswith("+") else number
    parts = [p for p in (record.caller_name, shown) if p]
    return ", ".join(parts) if parts else "okänt nummer"


def new_message_mail(
    record: PublicRecord, owner: User, notify: NotifySettings, tz: ZoneInfo
) -> Mail | None:
    """The owner's e-mail about a new message (None when the owner has no address)."""
    if not owner.email:
        return None
    length = f"{record.duration_s} s" if record.duration_s is not None else "okänd längd"
    body = (
        f"Hej {owner.name}!\n\n"
        f"Du har fått ett nytt röstmeddelande {_local(record.arrived_at, tz)} "
        f"från {caller_of(record)} ({length}).\n\n"
        f"Lyssna på det i telefonen (din röstbrevlåda) eller på webben:\n{notify.inbox_url}\n\n"
        "Ljudet skickas inte med e-post, för att skydda den som ringde. Lyssna av dina "
        "meddelanden dagligen.\n\n"
        f"Registreringsnummer: {record.registration_number}\n"
    )
    return Mail(
        "new_message",
        f"new:{record.id}",
        owner.email,
        f"Nytt röstmeddelande från {caller_of(record)}",
        body,
    )


def overdue_mails(
    item: OverdueMailbox, directory: Directory, notify: NotifySettings, tz: ZoneInfo, now: datetime
) -> list[Mail]:
    """ALV-13: tell the delegates or the manager that a mailbox is not being listened to."""
    owner = directory.user(item.owner_id) if item.owner_id else None
    whose = owner.name if owner else f"brevlåda {item.mailbox} (utan ägare)"
    today = now.astimezone(tz).date().isoformat()
    out: list[Mail] = []
    for uid in item.notify:
        to = directory.user(uid)
        if to is None or not to.email:
            continue
        body = (
            f"Hej {to.name}!\n\n"
            f"{len(item.records)} röstmeddelanden i {whose}s brevlåda har inte lyssnats av på "
            f"mer än en arbetsdag. Det äldsta kom {_local(item.oldest_arrival, tz)}.\n\n"
            "Du får det här meddelandet som ombud eller chef. Gör så här: lyssna av "
            f"meddelandena på webben ({notify.inbox_url}) eller se till att "
            f"{owner.name if owner else 'någon'} gör det i dag.\n"
        )
        out.append(
            Mail(
                "overdue",
                f"overdue:{item.owner_id or item.mailbox}:{uid}:{today}",
                to.email,
                f"Olyssnade röstmeddelanden hos {whose}",
                body,
            )
        )
    return out


def digest_mails(
    queue: Sequence[QueueItem],
    registrars: Iterable[str],
    directory: Directory,
    notify: NotifySettings,
    tz: ZoneInfo,
    now: datetime,
) -> list[Mail]:
    """REC-02: each registrar's daily list of what waits, longest-waiting first."""
    if not queue:
        return []
    today = now.astimezone(tz).date().isoformat()
    lines = []
    for q in queue[:25]:
        hours = int(q.waiting_s // 3600)
        waited = f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h"
        lines.append(
            f"- {q.record.registration_number}, kom {_local(q.record.arrived_at, tz)}, "
            f"har väntat {waited}"
        )
    more = f"\n… och {len(queue) - 25} till." if len(queue) > 25 else ""
    waiting = "röstmeddelande väntar" if len(queue) == 1 else "röstmeddelanden väntar"
    out: list[Mail] = []
    for uid in registrars:
        to = directory.user(uid)
        if to is None or not to.email:
            continue
        body = (
            f"Hej {to.name}!\n\n{len(queue)} {waiting} på klassificering. "
            "Registrera dem utan dröjsmål; de som väntat längst först:\n\n"
            + "\n".join(lines)
            + more
            + f"\n\nRegistratorns kö: {notify.base_url.rstrip('/')}/registrator\n"
        )
        out.append(
            Mail(
                "registrar_digest",
                f"digest:{uid}:{today}",
                to.email,
                f"{len(queue)} {waiting} på registrering",
                body,
            )
        )
    return out


def working_days_absent(
    start: datetime, until: datetime, tz: ZoneInfo, hours: Hours, holidays: frozenset[date]
) -> float:
    """How many working days' worth of working hours [start, until) covers."""
    monday = date(2000, 1, 3)
    day_s = (
        datetime.combine(monday, hours.end) - datetime.combine(monday, hours.start)
    ).total_seconds()
    if day_s <= 0:
        return 0.0
    total = 0.0
    day, last = start.astimezone(tz).date(), until.astimezone(tz).date()
    for _ in range(800):
        if day > last:
            break
        if policy.is_working_day(day, hours, holidays):
            opens = datetime.combine(day, hours.start, tzinfo=tz)
            closes = datetime.combine(day, hours.end, tzinfo=tz)
            overlap = (min(closes, until) - max(opens, start)).total_seconds()
            total += max(0.0, overlap) / day_s
        day += timedelta(days=1)
    return total


def long_absences(
    presence: UserPresence, org: Organisation, now: datetime, lookahead: timedelta
) -> list[Redirect]:
    """Absences (calendar or manual) not over yet, starting within `lookahead`, longer than one
    working day (an absence "until further notice" is)."""
    out: list[Redirect] = []
    for r in presence.redirects:
        if r.until is not None and r.until <= now:
            continue
        if r.start > now + lookahead:
            continue
        if (
            r.until is None
            or working_days_absent(r.start, r.until, org.timezone, org.working_hours, org.holidays)
            > 1.0
        ):
            out.append(r)
    return out


def absence_mails(
    org: Organisation,
    settings: VoicemailSettings,
    presence: Mapping[str, UserPresence],
    notify: NotifySettings,
    now: datetime,
) -> list[Mail]:
    """ALV-24: warn the user and their manager before a long absence with the mailbox on and
    no delegate to watch it."""
    tz = org.timezone
    lookahead = timedelta(days=notify.absence_lookahead_days)
    out: list[Mail] = []
    for user in org.directory.users:
        if user.delegates or not policy.has_mailbox(user, settings):
            continue
        p = presence.get(user.id)
        if p is None:
            continue
        for r in long_absences(p, org, now, lookahead):
            until = _local(r.until, tz) if r.until else "tills vidare"
            period = f"{_local(r.start, tz)} – {until}"
            key = f"absence:{user.id}:{r.start.astimezone(UTC).isoformat()}"
            if user.email:
                out.append(
                    Mail(
                        "absence_warning",
                        f"{key}:{user.id}",
                        user.email,
                        "Din röstbrevlåda under frånvaron",
                        f"Hej {user.name}!\n\nEnligt din kalender är du borta {period}. Din "
                        "röstbrevlåda är på och du har inget ombud, så ingen lyssnar av dina "
                        "meddelanden medan du är borta.\n\nGör så här före frånvaron: be "
                        "telefoniadministratören lägga in ett ombud som får lyssna av "
                        "brevlådan, eller stäng av röstbrevlådan och hänvisa samtalen.\n",
                    )
                )
            boss = org.directory.user(user.manager) if user.manager else None
            if boss is not None and boss.email:
                out.append(
                    Mail(
                        "absence_warning",
                        f"{key}:{boss.id}",
                        boss.email,
                        f"{user.name}s röstbrevlåda under frånvaron",
                        f"Hej {boss.name}!\n\n{user.name} är enligt kalendern borta {period} "
                        "med röstbrevlådan på och utan ombud. Se till att någon lyssnar av "
                        "brevlådan under frånvaron: utse ett ombud, eller låt "
                        f"{user.name} stänga av röstbrevlådan.\n",
                    )
                )
    return out


class OwnerChecks:
    """Queues the owner-side e-mails for one register (see the module text)."""

    def __init__(
        self,
        register: Register,
        outbox: Outbox,
        notify: NotifySettings,
        presence: PresenceSource | None = None,
        org: Callable[[], Organisation] | None = None,
    ) -> None:
        self.register = register
        self.outbox = outbox
        self.notify = notify
        self.presence = presence
        self.org = org or (lambda: register.org)

    async def new_messages(self, records: Iterable[PublicRecord], now: datetime) -> int:
        """Queue the owners' e-mails about these new records (already queued ones skipped)."""
        org = self.org()
        mails: list[Mail] = []
        for r in records:
            owner = org.directory.user(r.owner_id) if r.owner_id else None
            if owner is None or r.hidden_from_owner or r.first_heard_at is not None:
                continue
            mail = new_message_mail(r, owner, self.notify, org.timezone)
            if mail is not None:
                mails.append(mail)
        return await self.outbox.put(mails, now)

    async def run_once(self, now: datetime) -> int:
        """Every check once; how many e-mails were queued."""
        org = self.org()
        tz = org.timezone
        reg = self.register
        recent = [
            r
            for r in await reg.store.records(RecordFilter(unheard_only=True))
            if now - r.registered_at <= NEW_MESSAGE_WINDOW
        ]
        queued = await self.new_messages(recent, now)
        mails: list[Mail] = []
        for item in await reg.overdue(now):
            mails += overdue_mails(item, org.directory, self.notify, tz, now)
        local = now.astimezone(tz)
        working = policy.is_working_day(local.date(), org.working_hours, org.holidays)
        if working and local.time() >= self.notify.digest_at:
            queue = await reg.queue(now, limit=None)
            mails += digest_mails(
                queue, reg.settings.registrars, org.directory, self.notify, tz, now
            )
        if self.presence is not None:
            try:
                book = await self.presence(now)
            except Exception as exc:  # the calendars unavailable: the next round tries again
                log.warning("absence check skipped: calendars unavailable (%s)", exc)
            else:
                mails += absence_mails(org, reg.settings, book, self.notify, now)
        return queued + await self.outbox.put(mails, now)

    async def run(
        self,
        stop: asyncio.Event,
        interval_s: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`run_once` every `interval_s` until `stop` is set; never raises."""
        while not stop.is_set():
            try:
                await self.run_once(clock())
            except Exception as exc:
                log.error("voicemail owner checks failing: %s", exc, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)


class OwnerSide:
    """The owner side's background work for the leading node: the checks and the outbox."""

    def __init__(
        self,
        register: Register,
        notify: NotifySettings,
        presence: PresenceSource | None = None,
        org: Callable[[], Organisation] | None = None,
    ) -> None:
        self.outbox = Outbox(register.store)
        self.checks = OwnerChecks(register, self.outbox, notify, presence, org)
        self.notifier = Notifier(self.outbox, notify.smtp)

    async def taken(self, records: Sequence[PublicRecord], now: datetime) -> None:
        """After an intake pass: queue the owners' e-mails; never raises (the periodic check
        catches up on what could not be queued now)."""
        if not records:
            return
        try:
            if await self.checks.new_messages(records, now):
                self.notifier.kick()
        except Exception as exc:
            log.error("new-message e-mails not queued now (queued later): %s", exc)

    async def run(
        self,
        stop: asyncio.Event,
        clock: Callable[[], datetime],
        send_interval_s: float = 5.0,
        check_interval_s: float = 300.0,
    ) -> None:
        """Send the outbox and run the checks until `stop` is set."""
        await asyncio.gather(
            self.notifier.run(stop, send_interval_s, clock),
            self.checks.run(stop, check_interval_s, clock),
        )
