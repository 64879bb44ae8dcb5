"""The registrar's free-text search from a text index (issue 20), on both engines: SQLite's FTS5
table (migration 5, kept by triggers) and PostgreSQL's pg_trgm index find exactly the records
the scan (a LIKE over every searched column of every record) finds — over capitals, å/ä/ö,
%, _, quotes, digits and searches too short for a trigram — in the same order, pages and
counts; a changed or cleared text is no longer found; a register of schema 4 gets the index
with its records; and PostgreSQL without the right to create pg_trgm still searches."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from pgcluster import shared_cluster
from storekit import Storage, make_storage

from routing.models import Organisation
from storage import postgresql as pg
from storage import sqlite
from storage.db import Db
from voicemail.errors import StorageError
from voicemail.models import Classification, NewRecord, RecordStatus, VoicemailSettings
from voicemail.register import RecordFilter, RegisterStore
from voicemail.register_query import DENSE, TextSearch, count_query, record_query
from voicemail.register_schema import (
    INSERT_COLUMNS,
    PG_SEARCH_TEXT,
    PG_TEXT_INDEX,
    SCHEMA_VERSION,
    TEXT_INDEX_VERSION,
    TEXT_TABLE,
    migrations_for,
)
from voicemail.register_shared import SharedRegister
from voicemail.register_sql import (
    INSERT_RECORDS_SQL,
    record_params,
    registration_number,
    values_clause,
)
from voicemail.service import Register
from voicemail.store_pg import PostgresStore

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
REGISTRAR = "rut.registrator"
PREFIX = "ALV-RÖST"
CALLERS: list[tuple[str | None, str | None]] = [  # (caller name, caller number)
    ("Örjan Öst", "+46701234567"),
    ("örjan öst", "+46701234568"),
    ("ÖRJAN ÖSTLUND", None),
    ("Åsa Ärlig", "+4626123456"),
    ("ÅSA ÄRLIG", "0701-99 88"),  # not a valid number: kept as written
    ("Anna_Andersson", "+46700000100"),
    ("100% Säker AB", "+46812345678"),
    ('Citat "så" här', None),
    ("back\\slash", "+46701112233"),
    (None, None),
    ("Ünïcødé ß İstanbul", "+4910000000"),
    ("ANNA", "+46268301200"),
    ("a_b%c", "+46708765432"),
]
SUMMARIES: list[str | None] = [
    None,
    "Benchmark",
    "Bygglov på Åbyvägen 12",
    "Fråga om FAKTURA 2026-11",
    "50 % rabatt på _allt_",
    "Återkom om BYGGLOV",
    "ärende: öppet",
    'Säger "hej"',
    "Rad ett\nrad två",
]
CASES: list[str | None] = [None, "KS 2026/123", "Dnr 45_6%", "BN-2026-0042"]
OWNERS: list[tuple[str | None, str]] = [
    ("anna.andersson", "83012"),
    ("bertil.berg", "83013"),
    (None, "83099"),
]
QUERIES = [
    *("örjan", "Örjan", "ÖRJAN", "öst", "ÖST", "Öst", "åsa", "Åsa", "ÅSA", "ärlig", "ÄRLIG"),
    *("anna", "Anna", "ANNA", "anna_", "_", "%", "%%", "50 %", "_allt_", "a_b", "b%c", "%c"),
    *("\\", "back\\", "k\\s", '"', '"så"', "så", "så här", "SÅ HÄR", "2026", "2026/12"),
    *("alv-röst", "ALV-RÖST", "alv-RÖST-2026", "-0000", "0701", "+4670", "830", "83012"),
    *("bygglov", "BYGGLOV", "Bygglov", "faktura", "ß", "ss", "SS", "İstanbul", "istanbul"),
    *("ünï", "ÜNÏ", "Ünï", "benchmark", "BENCHMARK", "zzz", "x", "ab", "ä", "Ä", "öp", "a_a"),
    *("45_6%", "dnr 45", "ks 2026", "bn-2026", "ärende:", "ÄRENDE", "åter", "Åter", "12"),
    *("83099", "bertil", "anna.andersson", "  ", " ", "0701-99", "-99 88", "+46", "+"),
    *("ett\nrad", "ETT\nRAD", "4567\nörjan", "4567\nÖrjan", "\n", "0\n"),  # a line break
]


def _new_record(n: int) -> tuple[NewRecord, int]:
    name, number = CALLERS[n % len(CALLERS)]
    owner, mailbox = OWNERS[n % len(OWNERS)]
    arrived = datetime(2026, 11, 2, 8, 0, tzinfo=UTC) + timedelta(minutes=n // 2)  # in pairs
    new = NewRecord(
        intake_key=f"default/{mailbox}/text-{n}",
        msg_id=f"text-{n}",
        arrived_at=arrived,
        context="default",
        mailbox=mailbox,
        owner_id=owner,
        caller_raw=f'"{name or ""}" <{number or ""}>',
        caller_number=number,
        caller_name=name,
        duration_s=5,
        sha256=f"{n:064x}",
        audio_bytes=1000,
        audio_format="wav",
        txt_sha256=f"{n + 10_000:064x}",
        spool_fields=(),
    )
    return new, 2026


async def _fill(store: RegisterStore, count: int = 52) -> list[int]:
    """`count` records; two in three classified with a summary and a case reference."""
    added = await store.add_records([_new_record(n) for n in range(count)], PREFIX, "t", NOW)
    for k, rec in enumerate(r for n, r in enumerate(added) if n % 3 != 2):
        case = CASES[k % len(CASES)]
        changes: dict[str, object] = {
            "status": RecordStatus.CLASSIFIED,
            "classification": (
                Classification.PUBLIC_REGISTERED if case else Classification.PUBLIC_MINOR
            ),
            "case_reference": case,
            "summary": SUMMARIES[k % len(SUMMARIES)],
        }
        await store.update_record(rec.id, changes, REGISTRAR, "record.classified", NOW)
    return [r.id for r in added]


def _queries() -> list[str]:
    """The fixed searches and, from a seeded generator, pieces of the stored texts (1 to 8
    characters) as typed, in capitals, in lower case and swapped."""
    rng = random.Random(20)
    texts = [t for t in [*(c for pair in CALLERS for c in pair), *SUMMARIES, *CASES] if t]
    out = list(QUERIES)
    for _ in range(60):
        text = rng.choice(texts)
        start = rng.randrange(len(text))
        piece = text[start : start + rng.randint(1, 8)]
        out.append(rng.choice([piece, piece.upper(), piece.lower(), piece.swapcase()]))
    return out


def _filters(text: str) -> list[RecordFilter]:
    """The search alone, with the owners and the number the page adds, and as pages of the
    classified view newest first and of the whole register oldest first."""
    plain = RecordFilter(text=text)
    return [
        plain,
        replace(plain, text_owners=("bertil.berg",)),
        replace(plain, text_number="+46701234567"),
        replace(plain, text_owners=("anna.andersson", "bertil.berg"), text_number="+4626123"),
        *(
            replace(plain, status=RecordStatus.CLASSIFIED, limit=4, offset=o, oldest_first=False)
            for o in (0, 4)
        ),
        replace(plain, limit=5, offset=5),
    ]


async def _scan_ids(store: SharedRegister, where: RecordFilter) -> tuple[list[int], int]:
    """The records and count the scan finds (the LIKE over every column: the path before)."""
    sql, params = record_query(where, "scan")
    ids = [int(r[0]) for r in await store.sql.fetch(sql, params)]
    sql, params = count_query(where, "scan")
    row = await store.sql.fetchone(sql, params)
    assert row is not None
    return ids, int(row[0])


async def _same_as_scan(store: RegisterStore, queries: Sequence[str]) -> int:
    """Every search through the store (the index) against the scan; how many found something."""
    assert isinstance(store, SharedRegister)
    found = 0
    for text in queries:
        for where in _filters(text):
            ids = [r.id for r in await store.records(where)]
            expected, expected_count = await _scan_ids(store, where)
            assert ids == expected, (text, where)
            assert await store.count_matching(where) == expected_count, (text, where)
            found += bool(ids)
    return found


def _indexed(store: RegisterStore) -> TextSearch:
    return "trigram" if isinstance(store, PostgresStore) else "fts5"


async def test_the_index_finds_what_the_scan_finds(register: Register) -> None:
    """Parity on both engines: ~150 searches × 7 filters, index against scan, same records in
    the same order (pages, both sorts), same counts; the short ones (< 3 characters) are
    scans and still right."""
    store = register.store
    await _fill(store)
    if isinstance(store, PostgresStore):
        assert store.text_search == "trigram"  # the test cluster lets us create pg_trgm
    queries = _queries()
    assert await _same_as_scan(store, queries) > len(queries)  # most searches find something
    # the index is what answered: a search of 3 characters or more is no scan
    where = RecordFilter(text="Örjan")
    sql = record_query(where, _indexed(store))[0]
    assert sql != record_query(where, "scan")[0]
    assert ("MATCH" in sql) if _indexed(store) == "fts5" else (PG_SEARCH_TEXT in sql)
    assert record_query(RecordFilter(text="Ö"), _indexed(store)) == record_query(
        RecordFilter(text="Ö"), "scan"
    )


async def _found(store: RegisterStore, text: str) -> list[int]:
    """Ids the search finds through the store, checked against the scan."""
    assert isinstance(store, SharedRegister)
    where = RecordFilter(text=text)
    ids = [r.id for r in await store.records(where)]
    assert ids == (await _scan_ids(store, where))[0], text
    return ids


async def _in_index(storage: Storage, phrase: str) -> list[int]:
    """Ids the text index itself answers for a lower-case phrase, the table not consulted
    (SQLite: the FTS5 table; PostgreSQL: only the pg_trgm index, no sequential scan)."""
    if storage.engine == "sqlite":
        quoted = '"' + phrase.replace('"', '""') + '"'
        rows = await storage.raw(
            f"SELECT rowid FROM {TEXT_TABLE} WHERE {TEXT_TABLE} MATCH '{quoted}'"
        )
        return sorted(int(str(r[0])) for r in rows)
    assert storage.dsn is not None
    conn = await asyncpg.connect(storage.dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            sql = f"SELECT id FROM records WHERE {PG_SEARCH_TEXT} LIKE $1"
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, f"%{phrase}%"))
            assert PG_TEXT_INDEX in plan, plan
            return sorted(int(r[0]) for r in await conn.fetch(sql, f"%{phrase}%"))
    finally:
        await conn.close()


async def test_changed_and_cleared_text_leaves_the_index(
    register: Register, storage: Storage
) -> None:
    """Classifying writes a summary and a case reference: found. Classifying again replaces
    them: the old ones are no longer found, in the index either. Clearing the text (an
    erasure) leaves nothing findable; disposal keeps the metadata (REC-04), so its text is
    still found. Other records are untouched throughout."""
    store = register.store
    ids = await _fill(store, 6)
    rec = ids[2]  # waiting, owner without a name in the text: "83099"
    await register.classify(
        rec,
        Classification.PUBLIC_REGISTERED,
        REGISTRAR,
        NOW,
        summary="Hemlig adress Storgatan 5",
        case_reference="KS 2026/777",
    )
    assert await _found(store, "storgatan") == [rec] == await _in_index(storage, "storgatan")
    assert await _found(store, "2026/777") == [rec]
    await register.classify(
        rec, Classification.PUBLIC_MINOR, REGISTRAR, NOW, summary="Fråga om PARKERING"
    )
    assert await _found(store, "Storgatan") == [] == await _in_index(storage, "storgatan")
    assert await _found(store, "2026/777") == [] == await _in_index(storage, "2026/777")
    assert await _found(store, "parkering") == [rec] == await _in_index(storage, "parkering")
    await store.update_record(
        rec, {"summary": None, "case_reference": None}, REGISTRAR, "record.erased", NOW
    )
    assert await _found(store, "parkering") == [] == await _in_index(storage, "parkering")
    assert await _found(store, "83099") == [rec, ids[5]]  # the mailbox is fixed at intake
    disposed = ids[0]  # caller +46701234567
    assert await _found(store, "1234567") == [disposed]
    await store.update_record(
        disposed,
        {"status": RecordStatus.DISPOSED, "disposed_at": NOW, "disposal_rule": "test"},
        "system:disposal",
        "record.disposed",
        NOW,
    )
    assert await _found(store, "1234567") == [disposed]
    assert await _same_as_scan(store, QUERIES) > 0


async def test_a_record_removed_behind_the_register_leaves_the_fts_index(tmp_path: Path) -> None:
    """SQLite: the triggers follow every write to `records`, the register's or not — a row
    deleted by hand takes its text out of the FTS5 table in the same statement."""
    storage = make_storage("sqlite", tmp_path / "db")
    store = storage.store()
    await store.open()
    try:
        ids = await _fill(store, 4)
    finally:
        await store.close()
    assert await _in_index(storage, "örjan öst") == [ids[1]]
    await storage.raw(f"DELETE FROM records WHERE id = {ids[1]}")
    assert await _in_index(storage, "örjan öst") == []
    assert await _in_index(storage, "Örjan") == [ids[0], ids[2]]  # LOWER() keeps Ö


async def _make_v4(storage: Storage) -> tuple[Db, Callable[[], Awaitable[None]]]:
    """A schema-4 register (before the text index) on the engine, through the shared plumbing."""

    def too_new(v: int) -> Exception:
        return StorageError(str(v))

    v4 = migrations_for(storage.engine)[: TEXT_INDEX_VERSION - 1]
    assert [v for v, _ in v4] == [1, 2, 3, 4]
    if storage.engine == "postgresql":
        assert storage.dsn is not None
        pool = await pg.open_migrated(storage.dsn, "public", 2, "schema_migrations", v4, 4, too_new)
        return pg.PgDb(pool), pool.close
    storage.db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = await sqlite.connect(storage.db_path, "FULL")
    await sqlite.migrate(conn, "schema_migrations", v4, 4, too_new)
    return sqlite.SqliteDb(conn, asyncio.Lock()), conn.close


async def test_a_schema_4_register_gets_the_index_of_its_records(
    org: Organisation, settings: VoicemailSettings, storage: Storage
) -> None:
    """Migration 5 on a register that already holds records (written as schema 4 wrote them,
    some classified): the index holds every one of them, the searches equal the scan, and
    records added and classified after the upgrade are found too."""
    db, close = await _make_v4(storage)
    try:
        async with db.transaction() as tx:
            rows = [
                record_params(
                    new, registration_number(PREFIX, year, n + 1), PREFIX, year, n + 1, NOW
                )
                for n, (new, year) in enumerate(_new_record(n) for n in range(30))
            ]
            sql = INSERT_RECORDS_SQL.format(values=values_clause(len(INSERT_COLUMNS), len(rows)))
            await tx.fetch(sql, [v for params in rows for v in params])
            await tx.execute(
                "INSERT INTO registration_series (prefix, year, last_seq) VALUES (?, 2026, 30)",
                (PREFIX,),
            )
            for n in range(0, 30, 2):
                await tx.execute(
                    "UPDATE records SET status = 'classified', summary = ?, case_reference = ?"
                    " WHERE reg_seq = ?",
                    (SUMMARIES[n % len(SUMMARIES)], CASES[n % len(CASES)], n + 1),
                )
    finally:
        await close()
    register = await storage.open_register(org, settings)
    try:
        store = register.store
        assert await store.schema_version() == SCHEMA_VERSION == TEXT_INDEX_VERSION
        if isinstance(store, PostgresStore):
            assert store.text_search == "trigram"
        assert await _found(store, "örjan") != []
        assert await _in_index(storage, "bygglov") == await _found(store, "bygglov") != []
        assert await _same_as_scan(store, QUERIES) > 0
        [new] = await store.add_records(
            [(replace(_new_record(100)[0], intake_key="k-100", msg_id="m-100"), 2026)],
            PREFIX,
            "t",
            NOW,
        )
        await register.classify(
            new.id, Classification.PUBLIC_MINOR, REGISTRAR, NOW, summary="Efter uppgraderingen"
        )
        assert await _found(store, "uppgradering") == [new.id]
    finally:
        await register.close()


async def test_postgresql_without_pg_trgm_still_searches(
    org: Organisation,
    settings: VoicemailSettings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A database user that may not create extensions: migration 5 still succeeds, the search
    is the scan (same results), and the store says once what an administrator can do; once
    the administrator has created pg_trgm, the next open builds the index and uses it."""
    storage = make_storage("postgresql", tmp_path / "db")
    assert storage.dsn is not None
    role = f"clerk_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(storage.dsn)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        await admin.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
    finally:
        await admin.close()
    host = f"@127.0.0.1:{shared_cluster().port}/"
    clerk = replace(storage, dsn=storage.dsn.replace(f"postgres{host}", f"{role}{host}"))
    assert clerk.dsn != storage.dsn
    caplog.set_level(logging.WARNING, logger="voicemail.store_pg")
    for _ in range(2):
        register = await clerk.open_register(org, settings)
        try:
            store = register.store
            assert isinstance(store, PostgresStore)
            assert store.text_search == "scan"
            assert await store.schema_version() == TEXT_INDEX_VERSION
            if not await store.count():
                await _fill(store, 20)
            assert await _same_as_scan(store, QUERIES[:20]) > 0
            assert len(await _found(store, "Örjan")) > 0
        finally:
            await register.close()
    told = [r for r in caplog.records if "CREATE EXTENSION pg_trgm" in r.getMessage()]
    assert len(told) == 1, caplog.text  # once, although the register opened twice
    assert await storage.raw(f"SELECT to_regclass('{PG_TEXT_INDEX}') IS NULL") == [(True,)]
    await storage.raw("CREATE EXTENSION pg_trgm")  # what the administrator was told to do
    register = await clerk.open_register(org, settings)
    try:
        store = register.store
        assert isinstance(store, PostgresStore)
        assert store.text_search == "trigram"
        assert await _same_as_scan(store, QUERIES[:20]) > 0
    finally:
        await register.close()
    assert await _in_index(storage, "örjan") != []


async def test_postgresql_searches_from_the_trigram_index(tmp_path: Path) -> None:
    """At a size where it matters (20,000 records, a few of them matching) PostgreSQL's plan
    for the page and its count reads the pg_trgm index, not the table."""
    storage = make_storage("postgresql", tmp_path / "db")
    store = storage.store()
    await store.open()
    try:
        assert isinstance(store, PostgresStore)
        await _fill(store, 6)
        await storage.raw(
            "INSERT INTO records (registration_number, reg_prefix, reg_year, reg_seq, intake_key,"
            " txt_sha256, arrived_at, registered_at, context, mailbox, owner_id, caller_raw,"
            " caller_number, caller_name, sha256, audio_bytes, audio_format, spool_fields,"
            " status, summary)"
            " SELECT 'BULK-' || n, 'BULK', 2025, n, 'bulk-' || n, 'x', '2025-01-01T00:00:00',"
            " '2025-01-01T00:00:00', 'default', '8' || (n % 300), 'u' || (n % 300), '<>',"
            " '+4670' || n, 'Person ' || n, 'x', 1, 'wav', '[]', 'classified',"
            " 'Ärende nummer ' || n FROM generate_series(1, 20000) AS n"
        )
        await storage.raw("ANALYZE records")
        where = RecordFilter(text="Örjan", status=RecordStatus.CLASSIFIED, limit=50)
        for sql, params in (record_query(where, "trigram"), count_query(where, "trigram")):
            rows = await store.sql.fetch("EXPLAIN " + sql, params)
            plan = "\n".join(str(r[0]) for r in rows)
            assert PG_TEXT_INDEX in plan and "Seq Scan" not in plan, plan
        assert await _same_as_scan(store, ["Örjan", "ärende nummer 1999", "zzz", "öst"]) > 0
    finally:
        await store.close()


BULK = 2100  # more records holding one text than the FTS5 path's DENSE


async def test_a_search_found_in_much_of_the_register_pages_alike(
    register: Register, storage: Storage
) -> None:
    """A search the index finds in thousands of records: SQLite reads a first page from the
    list in order, checking each record (the index's set would be every match); later pages
    and counts from the set. Same records, order and counts as the scan on both engines."""
    store = register.store
    await _fill(store)
    await storage.raw(
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BULK})"
        " INSERT INTO records (registration_number, reg_prefix, reg_year, reg_seq, intake_key,"
        " txt_sha256, arrived_at, registered_at, context, mailbox, owner_id, caller_raw,"
        " caller_number, caller_name, sha256, audio_bytes, audio_format, spool_fields, status,"
        " summary)"
        " SELECT 'BULK-' || i, 'BULK', 2025, i, 'bulk-' || i, 'x',"
        " '2026-10-' || (10 + i % 20) || 'T08:00:00.000000+00:00', '2026-10-30T08:00:00.000000+00:00',"
        " 'default', '8300' || (i % 5), 'u' || (i % 7), '<>', '+4670' || i,"
        " CASE WHEN i % 2 = 0 THEN 'Örjan Öst' ELSE 'ÖRJAN' END, 'x', 1, 'wav', '[]',"
        " CASE WHEN i % 3 = 0 THEN 'classified' ELSE 'awaiting_classification' END,"
        " 'Ärende ' || i || ' om bygglov' FROM n"
    )
    if storage.engine == "sqlite":
        [(dense,)] = await storage.raw(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {TEXT_TABLE}"
            f" WHERE {TEXT_TABLE} MATCH '\"bygglov\"' LIMIT {DENSE})"
        )
        assert dense == DENSE  # the first pages below are read from the list in order
    queries = ["bygglov", "Bygglov", "BYGGLOV", "örjan", "Örjan", "ärende 1", "1999", "zzz"]
    assert await _same_as_scan(store, [*queries, "+4670", "bulk-2", "Ärende"]) > len(queries)
    where = RecordFilter(text="bygglov", status=RecordStatus.CLASSIFIED, limit=50, offset=150)
    assert len(await store.records(where)) == 50
    assert isinstance(store, SharedRegister)
    expected = await _scan_ids(store, replace(where, limit=None, offset=0))
    assert await store.count_matching(where) == expected[1] > BULK // 3


SWEDISH = ["örjan", "ÖRJAN", "Örjan öst", "öst", "östlund", "åsa ärlig", "ÅSA ÄRLIG", "ärlig"]
SWEDISH += ["åbyvägen", "ÅTERKOM", "återkom om bygglov", "fråga", "ärende: ÖPPET", "röst", "säker"]


async def test_a_search_in_small_letters_finds_capital_a_ring_umlauts(register: Register) -> None:
    """A registrar types names in small letters: "örjan" finds "Örjan Öst" and "ÖRJAN
    ÖSTLUND", "ÅSA ÄRLIG" finds "Åsa Ärlig", on both engines, from the index and by the scan
    (LOWER() folds a–z only). Against Python's own lower-casing of every searched column."""
    store = register.store
    assert isinstance(store, SharedRegister)
    await _fill(store)
    records = await store.records(RecordFilter(include_hidden=True))
    for text in SWEDISH:
        expected = [
            r.id
            for r in records
            if any(
                text.lower() in value.lower()
                for value in (
                    r.registration_number,
                    r.caller_number,
                    r.caller_name,
                    r.owner_id,
                    r.mailbox,
                    r.case_reference,
                    r.summary,
                )
                if value
            )
        ]
        where = RecordFilter(text=text, include_hidden=True)
        assert expected, text
        assert [r.id for r in await store.records(where)] == expected, text
        assert (await _scan_ids(store, where))[0] == expected, text
        assert await store.count_matching(where) == len(expected), text
    names = {r.caller_name for r in await store.records(RecordFilter(text="örjan"))}
    assert {"Örjan Öst", "örjan öst", "ÖRJAN ÖSTLUND"} <= names
