"""Determinism, coverage warnings (HAL-05), compare mode, the spool writer and the HTML page."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from routing.absence import PresenceBook
from routing.models import Hours
from simulation.compare import apply_variant, comparison, run_variants
from simulation.engine import coverage_gaps, simulate
from simulation.models import Variant
from simulation.page import render_html
from simulation.report import build_report, to_json
from simulation.spool import SpoolWriter, VoicemailMessage, message_text
from tests.simulation.helpers import DAY, busy, local, org, scenario
from voicemail.spool import scan
from voicemail.spool_format import parse_message

ARRIVALS = {
    "extension": {8: 40.0, 9: 60.0, 10: 55.0, 13: 30.0},
    "mobile": {9: 20.0},
    "group": {9: 10.0, 13: 6.0},
    "shared_phone": {10: 4.0},
    "switchboard": {9: 30.0},
}
PRESENCE = busy(("anna", local(9), local(11)), ("david", local(13), local(15)))


def report_json(seed: int) -> str:
    """The JSON report of a small drawn day."""
    s = scenario(arrivals=ARRIVALS, seed=seed, answer_probability=0.7)
    return to_json(build_report(simulate(s, org(), lambda _d: PRESENCE), s))


def test_same_seed_gives_a_byte_identical_json_report() -> None:
    """Same seed → the very same bytes; another seed → another day."""
    assert report_json(7) == report_json(7)
    assert report_json(7) != report_json(8)


def test_hal05_coverage_warning_for_an_uncovered_telephone_hour() -> None:
    """Both Bygglov members busy 9:00–10:00 inside its Tuesday hours 9–11: one 60-minute warning."""
    presence = busy(("anna", local(8, 30), local(10)), ("bertil", local(9), local(10, 15)))
    warnings = [w for w in coverage_gaps(org(), presence, DAY) if w.group == "bygglov"]
    assert [(w.start, w.end, w.minutes) for w in warnings] == [(local(9), local(10), 60)]


def test_hal05_on_call_number_uncovered_all_day_is_warned() -> None:
    """Socialjouren (jour) with both members away all day: warned for its whole hours."""
    presence = busy(("david", local(7), local(17)), ("eva", local(7), local(17)))
    warnings = coverage_gaps(org(), presence, DAY)
    jour = [w for w in warnings if w.group == "socialjour"]
    assert [(w.start, w.end, w.on_call) for w in jour] == [(local(8), local(16, 30), True)]
    s = scenario(arrivals={})
    r = build_report(simulate(s, org(), lambda _d: presence), s)
    assert r["coverage_warnings"][0]["group"] == "socialjour"
    assert r["coverage_warnings"][0]["minutes"] == 510


def test_hal05_no_warning_when_someone_covers() -> None:
    """One member available the whole time: no warning, and none outside the hours."""
    presence = busy(("anna", local(9), local(11)), ("bertil", local(11), local(12)))
    assert coverage_gaps(org(), presence, DAY) == []
    assert coverage_gaps(org(), PresenceBook(), DAY) == []


def test_variant_changes_mailboxes_mobiles_and_telephone_hours() -> None:
    """apply_variant switches voicemail and mobiles for everyone and replaces a group's hours."""
    hours = Hours(frozenset({1}), time(13, 0), time(15, 0))
    changed = apply_variant(
        org(),
        Variant(
            "v", voicemail=False, mobile_follows_calendar=True, telephone_hours={"bygglov": hours}
        ),
    )
    assert not any(u.voicemail for u in changed.directory.users)
    assert not changed.policy.voicemail_extension_users
    assert all(u.mobile_follows_calendar for u in changed.directory.users)
    bygglov = changed.directory.group("bygglov")
    assert bygglov is not None and bygglov.telephone_hours == hours


def test_compare_mode_shows_the_difference_in_answered_share() -> None:
    """Voicemail off lowers the answered share against the same callers; voicemail on raises it."""
    s = scenario(arrivals=ARRIVALS, answer_probability=0.6)
    base = build_report(simulate(s, org(), lambda _d: PRESENCE), s)
    runs = run_variants(
        s,
        org(),
        lambda _d: PRESENCE,
        (Variant("off", voicemail=False), Variant("on", voicemail=True)),
    )
    rows = comparison(base, runs)
    assert [r["calls"] for r in rows] == [base["calls"], base["calls"]]
    off, on = rows
    assert off["answered_share_delta"] < 0 < on["answered_share_delta"]
    assert off["voicemails_created"] == 0
    assert off["answered_share"] == round(base["answered_share"] + off["answered_share_delta"], 4)


def test_spool_message_is_what_app_voicemail_writes(tmp_path: Path) -> None:
    """The written msgNNNN.txt parses as an app_voicemail message and has audio beside it."""
    writer = SpoolWriter(tmp_path, "default")
    m = VoicemailMessage("83012", 1795449850, "0701234567", "02683012", 9, 1)
    txt = writer.write(m)
    writer.write(VoicemailMessage("83012", 1795449900, "0701234568", "02683012", 3, 2))
    assert txt == tmp_path / "default/83012/INBOX/msg0000.txt"
    parsed = parse_message(txt.read_bytes())
    assert (parsed.origtime, parsed.duration_s, parsed.callerid.number) == (
        1795449850,
        9,
        "0701234567",
    )
    assert parsed.msg_id == "1795449850-00000001"
    assert "origdate=Mon Nov 23 04:04:10 PM UTC 2026\n" in message_text(m)
    slots = scan(tmp_path, "default")
    assert [s.name for s in slots] == ["msg0000", "msg0001"]
    assert all(s.audio is not None and s.audio.size > 44 for s in slots)


def test_simulation_writes_voicemail_into_the_spool(tmp_path: Path) -> None:
    """Every voicemail created is one message in the owner's INBOX."""
    s = scenario(arrivals=ARRIVALS, answer_probability=0.3, voicemail_message_s=2.0)
    writer = SpoolWriter(tmp_path)
    result = simulate(s, org(), lambda _d: PRESENCE, writer)
    r = build_report(result, s)
    assert r["voicemails_created"] > 0
    assert r["voicemails_written"] == r["voicemails_created"] == len(scan(tmp_path, "default"))


def test_html_report_is_self_contained() -> None:
    """One page with the headline share and inline PNG plots, no external resources."""
    s = scenario(arrivals=ARRIVALS)
    r = build_report(simulate(s, org(), lambda _d: PRESENCE), s)
    page = render_html(r)
    assert page.count("data:image/png;base64,") >= 3
    assert "besvarade (HAL-03)" in page and "http://" not in page and "https://" not in page
    assert '<html lang="sv">' in page
    assert "<link" not in page and "<script" not in page
