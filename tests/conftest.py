"""Shared fixtures: the sample organisations and small builders."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test writes its data (caches, databases) under its own temporary folder."""
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path / "data"))
