"""Fixtures for the storage tests: a throwaway PostgreSQL cluster and fresh databases in it."""

from __future__ import annotations

import sys
from pathlib import Path

# The register's test builders (vmkit) live beside the voicemail tests; share them, not copy.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "voicemail"))

import pytest
from pgcluster import Cluster, shared_cluster
from storekit import ENGINES, Storage, make_storage


@pytest.fixture
def pg() -> Cluster:
    """The test run's PostgreSQL cluster (skipped without PostgreSQL; a failure under CI=true)."""
    return shared_cluster()


@pytest.fixture
def pg_dsn(pg: Cluster) -> str:
    """A fresh empty PostgreSQL database."""
    return pg.create_database()


@pytest.fixture(params=ENGINES)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """A fresh register database on each engine."""
    return make_storage(str(request.param), tmp_path / "db")
