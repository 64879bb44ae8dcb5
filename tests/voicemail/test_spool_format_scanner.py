"""Issue 21: msgNNNN.txt read by a line scanner, with configparser's results to the letter.

`parse_message` reads a file in app_voicemail's own shape line by line and hands every other
file to configparser. Each input here is parsed twice — as shipped, and with the scanner
switched off (configparser alone, the reading before issue 21) — and the two must agree: the
same fields in the same order and the same message, or the same refusal with the same reason.
"""

from __future__ import annotations

import configparser
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vmkit import REAL_SPOOL, VM_FIXTURES

from voicemail import spool_format
from voicemail.errors import SpoolFormatError
from voicemail.models import SpoolMessage
from voicemail.spool_format import MESSAGE_HEADER, parse_message

SHARED_SPOOL = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "asterisk-22"
FIXTURE_TXTS = sorted(
    [*VM_FIXTURES.glob("*.txt"), *REAL_SPOOL.rglob("msg*.txt"), *SHARED_SPOOL.rglob("msg*.txt")]
)
REAL = (REAL_SPOOL / "default" / "83012" / "INBOX" / "msg0000.txt").read_bytes()

Outcome = tuple[str, SpoolMessage | str]


def outcome(data: bytes) -> Outcome:
    """What `parse_message` makes of the bytes: the message, or the refusal's reason."""
    try:
        return "message", parse_message(data)
    except SpoolFormatError as exc:
        return "refused", exc.reason


def configparser_outcome(data: bytes) -> Outcome:
    """The same with the line scanner switched off: configparser reads every file."""
    scanner = spool_format._plain_fields
    spool_format._plain_fields = lambda text: None
    try:
        return outcome(data)
    finally:
        spool_format._plain_fields = scanner


def assert_same(data: bytes) -> None:
    """The scanner's result is configparser's."""
    assert outcome(data) == configparser_outcome(data), data


def scanned(data: bytes) -> bool:
    """Whether the line scanner read the file itself (else configparser did)."""
    return spool_format._plain_fields(spool_format.decode_text(data)) is not None


def test_fixtures_are_found() -> None:
    """The recorded Asterisk 22 spools and the hand-written fixtures are all here."""
    names = {p.name for p in FIXTURE_TXTS}
    assert {"msg0000.txt", "asterisk18_no_msg_id.txt", "malformed_no_section.txt"} <= names
    assert sum(p.name == "msg0000.txt" for p in FIXTURE_TXTS) == 2


@pytest.mark.parametrize("path", FIXTURE_TXTS, ids=lambda p: p.name)
def test_alv15_every_fixture_parses_as_configparser_reads_it(path: Path) -> None:
    """ALV-15: every recorded and hand-written msgNNNN.txt gives the same message (or refusal)
    through the scanner as through configparser; the well-formed ones through the scanner."""
    data = path.read_bytes()
    assert_same(data)
    if outcome(data)[0] == "message":
        assert scanned(data)


def test_the_real_file_is_read_by_the_scanner_with_configparsers_values() -> None:
    """The recorded file's fields are exactly what a bare configparser reads, in file order."""
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(REAL.decode("utf-8"))
    assert scanned(REAL)
    assert parse_message(REAL).fields == tuple(parser["message"].items())


BODY = "origtime=1795449850\nmsg_id=1795449850-00000000\nduration=9\n"
ODD = {
    "duplicate_key": "[message]\norigtime=1\norigtime=2\nduration=3\n",
    "duplicate_key_with_blanks": "[message]\norigtime=1\norigtime  =2\n",
    "duplicate_header": "[message]\norigtime=1\n[message]\nduration=3\n",
    "no_header": BODY,
    "header_after_keys": "duration=3\n[message]\norigtime=1\n",
    "other_section_only": "[other]\n" + BODY,
    "other_section_after": "[message]\n" + BODY + "[other]\nduration=7\n",
    "default_section_before": "[DEFAULT]\nflag=V\nduration=5\n[message]\norigtime=1\n",
    "default_section_after": "[message]\norigtime=1\n[DEFAULT]\nduration=5\n",
    "default_twice": "[DEFAULT]\na=1\n[DEFAULT]\nb=2\n[message]\norigtime=1\n",
    "header_with_tail": "[message] ; comment\n" + BODY,
    "header_indented": "  [message]\n" + BODY,
    "header_lowercase_other": "[Message]\n" + BODY,
    "empty_header": "[message]\n[]\n" + BODY,
    "bracket_key": "[message]\n[]=x\n" + BODY,
    "crlf": MESSAGE_HEADER.replace("\n", "\r\n") + BODY.replace("\n", "\r\n"),
    "cr_only": "[message]\rorigtime=1\rduration=2\r",
    "cr_inside_value": "[message]\norigtime=1\ncallerid=a\rb <1>\n",
    "form_feed_line": "[message]\n\x0c\norigtime=1\n",
    "unicode_line_separator": "[message]\norigtime=1\u2028duration=2\n",
    "next_line_char": "[message]\norigtime=1\x85\n",
    "value_with_equals": "[message]\n" + BODY + "callerid=a=b <1>\nexten==5\n",
    "value_with_semicolon": "[message]\n" + BODY + "callerchan=Local/1@x-0;2\nflag= ; x\n",
    "value_with_hash": "[message]\n" + BODY + "callerid=#1 <2>\n",
    "empty_values": "[message]\n" + BODY + "category=\nflag=   \nrdnis=\n",
    "blanks_around_equals": "[message]\norigtime  =  1795449850  \nduration\t=\t9\t\n",
    "empty_key": "[message]\n=5\n" + BODY,
    "indented_key": "[message]\n" + BODY + "  flag=x\n",
    "continuation": "[message]\norigtime=1\n  2\nduration=3\n",
    "continuation_of_empty_value": "[message]\nflag=\n    x=1\n" + BODY,
    "indented_after_blank": "[message]\norigtime=1\n\n  duration=3\n",
    "indented_after_comment": "[message]\norigtime=1\n; c\n  duration=3\n",
    "indented_comment": "[message]\n   ; comment\n" + BODY,
    "hash_comment": "# hash\n[message]\n#origtime=5\n" + BODY,
    "no_equals": "[message]\n" + BODY + "flag\n",
    "long_key": "[message]\n" + BODY + "k" * 65 + "=1\n",
    "key_at_limit": "[message]\n" + BODY + "k" * 64 + "=1\n",
    "long_key_with_blanks": "[message]\n" + BODY + "k" * 60 + "     =1\n",
    "no_trailing_newline": "[message]\norigtime=1\nduration=2",
    "blank_lines_only": "\n\n  \n",
    "empty": "",
    "tab_before_header": "\t[message]\n" + BODY,
    "nbsp_key": "[message]\n\xa0flag=1\n" + BODY,
    "bom": "\ufeff[message]\n" + BODY,
    "unicode_keys": "[message]\n" + BODY + "nyckel_åäö=värde\n",
    "header_then_bracket": "[message]\n[message\n" + BODY,
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_files_read_as_configparser_reads_them(name: str) -> None:
    """Duplicates, a missing or extra section, [DEFAULT], CR/LF, other line breaks, '=' and
    ';' in values, empty values, indented lines, long keys: the same result either way."""
    assert_same(ODD[name].encode("utf-8"))


def test_non_utf8_bytes_read_as_configparser_reads_them() -> None:
    """A caller name in ISO-8859-1 (and bytes that are no text at all) decode and parse alike."""
    latin1 = REAL.decode("utf-8").encode("latin-1")
    assert scanned(latin1)
    assert_same(latin1)
    assert_same(REAL.replace("Ö".encode(), b"\xff\xfe"))
    assert_same(b"[message]\n" + BODY.encode() + b"callerid=\x80\x81 <1>\n")


def test_the_scanner_hands_odd_files_on() -> None:
    """Files not in app_voicemail's shape are not the scanner's to read."""
    for name in ("duplicate_key", "default_section_before", "crlf", "continuation", "empty_key"):
        assert not scanned(ODD[name].encode("utf-8")), name


_FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),  # bounded time per example (a loaded 2-core machine)
    derandomize=True,
    database=None,
)
LINES = st.sampled_from(
    [
        "[message]",
        "[DEFAULT]",
        "[other]",
        "[]",
        "[message",
        "origtime=1795449850",
        "origtime=2",
        "duration=9",
        "duration=",
        "msg_id=1-2",
        'callerid="Örjan Öst" <0701234567>',
        "callerchan=Local/1@x-1;2",
        "flag=",
        "a=b=c",
        "=x",
        "k =v",
        "k= v ",
        "; comment",
        "#x=1",
        "",
        "  ",
        "noequals",
        "  indented=1",
        "\tcont",
        "k" * 65 + "=1",
    ]
)
BREAKS = st.sampled_from(["\n", "\n", "\n", "\r\n", "\r", "\x0b", "\u2028", "\x85"])


@_FUZZ
@given(st.lists(st.tuples(LINES, BREAKS), max_size=14), st.booleans())
def test_fuzz_generated_files_read_as_configparser_reads_them(
    lines: list[tuple[str, str]], latin1: bool
) -> None:
    """Files put together from real and odd lines and line breaks, in UTF-8 or ISO-8859-1."""
    text = "".join(line + brk for line, brk in lines)
    assert_same(text.encode("latin-1" if latin1 else "utf-8", "replace"))


@_FUZZ
@given(st.text(max_size=300))
def test_fuzz_any_text_reads_as_configparser_reads_it(body: str) -> None:
    """Any text after a real header, or on its own."""
    for text in (body, MESSAGE_HEADER + body, MESSAGE_HEADER + BODY + body):
        assert_same(text.encode("utf-8", "surrogatepass"))
