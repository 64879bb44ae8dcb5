"""Issue 21 (HV-02, ALV-06): every form a redirect's message takes while it lasts is rendered
when the mirror writes it — the return worded by the day ("åter tisdag den tjugofjärde
november" the evening before, "åter klockan femton" on the day, the year dropped after New
Year) — so no caller, after midnight either, waits for the voice to render a new form."""

from __future__ import annotations

import array
import asyncio
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from routing import spoken
from routing.absence import AbsenceReason, ManualRedirect
from routing.effective import EffectiveState, effective_state
from switchboard.config import load_config
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.mirror import wordings
from switchboard.telephony.service import TelephonyService
from switchboard.telephony.sim import SimulatedAsterisk
from switchboard.telephony.sounds import SoundRenderer, sound_name
from voicemail.telephone_audio import wav_file

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Europe/Stockholm")
ANNA = "anna.andersson"


def local(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> datetime:
    """A Stockholm wall-clock instant, in UTC."""
    return datetime(y, mo, d, h, mi, s, tzinfo=TZ).astimezone(UTC)


class CountingEngine:
    """Says every text as a short tone, and notes each text it was asked to say."""

    name = "test:counting"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def available(self) -> bool:
        """Always."""
        return True

    async def synthesise(self, text: str) -> bytes:
        """A tenth of a second of a quiet 440 Hz tone at 8 kHz."""
        self.texts.append(text)
        pcm = array.array("h", (round(600 * math.sin(i * 0.345)) for i in range(800)))
        return wav_file(pcm.tobytes(), 8000)


def anna_away(until: datetime, set_at: datetime) -> EffectiveState:
    """Anna in a meeting until `until` (set by hand at `set_at`)."""
    org = load_config(ROOT / "config" / "alvkarleby").org
    redirect = ManualRedirect(ANNA, AbsenceReason.MEETING, until, set_at=set_at)
    return effective_state(org, {}, {ANNA: redirect})


def test_hv02_the_forms_of_a_redirect_over_new_year() -> None:
    """HV-02: a redirect from New Year's Eve to the 4th of January is said with the year
    until midnight, without it after, and "åter klockan åtta" on the day; all three are
    among its forms on New Year's Eve, and no form of a day after it ends."""
    evening = local(2026, 12, 31, 17)
    state = anna_away(local(2027, 1, 4, 8), evening)
    view = state.view(ANNA, evening)
    assert view is not None and view.redirect is not None
    forms = wordings(view, evening, TZ)
    for moment in (evening, local(2027, 1, 1, 0), local(2027, 1, 2, 12), local(2027, 1, 4, 7)):
        assert spoken.absence_segments(view.user.name, view.redirect, moment, TZ) in forms
    assert len(forms) == 3
    returns = [form[3] for form in sorted(forms)]
    assert any("tvåtusen tjugosju" in r for r in returns)
    assert "åtta." in returns
    short = anna_away(local(2026, 11, 23, 23), local(2026, 11, 23, 17))
    view = short.view(ANNA, local(2026, 11, 23, 17))
    assert view is not None
    assert len(wordings(view, local(2026, 11, 23, 17), TZ)) == 1  # over before midnight


async def test_hv02_no_call_after_midnight_waits_for_a_render(tmp_path: Path) -> None:
    """HV-02 / ALV-06 (issue 21): a redirect set and mirrored in the evening, called just
    after midnight and on its return morning: each call plays a sound the mirror rendered
    the evening before; the voice is not asked for anything at call time."""
    evening = local(2026, 11, 23, 17)
    state = anna_away(local(2026, 11, 24, 15), evening)
    clock = [evening]
    now: Callable[[], datetime] = lambda: clock[0]  # noqa: E731
    engine = CountingEngine()
    renderer = SoundRenderer(tmp_path / "sounds", engine=engine, sox="no-sox-here")
    sim = SimulatedAsterisk(secret="t", sounds_dir=renderer.root)
    await sim.start()
    svc = TelephonyService(
        state.org, TelephonySettings(), lambda: state, now, renderer=renderer, simulated=sim
    )
    await svc.start()
    played: list[str] = []
    try:
        await asyncio.wait_for(svc.mirrored.wait(), 10)
        await renderer.idle(30)
        asked = len(engine.texts)
        for i, moment in enumerate((local(2026, 11, 24, 0, 0, 1), local(2026, 11, 24, 8))):
            clock[0] = moment
            call = await sim.place_call("02683012", f"07011122{i:02d}", answer=False)
            await call.wait(10)
            await svc.controller.wait_idle(10)
            message = call.steps[0].as_json()
            played.append(str(message["sound"]))
            assert await asyncio.to_thread(Path(str(message["audio"])).is_file)
        assert len(engine.texts) == asked, engine.texts[asked:]
    finally:
        await svc.stop()
        await sim.close()
        await renderer.close()
    redirect = state.view(ANNA, evening)
    assert redirect is not None and redirect.redirect is not None
    back_today = spoken.absence_segments(
        "Anna Andersson", redirect.redirect, local(2026, 11, 24, 8), TZ
    )
    assert back_today[2:] == ("åter klockan", "femton.")
    assert played == [sound_name(back_today)] * 2
