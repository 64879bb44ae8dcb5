"""AMI on the wire: the pure, incremental frame parser and the action encoder.

No I/O here: bytes in, messages out (and back). See docs/ami-client.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from switchboard.telephony.errors import UnsafeHeader

EOL = b"\r\n"
END = b"\r\n\r\n"
MAX_FRAME = 1 << 20  # a frame larger than 1 MiB means the stream is not AMI

Kind = Literal["banner", "response", "event", "action"]
Headers = Sequence[tuple[str, str]] | Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Message:
    """One AMI message: its kind (from the first line) and its headers in wire order."""

    kind: Kind
    headers: tuple[tuple[str, str], ...]
    # Lower-cased name → first value, built once: `get` is on every event's hot path.
    _index: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for k, v in reversed(self.headers):
            index[k.lower()] = v
        object.__setattr__(self, "_index", index)

    @property
    def name(self) -> str:
        """The event name, the response status, or the banner text."""
        return self.headers[0][1] if self.headers else ""

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of a header (case-insensitive), or `default`."""
        return self._index.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get_all(self, key: str) -> list[str]:
        """Every value of a repeated header, e.g. Command's `Output:` lines."""
        low = key.lower()
        return [v for k, v in self.headers if k.lower() == low]

    @property
    def action_id(self) -> str | None:
        """The ActionID this message answers, if any."""
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        """Headers as a dict (first value wins), for logging and tests."""
        out: dict[str, str] = {}
        for k, v in self.headers:
            out.setdefault(k, v)
        return out


def parse_frame(frame: bytes) -> Message | None:
    """Parse one complete frame (without the blank line); None for an empty or headerless frame.

    A message is classified by its first line only: `OriginateResponse` is an event that also
    carries a `Response:` header.
    """
    text = frame.decode("utf-8", errors="replace")
    headers: list[tuple[str, str]] = []
    index: dict[str, str] = {}
    for line in text.split("\r\n"):
        if not line:
            continue
        colon = line.find(":")
        if colon < 0:
            # Not a header; Asterisk never sends this after the banner, so keep it visible.
            headers.append(("", line))
            continue
        key = line[:colon].strip()
        value = line[colon + 2 :] if line.startswith(" ", colon + 1) else line[colon + 1 :]
        headers.append((key, value))
        index.setdefault(key.lower(), value)
    if not headers:
        return None
    kind = _KINDS.get(headers[0][0].lower())
    if kind is None:
        return None
    msg = object.__new__(Message)
    object.__setattr__(msg, "kind", kind)
    object.__setattr__(msg, "headers", tuple(headers))
    object.__setattr__(msg, "_index", index)
    return msg


_KINDS: dict[str, Kind] = {"event": "event", "response": "response", "action": "action"}


class FrameParser:
    """Incremental, pure AMI stream parser: feed it bytes as they arrive, get messages back.

    It splits on bytes and decodes only whole frames, so a UTF-8 character split across TCP
    reads is never lost (panoramisk decodes each read with errors='ignore').
    """

    def __init__(self, expect_banner: bool = True) -> None:
        self._buf = bytearray()
        self._banner_pending = expect_banner

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; return every message completed by them, in order."""
        self._buf += data
        out: list[Message] = []
        if self._banner_pending:
            nl = self._buf.find(EOL)
            if nl < 0:
                self._check_size()
                return out
            banner = bytes(self._buf[:nl]).decode("utf-8", errors="replace")
            del self._buf[: nl + 2]
            self._banner_pending = False
            out.append(Message("banner", (("", banner),)))
        start = 0
        while True:
            end = self._buf.find(END, start)
            if end < 0:
                break
            msg = parse_frame(bytes(self._buf[start:end]))
            if msg is not None:
                out.append(msg)
            start = end + 4
        if start:
            del self._buf[:start]
        self._check_size()
        return out

    @property
    def pending(self) -> int:
        """Bytes buffered towards an incomplete frame."""
        return len(self._buf)

    def _check_size(self) -> None:
        if len(self._buf) > MAX_FRAME:
            raise ValueError("AMI frame larger than 1 MiB: not an AMI stream")


def check_header(name: str, value: str) -> None:
    """Raise UnsafeHeader if a header could inject lines or frames into the AMI stream."""
    if not name or any(c in name for c in "\r\n:") or name != name.strip():
        raise UnsafeHeader(name, "a header name must be a non-empty token without CR, LF or ':'")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise UnsafeHeader(name, "a header value must not contain CR, LF or NUL")


def _items(headers: Headers) -> Iterable[tuple[str, str]]:
    return headers.items() if isinstance(headers, Mapping) else headers


def encode_action(action: str, action_id: str, headers: Headers = ()) -> bytes:
    """The wire bytes of one action: `Action`, `ActionID`, then the headers, CRLF, blank line.

    Every name and value is checked first; nothing is written if any is unsafe.
    """
    lines = [("Action", action), ("ActionID", action_id), *_items(headers)]
    for k, v in lines:
        check_header(k, v)
    return "".join(f"{k}: {v}\r\n" for k, v in lines).encode("utf-8") + EOL
