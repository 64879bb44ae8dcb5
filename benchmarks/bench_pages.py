"""The pages at a municipality's size (issue 20): 3,000 users, 100,000 records, every role.

Run: `python benchmarks/bench_pages.py [--users 3000] [--records 100000] [--runs 30]
[--only /chef /it] [--profile 25]`.
Real HTTP (aiohttp on 127.0.0.1), the Älvkarleby sample's policy with a directory of `--users`
generated people, a SQLite register holding `--records` records (5 % waiting, bulk-inserted
as bench_voicemail does), `--calls` calls in the call log, one bearer session per role. For each page a role reaches: the
median and p95 of `--runs` requests, and the body size. Goal: p95 <= 200 ms on every page.
`--only` measures just the pages named (as written in PAGES); `--profile N` runs cProfile over
the requests of those pages (handler, templates and store, all in this process) and prints the
N most expensive functions by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from bench_routing import make_users  # noqa: E402
from bench_voicemail import insert_rows, seed_rows  # noqa: E402

from routing.models import Directory  # noqa: E402
from switchboard.config import load_config  # noqa: E402
from switchboard.telephony.calllog import CallEntry, CallLogStore  # noqa: E402
from switchboard.web import WebServices, setup_web  # noqa: E402
from switchboard.web.auth import Account, Accounts, Role, hash_password  # noqa: E402
from switchboard.web.services import IcsPresence  # noqa: E402
from switchboard.web.store import WebStore  # noqa: E402
from voicemail.service import Register  # noqa: E402

PASSWORD = "bänk-lösen-123"
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
GOAL_MS = 200.0
PAGES: dict[Role, tuple[str, ...]] = {
    Role.STAFF: ("/", "/min-tillganglighet", "/mina-samtal", "/rostmeddelanden"),
    Role.REGISTRAR: (
        "/registrator",
        "/registrator?page=2",
        "/registrator?q=BEN-R%C3%96ST-2025-000021",
        "/api/registry/queue?page=2",
        "/registrator/21",
        "/registrator?view=classified&q=benchmark",  # free text matching 95,000 records
        "/registrator?view=classified&q=zzz",  # free text matching none
        "/registrator?q=%C3%96rjan",  # the queue searched (the caller of every record)
    ),
    Role.ADMIN: ("/admin", "/rapporter", "/chef", "/kontaktcenter", "/admin/halsningsfraser"),
    Role.IT: ("/it", "/api/calls", "/api/calls?page=2"),
}


def seed(db: Path, users: int, records: int) -> None:
    """`records` rows straight into the register's table, owners spread over the users."""
    rows = []
    for n, row in enumerate(seed_rows(records)):
        owner = n % users
        rows.append((*row[:10], f"8{owner:04d}", f"u{owner}", *row[12:]))
    insert_rows(db, rows)


async def seed_calls(store: CallLogStore, users: int, calls: int) -> None:
    """`calls` finished calls over the day before NOW, to and from the users."""
    for n in range(calls):
        start = NOW - timedelta(seconds=20 * (calls - n))
        await store.record(
            CallEntry(
                call_id=f"{1796150000 + n}.{n}",
                start=start,
                answer=start + timedelta(seconds=8) if n % 3 else None,
                end=start + timedelta(seconds=95),
                duration_s=95,
                caller=f"0701{n % 999_999:06d}",
                called=f"+46268{n % users:04d}",
                dialled=(f"PJSIP/8{n % users:04d}",),
                outcome=("answered", "voicemail_left", "message", "caller_hung_up")[n % 4],
                action="ring" if n % 2 else "redirect",
                disposition="ANSWERED" if n % 3 else "NO ANSWER",
            )
        )


async def main(
    n_users: int,
    n_records: int,
    runs: int,
    work: Path,
    n_calls: int,
    only: frozenset[str] = frozenset(),
    profile: int = 0,
) -> int:
    config = load_config(ROOT / "config" / "alvkarleby")
    old = config.org.directory
    people = tuple(make_users(n_users))
    directory = Directory.build(people, old.groups, (), old.switchboard, old.plan)
    org = replace(config.org, directory=directory, data_dir=str(work / "data"))
    config = replace(config, org=org)
    db = work / "vm" / "register.sqlite3"
    t0 = time.perf_counter()
    reg = await Register.open(org, config.voicemail, db)
    await reg.close()
    seed(db, n_users, n_records)
    reg = await Register.open(org, config.voicemail, db)
    print(f"{n_users} users, {n_records} records seeded in {time.perf_counter() - t0:.1f} s")
    calllog = CallLogStore(work / "calllog.sqlite3", org_code=org.code)
    await calllog.open()
    await seed_calls(calllog, n_users, n_calls)
    print(f"{n_calls} calls in the call log after {time.perf_counter() - t0:.1f} s")
    store = WebStore(work / "web.sqlite3")
    await store.open()
    staff = people[1].id
    accounts = Accounts.of(
        [
            Account(staff, frozenset({Role.STAFF}), hash_password(PASSWORD)),
            Account(people[2].id, frozenset({Role.STAFF, Role.REGISTRAR}), hash_password(PASSWORD)),
            Account(people[3].id, frozenset({Role.STAFF, Role.ADMIN}), hash_password(PASSWORD)),
            Account(people[4].id, frozenset({Role.STAFF, Role.IT}), hash_password(PASSWORD)),
        ]
    )
    who = {Role.STAFF: staff, Role.REGISTRAR: people[2].id}
    who |= {Role.ADMIN: people[3].id, Role.IT: people[4].id}
    svc = WebServices(
        config=config,
        presence=IcsPresence(config),
        store=store,
        accounts=accounts,
        register=reg,
        call_log=calllog,
        now=lambda: NOW,
        session_secret=b"bench-secret-0123456789abcdef",
    )
    app = web.Application()
    setup_web(app, svc)
    worst = 0.0
    prof = cProfile.Profile() if profile else None
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            print(f"| role | page | p50 ms | p95 ms | kB |  (goal: p95 <= {GOAL_MS:.0f} ms)")
            print("|---|---|---|---|---|")
            for role, paths in PAGES.items():
                body = {"user": who[role], "password": PASSWORD}
                resp = await client.post("/api/login", json=body)
                h = {"Authorization": f"Bearer {(await resp.json())['token']}"}
                client.session.cookie_jar.clear()
                for path in paths:
                    if only and path not in only:
                        continue
                    times: list[float] = []
                    size = 0
                    for _ in range(runs):
                        start = time.perf_counter()
                        if prof is not None:
                            prof.enable()
                        resp = await client.get(path, headers=h)
                        data = await resp.read()
                        if prof is not None:
                            prof.disable()
                        times.append((time.perf_counter() - start) * 1000)
                        assert resp.status == 200, (path, resp.status, data[:300])
                        size = len(data)
                    times.sort()
                    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                    worst = max(worst, p95)
                    print(
                        f"| {role.value} | `{path}` | {statistics.median(times):.1f} |"
                        f" {p95:.1f} | {size // 1024} |"
                    )
    finally:
        await store.close()
        await calllog.close()
        await reg.close()
    if prof is not None:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(profile)
    print(f"worst p95 {worst:.1f} ms: {'met' if worst <= GOAL_MS else 'NOT met'}")
    return 0 if worst <= GOAL_MS else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=5000, help="calls in the call log")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--only", nargs="+", default=[], metavar="PATH", help="measure only these pages"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="cProfile: print the N costliest"
    )
    args = parser.parse_args()
    known = {p for paths in PAGES.values() for p in paths}
    if unknown := set(args.only) - known:
        parser.error(f"no such page in PAGES: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(
            asyncio.run(
                main(
                    args.users,
                    args.records,
                    args.runs,
                    Path(tmp),
                    args.calls,
                    frozenset(args.only),
                    args.profile,
                )
            )
        )
