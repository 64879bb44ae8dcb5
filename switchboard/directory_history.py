"""HAL-13: every directory change is kept in a directory history for the contact centre.

When the configuration is loaded (start and every reload), the directory is compared with the
one stored at the previous load (`directory_snapshot` beside the call log). Each difference is a
`DirectoryChange`:

- `added` / `removed`: a new or removed subscription (user, group or shared phone);
- `number_changed`: the same entry with another number (`field`, `before`, `after`);
- `handover`: a number that belonged to one entry now belongs to another (a successor takes
  over a post), reported instead of the separate removal and addition of that number.

The first load only stores the snapshot (there is nothing to compare with).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from routing.models import Directory
from switchboard.telephony.calllog.records import DirectoryChange

log = logging.getLogger(__name__)
Snapshot = dict[str, dict[str, Any]]
_NUMBER_FIELDS = ("extension", "mobile", "number")


class HistoryStore(Protocol):
    """Where the snapshot and the history live (the call log's `ServiceRecords`)."""

    async def directory_snapshot(self) -> str | None:
        """The directory as last seen."""
        ...

    async def save_directory(
        self, snapshot: str, changes: list[DirectoryChange], now: datetime
    ) -> None:
        """Store the changes and the new snapshot."""
        ...


def snapshot(directory: Directory) -> Snapshot:
    """What the history compares: each entry's kind, name, unit and numbers, by id."""
    out: Snapshot = {}
    for u in directory.users:
        out[u.id] = {
            "type": "user",
            "name": u.name,
            "unit": u.unit,
            "extension": u.extension,
            "mobile": u.mobile,
        }
    for g in directory.groups:
        out[g.id] = {"type": "group", "name": g.designation, "unit": g.unit, "number": g.number}
    for s in directory.shared_phones:
        out[s.id] = {
            "type": "shared_phone",
            "name": s.designation,
            "unit": s.unit,
            "mobile": s.mobile,
        }
    return out


def _numbers(entry: Mapping[str, Any]) -> dict[str, str]:
    return {f: str(entry[f]) for f in _NUMBER_FIELDS if entry.get(f)}


def diff(before: Snapshot, after: Snapshot, now: datetime) -> list[DirectoryChange]:
    """The changes from `before` to `after`, handovers first, then by entry id."""
    owner_before = {n: eid for eid, e in before.items() for n in _numbers(e).values()}
    owner_after = {n: eid for eid, e in after.items() for n in _numbers(e).values()}
    changes: list[DirectoryChange] = []
    handed: set[str] = set()  # numbers reported as handed over
    for number, old in sorted(owner_before.items()):
        new = owner_after.get(number)
        if new is not None and new != old:
            handed.add(number)
            changes.append(
                DirectoryChange(
                    now,
                    "handover",
                    new,
                    {
                        "number": number,
                        "from": old,
                        "from_name": before[old].get("name"),
                        "to": new,
                        "to_name": after[new].get("name"),
                    },
                )
            )
    for eid in sorted(set(after) - set(before)):
        e = after[eid]
        numbers = {f: n for f, n in _numbers(e).items() if n not in handed}
        changes.append(DirectoryChange(now, "added", eid, _public(e) | {"numbers": numbers}))
    for eid in sorted(set(before) - set(after)):
        e = before[eid]
        numbers = {f: n for f, n in _numbers(e).items() if n not in handed}
        changes.append(DirectoryChange(now, "removed", eid, _public(e) | {"numbers": numbers}))
    for eid in sorted(set(before) & set(after)):
        old_n, new_n = _numbers(before[eid]), _numbers(after[eid])
        for f in _NUMBER_FIELDS:
            b, a = old_n.get(f), new_n.get(f)
            if b != a and not (b in handed or a in handed):
                changes.append(
                    DirectoryChange(
                        now,
                        "number_changed",
                        eid,
                        _public(after[eid]) | {"field": f, "before": b, "after": a},
                    )
                )
    return changes


def _public(e: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": e.get("type"), "name": e.get("name"), "unit": e.get("unit")}


async def record_directory(
    store: HistoryStore, directory: Directory, now: datetime
) -> list[DirectoryChange]:
    """Compare the directory with the stored one, keep the changes and the new snapshot."""
    after = snapshot(directory)
    stored = await store.directory_snapshot()
    before: Snapshot | None = json.loads(stored) if stored else None
    changes = diff(before, after, now) if before is not None else []
    if before != after:
        await store.save_directory(json.dumps(after, ensure_ascii=False), changes, now)
    if changes:
        log.info("directory changed", extra={"changes": len(changes)})
    return changes
