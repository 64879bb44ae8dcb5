"""What the simulated platform keeps per call: the channel (`SimCall`) and what the caller
experiences, step by step (`Step`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Step:
    """One thing the caller experiences, as `switchboard call` prints it."""

    step: str
    detail: dict[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """The JSON object for this step."""
        return {"step": self.step, **self.detail}


VoicemailHook = Callable[["SimCall", str, str], Awaitable[None]]


@dataclass(eq=False)
class SimCall:
    """One simulated inbound call: its channel, variables and the caller's experience."""

    channel: str
    uniqueid: str
    linkedid: str
    exten: str
    caller: str
    caller_name: str
    answer: bool = True
    leave_message: str | None = None
    context: str = "from-trunk"
    state: int = 4
    priority: int = 3
    variables: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    started: float = 0.0
    answered: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ended_by: str = ""
    dead: bool = False  # the caller has hung up (dialplan mode: apps return -1)
    application: str = ""  # what the channel runs now (CoreShowChannels)
    application_data: str = ""
    segment_start: float = 0.0  # CDR: the current record's start
    last_app: tuple[str, str] = ("", "")  # CDR: LastApplication, LastData
    agi: AgiLink | None = None  # the FastAGI connection while AGI() runs
    chanvars: tuple[str, ...] = ()  # manager.conf channelvars: ChanVariable in every event
    hang_up_at: str | None = None  # the caller hangs up when this step begins (message, ring…)
    hold: asyncio.Event | None = None  # a Dial rings until this is set (a test's pause)
    parked: asyncio.Future[int] | None = None  # in AGI(agi:async): ASYNCAGI BREAK 0, HANGUP -1

    @property
    def state_desc(self) -> str:
        """Asterisk's ChannelStateDesc."""
        return {0: "Down", 4: "Ring", 6: "Up"}.get(self.state, "Unknown")

    def channel_headers(self) -> list[tuple[str, str]]:
        """The channel snapshot headers Asterisk puts in every channel event."""
        return [
            ("Channel", self.channel),
            ("ChannelState", str(self.state)),
            ("ChannelStateDesc", self.state_desc),
            ("CallerIDNum", self.caller or "<unknown>"),
            ("CallerIDName", self.caller_name or "<unknown>"),
            ("ConnectedLineNum", self.caller or "<unknown>"),
            ("ConnectedLineName", "<unknown>"),
            ("Language", "en"),
            ("AccountCode", ""),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Priority", str(self.priority)),
            ("Uniqueid", self.uniqueid),
            ("Linkedid", self.linkedid),
            *(("ChanVariable", f"{v}={self.variables.get(v, '')}") for v in self.chanvars),
        ]

    async def wait(self, within: float) -> None:
        """Wait until the call has ended, at most `within` s."""
        async with asyncio.timeout(within):
            await self.done.wait()


@dataclass(eq=False)
class AgiLink:
    """The FastAGI connection of a channel while its AGI() runs."""

    writer: asyncio.StreamWriter
