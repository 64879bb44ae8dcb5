"""Prometheus text exposition: calls by outcome, sync lag, register backlog, manual redirects."""

from __future__ import annotations

from collections import Counter

from switchboard.web.services import WebServices
from voicemail.models import RecordStatus


def _label(value: object) -> str:
    text = str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {value:g}" for labels, value in samples]
    return lines


async def render(svc: WebServices, sse_clients: int) -> str:
    """Every metric family as Prometheus text format 0.0.4."""
    now = svc.now()
    out: list[str] = []
    if svc.call_log is not None:
        outcomes = Counter(str(c.get("outcome") or "unknown") for c in await svc.call_log.calls())
        samples = [(f'{{outcome="{_label(k)}"}}', float(v)) for k, v in sorted(outcomes.items())]
        out += _family("switchboard_calls_total", "counter", "Logged calls by outcome.", samples)
    lag = svc.presence.sync_lag(now)
    out += _family(
        "switchboard_calendar_sync_lag_seconds",
        "gauge",
        "Seconds since each calendar source last synced.",
        [(f'{{source="{_label(k)}"}}', v) for k, v in sorted(lag.items())],
    )
    if svc.register is not None:
        waiting = await svc.register.queue(now, limit=None)
        out += _family(
            "switchboard_register_backlog",
            "gauge",
            "Voicemail records awaiting classification (intake backlog).",
            [("", float(len(waiting)))],
        )
        oldest = max((item.waiting_s for item in waiting), default=0.0)
        out += _family(
            "switchboard_register_oldest_unclassified_seconds",
            "gauge",
            "Age of the oldest unclassified voicemail record.",
            [("", oldest)],
        )
        total = await svc.register.store.count(RecordStatus.CLASSIFIED)
        out += _family(
            "switchboard_register_classified",
            "gauge",
            "Classified voicemail records.",
            [("", float(total))],
        )
    active = sum(1 for uid in svc.store.manual() if svc.store.manual_for(uid, now) is not None)
    out += _family(
        "switchboard_manual_redirects_active",
        "gauge",
        "Manual redirects in force.",
        [("", float(active))],
    )
    out += _family(
        "switchboard_board_clients", "gauge", "Open server-sent-event streams.", [("", sse_clients)]
    )
    return "\n".join(out) + "\n"
