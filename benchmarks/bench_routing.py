"""Benchmark the core: routing decisions over a 10,000-user directory, and ICS → presence.

Run: python benchmarks/bench_routing.py [--users 10000] [--calls 200000] [--calendars 10000]
Figures are medians/percentiles of this run on this machine; compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calendar_sync.snapshot import BlockCache, Window, presence_book, read_ics_calendars
from routing.decide import decide
from routing.models import (
    BusyStatus,
    CalendarBlock,
    CalendarRef,
    Call,
    Directory,
    Hours,
    Policy,
    User,
)
from routing.numbers import make_plan
from routing.presence import PresenceRules, build_user_presence

TZ = ZoneInfo("Europe/Stockholm")
PLAN = make_plan(["026-8XX XX"])
HOURS = Hours(
    frozenset(range(5)), datetime(2026, 1, 1, 8).time(), datetime(2026, 1, 1, 16, 30).time()
)
RULES = PresenceRules(TZ, HOURS)
DAY = datetime(2026, 11, 24, tzinfo=TZ)


def make_users(n: int, calendars: Path | None = None) -> list[User]:
    """n users with extensions 026-8xx xx and mobiles 070-xxx xx xx."""
    users = []
    for i in range(n):
        cal = CalendarRef("ics", str(calendars / f"u{i}.ics")) if calendars else None
        users.append(
            User(
                f"u{i}",
                f"Person {i}",
                f"+46268{i:04d}",
                f"+4670{i:07d}",
                voicemail=i % 2 == 0,
                calendar=cal,
            )
        )
    return users


def bench_decisions(n_users: int, n_calls: int) -> None:
    """Decisions per second and latency percentiles, one core, presence precomputed."""
    rnd = random.Random(7)
    users = make_users(n_users)
    directory = Directory.build(tuple(users), switchboard="+46268" + "9999", plan=PLAN)
    presence_users = {}
    for u in users:
        blocks = []
        for _ in range(4):
            start = DAY + timedelta(hours=rnd.uniform(7, 17))
            blocks.append(
                CalendarBlock(
                    start,
                    start + timedelta(minutes=rnd.choice([30, 60, 90])),
                    BusyStatus.BUSY,
                    "Möte",
                )
            )
        presence_users[u.id] = build_user_presence(u.id, blocks, RULES)
    from routing.models import PresenceBook

    book = PresenceBook(presence_users)
    policy = Policy(TZ)
    forms = []
    for _ in range(n_calls):
        u = users[rnd.randrange(n_users)]
        assert u.extension is not None and u.mobile is not None
        pick = rnd.random()
        if pick < 0.6:
            forms.append("0" + u.extension[3:5] + "-" + u.extension[5:])  # 026-8xxxx
        elif pick < 0.8:
            forms.append(u.extension[5:])  # bare extension
        else:
            forms.append(u.mobile)
    calls = [Call(f) for f in forms]
    nows = [DAY + timedelta(hours=rnd.uniform(7, 17)) for _ in range(1000)]
    for c in calls[:2000]:  # warm caches
        decide(c, directory, book, policy, nows[0])
    latencies = []
    clock = time.perf_counter_ns
    t0 = time.perf_counter()
    for i, c in enumerate(calls):
        a = clock()
        decide(c, directory, book, policy, nows[i % 1000])
        latencies.append(clock() - a)
    elapsed = time.perf_counter() - t0
    latencies.sort()
    p = lambda q: latencies[int(q * (len(latencies) - 1))] / 1000  # noqa: E731
    print(f"routing decisions: {n_calls} calls over {n_users} users")
    print(f"  throughput  {n_calls / elapsed:,.0f} decisions/s (one core, timing included)")
    print(
        f"  latency     p50 {p(0.5):.2f} µs   p99 {p(0.99):.2f} µs   max {latencies[-1] / 1000:.0f} µs"
    )


EVENT = """BEGIN:VEVENT\r
UID:{uid}\r
SUMMARY:{summary}\r
DTSTART;TZID=W. Europe Standard Time:{start}\r
DTEND;TZID=W. Europe Standard Time:{end}\r
{rrule}CLASS:PUBLIC\r
TRANSP:OPAQUE\r
X-MICROSOFT-CDO-BUSYSTATUS:{status}\r
END:VEVENT\r
"""
VTZ = (
    Path(__file__).resolve().parent.parent / "tests/fixtures/ics/outlook_oof_over_weekend.ics"
).read_text()
VTZ = VTZ[VTZ.index("BEGIN:VTIMEZONE") : VTZ.index("END:VTIMEZONE") + len("END:VTIMEZONE")]


def write_calendars(folder: Path, n: int, events: int = 20) -> None:
    """n Outlook-shaped calendars of `events` events each, a quarter of them recurring."""
    rnd = random.Random(11)
    for i in range(n):
        parts = [
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:Microsoft Exchange Server 2010\r\n",
            VTZ.replace("\n", "\r\n") + "\r\n",
        ]
        for e in range(events):
            start = DAY.replace(tzinfo=None) + timedelta(
                days=rnd.randrange(-3, 8), hours=rnd.randrange(7, 16)
            )
            end = start + timedelta(minutes=rnd.choice([30, 60, 90]))
            rrule = "RRULE:FREQ=WEEKLY;COUNT=20\r\n" if e % 4 == 0 else ""
            parts.append(
                EVENT.format(
                    uid=f"{i}-{e}",
                    summary=rnd.choice(["Möte", "Lunch", "Utbildning", "Påminnelse"]),
                    start=start.strftime("%Y%m%dT%H%M%S"),
                    end=end.strftime("%Y%m%dT%H%M%S"),
                    rrule=rrule,
                    status=rnd.choice(["BUSY", "BUSY", "FREE", "OOF", "TENTATIVE"]),
                )
            )
        parts.append("END:VCALENDAR\r\n")
        (folder / f"u{i}.ics").write_text("".join(parts), encoding="utf-8")


def bench_calendars(n: int) -> None:
    """Cold parse (process pool), expansion + presence, and a warm restart from the cache."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_calendars(folder, n)
        users = make_users(n, folder)
        now = DAY.replace(hour=10).astimezone(UTC)
        window = Window.around(now, TZ)
        cache_file = folder / "cache.json"
        t0 = time.perf_counter()
        cache = BlockCache(cache_file)
        reads = read_ics_calendars(users, window, TZ, cache)
        t1 = time.perf_counter()
        book = presence_book(reads, RULES)
        t2 = time.perf_counter()
        cache.save()
        t3 = time.perf_counter()
        warm_cache = BlockCache(cache_file)
        warm_reads = read_ics_calendars(users, window, TZ, warm_cache)
        warm_book = presence_book(warm_reads, RULES)
        t4 = time.perf_counter()
        errors = sum(1 for r in reads.values() if r.error)
        blocks = sum(len(r.blocks) for r in reads.values())
        assert len(warm_book.users) == len(book.users)
        print(
            f"calendars: {n} Outlook-shaped calendars x 20 events (1 in 4 weekly recurring), {blocks} blocks, {errors} errors"
        )
        print(
            f"  cold parse + expansion (process pool)  {t1 - t0:6.1f} s   ({(t1 - t0) / n * 1000:.2f} ms per calendar)"
        )
        print(f"  presence for everyone                  {t2 - t1:6.2f} s")
        print(f"  cache write                            {t3 - t2:6.2f} s")
        print(f"  warm restart (hash + cache + presence) {t4 - t3:6.2f} s")
        sample = [u.calendar.location for u in users[:200] if u.calendar]
        from calendar_sync.ics import expand, load_calendar

        parse_s, expand_s = [], []
        for path in sample:
            data = Path(path).read_bytes()
            a = time.perf_counter()
            cal = load_calendar(data)
            b = time.perf_counter()
            expand(cal, window.start, window.end, TZ)
            c = time.perf_counter()
            parse_s.append(b - a)
            expand_s.append(c - b)
        print(
            f"  per calendar (median of {len(sample)}): parse {statistics.median(parse_s) * 1000:.2f} ms, "
            f"expansion {statistics.median(expand_s) * 1000:.2f} ms"
        )


def main() -> None:
    """Run both benchmarks and print their figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--calendars", type=int, default=10_000)
    args = ap.parse_args()
    bench_decisions(args.users, args.calls)
    if args.calendars:
        bench_calendars(args.calendars)


if __name__ == "__main__":
    main()
