"""The local Exchange of servers.py, with streaming subscriptions (Subscribe, GetStreamingEvents).

Wire shapes follow Microsoft's EWS reference (Subscribe / GetStreamingEvents operation pages and
MS-OXWSNTIF): a streaming connection is one chunked HTTP response carrying one SOAP envelope per
notification batch, `ConnectionStatus OK` while open and `Closed` when the server ends it; an
unknown subscription is answered with `ErrorSubscriptionNotFound`.
"""

from __future__ import annotations

import asyncio
import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from tests.calendar_sync.servers import M_NS, T_NS, Event, EwsServer

_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
    '<h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" '
    'MinorBuildNumber="6" Version="V2017_07_11" '
    'xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" '
    'xmlns="http://schemas.microsoft.com/exchange/services/2006/types" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
    "</s:Header><s:Body>"
)
_TAIL = "</s:Body></s:Envelope>"
_NS = f'xmlns:m="{M_NS}" xmlns:t="{T_NS}"'


def _subscribe_response(subscription_id: str) -> str:
    return (
        f"{_HEAD}<m:SubscribeResponse {_NS}><m:ResponseMessages>"
        '<m:SubscribeResponseMessage ResponseClass="Success"><m:ResponseCode>NoError'
        f"</m:ResponseCode><m:SubscriptionId>{subscription_id}</m:SubscriptionId>"
        f"<m:Watermark>AQAAAA==</m:Watermark></m:SubscribeResponseMessage>"
        f"</m:ResponseMessages></m:SubscribeResponse>{_TAIL}"
    )


def _events_message(inner: str) -> str:
    return (
        f"{_HEAD}<m:GetStreamingEventsResponse {_NS}><m:ResponseMessages>"
        f'<m:GetStreamingEventsResponseMessage ResponseClass="Success">'
        f"<m:ResponseCode>NoError</m:ResponseCode>{inner}"
        f"</m:GetStreamingEventsResponseMessage></m:ResponseMessages>"
        f"</m:GetStreamingEventsResponse>{_TAIL}"
    )


def _notification(subscription_id: str, kind: str, n: int) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    item = (
        ""
        if kind == "StatusEvent"
        else (
            f'<t:ItemId Id="AAMkAD{n:08d}=" ChangeKey="DwAAAB{n:04d}"/>'
            '<t:ParentFolderId Id="AAMkADcal=" ChangeKey="AQAAAA=="/>'
        )
    )
    return (
        f"<m:Notifications><m:Notification><t:SubscriptionId>{subscription_id}"
        f"</t:SubscriptionId><t:{kind}><t:Watermark>AQAAA{n:04d}=</t:Watermark>"
        f"<t:TimeStamp>{stamp}</t:TimeStamp>{item}</t:{kind}></m:Notification>"
        "</m:Notifications>"
    )


_NOT_FOUND = (
    f"{_HEAD}<m:GetStreamingEventsResponse {_NS}><m:ResponseMessages>"
    '<m:GetStreamingEventsResponseMessage ResponseClass="Error">'
    "<m:MessageText>The specified subscription was not found.</m:MessageText>"
    "<m:ResponseCode>ErrorSubscriptionNotFound</m:ResponseCode><m:DescriptiveLinkKey>0"
    "</m:DescriptiveLinkKey></m:GetStreamingEventsResponseMessage></m:ResponseMessages>"
    f"</m:GetStreamingEventsResponse>{_TAIL}"
)


@dataclass
class _Stream:
    ids: list[str]
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


@dataclass
class EwsStreamingServer(EwsServer):
    """EwsServer plus streaming subscriptions; `change` edits a calendar and notifies."""

    subscriptions: dict[str, str] = field(default_factory=dict)  # id -> mailbox
    impersonated: list[str] = field(default_factory=list)  # ConnectingSID of each Subscribe
    streams: list[_Stream] = field(default_factory=list)
    opened: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        """POST /EWS/Exchange.asmx: streaming operations here, the rest as EwsServer."""
        app = web.Application()
        app.router.add_post("/EWS/Exchange.asmx", self.dispatch)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        self.close_streams()  # open connections end as at Exchange's connection timeout

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """Subscribe and GetStreamingEvents here; availability and OOF in EwsServer."""
        body = await request.read()
        if b"StreamingSubscriptionRequest" in body:
            return self.subscribe(ET.fromstring(body))
        if b"GetStreamingEvents" in body:
            return await self.stream(request, ET.fromstring(body))
        return await self.handle(_Replay(request, body))  # type: ignore[arg-type]

    def subscribe(self, root: ET.Element) -> web.Response:
        """One streaming subscription to a mailbox's calendar folder."""
        sid = root.find(f".//{{{T_NS}}}ConnectingSID/{{{T_NS}}}PrimarySmtpAddress")
        self.impersonated.append(sid.text or "" if sid is not None else "")
        folder = root.find(f".//{{{T_NS}}}DistinguishedFolderId")
        assert folder is not None and folder.get("Id") == "calendar"
        mailbox = folder.find(f"{{{T_NS}}}Mailbox/{{{T_NS}}}EmailAddress")
        assert mailbox is not None and mailbox.text
        subscription_id = f"JwBkYjVw{next(self._ids):06d}"
        self.subscriptions[subscription_id] = mailbox.text
        return web.Response(
            text=_subscribe_response(subscription_id), content_type="text/xml", charset="utf-8"
        )

    async def stream(self, request: web.Request, root: ET.Element) -> web.StreamResponse:
        """One streaming connection, open until `close_streams` (or the client leaves)."""
        ids = [e.text or "" for e in root.iter(f"{{{T_NS}}}SubscriptionId")]
        if not ids or any(i not in self.subscriptions for i in ids):
            return web.Response(text=_NOT_FOUND, content_type="text/xml", charset="utf-8")
        response = web.StreamResponse(headers={"Content-Type": "text/xml; charset=utf-8"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        stream = _Stream(ids)
        self.streams.append(stream)
        self.opened += 1
        try:
            await response.write(
                _events_message("<m:ConnectionStatus>OK</m:ConnectionStatus>").encode()
            )
            while (part := await stream.queue.get()) is not None:
                await response.write(part.encode())
            closed = _events_message("<m:ConnectionStatus>Closed</m:ConnectionStatus>")
            await response.write(closed.encode())
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.streams.remove(stream)
        return response

    def change(self, mailbox: str, events: list[Event], kind: str = "ModifiedEvent") -> int:
        """Replace a mailbox's calendar and notify every stream holding its subscription."""
        self.calendars[mailbox] = events
        return self.notify(mailbox, kind)

    def notify(self, mailbox: str, kind: str) -> int:
        """Send one notification of `kind` for `mailbox`; how many streams got it."""
        sent = 0
        for stream in self.streams:
            for sub_id in stream.ids:
                if self.subscriptions.get(sub_id) == mailbox:
                    n = next(self._ids)
                    stream.queue.put_nowait(_events_message(_notification(sub_id, kind, n)))
                    sent += 1
        return sent

    def close_streams(self, *, forget: bool = False) -> None:
        """End every open connection as Exchange does at its timeout (`forget`: and lose the
        subscriptions, as Exchange does ~30 min after the last connection)."""
        for stream in self.streams:
            stream.queue.put_nowait(None)
        if forget:
            self.subscriptions.clear()


class _Replay:
    """A request whose body was already read, for EwsServer.handle."""

    def __init__(self, request: web.Request, body: bytes) -> None:
        self.headers = request.headers
        self._body = body

    async def read(self) -> bytes:
        return self._body
