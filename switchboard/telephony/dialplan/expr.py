"""Substitution and expressions as Asterisk does them: `${VAR}`, `${VAR:offset:length}`, function
calls `${NAME(args)}` (the host supplies the functions) and `$[…]` expressions (ast_expr2:
`| & = != < > <= >= + - * / % !`, parentheses, quoted strings).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from switchboard.telephony.dialplan.parse import DialplanError

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


def truth(text: str) -> bool:
    """Whether a value counts as true (non-empty and not a zero), as in GotoIf and `|`/`&`."""
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
            left = left if truth(left) else (right if truth(right) else "0")
        return left

    def parse_and(self) -> str:
        left = self.parse_cmp()
        while self._peek("&"):
            self.pos += 1
            right = self.parse_cmp()
            left = left if truth(left) and truth(right) else "0"
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
            return "0" if truth(self.parse_unary()) else "1"
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
