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


def test_dialplan_contexts_use_fastagi_and_the_astdb_families() -> None:
    """Inbound and outbound calls are offered to the service over FastAGI (never AGI(agi:async),
    which waits forever when the service is down); the fallback reads our AstDB families."""
    ext = _sections("extensions.conf")
    text = (CONF / "extensions.conf").read_text(encoding="utf-8")
    assert "agi:async" not in text
    for ctx in (INBOUND_CONTEXT, OUTBOUND_CONTEXT):
        assert any("Goto(switchboard-fallback" in line for line in ext[ctx]), ctx
    fallback = ext["switchboard-fallback"]
    assert any("AGI(${SBAGI}/call)" in line for line in fallback)
    assert any(f"DB({REDIRECT_FAMILY}/" in line for line in fallback)
    assert any("VoiceMail(${MBOX},s)" in line for line in fallback)
    manager = _sections("manager.conf")["general"]
    assert "channelvars = SWITCHBOARD_OUTCOME" in manager


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


def test_container_organisation_loads_and_points_at_asterisk(tmp_path: Path) -> None:
    """docker/organisation.yaml over the sample folder is valid and uses AMI, the shared spool and sounds."""
    import shutil

    from switchboard.config import load_config
    from switchboard.telephony.config import TelephonySettings

    root = CONF.parents[1]
    org = tmp_path / "org"
    shutil.copytree(root / "config" / "alvkarleby", org, ignore=shutil.ignore_patterns("data"))
    secret = tmp_path / "ami-secret"
    secret.write_text("s3cret\n", encoding="utf-8")
    text = (root / "docker" / "organisation.yaml").read_text(encoding="utf-8")
    (org / "organisation.yaml").write_text(text.replace("/run/secrets/ami", str(secret)), "utf-8")
    config = load_config(org)
    telephony = config.telephony
    assert isinstance(telephony, TelephonySettings)
    assert telephony.platform == "asterisk"
    # Asterisk's sounds directory; the messages go to its switchboard/ folder (issue 14.4)
    assert telephony.sounds_dir == "/var/lib/asterisk/sounds"
    assert config.voicemail.spool == "/var/spool/asterisk/voicemail"
    compose = (root / "docker" / "compose.yaml").read_text(encoding="utf-8")
    for mount in ("/var/spool/asterisk/voicemail", "/var/lib/asterisk/sounds/switchboard"):
        assert compose.count(mount) == 2, mount  # shared by both containers
    dockerfile = (root / "docker" / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY docker/organisation.yaml /app/org/organisation.yaml" in dockerfile
