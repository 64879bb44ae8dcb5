"""The register's tables on both engines: columns, versioned migrations, DDL dialects."""

from __future__ import annotations

from collections.abc import Mapping

from voicemail.owner_schema import OWNER_MIGRATION

# Columns a record update may touch; everything else is fixed at intake (REC-03).
MUTABLE_FIELDS = frozenset(
    {
        "status",
        "classification",
        "case_reference",
        "summary",
        "classified_at",
        "classified_by",
        "hidden_from_owner",
        "first_heard_at",
        "disposed_at",
        "disposal_rule",
    }
)
_TIME_FIELDS = frozenset({"classified_at", "first_heard_at", "disposed_at"})

RECORD_COLUMNS = (
    "id, registration_number, intake_key, msg_id, arrived_at, registered_at, context, mailbox,"
    " owner_id, caller_raw, caller_number, caller_name, duration_s, sha256, audio_bytes,"
    " audio_format, status, classification, case_reference, summary, classified_at,"
    " classified_by, hidden_from_owner, first_heard_at, disposed_at, disposal_rule,"
    " recording_key"
)
# Everything a record row holds besides its surrogate id: what the audit chain covers.
INSERT_COLUMNS: tuple[str, ...] = (
    "registration_number",
    "reg_prefix",
    "reg_year",
    "reg_seq",
    "intake_key",
    "msg_id",
    "txt_sha256",
    "arrived_at",
    "registered_at",
    "context",
    "mailbox",
    "owner_id",
    "caller_raw",
    "caller_number",
    "caller_name",
    "duration_s",
    "sha256",
    "audio_bytes",
    "audio_format",
    "spool_fields",
    "status",
    "recording_key",
)
CONTENT_COLUMNS: tuple[str, ...] = INSERT_COLUMNS + tuple(sorted(MUTABLE_FIELDS - {"status"}))

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE records (
                id {id_pk},
                registration_number TEXT NOT NULL UNIQUE,
                reg_prefix TEXT NOT NULL,
                reg_year INTEGER NOT NULL,
                reg_seq INTEGER NOT NULL,
                intake_key TEXT NOT NULL UNIQUE,
                msg_id TEXT,
                txt_sha256 TEXT NOT NULL,
                arrived_at TEXT NOT NULL,
                registered_at TEXT NOT NULL,
                context TEXT NOT NULL,
                mailbox TEXT NOT NULL,
                owner_id TEXT,
                caller_raw TEXT NOT NULL,
                caller_number TEXT,
                caller_name TEXT,
                duration_s INTEGER,
                sha256 TEXT NOT NULL,
                audio_bytes INTEGER NOT NULL,
                audio_format TEXT NOT NULL,
                spool_fields TEXT NOT NULL,
                status TEXT NOT NULL,
                classification TEXT,
                case_reference TEXT,
                summary TEXT,
                classified_at TEXT,
                classified_by TEXT,
                hidden_from_owner INTEGER NOT NULL DEFAULT 0,
                first_heard_at TEXT,
                disposed_at TEXT,
                disposal_rule TEXT,
                UNIQUE (reg_prefix, reg_year, reg_seq)
            )""",
            "CREATE INDEX records_queue ON records (status, arrived_at)",
            "CREATE INDEX records_owner ON records (owner_id, arrived_at)",
            "CREATE INDEX records_txt ON records (txt_sha256)",
            """CREATE TABLE registration_series (
                prefix TEXT NOT NULL,
                year INTEGER NOT NULL,
                last_seq INTEGER NOT NULL,
                PRIMARY KEY (prefix, year)
            )""",
            """CREATE TABLE audit_events (
                seq INTEGER PRIMARY KEY,
                at TEXT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                record_id INTEGER,
                before_json TEXT,
                after_json TEXT,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL
            )""",
            "CREATE INDEX audit_record ON audit_events (record_id, seq)",
            """CREATE TABLE register_meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )""",
        ),
    ),
    (
        # Issue 15: a message's identity is (context, mailbox, msg_id), so that the copies
        # app_voicemail makes for several mailboxes are one record each, linked by the
        # recording they share; and the audit chain covers every record's content, so rows
        # that predate this are sealed into the chain when the register next opens.
        2,
        (
            "ALTER TABLE records ADD COLUMN recording_key TEXT",
            "UPDATE records SET recording_key = COALESCE(msg_id, intake_key)",
            "CREATE INDEX records_recording ON records (recording_key)",
            "CREATE UNIQUE INDEX records_message ON records (msg_id, context, mailbox)",
            "INSERT INTO register_meta (key, value) SELECT 'seal_pending', '2'"
            " WHERE EXISTS (SELECT 1 FROM records)",
        ),
    ),
    OWNER_MIGRATION,  # issue 17: phone copies, notification outbox, owners' greetings
    (
        # Issue 20: the registrar's lists at 100,000 records: classified records by outcome
        # (counted from the index alone), the ones owners deleted, and every record by arrival
        # (a date range across all statuses), each in arrival order without a sort.
        4,
        (
            "CREATE INDEX records_outcome ON records (status, classification, arrived_at)",
            "CREATE INDEX records_hidden ON records (hidden_from_owner, arrived_at)",
            "CREATE INDEX records_arrived ON records (arrived_at)",
        ),
    ),
)
# The columns the registrar's free-text search looks in (`voicemail.register_query`).
SEARCHED = (
    "registration_number",
    "caller_number",
    "caller_name",
    "owner_id",
    "mailbox",
    "case_reference",
    "summary",
)
TEXT_INDEX_VERSION = 5
# Issue 20: the free-text search over the whole register from a text index instead of a scan
# of every record. SQLite: an FTS5 table of each searched column as LOWER() gives it (a–z
# folded, like the search's LIKE), in trigrams, case-sensitive: a phrase of three characters or
# more matches exactly where `LOWER(col) LIKE '%phrase%'` does. Contentless (the text is the
# records'); triggers keep it in step with every write to `records` in the same transaction —
# a changed or cleared text leaves the index with it (the old values are deleted by value).
_COLS = ", ".join(SEARCHED)
_LOWER_NEW = ", ".join(f"LOWER(new.{c})" for c in SEARCHED)
_LOWER_OLD = ", ".join(f"LOWER(old.{c})" for c in SEARCHED)
TEXT_TABLE = "records_text"
_SQLITE_TEXT_INDEX: tuple[str, ...] = (
    f"CREATE VIRTUAL TABLE {TEXT_TABLE} USING fts5({_COLS},"
    " content='', tokenize='trigram case_sensitive 1')",
    f"""CREATE TRIGGER records_text_added AFTER INSERT ON records BEGIN
        INSERT INTO {TEXT_TABLE} (rowid, {_COLS}) VALUES (new.id, {_LOWER_NEW});
    END""",
    f"""CREATE TRIGGER records_text_changed AFTER UPDATE OF id, {_COLS} ON records BEGIN
        INSERT INTO {TEXT_TABLE} ({TEXT_TABLE}, rowid, {_COLS})
            VALUES ('delete', old.id, {_LOWER_OLD});
        INSERT INTO {TEXT_TABLE} (rowid, {_COLS}) VALUES (new.id, {_LOWER_NEW});
    END""",
    f"""CREATE TRIGGER records_text_removed AFTER DELETE ON records BEGIN
        INSERT INTO {TEXT_TABLE} ({TEXT_TABLE}, rowid, {_COLS})
            VALUES ('delete', old.id, {_LOWER_OLD});
    END""",
    f"INSERT INTO {TEXT_TABLE} (rowid, {_COLS})"
    f" SELECT id, {', '.join(f'LOWER({c})' for c in SEARCHED)} FROM records",
)
# PostgreSQL: a pg_trgm GIN index on the searched columns lowered into one text (one line
# each): the search lower-cased is answered from it alone, its other forms are found by it and
# checked column by column (`register_query._trigram_condition`). CREATE
# EXTENSION needs the database owner (pg_trgm is trusted) or a superuser; where it is not
# permitted the migration still succeeds without the index, the search scans, and the store
# says once what an administrator can do (`voicemail.store_pg`). The extension may live in
# any schema (another register's, public): its operator class is named with that schema.
PG_SEARCH_TEXT = "LOWER(" + " || E'\\n' || ".join(f"COALESCE({c}, '')" for c in SEARCHED) + ")"
PG_TEXT_INDEX = "records_text_trgm"
PG_TEXT_INDEX_SQL = f"""DO $$
DECLARE
    home TEXT;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm not created: %', SQLERRM;
    END;
    SELECT n.nspname INTO home FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    IF home IS NOT NULL THEN
        EXECUTE format($ddl$CREATE INDEX IF NOT EXISTS {PG_TEXT_INDEX} ON records
            USING gin (({PG_SEARCH_TEXT}) %I.gin_trgm_ops)$ddl$, home);
    END IF;
END
$$"""
TEXT_INDEX: dict[str, tuple[str, ...]] = {
    "sqlite": _SQLITE_TEXT_INDEX,
    "postgresql": (PG_TEXT_INDEX_SQL,),
}
SCHEMA_VERSION = TEXT_INDEX_VERSION
PENDING_SEAL = "seal_pending"

# The only DDL differences between the engines: a surrogate key that numbers itself, and the
# text index (`TEXT_INDEX`, migration 5).
DIALECTS: dict[str, Mapping[str, str]] = {
    "sqlite": {"id_pk": "INTEGER PRIMARY KEY"},
    "postgresql": {"id_pk": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
}


def migrations_for(engine: str) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """MIGRATIONS with the engine's DDL words filled in, then the engine's text index."""
    words = DIALECTS[engine]
    shared = tuple((v, tuple(sql.format_map(words) for sql in stmts)) for v, stmts in MIGRATIONS)
    return (*shared, (TEXT_INDEX_VERSION, TEXT_INDEX[engine]))
