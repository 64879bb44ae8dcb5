"""docs/policy.md (every policy rule → code → tests) is current, and every rule has a test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT.parent / "shared" / "REQUIREMENTS.md"


def _policy_map() -> object:
    spec = importlib.util.spec_from_file_location("policy_map", ROOT / "scripts" / "policy_map.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["policy_map"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not REQUIREMENTS.is_file(), reason="../shared/REQUIREMENTS.md is not beside")
def test_policy_md_is_current_and_every_rule_has_a_test() -> None:
    """The reviewer's mapping is regenerated from the code and tests; no rule without a test."""
    policy_map = _policy_map()
    text = policy_map.build(REQUIREMENTS)  # type: ignore[attr-defined]
    assert "**Tests**: NONE" not in text, [
        block.split("\n")[0] for block in text.split("### ")[1:] if "**Tests**: NONE" in block
    ]
    current = (ROOT / "docs" / "policy.md").read_text("utf-8")
    assert current == text, "docs/policy.md is out of date: run python3 scripts/policy_map.py"
