"""Reading one mapping of a configuration section, collecting problems at dotted paths instead of
raising (the `calendar_sources:` section is read with it, calendar_sync.sources)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from storage.problems import ConfigProblem

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT_S = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


class SectionReader:
    """Reads one mapping, collecting problems at dotted paths instead of raising."""

    def __init__(self, raw: Mapping[str, object], path: str, problems: list[ConfigProblem]) -> None:
        self.raw = raw
        self.path = path
        self.problems = problems

    def problem(self, key: str, message: str) -> None:
        self.problems.append(ConfigProblem(f"{self.path}.{key}" if self.path else key, message))

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.raw:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                self.problem(str(key), f"unknown key (known: {known})")

    def text(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.raw.get(key)
        if value is None:
            if required:
                self.problem(key, "required")
            return default
        if not isinstance(value, str) or not value.strip():
            self.problem(key, "must be a non-empty string")
            return default
        return value.strip()

    def url(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.text(key, default, required)
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            self.problem(key, f"not an http(s) URL: {value!r}")
            return default
        return value.rstrip("/") if value else value

    def env_name(self, key: str) -> str | None:
        value = self.text(key)
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            self.problem(key, f"not an environment variable name: {value!r}")
            return None
        return value

    def duration(self, key: str, default: float, minimum: float = 0.0) -> float:
        value = self.raw.get(key)
        if value is None:
            return default
        seconds: float | None = None
        if isinstance(value, bool):
            seconds = None
        elif isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str):
            m = _DURATION.match(value)
            if m:
                seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
        if seconds is None or seconds < minimum:
            self.problem(
                key, f"must be a duration of at least {minimum:g} s (e.g. 60, '90s', '8d')"
            )
            return default
        return seconds

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.problem(key, f"must be a whole number from {lo} to {hi}")
            return default
        return value

    def number(self, key: str, default: float, lo: float, hi: float) -> float:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            self.problem(key, f"must be a number from {lo:g} to {hi:g}")
            return default
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(key, "must be true or false")
            return default
        return value


def mapping_at(
    raw: object, path: str, problems: list[ConfigProblem]
) -> Mapping[str, object] | None:
    """`raw` as a mapping with string keys, None when absent; a problem at `path` otherwise."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) for k in raw):
        problems.append(ConfigProblem(path, "must be a mapping of keys to values"))
        return None
    return raw
