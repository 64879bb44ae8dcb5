"""The pure AMI frame parser and encoder, fed the bytes a real Asterisk 22 wrote."""

from __future__ import annotations

import pytest

from switchboard.telephony.ami import FrameParser, encode_action, parse_frame
from switchboard.telephony.errors import UnsafeHeader

from .amitools import load_capture, messages, rx_bytes, tx_bytes

CAPTURES = [
    "a_login_ok",
    "b_login_bad_secret",
    "b2_login_unknown_user",
    "c_astdb",
    "d_presence",
    "e_originate_asyncagi",
    "f_nonascii_callerid",
    "g_command",
    "g2_command_permission_denied",
    "j_shutdown",
]


def test_login_ok_banner_response_and_fully_booted_in_one_read() -> None:
    """The banner, the Login response and FullyBooted (same TCP read) parse in order."""
    msgs = messages(rx_bytes(load_capture("a_login_ok")))
    assert [(m.kind, m.name) for m in msgs] == [
        ("banner", "Asterisk Call Manager/11.0.0"),
        ("response", "Success"),
        ("event", "FullyBooted"),
        ("response", "Success"),
        ("response", "Goodbye"),
    ]
    assert msgs[1].action_id == "a-login-1"
    assert msgs[1]["Message"] == "Authentication accepted"
    assert msgs[3]["Ping"] == "Pong"


@pytest.mark.parametrize("name", CAPTURES)
def test_byte_by_byte_equals_whole_stream(name: str) -> None:
    """Frames and UTF-8 characters split across any TCP read boundary are reassembled intact."""
    data = rx_bytes(load_capture(name))
    whole = messages(data)
    parser = FrameParser()
    split = [m for i in range(len(data)) for m in parser.feed(data[i : i + 1])]
    assert split == whole
    assert parser.pending == 0


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_read_blocks_parse_like_whole_stream(name: str) -> None:
    """Feeding the reads exactly as Asterisk delivered them (headers split mid-frame) works."""
    blocks = [b.data for b in load_capture(name) if b.direction == "rx"]
    parser = FrameParser()
    assert [m for b in blocks for m in parser.feed(b)] == messages(b"".join(blocks))


def test_utf8_split_inside_a_character_is_not_lost() -> None:
    """'Möte, åter 14.30' survives a read boundary between the two bytes of 'ö' (panoramisk drops it)."""
    data = "Event: DBGetResponse\r\nVal: Möte, åter 14.30\r\n\r\n".encode()
    cut = data.index("ö".encode()) + 1
    parser = FrameParser(expect_banner=False)
    assert parser.feed(data[:cut]) == []
    (msg,) = parser.feed(data[cut:])
    assert msg["Val"] == "Möte, åter 14.30"


def test_astdb_non_ascii_value_and_event_list() -> None:
    """DBGet answers with Response + DBGetResponse + DBGetComplete; the value keeps its UTF-8."""
    msgs = messages(rx_bytes(load_capture("c_astdb")))
    vals = [m["Val"] for m in msgs if m.name == "DBGetResponse"]
    assert vals == ["away", "Möte, åter 14.30"]
    start = next(m for m in msgs if m.action_id == "c-get-2" and m.kind == "response")
    assert start["EventList"] == "start"


def test_command_output_is_one_output_header_per_line() -> None:
    """Command output arrives as many `Output:` headers, kept in order, including empty ones."""
    msgs = messages(rx_bytes(load_capture("g_command")))
    dialplan = next(m for m in msgs if m.action_id == "g-cmd-2")
    out = dialplan.get_all("Output")
    assert len(out) == 10
    assert out[0] == "[ Context 'from-trunk' created by 'pbx_config' ]"
    assert "AGI(agi:async)" in out[3]
    assert out[8] == ""
    voicemail = next(m for m in msgs if m.action_id == "g-cmd-4")
    assert "Anna Andersson" in voicemail.get_all("Output")[1]


def test_originate_response_is_an_event_by_its_first_line() -> None:
    """OriginateResponse carries `Response: Failure` but is classified as an event."""
    msgs = messages(rx_bytes(load_capture("f_nonascii_callerid")))
    orig = next(m for m in msgs if m.name == "OriginateResponse")
    assert orig.kind == "event"
    assert orig["Response"] == "Failure"
    assert orig["CallerIDName"] == "Åsa Ström"


def test_events_interleave_with_responses() -> None:
    """Responses to AGI actions arrive between the call's events, in wire order."""
    msgs = messages(rx_bytes(load_capture("e_originate_asyncagi")))
    kinds = [m.kind for m in msgs]
    first_event = kinds.index("event", 2)
    assert "response" in kinds[first_event + 1 :]
    assert {m.name for m in msgs if m.kind == "event"} >= {"AsyncAGIStart", "Cdr", "Hangup"}


def test_empty_value_and_colon_in_value() -> None:
    """`Key: ` is an empty value; a value may contain colons (timestamps, URLs)."""
    msg = parse_frame(b"Event: Cdr\r\nAccountCode: \r\nStartTime: 2026-11-23 16:03:37")
    assert msg is not None
    assert msg["AccountCode"] == ""
    assert msg["StartTime"] == "2026-11-23 16:03:37"


def test_encode_matches_captured_bytes() -> None:
    """The encoder writes exactly what was sent to Asterisk, UTF-8 included."""
    sent = tx_bytes(load_capture("c_astdb"))
    ours = encode_action(
        "DBPut",
        "c-put-3",
        [("Family", "switchboard"), ("Key", "83012/note"), ("Val", "Möte, åter 14.30")],
    )
    assert ours in sent


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CallerID", "Eve\r\nAction: Originate\r\nChannel: Local/0900123@out"),
        ("CallerID", "Eve\r\n\r\nAction: Originate"),
        ("Val", "x\nAction: Originate"),
        ("Val", "x\rAction: Originate"),
        ("Val", "nul\x00byte"),
        ("Bad\r\nAction", "Originate"),
        ("Key: x", "y"),
        ("", "y"),
    ],
)
def test_crlf_injection_is_rejected(name: str, value: str) -> None:
    """A CR, LF or NUL in a value, or CR/LF/colon in a name, never reaches the wire."""
    with pytest.raises(UnsafeHeader):
        encode_action("Setvar", "x-1", [(name, value)])


def test_action_name_itself_is_checked() -> None:
    """Even the action name cannot smuggle a second action."""
    with pytest.raises(UnsafeHeader):
        encode_action("Ping\r\nAction: Originate", "x-1")
