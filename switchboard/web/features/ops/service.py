"""Operations: Prometheus metrics (calls by outcome, sync lag, intake backlogs, manual
redirects) through prometheus-client, one custom collector per app, and the liveness answer.

The family names, types, help texts and labels are a contract (dashboards read them)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switchboard.web.features.ops.schemas import Health
from switchboard.web.features.reports import service_level
from switchboard.web.services import WebServices
from voicemail.models import RecordStatus
from voicemail.phonewatch import on_phone
from voicemail.spool import FOLDERS

_MSG_TXT = re.compile(r"^msg\d{4}\.txt$")


def spool_waiting(spool: Path, context: str) -> int:
    """How many msgNNNN.txt files wait in `<spool>/<context>/*/<folder>/` (intake removes them)."""
    count = 0
    try:
        mailboxes = [d.path for d in os.scandir(spool / context) if d.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for mailbox in mailboxes:
        for folder in FOLDERS:
            try:
                names = os.listdir(os.path.join(mailbox, folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            count += sum(1 for name in names if _MSG_TXT.match(name))
    return count


class OpsCollector(Collector):
    """The families of one scrape: `gather` reads them (asynchronously), `collect` yields them
    to `generate_latest`. One per app, in the app's own `CollectorRegistry`."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        """The families the last `gather` read."""
        return list(self.families)


class OpsMetrics:
    """/metrics for one app: its own registry (several apps in one process never clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = OpsCollector()
        self.registry.register(self.collector)

    async def render(self, svc: WebServices, sse_clients: int) -> str:
        """Every metric family as Prometheus text format 0.0.4 (the telephony's histograms
        follow as it writes them)."""
        families = await gather(svc, sse_clients)
        # No await between setting and generating: a concurrent scrape cannot interleave.
        self.collector.families = families
        text = generate_latest(self.registry).decode()
        if svc.telephony_metrics is not None:
            text += svc.telephony_metrics()  # decision and AGI round-trip histograms
        return text


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _labelled(
    name: str, help_text: str, label: str, samples: Iterable[tuple[str, float]]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=[label])
    for key, value in samples:
        family.add_metric([key], value)
    return family


def service_level_families(r: Mapping[str, Any]) -> list[Metric]:
    """HAL-03/HAL-05 live: today's answered share (all, per unit, per kind) and coverage."""
    out: list[Metric] = [
        _gauge(
            "switchboard_answered_share_today",
            "Share of today's calls answered (HAL-03: person, covering point, message, voicemail).",
            float(r["answered_share"] or 0.0),
        ),
        _gauge("switchboard_calls_today", "Calls to the organisation today.", r["calls"]),
    ]
    for key, label in (("by_unit", "unit"), ("by_kind", "kind")):
        out.append(
            _labelled(
                f"switchboard_answered_share_today_by_{label}",
                f"Share of today's calls answered, per {label}.",
                label,
                ((str(k), float(v["answered_share"] or 0.0)) for k, v in sorted(r[key].items())),
            )
        )
    warnings = r["coverage_warnings"]
    out.append(
        _gauge(
            "switchboard_coverage_warnings_today",
            "HAL-05: stretches today with nobody covering a group or on-call number.",
            float(len(warnings)),
        )
    )
    out.append(
        _gauge(
            "switchboard_coverage_gaps_now",
            "HAL-05: groups or on-call numbers with nobody covering them right now.",
            float(sum(1 for w in warnings if w["now"])),
        )
    )
    return out


async def gather(svc: WebServices, sse_clients: int) -> list[Metric]:
    """Every metric family, read now. Calls by outcome come from the call log's tally (counted
    by the database once, then kept as calls are written): a scrape reads no whole table."""
    now = svc.now()
    out: list[Metric] = []
    if svc.call_log is not None:
        outcomes: dict[str, int] = {}
        for outcome, n in (await svc.call_log.outcome_tally()).items():
            key = outcome or "unknown"
            outcomes[key] = outcomes.get(key, 0) + n
        # A counter family named without `_total`: the exposition adds it back.
        calls = CounterMetricFamily(
            "switchboard_calls_total", "Logged calls by outcome.", labels=["outcome"]
        )
        for key, n in sorted(outcomes.items()):
            calls.add_metric([key], float(n))
        out.append(calls)
    lag = svc.presence.sync_lag(now)
    out.append(
        _labelled(
            "switchboard_calendar_sync_lag_seconds",
            "Seconds since each calendar source last synced.",
            "source",
            sorted(lag.items()),
        )
    )
    if svc.spool is not None:
        context = svc.config.voicemail.context or svc.config.org.voicemail_context
        waiting_files = await asyncio.to_thread(spool_waiting, svc.spool, context)
        if svc.register is not None:  # ALV-23: taken messages stay in the phone mailboxes
            waiting_files = max(0, waiting_files - await on_phone(svc.register.store, context))
        out.append(
            _labelled(
                "switchboard_spool_waiting_messages",
                "Voicemail messages in the spool not yet taken into the register.",
                "context",
                [(context, float(waiting_files))],
            )
        )
    if svc.register is not None:
        waiting = await svc.register.queue(now, limit=None)
        out.append(
            _gauge(
                "switchboard_register_backlog",
                "Voicemail records awaiting classification (intake backlog).",
                float(len(waiting)),
            )
        )
        oldest = max((item.waiting_s for item in waiting), default=0.0)
        out.append(
            _gauge(
                "switchboard_register_oldest_unclassified_seconds",
                "Age of the oldest unclassified voicemail record.",
                oldest,
            )
        )
        total = await svc.register.store.count(RecordStatus.CLASSIFIED)
        out.append(
            _gauge("switchboard_register_classified", "Classified voicemail records.", float(total))
        )
    views = (await svc.effective(now)).views(now).values()
    active = sum(1 for v in views if v.redirect is not None and v.redirect.source == "manual")
    out.append(
        _gauge("switchboard_manual_redirects_active", "Manual redirects in force.", float(active))
    )
    by_state = {"available": 0, "redirected": 0, "blocked": 0}
    for v in views:
        by_state[v.state] += 1
    out.append(
        _labelled(
            "switchboard_users",
            "Users by effective state (available, redirected, blocked).",
            "state",
            [(k, float(n)) for k, n in by_state.items()],
        )
    )
    out.append(_gauge("switchboard_board_clients", "Open server-sent-event streams.", sse_clients))
    if svc.call_log is not None:
        out += service_level_families(await service_level.live(svc))
    return out


def health(svc: WebServices) -> Health:
    """Liveness: this service answers, for which organisation, with or without a register."""
    return Health(status="ok", organisation=svc.config.org.id, register=svc.register is not None)
