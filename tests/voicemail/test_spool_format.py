"""The one writer of app_voicemail's msgNNNN.txt, held to what a real Asterisk 22 wrote."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from vmkit import REAL_SPOOL

from simulation.spool import VoicemailMessage, message_text
from switchboard.telephony.sim import SimCall
from switchboard.telephony.sim.spool import write_spool_message
from voicemail.spool_format import MESSAGE_KEYS, message_txt, origdate, parse_message

REAL_TXT = REAL_SPOOL / "default" / "83012" / "INBOX" / "msg0000.txt"


def test_written_is_what_asterisk22_wrote() -> None:
    """The recorded message's fields, written again, give the recorded file byte for byte."""
    recorded = REAL_TXT.read_bytes()
    fields = parse_message(recorded).fields
    assert tuple(key for key, _ in fields) == MESSAGE_KEYS
    assert message_txt(dict(fields)).encode("utf-8") == recorded


def test_origdate_is_asterisk22s() -> None:
    """origdate as the recorded server (in UTC) wrote it for the recorded origtime."""
    values = dict(parse_message(REAL_TXT.read_bytes()).fields)
    assert origdate(int(values["origtime"])) == values["origdate"]
    assert origdate(float(values["origtime"]) + 0.4) == values["origdate"]


def test_a_missing_or_unknown_key_is_refused() -> None:
    """Every key app_voicemail writes, and no other: a writer cannot drift quietly."""
    fields: dict[str, str | int] = dict(parse_message(REAL_TXT.read_bytes()).fields)
    with pytest.raises(ValueError, match=r"unknown \['macrocontext'\]"):
        message_txt({**fields, "macrocontext": ""})
    del fields["duration"]
    with pytest.raises(ValueError, match=r"missing \['duration'\]"):
        message_txt(fields)


def test_the_simulation_writes_the_recorded_layout() -> None:
    """simulation/spool.py: the recorded keys in the recorded order, the recorded values
    where the simulated message is the recorded one."""
    m = VoicemailMessage("83012", 1795449850, "0701234567", "02683012", 9, 0)
    written = parse_message(message_text(m).encode("utf-8"))
    recorded = dict(parse_message(REAL_TXT.read_bytes()).fields)
    assert tuple(key for key, _ in written.fields) == MESSAGE_KEYS
    same = ("origmailbox", "context", "exten", "rdnis", "priority", "origdate", "origtime")
    assert {k: v for k, v in written.fields if k in same} == {k: recorded[k] for k in same}
    assert dict(written.fields)["msg_id"] == recorded["msg_id"]


def test_the_simulated_platform_writes_the_recorded_file(tmp_path: Path) -> None:
    """switchboard/telephony/sim/spool.py: the recorded call written again is the recorded
    file, but for the random half of msg_id and the length of the (silent) audio."""
    recorded = dict(parse_message(REAL_TXT.read_bytes()).fields)
    call = SimCall(recorded["callerchan"], "1.1", "1.1", "02683012", "0701234567", "Örjan Öst")
    txt = asyncio.run(
        write_spool_message(
            tmp_path / "spool", "default", "83012", call, float(recorded["origtime"])
        )
    )
    written = dict(parse_message(txt.read_bytes()).fields)
    assert tuple(written) == MESSAGE_KEYS
    for key in ("msg_id", "duration"):
        assert written.pop(key) and recorded.pop(key)
    assert written == recorded
