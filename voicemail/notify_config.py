"""The `notifications:` section of organisation.yaml: where e-mail notifications go (issue 17).

```yaml
notifications:
  base_url: https://vaxel.alvkarleby.se   # links in the e-mails (the web inbox)
  digest_at: "07:30"                       # the registrars' daily digest (REC-02), working days
  absence_lookahead_days: 7                # ALV-24: warn this far ahead
  smtp:
    host: smtp.alvkarleby.se
    port: 587
    from: "Växeln Älvkarleby <vaxel@alvkarleby.se>"
    starttls: true
    user_env: SWITCHBOARD_SMTP_USER         # names of environment variables, never the secret
    password_env: SWITCHBOARD_SMTP_PASSWORD
    timeout_s: 10
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time

from storage.problems import ConfigProblem

_TOP = {"base_url", "digest_at", "absence_lookahead_days", "smtp"}
_SMTP = {"host", "port", "from", "starttls", "user_env", "password_env", "timeout_s"}
_SECRETS = {"user", "username", "password", "secret"}


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """The mail server; credentials are read from the environment when a message is sent."""

    host: str
    port: int = 25
    sender: str = ""
    starttls: bool = False
    user_env: str | None = None
    password_env: str | None = None
    timeout_s: float = 10.0

    def credentials(self) -> tuple[str, str] | None:
        """(user, password) from the named environment variables, or None to send unsigned."""
        if not self.user_env or not self.password_env:
            return None
        user, password = os.environ.get(self.user_env), os.environ.get(self.password_env)
        if not user or not password:
            return None
        return user, password


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """The organisation's notification settings."""

    smtp: SmtpSettings
    base_url: str = ""
    digest_at: time = time(7, 30)
    absence_lookahead_days: int = 7

    @property
    def inbox_url(self) -> str:
        """The web inbox's address for links (a path when no base URL is configured)."""
        return f"{self.base_url.rstrip('/')}/rostmeddelanden"


def _text(raw: dict[str, object], key: str, path: str, problems: list[ConfigProblem]) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(ConfigProblem(f"{path}{key}", "must be text"))
        return ""
    return value.strip()


def parse_notifications(raw: object) -> tuple[NotifySettings | None, list[ConfigProblem]]:
    """The parsed section (None when absent) and its problems."""
    problems: list[ConfigProblem] = []
    if raw is None:
        return None, problems
    if not isinstance(raw, dict):
        return None, [ConfigProblem("", "must be a mapping with smtp: and base_url:")]
    for key in sorted(set(raw) - _TOP):
        problems.append(ConfigProblem(str(key), f"unknown key (known: {', '.join(sorted(_TOP))})"))
    smtp_raw = raw.get("smtp")
    if not isinstance(smtp_raw, dict):
        return None, [*problems, ConfigProblem("smtp", "is required: host, port, from")]
    for key in sorted(set(smtp_raw) - _SMTP):
        why = (
            "never put a secret in the YAML: name an environment variable in user_env/password_env"
            if str(key).lower() in _SECRETS
            else f"unknown key (known: {', '.join(sorted(_SMTP))})"
        )
        problems.append(ConfigProblem(f"smtp.{key}", why))
    host = _text(smtp_raw, "host", "smtp.", problems)
    if not host:
        problems.append(ConfigProblem("smtp.host", "is required (the mail server's name)"))
    port = smtp_raw.get("port", 25)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        problems.append(ConfigProblem("smtp.port", "must be a port number 1–65535"))
        port = 25
    sender = _text(smtp_raw, "from", "smtp.", problems)
    if "@" not in sender:
        problems.append(ConfigProblem("smtp.from", "is required: the sender's e-mail address"))
    starttls = smtp_raw.get("starttls", False)
    if not isinstance(starttls, bool):
        problems.append(ConfigProblem("smtp.starttls", "must be true or false"))
        starttls = False
    timeout = smtp_raw.get("timeout_s", 10)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        problems.append(ConfigProblem("smtp.timeout_s", "must be a number of seconds > 0"))
        timeout = 10
    user_env = _text(smtp_raw, "user_env", "smtp.", problems) or None
    password_env = _text(smtp_raw, "password_env", "smtp.", problems) or None
    if (user_env is None) != (password_env is None):
        problems.append(ConfigProblem("smtp", "user_env and password_env go together"))
    digest_text = _text(raw, "digest_at", "", problems) or "07:30"
    try:
        digest_at = time.fromisoformat(digest_text)
    except ValueError:
        problems.append(ConfigProblem("digest_at", f'{digest_text!r} is not a time like "07:30"'))
        digest_at = time(7, 30)
    lookahead = raw.get("absence_lookahead_days", 7)
    if not isinstance(lookahead, int) or isinstance(lookahead, bool) or not 0 < lookahead <= 60:
        problems.append(ConfigProblem("absence_lookahead_days", "must be 1–60 days"))
        lookahead = 7
    smtp = SmtpSettings(host, port, sender, starttls, user_env, password_env, float(timeout))
    base_url = _text(raw, "base_url", "", problems)
    return NotifySettings(smtp, base_url, digest_at, lookahead), problems
