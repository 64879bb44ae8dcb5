"""Exchange Online through Microsoft Graph: client-credentials token and calendar getSchedule."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from calendar_sync.autoreply import AutomaticReplies, AutoReplyCache
from calendar_sync.batches import fetch_in_batches
from calendar_sync.errors import (
    CalendarAuthFailed,
    CalendarError,
    CalendarParseError,
    CalendarUnavailable,
    MailboxNotFound,
)
from calendar_sync.sources import GraphSettings
from calendar_sync.status import named_status
from calendar_sync.zones import zone
from routing.absence import CalendarBlock

log = logging.getLogger(__name__)

SOURCE = "graph"
ScheduleResult = list[CalendarBlock] | CalendarError
Sleep = Callable[[float], Awaitable[None]]

_BATCH_MAX = 20  # requests per JSON batch (Graph's limit)
_NOT_FOUND_CODES = {"ErrorMailRecipientNotFound", "ErrorInvalidSmtpAddress", "ErrorItemNotFound"}


def _parse_time(value: Any, default_zone: str) -> datetime:
    """A dateTimeTimeZone object ({"dateTime", "timeZone"}) as an aware UTC datetime."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise ValueError(f"not a dateTimeTimeZone: {value!r}")
    # Graph writes seven fractional digits; Python 3.11's fromisoformat accepts them.
    parsed = datetime.fromisoformat(value["dateTime"])
    if parsed.tzinfo is None:
        # Graph answers in the zone asked for with `Prefer: outlook.timezone`; a server that
        # ignores it answers in the mailbox's zone, by its Windows name.
        parsed = parsed.replace(tzinfo=zone(str(value.get("timeZone") or default_zone)))
    return parsed.astimezone(UTC)


def blocks_from_schedule(info: dict[str, Any]) -> list[CalendarBlock]:
    """CalendarBlocks from one scheduleInformation; isPrivate hides the subject (HV-04)."""
    blocks: list[CalendarBlock] = []
    for item in info.get("scheduleItems") or []:
        if not isinstance(item, dict):
            continue
        start = _parse_time(item.get("start"), "UTC")
        end = _parse_time(item.get("end"), "UTC")
        if end <= start:
            continue
        private = bool(item.get("isPrivate"))
        subject = item.get("subject") if not private else None
        blocks.append(
            CalendarBlock(
                start,
                end,
                named_status(str(item.get("status") or "unknown")),
                subject if isinstance(subject, str) and subject else None,
                private,
            )
        )
    blocks.sort(key=lambda b: (b.start, b.end))
    return blocks


def auto_replies_from_graph(setting: dict[str, Any]) -> AutomaticReplies:
    """An automaticRepliesSetting resource ("status", "scheduledStart/EndDateTime")."""
    state = str(setting.get("status") or "disabled")
    start = end = None
    if state.lower() == "scheduled":
        start = _parse_time(setting.get("scheduledStartDateTime"), "UTC")
        end = _parse_time(setting.get("scheduledEndDateTime"), "UTC")
    return AutomaticReplies.of(state, start, end)


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class GraphClient:
    """getSchedule for up to 20 schedules a request, with token caching and polite retries."""

    def __init__(
        self,
        settings: GraphSettings,
        tenant: str,
        client_id: str,
        client_secret: str,
        session: aiohttp.ClientSession,
        *,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._tenant = tenant
        self._client_id = client_id
        self._client_secret = client_secret
        self._session = session
        self._sleep = sleep
        self._monotonic = monotonic
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self._semaphore = asyncio.Semaphore(settings.poll.concurrency)
        self.requests = 0  # getSchedule calls made, for the benchmark and tests
        self.auto_replies = AutoReplyCache(settings.automatic_replies_interval_s, monotonic)

    async def _get_token(self, force: bool = False) -> str:
        """A bearer token, fetched again `token_refresh_margin` before it expires."""
        async with self._token_lock:
            margin = self.settings.token_refresh_margin_s
            if not force and self._token and self._monotonic() < self._token_expires - margin:
                return self._token
            url = f"{self.settings.authority}/{quote(self._tenant)}/oauth2/v2.0/token"
            form = {
                "client_id": self._client_id,
                "scope": "https://graph.microsoft.com/.default",
                "client_secret": self._client_secret,
                "grant_type": "client_credentials",
            }
            timeout = aiohttp.ClientTimeout(total=self.settings.poll.timeout_s)
            try:
                async with self._session.post(url, data=form, timeout=timeout) as resp:
                    body = await resp.json(content_type=None)
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise CalendarUnavailable(SOURCE, f"token endpoint: {exc!r}") from exc
            if status in (400, 401) and isinstance(body, dict):
                raise CalendarAuthFailed(
                    SOURCE, f"token refused: {body.get('error')}: {body.get('error_description')}"
                )
            if status != 200 or not isinstance(body, dict) or "access_token" not in body:
                raise CalendarUnavailable(SOURCE, f"token endpoint answered HTTP {status}")
            now = self._monotonic()
            self._token = str(body["access_token"])
            self._token_expires = now + float(body.get("expires_in", 3599))
            return self._token

    async def fetch(
        self, schedules: Sequence[str], window_start: datetime, window_end: datetime
    ) -> dict[str, ScheduleResult]:
        """Blocks (or an error) per schedule id, with each user's automatic-reply absence;
        raises when every request failed."""
        results = await fetch_in_batches(
            schedules,
            self.settings.batch_size,
            lambda batch: self._batch(batch, window_start, window_end),
        )
        if not self.settings.automatic_replies:
            return results
        readable = [s for s, r in results.items() if isinstance(r, list)]
        due = self.auto_replies.due(readable)
        for i in range(0, len(due), _BATCH_MAX):
            await self._read_auto_replies(due[i : i + _BATCH_MAX])
        merge = self.auto_replies.merge
        return {
            s: merge(s, r, window_start, window_end) if isinstance(r, list) else r
            for s, r in results.items()
        }

    async def _read_auto_replies(self, users: list[str]) -> None:
        """automaticRepliesSetting of up to 20 users in one JSON batch request ($batch)."""
        url = f"{self.settings.base_url}/$batch"
        requests = [
            {
                "id": str(i),
                "method": "GET",
                "url": f"/users/{quote(u)}/mailboxSettings/automaticRepliesSetting",
            }
            for i, u in enumerate(users)
        ]
        timeout = aiohttp.ClientTimeout(total=self.settings.poll.timeout_s)
        try:
            token = await self._get_token()
            headers = {"Authorization": f"Bearer {token}", "Prefer": 'outlook.timezone="UTC"'}
            async with self._semaphore:
                self.requests += 1
                async with self._session.post(
                    url, json={"requests": requests}, headers=headers, timeout=timeout
                ) as resp:
                    status = resp.status
                    body = await resp.json(content_type=None) if status == 200 else None
        except (CalendarError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            for u in users:
                self.auto_replies.failed(SOURCE, u, f"$batch: {type(exc).__name__}")
            return
        answers = body.get("responses") if isinstance(body, dict) else None
        if not isinstance(answers, list):
            for u in users:
                self.auto_replies.failed(SOURCE, u, f"$batch answered HTTP {status}")
            return
        by_id = {str(a.get("id")): a for a in answers if isinstance(a, dict)}
        for i, user in enumerate(users):
            answer = by_id.get(str(i)) or {}
            if answer.get("status") != 200 or not isinstance(answer.get("body"), dict):
                self.auto_replies.failed(SOURCE, user, f"HTTP {answer.get('status')}")
                continue
            try:
                self.auto_replies.put(user, auto_replies_from_graph(answer["body"]))
            except ValueError as exc:
                self.auto_replies.failed(SOURCE, user, f"unreadable setting: {exc}")

    async def _batch(
        self, schedules: list[str], window_start: datetime, window_end: datetime
    ) -> dict[str, ScheduleResult]:
        async with self._semaphore:
            body = await self._post_schedule(schedules, window_start, window_end)
        values = body.get("value")
        if not isinstance(values, list):
            raise CalendarUnavailable(SOURCE, "getSchedule answer without a value array")
        out: dict[str, ScheduleResult] = {}
        by_id = {str(v.get("scheduleId", "")).lower(): v for v in values if isinstance(v, dict)}
        for schedule in schedules:
            info = by_id.get(schedule.lower())
            if info is None:
                out[schedule] = CalendarUnavailable(SOURCE, f"{schedule}: missing from the answer")
                continue
            error = info.get("error")
            if isinstance(error, dict):
                code = str(error.get("responseCode", ""))
                message = str(error.get("message", ""))
                if code in _NOT_FOUND_CODES:
                    out[schedule] = MailboxNotFound(SOURCE, schedule, f"{code}: {message}")
                else:
                    out[schedule] = CalendarUnavailable(SOURCE, f"{schedule}: {code}: {message}")
                continue
            try:
                out[schedule] = blocks_from_schedule(info)
            except ValueError as exc:  # this schedule's answer only; the others stand
                out[schedule] = CalendarParseError(SOURCE, f"{schedule}: {exc}")
        return out

    async def _post_schedule(
        self, schedules: list[str], window_start: datetime, window_end: datetime
    ) -> dict[str, Any]:
        caller = self.settings.schedule_user or schedules[0]
        url = f"{self.settings.base_url}/users/{quote(caller)}/calendar/getSchedule"
        payload = {
            "schedules": schedules,
            "startTime": {"dateTime": _naive_utc(window_start), "timeZone": "UTC"},
            "endTime": {"dateTime": _naive_utc(window_end), "timeZone": "UTC"},
            "availabilityViewInterval": self.settings.interval_view_min,
        }
        timeout = aiohttp.ClientTimeout(total=self.settings.poll.timeout_s)
        refreshed = False
        backoff = 1.0
        for attempt in range(self.settings.max_retries + 1):
            token = await self._get_token()
            headers = {
                "Authorization": f"Bearer {token}",
                "Prefer": 'outlook.timezone="UTC"',
            }
            try:
                self.requests += 1
                async with self._session.post(
                    url, json=payload, headers=headers, timeout=timeout
                ) as resp:
                    status = resp.status
                    wait = _retry_after(resp.headers)
                    body = await resp.json(content_type=None) if status == 200 else None
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise CalendarUnavailable(SOURCE, f"getSchedule: {exc!r}") from exc
            if status == 200 and isinstance(body, dict):
                return body
            if status == 401 and not refreshed:
                # The token may have been revoked or expired early: fetch a new one, once.
                refreshed = True
                await self._get_token(force=True)
                continue
            if status == 401 or status == 403:
                raise CalendarAuthFailed(SOURCE, f"getSchedule answered HTTP {status}")
            if status in (429, 503, 504):
                delay = wait if wait is not None else backoff
                backoff *= 2
                if attempt < self.settings.max_retries and delay <= self.settings.max_retry_wait_s:
                    log.debug("graph: HTTP %d, retrying after %.3f s", status, delay)
                    await self._sleep(delay)
                    continue
                raise CalendarUnavailable(SOURCE, f"getSchedule answered HTTP {status}", delay)
            raise CalendarUnavailable(SOURCE, f"getSchedule answered HTTP {status}")
        raise CalendarUnavailable(SOURCE, "getSchedule: retries exhausted")


def _naive_utc(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
