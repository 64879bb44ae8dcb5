"""Issue 14.6: the outbound number format is an operator setting; the default matches the
dialplan the project ships (`trunk-out`/`from-internal` expect 026… and 0044…, never +44…)."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.models import NumberingPlan
from switchboard.config import load_config
from switchboard.telephony.config import parse_telephony
from switchboard.telephony.dialstrings import Dialler, outbound_number

ROOT = Path(__file__).resolve().parents[2]
PLAN = NumberingPlan("46", (("26", "83XXX"),))


@pytest.mark.parametrize(
    ("fmt", "e164", "dialled"),
    [
        ("national", "+441632960123", "00441632960123"),  # abroad: the international prefix
        ("national", "+46701234567", "0701234567"),
        ("00", "+441632960123", "00441632960123"),
        ("00", "+46701234567", "0046701234567"),
        ("e164", "+441632960123", "+441632960123"),
        ("e164", "+46701234567", "+46701234567"),
    ],
)
def test_outbound_formats(fmt: str, e164: str, dialled: str) -> None:
    """national (the default), 00-prefix and E.164, for a foreign and a Swedish number."""
    assert outbound_number(e164, "46", fmt) == dialled


def test_default_dial_strings_match_the_shipped_dialplan() -> None:
    """ALV-19: an international call is dialled `…/0044…@trunk`, which the generated
    `from-internal`/`trunk-out` patterns (`_0.`, `_0X.`) match; internal numbers by local
    digits; the templates' `{national}` (older configurations) still works."""
    settings, problems = parse_telephony({"external_dial": "Local/{national}@trunk-out"}, {})
    assert problems == []
    old = Dialler(PLAN, settings.internal_dial, settings.external_dial, settings.outbound_format)
    assert old.dial("+441632960123") == "Local/00441632960123@trunk-out"
    default = Dialler(PLAN)
    assert default.dial("+462683013") == "PJSIP/83013"
    assert default.dial("+46701234567") == "PJSIP/0701234567@trunk"
    e164 = Dialler(PLAN, fmt="e164")
    assert e164.dial("+441632960123") == "PJSIP/+441632960123@trunk"


def test_outbound_format_is_validated() -> None:
    """An unknown format is a configuration error naming the three."""
    _, problems = parse_telephony({"outbound_format": "+E164"}, {})
    assert [p.path for p in problems] == ["outbound_format"]
    assert "national" in problems[0].message and "e164" in problems[0].message


def test_the_generated_fallback_converts_what_staff_dial_to_the_format() -> None:
    """The dialplan's own outbound fallback turns 0044… into the operator's format too."""
    from switchboard.telephony.asterisk_config import extensions_conf

    org = load_config(ROOT / "config" / "alvkarleby").org
    settings, _ = parse_telephony({"outbound_format": "e164"}, {})
    text = extensions_conf(org, settings)
    assert "Set(NUM=+${EXTEN:2})" in text and "Set(NUM=+46${EXTEN:1})" in text
    national, _ = parse_telephony({}, {})
    assert "Set(NUM=+" not in extensions_conf(org, national)
