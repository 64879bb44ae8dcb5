"""HV-04 on the telephone platform: the AstDB row and CustomPresence never say "sick"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from routing.effective import effective_state
from switchboard.config import load_config
from switchboard.state import presence_at
from switchboard.telephony.mirror import row_for

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)  # David Dahl's calendar says "Sjuk"


def test_hv04_the_pbx_mirror_shows_sickness_as_a_neutral_absence() -> None:
    """HV-04: colleagues' phones read the presence and AstDB rows: "away", never "sick"."""
    config = load_config(ROOT / "config" / "alvkarleby")
    st = effective_state(config.org, presence_at(config, NOW).users, {}, None)
    view = st.view("david.dahl", NOW)
    assert view is not None and view.redirect is not None
    assert view.redirect.reason.value == "sick"  # what the calendar says
    row = row_for(view, st.directory, NOW, config.org.timezone)
    assert row is not None and row.redirect is not None
    assert row.redirect.split("|")[0] == "away" and row.presence.startswith("away,away,")
    assert "sick" not in row.redirect + row.presence
