"""YAML with the line of every dotted path, read within limits a hand-written file never reaches.

`load_yaml` / `parse_yaml` turn every error into a problem with its line; the typed reads of
the values are `storage.yamlcheck.Checker`.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.error import Mark


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


# Limits for files a person writes by hand: far above any organisation (a directory of 10,000
# users is about 2 MB), far below what costs the service time or memory. PyYAML has none: a
# 300-byte file of nested aliases ("billion laughs") expands to a billion nodes, `&r [*r]` is a
# loop, and 5,000 nested brackets exhaust Python's recursion.
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_ALIASES = 200  # uses of an alias (*name) in one file
MAX_ALIAS_NODES = 20_000  # nodes that aliases may add by repeating what they name
_CONTROL_NAMES = {0x00: "NUL", 0x08: "backspace", 0x0B: "vertical tab", 0x0C: "form feed"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")  # never a number: a slipped value is one


class YamlLimitError(yaml.MarkedYAMLError):
    """A file beyond one of the limits above (never a syntax error of the person's making)."""


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _key_name(node: yaml.Node) -> str:
    """A mapping key as the dotted path shows it: only a plain name is ever echoed, since a key
    can be a value that slipped (`personal_id:` with the number on the next line, ending in
    a colon, makes the personnummer a key)."""
    value = node.value if isinstance(node, yaml.ScalarNode) else None
    if is_name(value):
        return str(value)
    return "(key)" if isinstance(value, str) and value else "(non-text key)"


def is_name(key: object) -> bool:
    """Whether a key may be echoed in a problem: text that starts like a name, not a number."""
    return isinstance(key, str) and _NAME.fullmatch(key) is not None


def _text_problem(value: str) -> str | None:
    """Why a scalar's text cannot be used (a lone surrogate, a control character), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (a \\ud800–\\udfff escape): not text"
    for ch in value:
        code = ord(ch)
        if (code < 0x20 and ch not in "\t\n\r") or code == 0x7F:
            what = _CONTROL_NAMES.get(code, "a control character")
            return f"contains {what} (U+{code:04X})"
    return None


def _walk(node: yaml.Node, path: str, doc: YamlDocument, paths: dict[int, str]) -> None:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    paths.setdefault(id(node), path)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            child = _join(path, _key_name(key_node))
            if isinstance(key_node, yaml.ScalarNode):
                raw = str(key_node.value)
                if raw in seen:
                    doc.problems.append((child, key_node.start_mark.line + 1, "duplicate key"))
                seen.add(raw)
                _check_text(key_node, child, doc)
            doc.lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, doc, paths)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, f"{path}[{i}]", doc, paths)
    elif isinstance(node, yaml.ScalarNode):
        _check_text(node, path, doc)


def _check_text(node: yaml.ScalarNode, path: str, doc: YamlDocument) -> None:
    problem = _text_problem(node.value) if isinstance(node.value, str) else None
    if problem is not None:
        doc.problems.append((path, node.start_mark.line + 1, problem))


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(nodes once every alias is expanded, distinct nodes): linear in the distinct nodes."""
    memo: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = memo.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        memo[id(node)] = total
        return total

    return size(root), len(memo)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting limit, an alias budget and no alias loops."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._open_anchors: list[str] = []  # anchors of the nodes being composed
        self.node_paths: dict[int, str] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """One node, refusing what would loop or nest too deep."""
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark: Mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlLimitError(None, None, f"more than {MAX_ALIASES} aliases (*name)", mark)
            if event.anchor in self._open_anchors:
                raise YamlLimitError(
                    None,
                    None,
                    "an alias (*name) is inside the node it names (a loop)",
                    mark,
                )
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlLimitError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open_anchors.append(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.pop()

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value, or a marked error for what PyYAML's constructors raise as plain errors
        (a date like 2026-02-30, an integer of more than 4,300 digits, an empty `!!int`)."""
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # `!!int ''` raises IndexError, `!!timestamp x` TypeError…
            what = "a value"
            if node.tag.endswith(":timestamp"):
                what = "a date or time"
            elif node.tag.endswith(":int"):
                what = "a whole number"
            error = yaml.constructor.ConstructorError(
                None, None, f"cannot be read as {what} ({type(exc).__name__})", node.start_mark
            )
            error.path = self.node_paths.get(id(node), "")  # type: ignore[attr-defined]
            raise error from None


def _reader_problem(exc: yaml.reader.ReaderError, text: str) -> tuple[int, str]:
    line = text.count("\n", 0, max(0, exc.position)) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    what = _CONTROL_NAMES.get(code, "a control character")
    return line, f"{what} (U+{code:04X}) is not allowed in YAML"


class _Unreadable(ValueError):
    def __init__(self, reason: str, line: int = 1) -> None:
        super().__init__(reason)
        self.line = line


def _read_text(path: Path) -> str:
    """The file's text; _Unreadable with a one-line reason when it is not a small UTF-8 file."""
    if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or a device would block the reader
        raise _Unreadable("not a regular file")
    with path.open("rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _Unreadable(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _Unreadable(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line) from None


_QUOTED = re.compile(r"""\s*(?:'[^']*'|"[^"]*")""")


def _unquoted(problem: str) -> str:
    """PyYAML's problem without what it quotes from the file (an alias or a tag can be any
    text); a token kind (`'<scalar>'`) or a single character (`'\\t'`) stays."""

    def keep(m: re.Match[str]) -> str:
        quoted = m.group(0).strip()[1:-1]
        return m.group(0) if len(quoted) <= 4 or re.fullmatch(r"<[a-z ]+>", quoted) else ""

    return _QUOTED.sub(keep, problem)


def load_yaml(path: Path, display_name: str | None = None) -> YamlDocument:
    """Read a YAML file; every error becomes a problem with its line instead of an exception.

    Values never appear in a problem: only names, lines and what is wrong.
    """
    name = display_name or str(path)
    try:
        text = _read_text(path)
    except FileNotFoundError:
        return YamlDocument(name, None, problems=[("", 1, "file not found")])
    except OSError as exc:
        return YamlDocument(name, None, problems=[("", 1, f"cannot read: {exc.strerror or exc}")])
    except _Unreadable as exc:
        return YamlDocument(name, None, problems=[("", exc.line, f"cannot read: {exc}")])
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> YamlDocument:
    """Parse YAML text within the limits above; problems instead of exceptions."""
    if len(text) > MAX_BYTES:
        return YamlDocument(name, None, problems=[("", 1, "larger than the limit for YAML")])
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:  # checked before anything is parsed
        line, problem = _reader_problem(exc, text)
        return YamlDocument(name, None, problems=[("", line, problem)])
    try:
        node = loader.get_single_node()
        doc = YamlDocument(name, None)
        if node is None:
            return doc
        expanded, distinct = _expanded_size(node)
        if expanded > distinct + MAX_ALIAS_NODES:
            return YamlDocument(
                name,
                None,
                problems=[
                    ("", 1, f"refused: aliases (*name) repeat more than {MAX_ALIAS_NODES} nodes")
                ],
            )
        _walk(node, "", doc, loader.node_paths)
        if doc.problems:
            return doc
        doc.data = loader.construct_document(node)
        return doc
    except yaml.reader.ReaderError as exc:
        line, problem = _reader_problem(exc, text)
        return YamlDocument(name, None, problems=[("", line, problem)])
    except YamlLimitError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        return YamlDocument(name, None, problems=[("", line, f"refused: {exc.problem}")])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        # Only the problem: str(exc) quotes the source line, which may hold a personnummer.
        problem = _unquoted(" ".join((exc.problem or exc.context or "not valid YAML").split()))
        path = getattr(exc, "path", None)
        if path is not None:  # a value of the wrong form, at a known path
            return YamlDocument(name, None, problems=[(str(path), line, problem)])
        return YamlDocument(name, None, problems=[("", line, f"YAML syntax error: {problem}")])
    except yaml.YAMLError as exc:
        return YamlDocument(name, None, problems=[("", 1, f"YAML error: {type(exc).__name__}")])
    except RecursionError:  # a bound above was not enough; never a traceback
        return YamlDocument(name, None, problems=[("", 1, "refused: nested too deeply")])
    finally:
        loader.dispose()
