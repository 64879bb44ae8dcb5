"""The audit trail's hash chain: pure functions to link and to verify events (REC-03)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from voicemail.models import AuditEvent

GENESIS = "0" * 64


def canonical(value: object) -> str:
    """Deterministic JSON (sorted keys, no spaces, UTF-8 kept) used inside the hash."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    record_id: int | None,
    before: Mapping[str, object] | None,
    after: Mapping[str, object] | None,
) -> str:
    """SHA-256 over the previous link and every field of this event."""
    body = canonical(
        {
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "record_id": record_id,
            "before": before,
            "after": after,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of `verify_chain`: ok, how many links were checked, and the first broken one."""

    ok: bool
    checked: int
    head: str
    broken_seq: int | None = None
    problem: str | None = None


def verify_chain(events: Iterable[AuditEvent], expected_head: str | None = None) -> ChainReport:
    """Walk the chain in order; report the first event whose link or content does not hold."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for ev in events:
        if ev.seq != expected_seq:
            return ChainReport(
                False, checked, prev, expected_seq, f"event {expected_seq} is missing"
            )
        if ev.prev_hash != prev:
            return ChainReport(
                False, checked, prev, ev.seq, "previous-hash link does not match the event before"
            )
        want = event_hash(
            prev, ev.seq, ev.at, ev.actor, ev.action, ev.record_id, ev.before, ev.after
        )
        if want != ev.hash:
            return ChainReport(False, checked, prev, ev.seq, "content changed after it was written")
        prev = ev.hash
        expected_seq += 1
        checked += 1
    if expected_head is not None and expected_head != prev:
        return ChainReport(
            False, checked, prev, expected_seq, "events missing at the end of the trail"
        )
    return ChainReport(True, checked, prev)


# Events that state a record's whole content: the intake's, and the seal of rows that were
# stored before the chain covered content (schema 2). Later events state what they changed.
CONTENT_EVENTS = frozenset({"record.received", "record.sealed"})


@dataclass(frozen=True, slots=True)
class RecordsReport:
    """Result of `verify_records`: how many rows were held against the chain, and what differs."""

    checked: int
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every row is exactly what its audit events say."""
        return not self.problems


def _same(a: object, b: object) -> bool:
    # JSON keeps booleans where SQLite keeps 0/1 (hidden_from_owner)
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    return a == b


def verify_records(
    events: Iterable[AuditEvent],
    rows: Iterable[Mapping[str, object]],
    columns: Iterable[str],
    label: str = "registration_number",
) -> RecordsReport:
    """Replay the chain into each record's expected content and compare every stored row.

    `record.received` and `record.sealed` give a record's whole content; any other event on a
    record sets the columns its `after` names. A row that differs, a row the chain never
    received, a column no event states, and a record the chain has but the table lost are
    each a problem.
    """
    content = tuple(columns)
    known = frozenset(content)
    expected: dict[int, dict[str, object]] = {}
    problems: list[str] = []
    for ev in events:
        if ev.record_id is None or not ev.after:
            continue
        state = expected.get(ev.record_id)
        if ev.action in CONTENT_EVENTS:
            if state is None:
                state = expected[ev.record_id] = {}
            for key in known & ev.after.keys():
                if (
                    ev.action == "record.sealed"
                    and key in state
                    and not _same(state[key], ev.after[key])
                ):
                    problems.append(
                        f"record {ev.record_id}: {key} was sealed (event {ev.seq}) with another"
                        " value than the trail before it gave"
                    )
                state[key] = ev.after[key]
        elif state is not None:
            for key in known & ev.after.keys():
                state[key] = ev.after[key]
    checked = 0
    seen: set[int] = set()
    for row in rows:
        record_id = row["id"]
        assert isinstance(record_id, int)
        seen.add(record_id)
        checked += 1
        name = str(row.get(label) or record_id)
        state = expected.get(record_id)
        if state is None:
            problems.append(f"{name}: not in the audit trail (inserted behind its back)")
            continue
        for key in content:
            if key not in state:
                problems.append(f"{name}: {key} is not covered by the audit trail")
            elif not _same(state[key], row.get(key)):
                problems.append(f"{name}: {key} differs from the audit trail")
    for record_id in sorted(expected.keys() - seen):
        problems.append(f"record {record_id}: in the audit trail but gone from the register")
    return RecordsReport(checked, tuple(problems))
