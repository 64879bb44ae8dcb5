"""HAL-03 / HAL-05 live: today's answered share and coverage warnings from the real calls.

The definitions are the simulation's, imported, not restated: a logged call becomes a
`SimCall` with the simulation's `Outcome` (`simulation.models.ANSWERED` says which
count as answered: personal answer, covering point, redirection message, voicemail; the contact
centre is not one), its kind and unit come from `call_targets`, the contact centre's numbers from
`contact_centre_numbers`, the tallies from the report's `tally`, and the coverage warnings from
`coverage_gaps` over the live presence book. Only calls to the organisation's own numbers count
(an outgoing call is no one's service level).

Today's calls are read through the call log's `calls_started` index (`call_rows`, a range of one
day), never the whole table, and the result is kept for `CACHE_S` seconds so that a /metrics
scrape every few seconds costs one query at most that often.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Any

from routing.models import Organisation
from routing.numbers import normalise
from simulation.engine import call_targets, contact_centre_numbers, coverage_gaps
from simulation.models import ANSWERED, CALL_KINDS, Outcome, SimCall
from simulation.report import coverage_warning, share, tally
from switchboard.telephony.calllog.records import CallRow
from switchboard.web.features.reports.schemas import CoverageGap, ServiceLevel, Tally
from switchboard.web.services import WebServices

CACHE_S = 15.0
_DIGITS = re.compile(r"\+?\d{3,}")
# What the telephone service logged (docs/calllog.md) in the simulation's terms.
LOGGED: Mapping[str, Outcome] = {
    "answered": Outcome.PERSONAL_ANSWER,
    "completed": Outcome.PERSONAL_ANSWER,  # the older name of "answered"
    "covering_point": Outcome.COVERING_POINT,
    "voicemail_left": Outcome.VOICEMAIL,
    "voicemail_empty": Outcome.VOICEMAIL,  # reached the mailbox: the simulation's VOICEMAIL too
    "message": Outcome.REDIRECT_MESSAGE,
    "rejected": Outcome.REJECTED,
    "no_answer": Outcome.NO_ANSWER,
    "caller_hung_up": Outcome.NO_ANSWER,  # must call again
    "failed_step": Outcome.NO_ANSWER,
    "handed_back": Outcome.NO_ANSWER,
    "timeout": Outcome.NO_ANSWER,
    "interrupted": Outcome.NO_ANSWER,
    "dialplan": Outcome.NO_ANSWER,
}


def _contact_centre(org: Organisation) -> frozenset[str]:
    cc = org.policy.contact_centre
    groups = cc.groups if cc is not None and cc.groups else None
    return contact_centre_numbers(org.directory, groups)


def outcome_of(
    row: CallRow, kind: str, contact_centre: frozenset[str], norm: Callable[[str], str | None]
) -> Outcome | None:
    """The simulation's outcome of a logged call; None while it is in progress."""
    logged = row.outcome
    if logged.startswith("fallback_"):
        logged = logged[len("fallback_") :]
    if logged == "in_progress":
        return None
    if logged == "transfer":  # put through: to the contact centre, or a person's forward number
        reached = {norm(n) for d in row.dialled for n in _DIGITS.findall(d)}
        if not row.dialled or reached & contact_centre:
            return Outcome.CONTACT_CENTRE
        return Outcome.PERSONAL_ANSWER
    if logged == "message" and kind == "group":
        return Outcome.OUTSIDE_TELEPHONE_HOURS  # a group's message is its closed hours (ALV-08)
    return LOGGED.get(logged, Outcome.NO_ANSWER)


def as_sim_calls(rows: Iterable[CallRow], org: Organisation) -> list[SimCall]:
    """Logged calls to the organisation's numbers as the simulation's calls."""
    norm = normaliser_of(org)
    targets = {t.number: (kind, t) for kind, ts in call_targets(org.directory).items() for t in ts}
    cc = _contact_centre(org)
    tz = org.timezone
    out: list[SimCall] = []
    for i, row in enumerate(rows):
        called = norm(row.called) if row.called else None
        found = targets.get(called) if called else None
        if found is None:
            continue
        kind, target = found
        outcome = outcome_of(row, kind, cc, norm)
        if outcome is None:
            continue
        out.append(
            SimCall(
                id=str(i),
                at=row.start.astimezone(tz),
                kind=kind,
                called=called,
                target_id=target.owner,
                unit=target.unit or "(no unit)",
                outcome=outcome,
                why=row.outcome,
            )
        )
    return out


def normaliser_of(org: Organisation) -> Callable[[str], str | None]:
    """The number normaliser of the organisation's plan."""
    plan = org.plan
    return lambda number: normalise(number, plan)


def day_bounds(now: datetime, org: Organisation) -> tuple[datetime, datetime]:
    """Local midnight today and tomorrow, as aware instants."""
    day = now.astimezone(org.timezone).date()
    start = datetime.combine(day, time(0), tzinfo=org.timezone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=org.timezone)


def report(
    calls: list[SimCall], org: Organisation, warnings: list[Any], now: datetime
) -> ServiceLevel:
    """The live report: the simulation report's keys for one real day so far."""
    answered = sum(c.answered for c in calls)
    outcomes = {o.value: 0 for o in Outcome}
    for c in calls:
        outcomes[c.outcome.value] += 1
    by_kind = tally(calls, "kind")
    local_now = now.astimezone(org.timezone)
    return ServiceLevel(
        date=local_now.date().isoformat(),
        at=now.isoformat(),
        calls=len(calls),
        answered=answered,
        answered_share=share(answered, len(calls)),
        outcomes=outcomes,
        answered_outcomes=[o.value for o in Outcome if o in ANSWERED],
        by_hour=_tallies(tally(calls, "hour")),
        by_unit=_tallies(tally(calls, "unit")),
        by_kind=_tallies({k: by_kind[k] for k in CALL_KINDS if k in by_kind}),
        coverage_warnings=[
            CoverageGap.of({**coverage_warning(w), "now": w.start <= local_now < w.end})
            for w in warnings
        ],
    )


def _tallies(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Tally]:
    return {k: Tally.of(v) for k, v in rows.items()}


async def live(svc: WebServices, fresh: bool = False) -> dict[str, Any]:
    """Today's report as JSON (kept `CACHE_S` seconds unless `fresh`; /metrics reads it)."""
    now = svc.now()
    kept = svc.service_level_cache
    if not fresh and kept is not None and 0 <= (now - kept[0]).total_seconds() < CACHE_S:
        return kept[1]
    st = await svc.effective(now)
    org = st.org
    rows: list[CallRow] = []
    log = svc.call_log
    if log is not None:
        start, end = day_bounds(now, org)
        rows = await log.call_rows(start, end)
    calls = as_sim_calls(rows, org)
    day = now.astimezone(org.timezone).date()
    warnings = coverage_gaps(org, st.book, day)
    out = report(calls, org, warnings, now).as_json()
    svc.service_level_cache = (now, out)
    return out


async def live_report(svc: WebServices) -> ServiceLevel:
    """Today's report, typed (from the same cache as `live`)."""
    return ServiceLevel.of(await live(svc))
