"""The `administration:` section of organisation.yaml: limits the organisation sets itself.

```yaml
administration:
  manual_redirect_max_days: 30      # ALV-02/HV-03: "tills vidare" ends after at most this
  unused_subscription_days: 90      # ALV-25: no calls for this long = unused
  mobile_officer: lena.lund         # HAL-12: also told when a phone is blocked (a user id)
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from storage.problems import ConfigProblem

_KEYS = ("manual_redirect_max_days", "unused_subscription_days", "mobile_officer")


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """What the organisation decided: the longest open-ended redirect, when a subscription is
    unused, and who the mobile officer is."""

    manual_redirect_max_days: int = 30
    unused_subscription_days: int = 90
    mobile_officer: str | None = None


def _days(raw: Mapping[Any, Any], key: str, default: int, hi: int, out: list[ConfigProblem]) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        out.append(ConfigProblem(key, f"must be a whole number of days between 1 and {hi}"))
        return default
    return value


def parse_administration(raw: object) -> tuple[AdminSettings, list[ConfigProblem]]:
    """Parse the section (absent: the defaults)."""
    problems: list[ConfigProblem] = []
    if raw is None:
        return AdminSettings(), problems
    if not isinstance(raw, Mapping):
        return AdminSettings(), [ConfigProblem("", "must be a mapping")]
    for key in raw:
        if key not in _KEYS:
            name = str(key) if isinstance(key, str) and key.isidentifier() else "(key)"
            problems.append(
                ConfigProblem(name, f"unknown key (expected one of {', '.join(_KEYS)})")
            )
    officer = raw.get("mobile_officer")
    if officer is not None and not isinstance(officer, str):
        problems.append(ConfigProblem("mobile_officer", "must be a user id"))
        officer = None
    settings = AdminSettings(
        manual_redirect_max_days=_days(raw, "manual_redirect_max_days", 30, 366, problems),
        unused_subscription_days=_days(raw, "unused_subscription_days", 90, 3650, problems),
        mobile_officer=officer or None,
    )
    return settings, problems
