"""Write docs/policy.md: every policy rule, where it lives in the code, and the tests proving it.

The rules and their wording come from ../shared/REQUIREMENTS.md (or `--requirements`); where a
rule lives is read from the code itself (a function, method or class whose docstring or comments
carry the rule's ID), and its tests are the test functions whose name (`test_alv08_…`) or
docstring carries it. Whether the software enforces a rule fully or only supports a human
decision is stated in STATUS below. `tests/test_policy_map.py` fails when docs/policy.md is out
of date: run `python3 scripts/policy_map.py` after changing a rule's code or tests.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ("routing", "calendar_sync", "voicemail", "simulation", "switchboard")
RULE_ROW = re.compile(r"^\| ((?:ALV|HAL|HV|REC|NUM)-\d{2}) \| (.+?) \| (.*?) \|\s*$")
SECTION = re.compile(r"^## (.+)$")

# Rules the software cannot decide alone: it gives the switch, the log and the report, and a
# person decides. Everything not listed is enforced by the software.
STATUS: dict[str, str] = {
    "ALV-13": "enforced check, human follow-up: the service finds unheard messages and tells "
    "the delegate or manager; listening is up to them",
    "ALV-17": "supported: the person decides; the service records and shows it",
    "ALV-24": "enforced warning, human follow-up: the owner or manager arranges a delegate",
    "ALV-25": "supported: managers see unused subscriptions and the yearly count; they cancel",
    "ALV-26": "supported: Medborgarservice connects the call on the user's behalf; it is logged",
    "HAL-12": "enforced blocking and notification; the contact centre registers it",
    "HAL-13": "enforced history and report; the contact centre registers the change",
    "HAL-14": "supported: attempts are blocked, logged and shown to the manager, who decides "
    "on any unlocking",
    "REC-01": "supported: registrars classify; the service keeps the record and its trail",
}


def rules(requirements: Path) -> list[tuple[str, str, str, str]]:
    """(section, id, rule, source) for every rule row, in the document's order."""
    out: list[tuple[str, str, str, str]] = []
    section = ""
    for line in requirements.read_text("utf-8").splitlines():
        if m := SECTION.match(line):
            section = m.group(1)
        elif m := RULE_ROW.match(line):
            out.append((section, m.group(1), m.group(2), m.group(3)))
    return out


def _id_pattern(rule_id: str) -> re.Pattern[str]:
    prefix, number = rule_id.split("-")
    return re.compile(rf"\b{prefix}-{number}\b|\b{prefix.lower()}_?{number}(?!\d)", re.I)


def _scopes(tree: ast.Module) -> list[tuple[int, int, str, str]]:
    """(first line, last line, qualified name, docstring) of every def and class."""
    out: list[tuple[int, int, str, str]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                doc = ast.get_docstring(child) or ""
                out.append((child.lineno, child.end_lineno or child.lineno, name, doc))
                walk(child, f"{name}.")

    walk(tree, "")
    return out


def mentions(path: Path, ids: list[str]) -> dict[str, set[str]]:
    """Rule id → the innermost def/class (or the module) of `path` mentioning it."""
    text = path.read_text("utf-8")
    tree = ast.parse(text)
    scopes = _scopes(tree)
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    found: dict[str, set[str]] = defaultdict(set)
    patterns = {i: _id_pattern(i) for i in ids}

    def innermost(line: int) -> str:
        best = [(b - a, n) for a, b, n, _ in scopes if a <= line <= b]
        return f"{module}:{min(best)[1]}" if best else module

    texts: list[tuple[int, str]] = []
    for a, _b, name, doc in scopes:
        texts.append((a, doc))
        texts.append((a, name))
    if (doc := ast.get_docstring(tree)) is not None:
        texts.append((0, doc))
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            texts.append((tok.start[0], tok.string))
    for line, chunk in texts:
        for rule_id, pattern in patterns.items():
            if pattern.search(chunk):
                found[rule_id].add(module if line == 0 else innermost(line))
    return found


def _is_test(name: str) -> bool:
    return ":" in name and name.split(":")[-1].split(".")[-1].startswith("test")


def build(requirements: Path) -> str:
    """The text of docs/policy.md."""
    table = rules(requirements)
    ids = [r[1] for r in table]
    code: dict[str, set[str]] = defaultdict(set)
    tests: dict[str, set[str]] = defaultdict(set)
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for rule_id, where in mentions(path, ids).items():
                code[rule_id] |= where
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for rule_id, where in mentions(path, ids).items():
            tests[rule_id] |= {w for w in where if _is_test(w)}
    lines = [
        "# Policy rules → code → tests",
        "",
        "Generated by `python3 scripts/policy_map.py` from ../shared/REQUIREMENTS.md and the code",
        "(do not edit by hand; `tests/test_policy_map.py` fails when it is out of date). For each",
        "rule of the two municipal policies: whether the software enforces it or supports a",
        "person's decision, where it lives (module:function, found by the rule's ID in its",
        "docstring or comments) and the tests that prove it (the ID in their name or docstring).",
        "A reviewer can check a rule by reading the named test's docstring.",
        "",
        f"{len(table)} rules; {sum(1 for i in ids if tests[i])} with a test.",
    ]
    section = None
    for sec, rule_id, text, source in table:
        if sec != section:
            lines += ["", f"## {sec}"]
            section = sec
        lines += [
            "",
            f"### {rule_id}",
            "",
            f"{text} *({source})*",
            "",
            f"- **Status**: {STATUS.get(rule_id, 'enforced')}",
        ]
        where = sorted(code[rule_id])
        lines.append(
            "- **Code**: " + (", ".join(f"`{w}`" for w in where) if where else "configuration only")
        )
        proved = sorted(tests[rule_id])
        lines.append("- **Tests**: " + (", ".join(f"`{t}`" for t in proved) if proved else "NONE"))
    return "\n".join(lines) + "\n"


def main() -> int:
    """Write (or with --check, compare) docs/policy.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--requirements", type=Path, default=ROOT.parent / "shared" / "REQUIREMENTS.md"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/policy.md differs")
    args = parser.parse_args()
    text = build(args.requirements)
    target = ROOT / "docs" / "policy.md"
    if args.check:
        if not target.is_file() or target.read_text("utf-8") != text:
            print(
                "docs/policy.md is out of date: run python3 scripts/policy_map.py", file=sys.stderr
            )
            return 1
        return 0
    target.write_text(text, "utf-8")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
