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
