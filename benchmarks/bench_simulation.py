"""Benchmark the day simulation: one working day, 3,000 staff, about 20,000 calls (goal <= 5 s).

Run: python benchmarks/bench_simulation.py [--staff 3000] [--calls-per-hour 2400] [--html]
The directory and each person's calendar blocks are generated in code; presence is built once,
before the clock starts (as the CLI builds it once per simulated day), and never per call.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import floor

from routing.absence import BusyStatus, CalendarBlock, PresenceBook
from routing.decide import decide
from routing.models import Call, Directory, Group, Hours, Organisation, Policy, SharedPhone, User
from routing.numbers import make_plan
from routing.presence import PresenceRules, build_user_presence
from simulation.engine import simulate
from simulation.models import Scenario
from simulation.page import render_html
from simulation.report import build_report, to_json

TZ = ZoneInfo("Europe/Stockholm")
PLAN = make_plan(["026-8XX XX"])
HOURS = Hours(frozenset(range(5)), clock(8, 0), clock(16, 30))
RULES = PresenceRules(TZ, HOURS)
DAY = date(2026, 11, 24)
UNITS = [f"Enhet {i:02d}" for i in range(30)]
# Share of each hour's calls per kind of number (sums to 1).
MIX = {"extension": 0.6, "mobile": 0.18, "group": 0.1, "shared_phone": 0.02, "switchboard": 0.1}
WORK_HOURS = (8, 9, 10, 11, 12, 13, 14, 15)


def make_org(staff: int, rng: random.Random) -> Organisation:
    """A directory of `staff` people in 30 units, 5-person groups (a tenth with jour), shared phones."""
    users = [
        User(
            f"u{i}",
            f"Person {i}",
            f"+46268{i:04d}",
            f"+4670{i:07d}",
            unit=UNITS[i % len(UNITS)],
            voicemail=i % 2 == 0,
            mobile_follows_calendar=i % 5 == 0,
            covering=f"u{i + 1}" if i % 3 == 0 and i + 1 < staff else None,
            mailbox=f"8{i:04d}",
        )
        for i in range(staff)
    ]
    groups = [
        Group(
            f"g{j}",
            f"Grupp {j}",
            f"+462689{j:03d}",
            tuple(f"u{k}" for k in range(j * 5, min(staff, j * 5 + 5))),
            Hours(frozenset(range(5)), clock(9, 0), clock(12, 0)) if j % 2 else None,
            unit=UNITS[j % len(UNITS)],
            on_call=j % 10 == 0,
        )
        for j in range(staff // 30)
    ]
    shared = [
        SharedPhone(f"s{k}", f"Delad {k}", f"+4673555{k:04d}", UNITS[k % len(UNITS)])
        for k in range(50)
    ]
    directory = Directory.build(tuple(users), tuple(groups), tuple(shared), "+462688000", PLAN)
    return Organisation(
        "bench",
        "Benchby kommun",
        "BEN",
        "/bench",
        TZ,
        PLAN,
        "+462688000",
        HOURS,
        frozenset(),
        Policy(TZ),
        directory,
        "/bench",
    )


def make_presence(org: Organisation, rng: random.Random) -> PresenceBook:
    """Meetings, lunches and a few all-day absences for everyone, built once."""
    base = datetime(DAY.year, DAY.month, DAY.day, tzinfo=TZ)
    book = {}
    for u in org.directory.users:
        blocks = []
        if rng.random() < 0.08:
            blocks.append(
                CalendarBlock(
                    base + timedelta(hours=7),
                    base + timedelta(hours=17),
                    BusyStatus.OOF,
                    "Semester",
                )
            )
        for _ in range(rng.randint(0, 4)):
            start = base + timedelta(minutes=rng.randrange(8 * 60, 16 * 60, 15))
            blocks.append(
                CalendarBlock(
                    start,
                    start + timedelta(minutes=rng.choice((30, 60, 90))),
                    BusyStatus.BUSY,
                    "Möte",
                )
            )
        lunch = base + timedelta(hours=12)
        blocks.append(CalendarBlock(lunch, lunch + timedelta(minutes=45), BusyStatus.BUSY, "Lunch"))
        book[u.id] = build_user_presence(u.id, blocks, RULES)
    return PresenceBook(book)


def main() -> None:
    """Build, simulate, report; print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--staff", type=int, default=3000)
    ap.add_argument("--calls-per-hour", type=float, default=2500.0)
    ap.add_argument("--html", action="store_true", help="also time the HTML report")
    args = ap.parse_args()
    rng = random.Random(2026)

    t0 = time.perf_counter()
    org = make_org(args.staff, rng)
    t1 = time.perf_counter()
    presence = make_presence(org, rng)
    t2 = time.perf_counter()
    arrivals = {
        kind: {h: args.calls_per_hour * share for h in WORK_HOURS} for kind, share in MIX.items()
    }
    scenario = Scenario(
        dates=(DAY,), arrivals=arrivals, seed=7, talk_time_s=150.0, voicemail_leave_probability=0.9
    )
    result = simulate(scenario, org, lambda _d: presence)
    t3 = time.perf_counter()
    report = build_report(result, scenario)
    text = to_json(report)
    t4 = time.perf_counter()

    calls = len(result.calls)
    sim_s, report_s = t3 - t2, t4 - t3
    print(f"staff {args.staff}, groups {len(org.directory.groups)}, calls {calls}")
    print(f"directory built:            {t1 - t0:7.3f} s")
    print(f"presence built once:        {t2 - t1:7.3f} s")
    print(f"simulation (decide + DES):  {sim_s:7.3f} s  ({sim_s / calls * 1e6:.1f} µs per call)")
    print(f"report (JSON, {len(text) // 1024} KiB):       {report_s:7.3f} s")
    total = sim_s + report_s
    print(
        f"day simulated and reported: {total:7.3f} s  (goal <= 5 s: {'met' if total <= 5 else 'MISSED'})"
    )
    print(
        f"answered share {report['answered_share']:.1%}, must call again {report['must_call_again_count']}, "
        f"voicemails {report['voicemails_created']}, coverage warnings {len(report['coverage_warnings'])}"
    )
    # The floor: the same day's routing decisions alone, against the same directory and
    # presence (what the simulation cannot do without), in the same run.
    dialled = [(Call(c.called), c.at) for c in result.calls if c.called]
    d, policy = org.directory, org.policy
    t5 = time.perf_counter()
    for call, at in dialled:
        decide(call, d, presence, policy, at)
    floor_s = time.perf_counter() - t5
    floor.emit(
        floor.Row(
            f"a day of {calls:,} simulated calls, {args.staff:,} staff, with its report",
            f"the same {len(dialled):,} routing decisions alone: {floor_s:.2f} s",
            f"{total:.2f} s",
            floor_s / total,
            "≤ 5 s",
            total <= 5,
        )
    )
    if args.html:
        t5 = time.perf_counter()
        page = render_html(report)
        print(f"HTML report ({len(page) // 1024} KiB):      {time.perf_counter() - t5:7.3f} s")


if __name__ == "__main__":
    main()
