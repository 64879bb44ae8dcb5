"""The layout's rules, read from the imports themselves (issue 13; docs/architecture.md).

Every `import` and `from … import` in the packages is read with `ast` — also the ones inside a
function (a lazy import hides a cycle, it does not remove it) and under `TYPE_CHECKING` (a type
is a dependency too). The rules:

- `storage` is the shared kernel: it imports no domain and not the composition root.
- `routing` is the pure core: it imports only the kernel.
- the domains (`calendar_sync`, `voicemail`, `simulation`) import the core, the kernel and what
  their arrow in docs/architecture.md names, never `switchboard` (the composition root).
- inside the root, the web does not import the command line.
- no two modules import each other, directly or round a longer loop.
- a module longer than 400 lines says why at its top (a line starting `Long module:`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("storage", "routing", "calendar_sync", "voicemail", "simulation", "switchboard")
# Which top-level packages each may import (besides itself, the standard library and PyPI).
ALLOWED: dict[str, frozenset[str]] = {
    "storage": frozenset(),
    "routing": frozenset({"storage"}),
    "calendar_sync": frozenset({"routing", "storage"}),
    "voicemail": frozenset({"routing", "storage"}),
    "simulation": frozenset({"routing", "voicemail", "storage"}),
    "switchboard": frozenset(PACKAGES),
}
MAX_LINES = 400
# Modules still being reshaped under issue 13: each entry leaves when its module does.
LONG_UNTIL_SPLIT: frozenset[str] = frozenset()
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()


def modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of the packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(module imported, line) for each import in the file that names one of `known`."""

    def owner(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := owner(alias.name)) is not None:
                    yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                target = owner(full) if full in known else owner(source)
                if target is not None:
                    yield target, node.lineno


def graph() -> dict[str, dict[str, int]]:
    """Module → {module it imports: first line}."""
    known = modules()
    out: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        edges: dict[str, int] = {}
        for target, line in imports(name, path, known):
            if target != name:
                edges.setdefault(target, line)
        out[name] = edges
    return out


def cycles(edges: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(edges[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            advanced = False
            for target in targets:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(edges.get(target, {}))))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(frozenset(group))
    return found


def test_every_import_follows_the_layers() -> None:
    """A domain never imports the composition root; the kernel and the core stay below."""
    wrong = []
    for name, targets in graph().items():
        top = name.split(".")[0]
        for target, line in targets.items():
            other = target.split(".")[0]
            if other != top and other not in ALLOWED[top]:
                wrong.append(f"{name}:{line} imports {target} ({top} may not import {other})")
    assert not wrong, "\n".join(wrong)


def test_the_web_does_not_import_the_command_line() -> None:
    """The pages and the CLI are two faces of the same services, not one of the other."""
    wrong = [
        f"{name}:{line} imports {target}"
        for name, targets in graph().items()
        if name.startswith("switchboard.web")
        for target, line in targets.items()
        if target.startswith(("switchboard.cli", "switchboard.cli_"))
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles() -> None:
    """No module reaches itself through its imports (lazy and TYPE_CHECKING ones included)."""
    edges = graph()
    loops = [group for group in cycles(edges) if group not in KNOWN_CYCLES]
    described = []
    for group in loops:
        links = [
            f"{a}:{line} -> {b}"
            for a in sorted(group)
            for b, line in edges[a].items()
            if b in group
        ]
        described.append("; ".join(links))
    assert not described, "\n".join(described)


def test_long_modules_say_why() -> None:
    """Over 400 lines, a module states at its top why it is one module."""
    wrong = []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines <= MAX_LINES or name in LONG_UNTIL_SPLIT:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if not any(line.startswith("Long module:") for line in doc.splitlines()):
            wrong.append(f"{path.relative_to(ROOT)}: {lines} lines, no 'Long module:' reason")
    assert not wrong, "\n".join(wrong)


def test_the_debt_lists_hold_only_what_is_still_owed() -> None:
    """An entry leaves the lists when its cycle is broken or its module is split."""
    found = modules()
    live = set(cycles(graph()))
    assert not [group for group in KNOWN_CYCLES if group not in live]
    assert not [
        name
        for name in LONG_UNTIL_SPLIT
        if name not in found or found[name].read_text(encoding="utf-8").count("\n") <= MAX_LINES
    ]


def test_the_checks_see_what_they_check() -> None:
    """The reader finds the real edges (so an empty list above means something)."""
    edges = graph()
    assert "routing.models" in edges["routing.decide"]
    assert any(t.startswith("storage") for t in edges["voicemail.store"])
    toy = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(toy) == [frozenset({"a", "b", "c"})]
