"""A small interpreter of Asterisk's `extensions.conf`, for the simulated platform.

It runs the dialplan the project ships (asterisk_config.py) the way pbx_config and pbx.c do, for
the subset that dialplan uses: contexts, `exten =>`/`same =>` with labels, `[globals]`, pattern
matching (`_X.`, `N`, `Z`, `[1-5]`, `!`), `${VAR}`, `${VAR:offset:length}`, functions (DB, CUT,
CALLERID, CHANNEL, IF, LEN), `$[…]` expressions (ast_expr2: `| & = != < > <= >= + - * / % !`,
parentheses, quoted strings) and the flow applications (NoOp, Set, Goto, GotoIf, ExecIf). The
applications that reach the caller (Answer, Playback, Dial, VoiceMail, AGI, Hangup, Wait) are the
host's (SimulatedAsterisk). The real thing is checked by tests/realpeer against Asterisk 22.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
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


# -- substitution ---------------------------------------------------------------------------

Function = Callable[[str], str]


def substitute(
    text: str, variables: Callable[[str], str | None], functions: Mapping[str, Function]
) -> str:
    """`${…}` and `$[…]` replaced, innermost first, as pbx_substitute_variables does."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("${", i) or text.startswith("$[", i):
            opener, closer = text[i + 1], "}" if text[i + 1] == "{" else "]"
            end = _matching(text, i + 2, opener, closer)
            inner = substitute(text[i + 2 : end], variables, functions)
            if opener == "{":
                out.append(_expand(inner, variables, functions))
            else:
                out.append(evaluate(inner))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _matching(text: str, start: int, opener: str, closer: str) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text) and text[i + 1] == opener:
            depth += 1
            i += 2
            continue
        if text[i] == closer:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise DialplanError(f"unbalanced ${opener}…{closer} in {text!r}")


def _expand(
    inner: str, variables: Callable[[str], str | None], functions: Mapping[str, Function]
) -> str:
    if inner.endswith(")") and "(" in inner:
        name, _, args = inner.partition("(")
        func = functions.get(name.upper())
        if func is None:
            raise DialplanError(f"function {name} is not simulated")
        return func(args[:-1])
    name, _, slicing = inner.partition(":")
    value = variables(name) or ""
    if not slicing:
        return value
    offset_text, _, length_text = slicing.partition(":")
    offset = int(offset_text or 0)
    start = max(0, len(value) + offset) if offset < 0 else offset
    if not length_text:
        return value[start:]
    length = int(length_text)
    end = start + length if length >= 0 else len(value) + length
    return value[start:end]


# -- expressions (ast_expr2) ---------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:"([^"]*)"|(<=|>=|!=|[|&=<>+\-*/%!()])|([^\s|&=<>+\-*/%!()"]+))')


def evaluate(expression: str) -> str:
    """The value of a `$[…]` expression as Asterisk writes it (comparisons give 1 or 0)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = expression.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise DialplanError(f"cannot read expression {expression!r}")
        if m.group(1) is not None:
            tokens.append(("str", m.group(1)))
        elif m.group(2) is not None:
            tokens.append(("op", m.group(2)))
        else:
            tokens.append(("str", m.group(3)))
        pos = m.end()
    if not tokens:
        return ""
    parser = _ExprParser(tokens)
    value = parser.parse_or()
    if parser.pos != len(tokens):
        raise DialplanError(f"trailing tokens in {expression!r}")
    return value


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _truth(text: str) -> bool:
    n = _number(text)
    return bool(text) and (n is None or n != 0)


def _fmt(n: float) -> str:
    return str(int(n)) if n == int(n) else f"{n:g}"


class _ExprParser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def _peek(self, *ops: str) -> str | None:
        if self.pos < len(self.tokens):
            kind, value = self.tokens[self.pos]
            if kind == "op" and value in ops:
                return value
        return None

    def parse_or(self) -> str:
        left = self.parse_and()
        while self._peek("|"):
            self.pos += 1
            right = self.parse_and()
            left = left if _truth(left) else (right if _truth(right) else "0")
        return left

    def parse_and(self) -> str:
        left = self.parse_cmp()
        while self._peek("&"):
            self.pos += 1
            right = self.parse_cmp()
            left = left if _truth(left) and _truth(right) else "0"
        return left

    def parse_cmp(self) -> str:
        left = self.parse_add()
        while op := self._peek("=", "!=", "<", ">", "<=", ">="):
            self.pos += 1
            right = self.parse_add()
            a, b = _number(left), _number(right)
            x: float | str
            y: float | str
            x, y = (a, b) if a is not None and b is not None else (left, right)
            result = {
                "=": x == y,
                "!=": x != y,
                "<": x < y,  # type: ignore[operator]
                ">": x > y,  # type: ignore[operator]
                "<=": x <= y,  # type: ignore[operator]
                ">=": x >= y,  # type: ignore[operator]
            }[op]
            left = "1" if result else "0"
        return left

    def parse_add(self) -> str:
        left = self.parse_mul()
        while op := self._peek("+", "-"):
            self.pos += 1
            right = self.parse_mul()
            a, b = _number(left), _number(right)
            if a is None or b is None:
                raise DialplanError(f"non-numeric operand of {op}")
            left = _fmt(a + b if op == "+" else a - b)
        return left

    def parse_mul(self) -> str:
        left = self.parse_unary()
        while op := self._peek("*", "/", "%"):
            self.pos += 1
            right = self.parse_unary()
            a, b = _number(left), _number(right)
            if a is None or b is None:
                raise DialplanError(f"non-numeric operand of {op}")
            if op == "*":
                left = _fmt(a * b)
            elif op == "/":
                left = _fmt(int(a / b)) if b else "0"
            else:
                left = _fmt(a % b) if b else "0"
        return left

    def parse_unary(self) -> str:
        if self._peek("!"):
            self.pos += 1
            return "0" if _truth(self.parse_unary()) else "1"
        if self._peek("-"):
            self.pos += 1
            n = _number(self.parse_unary())
            return _fmt(-(n or 0))
        if self._peek("("):
            self.pos += 1
            value = self.parse_or()
            if not self._peek(")"):
                raise DialplanError("missing )")
            self.pos += 1
            return value
        if self.pos >= len(self.tokens):
            return ""
        kind, value = self.tokens[self.pos]
        if kind == "op":
            raise DialplanError(f"unexpected {value}")
        self.pos += 1
        return value


# -- running -------------------------------------------------------------------------------

AppRunner = Callable[[str, str], Awaitable[int]]  # (application, data) -> 0 go on, -1 hang up


@dataclass
class Channel:
    """Where one channel is in the dialplan, and its variables."""

    context: str
    exten: str
    priority: int = 1
    variables: MutableMapping[str, str] = field(default_factory=dict)
    trace: list[tuple[str, str]] = field(default_factory=list)  # (application, data) run


MAX_STEPS = 500


async def run(
    plan: Dialplan,
    chan: Channel,
    apps: AppRunner,
    functions: Mapping[str, Function],
    builtins: Callable[[str], str | None] | None = None,
) -> str:
    """Run from chan.context/exten/priority until Hangup, an app returns -1, or the extension
    runs out; then the `h` extension if the context has one. Returns why it stopped."""

    def variable(name: str) -> str | None:
        if name == "EXTEN":
            return chan.exten
        if name == "CONTEXT":
            return chan.context
        if name == "PRIORITY":
            return str(chan.priority - 1)
        if name in chan.variables:
            return chan.variables[name]
        if builtins is not None and (value := builtins(name)) is not None:
            return value
        return plan.globals.get(name)

    reason = "end"
    steps = 0
    while True:
        steps += 1
        if steps > MAX_STEPS:
            raise DialplanError("the dialplan loops")
        ext = plan.find(chan.context, chan.exten)
        step = None
        if ext is not None:
            step = next((p for p in ext.priorities if p.number == chan.priority), None)
        if step is None:
            break
        data = substitute(step.data, variable, functions)
        chan.trace.append((step.app, data))
        chan.priority += 1
        app = step.app.lower()
        if app in ("noop", "verbose"):
            continue
        if app == "set":
            name, _, value = data.partition("=")
            chan.variables[name.strip()] = value
            continue
        if app == "goto":
            _goto(plan, chan, data)
            continue
        if app == "gotoif":
            condition, _, targets = data.partition("?")
            yes, _, no = targets.partition(":")
            target = yes if _truth(condition.strip()) else no
            if target:
                _goto(plan, chan, target)
            continue
        if app == "execif":
            condition, _, branches = data.partition("?")
            branch = branches if _truth(condition.strip()) else ""
            if branch:
                name, _, args = branch.partition("(")
                args = args[:-1] if args.endswith(")") else args
                if name.lower() == "set":
                    key, _, value = args.partition("=")
                    chan.variables[key.strip()] = value
                elif await apps(name, args) < 0:
                    reason = "hangup"
                    break
            continue
        if app == "hangup":
            reason = "hangup"
            break
        if await apps(step.app, data) < 0:
            reason = "hangup"
            break
    h = plan.find(chan.context, "h")
    if h is not None and h.pattern == "h":
        chan.exten, chan.priority = "h", 1
        while (
            step := next((p for p in h.priorities if p.number == chan.priority), None)
        ) is not None:
            data = substitute(step.data, variable, functions)
            chan.trace.append((step.app, data))
            chan.priority += 1
            if step.app.lower() == "set":
                name, _, value = data.partition("=")
                chan.variables[name.strip()] = value
            elif step.app.lower() == "gotoif":
                condition, _, targets = data.partition("?")
                yes, _, no = targets.partition(":")
                target = yes if _truth(condition.strip()) else no
                if target:
                    _goto(plan, chan, target)
    return reason


def _step(ext: Extension, priority: int) -> Priority | None:
    return next((p for p in ext.priorities if p.number == priority), None)


def _goto(plan: Dialplan, chan: Channel, target: str) -> None:
    parts = [p.strip() for p in target.split(",")]
    if len(parts) == 3:
        chan.context, chan.exten = parts[0], parts[1]
        where = parts[2]
    elif len(parts) == 2:
        chan.exten, where = parts
    else:
        where = parts[0]
    if where.isdigit():
        chan.priority = int(where)
        return
    ext = plan.find(chan.context, chan.exten)
    step = next((p for p in ext.priorities if p.label == where), None) if ext else None
    if step is None:
        raise DialplanError(f"no label {where!r} in {chan.context},{chan.exten}")
    chan.priority = step.number
