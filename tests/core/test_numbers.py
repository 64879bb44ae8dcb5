"""NUM-01: numbers compared in E.164 whatever the written form; classification by the plan."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.errors import NumberError
from routing.models import Directory, NumberKind
from routing.numbers import classify, normalise, parse_series
from tests.core.helpers import PLAN, directory


@pytest.mark.parametrize(
    "written",
    ["026-830 12", "02683012", "+46 26 83 0 12", "0046 26 830 12", "83012", "+46 (0)26-830 12"],
)
def test_num01_every_written_form_matches_the_same_user(written: str) -> None:
    """NUM-01: all written forms resolve to Anna's extension."""
    e164, kind = classify(written, directory(), PLAN)
    assert e164 == "+462683012"
    assert kind is NumberKind.USER_EXTENSION
    assert directory().by_number[e164].owner_id == "anna.andersson"


def test_num01_bare_extension_is_never_a_stockholm_number() -> None:
    """NUM-01: '83012' resolves through the plan, not as 08-3012."""
    assert normalise("83012", PLAN) == "+462683012"
    assert normalise("12345", PLAN) is None  # outside every series: not guessed


@pytest.mark.parametrize(
    ("written", "kind"),
    [
        ("070-123 45 67", NumberKind.USER_MOBILE),
        ("070-555 00 01", NumberKind.SHARED_PHONE),
        ("026-830 50", NumberKind.GROUP),
        ("026-830 00", NumberKind.SWITCHBOARD),
        ("026-830 99", NumberKind.INTERNAL_UNASSIGNED),
        ("08-123 456 78", NumberKind.EXTERNAL_FIXED),
        ("073-987 65 43", NumberKind.EXTERNAL_MOBILE),
        ("+49 30 1234567", NumberKind.INTERNATIONAL),
        ("0900-123 45 67", NumberKind.PREMIUM_RATE),
        ("0939-123 456", NumberKind.PREMIUM_RATE),
        ("0944-123 456", NumberKind.PREMIUM_RATE),
        ("+46 1", NumberKind.INVALID),
        ("hej", NumberKind.INVALID),
    ],
)
def test_num01_classification(written: str, kind: NumberKind) -> None:
    """NUM-01: each kind of number is told apart."""
    assert classify(written, directory(), PLAN)[1] is kind


def test_series_parse_errors_are_specific() -> None:
    """A malformed series raises a NumberError naming it."""
    assert parse_series("026-83X XX") == ("26", "83XXX")
    with pytest.raises(NumberError, match="026-8Y"):
        parse_series("026-8Y")


_separators = st.sampled_from(["", " ", "-", " - "])


@given(
    digits=st.text("0123456789", min_size=3, max_size=3),
    sep1=_separators,
    sep2=_separators,
    form=st.sampled_from(["national", "e164", "00", "bare"]),
)
def test_num01_property_written_forms_normalise_to_one_e164(
    digits: str, sep1: str, sep2: str, form: str
) -> None:
    """NUM-01 (property): every written form of an in-plan number gives the same E.164."""
    local = "83" + digits
    expected = "+4626" + local
    written = {
        "national": f"026{sep1}{local[:3]}{sep2}{local[3:]}",
        "e164": f"+46{sep1}26{sep2}{local}",
        "00": f"0046{sep1}26{sep2}{local}",
        "bare": local,
    }[form]
    assert normalise(written, PLAN) == expected
    assert (
        classify(written, Directory.build((), plan=PLAN), PLAN)[1] is NumberKind.INTERNAL_UNASSIGNED
    )
