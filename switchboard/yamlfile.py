"""YAML loaded with the line of every dotted path, so errors can say FILE:LINE: path: problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


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
