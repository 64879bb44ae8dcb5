"""Folding AMI events and the service's outcome into one call-log entry per call (ALV-18).

See `CallLog`; the outcomes are listed in docs/calllog.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta

import aiosqlite

from switchboard.telephony.ami import Message
from switchboard.telephony.calllog.errors import CallLogError
from switchboard.telephony.calllog.models import CallEntry
from switchboard.telephony.calllog.shared import CallLogStorage

log = logging.getLogger("switchboard.telephony.calllog")

DONE_KEPT = 1024  # finished calls kept in memory so a late Cdr or Hangup still updates them
LINKS_KEPT = 16384  # channel Uniqueid → the call's Linkedid, for events that carry only one
OUTCOME_VARIABLE = "SWITCHBOARD_OUTCOME"  # set by the dialplan's fallback (manager channelvars)
# What the service learnt about a call that the wire may not show: not overridden by the fallback.
SERVICE_FINAL = {
    "answered",
    "covering_point",
    "transfer",
    "voicemail_left",
    "voicemail_empty",
    "message",
    "rejected",
    "no_answer",
    "failed_step",
    "caller_hung_up",
}


class CallLog:
    """Folds AMI events and the service's outcome into one entry per call, and writes them.

    A call is keyed by its Linkedid (every channel of one call shares it); a Cdr carries only
    the channel's `UniqueID`, so each channel's Uniqueid → Linkedid is remembered from the
    events that carry both. Times come from the service's clock, never from the Cdr's fields
    (written in the platform's time zone): connect at the first Newchannel, answer at the first
    channel going Up (Newstate 6), disconnect at the last channel's Hangup; so start ≤ answer ≤
    end always. A call ends when its last channel hangs up, Cdr or not (a CHANUNAVAIL dial has
    none). The outcome is what the caller got: the service's (docs/calllog.md), else the
    dialplan fallback's (`fallback_<what>`, from the SWITCHBOARD_OUTCOME channel variable), and
    a MessageWaiting on the call's channel means a voicemail was left.

    An entry is written when the service's handling ends and when the call ends, and rewritten
    when a later Cdr adds to it. Writes are tasks (event callbacks are synchronous): one writer
    per call, which writes the call's newest state and then any state that arrived meanwhile,
    so updates of one call never race and the last state is the one that stays. `flush()`
    waits for them.
    """

    def __init__(self, store: CallLogStorage | None, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self._open: dict[str, CallEntry] = {}
        self._done: dict[str, CallEntry] = {}
        self._links: dict[str, str] = {}  # Uniqueid → Linkedid
        self._live: dict[str, set[str]] = {}  # Linkedid → channels not hung up yet
        self._fallback: dict[str, str] = {}  # Linkedid → the dialplan fallback's outcome
        self._service: set[str] = set()  # calls the service has finished
        self._orphans: set[str] = set()  # open calls whose events stopped (AMI lost)
        self._unwritten: dict[str, CallEntry] = {}  # newest state per call not yet written
        self._writers: dict[str, asyncio.Task[None]] = {}  # at most one per call
        self.written = 0

    def call_id(self, uniqueid: str) -> str:
        """The call (Linkedid) a channel's Uniqueid belongs to, as far as the events told."""
        return self._links.get(uniqueid, uniqueid)

    def _link(self, msg: Message) -> str:
        uid = msg.get("Uniqueid") or msg.get("UniqueID") or ""
        linked = msg.get("Linkedid") or ""
        if uid and linked:
            if uid not in self._links:
                self._links[uid] = linked
                while len(self._links) > LINKS_KEPT:
                    del self._links[next(iter(self._links))]
            return linked
        return self._links.get(uid, uid) if uid else linked

    def on_event(self, msg: Message) -> None:
        """Fold one AMI event into its call's entry (keyed by Linkedid)."""
        name = msg.name
        if name not in (
            "Newchannel",
            "Newstate",
            "DialBegin",
            "DialEnd",
            "MessageWaiting",
            "Cdr",
            "Hangup",
        ):
            return
        key = self._link(msg)
        if not key:
            return
        done = key in self._done
        e = self._done[key] if done else self._open.get(key)
        if e is None:
            if name == "Cdr":
                self._late_cdr(key, msg)
                return
            e = CallEntry(call_id=key, start=self.clock())
        uid = msg.get("Uniqueid") or msg.get("UniqueID") or ""
        if name == "Newchannel":
            self._live.setdefault(key, set()).add(uid)
            first = uid == key or not uid  # the calling channel (Uniqueid = Linkedid)
            e = replace(
                e,
                caller=e.caller or (_number(msg.get("CallerIDNum")) if first else None),
                called=e.called or msg.get("Exten"),
                channel=e.channel or msg.get("Channel"),
            )
        elif name == "Newstate":
            if msg.get("ChannelState") == "6" and e.answer is None:
                e = replace(e, answer=self.clock())
        elif name == "DialBegin":
            if msg.get("Channel"):  # a channel dialled (an Originate's DialBegin has none)
                e = replace(e, dialled=(*e.dialled, msg.get("DialString") or ""))
        elif name == "DialEnd":
            if msg.get("Channel"):
                e = replace(e, dial_status=msg.get("DialStatus"))
        elif name == "MessageWaiting":
            if not msg.get("Channel"):
                return  # a mailbox count change (e.g. after intake), not a caller
            self._fallback.setdefault(key, "voicemail_left")
            e = replace(e, outcome=_left(e.outcome, key in self._service))
        elif name == "Cdr":
            disposition = msg.get("Disposition")
            if e.disposition != "ANSWERED" and disposition:
                e = replace(e, disposition=disposition)
        elif name == "Hangup":
            live = self._live.get(key)
            if live is not None:
                live.discard(uid)
            if uid == key and (caller := _number(msg.get("CallerIDNum"))):
                e = replace(e, caller=e.caller or caller)  # the calling channel's, known by now
            for var in msg.get_all("ChanVariable"):
                variable, _, value = var.partition("=")
                if variable == OUTCOME_VARIABLE and value:
                    self._fallback[key] = value
            if live:
                self._open[key] = e  # other channels of the call are still up
                return
            self._live.pop(key, None)
            e = replace(e, end=e.end or self.clock())
            self._finish(self._with_fallback(e))
            return
        if done:
            self._finish(e)
        else:
            self._open[key] = e

    def _late_cdr(self, key: str, msg: Message) -> None:
        """A Cdr of a call whose channels were never seen (e.g. before we connected)."""
        end = self.clock()
        duration = _int(msg.get("Duration"))
        billable = _int(msg.get("BillableSeconds"))
        answered = msg.get("Disposition") == "ANSWERED" or bool(msg.get("AnswerTime"))
        e = CallEntry(
            call_id=key,
            start=end - timedelta(seconds=duration),
            answer=end - timedelta(seconds=billable) if answered else None,
            end=end,
            caller=_number(msg.get("Source")),
            called=msg.get("Destination") or None,
            disposition=msg.get("Disposition"),
            channel=msg.get("Channel"),
            outcome="dialplan",
        )
        self._finish(e)

    def _with_fallback(self, e: CallEntry) -> CallEntry:
        """The outcome when the call has ended: the service's, unless the dialplan's fallback
        handled it (not the service at all, or after a hand-back)."""
        fallback = self._fallback.pop(e.call_id, None)
        if fallback is None:
            if e.outcome == "in_progress":
                return replace(e, outcome="dialplan")  # the dialplan alone, nothing reported
            return e
        if e.call_id in self._service and e.outcome in SERVICE_FINAL:
            return e
        if fallback == "fallback":  # the fallback began and got nowhere (e.g. CHANUNAVAIL)
            fallback = "no_answer"
        return replace(e, outcome=f"fallback_{fallback}")

    def on_call_done(
        self,
        call_id: str,
        *,
        caller: str | None,
        called: str | None,
        outcome: str,
        action: str | None,
        channel: str | None = None,
    ) -> CallEntry:
        """Add the service's outcome (and the decision's action) and write the entry.
        `call_id` is the AGI channel's Uniqueid: the entry is its call's (Linkedid)."""
        key = self.call_id(call_id)
        self._service.add(key)
        done = key in self._done
        e = self._done.get(key) if done else self._open.get(key)
        if e is None:
            e = CallEntry(call_id=key, start=self.clock())
        left = self._fallback.get(key) == "voicemail_left" and outcome in (
            "voicemail_empty",
            "caller_hung_up",
        )
        e = replace(
            e,
            caller=e.caller or caller,
            called=e.called or called,
            channel=e.channel or channel,
            outcome="voicemail_left" if left else outcome,
            action=action,
            interrupted=e.interrupted or outcome == "interrupted",
        )
        if done or key in self._orphans or key not in self._live:
            # Ended already, or its channels' events will not come (not seen, AMI lost).
            self._orphans.discard(key)
            self._live.pop(key, None)
            return self._finish(replace(e, end=e.end or self.clock()))
        self._open[key] = e
        self._write(e)  # written now; rewritten with its end when the last channel hangs up
        return e

    def interrupt_open(self, keep: Iterable[str] = ()) -> list[CallEntry]:
        """The link broke: calls still open (except `keep`, Uniqueids the controller will
        finish) are written as interrupted, so none is left hanging."""
        kept = {self.call_id(u) for u in keep}
        out = []
        for key in [k for k in self._open if k not in kept]:
            e = self._open.pop(key)
            self._live.pop(key, None)
            if key in self._service:  # the service had finished it: only its end is unknown
                out.append(self._finish(replace(e, end=e.end or self.clock())))
                continue
            out.append(self._finish(replace(e, outcome="interrupted", interrupted=True)))
        self._orphans |= kept & self._open.keys()
        return out

    @property
    def open_calls(self) -> int:
        """Calls seen on the wire and not finished yet."""
        return len(self._open)

    def _finish(self, e: CallEntry) -> CallEntry:
        self._open.pop(e.call_id, None)
        e = _ordered(e)
        self._done[e.call_id] = e
        while len(self._done) > DONE_KEPT:
            old = next(iter(self._done))
            del self._done[old]
            self._service.discard(old)
        self._write(e)
        return e

    def _write(self, entry: CallEntry) -> None:
        log.info(
            "call logged",
            extra={"call_id": entry.call_id, "outcome": entry.outcome, "action": entry.action},
        )
        if self.store is None:
            return
        # A newer state replaces one still waiting: only the newest needs writing.
        self._unwritten[entry.call_id] = entry
        if entry.call_id not in self._writers:
            task = asyncio.get_running_loop().create_task(self._writer(self.store, entry.call_id))
            self._writers[entry.call_id] = task

    async def _writer(self, store: CallLogStorage, call_id: str) -> None:
        """Write one call's states one at a time until none is waiting."""
        try:
            while (entry := self._unwritten.pop(call_id, None)) is not None:
                try:
                    await store.record(entry)
                    self.written += 1
                except (CallLogError, aiosqlite.Error) as exc:
                    log.error("call %s not logged: %s", call_id, exc)
        finally:
            # No await since the last pop: a state arriving from now on starts a new writer.
            self._writers.pop(call_id, None)

    async def flush(self) -> None:
        """Wait for every write under way (and the states queued behind them)."""
        while self._writers:
            await asyncio.gather(*list(self._writers.values()))


def _left(outcome: str, by_service: bool) -> str:
    """A MessageWaiting on the call's channel: a message was left. For a call the service
    handled that upgrades what it could not see (e.g. AsyncAGI loses the channel, and its
    VMSTATUS, when the caller hangs up); the fallback's calls get theirs at the end."""
    if by_service and outcome in ("in_progress", "voicemail_empty", "caller_hung_up", "message"):
        return "voicemail_left"
    return outcome


def _ordered(e: CallEntry) -> CallEntry:
    """start ≤ answer ≤ end, and the durations they give (billable from the answer)."""
    start, answer, end = e.start, e.answer, e.end
    if start is not None and end is not None and end < start:
        end = start
    if answer is not None:
        if start is not None and answer < start:
            answer = start
        if end is not None and answer > end:
            answer = end
    duration = billable = None
    if start is not None and end is not None:
        duration = int((end - start).total_seconds())
        billable = int((end - answer).total_seconds()) if answer is not None else 0
    return replace(
        e,
        answer=answer,
        end=end,
        duration_s=duration if duration is not None else e.duration_s,
        billable_s=billable if billable is not None else e.billable_s,
    )


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _number(text: str | None) -> str | None:
    return None if not text or text == "<unknown>" else text
