"""docker/asterisk/*.conf agree with what the code writes (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path

from switchboard.telephony.config import INBOUND_CONTEXT, OUTBOUND_CONTEXT, REDIRECT_FAMILY

CONF = Path(__file__).resolve().parents[2] / "docker" / "asterisk"


def _sections(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = ""
    for raw in (CONF / name).read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if m := re.fullmatch(r"\[([^\]]+)\]", line):
            current = m.group(1)
            out.setdefault(current, [])
        elif line:
            out.setdefault(current, []).append(line)
    return out


def test_dialplan_contexts_use_async_agi_and_the_astdb_family() -> None:
    """Inbound and outbound contexts hand calls to AGI(agi:async); fallback reads our AstDB family."""
    ext = _sections("extensions.conf")
    for ctx in (INBOUND_CONTEXT, OUTBOUND_CONTEXT):
        assert any("AGI(agi:async)" in line for line in ext[ctx]), ctx
    assert any(f"DB({REDIRECT_FAMILY}/" in line for line in ext[INBOUND_CONTEXT])
    assert any("VoiceMail(" in line for line in ext[INBOUND_CONTEXT])


def test_manager_user_is_least_privilege() -> None:
    """The AMI user can read agi/call/cdr and write agi/call, but not command or originate."""
    user = dict(line.split("=", 1) for line in _sections("manager.conf")["switchboard"])
    user = {k.strip(): v.strip() for k, v in user.items()}
    read, write = set(user["read"].split(",")), set(user["write"].split(","))
    assert {"agi", "call", "cdr", "system"} <= read
    assert {"agi", "call", "system"} <= write
    assert not {"command", "originate", "config"} & write
    assert user["permit"].startswith("127.0.0.1")


def test_voicemail_conf_utf8_wav() -> None:
    """app_voicemail stores wav with UTF-8 caller names, as intake expects."""
    general = dict(
        line.replace(" ", "").split("=", 1) for line in _sections("voicemail.conf")["general"]
    )
    assert general["format"] == "wav" and general["charset"] == "UTF-8"
