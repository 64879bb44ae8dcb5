"""The `storage:` section, the register factory and `switchboard migrate` on both engines."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from pgcluster import Cluster

from switchboard.cli import main
from switchboard.config import load_config
from switchboard.config.storage_settings import StorageSettings, parse_storage
from switchboard.storage import open_register
from voicemail.register_schema import SCHEMA_VERSION
from voicemail.store import SqliteStore
from voicemail.store_pg import PostgresStore

ROOT = Path(__file__).resolve().parents[2]
ENV = {"SB_DSN": "postgresql://app:s3cret@127.0.0.1:5432/switchboard"}


def test_absent_section_is_sqlite() -> None:
    """No `storage:` section: the embedded SQLite register, as before."""
    assert parse_storage(None, {}) == (StorageSettings(), [])


def test_postgresql_dsn_comes_from_the_environment() -> None:
    """engine: postgresql reads the DSN from the variable named by dsn_env, never shown."""
    raw = {"engine": "postgresql", "dsn_env": "SB_DSN", "schema": "alvkarleby"}
    settings, problems = parse_storage(raw, ENV)
    assert problems == []
    assert settings.dsn == ENV["SB_DSN"] and settings.schema == "alvkarleby"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("raw", "path", "needle"),
    [
        ({"engine": "postgresql", "dsn_env": "NOT_SET"}, "dsn_env", "is not set"),
        ({"engine": "postgresql"}, "dsn_env", "name the environment variable"),
        ({"engine": "postgresql", "dsn_env": "SB_DSN", "dsn": "x"}, "dsn", "never put"),
        ({"engine": "mysql"}, "engine", "'sqlite' or 'postgresql'"),
        ({"engine": "sqlite", "dsn_env": "SB_DSN"}, "dsn_env", "only for engine: postgresql"),
        ({"engine": "postgresql", "dsn_env": "SB_DSN", "schema": "Bad-Name"}, "schema", "lower"),
        ({"engine": "postgresql", "dsn_env": "SB_DSN", "pool_size": 0}, "pool_size", "1 to 64"),
        ({"engin": "sqlite"}, "engin", "unknown key"),
        ("postgresql", "", "must be a mapping"),
    ],
)
def test_problems_name_the_key(raw: object, path: str, needle: str) -> None:
    """Every mistake is one problem at its dotted path."""
    _, problems = parse_storage(raw, ENV)
    assert [(p.path, needle in p.message) for p in problems] == [(path, True)]


def _org_folder(tmp_path: Path, storage_yaml: str | None) -> Path:
    dest = tmp_path / "alvkarleby"
    shutil.copytree(ROOT / "config" / "alvkarleby", dest, ignore=shutil.ignore_patterns("data"))
    if storage_yaml:
        org = dest / "organisation.yaml"
        org.write_text(org.read_text(encoding="utf-8") + storage_yaml, encoding="utf-8")
    return dest


def test_migrate_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`switchboard migrate DIR` creates the SQLite register and reports its schema version."""
    folder = _org_folder(tmp_path, None)
    assert main(["migrate", str(folder), "--db", str(tmp_path / "r.sqlite3")]) == 0
    assert "sqlite" in capsys.readouterr().out and (tmp_path / "r.sqlite3").exists()


def test_migrate_and_open_postgresql(
    pg: Cluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With `storage: {engine: postgresql}` migrate and the register factory use PostgreSQL."""
    monkeypatch.setenv("SB_TEST_DSN", pg.create_database())
    yaml = "storage: {engine: postgresql, dsn_env: SB_TEST_DSN, schema: alvkarleby}\n"
    folder = _org_folder(tmp_path, yaml)
    assert main(["migrate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "postgresql" in out and "schema alvkarleby" in out and f"version {SCHEMA_VERSION}" in out

    async def check() -> None:
        register = await open_register(load_config(folder))
        try:
            assert isinstance(register.store, PostgresStore)
            assert await register.store.count() == 0
        finally:
            await register.close()

    asyncio.run(check())


def test_migrate_reports_unreachable_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database that cannot be reached: exit 1 and one line without the password."""
    monkeypatch.setenv("SB_TEST_DSN", "postgresql://app:s3cret@127.0.0.1:1/nowhere")
    folder = _org_folder(tmp_path, "storage: {engine: postgresql, dsn_env: SB_TEST_DSN}\n")
    assert main(["migrate", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "switchboard migrate:" in err and "s3cret" not in err and len(err.splitlines()) == 1


def test_migrate_reports_a_bad_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad section (the DSN variable unset): exit 2 naming the file and the key."""
    folder = _org_folder(tmp_path, "storage: {engine: postgresql, dsn_env: SB_UNSET_DSN}\n")
    assert main(["migrate", str(folder)]) == 2
    assert "storage.dsn_env" in capsys.readouterr().err


async def test_default_is_the_sqlite_register(tmp_path: Path) -> None:
    """Without a section the factory opens the SQLite register in the data directory."""
    config = load_config(_org_folder(tmp_path, None))
    register = await open_register(config)
    try:
        assert isinstance(register.store, SqliteStore)
    finally:
        await register.close()
