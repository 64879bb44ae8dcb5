"""Fixtures for the voicemail tests: organisation, settings, spool root, an open register."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from vmkit import make_org, make_settings

from routing.models import Organisation
from voicemail.models import VoicemailSettings
from voicemail.service import Register


@pytest.fixture
def org(tmp_path: Path) -> Organisation:
    """The test organisation with its data directory under tmp_path."""
    return make_org(tmp_path / "data")


@pytest.fixture
def settings() -> VoicemailSettings:
    """Voicemail settings with one registrar and two disposal rules."""
    return make_settings()


@pytest.fixture
async def register(
    org: Organisation, settings: VoicemailSettings, tmp_path: Path
) -> AsyncIterator[Register]:
    """An open register in tmp_path, closed after the test."""
    reg = await Register.open(org, settings, tmp_path / "db" / "register.sqlite3")
    try:
        yield reg
    finally:
        await reg.close()


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    """An empty spool root."""
    p = tmp_path / "spool"
    p.mkdir()
    return p
