"""Local servers on 127.0.0.1 speaking EWS SOAP, Microsoft Graph JSON and ICS over HTTP."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"


@dataclass(frozen=True, slots=True)
class Event:
    """One calendar event as a server holds it."""

    start: datetime
    end: datetime
    busy: str = "Busy"  # EWS spelling; the Graph server lower-cases the first letter
    subject: str = ""
    location: str = ""
    private: bool = False


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on 127.0.0.1 on a free port; yields the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------- EWS


def _ews_naive(value: datetime) -> str:
    # Exchange answers in the TimeZone of the request (UTC here), without an offset.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


_EWS_HEAD = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header>
    <h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" xmlns="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>
  </s:Header>
  <s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
    <GetUserAvailabilityResponse xmlns="http://schemas.microsoft.com/exchange/services/2006/messages">
      <FreeBusyResponseArray>
"""
_EWS_TAIL = """      </FreeBusyResponseArray>
    </GetUserAvailabilityResponse>
  </s:Body>
</s:Envelope>
"""
_WORKING_HOURS = """            <WorkingHours xmlns="http://schemas.microsoft.com/exchange/services/2006/types">
              <TimeZone>
                <Bias>-60</Bias>
                <StandardTime><Bias>0</Bias><Time>03:00:00</Time><DayOrder>5</DayOrder><Month>10</Month><DayOfWeek>Sunday</DayOfWeek></StandardTime>
                <DaylightTime><Bias>-60</Bias><Time>02:00:00</Time><DayOrder>5</DayOrder><Month>3</Month><DayOfWeek>Sunday</DayOfWeek></DaylightTime>
              </TimeZone>
              <WorkingPeriodArray>
                <WorkingPeriod>
                  <DayOfWeek>Monday Tuesday Wednesday Thursday Friday</DayOfWeek>
                  <StartTimeInMinutes>480</StartTimeInMinutes>
                  <EndTimeInMinutes>1020</EndTimeInMinutes>
                </WorkingPeriod>
              </WorkingPeriodArray>
            </WorkingHours>
"""


def _ews_event(ev: Event, n: int) -> str:
    return f"""              <CalendarEvent>
                <StartTime>{_ews_naive(ev.start)}</StartTime>
                <EndTime>{_ews_naive(ev.end)}</EndTime>
                <BusyType>{ev.busy}</BusyType>
                <CalendarEventDetails>
                  <ID>00000000{n:08X}</ID>
                  <Subject>{escape(ev.subject)}</Subject>
                  {f"<Location>{escape(ev.location)}</Location>" if ev.location else "<Location />"}
                  <IsMeeting>true</IsMeeting>
                  <IsRecurring>false</IsRecurring>
                  <IsException>false</IsException>
                  <IsReminderSet>true</IsReminderSet>
                  <IsPrivate>{"true" if ev.private else "false"}</IsPrivate>
                </CalendarEventDetails>
              </CalendarEvent>
"""


def _merged(events: list[Event], start: datetime, end: datetime, minutes: int) -> str:
    digits = []
    t = start
    code = {"Free": "0", "Tentative": "1", "Busy": "2", "OOF": "3", "WorkingElsewhere": "4"}
    while t < end:
        nxt = t.timestamp() + minutes * 60
        d = "0"
        for ev in events:
            if ev.start.timestamp() < nxt and ev.end.timestamp() > t.timestamp():
                d = max(d, code.get(ev.busy, "0"))
        digits.append(d)
        t = datetime.fromtimestamp(nxt, UTC)
    return "".join(digits)


def ews_free_busy_response(
    mailbox: str, events: list[Event], start: datetime, end: datetime, minutes: int
) -> str:
    """One FreeBusyResponse, DetailedMerged, as Exchange 2016 writes it."""
    body = "".join(_ews_event(ev, i) for i, ev in enumerate(events))
    array = (
        f'            <CalendarEventArray xmlns="{T_NS}">\n{body}            </CalendarEventArray>\n'
        if events
        else ""
    )
    return f"""        <FreeBusyResponse>
          <ResponseMessage ResponseClass="Success">
            <ResponseCode>NoError</ResponseCode>
          </ResponseMessage>
          <FreeBusyView>
            <FreeBusyViewType xmlns="{T_NS}">DetailedMerged</FreeBusyViewType>
            <MergedFreeBusy xmlns="{T_NS}">{_merged(events, start, end, minutes)}</MergedFreeBusy>
{array}{_WORKING_HOURS}          </FreeBusyView>
        </FreeBusyResponse>
"""


def ews_no_data_response(start: datetime, end: datetime, minutes: int) -> str:
    """A mailbox whose free/busy the server cannot read: merged digits all 4, no events."""
    n = int((end - start).total_seconds() // (minutes * 60))
    return f"""        <FreeBusyResponse>
          <ResponseMessage ResponseClass="Success">
            <ResponseCode>NoError</ResponseCode>
          </ResponseMessage>
          <FreeBusyView>
            <FreeBusyViewType xmlns="{T_NS}">MergedOnly</FreeBusyViewType>
            <MergedFreeBusy xmlns="{T_NS}">{"4" * n}</MergedFreeBusy>
          </FreeBusyView>
        </FreeBusyResponse>
"""


def ews_not_found_response(mailbox: str) -> str:
    """ErrorMailRecipientNotFound for one mailbox, cut from the captured fixture."""
    text = (
        FIXTURES / "ews" / "getuseravailability_response_error_mailrecipientnotfound.xml"
    ).read_text()
    start = text.index("<FreeBusyResponse>")
    end = text.index("</FreeBusyResponse>") + len("</FreeBusyResponse>")
    return text[start:end].replace("someone@ExServer.example.com", mailbox) + "\n"


def _find(root: ET.Element, path: str) -> str:
    """Text of the first `.//t:{path}` element, or ""."""
    elem = root.find(f".//{{{T_NS}}}{path}")
    return (elem.text or "") if elem is not None else ""


@dataclass
class EwsServer:
    """State of the local Exchange: calendars, scripted failures, and what was asked."""

    username: str = "svc-switchboard"
    password: str = "secret"
    calendars: dict[str, list[Event]] = field(default_factory=dict)
    no_data: set[str] = field(default_factory=set)
    not_found: set[str] = field(default_factory=set)
    fail_next: list[str] = field(default_factory=list)  # "500", "401", "busy" (SOAP fault)
    batches: list[list[str]] = field(default_factory=list)
    requests: int = 0
    raw_response: str | None = None  # serve this verbatim instead (fixture replay)
    # automatic replies: mailbox -> (OofState, start, end); absent = the documented Disabled
    oof: dict[str, tuple[str, datetime | None, datetime | None]] = field(default_factory=dict)
    oof_denied: set[str] = field(default_factory=set)  # answered with the documented fault
    oof_requests: int = 0

    def app(self) -> web.Application:
        """The aiohttp app answering POST /EWS/Exchange.asmx."""
        app = web.Application()
        app.router.add_post("/EWS/Exchange.asmx", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one SOAP request as Exchange would (`requests`, `fail_next`: availability)."""
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        body = await request.read()
        oof = b"GetUserOofSettingsRequest" in body
        self.requests += not oof
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="ews"'})
        if oof:
            return self.oof_settings(ET.fromstring(body))
        if self.fail_next:
            failure = self.fail_next.pop(0)
            if failure == "500":
                return web.Response(
                    status=500,
                    text="<html><body><h1>Server Error in '/EWS' Application.</h1></body></html>",
                    content_type="text/html",
                )
            if failure == "401":
                return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="ews"'})
            if failure == "busy":
                fault = (FIXTURES / "ews" / "fault_error_server_busy_backoff.xml").read_bytes()
                return web.Response(status=500, body=fault, content_type="text/xml")
        if self.raw_response is not None:
            return web.Response(text=self.raw_response, content_type="text/xml", charset="utf-8")
        root = ET.fromstring(body)
        mailboxes = [a.text or "" for a in root.iter(f"{{{T_NS}}}Address")]
        start = datetime.fromisoformat(_find(root, f"TimeWindow/{{{T_NS}}}StartTime"))
        end = datetime.fromisoformat(_find(root, f"TimeWindow/{{{T_NS}}}EndTime"))
        minutes = int(_find(root, "MergedFreeBusyIntervalInMinutes") or "30")
        self.batches.append(mailboxes)
        parts = []
        for m in mailboxes:
            if m in self.not_found:
                parts.append(ews_not_found_response(m))
            elif m in self.no_data:
                parts.append(ews_no_data_response(start, end, minutes))
            else:
                parts.append(
                    ews_free_busy_response(m, self.calendars.get(m, []), start, end, minutes)
                )
        text = _EWS_HEAD + "".join(parts) + _EWS_TAIL
        return web.Response(text=text, content_type="text/xml", charset="utf-8")

    def oof_settings(self, root: ET.Element) -> web.Response:
        """GetUserOofSettings, answered in the documented response shape."""
        self.oof_requests += 1
        mailbox = _find(root, "Address")
        if mailbox in self.oof_denied:
            fault = (FIXTURES / "ews" / "getuseroofsettings_fault_access_denied.xml").read_bytes()
            return web.Response(status=500, body=fault, content_type="text/xml")
        text = (FIXTURES / "ews" / "getuseroofsettings_response_disabled.xml").read_text()
        state, start, end = self.oof.get(mailbox, ("Disabled", None, None))
        text = text.replace("<OofState>Disabled</OofState>", f"<OofState>{state}</OofState>")
        if start is not None and end is not None:
            text = text.replace("2006-11-03T23:00:00", _ews_naive(start))
            text = text.replace("2006-11-04T23:00:00", _ews_naive(end))
        return web.Response(text=text, content_type="text/xml", charset="utf-8")


# ---------------------------------------------------------------- Microsoft Graph


@dataclass
class GraphServer:
    """State of the local Microsoft identity platform + Graph."""

    tenant: str = "contoso.onmicrosoft.com"
    client_id: str = "6731de76-14a6-49ae-97bc-6eba6914391e"
    client_secret: str = "sampleCredentia1s"
    expires_in: int = 3599
    calendars: dict[str, list[Event]] = field(default_factory=dict)
    not_found: set[str] = field(default_factory=set)
    throttle_next: int = 0
    fail_next: list[int] = field(default_factory=list)
    tokens_issued: int = 0
    revoked: set[str] = field(default_factory=set)
    batches: list[list[str]] = field(default_factory=list)
    raw_schedule: dict[str, object] | None = None
    # automatic replies: user -> (status, start, end); absent = disabled; status_code per user
    auto_replies: dict[str, tuple[str, datetime | None, datetime | None]] = field(
        default_factory=dict
    )
    auto_replies_denied: set[str] = field(default_factory=set)  # 403 inside the batch
    batches_posted: int = 0
    # change notifications: subscription id -> the subscription resource
    subscriptions: dict[str, dict[str, object]] = field(default_factory=dict)
    validated: list[str] = field(default_factory=list)  # URLs that passed the handshake
    renewed: list[str] = field(default_factory=list)  # subscription ids PATCHed
    deleted: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        """Token endpoint, getSchedule and JSON batching of automaticRepliesSetting."""
        app = web.Application()
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)
        app.router.add_post("/v1.0/users/{user}/calendar/getSchedule", self.get_schedule)
        app.router.add_post("/v1.0/$batch", self.batch)
        app.router.add_post("/v1.0/subscriptions", self.subscribe)
        app.router.add_patch("/v1.0/subscriptions/{id}", self.renew)
        app.router.add_delete("/v1.0/subscriptions/{id}", self.unsubscribe)
        return app

    async def _validate(self, url: str) -> bool:
        """Graph's handshake: POST ?validationToken=…, expect the token back within 10 s."""
        token = f"Validation: Testing client application reachability {len(self.validated)}"
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{url}?validationToken={quote(token)}",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as resp,
        ):
            ok = resp.status == 200 and await resp.text() == token
        if ok:
            self.validated.append(url)
        return ok

    async def subscribe(self, request: web.Request) -> web.Response:
        """POST /subscriptions: validates both URLs first, then 201 with the subscription."""
        doc = await request.json()
        for key in ("notificationUrl", "lifecycleNotificationUrl"):
            if key in doc and not await self._validate(str(doc[key])):
                error = {"code": "ValidationError", "message": f"{key} validation failed"}
                return web.json_response({"error": error}, status=400)
        sub_id = f"7f105c7d-2dc5-4530-97cd-{len(self.subscriptions) + len(self.deleted):012d}"
        sub = dict(doc, id=sub_id, applicationId=self.client_id, creatorId="8ee44408")
        sub["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity"
        self.subscriptions[sub_id] = sub
        return web.json_response(sub, status=201)

    async def renew(self, request: web.Request) -> web.Response:
        """PATCH /subscriptions/{id} with a new expirationDateTime."""
        sub = self.subscriptions.get(request.match_info["id"])
        if sub is None:
            return web.json_response({"error": {"code": "ResourceNotFound"}}, status=404)
        sub["expirationDateTime"] = (await request.json())["expirationDateTime"]
        self.renewed.append(str(sub["id"]))
        return web.json_response(sub)

    async def unsubscribe(self, request: web.Request) -> web.Response:
        """DELETE /subscriptions/{id}."""
        if self.subscriptions.pop(request.match_info["id"], None) is None:
            return web.Response(status=404)
        self.deleted.append(request.match_info["id"])
        return web.Response(status=204)

    def subscription_of(self, user: str) -> dict[str, object]:
        """The live subscription on a user's events."""
        return next(
            s
            for s in self.subscriptions.values()
            if str(s["resource"]).split("/")[2] == quote(user)
        )

    async def _post(self, url: str, doc: object) -> int:
        async with aiohttp.ClientSession() as session, session.post(url, json=doc) as resp:
            return resp.status

    async def change(self, user: str, events: list[Event], client_state: str | None = None) -> int:
        """Edit a user's calendar and deliver the change notification (documented shape)."""
        self.calendars[user] = events
        sub = self.subscription_of(user)
        doc = json.loads(
            (FIXTURES / "graph" / "change_notification_event_updated.json").read_text()
        )
        item = doc["value"][0]
        item["subscriptionId"] = sub["id"]
        item["subscriptionExpirationDateTime"] = sub["expirationDateTime"]
        item["clientState"] = sub["clientState"] if client_state is None else client_state
        item["resource"] = f"Users/{user}/Events/AAMkAGI2THVSAAA="
        return await self._post(str(sub["notificationUrl"]), doc)

    async def lifecycle(self, user: str, event: str) -> int:
        """Deliver a lifecycle notification for a user's subscription."""
        sub = self.subscription_of(user)
        doc = json.loads((FIXTURES / "graph" / "lifecycle_notification.json").read_text())
        item = doc["value"][0]
        item.update(subscriptionId=sub["id"], clientState=sub["clientState"], lifecycleEvent=event)
        if event == "subscriptionRemoved":
            self.subscriptions.pop(str(sub["id"]))
            self.deleted.append(str(sub["id"]))
        return await self._post(str(sub["lifecycleNotificationUrl"]), doc)

    async def batch(self, request: web.Request) -> web.Response:
        """JSON batching ($batch) of GET …/mailboxSettings/automaticRepliesSetting requests."""
        if not request.headers.get("Authorization", "").startswith("Bearer token-"):
            return web.json_response({"error": {"code": "InvalidAuthenticationToken"}}, status=401)
        self.batches_posted += 1
        doc = await request.json()
        assert len(doc["requests"]) <= 20
        template = json.loads(
            (FIXTURES / "graph" / "automaticrepliessetting_response.json").read_text()
        )
        answers = []
        for sub in doc["requests"]:
            user = unquote(sub["url"].split("/")[2])
            if user in self.auto_replies_denied:
                error = {"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}}
                answers.append({"id": sub["id"], "status": 403, "body": error})
                continue
            status, start, end = self.auto_replies.get(user, ("disabled", None, None))
            body = dict(template, status=status)
            for key, value in (("scheduledStartDateTime", start), ("scheduledEndDateTime", end)):
                if value is not None:
                    stamp = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000")
                    body[key] = {"dateTime": stamp, "timeZone": "UTC"}
            answers.append({"id": sub["id"], "status": 200, "body": body})
        return web.json_response({"responses": answers})

    async def token(self, request: web.Request) -> web.Response:
        """Client-credentials grant, answered like the documented token response."""
        form = await request.post()
        if (
            request.match_info["tenant"] != self.tenant
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
            or form.get("grant_type") != "client_credentials"
        ):
            return web.json_response(
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret.",
                },
                status=401,
            )
        self.tokens_issued += 1
        doc = json.loads(
            (FIXTURES / "graph" / "client_credentials_token_response.json").read_text()
        )
        doc["access_token"] = f"token-{self.tokens_issued}"
        doc["expires_in"] = doc["ext_expires_in"] = self.expires_in
        return web.json_response(doc)

    async def get_schedule(self, request: web.Request) -> web.Response:
        """getSchedule as documented: one scheduleInformation per requested schedule."""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer token-") or auth[7:] in self.revoked:
            return web.json_response(
                {
                    "error": {
                        "code": "InvalidAuthenticationToken",
                        "message": "Access token has expired.",
                    }
                },
                status=401,
            )
        if self.throttle_next:
            self.throttle_next -= 1
            body = (FIXTURES / "graph" / "throttling_429_response.json").read_text()
            return web.Response(
                status=429,
                text=body,
                content_type="application/json",
                headers={"Retry-After": "2.128"},
            )
        if self.fail_next:
            return web.Response(status=self.fail_next.pop(0), text="")
        if self.raw_schedule is not None:
            return web.json_response(self.raw_schedule)
        req = await request.json()
        schedules: list[str] = req["schedules"]
        self.batches.append(schedules)
        assert req["startTime"]["timeZone"] == "UTC"
        values = []
        for s in schedules:
            if s in self.not_found:
                values.append(
                    {
                        "scheduleId": s,
                        "availabilityView": "",
                        "error": {
                            "message": f"Unable to resolve {s}",
                            "responseCode": "ErrorMailRecipientNotFound",
                        },
                    }
                )
                continue
            items = []
            for ev in self.calendars.get(s, []):
                item: dict[str, object] = {
                    "isPrivate": ev.private,
                    "status": ev.busy[0].lower() + ev.busy[1:],
                    "start": {
                        "dateTime": ev.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
                        "timeZone": "UTC",
                    },
                    "end": {
                        "dateTime": ev.end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
                        "timeZone": "UTC",
                    },
                }
                if not ev.private:  # Graph leaves subject and location out of private items
                    item["subject"] = ev.subject
                    item["location"] = ev.location
                items.append(item)
            values.append({"scheduleId": s, "availabilityView": "0", "scheduleItems": items})
        return web.json_response(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)",
                "value": values,
            }
        )


# ---------------------------------------------------------------- ICS feeds


@dataclass
class FeedServer:
    """Published ICS feeds with ETag and Last-Modified; 304 for a matching validator."""

    feeds: dict[str, bytes] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    answered: list[int] = field(default_factory=list)

    def app(self) -> web.Application:
        """GET /feeds/{name}.ics."""
        app = web.Application()
        app.router.add_get("/feeds/{name}.ics", self.get)
        return app

    def put(self, name: str, body: bytes) -> None:
        """Publish a new version of a feed."""
        self.feeds[name] = body
        self.versions[name] = self.versions.get(name, 0) + 1

    async def get(self, request: web.Request) -> web.Response:
        """Conditional GET of a feed."""
        name = request.match_info["name"]
        if name not in self.feeds:
            self.answered.append(404)
            return web.Response(status=404)
        etag = f'"{name}-{self.versions[name]}"'
        if request.headers.get("If-None-Match") == etag:
            self.answered.append(304)
            return web.Response(status=304, headers={"ETag": etag})
        self.answered.append(200)
        return web.Response(
            body=self.feeds[name],
            content_type="text/calendar",
            charset="utf-8",
            headers={"ETag": etag, "Last-Modified": "Mon, 05 Jan 2026 07:00:00 GMT"},
        )


def ics(*events: Event) -> bytes:
    """A small Outlook-style calendar (CRLF, X-MICROSOFT-CDO-BUSYSTATUS) with these events."""
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN",
        "VERSION:2.0",
        "METHOD:PUBLISH",
    ]
    for i, ev in enumerate(events):
        lines += [
            "BEGIN:VEVENT",
            f"UID:040000008200E00074C5B7101A82E0080000000{i:04d}",
            f"DTSTAMP:{ev.start.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"DTSTART:{ev.start.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"DTEND:{ev.end.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:{ev.subject}",
            f"CLASS:{'PRIVATE' if ev.private else 'PUBLIC'}",
            f"X-MICROSOFT-CDO-BUSYSTATUS:{ev.busy.upper()}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()
