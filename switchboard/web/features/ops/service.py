"""Operations: Prometheus text exposition (calls by outcome, sync lag, intake backlogs, manual
redirects) and the liveness answer."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def _label(value: object) -> str:
    text = str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {value:g}" for labels, value in samples]
    return lines


def service_level_families(r: Mapping[str, Any]) -> list[str]:
    """HAL-03/HAL-05 live: today's answered share (all, per unit, per kind) and coverage."""
    out = _family(
        "switchboard_answered_share_today",
        "gauge",
        "Share of today's calls answered (HAL-03: person, covering point, message, voicemail).",
        [("", float(r["answered_share"] or 0.0))],
    )
    out += _family(
        "switchboard_calls_today", "gauge", "Calls to the organisation today.", [("", r["calls"])]
    )
    for key, label in (("by_unit", "unit"), ("by_kind", "kind")):
        out += _family(
            f"switchboard_answered_share_today_by_{label}",
            "gauge",
            f"Share of today's calls answered, per {label}.",
            [
                (f'{{{label}="{_label(k)}"}}', float(v["answered_share"] or 0.0))
                for k, v in sorted(r[key].items())
            ],
        )
    warnings = r["coverage_warnings"]
    out += _family(
        "switchboard_coverage_warnings_today",
        "gauge",
        "HAL-05: stretches today with nobody covering a group or on-call number.",
        [("", float(len(warnings)))],
    )
    out += _family(
        "switchboard_coverage_gaps_now",
        "gauge",
        "HAL-05: groups or on-call numbers with nobody covering them right now.",
        [("", float(sum(1 for w in warnings if w["now"])))],
    )
    return out


async def render(svc: WebServices, sse_clients: int) -> str:
    """Every metric family as Prometheus text format 0.0.4."""
    now = svc.now()
    out: list[str] = []
    if svc.call_log is not None:
        outcomes: dict[str, int] = {}
        for outcome, n in (await svc.call_log.outcome_counts()).items():
            key = outcome or "unknown"
            outcomes[key] = outcomes.get(key, 0) + n
        samples = [(f'{{outcome="{_label(k)}"}}', float(v)) for k, v in sorted(outcomes.items())]
        out += _family("switchboard_calls_total", "counter", "Logged calls by outcome.", samples)
    lag = svc.presence.sync_lag(now)
    out += _family(
        "switchboard_calendar_sync_lag_seconds",
        "gauge",
        "Seconds since each calendar source last synced.",
        [(f'{{source="{_label(k)}"}}', v) for k, v in sorted(lag.items())],
    )
    if svc.spool is not None:
        context = svc.config.voicemail.context or svc.config.org.voicemail_context
        waiting_files = await asyncio.to_thread(spool_waiting, svc.spool, context)
        if svc.register is not None:  # ALV-23: taken messages stay in the phone mailboxes
            waiting_files = max(0, waiting_files - await on_phone(svc.register.store, context))
        out += _family(
            "switchboard_spool_waiting_messages",
            "gauge",
            "Voicemail messages in the spool not yet taken into the register.",
            [(f'{{context="{_label(context)}"}}', float(waiting_files))],
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
    views = (await svc.effective(now)).views(now).values()
    active = sum(1 for v in views if v.redirect is not None and v.redirect.source == "manual")
    out += _family(
        "switchboard_manual_redirects_active",
        "gauge",
        "Manual redirects in force.",
        [("", float(active))],
    )
    by_state = {"available": 0, "redirected": 0, "blocked": 0}
    for v in views:
        by_state[v.state] += 1
    out += _family(
        "switchboard_users",
        "gauge",
        "Users by effective state (available, redirected, blocked).",
        [(f'{{state="{k}"}}', float(n)) for k, n in by_state.items()],
    )
    out += _family(
        "switchboard_board_clients", "gauge", "Open server-sent-event streams.", [("", sse_clients)]
    )
    if svc.call_log is not None:
        out += service_level_families(await service_level.live(svc))
    text = "\n".join(out) + "\n"
    if svc.telephony_metrics is not None:
        text += svc.telephony_metrics()  # decision and AGI round-trip histograms
    return text


def health(svc: WebServices) -> Health:
    """Liveness: this service answers, for which organisation, with or without a register."""
    return Health(status="ok", organisation=svc.config.org.id, register=svc.register is not None)
