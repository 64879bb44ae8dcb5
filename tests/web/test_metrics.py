"""/metrics through prometheus-client (issue 13): the output parses with prometheus-client's own
text parser and carries the same families, types, help texts, labels and values as the
hand-written exposition it replaced; calls by outcome are a tally kept as calls are written,
so a scrape runs no GROUP BY over the calls table."""

from __future__ import annotations

import dataclasses

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from webkit import START

from switchboard.telephony.calllog import CallEntry, shared
from switchboard.web.features.ops.service import OpsMetrics
from switchboard.web.services import WebServices

Client = TestClient[web.Request, web.Application]
Families = dict[str, tuple[str, str, dict[tuple[tuple[str, str], ...], float]]]

# What the hand-written exposition (before prometheus-client) gave for the sample data:
# family → type, help text, samples by labels. Dashboards read these names.
BEFORE = {
    "switchboard_calls": (
        "counter",
        "Logged calls by outcome.",
        {(("outcome", "caller_hung_up"),): 1, (("outcome", "completed"),): 2},
    ),
    "switchboard_calendar_sync_lag_seconds": (
        "gauge",
        "Seconds since each calendar source last synced.",
        {(("source", "ics"),): 0},
    ),
    "switchboard_spool_waiting_messages": (
        "gauge",
        "Voicemail messages in the spool not yet taken into the register.",
        {(("context", "default"),): 0},
    ),
    "switchboard_register_backlog": (
        "gauge",
        "Voicemail records awaiting classification (intake backlog).",
        {(): 2},
    ),
    "switchboard_register_oldest_unclassified_seconds": (
        "gauge",
        "Age of the oldest unclassified voicemail record.",
        {(): 7200},
    ),
    "switchboard_register_classified": (
        "gauge",
        "Classified voicemail records.",
        {(): 0},
    ),
    "switchboard_manual_redirects_active": (
        "gauge",
        "Manual redirects in force.",
        {(): 0},
    ),
    "switchboard_users": (
        "gauge",
        "Users by effective state (available, redirected, blocked).",
        {(("state", "available"),): 6, (("state", "redirected"),): 5, (("state", "blocked"),): 1},
    ),
    "switchboard_board_clients": (
        "gauge",
        "Open server-sent-event streams.",
        {(): 0},
    ),
    "switchboard_answered_share_today": (
        "gauge",
        "Share of today's calls answered (HAL-03: person, covering point, message, voicemail).",
        {(): 0.6667},
    ),
    "switchboard_calls_today": (
        "gauge",
        "Calls to the organisation today.",
        {(): 3},
    ),
    "switchboard_answered_share_today_by_unit": (
        "gauge",
        "Share of today's calls answered, per unit.",
        {(("unit", "Samhällsbyggnad"),): 0.5, (("unit", "Socialtjänst"),): 1},
    ),
    "switchboard_answered_share_today_by_kind": (
        "gauge",
        "Share of today's calls answered, per kind.",
        {(("kind", "extension"),): 0.6667},
    ),
    "switchboard_coverage_warnings_today": (
        "gauge",
        "HAL-05: stretches today with nobody covering a group or on-call number.",
        {(): 1},
    ),
    "switchboard_coverage_gaps_now": (
        "gauge",
        "HAL-05: groups or on-call numbers with nobody covering them right now.",
        {(): 1},
    ),
}
# Its HELP and TYPE lines, in order (the names carry `_total` as before).
HEADERS = [
    "# HELP switchboard_calls_total Logged calls by outcome.",
    "# TYPE switchboard_calls_total counter",
    "# HELP switchboard_calendar_sync_lag_seconds Seconds since each calendar source last synced.",
    "# TYPE switchboard_calendar_sync_lag_seconds gauge",
    "# HELP switchboard_spool_waiting_messages Voicemail messages in the spool not yet taken into the register.",
    "# TYPE switchboard_spool_waiting_messages gauge",
    "# HELP switchboard_register_backlog Voicemail records awaiting classification (intake backlog).",
    "# TYPE switchboard_register_backlog gauge",
    "# HELP switchboard_register_oldest_unclassified_seconds Age of the oldest unclassified voicemail record.",
    "# TYPE switchboard_register_oldest_unclassified_seconds gauge",
    "# HELP switchboard_register_classified Classified voicemail records.",
    "# TYPE switchboard_register_classified gauge",
    "# HELP switchboard_manual_redirects_active Manual redirects in force.",
    "# TYPE switchboard_manual_redirects_active gauge",
    "# HELP switchboard_users Users by effective state (available, redirected, blocked).",
    "# TYPE switchboard_users gauge",
    "# HELP switchboard_board_clients Open server-sent-event streams.",
    "# TYPE switchboard_board_clients gauge",
    "# HELP switchboard_answered_share_today Share of today's calls answered (HAL-03: person, covering point, message, voicemail).",
    "# TYPE switchboard_answered_share_today gauge",
    "# HELP switchboard_calls_today Calls to the organisation today.",
    "# TYPE switchboard_calls_today gauge",
    "# HELP switchboard_answered_share_today_by_unit Share of today's calls answered, per unit.",
    "# TYPE switchboard_answered_share_today_by_unit gauge",
    "# HELP switchboard_answered_share_today_by_kind Share of today's calls answered, per kind.",
    "# TYPE switchboard_answered_share_today_by_kind gauge",
    "# HELP switchboard_coverage_warnings_today HAL-05: stretches today with nobody covering a group or on-call number.",
    "# TYPE switchboard_coverage_warnings_today gauge",
    "# HELP switchboard_coverage_gaps_now HAL-05: groups or on-call numbers with nobody covering them right now.",
    "# TYPE switchboard_coverage_gaps_now gauge",
]


def families(text: str) -> Families:
    """The exposition as prometheus-client's parser reads it."""
    return {
        f.name: (
            f.type,
            f.documentation,
            {tuple(sorted(s.labels.items())): s.value for s in f.samples},
        )
        for f in text_string_to_metric_families(text)
    }


async def scrape(client: Client) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return await resp.text()


async def test_metrics_parse_and_match_the_hand_written_exposition(client: Client) -> None:
    """Three sample calls with two outcomes: the outcome counter says 2 and 1; every other
    family, its help text, labels and value are what the hand-written text gave."""
    await scrape(client)  # the first scrape reads presence: the sync lag has its source after
    text = await scrape(client)
    assert families(text) == BEFORE
    assert [line for line in text.splitlines() if line.startswith("#")] == HEADERS
    assert 'switchboard_calls_total{outcome="completed"} 2.0' in text.splitlines()


async def test_outcome_counter_counts_each_call_once_under_its_newest_outcome(
    client: Client, services: WebServices
) -> None:
    """A call's row is written several times as it goes on: it counts once, under its newest
    outcome, as the database's own count does."""
    log = services.call_log
    assert log is not None
    await scrape(client)
    call = CallEntry("1764000100.1", start=START, outcome="answered")
    await log.record(call)
    await log.record(dataclasses.replace(call, outcome="fallback_voicemail_left"))
    await log.record(dataclasses.replace(call, outcome="fallback_voicemail_left", duration_s=9))
    await log.record(  # one of the sample calls, rewritten with another outcome
        CallEntry("1764000000.2", start=START, outcome="voicemail_left")
    )
    calls = families(await scrape(client))["switchboard_calls"]
    assert calls[2] == {
        (("outcome", "completed"),): 2,
        (("outcome", "fallback_voicemail_left"),): 1,
        (("outcome", "voicemail_left"),): 1,
    }
    assert {k[0][1]: v for k, v in calls[2].items()} == await log.outcome_counts()


async def test_a_scrape_runs_no_group_by(
    client: Client, services: WebServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first count, scrapes read the tally: neither the count by outcome nor any
    GROUP BY runs again (on SQLite every statement is traced)."""
    log = services.call_log
    assert log is not None
    await scrape(client)

    async def no_count() -> dict[str, int]:
        raise AssertionError("a scrape counted the calls table")

    monkeypatch.setattr(log, "outcome_counts", no_count)
    monkeypatch.setattr(shared, "OUTCOME_COUNTS_SQL", "SELECT no_such_column FROM calls")
    statements: list[str] = []
    db = getattr(log, "db", None)
    if db is not None:  # SQLite
        await db.set_trace_callback(statements.append)
    await log.record(CallEntry("1764000100.2", start=START, outcome="completed"))
    for _ in range(2):
        text = await scrape(client)
    assert 'switchboard_calls_total{outcome="completed"} 3.0' in text.splitlines()
    if db is not None:
        await db.set_trace_callback(None)
        assert statements and not [s for s in statements if "GROUP BY" in s.upper()]


async def test_each_app_has_its_own_registry(services: WebServices) -> None:
    """Two apps in one process: their collectors never meet in one registry."""
    one, two = OpsMetrics(), OpsMetrics()
    assert one.registry is not two.registry
    text = await one.render(services, 3)
    assert families(text)["switchboard_board_clients"][2] == {(): 3}
    assert families(await two.render(services, 0))["switchboard_board_clients"][2] == {(): 0}
