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
SCHEMA_VERSION = MIGRATIONS[-1][0]
PENDING_SEAL = "seal_pending"

# The only DDL differences between the engines: a surrogate key that numbers itself.
DIALECTS: dict[str, Mapping[str, str]] = {
    "sqlite": {"id_pk": "INTEGER PRIMARY KEY"},
    "postgresql": {"id_pk": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
}


def migrations_for(engine: str) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """MIGRATIONS with the engine's DDL words filled in."""
    words = DIALECTS[engine]
    return tuple((v, tuple(sql.format_map(words) for sql in stmts)) for v, stmts in MIGRATIONS)
