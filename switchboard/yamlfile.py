"""YAML with the line of every dotted path, and typed reads that report FILE:LINE: path: problem."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any

import yaml

from routing.models import WEEKDAYS, Hours


@dataclass
class YamlDocument:
    """Plain data from one YAML file plus the line (1-based) where each dotted path starts."""

    file: str
    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, int, str]] = field(default_factory=list)  # (path, line, message)

    def line(self, path: str) -> int:
        """Line of `path`, or of its nearest parent that has one; 1 when unknown."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.lines.get("", 1)


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _walk(node: yaml.Node, path: str, doc: YamlDocument) -> None:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = _join(path, key)
            if key in seen:
                doc.problems.append((child, key_node.start_mark.line + 1, "duplicate key"))
            seen.add(key)
            doc.lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, doc)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, f"{path}[{i}]", doc)


def load_yaml(path: Path, display_name: str | None = None) -> YamlDocument:
    """Read a YAML file; syntax errors become problems with their line instead of exceptions."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return YamlDocument(name, None, problems=[("", 1, "file not found")])
    except (OSError, UnicodeDecodeError) as exc:
        return YamlDocument(name, None, problems=[("", 1, f"cannot read: {exc}")])
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        doc = YamlDocument(name, None)
        if node is None:
            return doc
        _walk(node, "", doc)
        doc.data = loader.construct_document(node)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or str(exc)
        return YamlDocument(name, None, problems=[("", line, f"YAML syntax error: {problem}")])
    except yaml.YAMLError as exc:
        return YamlDocument(name, None, problems=[("", 1, f"YAML error: {exc}")])
    finally:
        loader.dispose()


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

    def hours(self, value: Any, path: str) -> Hours | None:
        """{days: [mon, …], start: "08:00", end: "16:30"}."""
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
        return Hours(frozenset(days), start, end)
