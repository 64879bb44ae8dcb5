"""State mirroring: redirect state written into Asterisk (AstDB + CustomPresence) so that its
dialplan routes sensibly even while the service is down.

AstDB `switchboard/redirect/<extension digits>` = `reason|until-epoch|message sound`;
`PRESENCE_STATE(CustomPresence:<extension digits>)` = `away|dnd|available,<reason>,<message>`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from routing import spoken, wording
from routing.absence import AbsenceReason
from routing.effective import EffectiveChange, EffectiveState, UserView
from routing.models import Directory, User
from switchboard.telephony.ami import AmiClient, AmiResponse, Headers
from switchboard.telephony.config import PRESENCE_PROVIDER, REDIRECT_FAMILY
from switchboard.telephony.errors import AmiActionTimeout, AmiConnectionError, AmiNotConnected
from switchboard.telephony.sounds import CALL, GENERIC_PROMPT, SoundRenderer, sound_name

log = logging.getLogger(__name__)

_AWAY = {
    AbsenceReason.VACATION,
    AbsenceReason.SICK,
    AbsenceReason.CARE_OF_CHILD,
    AbsenceReason.TRAVEL,
    AbsenceReason.AWAY,
}


@dataclass(frozen=True, slots=True)
class MirrorRow:
    """What Asterisk should hold for one extension."""

    key: str  # extension digits, e.g. "83012"
    redirect: str | None  # AstDB value, None = no row
    presence: str  # CustomPresence value
    text: str | None = None  # the absence message (rendered to the sound the row names)
    spoken: tuple[str, ...] = ()  # its spoken segments: what the sound says (routing.spoken)


def extension_key(user: User, directory: Directory) -> str | None:
    """The digits the dialplan sees for a user's extension (the mailbox digits, e.g. 83012)."""
    if user.extension is None:
        return None
    if user.mailbox:
        return user.mailbox
    for area, _ in directory.plan.series:
        prefix = f"+{directory.plan.country_code}{area}"
        if user.extension.startswith(prefix):
            return user.extension[len(prefix) :]
    return user.extension.lstrip("+")


def _clean(text: str) -> str:
    # PRESENCE_STATE splits on commas and AstDB rows on '|': keep both out of free text, and
    # every control character (CR, LF, NUL) that the AMI encoder would refuse.
    text = text.replace(",", ";").replace("|", "/")
    return "".join(" " if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in text)


def row_for(view: UserView, directory: Directory, now: datetime, tz: ZoneInfo) -> MirrorRow | None:
    """The AstDB and presence values for one user's effective view, or None without an
    extension. A blocked user (ALV-21) gets a row too, so the dialplan never rings them."""
    user = view.user
    key = extension_key(user, directory)
    if key is None:
        return None
    if view.state == "blocked":
        text = wording.UNREACHABLE_MESSAGE
        return MirrorRow(
            key,
            f"blocked||{sound_name((text,))}",
            f"unavailable,blocked,{_clean(text)}",
            text,
            (text,),
        )
    redirect = view.redirect
    if redirect is None:
        return MirrorRow(key, None, "available,,")
    text = wording.absence_message(user.name, redirect, now, tz)
    # the sound is the decision's spoken prompts, so the dialplan plays what a call would
    said = spoken.absence_segments(user.name, redirect, now, tz)
    until = redirect.until
    shown = wording.public_reason(redirect.reason)  # HV-04: colleagues' phones see the PBX
    value = "|".join((shown, str(int(until.timestamp())) if until else "", sound_name(said)))
    state = "away" if redirect.reason in _AWAY else "dnd"
    return MirrorRow(key, value, f"{state},{shown},{_clean(text)}", text, said)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of a local day."""
    return datetime.combine(day, time(), tz)


def wordings(view: UserView, now: datetime, tz: ZoneInfo) -> set[tuple[str, ...]]:
    """Every spoken form the user's redirect in force at `now` can take while it lasts (issue
    21): its return is worded by the date (HV-02: "åter tisdag den 24 november" the days
    before, "åter klockan femton" on the day, the year when it is another), so the forms
    change only at a local midnight: now, the next midnight, the first of January of the
    return's year and the return day — each while the redirect is still in force."""
    redirect = view.redirect
    if redirect is None:
        return set()
    name = view.user.name
    said = {spoken.absence_segments(name, redirect, now, tz)}
    returns = redirect.return_time
    if returns is None:
        return said
    back = max(returns, now).astimezone(tz).date()
    today = now.astimezone(tz).date()
    days = {today + timedelta(days=1), date(back.year, 1, 1), back}
    for day in sorted(d for d in days if today < d <= back):
        at = _midnight(day, tz)
        if redirect.until is None or at < redirect.until:
            said.add(spoken.absence_segments(name, redirect, at, tz))
    return said


def coming_wordings(
    state: EffectiveState, now: datetime, tz: ZoneInfo, horizon: timedelta, steps: int = 3
) -> Iterator[set[tuple[str, ...]]]:
    """User by user, the spoken forms of the redirect in force now, and of those that start
    (by time alone: a calendar event, a manual redirect running out) within `horizon`."""
    end = now + horizon
    for user_id, view in state.views(now).items():
        out = wordings(view, now, tz)
        at = now
        for _ in range(steps):
            nxt = state.next_change(user_id, at)
            if nxt is None or nxt > end:
                break
            later = state.view(user_id, nxt)
            if later is not None:
                out |= wordings(later, nxt, tz)
            at = nxt
        yield out


def desired_rows(state: EffectiveState, now: datetime, tz: ZoneInfo) -> dict[str, MirrorRow]:
    """Every extension's row, from the effective state at `now`."""
    rows: dict[str, MirrorRow] = {}
    for view in state.views(now).values():
        row = row_for(view, state.directory, now, tz)
        if row is not None:
            rows[row.key] = row
    return rows


async def _bounded(client: AmiClient, jobs: Iterable[tuple[str, Headers]], width: int) -> int:
    """Send actions with at most `width` in flight; return how many were sent."""
    sem = asyncio.Semaphore(width)
    count = 0

    async def one(action: str, headers: Headers) -> AmiResponse | None:
        async with sem:
            try:
                return await client.send_action(action, headers)
            except (AmiConnectionError, AmiNotConnected, AmiActionTimeout):
                raise
            except Exception as exc:  # one row the encoder refuses: the others still go
                log.error("PBX row not written (%s): %s: %s", action, type(exc).__name__, exc)
                return None

    tasks: list[asyncio.Task[AmiResponse | None]] = []
    try:
        async with asyncio.TaskGroup() as tg:
            for action, headers in jobs:
                tasks.append(tg.create_task(one(action, headers)))
                count += 1
    except* (AmiConnectionError, AmiNotConnected) as eg:
        raise eg.exceptions[0] from None
    return count


class StateMirror:
    """Writes redirect state into Asterisk: a full resync, then only changes."""

    def __init__(
        self,
        state: Callable[[], EffectiveState],
        tz: ZoneInfo,
        clock: Callable[[], datetime],
        *,
        width: int = 64,
        renderer: SoundRenderer | None = None,
        horizon: timedelta = timedelta(hours=1),
    ) -> None:
        self.renderer = renderer
        self.horizon = horizon  # redirects starting this soon are rendered ahead too
        self.state = state
        self.tz = tz
        self.clock = clock
        self.width = width
        self.last_resync_actions = 0

    async def full_resync(self, client: AmiClient) -> int:
        """Read what Asterisk holds, write the differences; return the number of writes."""
        now = self.clock()
        want = desired_rows(self.state(), now, self.tz)
        if self.renderer is not None:
            # Rows are written now; their sound files follow in the background (bounded):
            # the generic prompt and the fixed segments first, every form each redirect takes
            # until it ends — also past midnight — and the redirects that start within
            # `horizon`, each with its segments as pieces, and every name; the reconciliation
            # that runs every few minutes renders them all again ahead of time (issue 21), so
            # no call waits: a new message is played from the pieces that exist.
            self.renderer.ensure(GENERIC_PROMPT, level=CALL)  # a call may need it first
            self.renderer.ensure_pieces(spoken.absence_fixed_segments())
            self.renderer.ensure_all(row.spoken for row in want.values() if row.spoken)
            await self.render_ahead(now)
        have_redirect = await self._tree(client, REDIRECT_FAMILY)
        have_presence = await self._tree(client, PRESENCE_PROVIDER)
        jobs: list[tuple[str, Headers]] = []
        for key, row in want.items():
            if row.redirect is None:
                if key in have_redirect:
                    jobs.append(("DBDel", [("Family", REDIRECT_FAMILY), ("Key", key)]))
            elif have_redirect.get(key) != row.redirect:
                jobs.append(
                    ("DBPut", [("Family", REDIRECT_FAMILY), ("Key", key), ("Val", row.redirect)])
                )
            if have_presence.get(key) != row.presence:
                jobs.append(_setvar(key, row.presence))
        for key in have_redirect.keys() - want.keys():
            jobs.append(("DBDel", [("Family", REDIRECT_FAMILY), ("Key", key)]))
        sent = await _bounded(client, jobs, self.width)
        self.last_resync_actions = sent
        log.info("full resync: %d extensions, %d writes", len(want), sent)
        return sent

    async def render_ahead(self, now: datetime) -> None:
        """Start rendering every form the redirects in force (or starting within `horizon`)
        will take; the loop is let go every 256 users, so calls are not held up."""
        if self.renderer is None:
            return
        state = self.state()
        forms = coming_wordings(state, now, self.tz, self.horizon)
        for i, said in enumerate(forms):
            self.renderer.ensure_all(said, pieces=True)
            if i % 256 == 255:
                await asyncio.sleep(0)
        # every name: the first piece of any absence message of theirs, new ones too
        self.renderer.ensure_pieces(u.name for u in state.directory.users if u.extension)

    async def _tree(self, client: AmiClient, family: str) -> dict[str, str]:
        resp = await client.send_action("DBGetTree", [("Family", family)], deadline=30)
        prefix = f"/{family}/"
        out: dict[str, str] = {}
        for ev in resp.events:
            key = ev.get("Key") or ""
            if ev.name == "DBGetTreeResponse" and key.startswith(prefix):
                out[key[len(prefix) :]] = ev.get("Val") or ""
        return out

    async def apply(self, client: AmiClient, user_id: str) -> None:
        """Write one user's effective state now (DBPut or DBDel, and Setvar on their presence)."""
        now = self.clock()
        state = self.state()
        view = state.view(user_id, now)
        if view is None:
            return
        row = row_for(view, state.directory, now, self.tz)
        if row is None:
            return
        if self.renderer is not None and row.spoken:
            self.renderer.ensure(row.spoken)  # the file follows the row within one render
            # and the later days' forms, each with its pieces
            self.renderer.ensure_all(wordings(view, now, self.tz), pieces=True)
        if row.redirect is None:
            await client.send_action("DBDel", [("Family", REDIRECT_FAMILY), ("Key", row.key)])
        else:
            await client.send_action(
                "DBPut", [("Family", REDIRECT_FAMILY), ("Key", row.key), ("Val", row.redirect)]
            )
        action, headers = _setvar(row.key, row.presence)
        await client.send_action(action, headers)


def _setvar(key: str, value: str) -> tuple[str, Headers]:
    return (
        "Setvar",
        [("Variable", f"PRESENCE_STATE({PRESENCE_PROVIDER}:{key})"), ("Value", value)],
    )


async def pump_changes(
    changes: AsyncIterator[EffectiveChange],
    mirror: StateMirror,
    client: Callable[[], AmiClient | None],
    on_applied: Callable[[str], None] | None = None,
) -> None:
    """Write each changed user's effective state as it comes; while disconnected, the next
    resync catches up. A failure for one user is logged and never ends the pump."""
    async for change in changes:
        user_id = change.user_id
        c = client()
        if c is None or not c.connected:
            continue
        try:
            await mirror.apply(c, user_id)
        except (AmiConnectionError, AmiNotConnected) as exc:
            log.warning("change for %s not mirrored: %s", user_id, exc)
            continue
        except Exception:  # e.g. a text the AMI encoder refuses: this user only
            log.exception("change for %s not mirrored", user_id)
            continue
        if on_applied is not None:
            on_applied(user_id)
