"""The format of one app_voicemail message: `msgNNNN.txt` read and written, its audio checked.

`parse_message` is pure (bytes in, `SpoolMessage` out) and bounded: whatever the bytes, it
returns a message whose values every later step can hold, or raises `SpoolFormatError`.
`message_txt` writes the text file as Asterisk 22 does (the simulated platforms use it), so
what is written and what is read are one format. `audio_problem` tells a recording cut short
from a whole one. Finding the files in the spool is `voicemail.spool`.
"""

from __future__ import annotations

import configparser
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from voicemail.errors import SpoolFormatError
from voicemail.models import CallerId, SpoolMessage

_MSG_ID = re.compile(r"[0-9A-Za-z._-]{1,64}")
# ASCII digits only: str.isdigit() also accepts "³" and "٣", which int() then refuses.
_DIGITS = re.compile(r"[0-9]+")

# A real msgNNNN.txt is a few hundred bytes; anything this large is not one.
MAX_TXT_BYTES = 64 * 1024
# app_voicemail's keys are single words (`origmailbox`, `callerchan` …).
MAX_KEY_CHARS = 64
# origtime before the year 9999 (UTC), so that the arrival converts to a date in every zone.
MAX_ORIGTIME = 253_370_764_800
# app_voicemail's maxmessage is at most an hour or so; a day is far beyond any recording.
MAX_DURATION_S = 86_400
# Seconds the audio may fall short of `duration`: app_voicemail counts whole seconds and trims
# trailing silence after counting, so a complete recording can be up to a second shorter.
DURATION_SLACK_S = 1.0
# Bytes per second of the headerless formats app_voicemail writes (8 kHz narrow band).
RAW_BYTES_PER_S: dict[str, int] = {
    "gsm": 1650,  # 33-byte frames, 50 per second
    "ulaw": 8000,
    "alaw": 8000,
    "sln": 16000,
    "g722": 8000,
    "g729": 1000,
}
WAV_FORMATS = frozenset({"wav", "WAV", "wav16"})
HEADER_BYTES = 64 * 1024  # how much of a WAV file is read to find its data chunk


def decode_text(data: bytes) -> str:
    """Spool text as UTF-8 (voicemail.conf charset); Latin-1 if a caller name is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # A PBX trunk may hand over an ISO-8859-1 name; refusing the message would lose a record.
        return data.decode("latin-1")


_NUMBER = re.compile(r"\+?[\d\s()-]+")


def parse_callerid(raw: str) -> CallerId:
    """Split app_voicemail's callerid (`"Örjan Öst" <0701234567>`, `<070…>`, `070…`, `Unknown`).

    Plain string operations, linear in the length (a regular expression with a lazy name
    before `\\s*<` took seconds on a hostile name of spaces).
    """
    text = raw.strip()
    lt = text.rfind("<")
    inside = text[lt + 1 : -1] if text.endswith(">") else text[lt + 1 :]
    if lt >= 0 and ">" not in inside and (text.endswith(">") or _NUMBER.fullmatch(inside.strip())):
        # `"Name" <number>`, and the damaged forms `"Name <number>` / `Name <number` (an
        # unbalanced quote or a lost `>` keeps the number)
        number = inside.strip()
        before = text[:lt].strip()
        if len(before) >= 2 and before[0] == before[-1] == '"':
            name = before[1:-1].replace('\\"', '"')
        else:
            name = before.strip('"')
        return CallerId(raw, name.strip() or None, number or None)
    if text and _NUMBER.fullmatch(text):
        return CallerId(raw, None, text)
    # Asterisk writes "Unknown" (or a bare name) when the network gave no number.
    return CallerId(raw, text or None if text.lower() not in ("", "unknown") else None, None)


def parse_message(data: bytes) -> SpoolMessage:
    """Parse a `msgNNNN.txt`; raise SpoolFormatError with a reason when it is not one.

    A message without `duration` parses (`duration_s` None): app_voicemail writes that line
    last, so intake treats such a file as not yet complete.
    """
    if len(data) > MAX_TXT_BYTES:
        raise SpoolFormatError(f"{len(data)} bytes: a message file is a few hundred")
    if b"\0" in data:
        raise SpoolFormatError("NUL bytes in the file: not a text file app_voicemail wrote")
    text = decode_text(data)
    fields = _plain_fields(text)
    if fields is None:
        fields = _read_fields(text)
    values = dict(fields)
    origtime_text = values.get("origtime", "")
    if not origtime_text:
        raise SpoolFormatError("origtime missing: the arrival time is unknown")
    if not _DIGITS.fullmatch(origtime_text):
        raise SpoolFormatError(f"origtime {origtime_text[:40]!r} is not epoch seconds")
    # length first: int() of thousands of digits is slow, and refused beyond 4,300
    if len(origtime_text) > 15 or int(origtime_text) >= MAX_ORIGTIME:
        raise SpoolFormatError(f"origtime {origtime_text[:40]} is not a time before the year 9999")
    duration_text = values.get("duration", "")
    duration: int | None = None
    if duration_text:
        if not _DIGITS.fullmatch(duration_text):
            raise SpoolFormatError(f"duration {duration_text[:40]!r} is not whole seconds")
        if len(duration_text) > 9 or int(duration_text) > MAX_DURATION_S:
            raise SpoolFormatError(f"duration {duration_text[:40]} s is longer than a day")
        duration = int(duration_text)
    msg_id = values.get("msg_id") or None
    if msg_id is not None and not _MSG_ID.fullmatch(msg_id):
        raise SpoolFormatError(f"msg_id {msg_id[:80]!r} is not an app_voicemail message id")
    return SpoolMessage(
        fields=fields,
        origtime=int(origtime_text),
        callerid=parse_callerid(values.get("callerid", "")),
        duration_s=duration,
        msg_id=msg_id,
        origmailbox=values.get("origmailbox") or None,
        context=values.get("context") or None,
        exten=values.get("exten") or None,
    )


# Line breaks other than LF: `_screen_lines` (str.splitlines) breaks lines at them,
# configparser does not. A file holding one is read the reference way, `_read_fields`.
_OTHER_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _plain_fields(text: str) -> tuple[tuple[str, str], ...] | None:
    """The `[message]` keys and values of a file in app_voicemail's own shape, read line by
    line; None when the file is anything else, for `_read_fields` to read (or refuse).

    The shape (what app_voicemail writes; `_screen_lines` passes every such file): LF line
    breaks; lines blank, comments (`;`, `#`), one `[message]` header, or `key=value` after
    it; no line indented (configparser would continue the value above); each key once and at
    most MAX_KEY_CHARS long. The values are exactly configparser's: the key is what comes
    before the first `=`, both sides stripped. A section other than `[message]` (`[DEFAULT]`
    gives its values to every section), a duplicate key or header, a key before the header,
    an indented line or an empty key all go to `_read_fields`, so odd files get configparser's
    values and configparser's reasons.
    """
    if _OTHER_BREAKS.search(text):
        return None
    fields: dict[str, str] = {}
    in_section = False
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            continue
        if line[0].isspace():
            return None
        if stripped == "[message]" and not in_section:
            in_section = True
            continue
        if not in_section or stripped[0] == "[":
            return None
        key, sep, value = stripped.partition("=")
        if not sep or len(key) > MAX_KEY_CHARS:
            return None
        key = key.rstrip()
        if not key or key in fields:
            return None
        fields[key] = value.strip()
    return tuple(fields.items()) if in_section else None


def _read_fields(text: str) -> tuple[tuple[str, str], ...]:
    """The `[message]` section's keys and values as configparser reads them (screened first:
    see `_screen_lines`); SpoolFormatError when it cannot be read."""
    _screen_lines(text)
    parser = configparser.ConfigParser(
        interpolation=None,
        delimiters=("=",),
        comment_prefixes=(";", "#"),
        inline_comment_prefixes=None,
        strict=True,
        empty_lines_in_values=False,
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.MissingSectionHeaderError:
        raise SpoolFormatError("no [message] section header before the first key") from None
    except configparser.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpoolFormatError(f"not an app_voicemail message file: {first[:200]}") from None
    if not parser.has_section("message"):
        raise SpoolFormatError("no [message] section")
    return tuple((key, value.strip()) for key, value in parser["message"].items())


def _screen_lines(text: str) -> None:
    """Refuse what configparser's line patterns would take quadratic time over: a line that
    is neither comment, section header nor `key=value`, a header without `]`, a long key.
    (Its `(?P<option>.*?)\\s*(?P<vi>=)` backtracks over every run of blanks: a 32 kB line
    of them took 21 s.) app_voicemail writes no continuation lines, so indented ones are held
    to the same shape."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            continue
        if stripped[0] == "[":
            if "]" not in stripped:
                raise SpoolFormatError(f"line {number}: a section header without ]")
            continue
        key, sep, _ = stripped.partition("=")
        if not sep:
            raise SpoolFormatError(f"line {number}: not key=value")
        if len(key) > MAX_KEY_CHARS:
            raise SpoolFormatError(f"line {number}: a key of {len(key)} characters")


@dataclass(frozen=True, slots=True)
class WavInfo:
    """Where a RIFF/WAVE file's audio is and how fast it plays."""

    byte_rate: int  # average bytes per second (fmt chunk)
    data_offset: int
    data_size: int  # as the header declares it


def parse_wav_header(header: bytes) -> WavInfo | str:
    """The fmt and data chunks of a WAV file's first bytes, or what is wrong with them."""
    if len(header) < 12:
        return "shorter than a WAV header"
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return "not a RIFF/WAVE file"
    pos = 12
    byte_rate: int | None = None
    while pos + 8 <= len(header):
        chunk, size = header[pos : pos + 4], struct.unpack_from("<I", header, pos + 4)[0]
        body = pos + 8
        if chunk == b"fmt ":
            if size < 16 or body + 16 > len(header):
                return "WAV fmt chunk is cut short"
            byte_rate = struct.unpack_from("<I", header, body + 8)[0]
        elif chunk == b"data":
            if not byte_rate:
                return "WAV data chunk before a usable fmt chunk"
            return WavInfo(byte_rate, body, size)
        pos = body + size + (size & 1)  # chunks are padded to even length
    return "no WAV data chunk in the header (still being written?)"


def audio_problem(fmt: str, header: bytes, size: int, duration_s: int) -> str | None:
    """Why audio of this format, first bytes and size is not the whole recording the txt's
    `duration` announces; None when it is (or when the format's length cannot be told)."""
    if size == 0:
        seconds = 0.0  # nothing written at all: only a silent call's `duration` allows it
    elif fmt in WAV_FORMATS:
        info = parse_wav_header(header)
        if isinstance(info, str):
            return info
        present = max(0, size - info.data_offset)
        if info.data_size > present:
            return f"WAV header announces {info.data_size} bytes of audio, {present} are there"
        if info.data_size == 0 and present > 1:
            return f"WAV header not finalised (0 bytes announced, {present} there)"
        seconds = info.data_size / info.byte_rate
    elif fmt in RAW_BYTES_PER_S:
        seconds = size / RAW_BYTES_PER_S[fmt]
    else:
        return None
    if seconds + DURATION_SLACK_S < duration_s:
        return f"audio lasts {seconds:.1f} s, msgNNNN.txt says duration={duration_s}"
    return None


# What app_voicemail writes before the keys, and the keys in its order (Asterisk 21 and later:
# no `macrocontext`).
MESSAGE_HEADER = ";\n; Message Information file\n;\n[message]\n"
MESSAGE_KEYS: tuple[str, ...] = (
    "origmailbox",
    "context",
    "exten",
    "rdnis",
    "priority",
    "callerchan",
    "callerid",
    "origdate",
    "origtime",
    "category",
    "msg_id",
    "flag",
    "duration",
)


def origdate(origtime: float) -> str:
    """`origdate` as Asterisk 22 on a server in UTC writes it: 'Mon Nov 23 04:04:10 PM UTC 2026'."""
    return datetime.fromtimestamp(origtime, UTC).strftime("%a %b %d %I:%M:%S %p UTC %Y")


def message_txt(fields: Mapping[str, str | int]) -> str:
    """A `msgNNNN.txt` as app_voicemail (Asterisk 22) writes it: the comment header, `[message]`,
    then every key of MESSAGE_KEYS in that order; a key missing or unknown is a ValueError."""
    missing = [k for k in MESSAGE_KEYS if k not in fields]
    unknown = sorted(k for k in fields if k not in MESSAGE_KEYS)
    if missing or unknown:
        raise ValueError(f"msgNNNN.txt keys: missing {missing}, unknown {unknown}")
    return MESSAGE_HEADER + "".join(f"{key}={fields[key]}\n" for key in MESSAGE_KEYS)
