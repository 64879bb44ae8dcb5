"""The sound files the platform is told to play: a message's spoken segments (`routing.spoken`)
rendered by `voicemail.speech` (espeak-ng's Swedish voice, sox-levelled 8 kHz mono 16-bit WAV
with a lead-in silence) into `<sounds_dir>/switchboard/<key>.wav`.

`sound_name(segments)` is what the AGI `Playback` and the AstDB row name (relative to Asterisk's
sounds directory, no extension); `SoundRenderer` makes sure the file exists. A municipality
replaces a segment by a recording without code: `<sounds_dir>/recordings/<segment>.wav`, named
by the segment's text without its closing punctuation (`åter klockan.wav`,
`elva och trettio.wav`, `Anna Andersson.wav`); any format sox reads. It is used from the next
start or reload on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from voicemail.errors import GreetingError
from voicemail.speech import EspeakNg, SpeechEngine, message_key, render_message

log = logging.getLogger(__name__)

SOUND_FOLDER = "switchboard"  # Asterisk plays `switchboard/<key>` from its sounds directory
RECORDINGS_FOLDER = "recordings"  # <sounds_dir>/recordings/<segment>.wav replaces a segment

Spoken = str | Sequence[str]  # one spoken text, or a message's spoken segments


def segments_of(spoken: Spoken) -> tuple[str, ...]:
    """A message's spoken segments (one text is one segment)."""
    return (spoken,) if isinstance(spoken, str) else tuple(spoken)


def sound_name(spoken: Spoken) -> str:
    """The sound (relative to the sounds directory, no extension) for a spoken message."""
    return f"{SOUND_FOLDER}/{message_key(segments_of(spoken))}"


class SoundRenderer:
    """Renders spoken messages to WAV files once each; renders run in the background, bounded.

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
        self.engine: SpeechEngine = engine or EspeakNg(binary=binary)
        self.recordings = Path(recordings) if recordings else self.root / RECORDINGS_FOLDER
        self.sox = sox
        self.available = self.engine.available()
        self._sem = asyncio.Semaphore(width)
        self._known: set[str] = set()
        self._inflight: dict[str, asyncio.Task[Path | None]] = {}
        self._warned = False
        self.rendered = 0
        self.failed = 0

    def path(self, spoken: Spoken) -> Path:
        """Where the WAV for a spoken message is (or will be)."""
        return self.folder / f"{message_key(segments_of(spoken))}.wav"

    def ensure(self, spoken: Spoken) -> asyncio.Task[Path | None] | None:
        """Start rendering unless the file is known to exist; the task gives the path or None."""
        segments = segments_of(spoken)
        key = message_key(segments)
        if key in self._known:
            return None
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._render(key, segments))
            self._inflight[key] = task
        return task

    async def wait(self, spoken: Spoken, within: float = 5.0) -> Path | None:
        """Render if needed and wait for it, at most `within` s; None if not rendered."""
        task = self.ensure(spoken)
        if task is None:
            return self.path(spoken)
        try:
            return await asyncio.wait_for(asyncio.shield(task), within)
        except TimeoutError:
            return None

    def ensure_all(self, messages: Iterable[Spoken]) -> int:
        """Start rendering every message not rendered yet; return how many were started."""
        unique = {segments_of(m) for m in messages}
        return sum(1 for m in unique if self.ensure(m) is not None)

    async def _render(self, key: str, segments: tuple[str, ...]) -> Path | None:
        try:
            async with self._sem:
                path = await render_message(
                    segments,
                    self.folder,
                    self.engine,
                    recordings=self.recordings,
                    sox=self.sox,
                )
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
