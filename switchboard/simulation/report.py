"""The service-level report (HAL-03, HAL-05): JSON for machines, one HTML page for a manager."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable
from typing import Any

from switchboard.simulation.models import (
    ANSWERED,
    CALL_KINDS,
    OUTCOME_LABELS,
    Outcome,
    RunResult,
    Scenario,
    SimCall,
)

Report = dict[str, Any]
MAX_LISTED = 1000  # must-call-again calls listed one by one in the JSON (all are counted)

KIND_LABELS = {
    "extension": "Extensions",
    "mobile": "Mobiles",
    "group": "Group numbers",
    "shared_phone": "Shared phones",
    "switchboard": "Switchboard",
}


def share(answered: int, calls: int) -> float | None:
    """Answered share rounded to 4 decimals; None without calls."""
    return round(answered / calls, 4) if calls else None


def _tally(calls: Iterable[SimCall], key: str) -> dict[str, dict[str, Any]]:
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


def build_report(result: RunResult, scenario: Scenario) -> Report:
    """The report as a JSON-ready dict; deterministic for a given run."""
    calls = result.calls
    answered = sum(c.answered for c in calls)
    outcomes = {o.value: 0 for o in Outcome}
    for c in calls:
        outcomes[c.outcome.value] += 1
    again = [c for c in calls if not c.answered]
    by_kind = _tally(calls, "kind")
    by_kind = {k: by_kind[k] for k in CALL_KINDS if k in by_kind}
    by_day = _tally_by_day(calls)
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
        "by_hour": _tally(calls, "hour"),
        "by_day": by_day,
        "by_unit": _tally(calls, "unit"),
        "by_kind": by_kind,
        "coverage_warnings": [
            {
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
            for w in result.coverage
        ],
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


def _tally_by_day(calls: Iterable[SimCall]) -> dict[str, dict[str, Any]]:
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


# --- HTML ---------------------------------------------------------------------------------

GREEN, RED, GREY = "#2e7d32", "#c62828", "#9e9e9e"


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(report: Report) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, str] = {}
    hours = report["by_hour"]
    if hours:
        fig, ax = plt.subplots(figsize=(8, 3.2))
        labels = list(hours)
        ok = [hours[h]["answered"] for h in labels]
        bad = [hours[h]["calls"] - hours[h]["answered"] for h in labels]
        ax.bar(labels, ok, color=GREEN, label="answered")
        ax.bar(labels, bad, bottom=ok, color=RED, label="must call again")
        for i, h in enumerate(labels):
            s = hours[h]["answered_share"]
            if s is not None:
                ax.text(i, ok[i] + bad[i], f"{s:.0%}", ha="center", va="bottom", fontsize=8)
        ax.set_xlabel("hour of the day")
        ax.set_ylabel("calls")
        ax.set_title("Calls per hour and share answered")
        ax.legend(loc="upper right", fontsize=8)
        plots["by_hour"] = _png(fig)
    outcomes = report["outcomes"]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    names = [o.value for o in Outcome]
    ax.barh(
        [OUTCOME_LABELS[o] for o in Outcome],
        [outcomes[n] for n in names],
        color=[GREEN if o in ANSWERED else RED for o in Outcome],
    )
    ax.invert_yaxis()
    ax.set_xlabel("calls")
    ax.set_title("How calls ended (green counts as answered, HAL-03)")
    plots["outcomes"] = _png(fig)
    units = report["by_unit"]
    if units:
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(units) + 1.2))
        labels = list(units)
        values = [(units[u]["answered_share"] or 0.0) * 100 for u in labels]
        ax.barh(
            labels,
            values,
            color=[GREEN if v >= 90 else RED if v < 75 else "#f9a825" for v in values],
        )
        for i, u in enumerate(labels):
            ax.text(
                values[i] + 1,
                i,
                f"{values[i]:.0f}% of {units[u]['calls']}",
                va="center",
                fontsize=8,
            )
        ax.set_xlim(0, 115)
        ax.invert_yaxis()
        ax.set_xlabel("answered share, %")
        ax.set_title("Answered share per unit")
        plots["by_unit"] = _png(fig)
    variants = report.get("comparison") or []
    if variants:
        fig, ax = plt.subplots(figsize=(8, 0.45 * (len(variants) + 1) + 1.2))
        labels = ["base: " + str(report["scenario"])] + [str(v["name"]) for v in variants]
        values = [(report["answered_share"] or 0.0) * 100] + [
            (v["answered_share"] or 0.0) * 100 for v in variants
        ]
        ax.barh(
            labels, values, color=[GREY] + [GREEN if v >= values[0] else RED for v in values[1:]]
        )
        for i, v in enumerate(values):
            delta = "" if i == 0 else f"  ({v - values[0]:+.1f} points)"
            ax.text(v + 1, i, f"{v:.1f}%{delta}", va="center", fontsize=8)
        ax.set_xlim(0, 130)
        ax.invert_yaxis()
        ax.set_xlabel("answered share, %")
        ax.set_title("What a change would do to the answered share")
        plots["comparison"] = _png(fig)
    return plots


def _pct(value: object) -> str:
    return "–" if not isinstance(value, float | int) else f"{value * 100:.1f} %"


def _table(head: list[str], rows: Iterable[list[object]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _img(plots: dict[str, str], key: str, alt: str) -> str:
    if key not in plots:
        return ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{plots[key]}">'


_CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1.5rem 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.8rem 1.2rem;min-width:9rem}
.card b{display:block;font-size:2rem} .big b{font-size:3rem}
.good b{color:#2e7d32} .bad b{color:#c62828}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}
td,th{border-bottom:1px solid #eee;padding:.25rem .6rem;text-align:left}
img{max-width:100%} .warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:.5rem 1rem}
"""


def render_html(report: Report, limit: int = 200) -> str:
    """A self-contained HTML page: headline figures, plots (PNG inline), tables."""
    plots = _plots(report)
    share_text = _pct(report["answered_share"])
    dates = ", ".join(report["dates"])
    cards = (
        f'<div class="cards"><div class="card big good"><b>{share_text}</b>answered (HAL-03)</div>'
        f'<div class="card"><b>{report["calls"]}</b>calls</div>'
        f'<div class="card bad"><b>{report["must_call_again_count"]}</b>must call again</div>'
        f'<div class="card"><b>{report["voicemails_created"]}</b>voicemails created</div>'
        f'<div class="card{" bad" if report["coverage_warnings"] else ""}">'
        f"<b>{len(report['coverage_warnings'])}</b>coverage warnings</div></div>"
    )
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>Service level – {html.escape(report['organisation'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Service level: {html.escape(report['organisation'])}</h1>",
        f'<p class="sub">Simulated {html.escape(dates)} · '
        f"scenario {html.escape(report['scenario'])} · seed {report['seed']}</p>",
        cards,
        "<p>A call counts as <b>answered</b> when it ends in a personal answer, a forward to a "
        "covering point (not the contact centre), a redirection message or voicemail (HAL-03). "
        "Every other caller has to call again.</p>",
    ]
    if report.get("comparison"):
        rows = [
            [
                v["name"],
                "; ".join(v["changes"]),
                _pct(v["answered_share"]),
                "–"
                if v["answered_share_delta"] is None
                else f"{v['answered_share_delta'] * 100:+.1f} points",
                v["must_call_again_count"],
                v["voicemails_created"],
                v["coverage_warnings"],
            ]
            for v in report["comparison"]
        ]
        base_row = [
            [
                "base",
                "as configured",
                share_text,
                "",
                report["must_call_again_count"],
                report["voicemails_created"],
                len(report["coverage_warnings"]),
            ]
        ]
        parts += [
            "<h2>What a change would do</h2>",
            _img(plots, "comparison", "answered share per variant"),
            _table(
                [
                    "variant",
                    "change",
                    "answered",
                    "difference",
                    "must call again",
                    "voicemails",
                    "coverage warnings",
                ],
                base_row + rows,
            ),
        ]
    if report["coverage_warnings"]:
        parts.append("<h2>Coverage warnings (HAL-05)</h2>")
        parts += [
            f'<p class="warn">{html.escape(w["message"])}</p>' for w in report["coverage_warnings"]
        ]
    parts += [
        "<h2>Through the day</h2>",
        _img(plots, "by_hour", "calls per hour"),
        "<h2>How calls ended</h2>",
        _img(plots, "outcomes", "outcomes"),
        _table(
            ["outcome", "counts as answered", "calls"],
            [
                [OUTCOME_LABELS[o], "yes" if o in ANSWERED else "no", report["outcomes"][o.value]]
                for o in Outcome
            ],
        ),
        "<h2>Per unit</h2>",
        _img(plots, "by_unit", "answered share per unit"),
        _table(
            ["unit", "calls", "answered", "share"],
            [
                [u, r["calls"], r["answered"], _pct(r["answered_share"])]
                for u, r in report["by_unit"].items()
            ],
        ),
        "<h2>Per kind of number</h2>",
        _table(
            ["called", "calls", "answered", "share"],
            [
                [KIND_LABELS.get(k, k), r["calls"], r["answered"], _pct(r["answered_share"])]
                for k, r in report["by_kind"].items()
            ],
        ),
        "<h2>Why callers must call again</h2>",
        _table(["reason", "calls"], list(map(list, report["must_call_again_by_reason"].items()))),
    ]
    listed = report["must_call_again"][:limit]
    if listed:
        more = report["must_call_again_count"] - len(listed)
        parts += [
            "<h2>The calls, one by one</h2>",
            _table(
                ["time", "called", "unit", "outcome", "why"],
                [
                    [
                        c["at"][11:19],
                        c["called"] or "",
                        c["unit"],
                        OUTCOME_LABELS[Outcome(c["outcome"])],
                        c["why"],
                    ]
                    for c in listed
                ],
            ),
            f"<p>… and {more} more (all in the JSON report).</p>" if more > 0 else "",
        ]
    parts.append("</body></html>\n")
    return "\n".join(p for p in parts if p)
