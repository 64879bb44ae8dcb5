"""Exchange Server on-premises through EWS GetUserAvailability (exchangelib, off the loop).

This is the only module that imports exchangelib; its error zoo is translated here into
`calendar_sync.errors`. EWS is for on-premises Exchange: Microsoft is switching it off in Exchange
Online (phased from October 2026, fully April 2027); use Graph there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from exchangelib import (
    BASIC,
    DELEGATE,
    NTLM,
    Account,
    Build,
    Configuration,
    Credentials,
    FailFast,
    Version,
)
from exchangelib.errors import (
    ErrorMailRecipientNotFound,
    ErrorServerBusy,
    EWSError,
    ResponseMessageError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.ewsdatetime import EWSDateTime, EWSTimeZone
from exchangelib.properties import (
    DaylightTime,
    FreeBusyView,
    FreeBusyViewOptions,
    Mailbox,
    MailboxData,
    StandardTime,
    TimeWindow,
    TimeZone,
)
from exchangelib.protocol import Protocol
from exchangelib.services import GetUserAvailability, GetUserOofSettings

from calendar_sync.autoreply import AutomaticReplies, AutoReplyCache
from calendar_sync.batches import fetch_in_batches
from calendar_sync.errors import (
    CalendarAuthFailed,
    CalendarError,
    CalendarUnavailable,
    MailboxNotFound,
)
from calendar_sync.offload import HelperDied, ProcessCalls
from calendar_sync.sources import ExchangeSettings
from calendar_sync.status import named_status
from routing.absence import BusyStatus, CalendarBlock

log = logging.getLogger(__name__)

SOURCE = "exchange"
MailboxResult = list[CalendarBlock] | CalendarError

# MergedFreeBusy digits. Microsoft's pages disagree on 4 (NoData in the GetUserAvailability
# reference, WorkingElsewhere in later schema notes); neither redirects, so 4 and anything
# unexpected become NO_DATA rather than guessing a status that might.
_MERGED = {
    "0": BusyStatus.FREE,
    "1": BusyStatus.TENTATIVE,
    "2": BusyStatus.BUSY,
    "3": BusyStatus.OOF,
}

_UTC_EWS = EWSTimeZone("UTC")


def _utc_availability_timezone() -> TimeZone:
    """UTC as the legacy availability TimeZone element: Exchange then answers in UTC."""
    # Both transitions are required by the schema; zero bias makes them no-ops.
    std = StandardTime(
        bias=0, time=datetime(2000, 1, 1).time(), occurrence=1, iso_month=1, weekday=7
    )
    dst = DaylightTime(
        bias=0, time=datetime(2000, 1, 1).time(), occurrence=1, iso_month=1, weekday=7
    )
    return TimeZone(bias=0, standard_time=std, daylight_time=dst)


class _GetUserAvailability(GetUserAvailability):  # type: ignore[misc]
    """GetUserAvailability that returns every per-mailbox error instead of raising it, so one
    unknown mailbox never loses the rest of the batch."""

    ERRORS_TO_CATCH_IN_RESPONSE = (ResponseMessageError, EWSError)


def blocks_from_view(
    view: Any, window_start: datetime, window_end: datetime, interval_min: int
) -> list[CalendarBlock]:
    """CalendarBlocks from one exchangelib FreeBusyView: events if present, else merged digits."""
    view_type = (getattr(view, "view_type", None) or "None").strip()
    events = getattr(view, "calendar_events", None) or []
    blocks: list[CalendarBlock] = []
    for ev in events:
        if ev.start is None or ev.end is None:
            continue
        details = ev.details
        private = bool(details is not None and details.is_private)
        subject = None if private or details is None else (details.subject or None)
        start = _utc(ev.start)
        end = _utc(ev.end)
        if end <= start:
            continue
        blocks.append(CalendarBlock(start, end, named_status(str(ev.busy_type)), subject, private))
    if not blocks and view_type in ("None", "") and not getattr(view, "merged", None):
        # Success without a view: the server has no free/busy for this mailbox.
        return [CalendarBlock(window_start, window_end, BusyStatus.NO_DATA)]
    if not blocks and getattr(view, "merged", None):
        blocks = blocks_from_merged(str(view.merged), window_start, window_end, interval_min)
    blocks.sort(key=lambda b: (b.start, b.end))
    return blocks


def blocks_from_merged(
    merged: str, window_start: datetime, window_end: datetime, interval_min: int
) -> list[CalendarBlock]:
    """Blocks from MergedFreeBusy digits, runs of one digit joined; free is left out."""
    step = timedelta(minutes=interval_min)
    blocks: list[CalendarBlock] = []
    run_status: BusyStatus | None = None
    run_start = window_start
    t = window_start
    for ch in merged.strip():
        status = _MERGED.get(ch, BusyStatus.NO_DATA)
        if status is not run_status:
            if run_status not in (None, BusyStatus.FREE):
                assert run_status is not None
                blocks.append(CalendarBlock(run_start, min(t, window_end), run_status))
            run_status, run_start = status, t
        t += step
    if run_status not in (None, BusyStatus.FREE) and run_start < window_end:
        assert run_status is not None
        blocks.append(CalendarBlock(run_start, min(t, window_end), run_status))
    return blocks


def _utc(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(aware.timestamp(), UTC)


def _retry_after(exc: BaseException) -> float | None:
    back_off = getattr(exc, "back_off", None)
    return float(back_off) if isinstance(back_off, int | float) and back_off > 0 else None


def translate_error(exc: BaseException) -> CalendarError:
    """An exchangelib (or requests) exception as a calendar-domain error."""
    if isinstance(exc, CalendarError):
        return exc
    if isinstance(exc, UnauthorizedError):
        return CalendarAuthFailed(SOURCE, f"credentials refused: {exc}")
    if isinstance(exc, ErrorServerBusy):
        return CalendarUnavailable(SOURCE, f"server busy: {exc}", _retry_after(exc))
    reason = " ".join(str(exc).split())[:300] or type(exc).__name__
    return CalendarUnavailable(SOURCE, f"{type(exc).__name__}: {reason}")


def _per_mailbox(mailbox: str, exc: BaseException) -> CalendarError:
    if isinstance(exc, ErrorMailRecipientNotFound):
        return MailboxNotFound(SOURCE, mailbox, "ErrorMailRecipientNotFound")
    code = type(exc).__name__
    return CalendarUnavailable(SOURCE, f"{mailbox}: {code}: {' '.join(str(exc).split())[:200]}")


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, UnauthorizedError):
        return False
    return isinstance(exc, TransportError | EWSError | OSError)


class EwsClient:
    """Free/busy for many mailboxes per GetUserAvailability, run in threads behind a semaphore."""

    def __init__(
        self, settings: ExchangeSettings, username: str, password: str, *, offload: bool = True
    ) -> None:
        self.settings = settings
        # exchangelib's XML work runs in a helper process (calendar_sync.offload), not in
        # threads of the service's process where it would hold the event loop's GIL.
        self._calls = (
            ProcessCalls(
                "calendar_sync.ews:helper_client",
                (settings, username, password),
                settings.poll.concurrency,
            )
            if offload
            else None
        )
        self._credentials = Credentials(username, password)
        self._protocol: Protocol | None = None
        self._config: Configuration | None = None
        self._lock = threading.Lock()
        self._semaphore = asyncio.Semaphore(settings.poll.concurrency)
        self.auto_replies = AutoReplyCache(settings.automatic_replies_interval_s)

    def _get_protocol(self) -> Protocol:
        """The one cached protocol (session pool) for this endpoint, made on first use."""
        with self._lock:
            if self._protocol is None:
                s = self.settings
                build = Build(*(int(p) for p in s.server_version.split(".")))
                config = Configuration(
                    service_endpoint=s.endpoint,
                    credentials=self._credentials,
                    auth_type=BASIC if s.auth == "basic" else NTLM,
                    version=Version(build=build),
                    # exchangelib's FaultTolerance may wait up to an hour and retries a 401;
                    # we fail fast and retry briefly ourselves (attempts, retry_delay).
                    retry_policy=FailFast(),
                    max_connections=s.poll.concurrency,
                )
                self._config = config
                self._protocol = Protocol(config=config)
            return self._protocol

    async def fetch(
        self, mailboxes: Sequence[str], window_start: datetime, window_end: datetime
    ) -> dict[str, MailboxResult]:
        """Blocks (or a per-mailbox error) for each mailbox, with its automatic-reply absence;
        raises when every batch failed."""
        results = await fetch_in_batches(
            mailboxes,
            self.settings.batch_size,
            lambda batch: self._batch(batch, window_start, window_end),
        )
        if not self.settings.automatic_replies:
            return results
        due = self.auto_replies.due(m for m, r in results.items() if isinstance(r, list))
        await asyncio.gather(*(self._read_auto_replies(m) for m in due))
        merge = self.auto_replies.merge
        return {
            m: merge(m, r, window_start, window_end) if isinstance(r, list) else r
            for m, r in results.items()
        }

    async def _read_auto_replies(self, mailbox: str) -> None:
        """GetUserOofSettings for one mailbox (EWS has no batch form of it), off the loop."""
        async with self._semaphore:
            try:
                if self._calls is None:
                    reading = await asyncio.to_thread(self._auto_replies_sync, mailbox)
                else:
                    reading = await self._calls.call("_auto_replies_sync", mailbox)
            except Exception as exc:  # exchangelib's error zoo: this setting only
                self.auto_replies.failed(SOURCE, mailbox, type(exc).__name__)
                return
        self.auto_replies.put(mailbox, reading)

    def _auto_replies_sync(self, mailbox: str) -> AutomaticReplies:
        self._get_protocol()
        account = Account(
            primary_smtp_address=mailbox,
            config=self._config,
            autodiscover=False,
            access_type=DELEGATE,
            default_timezone=_UTC_EWS,
        )
        service = GetUserOofSettings(account=account, timeout=self.settings.poll.timeout_s)
        oof = service.get(mailbox=Mailbox(email_address=mailbox))
        start = _utc(oof.start) if oof.start is not None else None
        end = _utc(oof.end) if oof.end is not None else None
        return AutomaticReplies.of(str(oof.state or ""), start, end)

    async def _batch(
        self, mailboxes: list[str], window_start: datetime, window_end: datetime
    ) -> dict[str, MailboxResult]:
        async with self._semaphore:
            if self._calls is None:
                return await asyncio.to_thread(
                    self._batch_sync, mailboxes, window_start, window_end
                )
            try:
                result: dict[str, MailboxResult] = await self._calls.call(
                    "_batch_sync", mailboxes, window_start, window_end
                )
            except HelperDied as exc:
                raise CalendarUnavailable(SOURCE, str(exc)) from exc
            return result

    def _batch_sync(
        self, mailboxes: list[str], window_start: datetime, window_end: datetime
    ) -> dict[str, MailboxResult]:
        attempts = max(1, self.settings.attempts)
        for attempt in range(1, attempts + 1):
            try:
                return self._call(mailboxes, window_start, window_end)
            except Exception as exc:
                error = translate_error(exc)
                retry_after = getattr(error, "retry_after", None)
                # exchangelib labels transient faults with its own 10 s back-off; a longer one
                # came from the server (BackOffMilliseconds) and is left to the coordinator.
                if attempt == attempts or not _transient(exc) or (retry_after or 0) > 10:
                    raise error from exc
                log.debug("exchange: retrying batch of %d after %s", len(mailboxes), error)
                time.sleep(self.settings.retry_delay_s * attempt)
        raise AssertionError("unreachable")

    def _call(
        self, mailboxes: list[str], window_start: datetime, window_end: datetime
    ) -> dict[str, MailboxResult]:
        protocol = self._get_protocol()
        service = _GetUserAvailability(protocol=protocol, timeout=self.settings.poll.timeout_s)
        interval = self.settings.merged_interval_min
        options = FreeBusyViewOptions(
            time_window=TimeWindow(
                start=EWSDateTime.from_datetime(window_start.astimezone(UTC)),
                end=EWSDateTime.from_datetime(window_end.astimezone(UTC)),
            ),
            merged_free_busy_interval=interval,
            requested_view="DetailedMerged",
        )
        views = list(
            service.call(
                tzinfo=_UTC_EWS,
                mailbox_data=[
                    MailboxData(email=m, attendee_type="Required", exclude_conflicts=False)
                    for m in mailboxes
                ],
                timezone=_utc_availability_timezone(),
                free_busy_view_options=options,
            )
        )
        if len(views) != len(mailboxes):
            raise CalendarUnavailable(
                SOURCE, f"{len(views)} FreeBusyResponse elements for {len(mailboxes)} mailboxes"
            )
        out: dict[str, MailboxResult] = {}
        for mailbox, view in zip(mailboxes, views, strict=True):
            if isinstance(view, BaseException):
                out[mailbox] = _per_mailbox(mailbox, view)
            elif isinstance(view, FreeBusyView):
                out[mailbox] = blocks_from_view(view, window_start, window_end, interval)
            else:
                out[mailbox] = CalendarUnavailable(SOURCE, f"{mailbox}: empty FreeBusyResponse")
        return out

    def close(self) -> None:
        """Close the endpoint's HTTP sessions (and the helper process)."""
        if self._calls is not None:
            self._calls.close()
        with self._lock:
            if self._protocol is not None:
                self._protocol.close()
                self._protocol = None
                # exchangelib caches protocols per endpoint + credentials; drop ours with it.
                with contextlib.suppress(KeyError):
                    del Protocol[self._config]


def helper_client(settings: ExchangeSettings, username: str, password: str) -> EwsClient:
    """The EwsClient living in the helper process (it does its work in its own threads)."""
    return EwsClient(settings, username, password, offload=False)
