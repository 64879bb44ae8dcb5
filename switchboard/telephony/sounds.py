"""The sound files the platform is told to play, rendered with `voicemail.greetings` (espeak-ng's
Swedish voice, 8 kHz mono 16-bit WAV) into `<sounds_dir>/switchboard/<key>.wav`.

`sound_name(text)` is what the AGI `Playback` and the AstDB row name (relative to Asterisk's
sounds directory, no extension); `SoundRenderer` makes sure the file exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

from voicemail.errors import GreetingError
from voicemail.greetings import cache_key, espeak_available, render

log = logging.getLogger(__name__)

SOUND_FOLDER = "switchboard"  # Asterisk plays `switchboard/<key>` from its sounds directory


def sound_name(text: str) -> str:
    """The sound (relative to the sounds directory, no extension) for a rendered message."""
    return f"{SOUND_FOLDER}/{cache_key(text)}"


class SoundRenderer:
    """Renders message texts to WAV files once each; renders run in the background, bounded."""

    def __init__(
        self, sounds_dir: str | Path, *, width: int = 2, binary: str = "espeak-ng"
    ) -> None:
        self.root = Path(sounds_dir)
        self.folder = self.root / SOUND_FOLDER
        self.binary = binary
        self.available = espeak_available(binary)
        self._sem = asyncio.Semaphore(width)
        self._known: set[str] = set()
        self._inflight: dict[str, asyncio.Task[Path | None]] = {}
        self._warned = False
        self.rendered = 0

    def path(self, text: str) -> Path:
        """Where the WAV for `text` is (or will be)."""
        return self.folder / f"{cache_key(text)}.wav"

    def ensure(self, text: str) -> asyncio.Task[Path | None] | None:
        """Start rendering `text` unless it is known to exist; the task gives the path or None."""
        key = cache_key(text)
        if key in self._known:
            return None
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._render(key, text))
            self._inflight[key] = task
        return task

    async def wait(self, text: str, within: float = 5.0) -> Path | None:
        """Render `text` if needed and wait for it, at most `within` s; None if not rendered."""
        task = self.ensure(text)
        if task is None:
            return self.path(text)
        try:
            return await asyncio.wait_for(asyncio.shield(task), within)
        except TimeoutError:
            return None

    def ensure_all(self, texts: Iterable[str]) -> int:
        """Start rendering every text not rendered yet; return how many were started."""
        return sum(1 for t in set(texts) if self.ensure(t) is not None)

    async def _render(self, key: str, text: str) -> Path | None:
        try:
            async with self._sem:
                path = await render(text, self.folder, binary=self.binary)
            self._known.add(key)
            self.rendered += 1
            return path
        except (GreetingError, OSError) as exc:
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
