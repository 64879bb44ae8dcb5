"""Start-up order and change streams of the running service (issue 12, defects found in review).

- a calendar configuration that cannot start stops the start-up (it used to be swallowed and
  everyone was shown available);
- the PBX is resynced once per connection, from the effective state after every calendar was
  read (it used to write `available` and delete rows first, and again on FullyBooted);
- a periodic reconciliation repairs rows changed behind the service's back;
- every fan-out (calendar subscription, effective state, board) coalesces per user, so a stalled
  subscriber holds at most one entry per user.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from calendar_sync.changes import ChangeChannel, PresenceChange, PresenceState
from calendar_sync.clock import ManualClock
from calendar_sync.errors import CalendarCredentialsMissing
from routing.absence import AbsenceReason, ManualRedirect
from routing.effective import effective_state
from switchboard.app import RUNTIME, create_app
from switchboard.config import load_config
from switchboard.effective import EffectiveHub
from switchboard.telephony.config import PRESENCE_PROVIDER, REDIRECT_FAMILY, TelephonySettings
from switchboard.telephony.service import TelephonyService
from switchboard.telephony.sim import SimulatedAsterisk
from switchboard.web.store import ChangeHub

ROOT = Path(__file__).resolve().parents[1]
ALV = ROOT / "config" / "alvkarleby"
T_MEETING = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)  # Tuesday 10.15: Anna is in a meeting
ANNA, ANNA_KEY = "anna.andersson", "83012"


async def until(check: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (bounded) until `check()` holds."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - bounded by the timeout
            await asyncio.sleep(0.01)


def copy_org(tmp_path: Path) -> Path:
    """A copy of the Älvkarleby sample whose data stays under tmp_path."""
    folder = tmp_path / "alvkarleby"
    shutil.copytree(ALV, folder, ignore=shutil.ignore_patterns("data", "scenarios"))
    return folder


async def test_missing_calendar_credentials_stop_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Graph calendar whose secret is not set is a start-up error, never 'everyone free'."""
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path / "data"))
    for name in ("SB_TEST_GRAPH_TENANT", "SB_TEST_GRAPH_ID", "SB_TEST_GRAPH_SECRET"):
        monkeypatch.delenv(name, raising=False)
    folder = copy_org(tmp_path)
    directory = folder / "directory.yaml"
    directory.write_text(
        directory.read_text("utf-8").replace(
            "ics: calendars/anna.andersson.ics", "graph: anna.andersson@alvkarleby.se"
        ),
        "utf-8",
    )
    with (folder / "organisation.yaml").open("a", encoding="utf-8") as f:
        f.write(
            "calendar_sources:\n  graph:\n    tenant_env: SB_TEST_GRAPH_TENANT\n"
            "    client_id_env: SB_TEST_GRAPH_ID\n    client_secret_env: SB_TEST_GRAPH_SECRET\n"
        )
    runner = web.AppRunner(create_app(load_config(folder), clock=ManualClock(T_MEETING)))
    with pytest.raises(CalendarCredentialsMissing):
        await runner.setup()
    await runner.cleanup()


async def test_first_resync_comes_after_the_calendars_once_per_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anna's meeting is in AstDB from the first write: no `available` first, no delete, and
    one resync for the connection although the platform also sends FullyBooted."""
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path / "data"))
    folder = copy_org(tmp_path)
    runner = web.AppRunner(create_app(load_config(folder), clock=ManualClock(T_MEETING)))
    await runner.setup()
    try:
        rt = runner.app[RUNTIME]
        assert rt.telephony is not None and rt.simulated is not None
        await asyncio.wait_for(rt.telephony.mirrored.wait(), 10)
        sim = rt.simulated
        assert sim.astdb[REDIRECT_FAMILY][ANNA_KEY].startswith("meeting|")
        mine = [
            m
            for m in sim.received
            if m.get("Key") == ANNA_KEY or (m.get("Variable") or "").endswith(f":{ANNA_KEY})")
        ]
        assert [m.name for m in mine][:1] == ["DBPut"], [m.name for m in mine]
        assert not any(m.name == "DBDel" for m in mine)
        assert not any((m.get("Value") or "").startswith("available") for m in mine)
        sup = rt.telephony.supervisor
        assert sup is not None
        handled = sup.resyncs
        sim.announce_fully_booted()  # as Asterisk sends after login, sometimes mid-resync
        await until(lambda: sup.resyncs > handled)
        assert rt.telephony.resyncs == 1
    finally:
        await runner.cleanup()


async def test_reconciliation_repairs_rows_changed_behind_the_services_back() -> None:
    """A redirect row deleted in Asterisk (e.g. by hand) is back after the next reconciliation."""
    org = load_config(ALV).org
    until_at = T_MEETING + timedelta(hours=2)
    manual = {ANNA: ManualRedirect(ANNA, AbsenceReason.LUNCH, until_at, set_at=T_MEETING)}
    state = effective_state(org, {}, manual)
    sim = SimulatedAsterisk(secret="r")
    await sim.start()
    svc = TelephonyService(
        org,
        TelephonySettings(),
        lambda: state,
        lambda: T_MEETING,
        simulated=sim,
        reconcile_s=0.05,
    )
    await svc.start()
    try:
        await asyncio.wait_for(svc.mirrored.wait(), 5)
        assert sim.astdb[REDIRECT_FAMILY][ANNA_KEY].startswith("lunch|")
        del sim.astdb[REDIRECT_FAMILY][ANNA_KEY]
        sim.astdb[PRESENCE_PROVIDER][ANNA_KEY] = "available,,"
        await until(lambda: ANNA_KEY in sim.astdb[REDIRECT_FAMILY])
        await until(lambda: sim.astdb[PRESENCE_PROVIDER][ANNA_KEY].startswith("dnd,lunch,"))
    finally:
        await svc.stop()


def _change(user: str, n: int) -> PresenceChange:
    return PresenceChange(
        user, PresenceState(), PresenceState(stale=bool(n % 2)), "calendar", "ics", T_MEETING
    )


def test_calendar_subscription_coalesces_per_user() -> None:
    """10,000 changes for three users to a subscriber that never reads: three pending, each
    keeping the first `before` and the latest `after`."""
    channel = ChangeChannel()
    sub = channel.subscribe()
    for n in range(10_000):
        channel.publish(_change(f"u{n % 3}", n))
    pending = sub.pending()
    assert sorted(c.user_id for c in pending) == ["u0", "u1", "u2"]
    assert all(c.before == PresenceState() for c in pending)


async def test_effective_and_board_subscriptions_are_bounded_by_users() -> None:
    """The effective state's and the board's subscriptions hold one entry per user at most."""
    org = load_config(ALV).org
    manual: dict[str, ManualRedirect] = {}
    clock = ManualClock(T_MEETING)
    hub = EffectiveHub(org, clock, manual=lambda: manual)
    hub.start()
    sub = hub.subscribe()
    for n in range(2_000):
        if n % 2:
            manual.pop(ANNA, None)
        else:
            manual[ANNA] = ManualRedirect(
                ANNA, AbsenceReason.LUNCH, T_MEETING + timedelta(hours=1), set_at=T_MEETING
            )
        hub.notify(ANNA)
        hub.refresh()
    pending = sub.pending()
    assert [c.user_id for c in pending] == [ANNA]
    assert pending[0].before is not None and pending[0].before.redirect is None
    board = ChangeHub()
    stalled = board.subscribe()
    for n in range(10_000):
        board.publish(f"user-{n % 5}")
    assert len(stalled.pending()) == 5
    board.close_all()
    with pytest.raises(StopAsyncIteration):
        await stalled.get()


async def test_effective_hub_publishes_time_driven_changes_on_its_clock() -> None:
    """A manual redirect that ends is a change at its end time, with no input changing."""
    org = load_config(ALV).org
    clock = ManualClock(T_MEETING)
    end = T_MEETING + timedelta(minutes=30)
    manual = {ANNA: ManualRedirect(ANNA, AbsenceReason.LUNCH, end, set_at=T_MEETING)}
    hub = EffectiveHub(org, clock, manual=lambda: manual)
    sub = hub.subscribe()
    task = asyncio.create_task(hub.run())
    try:
        await until(lambda: hub.ready.is_set())
        await asyncio.sleep(0)
        assert sub.pending() == []
        clock.set(end)
        change = await asyncio.wait_for(sub.get(), 5)
        assert change.user_id == ANNA and change.at == end
        assert change.before is not None and change.before.state == "redirected"
        assert change.after is not None and change.after.state == "available"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
