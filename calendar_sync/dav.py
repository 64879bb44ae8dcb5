"""CalDAV calendars (Google Workspace, Nextcloud, Radicale …) through the `caldav` client.

Each user's calendar is a CalDAV collection URL. A poll asks the collection for its sync-token
(RFC 6578) and CalendarServer ctag in one PROPFIND: unchanged, nothing more is fetched. Changed,
the objects changed since the last sync-token come back through a sync-collection REPORT (the
whole collection the first time, or when the server has no sync-token). The calendar's objects,
kept per href, are read as one iCalendar stream (several VCALENDARs) by the bounded readers, like
every other calendar. This is the only module that imports caldav; it is blocking (requests), so
it runs in threads behind a semaphore.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import caldav
from caldav.elements import dav
from caldav.elements.base import BaseElement
from caldav.lib import error as dav_error

from calendar_sync.errors import (
    CalendarAuthFailed,
    CalendarError,
    CalendarUnavailable,
    MailboxNotFound,
)
from calendar_sync.expander import Expander, FeedResult, Parser
from calendar_sync.sources import CalDavSettings
from calendar_sync.workers import CalendarReaders

log = logging.getLogger(__name__)

SOURCE = "caldav"


class _GetCTag(BaseElement):
    """CalendarServer's collection tag: changes whenever anything in the collection does."""

    tag: ClassVar[str] = "{http://calendarserver.org/ns/}getctag"


@dataclass(slots=True)
class _Collection:
    """What we hold of one collection: its change markers and its objects by href."""

    marker: tuple[str | None, str | None] | None = None  # (sync-token, ctag)
    synced: Any = None  # caldav's SynchronizableCalendarObjectCollection
    objects: dict[str, bytes] = field(default_factory=dict)


def translate_error(url: str, exc: BaseException) -> CalendarError:
    """A caldav / requests exception as a calendar-domain error."""
    if isinstance(exc, CalendarError):
        return exc
    if isinstance(exc, dav_error.AuthorizationError):
        return CalendarAuthFailed(SOURCE, f"{url}: credentials refused")
    if isinstance(exc, dav_error.NotFoundError):
        return MailboxNotFound(SOURCE, url, "no such calendar collection")
    reason = " ".join(str(exc).split())[:200] or type(exc).__name__
    return CalendarUnavailable(SOURCE, f"{url}: {type(exc).__name__}: {reason}")


class CalDavClient:
    """Polls CalDAV collections: a PROPFIND per collection, a sync REPORT only on change."""

    def __init__(
        self,
        settings: CalDavSettings,
        username: str,
        password: str,
        tz: ZoneInfo,
        *,
        readers: CalendarReaders | None = None,
        parser: Parser | None = None,
    ) -> None:
        self.settings = settings
        self._username = username
        self._password = password
        self._clients: dict[str, Any] = {}
        self._collections: dict[str, _Collection] = {}
        self._lock = threading.Lock()
        self._negotiating = threading.Lock()  # first polls of a server, until auth is known
        self._semaphore = asyncio.Semaphore(settings.poll.concurrency)
        self._expander = Expander(tz, parser, SOURCE, readers)
        self.deliver_late = self._expander.deliver_late
        self.settle = self._expander.settle
        self.reports = 0  # sync-collection REPORTs made (changes fetched), for tests
        self.propfinds = 0

    @property
    def parses(self) -> int:
        """How many times a calendar was read."""
        return self._expander.parses

    def _client(self, url: str) -> Any:
        """One DAVClient (HTTP session) per server."""
        base = "/".join(url.split("/", 3)[:3])
        with self._lock:
            client = self._clients.get(base)
            if client is None:
                client = caldav.DAVClient(
                    url=base,
                    username=self._username,
                    password=self._password,
                    timeout=max(1, round(self.settings.poll.timeout_s)),
                    ssl_verify_cert=self.settings.verify_tls,
                )
                self._clients[base] = client
            return client

    def _poll_sync(self, url: str) -> bytes | None:
        """The collection as one iCalendar stream, or None when its markers say unchanged."""
        client = self._client(url)
        if client.auth is None:
            # caldav negotiates the auth scheme on the first 401 and is not thread-safe while
            # doing so: a second thread's 401 then looks like refused credentials. The first
            # polls of a server go one at a time, until the scheme is known.
            with self._negotiating:
                return self._poll_collection(url, client)
        return self._poll_collection(url, client)

    def _poll_collection(self, url: str, client: Any) -> bytes | None:
        state = self._collections.setdefault(url, _Collection())
        calendar = caldav.Calendar(client=client, url=url)
        self.propfinds += 1
        props = calendar.get_properties([dav.SyncToken(), _GetCTag()])
        token, ctag = props.get(dav.SyncToken.tag), props.get(_GetCTag.tag)
        marker = (token, ctag)
        if state.marker is not None and marker == state.marker and any(marker):
            return None
        self.reports += 1
        synced = state.synced
        if synced is not None and token:
            try:
                updated, deleted = synced.sync()
            except (dav_error.AuthorizationError, dav_error.ReportError):
                # RFC 6578: a token the server no longer knows (Radicale forgets them after
                # 30 days, others after a restart) is refused with 403 valid-sync-token. The
                # collection is read whole and synchronisation starts again from its token.
                log.info("caldav %s: sync token refused; reading the collection whole", url)
                synced = None
            else:
                for obj in updated:
                    state.objects[str(obj.url.canonical())] = _data(obj)
                for obj in deleted:
                    state.objects.pop(str(obj.url.canonical()), None)
        if synced is None or not token:
            whole = calendar.objects_by_sync_token(load_objects=True)
            state.objects = {str(o.url.canonical()): _data(o) for o in whole}
            state.synced = whole if token else None
        state.marker = marker
        return b"".join(state.objects[href] for href in sorted(state.objects))

    async def _one(self, url: str, window_start: datetime, window_end: datetime) -> FeedResult:
        async with self._semaphore:
            try:
                body = await asyncio.to_thread(self._poll_sync, url)
            except Exception as exc:  # caldav's and requests' errors: this calendar only
                return translate_error(url, exc)
        if body is None:
            quick = self._expander.quick(url, window_end)
            if quick is not None:
                return quick
        elif not body:
            body = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"  # an empty collection: no events
        return await self._expander.expand(url, body, window_start, window_end)

    async def fetch(
        self, urls: Sequence[str], window_start: datetime, window_end: datetime
    ) -> dict[str, FeedResult]:
        """Blocks, UNCHANGED, PENDING or an error per collection; raises when all failed."""
        results = await asyncio.gather(*(self._one(u, window_start, window_end) for u in urls))
        out = dict(zip(urls, results, strict=True))
        failed = [r for r in results if isinstance(r, CalendarUnavailable)]
        if len(urls) > 1 and len(failed) == len(urls):
            raise failed[0]
        return out

    async def aclose(self) -> None:
        """Stop reads in progress and close the HTTP sessions."""
        await self._expander.aclose()
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await asyncio.to_thread(client.close)


def _data(obj: Any) -> bytes:
    data = obj.data
    return data.encode("utf-8") if isinstance(data, str) else bytes(data or b"")
