"""The register's tables for the owner's side of voicemail (issue 17), as migration 3.

- `phone_copies`: the message's copy in app_voicemail's spool (the owner's phone mailbox,
  ALV-23): which folder it is in now (`INBOX`, `Old` …), or NULL once it left the phone;
  `missing_since` while it is not seen (app_voicemail renames files as it renumbers).
- `notify_outbox`: e-mail notifications queued durably before they are sent (issue 17): one
  row per message to one address, `dedup_key` unique so a check run twice queues once.
- `owner_greetings`: which greeting a mailbox owner chose (ALV-11): `generated` (default),
  `uploaded` (on the web) or `phone` (recorded in app_voicemail's options menu), and the
  normalised recordings of each kind (by SHA-256, in `<register>/greetings/`).

Plain SQL, the engines' one difference filled in by `voicemail.store.migrations_for`.
"""

from __future__ import annotations

OWNER_MIGRATION: tuple[int, tuple[str, ...]] = (
    3,
    (
        """CREATE TABLE phone_copies (
            record_id BIGINT PRIMARY KEY,
            mailbox TEXT NOT NULL,
            folder TEXT,
            seen_at TEXT NOT NULL,
            missing_since TEXT
        )""",
        "CREATE INDEX phone_copies_folder ON phone_copies (folder)",
        """CREATE TABLE notify_outbox (
            id {id_pk},
            kind TEXT NOT NULL,
            dedup_key TEXT NOT NULL UNIQUE,
            recipient TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            sent_at TEXT,
            last_error TEXT
        )""",
        "CREATE INDEX notify_outbox_due ON notify_outbox (sent_at, next_attempt_at)",
        """CREATE TABLE owner_greetings (
            user_id TEXT PRIMARY KEY,
            choice TEXT NOT NULL,
            uploaded_sha256 TEXT,
            phone_sha256 TEXT,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        )""",
    ),
)
