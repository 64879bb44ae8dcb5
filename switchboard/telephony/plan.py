"""The plan for one call: the AGI steps a routing decision needs, and what the caller got.

`CallPlanner.steps` turns a decision into AGI commands (Dial, the message's Playback, the
greeting and VoiceMail), with `AfterDial` where what comes next depends on the Dial's status;
`CallPlanner.outcome` reads the statuses each step left (`CallRecord.results`) as the call log's
outcome (docs/calllog.md). Running the steps on a channel is `switchboard.telephony.calls`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from routing.decision_table import mailbox_enabled
from routing.effective import EffectiveState
from routing.models import Action, Organisation, RouteDecision
from routing.spoken import speakable_segments
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.dialstrings import Dialler
from switchboard.telephony.sounds import CALL, SoundRenderer, sound_name


@dataclass(frozen=True, slots=True)
class Command:
    """One AGI command, as sent in the `AGI` action's `Command:` header."""

    text: str


@dataclass(frozen=True, slots=True)
class AfterDial:
    """The step after a Dial: nothing if it was answered, else the user's voicemail."""


Step = Command | AfterDial


@dataclass(frozen=True, slots=True)
class Said:
    """What a planned Playback says: its spoken segments, written text and kind."""

    segments: tuple[str, ...]
    text: str
    kind: str


PLAYED_VARIABLE = "SWITCHBOARD_PLAYED"  # the caller has heard the message (asterisk_config.py)
TEXTS_KEPT = 4096  # sounds whose text is remembered for rendering before Playback


def agi_quote(text: str) -> str:
    """A double-quoted AGI argument; CR/LF are refused later by the AMI encoder anyway."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class CallRecord:
    """What the service did with one call, for the log and for `switchboard call`."""

    channel: str
    uniqueid: str
    to: str
    caller: str
    context: str
    decision: RouteDecision | None = None
    state: EffectiveState | None = None  # what the decision was taken on
    outcome: str = "in_progress"
    commands: list[str] = field(default_factory=list)
    decided_in_s: float | None = None
    transport: str = "async"  # "fastagi" or "async" (AsyncAGI over AMI)
    results: list[tuple[str, str]] = field(default_factory=list)  # (application, status)
    failed: str | None = None  # the first step that failed, e.g. "Playback switchboard/…"
    hung_up: bool = False  # the caller went away while the service handled the call
    first_answer_s: float | None = None  # call reached us → the first command's answer


class CallPlanner:
    """The steps for a decision, for one organisation and its telephony settings."""

    def __init__(
        self,
        org: Organisation,
        settings: TelephonySettings,
        greeting: Callable[[str], str],
        renderer: SoundRenderer | None = None,
    ) -> None:
        self.org = org
        self.settings = settings
        self.greeting = greeting
        self.renderer = renderer
        # ALV-11: the sound of the owner's own recorded greeting, None for the generated one
        # (set by the composition root from `voicemail.owner_greeting.OwnerGreetings`)
        self.own_greeting: Callable[[str], str | None] = lambda _user_id: None
        # sound name → what it says, for the Playback to play what is rendered (agi.py)
        self._texts: dict[str, Said] = {}
        self.dialler = Dialler(
            org.plan, settings.internal_dial, settings.external_dial, settings.outbound_format
        )

    def said(self, sound: str) -> Said | None:
        """What a sound this planner asked to be played says (segments, text, kind)."""
        return self._texts.get(sound)

    def dial(self, e164: str) -> str:
        """The dial string of a number (internal series, or the trunk in `outbound_format`)."""
        return self.dialler.dial(e164)

    def steps(self, rec: CallRecord, d: RouteDecision) -> list[Step]:
        """The steps for a decision: AGI commands, and what to do after a Dial returns."""
        timeout = self.settings.dial_timeout_s
        if d.action in (Action.RING,) and (d.ring or d.target):
            targets = d.ring or ((d.target,) if d.target else ())
            dial = "&".join(self.dial(t) for t in targets)
            return [Command(f"EXEC Dial {dial},{timeout}"), AfterDial(), Command("HANGUP")]
        steps: list[Step] = [Command("ANSWER")]
        if d.message:
            steps += self.say(d.message, spoken=d.prompts)
            # Should we die from here on, the dialplan's fallback does not play it again.
            steps.append(Command(f"SET VARIABLE {PLAYED_VARIABLE} 1"))
        if d.action is Action.VOICEMAIL or d.next == "voicemail":
            steps += self.voicemail(rec)
        elif d.action in (Action.REDIRECT, Action.TRANSFER) and d.target:
            # The covering point (or the switchboard) is rung; unanswered → the user's voicemail.
            steps += [Command(f"EXEC Dial {self.dial(d.target)},{timeout}"), AfterDial()]
        steps.append(Command("HANGUP"))
        return steps

    def after_dial(self, rec: CallRecord) -> list[Command]:
        """Dial returned: nothing to do if answered; else voicemail if the user has it."""
        dials = [status for app, status in rec.results if app == "Dial"]
        if dials and dials[-1] == "ANSWER":
            return []
        return self.voicemail(rec)

    def say(self, text: str, kind: str = "message", spoken: Sequence[str] = ()) -> list[Command]:
        """Play a text: its sound, with the written text as a channel variable."""
        # The sound is rendered from the spoken segments (the decision's prompts, else the
        # text's spoken form); the written text rides along as a channel variable so the log
        # and the simulated caller can show what was said.
        # When the sound is not rendered yet, the Playback plays what is (issue 21, agi.py).
        segments = tuple(spoken) or speakable_segments(text)
        sound = sound_name(segments)
        if self.renderer is not None:
            if len(self._texts) > TEXTS_KEPT:
                self._texts.clear()
            self._texts[sound] = Said(segments, text, kind)
            self.renderer.ensure(segments, level=CALL)  # starts now, ahead of renders ahead
        return [
            Command(f"SET VARIABLE SWITCHBOARD_KIND {kind}"),
            Command(f"SET VARIABLE SWITCHBOARD_TEXT {agi_quote(text)}"),
            Command(f"EXEC Playback {sound}"),
        ]

    def voicemail(self, rec: CallRecord) -> list[Command]:
        """The greeting and VoiceMail of the decision's user, if the user has voicemail."""
        d, st = rec.decision, rec.state
        user = st.directory.user(d.user) if st is not None and d and d.user else None
        if st is None or user is None or not user.mailbox or not mailbox_enabled(user, st.policy):
            return []
        ctx = self.org.voicemail_context
        own = self.own_greeting(user.id)
        greeting = (
            [Command("SET VARIABLE SWITCHBOARD_KIND greeting"), Command(f"EXEC Playback {own}")]
            if own
            else self.say(self.greeting(user.name), "greeting")
        )
        return [
            *greeting,
            Command(f"EXEC VoiceMail {user.mailbox}@{ctx},s"),
        ]

    def outcome(self, rec: CallRecord) -> str:
        """What the caller got, from the decision and each step's status (docs/calllog.md)."""
        if rec.failed:
            return "failed_step"
        statuses = dict(reversed(rec.results))  # the first status of each application
        last = dict(rec.results)
        vm = last.get("VoiceMail")
        if vm == "SUCCESS":
            return "voicemail_left"
        d = rec.decision
        if any(app == "Dial" and status == "ANSWER" for app, status in rec.results):
            if d is None or d.action is Action.RING:
                return "answered"
            switchboard = self.org.directory.switchboard
            if d.action is Action.TRANSFER or d.next == "transfer" or d.target == switchboard:
                return "transfer"
            return "covering_point"
        if vm is not None:
            return "voicemail_empty"  # reached the mailbox, left nothing (VMSTATUS FAILED)
        if statuses.get("Playback") == "SUCCESS":
            return "rejected" if d is not None and d.action is Action.REJECT else "message"
        if rec.hung_up:
            return "caller_hung_up"
        if "Dial" in statuses:
            return "no_answer"
        return "rejected" if d is not None and d.action is Action.REJECT else "no_answer"
