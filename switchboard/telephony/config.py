"""The `telephony:` section of organisation.yaml, parsed into typed, frozen settings.

```yaml
telephony:
  platform: asterisk            # or simulated (the default)
  ami:
    host: 127.0.0.1
    port: 5038
    username: switchboard
    secret_env: AMI_SECRET      # or secret_file: /run/secrets/ami (never the secret itself)
    connect_timeout_s: 10       # connect + Login
    action_timeout_s: 5         # default deadline of one action
    ping_interval_s: 10         # liveness: an AMI Ping this often ...
    ping_deadline_s: 5          # ... unanswered this long = the link is dead: reconnect
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from routing.errors import ConfigProblem
from switchboard.telephony.ami import AmiSettings

REDIRECT_FAMILY = "switchboard/redirect"  # AstDB family the dialplan reads when we are down
PRESENCE_PROVIDER = "CustomPresence"
INBOUND_CONTEXT = "from-trunk"
OUTBOUND_CONTEXT = "from-internal"


@dataclass(frozen=True, slots=True)
class TelephonySettings:
    """Which telephone platform to drive, and how."""

    platform: Literal["simulated", "asterisk"] = "simulated"
    ami: AmiSettings = field(default_factory=AmiSettings)
    call_deadline_s: float = 2.0  # a call waits at most this long for a decision
    dial_timeout_s: int = 20
    internal_dial: str = "PJSIP/{local}"
    external_dial: str = "PJSIP/{national}@trunk"
    sounds_dir: str | None = None  # where rendered messages go; None = <data_dir>/sounds


_TOP = {
    "platform",
    "ami",
    "call_deadline_s",
    "dial_timeout_s",
    "internal_dial",
    "external_dial",
    "sounds_dir",
}
_AMI = {
    "host",
    "port",
    "username",
    "secret_env",
    "secret_file",
    "connect_timeout_s",
    "action_timeout_s",
    "ping_interval_s",
    "ping_deadline_s",
}


def parse_telephony(
    raw: object, environ: Mapping[str, str] | None = None
) -> tuple[TelephonySettings, list[ConfigProblem]]:
    """Parse the section (absent → simulated platform); the AMI secret never comes from YAML."""
    env = os.environ if environ is None else environ
    problems: list[ConfigProblem] = []
    if raw is None:
        return TelephonySettings(), problems
    if not isinstance(raw, Mapping):
        return TelephonySettings(), [ConfigProblem("", "must be a mapping")]
    for key in raw:
        if key not in _TOP:
            problems.append(
                ConfigProblem(str(key), f"unknown key (expected one of {sorted(_TOP)})")
            )
    platform = raw.get("platform", "simulated")
    if platform not in ("simulated", "asterisk"):
        problems.append(ConfigProblem("platform", "must be 'simulated' or 'asterisk'"))
        platform = "simulated"
    deadline = _number(raw, "call_deadline_s", 2.0, problems)
    dial_timeout = int(_number(raw, "dial_timeout_s", 20, problems))
    templates = {}
    for key, default, needs in (
        ("internal_dial", "PJSIP/{local}", "{local}"),
        ("external_dial", "PJSIP/{national}@trunk", "{national}"),
    ):
        value = raw.get(key, default)
        if not isinstance(value, str) or needs not in value or any(c in value for c in "\r\n"):
            problems.append(ConfigProblem(key, f"must be a dial string containing {needs}"))
            value = default
        templates[key] = value
    sounds = raw.get("sounds_dir")
    if sounds is not None and not isinstance(sounds, str):
        problems.append(ConfigProblem("sounds_dir", "must be a path"))
        sounds = None
    ami = AmiSettings()
    ami_raw = raw.get("ami")
    if platform == "asterisk" and ami_raw is None:
        problems.append(ConfigProblem("ami", "required when platform is asterisk"))
    elif ami_raw is not None:
        ami = _ami(ami_raw, platform == "asterisk", env, problems)
    settings = TelephonySettings(
        platform=platform,
        ami=ami,
        call_deadline_s=deadline,
        dial_timeout_s=dial_timeout,
        internal_dial=templates["internal_dial"],
        external_dial=templates["external_dial"],
        sounds_dir=sounds,
    )
    return settings, problems


def _number(
    raw: Mapping[object, object],
    key: str,
    default: float,
    out: list[ConfigProblem],
    prefix: str = "",
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        out.append(ConfigProblem(prefix + key, "must be a positive number"))
        return default
    return float(value)


def _ami(
    raw: object, need_secret: bool, env: Mapping[str, str], out: list[ConfigProblem]
) -> AmiSettings:
    if not isinstance(raw, Mapping):
        out.append(ConfigProblem("ami", "must be a mapping"))
        return AmiSettings()
    for key in raw:
        if key == "secret":
            out.append(
                ConfigProblem(
                    "ami.secret", "never put the secret in YAML: use secret_env or secret_file"
                )
            )
        elif key not in _AMI:
            out.append(ConfigProblem(f"ami.{key}", f"unknown key (expected one of {sorted(_AMI)})"))
    host = raw.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host or any(c in host for c in "\r\n \t"):
        out.append(ConfigProblem("ami.host", "must be a host name or address"))
        host = "127.0.0.1"
    port = raw.get("port", 5038)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        out.append(ConfigProblem("ami.port", "must be a TCP port (1-65535)"))
        port = 5038
    username = raw.get("username", "switchboard")
    if not isinstance(username, str) or not username or any(c in username for c in "\r\n"):
        out.append(ConfigProblem("ami.username", "must be a user name from manager.conf"))
        username = "switchboard"
    secret = ""
    secret_env, secret_file = raw.get("secret_env"), raw.get("secret_file")
    if secret_env is not None:
        if not isinstance(secret_env, str) or not secret_env:
            out.append(ConfigProblem("ami.secret_env", "must name an environment variable"))
        elif secret_env in env:
            secret = env[secret_env]
        elif need_secret:
            out.append(
                ConfigProblem("ami.secret_env", f"environment variable {secret_env} is not set")
            )
    elif secret_file is not None:
        try:
            secret = Path(str(secret_file)).read_text(encoding="utf-8").strip()
        except OSError as exc:
            out.append(ConfigProblem("ami.secret_file", f"cannot read: {exc.strerror or exc}"))
    elif need_secret:
        out.append(ConfigProblem("ami", "set secret_env or secret_file for the AMI secret"))
    if any(c in secret for c in "\r\n"):
        out.append(ConfigProblem("ami.secret", "the secret must be one line"))
        secret = ""
    connect = _number(raw, "connect_timeout_s", 10.0, out, "ami.")
    action = _number(raw, "action_timeout_s", 5.0, out, "ami.")
    ping_interval = _number(raw, "ping_interval_s", 10.0, out, "ami.")
    ping_deadline = _number(raw, "ping_deadline_s", 5.0, out, "ami.")
    return AmiSettings(
        str(host),
        int(port),
        str(username),
        secret,
        connect,
        action,
        ping_interval=ping_interval,
        ping_deadline=ping_deadline,
    )
