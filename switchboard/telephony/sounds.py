"""The sound files the platform is told to play: a message's spoken segments (`routing.spoken`)
rendered by `voicemail.speech` (espeak-ng's Swedish voice, sox-levelled 8 kHz mono 16-bit WAV
with a lead-in silence) into `<sounds_dir>/switchboard/<key>.wav`.

`sound_name(segments)` is what the AGI `Playback` and the AstDB row name (relative to Asterisk's
sounds directory, no extension); `SoundRenderer` makes sure the file exists. A municipality
replaces a segment by a recording without code: `<sounds_dir>/recordings/<segment>.wav`, named
by the segment's text without its closing punctuation (`åter klockan.wav`,
`elva och trettio.wav`, `Anna Andersson.wav`); any format sox reads. It is used from the next
start or reload on.

A call plays what exists (issue 21): the message's own file when it is rendered; otherwise its
segments, each rendered once as a piece (`<sounds_dir>/switchboard/pieces/<key>.wav`) and joined
in one `Playback lead-in&a&b&c` — so a new message costs only the pieces not rendered yet, and
those follow the ones that exist. `SoundRenderer.playable` says what a call can play at once,
`SoundRenderer.rest` what follows when it is rendered; renders a call waits for go first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routing.wording import UNREACHABLE_MESSAGE
from voicemail.errors import GreetingError
from voicemail.speech import (
    EspeakNg,
    SpeechEngine,
    message_key,
    piece_key,
    render_lead_in,
    render_message,
    render_piece,
)

log = logging.getLogger(__name__)

SOUND_FOLDER = "switchboard"  # Asterisk plays `switchboard/<key>` from its sounds directory
PIECE_FOLDER = "pieces"  # `switchboard/pieces/<key>`: one segment, played joined with others
RECORDINGS_FOLDER = "recordings"  # <sounds_dir>/recordings/<segment>.wav replaces a segment
LEAD_IN = "lead-in"  # `switchboard/pieces/lead-in`: the silence before joined pieces
LEAD_IN_NAME = f"{SOUND_FOLDER}/{PIECE_FOLDER}/{LEAD_IN}"

# What a caller hears when nothing of the message is rendered yet: rendered at every resync
# (also what the dialplan plays for a person who cannot be reached).
GENERIC_PROMPT = (UNREACHABLE_MESSAGE,)

# Render priorities: what a caller is waiting for first, then the message a call started,
# then everything rendered ahead (the mirror, the fallback rows).
NOW, CALL, AHEAD = 0, 1, 2

Spoken = str | Sequence[str]  # one spoken text, or a message's spoken segments


def segments_of(spoken: Spoken) -> tuple[str, ...]:
    """A message's spoken segments (one text is one segment)."""
    return (spoken,) if isinstance(spoken, str) else tuple(spoken)


def sound_name(spoken: Spoken) -> str:
    """The sound (relative to the sounds directory, no extension) for a spoken message."""
    return f"{SOUND_FOLDER}/{message_key(segments_of(spoken))}"


def piece_name(segment: str) -> str:
    """The sound of one segment rendered as a piece (joined in `Playback a&b&c`)."""
    return f"{SOUND_FOLDER}/{PIECE_FOLDER}/{piece_key(segment)}"


def joined(names: Iterable[str]) -> str:
    """Sounds played one after the other by one `Playback` (Asterisk's `a&b&c`)."""
    return "&".join(names)


def said_pieces(spoken: Spoken) -> tuple[str, ...]:
    """The segments of a message that are rendered as pieces: those that say something, of a
    message of more than one segment (a one-segment message is its own piece)."""
    segments = segments_of(spoken)
    return tuple(s for s in segments if s.strip()) if len(segments) > 1 else ()


@dataclass(frozen=True, slots=True)
class Playable:
    """What a call can play at once (`&`-joined sounds, None: nothing yet) and the segments that
    follow it once they are rendered."""

    now: str | None
    later: tuple[str, ...] = ()


class _Slots:
    """`width` renders at a time; a waiting render goes in by priority (NOW first), then in
    the order it came. A render asked for again at a higher priority moves up."""

    def __init__(self, width: int) -> None:
        self.free = width
        self.queues: tuple[deque[str], ...] = (deque(), deque(), deque())
        self.waiting: dict[str, tuple[int, asyncio.Future[None]]] = {}
        self.sooner: dict[str, int] = {}  # asked for again before it came to wait
        self.running: set[str] = set()

    @contextlib.asynccontextmanager
    async def slot(self, key: str, level: int) -> AsyncIterator[None]:
        """Hold one slot while the body runs."""
        level = min(level, self.sooner.pop(key, level))
        if self.free > 0 and not self.waiting:
            self.free -= 1
        else:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiting[key] = (level, fut)
            self.queues[level].append(key)
            try:
                await fut
            except asyncio.CancelledError:
                if self.waiting.pop(key, None) is None and fut.done() and not fut.cancelled():
                    self.release()  # let in just as it was cancelled: pass the slot on
                raise
        self.running.add(key)
        try:
            yield
        finally:
            self.running.discard(key)
            self.release()

    def hurry(self, key: str, level: int) -> None:
        """A render not running yet is wanted sooner."""
        entry = self.waiting.get(key)
        if entry is None:
            if key not in self.running:
                self.sooner[key] = min(level, self.sooner.get(key, level))
        elif level < entry[0]:
            self.waiting[key] = (level, entry[1])
            self.queues[level].append(key)

    def release(self) -> None:
        """A slot is free: the first waiting render of the highest priority goes in."""
        for level, queue in enumerate(self.queues):
            while queue:
                key = queue.popleft()
                entry = self.waiting.get(key)
                if entry is None or entry[0] != level:
                    continue  # gone, or moved up (its entry is in a higher queue)
                del self.waiting[key]
                if entry[1].done():
                    continue  # cancelled while it waited (a shutdown)
                entry[1].set_result(None)
                return
        self.free += 1


class SoundRenderer:
    """Renders spoken messages (and their segments, as pieces) to WAV files once each; renders
    run in the background, bounded, what a call waits for first.

    A render that fails is logged (once) and gives None: the call goes on without the sound.
    """

    def __init__(
        self,
        sounds_dir: str | Path,
        *,
        width: int = 2,
        binary: str = "espeak-ng",
        engine: SpeechEngine | None = None,
        recordings: str | Path | None = None,
        sox: str = "sox",
    ) -> None:
        self.root = Path(sounds_dir)
        self.folder = self.root / SOUND_FOLDER
        self.pieces = self.folder / PIECE_FOLDER
        self.engine: SpeechEngine = engine or EspeakNg(binary=binary)
        self.recordings = Path(recordings) if recordings else self.root / RECORDINGS_FOLDER
        self.sox = sox
        self.available = self.engine.available()
        self._slots = _Slots(width)
        self._known: set[str] = set()
        self._inflight: dict[str, asyncio.Task[Path | None]] = {}
        self._warned = False
        self.rendered = 0
        self.failed = 0

    def path(self, spoken: Spoken) -> Path:
        """Where the WAV for a spoken message is (or will be)."""
        return self.folder / f"{message_key(segments_of(spoken))}.wav"

    def knows(self, spoken: Spoken) -> bool:
        """The message's own file is rendered."""
        return message_key(segments_of(spoken)) in self._known

    def has_piece(self, segment: str) -> bool:
        """The segment's piece is rendered."""
        return f"{PIECE_FOLDER}/{piece_key(segment)}" in self._known

    def ensure(self, spoken: Spoken, *, level: int = AHEAD) -> asyncio.Task[Path | None] | None:
        """Start rendering unless the file is known to exist; the task gives the path or None."""
        segments = segments_of(spoken)
        key = message_key(segments)
        make = lambda: render_message(  # noqa: E731
            segments, self.folder, self.engine, recordings=self.recordings, sox=self.sox
        )
        return self._start(key, level, make)

    def ensure_pieces(self, segments: Iterable[str], *, level: int = AHEAD) -> int:
        """Start rendering each segment as a piece (and the lead-in) unless rendered; return how
        many were started. Which segments are pieces: `said_pieces`."""
        started = 0
        for segment in segments:
            if not segment.strip():
                continue
            make = lambda s=segment: render_piece(  # noqa: E731
                s, self.pieces, self.engine, recordings=self.recordings, sox=self.sox
            )
            started += self._start(f"{PIECE_FOLDER}/{piece_key(segment)}", level, make) is not None
            self._start(f"{PIECE_FOLDER}/{LEAD_IN}", NOW, self._lead_in)
        return started

    async def prepare_pieces(self, segments: Iterable[str], within: float) -> int:
        """Render these segments as pieces (and the lead-in) first, and wait for them at most
        `within` s; return how many are not rendered by then (they go on in the background)."""
        wanted = [s for s in dict.fromkeys(segments) if s.strip()]
        self.ensure_pieces(wanted, level=NOW)
        keys = [f"{PIECE_FOLDER}/{piece_key(s)}" for s in wanted] + [f"{PIECE_FOLDER}/{LEAD_IN}"]
        tasks = {t for t in (self._inflight.get(k) for k in keys) if t}
        if tasks:
            await asyncio.wait(tasks, timeout=within)
        return sum(1 for k in keys if k not in self._known)

    def _lead_in(self) -> Coroutine[Any, Any, Path]:
        return render_lead_in(self.pieces, LEAD_IN)

    def _piece_task(self, segment: str) -> asyncio.Task[Path | None] | None:
        return self._inflight.get(f"{PIECE_FOLDER}/{piece_key(segment)}")

    def _start(
        self, key: str, level: int, make: Callable[[], Coroutine[Any, Any, Path]]
    ) -> asyncio.Task[Path | None] | None:
        if key in self._known:
            return None
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._render(key, level, make))
            self._inflight[key] = task
        else:
            self._slots.hurry(key, level)
        return task

    async def wait(self, spoken: Spoken, within: float = 5.0) -> Path | None:
        """Render if needed and wait for it, at most `within` s; None if not rendered."""
        task = self.ensure(spoken, level=CALL)
        if task is None:
            return self.path(spoken)
        try:
            return await asyncio.wait_for(asyncio.shield(task), within)
        except TimeoutError:
            return None

    def ensure_all(self, messages: Iterable[Spoken], *, pieces: bool = False) -> int:
        """Start rendering every message not rendered yet (and its pieces, when asked); return
        how many messages were started."""
        unique = {segments_of(m) for m in messages}
        started = sum(1 for m in unique if self.ensure(m) is not None)
        if pieces:
            self.ensure_pieces(dict.fromkeys(s for m in unique for s in said_pieces(m)))
        return started

    def _head(self, segments: tuple[str, ...]) -> tuple[str, ...]:
        """The longest start of the message whose pieces are all rendered."""
        if f"{PIECE_FOLDER}/{LEAD_IN}" not in self._known:
            return ()
        head: list[str] = []
        for segment in segments:
            if segment.strip() and not self.has_piece(segment):
                break
            head.append(segment)
        return tuple(head)

    async def playable(
        self, spoken: Spoken, *, within: float, fallback: Spoken | None = None
    ) -> Playable:
        """What a call can play at once: the message's file if it is rendered; else the pieces
        rendered from its start on (the rest follows, `rest`); else, after waiting at most
        `within` s for the file or its first piece, the `fallback` message if it is rendered
        (the whole message follows); else nothing yet. Never waits longer than `within`."""
        segments = segments_of(spoken)
        whole = self.ensure(segments, level=CALL)
        if whole is None:
            return Playable(sound_name(segments))
        split = len(segments) > 1
        if split:
            self.ensure_pieces(said_pieces(segments), level=NOW)
        head = self._head(segments) if split else ()
        if not any(s.strip() for s in head) and within > 0:
            first = next((s for s in segments if s.strip()), "")
            tasks = {t for t in (whole, self._piece_task(first) if split else None) if t}
            await asyncio.wait(tasks, timeout=within, return_when=asyncio.FIRST_COMPLETED)
            if self.knows(segments):
                return Playable(sound_name(segments))
            head = self._head(segments) if split else ()
        if any(s.strip() for s in head):
            names = [LEAD_IN_NAME, *(piece_name(s) for s in head if s.strip())]
            later = segments[len(head) :]
            return Playable(joined(names), later if any(s.strip() for s in later) else ())
        if fallback is not None and self.knows(fallback):
            return Playable(sound_name(fallback), segments)
        return Playable(None, segments)

    async def rest(
        self, spoken: Spoken, part: Sequence[str], within: float, *, first: bool = False
    ) -> str | None:
        """The sound(s) of `part` (what is not played yet of the message) once rendered, at most
        `within` s from now: its pieces joined (after the lead-in when they are the `first`
        sound the caller hears) — or, for the whole message, its own file if that is ready
        first. None if not rendered in time."""
        segments, part = segments_of(spoken), tuple(part)
        whole = self.ensure(segments, level=CALL) if part == segments else None
        wanted = tuple(s for s in part if s.strip()) if len(segments) > 1 else ()
        self.ensure_pieces(wanted, level=NOW)
        lead_in = f"{PIECE_FOLDER}/{LEAD_IN}"
        keys = [f"{PIECE_FOLDER}/{piece_key(s)}" for s in wanted] + ([lead_in] if first else [])
        try:
            async with asyncio.timeout(within):
                while True:
                    if part == segments and self.knows(segments):
                        return sound_name(segments)
                    if wanted and all(k in self._known for k in keys):
                        names = [piece_name(s) for s in wanted]
                        return joined([LEAD_IN_NAME, *names] if first else names)
                    tasks = {t for t in (self._inflight.get(k) for k in keys) if t}
                    if whole is not None and not whole.done():
                        tasks.add(whole)
                    if not tasks:
                        return None  # a render failed: it is not there
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            return None

    async def _render(
        self, key: str, level: int, make: Callable[[], Coroutine[Any, Any, Path]]
    ) -> Path | None:
        try:
            async with self._slots.slot(key, level):
                path = await make()
            self._known.add(key)
            self.rendered += 1
            return path
        except (GreetingError, OSError) as exc:
            self.failed += 1
            if not self._warned:
                log.error("messages are not rendered to audio: %s", exc)
                self._warned = True
            return None
        finally:
            self._inflight.pop(key, None)

    async def idle(self, within: float = 30.0) -> None:
        """Wait until no render is under way, at most `within` s."""
        async with asyncio.timeout(within):
            while self._inflight:
                await asyncio.gather(*list(self._inflight.values()))

    async def close(self) -> None:
        """Cancel renders under way."""
        tasks = list(self._inflight.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
