"""ALV-11: the mailbox owner's own greeting, uploaded on the web or recorded on the phone.

The greeting generated from the directory stays the default. An owner may upload a recording
(validated: a RIFF/WAVE file, at most `MAX_UPLOAD_BYTES`, 1–120 s of sound) or record one in
app_voicemail's options menu, which writes `unavail.<fmt>` in the mailbox folder; a recording
made on the phone is detected on the next look and becomes the owner's choice (they just made
it). Both are normalised like every other prompt (`voicemail.speech`: 8 kHz mono 16-bit,
trimmed and levelled with sox, or levelled in Python without it) and kept content-addressed in
`<register folder>/greetings/<sha256>.wav`. The greeting a caller hears is the one the owner
chose: `sound_for` names the copy placed in the telephone platform's sounds folder, or None
for the generated greeting.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from routing.models import Directory, NumberingPlan
from voicemail import policy
from voicemail.errors import VoicemailError
from voicemail.models import VoicemailSettings
from voicemail.phonewatch import db_of
from voicemail.register import RegisterStore, from_db_time, to_db_time
from voicemail.service import Register
from voicemail.spoolfs import SpoolFs
from voicemail.telephone_audio import SpeechError, python_pcm, telephone_pcm, wav_file

log = logging.getLogger("voicemail.greeting")

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MIN_SECONDS, MAX_SECONDS = 1.0, 120.0
RATE = 8000
CHOICES = ("generated", "uploaded", "phone")
PHONE_NAMES = ("unavail",)  # app_voicemail options menu → 1: the "unavailable" greeting
PHONE_FORMATS = ("wav", "WAV", "gsm", "ulaw", "alaw", "sln")
SOUND_PREFIX = "switchboard/owner-"  # Asterisk plays it from its sounds directory


class GreetingRefused(VoicemailError, ValueError):
    """An uploaded recording that cannot be a greeting, with what to do instead (Swedish)."""

    error_id = "greeting-refused"

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(frozen=True, slots=True)
class GreetingState:
    """What greeting a mailbox owner has."""

    user_id: str
    choice: str  # generated | uploaded | phone
    uploaded_sha256: str | None = None
    phone_sha256: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def chosen_sha256(self) -> str | None:
        """The recording played, or None for the generated greeting."""
        if self.choice == "uploaded":
            return self.uploaded_sha256
        if self.choice == "phone":
            return self.phone_sha256
        return None


async def normalise(data: bytes, fmt: str = "wav", sox: str = "sox") -> bytes:
    """A recording (an upload, or the phone's in format `fmt`) as an 8 kHz mono 16-bit WAV, or
    GreetingRefused with the reason."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise GreetingRefused(
            f"Filen är större än {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. Spela in en kortare "
            "hälsning (högst två minuter)."
        )
    if fmt.lower() == "wav" and (data[:4] != b"RIFF" or data[8:12] != b"WAVE"):
        raise GreetingRefused(
            "Filen är inte en WAV-fil. Spara inspelningen som WAV och försök igen."
        )
    try:
        if shutil.which(sox):
            with tempfile.TemporaryDirectory(prefix="switchboard-greeting-") as tmp:
                source = Path(tmp) / f"recording.{fmt.lower()}"
                await asyncio.to_thread(source.write_bytes, data)
                pcm = await telephone_pcm(source, sox)
        elif fmt.lower() == "wav":
            pcm = await asyncio.to_thread(python_pcm, data)
        else:
            raise GreetingRefused(f"{fmt}-ljud kan inte läsas utan sox. Kontakta IT-supporten.")
    except SpeechError as exc:
        if "silent" in str(exc) or "no speech" in str(exc):
            raise GreetingRefused(
                "Inspelningen är tyst. Spela in igen och tala nära mikrofonen."
            ) from None
        raise GreetingRefused(
            f"Inspelningen kunde inte läsas ({exc}). Spela in den igen, i mono, och försök igen."
        ) from None
    seconds = len(pcm) / (2 * RATE)
    if seconds < MIN_SECONDS:
        raise GreetingRefused("Inspelningen är tyst eller kortare än en sekund. Spela in igen.")
    if seconds > MAX_SECONDS:
        raise GreetingRefused("Hälsningen är längre än två minuter. Spela in en kortare.")
    return wav_file(pcm, RATE)


_GET = (
    "SELECT user_id, choice, uploaded_sha256, phone_sha256, updated_at, updated_by"
    " FROM owner_greetings"
)
_UPSERT = (
    "INSERT INTO owner_greetings (user_id, choice, uploaded_sha256, phone_sha256, updated_at,"
    " updated_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
    " choice = excluded.choice, uploaded_sha256 = excluded.uploaded_sha256,"
    " phone_sha256 = excluded.phone_sha256, updated_at = excluded.updated_at,"
    " updated_by = excluded.updated_by"
)


class OwnerGreetings:
    """The owners' greetings of one register (see the module text)."""

    def __init__(
        self, store: RegisterStore, folder: str | Path, sounds_root: str | Path | None = None
    ) -> None:
        self.store = store
        self.folder = Path(folder)  # <register folder>/greetings
        self.sounds_root = Path(sounds_root) if sounds_root else None
        self._sounds: dict[str, str] = {}  # user id -> sound name, for calls (sync)

    def path_for(self, sha256: str) -> Path:
        """Where a normalised recording is kept."""
        return self.folder / f"{sha256}.wav"

    async def state(self, user_id: str) -> GreetingState:
        """The owner's greeting (generated when nothing was ever chosen)."""
        row = await db_of(self.store).fetchone(_GET + " WHERE user_id = ?", (user_id,))
        return _state(row) if row else GreetingState(user_id, "generated")

    async def states(self) -> dict[str, GreetingState]:
        """Every owner who ever chose, by user id."""
        rows = await db_of(self.store).fetch(_GET + " ORDER BY user_id")
        return {str(r[0]): _state(r) for r in rows}

    async def _put(self, state: GreetingState) -> GreetingState:
        async with db_of(self.store).transaction() as tx:
            await tx.execute(
                _UPSERT,
                (
                    state.user_id,
                    state.choice,
                    state.uploaded_sha256,
                    state.phone_sha256,
                    to_db_time(state.updated_at) if state.updated_at else None,
                    state.updated_by,
                ),
            )
        await self._publish(state)
        log.info("greeting of %s: %s (by %s)", state.user_id, state.choice, state.updated_by)
        return state

    async def _keep(self, wav: bytes) -> str:
        digest = hashlib.sha256(wav).hexdigest()
        target = self.path_for(digest)
        if not await asyncio.to_thread(target.exists):
            await asyncio.to_thread(_write_atomically, target, wav)
        return digest

    async def upload(self, user_id: str, data: bytes, actor: str, now: datetime) -> GreetingState:
        """ALV-11: a recording uploaded on the web becomes the owner's greeting."""
        wav = await normalise(data)
        digest = await self._keep(wav)
        old = await self.state(user_id)
        new = GreetingState(user_id, "uploaded", digest, old.phone_sha256, now, actor)
        return await self._put(new)

    async def choose(self, user_id: str, choice: str, actor: str, now: datetime) -> GreetingState:
        """The owner picks which greeting callers hear; a recording must exist."""
        if choice not in CHOICES:
            raise GreetingRefused(f"Okänt val {choice!r}: välj generated, uploaded eller phone.")
        old = await self.state(user_id)
        if choice == "uploaded" and old.uploaded_sha256 is None:
            raise GreetingRefused("Ladda först upp en inspelning.")
        if choice == "phone" and old.phone_sha256 is None:
            raise GreetingRefused(
                "Ingen hälsning är inspelad i telefonen. Ring röstbrevlådan, välj 0 "
                "(inställningar) och 1 för att spela in den."
            )
        new = GreetingState(user_id, choice, old.uploaded_sha256, old.phone_sha256, now, actor)
        return await self._put(new)

    async def scan_phone(
        self,
        spool: str | Path,
        context: str,
        directory: Directory,
        plan: NumberingPlan,
        settings: VoicemailSettings,
        now: datetime,
    ) -> list[str]:
        """Find greetings recorded on the phone (`unavail.*` in the mailbox folder); a new or
        changed one becomes the owner's choice. The users whose greeting changed."""
        fs = SpoolFs(spool)
        changed: list[str] = []
        for user in directory.users:
            box = policy.mailbox_id(user, plan)
            if box is None or not policy.has_mailbox(user, settings):
                continue
            found = await asyncio.to_thread(_phone_recording, fs, Path(spool) / context / box)
            if found is None:
                continue
            data, fmt = found
            old = await self.state(user.id)
            raw_digest = hashlib.sha256(data).hexdigest()
            if old.phone_sha256 is not None and await self._same_source(old, raw_digest):
                continue
            try:
                wav = await normalise(data, fmt)
            except GreetingRefused as exc:
                log.warning("greeting recorded on the phone by %s not used: %s", user.id, exc)
                continue
            digest = await self._keep(wav)
            await self._remember_source(digest, raw_digest)
            await self._put(
                GreetingState(user.id, "phone", old.uploaded_sha256, digest, now, "phone:" + box)
            )
            changed.append(user.id)
        return changed

    async def _same_source(self, state: GreetingState, raw_digest: str) -> bool:
        marker = self.folder / f"{state.phone_sha256}.source"
        try:
            return (await asyncio.to_thread(marker.read_text)).strip() == raw_digest
        except OSError:
            return False

    async def _remember_source(self, digest: str, raw_digest: str) -> None:
        marker = self.folder / f"{digest}.source"
        await asyncio.to_thread(_write_atomically, marker, raw_digest.encode())

    async def refresh(self, directory: Directory) -> Mapping[str, str]:
        """Place every chosen recording in the sounds folder; the sound names by user id."""
        states = await self.states()
        for user in directory.users:
            state = states.get(user.id)
            if state is not None:
                await self._publish(state)
            else:
                self._sounds.pop(user.id, None)
        return dict(self._sounds)

    async def _publish(self, state: GreetingState) -> None:
        sha = state.chosen_sha256
        if sha is None or self.sounds_root is None:
            self._sounds.pop(state.user_id, None)
            return
        name = f"{SOUND_PREFIX}{sha[:32]}"
        target = self.sounds_root / f"{name}.wav"
        if not await asyncio.to_thread(target.exists):
            wav = await asyncio.to_thread(self.path_for(sha).read_bytes)
            await asyncio.to_thread(_write_atomically, target, wav)
        self._sounds[state.user_id] = name

    def sound_for(self, user_id: str) -> str | None:
        """The sound a caller hears for this owner: their chosen recording, or None (the
        greeting generated from the directory)."""
        return self._sounds.get(user_id)

    async def still_generated(self, directory: Directory, settings: VoicemailSettings) -> list[str]:
        """ALV-11 for the administrator: users with a mailbox whose greeting is generated."""
        states = await self.states()
        return [
            u.id
            for u in directory.users
            if policy.has_mailbox(u, settings)
            and states.get(u.id, GreetingState(u.id, "generated")).chosen_sha256 is None
        ]


def _state(r: Sequence[Any]) -> GreetingState:
    return GreetingState(str(r[0]), str(r[1]), r[2], r[3], from_db_time(r[4]), r[5])


def _phone_recording(fs: SpoolFs, mailbox_dir: Path) -> tuple[bytes, str] | None:
    """The bytes and format of `unavail.<fmt>` in a mailbox folder (no link followed)."""
    for name in PHONE_NAMES:
        for fmt in PHONE_FORMATS:
            try:
                return fs.read(mailbox_dir / f"{name}.{fmt}", MAX_UPLOAD_BYTES), fmt
            except (OSError, VoicemailError, ValueError):
                continue
    return None


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(target)


_BY_REGISTER: weakref.WeakKeyDictionary[Register, OwnerGreetings] = weakref.WeakKeyDictionary()


def greetings_of(register: Register, sounds_root: str | Path | None = None) -> OwnerGreetings:
    """The one `OwnerGreetings` of an open register (the web and the calls share it); the
    first caller that knows the telephone platform's sounds folder sets it."""
    found = _BY_REGISTER.get(register)
    if found is None:
        found = OwnerGreetings(register.store, register.audio.root.parent / "greetings")
        _BY_REGISTER[register] = found
    if sounds_root is not None and found.sounds_root is None:
        found.sounds_root = Path(sounds_root)
    return found


async def watch_greetings(
    register: Register,
    greetings: OwnerGreetings,
    spool: str | Path,
    stop: asyncio.Event,
    clock: Callable[[], datetime],
    interval_s: float = 30.0,
) -> None:
    """Until `stop`: pick up greetings recorded on the phone, and choices made on another node
    (PostgreSQL), every `interval_s`; never raises."""
    while not stop.is_set():
        org = register.org
        try:
            await greetings.scan_phone(
                spool,
                register.settings.context or org.voicemail_context,
                org.directory,
                org.plan,
                register.settings,
                clock(),
            )
            await greetings.refresh(org.directory)
        except Exception as exc:
            log.error("owners' greetings not refreshed: %s", exc, exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
