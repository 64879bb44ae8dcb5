"""The HTML report in Swedish (for the municipality's managers); the JSON report stays English."""

from __future__ import annotations

import re
from datetime import time
from html.parser import HTMLParser
from typing import Any

import matplotlib.pyplot as plt
import pytest

from routing.models import Hours
from simulation import sv
from simulation.compare import comparison, run_variants
from simulation.engine import simulate
from simulation.models import Outcome, Variant
from simulation.page import comparison_figure, render_html, unit_figure
from simulation.report import Report, build_report, to_json
from tests.simulation.helpers import busy, local, org, scenario

ARRIVALS = {
    "extension": {8: 40.0, 9: 60.0, 13: 30.0},
    "mobile": {9: 20.0},
    "group": {9: 10.0, 13: 6.0},
    "shared_phone": {10: 4.0},
    "switchboard": {9: 30.0},
}
# both Socialjouren members away all day: one HAL-05 warning; Anna in a meeting 9–11
PRESENCE = busy(
    ("anna", local(9), local(11)), ("david", local(7), local(17)), ("eva", local(7), local(17))
)
VARIANTS = (
    Variant("röstbrevlåda av", voicemail=False),
    Variant("mobilen följer kalendern", mobile_follows_calendar=True),
    Variant(
        "bygglov varje förmiddag",
        telephone_hours={"bygglov": Hours(frozenset(range(5)), time(8, 0), time(12, 0))},
    ),
)

# English words the old page used; none may be left in the text a reader sees
ENGLISH = re.compile(
    r"\b(answered|calls?|again|voicemails?|coverage|warnings?|through|ended|unit|kind|reason|"
    r"outcome|points|nowhere|passed|contact|centre|switchboard|share|hour|busy|rang|rejected|"
    r"everyone|seed|simulated|service|level|change|difference|base|configured|more|yes|"
    r"mobiles?|extensions?|group|shared|phones?|available|nobody|blocked|answer)\b",
    re.IGNORECASE,
)


class _Text(HTMLParser):
    """The text a reader sees: no markup, no style sheet, no attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.headings: list[str] = []
        self._skip = False
        self._heading: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip = tag == "style"
        if tag in ("h1", "h2", "title"):
            self._heading = ""

    def handle_endtag(self, tag: str) -> None:
        self._skip = False
        if tag in ("h1", "h2", "title") and self._heading is not None:
            self.headings.append(self._heading)
            self._heading = None

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)
            if self._heading is not None:
                self._heading += data


def _visible(page: str) -> _Text:
    parser = _Text()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def report() -> Report:
    """A drawn day with every kind of number, a coverage warning and three variants."""
    s = scenario(arrivals=ARRIVALS, answer_probability=0.4, seed=11)
    r = build_report(simulate(s, org(), lambda _d: PRESENCE), s)
    r["comparison"] = comparison(r, run_variants(s, org(), lambda _d: PRESENCE, VARIANTS))
    return r


@pytest.fixture(scope="module")
def page(report: Report) -> str:
    """The HTML page of that day."""
    return render_html(report)


def test_html_report_is_swedish(report: Report, page: str) -> None:
    """lang="sv", Swedish title, headings and cards; the share with a decimal comma."""
    assert '<html lang="sv">' in page
    assert "<title>Servicenivå – Testby kommun</title>" in page
    assert "<h1>Servicenivå: Testby kommun</h1>" in page
    assert "Simulerad dag: 24 november 2026" in page
    for text in (
        "besvarade (HAL-03)",
        "samtal",
        "måste ringa igen",
        "röstmeddelanden",
        "<h2>Vad en ändring skulle göra</h2>",
        "<h2>Täckningsvarningar (HAL-05)</h2>",
        "<h2>Under dagen</h2>",
        "<h2>Hur samtalen slutade</h2>",
        "passningsställe",
        "Medborgarservice",
        "röstbrevlåda av för alla",
        "mobilen följer kalendern för alla",
        "telefontid för bygglov: måndag till fredag klockan 8.00–12.00",
        "Socialjouren (jour): ingen tillgänglig 24 november 2026 kl. 8.00–16.30 (510 min)",
    ):
        assert text in page, text
    share = report["answered_share"]
    assert f"<b>{share * 100:.1f} %</b>".replace(".", ",") in page
    for o in Outcome:
        assert sv.OUTCOME_LABELS_SV[o] in page


def test_html_report_has_no_english_left(page: str) -> None:
    """Neither the headings nor any other visible text is English."""
    text = _visible(page)
    assert text.headings
    for heading in text.headings:
        assert not ENGLISH.search(heading), heading
    leftovers = sorted({m.group(0) for m in ENGLISH.finditer(" ".join(text.parts))})
    assert leftovers == []


def test_json_report_stays_english(report: Report) -> None:
    """The JSON contract is untouched: English reasons, changes and coverage messages."""
    js = to_json(report)
    assert "nobody available" in js and "ingen tillgänglig" not in js
    assert '"voicemail off for everyone"' in js
    assert "procentenheter" not in js and "Servicenivå" not in js


def test_html_cards_agree_in_number(report: Report) -> None:
    """'1 täckningsvarning', '2 täckningsvarningar', '1 röstmeddelande'."""
    one = dict(report, comparison=[], voicemails_created=1)
    two = dict(one, coverage_warnings=report["coverage_warnings"] * 2, voicemails_created=0)
    page_one, page_two = render_html(one), render_html(two)
    assert "<b>1</b>täckningsvarning</div>" in page_one
    assert "<b>1</b>röstmeddelande</div>" in page_one
    assert "<b>2</b>täckningsvarningar</div>" in page_two
    assert "<b>0</b>röstmeddelanden</div>" in page_two


def test_answered_share_axes_end_at_100_percent(report: Report) -> None:
    """The per-unit and the comparison charts run from 0 % to 100 %, not beyond."""
    figures = [unit_figure(report), comparison_figure(report)]
    try:
        for fig in figures:
            assert fig is not None
            ax = fig.axes[0]
            assert ax.get_xlim() == (0.0, 100.0)
            assert [t.get_text() for t in ax.get_xticklabels()][-1] == "100 %"
    finally:
        for fig in figures:
            plt.close(fig)


def test_numbers_and_dates_in_swedish() -> None:
    """Decimal comma, real minus sign, Swedish months and date ranges."""
    assert sv.percent(0.7309) == "73,1 %"
    assert sv.percent(1.0, 0) == "100 %"
    assert sv.percent(None) == "–"
    assert sv.points(-0.09) == "\u22129,0 procentenheter"
    assert sv.points(0.0231) == "+2,3 procentenheter"
    assert sv.days(["2026-11-24"]) == "24 november 2026"
    assert sv.days(["2026-11-24", "2026-11-25", "2026-11-26"]) == "24–26 november 2026"
    assert sv.days(["2026-11-30", "2026-12-01", "2026-12-02"]) == "30 november–2 december 2026"
    assert sv.days(["2026-11-24", "2026-12-01"]) == "24 november 2026 och 1 december 2026"
    assert sv.plural(1, "täckningsvarning", "täckningsvarningar") == "1 täckningsvarning"
    assert sv.plural(2, "täckningsvarning", "täckningsvarningar") == "2 täckningsvarningar"


def test_every_engine_reason_and_variant_change_is_translated(report: Report) -> None:
    """Each `why` of a must-call-again call, each reason and each variant change has Swedish."""
    samples: list[Any] = [c["why"] for c in report["must_call_again"]]
    samples += list(report["must_call_again_by_reason"])
    samples += [
        "no such number",
        "rejected: invalid_number",
        "rejected: international_blocked",
        "Hemtjänst Nord: line busy, nowhere to go",
        "Bygglov: every member busy on a call, nowhere to go",
        "Anna Andersson: no answer in 2.5 s, no voicemail, nowhere to go",
        "+462683099: unassigned_number; nowhere to go",
    ]
    for text in samples:
        assert not ENGLISH.search(sv.why(text)), (text, sv.why(text))
    assert sv.why(
        "Eva Ek: busy on another call, no voicemail; passed on to the contact centre"
    ) == ("Eva Ek: upptagen i ett annat samtal, ingen röstbrevlåda; kopplat till kontaktcenter")
    everything = Variant(
        "allt",
        voicemail=True,
        mobile_follows_calendar=False,
        telephone_hours={"bygglov": None, "socialjour": Hours(frozenset({0}), time(9), time(10))},
        answer_probability=0.65,
        folder="/srv/orgs/hallsberg",
    )
    changes = [sv.change(c) for c in everything.changes()]
    assert changes == [
        "annan organisationsmapp: /srv/orgs/hallsberg",
        "röstbrevlåda på för alla",
        "mobilen följer inte kalendern för någon",
        "telefontid för bygglov: ingen (alltid öppet)",
        "telefontid för socialjour: måndag klockan 9.00–10.00",
        "sannolikhet att svara: 0,65",
    ]
