"""Reading `extensions.conf`: contexts, `exten =>`/`same =>` lines with labels, `[globals]`, and
which extension Asterisk runs for a dialled number (exact before `_` patterns: `X`, `Z`, `N`,
`[1-5]`, `.`, `!`; among patterns the more literal first), as pbx_config and pbx.c do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache


class DialplanError(ValueError):
    """A dialplan line the interpreter cannot parse or run."""


@dataclass(frozen=True, slots=True)
class Priority:
    """One step of an extension."""

    number: int
    label: str | None
    app: str
    data: str


@dataclass(slots=True)
class Extension:
    """An extension (or pattern) and its steps."""

    pattern: str
    priorities: list[Priority] = field(default_factory=list)

    def matches(self, exten: str) -> bool:
        """Whether a dialled extension matches (exact, or as an `_` pattern)."""
        if not self.pattern.startswith("_"):
            return exten == self.pattern
        return _pattern_re(self.pattern).fullmatch(exten) is not None

    @property
    def specificity(self) -> tuple[int, int]:
        """Exact before patterns; among patterns, more literal characters first."""
        if not self.pattern.startswith("_"):
            return (0, 0)
        body = re.sub(r"\[[^\]]*\]", "#", self.pattern[1:])
        return (1, -sum(1 for c in body if c not in "XZN.!#"))


@lru_cache(maxsize=256)
def _pattern_re(pattern: str) -> re.Pattern[str]:
    out = []
    body = pattern[1:]
    i = 0
    while i < len(body):
        c = body[i]
        if c == "X":
            out.append("[0-9]")
        elif c == "Z":
            out.append("[1-9]")
        elif c == "N":
            out.append("[2-9]")
        elif c == ".":
            out.append(".+")
        elif c == "!":
            out.append(".*")
        elif c == "[":
            end = body.index("]", i)
            out.append("[" + body[i + 1 : end] + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


_LINE = re.compile(r"^(exten|same)\s*=>?\s*(.*)$")


@dataclass
class Dialplan:
    """Parsed contexts (in file order) and globals."""

    contexts: dict[str, list[Extension]] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Dialplan:
        """Parse extensions.conf text (comments, `#include` lines and [general] ignored)."""
        plan = cls()
        context = ""
        current: Extension | None = None
        for number, raw in enumerate(text.splitlines(), 1):
            line = _strip_comment(raw).strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                context = line[1:-1].strip()
                current = None
                if context not in ("general", "globals"):
                    plan.contexts.setdefault(context, [])
                continue
            if context == "general":
                continue
            if context == "globals":
                key, _, value = line.partition("=")
                plan.globals[key.strip()] = value.strip()
                continue
            m = _LINE.match(line)
            if m is None:
                raise DialplanError(f"line {number}: not an exten/same line: {raw!r}")
            kind, rest = m.group(1), m.group(2).lstrip(">").strip()
            if kind == "exten":
                pattern, prio, app = _split_exten(rest, number)
                current = next(
                    (e for e in plan.contexts[context] if e.pattern == pattern), None
                ) or Extension(pattern)
                if current not in plan.contexts[context]:
                    plan.contexts[context].append(current)
            else:
                if current is None:
                    raise DialplanError(f"line {number}: `same` before any `exten`")
                prio, app = _split_same(rest, number)
            label = None
            if "(" in prio:
                prio, _, label = prio.partition("(")
                label = label.rstrip(")")
            n = len(current.priorities) + 1 if prio == "n" else int(prio)
            name, _, data = app.partition("(")
            if data.endswith(")"):
                data = data[:-1]
            current.priorities.append(Priority(n, label, name.strip(), data))
        return plan

    def find(self, context: str, exten: str) -> Extension | None:
        """The extension Asterisk would run for `exten` in `context`."""
        candidates = [e for e in self.contexts.get(context, []) if e.matches(exten)]
        return min(candidates, key=lambda e: e.specificity) if candidates else None


def _strip_comment(line: str) -> str:
    # ';' starts a comment unless escaped as '\;'.
    out = []
    i = 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if line[i] == ";":
            break
        out.append(line[i])
        i += 1
    return "".join(out)


def _split_exten(rest: str, number: int) -> tuple[str, str, str]:
    parts = rest.split(",", 2)
    if len(parts) < 3:
        raise DialplanError(f"line {number}: exten needs pattern,priority,application")
    return parts[0].strip(), parts[1].strip(), parts[2].strip()


def _split_same(rest: str, number: int) -> tuple[str, str]:
    prio, sep, app = rest.partition(",")
    if not sep:
        raise DialplanError(f"line {number}: same needs priority,application")
    return prio.strip(), app.strip()
