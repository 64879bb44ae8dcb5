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
  fastagi: {host: 127.0.0.1, port: 4573}   # where the leading node serves AGI(agi://…)
  agi_url: agi://127.0.0.1:4573  # what the dialplan connects to (default from fastagi)
  outbound_format: national     # national (026…, 0044…) | 00 (004626…) | e164 (+4626…)
  sounds_dir: /var/lib/asterisk/sounds   # Asterisk's sounds directory (see docs/asterisk.md)
  pjsip: {bind: "127.0.0.1:5060", trunk_host: sip.operator.example, trunk_match: [192.0.2.10]}
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from storage.problems import ConfigProblem
from switchboard.telephony.ami import AmiSettings
from switchboard.telephony.sounds import SOUND_FOLDER  # <sounds_dir>/switchboard/<key>.wav

REDIRECT_FAMILY = "switchboard/redirect"  # AstDB family the dialplan reads when we are down
PRESENCE_PROVIDER = "CustomPresence"
INBOUND_CONTEXT = "from-trunk"
OUTBOUND_CONTEXT = "from-internal"
FALLBACK_FAMILY = "switchboard/fallback"  # per extension: what the dialplan does without us
SETTINGS_FAMILY = "switchboard/config"  # agi URL, dial-string parts, prompts for the dialplan
OUTBOUND_FORMATS = ("national", "00", "e164")
DEFAULT_FASTAGI_PORT = 4573


@dataclass(frozen=True, slots=True)
class FastAgiSettings:
    """Where the leading node listens for Asterisk's per-call FastAGI connections."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_FASTAGI_PORT  # 0: any free port (tests; Asterisk learns it from AstDB)


@dataclass(frozen=True, slots=True)
class PjsipSettings:
    """What `switchboard asterisk-config` writes into pjsip.conf besides the directory."""

    bind: str = "127.0.0.1:5060"  # the transport's address: never 0.0.0.0 by default
    trunk_host: str = "sip.operator.example"
    trunk_match: tuple[str, ...] = ()  # identify: the operator's addresses (default trunk_host)


@dataclass(frozen=True, slots=True)
class TelephonySettings:
    """Which telephone platform to drive, and how."""

    platform: Literal["simulated", "asterisk"] = "simulated"
    ami: AmiSettings = field(default_factory=AmiSettings)
    call_deadline_s: float = 2.0  # a call waits at most this long for a decision
    dial_timeout_s: int = 20
    internal_dial: str = "PJSIP/{local}"
    external_dial: str = "PJSIP/{number}@trunk"  # {number}: in `outbound_format`
    sounds_dir: str | None = None  # Asterisk's sounds directory; None = <data_dir>/sounds
    outbound_format: Literal["national", "00", "e164"] = "national"
    fastagi: FastAgiSettings = field(default_factory=FastAgiSettings)
    agi_url: str | None = None  # None: agi://<fastagi.host>:<fastagi.port>
    pjsip: PjsipSettings = field(default_factory=PjsipSettings)

    @property
    def fastagi_url(self) -> str:
        """The URL the dialplan's AGI() connects to (the leader writes it into AstDB too)."""
        if self.agi_url:
            return self.agi_url
        host = "127.0.0.1" if self.fastagi.host in ("0.0.0.0", "::", "") else self.fastagi.host
        return f"agi://{host}:{self.fastagi.port}"


_TOP = {
    "platform",
    "ami",
    "call_deadline_s",
    "dial_timeout_s",
    "internal_dial",
    "external_dial",
    "sounds_dir",
    "outbound_format",
    "fastagi",
    "agi_url",
    "pjsip",
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
        ("internal_dial", "PJSIP/{local}", ("{local}",)),
        ("external_dial", "PJSIP/{number}@trunk", ("{number}", "{national}")),
    ):
        value = raw.get(key, default)
        if (
            not isinstance(value, str)
            or not any(n in value for n in needs)
            or any(c in value for c in "\r\n|,&")
        ):
            problems.append(
                ConfigProblem(
                    key, f"must be a dial string containing {' or '.join(needs)} (no | , &)"
                )
            )
            value = default
        templates[key] = value
    outbound = raw.get("outbound_format", "national")
    if outbound not in OUTBOUND_FORMATS:
        problems.append(
            ConfigProblem(
                "outbound_format",
                "must be national (026…, abroad 0044…), 00 (004626…) or e164 (+4626…)",
            )
        )
        outbound = "national"
    sounds = raw.get("sounds_dir")
    if sounds is not None and not isinstance(sounds, str):
        problems.append(ConfigProblem("sounds_dir", "must be a path"))
        sounds = None
    elif isinstance(sounds, str) and Path(sounds).name == SOUND_FOLDER:
        # Sounds are written to <sounds_dir>/switchboard/ and played as switchboard/<key>: a
        # sounds_dir that is itself …/switchboard makes …/switchboard/switchboard/<key>.wav.
        problems.append(
            ConfigProblem(
                "sounds_dir",
                f"must be Asterisk's sounds directory (e.g. /var/lib/asterisk/sounds), not its "
                f"{SOUND_FOLDER}/ folder: sounds go to <sounds_dir>/{SOUND_FOLDER}/<key>.wav",
            )
        )
        sounds = str(Path(sounds).parent)
    fastagi = _fastagi(raw.get("fastagi"), problems)
    agi_url = raw.get("agi_url")
    if agi_url is not None and (
        not isinstance(agi_url, str)
        or not agi_url.startswith("agi://")
        or any(c in agi_url for c in "\r\n ,|")
    ):
        problems.append(ConfigProblem("agi_url", "must be a URL like agi://10.0.0.5:4573"))
        agi_url = None
    pjsip = _pjsip(raw.get("pjsip"), problems)
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
        outbound_format=outbound,
        fastagi=fastagi,
        agi_url=agi_url,
        pjsip=pjsip,
    )
    return settings, problems


def _fastagi(raw: object, out: list[ConfigProblem]) -> FastAgiSettings:
    if raw is None:
        return FastAgiSettings()
    if not isinstance(raw, Mapping):
        out.append(ConfigProblem("fastagi", "must be a mapping like {host: 127.0.0.1, port: 4573}"))
        return FastAgiSettings()
    for key in raw:
        if key not in ("host", "port"):
            out.append(ConfigProblem(f"fastagi.{key}", "unknown key (expected host, port)"))
    host = raw.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host or any(c in host for c in "\r\n \t/"):
        out.append(ConfigProblem("fastagi.host", "must be an address to listen on"))
        host = "127.0.0.1"
    port = raw.get("port", DEFAULT_FASTAGI_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
        out.append(ConfigProblem("fastagi.port", "must be a TCP port (0-65535)"))
        port = DEFAULT_FASTAGI_PORT
    return FastAgiSettings(host, port)


def _pjsip(raw: object, out: list[ConfigProblem]) -> PjsipSettings:
    if raw is None:
        return PjsipSettings()
    if not isinstance(raw, Mapping):
        out.append(ConfigProblem("pjsip", "must be a mapping"))
        return PjsipSettings()
    default = PjsipSettings()
    for key in raw:
        if key not in ("bind", "trunk_host", "trunk_match"):
            expected = "expected bind, trunk_host, trunk_match"
            out.append(ConfigProblem(f"pjsip.{key}", f"unknown key ({expected})"))
    values: dict[str, str] = {}
    for key in ("bind", "trunk_host"):
        value = raw.get(key, getattr(default, key))
        if not isinstance(value, str) or not value or any(c in value for c in "\r\n \t;"):
            out.append(ConfigProblem(f"pjsip.{key}", "must be an address"))
            value = getattr(default, key)
        values[key] = value
    if values["bind"].split(":")[0] in ("0.0.0.0", "::", "[::]"):
        out.append(
            ConfigProblem("pjsip.bind", "name the address SIP should listen on, not every address")
        )
        values["bind"] = default.bind
    match = raw.get("trunk_match", [])
    if not isinstance(match, list) or not all(
        isinstance(m, str) and m and not any(c in m for c in "\r\n \t;,") for m in match
    ):
        out.append(ConfigProblem("pjsip.trunk_match", "must be a list of addresses"))
        match = []
    return PjsipSettings(values["bind"], values["trunk_host"], tuple(match))


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
