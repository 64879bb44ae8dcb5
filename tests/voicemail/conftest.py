"""Fixtures for the voicemail tests: organisation, settings, spool root, an open register.

`register` runs every test that uses it on both engines: SQLite and a real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storekit import ENGINES, Storage, make_storage
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


@pytest.fixture(params=ENGINES)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """A fresh register database on each engine (audio and quarantine under tmp_path/db)."""
    return make_storage(str(request.param), tmp_path / "db")


@pytest.fixture
async def register(
    org: Organisation, settings: VoicemailSettings, storage: Storage
) -> AsyncIterator[Register]:
    """An open register on the parametrized engine, closed after the test."""
    reg = await storage.open_register(org, settings)
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
