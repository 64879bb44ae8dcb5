"""The reports as the API returns them and the pages show them: unused subscriptions and the
year's count per unit (ALV-25), blocked attempts (HAL-14), today's service level (HAL-03/05)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Subscription:
    """One number of the directory: a user's extension or mobile, a group, a shared phone."""

    entry_id: str
    kind: str
    number: str
    unit: str
    name: str

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "id": self.entry_id,
            "kind": self.kind,
            "number": self.number,
            "unit": self.unit,
            "name": self.name,
        }


@dataclass(frozen=True, slots=True)
class UnitCount:
    """One unit's year: its subscriptions, the calls that involved them, how many are unused."""

    subscriptions: int = 0
    calls: int = 0
    unused: int = 0

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {"subscriptions": self.subscriptions, "calls": self.calls, "unused": self.unused}


@dataclass(frozen=True, slots=True)
class UnusedReport:
    """ALV-25: subscriptions without calls for `days`, and the year's count per unit."""

    days: int
    since: str
    unused: list[Subscription]
    year: int
    by_unit: dict[str, UnitCount]

    def as_json(self) -> dict[str, object]:
        """GET /api/reports/unused-subscriptions."""
        return {
            "days": self.days,
            "since": self.since,
            "unused": [s.as_json() for s in self.unused],
            "year": self.year,
            "by_unit": {unit: c.as_json() for unit, c in self.by_unit.items()},
        }


@dataclass(frozen=True, slots=True)
class BlockedAttempt:
    """HAL-14: a premium-rate or international call that was blocked."""

    at: str  # ISO 8601, the organisation's zone
    user: str
    name: str
    unit: str
    manager: str | None
    number: str
    kind: str  # "international" or "premium_rate"

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "at": self.at,
            "user": self.user,
            "name": self.name,
            "unit": self.unit,
            "manager": self.manager,
            "number": self.number,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class BlockedAttempts:
    """HAL-14: the blocked attempts of the last `days`, newest first."""

    days: int
    attempts: list[BlockedAttempt]

    def as_json(self) -> dict[str, object]:
        """GET /api/reports/blocked-attempts."""
        return {"days": self.days, "attempts": [a.as_json() for a in self.attempts]}


# ---------------------------------------------------------------- HAL-03 / HAL-05 live


@dataclass(frozen=True, slots=True)
class Tally:
    """Calls and answered calls of one hour, unit or kind of number."""

    calls: int
    answered: int
    answered_share: float | None  # None without calls

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dict (the simulation report's shape)."""
        return {
            "calls": self.calls,
            "answered": self.answered,
            "answered_share": self.answered_share,
        }

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Tally:
        """From the simulation report's tally row."""
        share = data["answered_share"]
        return cls(
            int(data["calls"]), int(data["answered"]), None if share is None else float(share)
        )


@dataclass(frozen=True, slots=True)
class CoverageGap:
    """HAL-05: a stretch of today when a group had nobody available."""

    group: str
    designation: str
    on_call: bool
    date: str
    start: str  # "HH:MM"
    end: str
    minutes: int
    members: list[str]
    message: str
    now: bool  # the stretch is going on now

    def as_json(self) -> dict[str, object]:
        """The simulation's coverage warning, with `now`."""
        return {
            "group": self.group,
            "designation": self.designation,
            "on_call": self.on_call,
            "date": self.date,
            "from": self.start,
            "to": self.end,
            "minutes": self.minutes,
            "members": self.members,
            "message": self.message,
            "now": self.now,
        }

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> CoverageGap:
        """From `simulation.report.coverage_warning` plus `now`."""
        return cls(
            group=str(data["group"]),
            designation=str(data["designation"]),
            on_call=bool(data["on_call"]),
            date=str(data["date"]),
            start=str(data["from"]),
            end=str(data["to"]),
            minutes=int(data["minutes"]),
            members=[str(m) for m in data["members"]],
            message=str(data["message"]),
            now=bool(data["now"]),
        )


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    """HAL-03/HAL-05 live: today so far, the simulation report's keys for one real day."""

    date: str
    at: str
    calls: int
    answered: int
    answered_share: float | None
    outcomes: dict[str, int]
    answered_outcomes: list[str]
    by_hour: dict[str, Tally]
    by_unit: dict[str, Tally]
    by_kind: dict[str, Tally]
    coverage_warnings: list[CoverageGap]

    def as_json(self) -> dict[str, Any]:
        """GET /api/reports/service-level (and what /metrics reads)."""
        return {
            "date": self.date,
            "at": self.at,
            "calls": self.calls,
            "answered": self.answered,
            "answered_share": self.answered_share,
            "must_call_again_count": self.calls - self.answered,
            "outcomes": self.outcomes,
            "answered_outcomes": self.answered_outcomes,
            "by_hour": {k: t.as_json() for k, t in self.by_hour.items()},
            "by_unit": {k: t.as_json() for k, t in self.by_unit.items()},
            "by_kind": {k: t.as_json() for k, t in self.by_kind.items()},
            "coverage_warnings": [w.as_json() for w in self.coverage_warnings],
        }

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ServiceLevel:
        """From `as_json`'s shape (the cached report)."""

        def tallies(key: str) -> dict[str, Tally]:
            return {str(k): Tally.of(v) for k, v in data[key].items()}

        return cls(
            date=str(data["date"]),
            at=str(data["at"]),
            calls=int(data["calls"]),
            answered=int(data["answered"]),
            answered_share=data["answered_share"],
            outcomes={str(k): int(v) for k, v in data["outcomes"].items()},
            answered_outcomes=[str(o) for o in data["answered_outcomes"]],
            by_hour=tallies("by_hour"),
            by_unit=tallies("by_unit"),
            by_kind=tallies("by_kind"),
            coverage_warnings=[CoverageGap.of(w) for w in data["coverage_warnings"]],
        )
