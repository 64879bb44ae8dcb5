"""Request parsing helpers: bounded JSON bodies and typed fields with stable errors."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web

from switchboard.web.errors import BadRecordId, BodyTooLarge, InvalidField, MalformedJson

E = TypeVar("E", bound=StrEnum)
# An internal record id, or a registration number like ALV-RÖST-2026-000042: nothing else,
# so no path separator or dot ever reaches the register or the audio store.
MIN_YEAR, MAX_YEAR = 2000, 2199  # times the service can compute with (and no-one needs beyond)
_RECORD_REF = re.compile(r"^(?:\d{1,12}|[A-ZÅÄÖ]{2,8}-[A-ZÅÄÖ]{2,12}-\d{4}-\d{1,9})$")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, at most `limit` bytes (BodyTooLarge beyond, whatever Content-Length says)."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    data = await request.content.read(limit + 1)
    if len(data) > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    return data


async def read_json(request: web.Request, limit: int) -> dict[str, object]:
    """A JSON object body; MalformedJson for anything else."""
    data = await read_body(request, limit)
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedJson("innehållet är inte giltig JSON") from exc
    if not isinstance(value, dict):
        raise MalformedJson("innehållet ska vara ett JSON-objekt")
    return value


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` is not storable text, or None: a lone surrogate (JSON "\\ud800") breaks
    every encoder after it, and a CR, LF or NUL in a one-line text would split an AMI frame or
    a log line (only a multi-line text, e.g. a note, may hold line breaks and tabs)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "ange vanlig text (den innehåller en ensam surrogat-kod som \\ud800)"
    allowed = "\t\n\r" if multiline else ""
    for ch in value:
        if (ord(ch) < 0x20 and ch not in allowed) or ord(ch) == 0x7F:
            if ch in "\r\n":
                return "skriv på en rad (utan radbrytningar)"
            return f"ta bort styrtecknet U+{ord(ch):04X}"
    return None


def text_field(
    data: Mapping[str, object],
    name: str,
    *,
    required: bool = False,
    max_len: int = 500,
    multiline: bool = False,
) -> str | None:
    """A string field, stripped; None when absent or empty and not required."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidField(name, "fyll i fältet")
        return None
    if not isinstance(value, str):
        raise InvalidField(name, "ange text")
    problem = text_problem(value, multiline=multiline)
    if problem is not None:
        raise InvalidField(name, problem)
    value = value.strip()
    if len(value) > max_len:
        raise InvalidField(name, f"högst {max_len} tecken")
    if required and not value:
        raise InvalidField(name, "fyll i fältet")
    return value or None


def bool_field(data: Mapping[str, object], name: str) -> bool | None:
    """A JSON boolean, or None when absent."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidField(name, "ange true eller false (ja eller nej)")
    return value


def enum_field(data: Mapping[str, object], name: str, kind: type[E], *, required: bool) -> E | None:
    """One of an enumeration's values."""
    value = text_field(data, name, required=required, max_len=64)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise InvalidField(name, f"välj ett av: {', '.join(k.value for k in kind)}") from None


def time_field(data: Mapping[str, object], name: str, tz: ZoneInfo) -> datetime | None:
    """ISO 8601 time; without an offset it is local time in the organisation's zone."""
    value = text_field(data, name, max_len=40)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(name, "ange en tid som 2026-11-24T14:30") from None
    # 9999-12-31T23:59:59 parses, but adding a day or a zone to it overflows
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise InvalidField(name, f"ange en tid mellan år {MIN_YEAR} och {MAX_YEAR}")
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def record_ref(text: str) -> str:
    """A record reference from a URL, checked before it goes anywhere."""
    if not _RECORD_REF.match(text):
        raise BadRecordId(f"{text[:40]!r} är inget meddelande-id eller diarienummer")
    return text


def date_query(request: web.Request, name: str) -> date | None:
    """A calendar date query parameter (YYYY-MM-DD), or None when absent."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidField(name, "ange ett datum som 2026-11-24") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise InvalidField(name, f"ange ett datum mellan {MIN_YEAR} och {MAX_YEAR}")
    return day


def int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter within [lo, hi]."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidField(name, "ange ett heltal") from None
    if not lo <= value <= hi:
        raise InvalidField(name, f"ange ett tal mellan {lo} och {hi}")
    return value
