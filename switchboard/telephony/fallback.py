"""What the dialplan needs to route a call on its own, written into AstDB by the leading node.

The redirect rows (`switchboard/redirect/<ext>`, mirror.py) say *whether* an extension is
redirected and with which message; these rows say *where the call goes* without the service, so
the fallback sounds like the service (DESIGN: "what the dialplan does on its own must sound like
what the service does"):

- `switchboard/fallback/<ext>` = `ring|cover|mailbox@context|greeting|intl|premium`: the dial
  string of the user's own phone (empty when blocked: never rung, ALV-21), the covering point's
  (or Medborgarservice's) dial string when the call is redirected, the mailbox when voicemail is
  on (ALV-10/12), the sound of the personal greeting played before `VoiceMail(…,s)`, and `1`
  when the user may call abroad / premium-rate numbers (ALV-19, HAL-09);
- `switchboard/config/<name>`: `agi` (the FastAGI URL of the leading node), `internal` and
  `external` (dial templates split as `prefix|suffix`), `blocked_international` and
  `blocked_premium` (the sounds of the refusal messages).

Every value comes from the effective state (routing.effective) and the same dial strings and
greeting the call controller uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from routing.decision_table import mailbox_enabled
from routing.effective import EffectiveState
from routing.models import Action, Call, Group, User
from routing.spoken import speakable_segments
from switchboard.telephony.ami import AmiClient, Headers
from switchboard.telephony.config import FALLBACK_FAMILY, SETTINGS_FAMILY, TelephonySettings
from switchboard.telephony.dialstrings import Dialler, outbound_number
from switchboard.telephony.mirror import _bounded, extension_key
from switchboard.telephony.sounds import SoundRenderer, sound_name

log = logging.getLogger(__name__)

# Representative numbers for the outbound refusal messages (the wording does not depend on them).
INTERNATIONAL_PROBE = "+4930123456"
PREMIUM_PROBE = "+46900123456"


def spoken(text: str, prompts: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What a played text says, as the call controller renders it (`CallController._say`):
    the decision's prompts, else the text's spoken form. One sound name for both paths."""
    return tuple(prompts) or speakable_segments(text)


def _clean(value: str) -> str:
    return value.replace("|", "/").replace("\r", " ").replace("\n", " ")


def _static_cover(user: User, state: EffectiveState) -> str | None:
    """The covering point's number from the directory (a user's extension, a group's number)."""
    if not user.covering:
        return None
    entry = state.directory.by_id.get(user.covering)
    if isinstance(entry, User):
        return entry.extension
    if isinstance(entry, Group):
        return entry.number
    return None


def fallback_row(
    user: User,
    state: EffectiveState,
    now: datetime,
    dialler: Dialler,
    greeting: Callable[[str], str],
    context: str,
) -> tuple[str, list[tuple[str, ...]]] | None:
    """The row for one user (`ring|cover|mailbox|greeting|intl|premium`) and the texts its
    sounds are rendered from; None without an extension."""
    if user.extension is None:
        return None
    d = state.decide(Call(to=user.extension), now)
    if user.blocked:
        ring = ""
    elif d.action is Action.RING and d.ring:
        ring = "&".join(dialler.dial(t) for t in d.ring)
    else:
        ring = dialler.dial(user.extension)
    cover_number: str | None
    if d.action is Action.RING:
        cover_number = None  # ringing: the fallback's voicemail follows an unanswered Dial
    elif d.next == "voicemail":
        cover_number = None  # redirected straight to voicemail, as the service does
    else:
        cover_number = d.target or _static_cover(user, state)
    cover = dialler.dial(cover_number) if cover_number else ""
    texts: list[tuple[str, ...]] = []
    mailbox = greeting_sound = ""
    if user.mailbox and mailbox_enabled(user, state.policy):
        mailbox = f"{user.mailbox}@{context}"
        said = spoken(greeting(user.name))
        texts.append(said)
        greeting_sound = sound_name(said)
    policy = state.policy
    intl = "1" if policy.international_calls == "allowed" or user.international_unlocked else ""
    premium = "1" if policy.premium_rate == "allowed" or user.premium_unlocked else ""
    fields = (ring, cover, mailbox, greeting_sound, intl, premium)
    return "|".join(_clean(f) for f in fields), texts


def number_rows(state: EffectiveState, dialler: Dialler) -> dict[str, str]:
    """Rows for the other numbers the dialplan routes: groups (ring every member), the
    Medborgarservice number, and mobiles and shared phones by their national digits (a blocked
    one is never rung, ALV-21). These follow the directory, not the calendar."""
    rows: dict[str, str] = {}
    directory = state.directory
    blank = "|||||"
    for group in directory.groups:
        key = dialler.local(group.number)
        members = [directory.user(m) for m in group.members]
        ring = "&".join(
            dialler.dial(u.extension) for u in members if u and u.extension and not u.blocked
        )
        if key is not None:
            rows[key] = ring + blank
    if directory.switchboard and (key := dialler.local(directory.switchboard)) is not None:
        rows.setdefault(key, dialler.dial(directory.switchboard) + blank)
    for user in directory.users:
        if user.mobile and dialler.local(user.mobile) is None:
            digits = outbound_number(user.mobile, directory.plan.country_code, "national")
            rows[digits] = ("" if user.blocked else dialler.dial(user.mobile)) + blank
    for phone in directory.shared_phones:
        digits = outbound_number(phone.mobile, directory.plan.country_code, "national")
        rows[digits] = ("" if phone.blocked else dialler.dial(phone.mobile)) + blank
    return rows


def settings_rows(
    state: EffectiveState, now: datetime, settings: TelephonySettings, dialler: Dialler
) -> tuple[dict[str, str], list[tuple[str, ...]]]:
    """The `switchboard/config` rows and the texts of their sounds."""
    rows: dict[str, str] = {
        "agi": settings.fastagi_url,
        "dial_timeout": str(settings.dial_timeout_s),  # how long the fallback rings
    }
    for name, template, field in (
        ("internal", settings.internal_dial, "local"),
        ("external", settings.external_dial, "number"),
    ):
        head, tail = dialler.template_parts(template, field)
        rows[name] = f"{_clean(head)}|{_clean(tail)}"
    texts: list[tuple[str, ...]] = []
    for name, probe in (
        ("blocked_international", INTERNATIONAL_PROBE),
        ("blocked_premium", PREMIUM_PROBE),
    ):
        d = state.decide(Call(to=probe), now)
        if d.action is Action.REJECT and d.message:
            said = spoken(d.message, d.prompts)
            rows[name] = sound_name(said)
            texts.append(said)
    return rows, texts


class FallbackMirror:
    """Writes the fallback rows: all of them on (re)connect, one user's on each change."""

    def __init__(
        self,
        state: Callable[[], EffectiveState],
        clock: Callable[[], datetime],
        settings: TelephonySettings,
        dialler: Dialler,
        greeting: Callable[[str], str],
        context: str,
        *,
        renderer: SoundRenderer | None = None,
        width: int = 64,
        agi_url: Callable[[], str] | None = None,
    ) -> None:
        self.state = state
        self.clock = clock
        self.settings = settings
        self.dialler = dialler
        self.greeting = greeting
        self.context = context
        self.renderer = renderer
        self.width = width
        self.agi_url = agi_url  # the URL the FastAGI server really listens on
        self.last_writes = 0

    def desired(self) -> tuple[dict[str, str], dict[str, str], list[tuple[str, ...]]]:
        """(fallback rows by extension key, config rows, texts to render)."""
        state, now = self.state(), self.clock()
        rows: dict[str, str] = {}
        texts: list[tuple[str, ...]] = []
        for user in state.directory.users:
            key = extension_key(user, state.directory)
            row = fallback_row(user, state, now, self.dialler, self.greeting, self.context)
            if key is None or row is None:
                continue
            rows[key] = row[0]
            texts += row[1]
        for key, value in number_rows(state, self.dialler).items():
            rows.setdefault(key, value)
        config, more = settings_rows(state, now, self.settings, self.dialler)
        if self.agi_url is not None:
            config["agi"] = self.agi_url()
        return rows, config, texts + more

    async def full_resync(self, client: AmiClient) -> int:
        """Read both families, write the differences; return the number of writes."""
        rows, config, texts = self.desired()
        if self.renderer is not None:
            self.renderer.ensure_all(texts)
        jobs: list[tuple[str, Headers]] = []
        for family, want in ((FALLBACK_FAMILY, rows), (SETTINGS_FAMILY, config)):
            have = await _tree(client, family)
            for key, value in want.items():
                if have.get(key) != value:
                    jobs.append(("DBPut", [("Family", family), ("Key", key), ("Val", value)]))
            for key in have.keys() - want.keys():
                jobs.append(("DBDel", [("Family", family), ("Key", key)]))
        self.last_writes = await _bounded(client, jobs, self.width)
        log.info("fallback rows: %d extensions, %d writes", len(rows), self.last_writes)
        return self.last_writes

    async def apply(self, client: AmiClient, user_id: str) -> None:
        """Write one user's row now (after a change of their effective state)."""
        state = self.state()
        user = state.directory.user(user_id)
        if user is None:
            return
        key = extension_key(user, state.directory)
        row = fallback_row(user, state, self.clock(), self.dialler, self.greeting, self.context)
        if key is None or row is None:
            return
        if self.renderer is not None:
            self.renderer.ensure_all(row[1])
        await client.send_action(
            "DBPut", [("Family", FALLBACK_FAMILY), ("Key", key), ("Val", row[0])]
        )


async def _tree(client: AmiClient, family: str) -> dict[str, str]:
    resp = await client.send_action("DBGetTree", [("Family", family)], deadline=30)
    prefix = f"/{family}/"
    out: dict[str, str] = {}
    for ev in resp.events:
        key = ev.get("Key") or ""
        if ev.name == "DBGetTreeResponse" and key.startswith(prefix):
            out[key[len(prefix) :]] = ev.get("Val") or ""
    return out
