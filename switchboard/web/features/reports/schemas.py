"""The manager's reports as the API returns them and the page shows them: unused subscriptions
and the year's count per unit (ALV-25), blocked attempts (HAL-14)."""

from __future__ import annotations

from dataclasses import dataclass


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
