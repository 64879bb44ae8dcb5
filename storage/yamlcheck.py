"""Typed reads from a YAML document that report `FILE:LINE: path: problem` (`Checker`)."""

from __future__ import annotations

import difflib
from datetime import date, time
from typing import Any

from storage.yamlfile import YamlDocument, is_name

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _p(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Checker:
    """Typed reads from one YAML document; every problem becomes `FILE:LINE: path: message`.

    Several checkers may share one `problems` list (an organisation is two files).
    """

    def __init__(self, doc: YamlDocument, problems: list[str] | None = None) -> None:
        self.doc = doc
        self.problems: list[str] = [] if problems is None else problems

    def err(self, path: str, message: str) -> None:
        """Record a problem at a dotted path."""
        self.problems.append(
            f"{self.doc.file}:{self.doc.line(path)}: {path or '(file)'}: {message}"
        )

    def mapping(
        self, value: Any, path: str, allowed: set[str] | None, required: bool = False
    ) -> dict[str, Any]:
        """A mapping with text keys; unknown keys (typos) are problems with a hint, and dropped."""
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.err(path, "must be a mapping (key: value)")
            return {}
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if allowed is not None and name not in allowed:
                if not is_name(key):
                    # a value that slipped into key position (personal_id's number): not echoed
                    label = "(key)" if isinstance(key, str) else "(non-text key)"
                    self.err(_p(path, label), "not a key name (an indentation slip?)")
                    continue
                hint = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
                tip = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.err(_p(path, name), f"unknown key{tip}")
                continue
            out[name] = item
        return out

    def string(self, m: dict[str, Any], key: str, path: str, required: bool = False) -> str | None:
        """Text (numbers accepted as text); None when absent."""
        value = m.get(key)
        if value is None:
            if required:
                self.err(_p(path, key), "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.err(_p(path, key), "must be text")
            return None
        return str(value)

    def boolean(self, m: dict[str, Any], key: str, path: str, default: bool) -> bool:
        """true or false."""
        value = m.get(key, default)
        if not isinstance(value, bool):
            self.err(_p(path, key), "must be true or false")
            return default
        return value

    def strings(self, m: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        """A list of text."""
        value = m.get(key, [])
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.err(_p(path, key), "must be a list of text")
            return ()
        return tuple(value)

    def choice(self, m: dict[str, Any], key: str, path: str, options: tuple[str, ...]) -> str:
        """One of the options (the first is the default)."""
        value = m.get(key, options[0])
        if value not in options:
            self.err(_p(path, key), f"must be one of: {', '.join(options)}")
            return options[0]
        return str(value)

    def number(
        self, m: dict[str, Any], key: str, path: str, default: float, lo: float, hi: float
    ) -> float:
        """A number within [lo, hi]."""
        value = m.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            self.err(_p(path, key), f"must be a number from {lo:g} to {hi:g}")
            return default
        return float(value)

    def on_off(self, m: dict[str, Any], key: str, path: str) -> bool | None:
        """on / off (YAML 1.1 reads them unquoted as true / false); None when absent."""
        if key not in m:
            return None
        value = m[key]
        if isinstance(value, bool):
            return value
        if value in ("on", "off"):
            return bool(value == "on")
        self.err(_p(path, key), "must be on or off")
        return None

    def day(self, value: Any, path: str) -> date | None:
        """A date like 2026-11-24."""
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.err(path, "must be a date like 2026-11-24")
        return None

    def clock(self, value: Any, path: str) -> time | None:
        """A time of day like "08:00"."""
        # YAML 1.1 reads an unquoted 08:00 as the base-60 integer 480
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
            return time(value // 60, value % 60)
        if isinstance(value, str):
            try:
                return time.fromisoformat(value.strip())
            except ValueError:
                pass
        self.err(path, 'must be a time of day like "08:00"')
        return None

    def weekly_hours(self, value: Any, path: str) -> tuple[frozenset[int], time, time] | None:
        """{days: [mon, …], start: "08:00", end: "16:30"}: the weekdays (0 = Monday), start
        and end; None (with the problems recorded) when any part is wrong."""
        m = self.mapping(value, path, {"days", "start", "end"}, required=True)
        if not m:
            return None
        days: set[int] = set()
        raw_days = m.get("days", [])
        for i, day in enumerate(raw_days if isinstance(raw_days, list) else []):
            short = str(day).strip().lower()[:3]
            if short not in WEEKDAYS:
                self.err(
                    f"{path}.days[{i}]", "must be a weekday: mon, tue, wed, thu, fri, sat, sun"
                )
            else:
                days.add(WEEKDAYS.index(short))
        if not days:
            self.err(_p(path, "days"), "must list at least one weekday")
        start = self.clock(m.get("start"), _p(path, "start"))
        end = self.clock(m.get("end"), _p(path, "end"))
        if start is None or end is None or not days:
            return None
        if end <= start:
            self.err(_p(path, "end"), "must be after start")
            return None
        return frozenset(days), start, end
