"""The organisation-level `calendar_sources:` section: endpoints, secret names, intervals, ages."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from calendar_sync.errors import CalendarCredentialsMissing
from calendar_sync.section_reader import SectionReader, mapping_at
from routing.models import User
from storage.problems import ConfigProblem

SECTION = "calendar_sources"


@dataclass(frozen=True, slots=True)
class Secret:
    """Where a secret comes from: an environment variable and/or a secret file (never the YAML)."""

    env: str | None = None
    file: str | None = None

    def resolve(self, source: str, environ: Mapping[str, str] | None = None) -> str:
        """The secret's value: the environment variable first, then the file; else an error."""
        environ = os.environ if environ is None else environ
        if self.env and environ.get(self.env):
            return environ[self.env]
        if self.file:
            try:
                value = Path(self.file).read_text(encoding="utf-8").strip()
            except OSError:
                value = ""
            if value:
                return value
        raise CalendarCredentialsMissing(source, self.env or self.file or "(none configured)")

    @property
    def configured(self) -> bool:
        """True when an environment variable or file is named."""
        return bool(self.env or self.file)


@dataclass(frozen=True, slots=True)
class PollSettings:
    """What every polled source has: interval, jitter share, max data age, backoff ceiling."""

    interval_s: float
    max_age_s: float
    jitter: float = 0.1  # share of the interval, e.g. 0.1 = ±10 %
    max_backoff_s: float = 600.0
    timeout_s: float = 30.0
    concurrency: int = 4


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    """Exchange Server on-premises through EWS (GetUserAvailability)."""

    endpoint: str
    username: Secret
    password: Secret
    auth: Literal["ntlm", "basic"] = "ntlm"
    server_version: str = "15.1"  # Exchange 2016; avoids exchangelib's version guessing requests
    batch_size: int = 100
    merged_interval_min: int = 30
    attempts: int = 2  # explicit short retry policy: tries per batch on transient errors
    retry_delay_s: float = 1.0
    verify_tls: bool = True
    automatic_replies: bool = True  # GetUserOofSettings: a scheduled OOF is an absence
    automatic_replies_interval_s: float = 300.0
    poll: PollSettings = PollSettings(interval_s=60.0, max_age_s=900.0)
    # EWS streaming notifications (needs ApplicationImpersonation); polling stays the safety net
    streaming: bool = True
    streaming_connection_timeout_min: int = 30


@dataclass(frozen=True, slots=True)
class GraphNotifySettings:
    """Graph change notifications: the HTTPS URL Graph posts to (a reverse proxy in front of
    `listen_host:listen_port`), the clientState secret, subscription lifetime and renewal."""

    public_url: str
    client_state: Secret
    listen_host: str = "127.0.0.1"
    listen_port: int = 8444
    expiration_s: float = 3 * 86400.0
    renew_before_s: float = 6 * 3600.0
    recheck_s: float = 2.0


@dataclass(frozen=True, slots=True)
class GraphSettings:
    """Exchange Online through Microsoft Graph (client credentials, getSchedule)."""

    tenant: Secret
    client_id: Secret
    client_secret: Secret
    authority: str = "https://login.microsoftonline.com"
    base_url: str = "https://graph.microsoft.com/v1.0"
    schedule_user: str | None = None  # whose /users/{id}/calendar/getSchedule is called
    batch_size: int = 20
    interval_view_min: int = 15
    max_retries: int = 3
    max_retry_wait_s: float = 30.0
    token_refresh_margin_s: float = 300.0
    automatic_replies: bool = True  # mailboxSettings/automaticRepliesSetting (MailboxSettings.Read)
    automatic_replies_interval_s: float = 300.0
    notifications: GraphNotifySettings | None = None  # push; polling stays the safety net
    poll: PollSettings = PollSettings(interval_s=60.0, max_age_s=900.0)


_CALDAV_POLL = PollSettings(interval_s=30.0, max_age_s=900.0, concurrency=8)


@dataclass(frozen=True, slots=True)
class CalDavSettings:
    """CalDAV servers (Google Workspace, Nextcloud …): one account that may read the
    collections named in users' `calendar: {caldav: URL}`."""

    username: Secret
    password: Secret
    verify_tls: bool = True
    poll: PollSettings = _CALDAV_POLL


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """Published ICS feeds over HTTP(S)."""

    max_bytes: int = 5_000_000
    poll: PollSettings = PollSettings(
        interval_s=30.0, max_age_s=900.0, timeout_s=20.0, concurrency=16
    )


@dataclass(frozen=True, slots=True)
class FileSettings:
    """Local ICS files, watched by mtime/size polling."""

    poll: PollSettings = PollSettings(interval_s=0.5, max_age_s=900.0, jitter=0.0)


@dataclass(frozen=True, slots=True)
class CalendarSourcesSettings:
    """The whole `calendar_sources:` section, typed, with defaults for what is left out."""

    exchange: ExchangeSettings | None = None
    graph: GraphSettings | None = None
    caldav: CalDavSettings | None = None
    ics_url: FeedSettings = field(default_factory=FeedSettings)
    ics: FileSettings = field(default_factory=FileSettings)
    window_before_s: float = 3600.0
    window_after_s: float = 8 * 86400.0


_POLL_KEYS = {"interval", "max_age", "jitter", "max_backoff", "timeout", "concurrency"}


class _Reader(SectionReader):
    """A SectionReader that also reads secret names and poll settings."""

    def secret(self, key: str, required: bool = True) -> Secret:
        env = self.env_name(f"{key}_env")
        file = self.text(f"{key}_file")
        if required and not env and not file:
            self.problem(f"{key}_env", f"required (or {key}_file): name of the variable holding it")
        return Secret(env, file)

    def poll(self, default: PollSettings) -> PollSettings:
        return PollSettings(
            interval_s=self.duration("interval", default.interval_s, minimum=0.1),
            max_age_s=self.duration("max_age", default.max_age_s, minimum=1.0),
            jitter=self.number("jitter", default.jitter, 0.0, 0.5),
            max_backoff_s=self.duration("max_backoff", default.max_backoff_s, minimum=1.0),
            timeout_s=self.duration("timeout", default.timeout_s, minimum=0.1),
            concurrency=self.integer("concurrency", default.concurrency, 1, 64),
        )


def _exchange(raw: Mapping[str, object], problems: list[ConfigProblem]) -> ExchangeSettings | None:
    r = _Reader(raw, "exchange", problems)
    r.check_keys(
        {"endpoint", "auth", "server_version", "batch_size", "merged_interval", "attempts"}
        | {"retry_delay", "verify_tls", "username_env", "username_file", "password_env"}
        | {"password_file", "automatic_replies", "automatic_replies_interval"}
        | {"streaming", "streaming_connection_timeout"}
        | _POLL_KEYS
    )
    before = len(problems)
    endpoint = r.url("endpoint", required=True)
    auth = r.text("auth", "ntlm")
    if auth not in ("ntlm", "basic"):
        r.problem("auth", f"must be ntlm or basic, not {auth!r}")
        auth = "ntlm"
    version = r.text("server_version", "15.1") or "15.1"
    if not re.fullmatch(r"\d+\.\d+(\.\d+){0,2}", version):
        r.problem("server_version", f"must look like 15.1 (Exchange build), not {version!r}")
    settings = ExchangeSettings(
        endpoint=endpoint or "",
        username=r.secret("username"),
        password=r.secret("password"),
        auth="basic" if auth == "basic" else "ntlm",
        server_version=version,
        batch_size=r.integer("batch_size", 100, 1, 100),
        merged_interval_min=r.integer("merged_interval", 30, 5, 1440),
        attempts=r.integer("attempts", 2, 1, 5),
        retry_delay_s=r.duration("retry_delay", 1.0),
        verify_tls=r.boolean("verify_tls", True),
        automatic_replies=r.boolean("automatic_replies", True),
        automatic_replies_interval_s=r.duration("automatic_replies_interval", 300.0, minimum=10.0),
        streaming=r.boolean("streaming", True),
        streaming_connection_timeout_min=min(
            30, round(r.duration("streaming_connection_timeout", 1800.0, minimum=60.0) / 60)
        ),  # Exchange keeps a streaming connection open 1–30 minutes
        poll=r.poll(PollSettings(interval_s=60.0, max_age_s=900.0)),
    )
    return settings if len(problems) == before else None


def _graph(raw: Mapping[str, object], problems: list[ConfigProblem]) -> GraphSettings | None:
    r = _Reader(raw, "graph", problems)
    r.check_keys(
        {"authority", "base_url", "schedule_user", "batch_size", "availability_view_interval"}
        | {"max_retries", "max_retry_wait", "token_refresh_margin"}
        | {"automatic_replies", "automatic_replies_interval", "notifications"}
        | {f"{k}_{s}" for k in ("tenant", "client_id", "client_secret") for s in ("env", "file")}
        | _POLL_KEYS
    )
    before = len(problems)
    settings = GraphSettings(
        tenant=r.secret("tenant"),
        client_id=r.secret("client_id"),
        client_secret=r.secret("client_secret"),
        authority=r.url("authority", "https://login.microsoftonline.com") or "",
        base_url=r.url("base_url", "https://graph.microsoft.com/v1.0") or "",
        schedule_user=r.text("schedule_user"),
        batch_size=r.integer("batch_size", 20, 1, 20),
        interval_view_min=r.integer("availability_view_interval", 15, 5, 1440),
        max_retries=r.integer("max_retries", 3, 0, 10),
        max_retry_wait_s=r.duration("max_retry_wait", 30.0),
        token_refresh_margin_s=r.duration("token_refresh_margin", 300.0),
        automatic_replies=r.boolean("automatic_replies", True),
        automatic_replies_interval_s=r.duration("automatic_replies_interval", 300.0, minimum=10.0),
        notifications=_notifications(raw.get("notifications"), problems),
        poll=r.poll(PollSettings(interval_s=60.0, max_age_s=900.0)),
    )
    return settings if len(problems) == before else None


def _notifications(raw: object, problems: list[ConfigProblem]) -> GraphNotifySettings | None:
    sub = mapping_at(raw, "graph.notifications", problems)
    if sub is None:
        return None
    r = _Reader(sub, "graph.notifications", problems)
    r.check_keys(
        {"public_url", "listen", "client_state_env", "client_state_file"}
        | {"expiration", "renew_before", "recheck"}
    )
    public = r.text("public_url", required=True) or ""
    if public and not public.startswith("https://"):
        r.problem("public_url", f"Graph posts only to https:// addresses, not {public!r}")
    host, port = "127.0.0.1", 8444
    listen = r.text("listen")
    if listen is not None:
        h, _, p = listen.rpartition(":")
        if not h or not p.isdigit() or not 0 < int(p) < 65536:
            r.problem("listen", f"must be host:port, e.g. 127.0.0.1:8444, not {listen!r}")
        else:
            host, port = h, int(p)
    return GraphNotifySettings(
        public_url=public,
        client_state=r.secret("client_state"),
        listen_host=host,
        listen_port=port,
        expiration_s=r.duration("expiration", 3 * 86400.0, minimum=600.0),
        renew_before_s=r.duration("renew_before", 6 * 3600.0, minimum=60.0),
        recheck_s=r.duration("recheck", 2.0),
    )


def parse_calendar_sources(
    raw: object,
) -> tuple[CalendarSourcesSettings, list[ConfigProblem]]:
    """Typed settings from the raw `calendar_sources:` section, and every problem found in it.

    Problem paths are relative to the section (`exchange.endpoint`); "" is the section itself.
    """
    problems: list[ConfigProblem] = []
    section = mapping_at(raw, "", problems)
    if section is None:
        return CalendarSourcesSettings(), problems
    top = _Reader(section, "", problems)
    top.check_keys(
        {"exchange", "graph", "caldav", "ics_url", "ics", "window_before", "window_after"}
    )
    exchange = graph = None
    dav: CalDavSettings | None = None
    if (sub := mapping_at(section.get("caldav"), "caldav", problems)) is not None:
        r = _Reader(sub, "caldav", problems)
        r.check_keys(
            {"username_env", "username_file", "password_env", "password_file"}
            | {"verify_tls"}
            | _POLL_KEYS
        )
        before = len(problems)
        dav = CalDavSettings(
            username=r.secret("username"),
            password=r.secret("password"),
            verify_tls=r.boolean("verify_tls", True),
            poll=r.poll(_CALDAV_POLL),
        )
        dav = dav if len(problems) == before else None
    if (sub := mapping_at(section.get("exchange"), "exchange", problems)) is not None:
        exchange = _exchange(sub, problems)
    if (sub := mapping_at(section.get("graph"), "graph", problems)) is not None:
        graph = _graph(sub, problems)
    feeds = FeedSettings()
    if (sub := mapping_at(section.get("ics_url"), "ics_url", problems)) is not None:
        r = _Reader(sub, "ics_url", problems)
        r.check_keys({"max_bytes"} | _POLL_KEYS)
        feeds = FeedSettings(
            max_bytes=r.integer("max_bytes", feeds.max_bytes, 1024, 200_000_000),
            poll=r.poll(feeds.poll),
        )
    files = FileSettings()
    if (sub := mapping_at(section.get("ics"), "ics", problems)) is not None:
        r = _Reader(sub, "ics", problems)
        r.check_keys(_POLL_KEYS)
        files = FileSettings(poll=r.poll(files.poll))
    settings = CalendarSourcesSettings(
        exchange=exchange,
        graph=graph,
        caldav=dav,
        ics_url=feeds,
        ics=files,
        window_before_s=top.duration("window_before", 3600.0),
        window_after_s=top.duration("window_after", 8 * 86400.0, minimum=3600.0),
    )
    return settings, problems


def check_user_calendars(
    settings: CalendarSourcesSettings, users: Sequence[User]
) -> list[ConfigProblem]:
    """Problems where a user's `calendar:` needs a source the section does not configure."""
    problems: list[ConfigProblem] = []
    for i, user in enumerate(users):
        ref = user.calendar
        if ref is None:
            continue
        if ref.kind == "exchange" and settings.exchange is None:
            problems.append(
                ConfigProblem(
                    f"users[{i}].calendar",
                    f"exchange mailbox {ref.location!r} but {SECTION}.exchange is not configured",
                )
            )
        elif ref.kind == "graph" and settings.graph is None:
            problems.append(
                ConfigProblem(
                    f"users[{i}].calendar",
                    f"graph user {ref.location!r} but {SECTION}.graph is not configured",
                )
            )
    return problems
