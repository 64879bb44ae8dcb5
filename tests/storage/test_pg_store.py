"""PostgresStore specifics: migrations under concurrency, schemas, linear chain and gapless numbers."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from voicemail.audit import verify_chain
from voicemail.errors import StorageError
from voicemail.models import NewRecord
from voicemail.register import RecordFilter
from voicemail.register_schema import SCHEMA_VERSION
from voicemail.store_pg import PostgresStore, redacted

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PREFIX = "ALV-RÖST"


def new_record(n: int, arrived: datetime = T0) -> NewRecord:
    """A minimal new record with intake key `k<n>`."""
    return NewRecord(
        intake_key=f"k{n}",
        msg_id=f"k{n}",
        arrived_at=arrived + timedelta(seconds=n),
        context="default",
        mailbox="83012",
        owner_id="anna.andersson",
        caller_raw='"Örjan" <0701234567>',
        caller_number="+46701234567",
        caller_name="Örjan",
        duration_s=5,
        sha256=f"{n:064x}",
        audio_bytes=100,
        audio_format="wav",
        txt_sha256=f"{n + 10**6:064x}",
        spool_fields=(("origtime", str(n)),),
    )


async def test_migrations_applied_once_even_when_nodes_start_together(pg_dsn: str) -> None:
    """Four nodes opening a fresh database at once: one applies the migrations, all then work."""
    stores = [PostgresStore(pg_dsn) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert [await s.schema_version() for s in stores] == [SCHEMA_VERSION] * 4
        conn = await asyncpg.connect(pg_dsn)
        try:
            assert await conn.fetchval("SELECT COUNT(*) FROM schema_migrations") == SCHEMA_VERSION
        finally:
            await conn.close()
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_newer_schema_is_refused(pg_dsn: str) -> None:
    """A database migrated by a newer program is not touched by an older one."""
    store = PostgresStore(pg_dsn)
    await store.open()
    await store.close()
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute("INSERT INTO schema_migrations VALUES (99, 'later')")
    finally:
        await conn.close()
    with pytest.raises(StorageError, match="newer"):
        await PostgresStore(pg_dsn).open()


async def test_schemas_keep_registers_apart(pg_dsn: str) -> None:
    """Two organisations in one database, one schema each: separate series and chains."""
    alv, hal = PostgresStore(pg_dsn, "alvkarleby"), PostgresStore(pg_dsn, "hallsberg")
    await alv.open()
    await hal.open()
    try:
        [a] = await alv.add_records([(new_record(1), 2026)], PREFIX, "t", T0)
        [h] = await hal.add_records([(new_record(1), 2026)], "HAL-RÖST", "t", T0)
        assert a.registration_number == "ALV-RÖST-2026-000001"
        assert h.registration_number == "HAL-RÖST-2026-000001"
        assert await alv.count() == 1 and await hal.count() == 1
    finally:
        await alv.close()
        await hal.close()


async def test_unreachable_server_is_a_storage_error_without_password() -> None:
    """A refused connection is one StorageError naming host and database, never the password."""
    store = PostgresStore("postgresql://app:s3cret@127.0.0.1:1/register")
    with pytest.raises(StorageError) as info:
        await store.open()
    assert "s3cret" not in str(info.value) and "127.0.0.1:1/register" in str(info.value)
    assert redacted("postgresql://u:p@db.example:5433/x") == "postgresql://db.example:5433/x"


async def test_concurrent_writers_keep_chain_linear_and_numbers_gapless(pg_dsn: str) -> None:
    """Two stores (two nodes) writing records and events at once: one chain, numbers 1..N."""
    a, b = PostgresStore(pg_dsn), PostgresStore(pg_dsn)
    await a.open()
    await b.open()
    try:

        async def intake(store: PostgresStore, start: int) -> None:
            for i in range(start, start + 40, 4):
                items = [(new_record(n), 2026) for n in range(i, i + 4)]
                await store.add_records(items, PREFIX, "system:intake", T0)

        async def events(store: PostgresStore, who: str) -> None:
            for i in range(30):
                await store.append_event(who, "record.played", None, None, {"i": i}, T0)

        # Overlapping keys (0..39 twice) also prove each key is registered once.
        await asyncio.gather(intake(a, 0), intake(b, 0), events(a, "a"), events(b, "b"))
        records = await a.records(RecordFilter())
        assert sorted(r.intake_key for r in records) == sorted(f"k{n}" for n in range(40))
        assert sorted(int(r.registration_number[-6:]) for r in records) == list(range(1, 41))
        report = verify_chain(await b.events(), await b.audit_head())
        assert report.ok and report.checked == 40 + 60
    finally:
        await a.close()
        await b.close()


async def test_failed_transaction_gives_its_number_back(pg_dsn: str) -> None:
    """A batch that fails part-way rolls back whole: the next record still gets number 1."""
    store = PostgresStore(pg_dsn)
    await store.open()
    try:
        broken = replace(new_record(2), audio_format=None)  # type: ignore[arg-type]
        with pytest.raises(asyncpg.NotNullViolationError):
            await store.add_records([(new_record(1), 2026), (broken, 2026)], PREFIX, "t", T0)
        assert await store.count() == 0 and await store.events() == []
        [r] = await store.add_records([(new_record(3), 2026)], PREFIX, "t", T0)
        assert r.registration_number == "ALV-RÖST-2026-000001"
        assert verify_chain(await store.events(), await store.audit_head()).ok
    finally:
        await store.close()
