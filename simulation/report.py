"""The service-level report (HAL-03, HAL-05) as JSON for machines; `simulation.page` renders it
as one HTML page for a manager."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from simulation.models import (
    ANSWERED,
    CALL_KINDS,
    CoverageWarning,
    Outcome,
    RunResult,
    Scenario,
    SimCall,
)

Report = dict[str, Any]
MAX_LISTED = 1000  # must-call-again calls listed one by one in the JSON (all are counted)


def share(answered: int, calls: int) -> float | None:
    """Answered share rounded to 4 decimals; None without calls."""
    return round(answered / calls, 4) if calls else None


def tally(calls: Iterable[SimCall], key: str) -> dict[str, dict[str, Any]]:
    counts: dict[str, list[int]] = {}
    for c in calls:
        k = c.at.strftime("%H") if key == "hour" else str(getattr(c, key))
        row = counts.setdefault(k, [0, 0])
        row[0] += 1
        row[1] += c.answered
    return {
        k: {"calls": n, "answered": a, "answered_share": share(a, n)}
        for k, (n, a) in sorted(counts.items())
    }


def coverage_warning(w: CoverageWarning) -> dict[str, Any]:
    """HAL-05: one stretch when a group had nobody available, as the report (and the live
    service-level page) shows it."""
    return {
        "group": w.group,
        "designation": w.designation,
        "on_call": w.on_call,
        "date": w.start.date().isoformat(),
        "from": w.start.strftime("%H:%M"),
        "to": w.end.strftime("%H:%M"),
        "minutes": w.minutes,
        "members": list(w.members),
        "message": (
            f"{w.designation}{' (jour)' if w.on_call else ''}: nobody available "
            f"{w.start:%Y-%m-%d} {w.start:%H:%M}–{w.end:%H:%M} ({w.minutes} min)"
        ),
    }


def build_report(result: RunResult, scenario: Scenario) -> Report:
    """The report as a JSON-ready dict; deterministic for a given run."""
    calls = result.calls
    answered = sum(c.answered for c in calls)
    outcomes = {o.value: 0 for o in Outcome}
    for c in calls:
        outcomes[c.outcome.value] += 1
    again = [c for c in calls if not c.answered]
    by_kind = tally(calls, "kind")
    by_kind = {k: by_kind[k] for k in CALL_KINDS if k in by_kind}
    by_day = _by_day(calls)
    return {
        "organisation": result.organisation,
        "scenario": result.scenario,
        "seed": result.seed,
        "dates": [d.isoformat() for d in result.dates],
        "calls": len(calls),
        "answered": answered,
        "answered_share": share(answered, len(calls)),
        "must_call_again_count": len(again),
        "outcomes": outcomes,
        "answered_outcomes": [o.value for o in Outcome if o in ANSWERED],
        "must_call_again": [
            {
                "id": c.id,
                "at": c.at.isoformat(),
                "kind": c.kind,
                "called": c.called,
                "to": c.target_id,
                "unit": c.unit,
                "outcome": c.outcome.value,
                "why": c.why,
            }
            for c in again[:MAX_LISTED]
        ],
        "must_call_again_by_reason": _reasons(again),
        "by_hour": tally(calls, "hour"),
        "by_day": by_day,
        "by_unit": tally(calls, "unit"),
        "by_kind": by_kind,
        "coverage_warnings": [coverage_warning(w) for w in result.coverage],
        "voicemails_created": sum(c.voicemail_left for c in calls),
        "voicemails_written": result.voicemails_written,
        "spool": result.spool,
        "settings": {
            "answer_probability": scenario.answer_probability,
            "answer_probability_in_meeting": scenario.answer_probability_in_meeting,
            "ring_timeout_s": scenario.ring_timeout_s,
            "talk_time_s": scenario.talk_time_s,
            "voicemail_leave_probability": scenario.voicemail_leave_probability,
            "switchboard_agents": scenario.switchboard.agents,
            "arrivals": {
                k: {f"{h:02d}": r for h, r in v.items()} for k, v in scenario.arrivals.items()
            },
        },
    }


def _by_day(calls: Iterable[SimCall]) -> dict[str, dict[str, Any]]:
    counts: dict[str, list[int]] = {}
    for c in calls:
        row = counts.setdefault(c.at.date().isoformat(), [0, 0])
        row[0] += 1
        row[1] += c.answered
    return {
        k: {"calls": n, "answered": a, "answered_share": share(a, n)}
        for k, (n, a) in sorted(counts.items())
    }


def _reasons(again: list[SimCall]) -> dict[str, int]:
    """Must-call-again calls grouped by their reason without the person's name."""
    counts: dict[str, int] = {}
    for c in again:
        reason = (
            c.why.split(": ", 1)[-1]
            if c.outcome is not Outcome.OUTSIDE_TELEPHONE_HOURS
            else "outside telephone hours"
        )
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def to_json(report: Report) -> str:
    """The report as JSON text: stable key order, UTF-8, newline at the end."""
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"
