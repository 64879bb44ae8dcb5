"""The calendar leases' tables on PostgreSQL: schema and migrations, the SQL statements the
`switchboard.calendar_leases.CalendarShare` runs, and the JSON form of a snapshot's blocks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from routing.absence import BusyStatus, CalendarBlock

BUCKETS = 4  # partitions per calendar source, so the work spreads over nodes
VERSION_TABLE = "calendar_schema_migrations"
SCHEMA_VERSION = 1
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            "CREATE TABLE calendar_nodes (node_id TEXT PRIMARY KEY, seen_at TIMESTAMPTZ NOT NULL)",
            "CREATE TABLE calendar_leases (partition TEXT PRIMARY KEY, holder TEXT,"
            " expires_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            "CREATE SEQUENCE calendar_snapshot_rev",
            "CREATE TABLE calendar_snapshots (user_id TEXT PRIMARY KEY, partition TEXT NOT NULL,"
            " blocks TEXT, fetched_at TIMESTAMPTZ, failing BOOLEAN NOT NULL, error TEXT,"
            " expired BOOLEAN NOT NULL, written_by TEXT NOT NULL, rev BIGINT NOT NULL)",
            "CREATE INDEX calendar_snapshots_rev ON calendar_snapshots (rev)",
        ),
    ),
)
ENSURE_SQL = (
    "INSERT INTO calendar_leases (partition) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"
)
HEARTBEAT_SQL = (
    "INSERT INTO calendar_nodes (node_id, seen_at) VALUES ($1, now())"
    " ON CONFLICT (node_id) DO UPDATE SET seen_at = now()"
)
PURGE_NODES_SQL = "DELETE FROM calendar_nodes WHERE seen_at < now() - make_interval(secs => $1)"
LIVE_SQL = "SELECT count(*) FROM calendar_nodes WHERE seen_at > now() - make_interval(secs => $1)"
RENEW_SQL = (
    "UPDATE calendar_leases SET expires_at = now() + make_interval(secs => $3)"
    " WHERE holder = $1 AND partition = ANY($2::text[]) RETURNING partition"
)
RELEASE_SQL = (
    "UPDATE calendar_leases SET holder = NULL, expires_at = now()"
    " WHERE holder = $1 AND partition = ANY($2::text[])"
)
TAKE_SQL = (
    "UPDATE calendar_leases SET holder = $1, expires_at = now() + make_interval(secs => $3)"
    " WHERE partition IN (SELECT partition FROM calendar_leases"
    " WHERE partition = ANY($2::text[]) AND (holder IS NULL OR expires_at < now())"
    " ORDER BY md5(partition || $1) LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING partition"
)
WRITE_SQL = (
    "INSERT INTO calendar_snapshots"
    " (user_id, partition, blocks, fetched_at, failing, error, expired, written_by, rev)"
    " SELECT $1, $2, $3, $4, $5, $6, $7, $8, nextval('calendar_snapshot_rev')"
    " WHERE EXISTS (SELECT 1 FROM calendar_leases WHERE partition = $2 AND holder = $9)"
    " ON CONFLICT (user_id) DO UPDATE SET partition = EXCLUDED.partition,"
    " blocks = EXCLUDED.blocks, fetched_at = EXCLUDED.fetched_at, failing = EXCLUDED.failing,"
    " error = EXCLUDED.error, expired = EXCLUDED.expired, written_by = EXCLUDED.written_by,"
    " rev = EXCLUDED.rev"
)
LOAD_SQL = (
    "SELECT user_id, partition, blocks, fetched_at, failing, error, expired, written_by, rev"
    " FROM calendar_snapshots WHERE rev > $1 ORDER BY rev"
)
_STATUSES = {s.value: s for s in BusyStatus}
Signature = tuple[tuple[CalendarBlock, ...] | None, bool, str | None, bool]


def encode_blocks(blocks: Sequence[CalendarBlock] | None) -> str | None:
    """Blocks as compact JSON rows (epoch seconds), None for no data yet."""
    if blocks is None:
        return None
    rows = [
        [b.start.timestamp(), b.end.timestamp(), b.status.value, b.subject, b.private, b.all_day]
        for b in blocks
    ]
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def decode_blocks(text: str | None) -> tuple[CalendarBlock, ...] | None:
    """The inverse of `encode_blocks`."""
    if text is None:
        return None
    ts = datetime.fromtimestamp
    rows: list[list[Any]] = json.loads(text)
    return tuple(
        CalendarBlock(ts(r[0], UTC), ts(r[1], UTC), _STATUSES[r[2]], r[3], r[4], r[5]) for r in rows
    )


def lease_order(partition: str, node_id: str) -> str:
    """The same per-node preference order the take statement uses."""
    return hashlib.md5((partition + node_id).encode(), usedforsecurity=False).hexdigest()


def too_new(current: int) -> Exception:
    """The error for a database migrated by a newer version of this program."""
    return RuntimeError(f"calendar schema {current} is newer than {SCHEMA_VERSION}")
