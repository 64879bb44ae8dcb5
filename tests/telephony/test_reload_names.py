"""Issue 21: a reload that brings a new name (a new person, a changed name) renders that name's
sound before the new configuration takes calls, so the first caller hears the name and not the
generic prompt; the old configuration serves meanwhile, for a bounded time."""

from __future__ import annotations

import array
import asyncio
import logging
import math
import shutil
from pathlib import Path

import pytest

from calendar_sync.clock import OffsetClock
from switchboard.app import create_app
from switchboard.config import load_config
from switchboard.service_runner import Server
from switchboard.telephony.sounds import LEAD_IN, PIECE_FOLDER, SoundRenderer, piece_name
from voicemail.telephone_audio import wav_file

from .test_run_lifecycle import PINNED, copy_org

NEW_NAME = "Annika Anderberg"


class ToneEngine:
    """Says every text as a tenth of a second of tone; `hold` keeps it from answering."""

    name = "test:tone"

    def __init__(self, hold: asyncio.Event | None = None) -> None:
        self.hold = hold
        self.texts: list[str] = []

    def available(self) -> bool:
        """Always."""
        return True

    async def synthesise(self, text: str) -> bytes:
        """A quiet 440 Hz tone at 8 kHz (after `hold` is set, when given)."""
        self.texts.append(text)
        if self.hold is not None:
            await self.hold.wait()
        pcm = array.array("h", (round(600 * math.sin(i * 0.345)) for i in range(800)))
        return wav_file(pcm.tobytes(), 8000)


async def test_prepare_pieces_renders_the_names_and_the_lead_in_first(tmp_path: Path) -> None:
    engine = ToneEngine()
    renderer = SoundRenderer(tmp_path, engine=engine)
    try:
        missing = await renderer.prepare_pieces(["Anna Andersson", "Bertil Berg", " "], 5.0)
        assert missing == 0
        assert renderer.has_piece("Anna Andersson") and renderer.has_piece("Bertil Berg")
        assert (tmp_path / f"{piece_name('Bertil Berg')}.wav").is_file()
        assert (tmp_path / "switchboard" / PIECE_FOLDER / f"{LEAD_IN}.wav").is_file()
        assert sorted(engine.texts) == ["Anna Andersson", "Bertil Berg"]  # the blank is skipped
        # rendered once: asked again, nothing is said again
        assert await renderer.prepare_pieces(["Anna Andersson"], 5.0) == 0
        assert len(engine.texts) == 2
    finally:
        await renderer.close()


async def test_prepare_pieces_waits_no_longer_than_it_is_told(tmp_path: Path) -> None:
    """A voice that does not answer: the wait ends at `within`, saying how many are missing."""
    hold = asyncio.Event()
    renderer = SoundRenderer(tmp_path, engine=ToneEngine(hold))
    try:
        assert await renderer.prepare_pieces(["Anna Andersson", "Bertil Berg"], 0.05) == 2
        hold.set()
        await renderer.idle(5.0)
        assert renderer.has_piece("Anna Andersson") and renderer.has_piece("Bertil Berg")
    finally:
        await renderer.close()


def pinned_server(folder: Path) -> Server:
    """The service for the folder on a free port, its clock at `PINNED`, no web pages."""
    return Server(
        folder,
        "127.0.0.1",
        0,
        app_factory=lambda c: create_app(c, web_layer=False, clock=OffsetClock(PINNED)),
    )


def rename_anna(folder: Path) -> None:
    directory = folder / "directory.yaml"
    text = directory.read_text(encoding="utf-8")
    assert "Anna Andersson" in text
    directory.write_text(text.replace("Anna Andersson", NEW_NAME), encoding="utf-8")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (README set-up)")
async def test_a_reload_with_a_changed_name_has_its_sound_before_the_swap(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The name Anna's callers hear is rendered by the time the reload has swapped; names that
    did not change are not rendered again by the reload."""
    folder = copy_org(tmp_path)
    server = pinned_server(folder)
    config = load_config(folder)
    sounds = Path(config.org.data_dir) / "sounds"
    if config.telephony.sounds_dir:
        sounds = Path(config.telephony.sounds_dir)
    piece = sounds / f"{piece_name(NEW_NAME)}.wav"
    await server.start(config)
    try:
        rename_anna(folder)
        with caplog.at_level(logging.INFO, logger="switchboard.service_runner"):
            assert await server.reload() is True
        assert piece.is_file(), sorted(p.name for p in piece.parent.glob("*"))
        lines = [r for r in caplog.records if r.getMessage() == "names rendered for the reload"]
        assert [(r.__dict__["names"], r.__dict__["not_rendered_yet"]) for r in lines] == [(1, 0)]
    finally:
        await server.stop()


async def test_a_reload_without_new_names_renders_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = copy_org(tmp_path)
    server = pinned_server(folder)
    await server.start(load_config(folder))
    try:
        with caplog.at_level(logging.INFO, logger="switchboard.service_runner"):
            assert await server.reload() is True
        assert not [r for r in caplog.records if "names rendered" in r.getMessage()]
    finally:
        await server.stop()
