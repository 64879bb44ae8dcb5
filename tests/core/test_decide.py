"""The routing decision (ALV-01, 04, 05, 06, 08, 19, 21, 22; HAL-01, 03, 09; NUM-01)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from routing.absence import BusyStatus, PresenceBook
from routing.decide import decide
from routing.models import Action, Call, Directory, NumberKind
from switchboard.config import ConfigError, load_config
from tests.conftest import ROOT
from tests.core.helpers import (
    ANNA,
    BERTIL,
    BYGGLOV,
    CECILIA,
    DAVID,
    HEMTJANST,
    PLAN,
    POLICY,
    block,
    book,
    directory,
    local,
)

NOW = local(2026, 11, 24, 10, 15)  # a Tuesday
MEETING = [block(local(2026, 11, 24, 10), local(2026, 11, 24, 14, 30))]
EMPTY = PresenceBook()


def test_alv01_available_extension_rings() -> None:
    """ALV-01: an available user's extension rings; unanswered it goes to voicemail."""
    d = decide(Call("026-830 12"), directory(), EMPTY, POLICY, NOW)
    assert (d.action, d.user, d.target, d.next) == (
        Action.RING,
        "anna.andersson",
        "+462683012",
        "voicemail",
    )


def test_alv06_redirected_extension_hears_message_then_covering_point() -> None:
    """ALV-06 / HAL-03: absence message, then the covering point when it is available."""
    d = decide(Call("83012"), directory(), book({"anna.andersson": MEETING}), POLICY, NOW)
    assert d.action is Action.REDIRECT
    assert d.message == "Anna Andersson är på möte, åter klockan 14.30."
    # the prompts are the spoken segments (routing.spoken); the message stays written
    assert d.prompts == ("Anna Andersson", "är på möte,", "åter klockan", "fjorton och trettio.")
    assert d.target == "+462683013" and d.next is None
    assert d.until == local(2026, 11, 24, 14, 30)


def test_hal03_covering_point_busy_falls_back_to_voicemail() -> None:
    """HAL-03: covering point not available → voicemail when the mailbox is on."""
    presence = book({"anna.andersson": MEETING, "bertil.berg": MEETING})
    d = decide(Call("83012"), directory(), presence, POLICY, NOW)
    assert (d.action, d.next, d.target) == (Action.REDIRECT, "voicemail", None)


def test_hal03_no_mailbox_transfers_to_switchboard() -> None:
    """HAL-03: no covering point, no mailbox → transfer to Medborgarservice."""
    d = decide(Call("83015"), directory(), book({"david.dahl": MEETING}), POLICY, NOW)
    assert (d.action, d.next, d.target) == (Action.REDIRECT, "transfer", "+462683000")


def test_alv12_global_switch_off_means_no_voicemail_for_extension_users() -> None:
    """ALV-12: with the global switch off, a redirected extension user goes to the switchboard."""
    presence = book({"anna.andersson": MEETING, "bertil.berg": MEETING})
    policy = replace(POLICY, voicemail_extension_users=False)
    d = decide(Call("83012"), directory(), presence, policy, NOW)
    assert (d.next, d.target) == ("transfer", "+462683000")


def test_alv04_mobile_rings_straight_through_while_redirected() -> None:
    """ALV-04: the mobile number rings with no message even while a calendar redirect is active."""
    d = decide(Call("070-123 45 67"), directory(), book({"anna.andersson": MEETING}), POLICY, NOW)
    assert (d.action, d.number_kind, d.message) == (Action.RING, NumberKind.USER_MOBILE, None)


def test_alv05_mobile_follows_calendar_when_linked() -> None:
    """ALV-05: an administrator may link the mobile to the calendar."""
    d = decide(
        Call(CECILIA.mobile or ""), directory(), book({"cecilia.carlsson": MEETING}), POLICY, NOW
    )
    assert d.action is Action.REDIRECT and d.message is not None


def test_alv21_blocked_subscription_is_never_rung() -> None:
    """ALV-21: a blocked (spärrad) subscription is handled as unreachable, never rung."""
    for number in ("83022", "070-133 45 77"):
        d = decide(Call(number), directory(), EMPTY, POLICY, NOW)
        assert d.action is not Action.RING and d.ring == ()
        assert d.reason == "blocked"


def test_alv22_shared_phone_never_follows_a_personal_calendar() -> None:
    """ALV-22: a shared phone rings whatever anyone's calendar says."""
    everyone_busy = book({u: MEETING for u in ("anna.andersson", "bertil.berg", "hemtjanst-nord")})
    d = decide(Call("070-555 00 01"), directory(), everyone_busy, POLICY, NOW)
    assert (d.action, d.number_kind, d.owner) == (
        Action.RING,
        NumberKind.SHARED_PHONE,
        "hemtjanst-nord",
    )


def test_alv08_group_outside_telephone_hours_announces_them() -> None:
    """ALV-08: outside its telephone hours a group number announces the hours."""
    d = decide(Call("026-830 50"), directory(), EMPTY, POLICY, local(2026, 11, 24, 13, 0))
    assert d.action is Action.REDIRECT and d.reason == "outside_telephone_hours"
    assert d.message is not None and "tisdag och torsdag klockan 9.00–11.00" in d.message
    assert d.target == "+462683000"


def test_alv08_group_inside_hours_rings_available_members() -> None:
    """ALV-08: inside its hours a group rings its available members only."""
    d = decide(Call("026-830 50"), directory(), book({"anna.andersson": MEETING}), POLICY, NOW)
    assert (d.action, d.ring) == (Action.RING, ("+462683013",))


def test_group_with_nobody_available_goes_to_switchboard() -> None:
    """A group with every member away is sent to Medborgarservice, not left ringing."""
    presence = book({"bertil.berg": MEETING, "david.dahl": MEETING})
    d = decide(Call("026-830 70"), directory(), presence, POLICY, NOW)
    assert (d.action, d.target, d.reason) == (Action.TRANSFER, "+462683000", "no_member_available")


def test_alv19_international_blocked_unless_unlocked() -> None:
    """ALV-19: international calls are blocked; a per-user unlock opens them; policy may allow."""
    blocked = decide(Call("+49 30 1234567", caller="83012"), directory(), EMPTY, POLICY, NOW)
    assert blocked.action is Action.REJECT and blocked.message is not None
    assert blocked.message.startswith("Samtal till utlandet är spärrade.")
    unlocked = decide(Call("+49 30 1234567", caller="83020"), directory(), EMPTY, POLICY, NOW)
    assert unlocked.action is Action.RING
    allowed = replace(POLICY, international_calls="allowed")
    assert (
        decide(Call("+49 30 1234567", caller="83012"), directory(), EMPTY, allowed, NOW).action
        is Action.RING
    )


def test_hal09_premium_rate_blocked_unless_approved() -> None:
    """HAL-09: 0900/0939/0944 are blocked unless approved for the user."""
    assert (
        decide(Call("0900-123 45 67", caller="83012"), directory(), EMPTY, POLICY, NOW).action
        is Action.REJECT
    )
    assert (
        decide(Call("0900-123 45 67", caller="83023"), directory(), EMPTY, POLICY, NOW).action
        is Action.RING
    )


# Callers that are no user's number: no caller id, an unassigned internal number, a shared
# phone, an external fixed number, an external mobile and a foreign number.
CALLERS_WITHOUT_A_USER = (
    None,
    "",
    "026-830 99",
    "070-555 00 01",
    "08-123 456 78",
    "073-111 22 33",
    "+45 33 12 34 56",
)


@pytest.mark.parametrize("caller", CALLERS_WITHOUT_A_USER)
def test_alv19_caller_without_a_user_cannot_call_abroad(caller: str | None) -> None:
    """ALV-19: with international calls blocked, only an unlocked user's number may call abroad."""
    d = decide(Call("+49 30 1234567", caller=caller), directory(), EMPTY, POLICY, NOW)
    assert (d.action, d.number_kind, d.reason, d.user) == (
        Action.REJECT,
        NumberKind.INTERNATIONAL,
        "international_blocked",
        None,
    )
    assert d.ring == () and d.target is None
    assert d.message is not None and d.message.startswith("Samtal till utlandet är spärrade.")


@pytest.mark.parametrize("caller", CALLERS_WITHOUT_A_USER)
def test_hal09_caller_without_a_user_cannot_call_premium_rate(caller: str | None) -> None:
    """HAL-09: with premium rate blocked, only an approved user's number may call 0900/0939/0944."""
    for number in ("0900-123 45 67", "0939-123 45 67", "0944-123 45 67"):
        d = decide(Call(number, caller=caller), directory(), EMPTY, POLICY, NOW)
        assert (d.action, d.number_kind, d.reason, d.user) == (
            Action.REJECT,
            NumberKind.PREMIUM_RATE,
            "premium_rate_blocked",
            None,
        ), number
        assert d.ring == () and d.target is None


def test_alv21_alv22_blocked_shared_phone_is_never_rung() -> None:
    """ALV-21 / ALV-22: a blocked (spärrad) shared phone is unreachable: to the switchboard."""
    blocked_phone = replace(HEMTJANST, blocked=True)
    d = Directory.build(
        (ANNA, BERTIL, CECILIA, DAVID), (BYGGLOV,), (blocked_phone,), "+462683000", PLAN
    )
    for presence in (EMPTY, book({"hemtjanst-nord": MEETING, "anna.andersson": MEETING})):
        decision = decide(Call("070-555 00 01"), d, presence, POLICY, NOW)
        assert (
            decision.action,
            decision.number_kind,
            decision.owner,
            decision.reason,
            decision.next,
            decision.target,
        ) == (
            Action.TRANSFER,
            NumberKind.SHARED_PHONE,
            "hemtjanst-nord",
            "blocked",
            "transfer",
            "+462683000",
        )
        assert decision.ring == () and decision.user is None


def test_num01_unknown_and_invalid_numbers_have_clear_outcomes() -> None:
    """NUM-01: unassigned internal numbers go to the switchboard; invalid ones are rejected."""
    un = decide(Call("026-830 99"), directory(), EMPTY, POLICY, NOW)
    assert (un.action, un.number_kind, un.target) == (
        Action.TRANSFER,
        NumberKind.INTERNAL_UNASSIGNED,
        "+462683000",
    )
    bad = decide(Call("+46 1"), directory(), EMPTY, POLICY, NOW)
    assert (bad.action, bad.number_kind) == (Action.REJECT, NumberKind.INVALID)


def test_hv05_forward_override_sends_the_call_there() -> None:
    """HV-05: a '>NUMBER' event forwards the call to that number after the message."""
    from routing.numbers import normalise
    from routing.presence import build_user_presence
    from tests.core.helpers import PLAN, RULES

    p = build_user_presence(
        "anna.andersson",
        [
            block(
                local(2026, 11, 24, 9), local(2026, 11, 24, 12), subject=">073-987 65 43 Kundbesök"
            )
        ],
        RULES,
        lambda n: normalise(n, PLAN),
    )
    d = decide(Call("83012"), directory(), PresenceBook({"anna.andersson": p}), POLICY, NOW)
    assert (d.action, d.target) == (Action.REDIRECT, "+46739876543")


@pytest.mark.parametrize("org", ["alvkarleby", "hallsberg"])
def test_hal01_every_personal_subscription_is_redirected_by_its_calendar(org: str) -> None:
    """HAL-01: as loaded, every personal extension is redirected by a meeting (blocked: ALV-21)."""
    config = load_config(ROOT / "config" / org)
    users, policy = config.directory.users, config.org.policy
    everyone_busy = book({u.id: MEETING for u in users})
    for user in users:
        assert user.redirect_enabled, user.id
        d = decide(Call(user.extension or ""), config.directory, everyone_busy, policy, NOW)
        assert d.user == user.id and d.ring == ()
        if user.blocked:  # ALV-21 comes first: a blocked subscription is unreachable
            assert d.reason == "blocked"
        else:
            assert (d.action, d.reason, d.until) == (
                Action.REDIRECT,
                "meeting",
                local(2026, 11, 24, 14, 30),
            )


@pytest.mark.parametrize("value", ["false", "no", "0"])
def test_hal01_config_that_disables_redirection_is_an_error(tmp_path: Path, value: str) -> None:
    """HAL-01: `redirect:` set to anything but true on a personal subscription refuses to load."""
    org = tmp_path / "alvkarleby"
    shutil.copytree(ROOT / "config" / "alvkarleby", org, ignore=shutil.ignore_patterns("data"))
    yaml_path = org / "directory.yaml"
    text = yaml_path.read_text(encoding="utf-8")
    assert text.count("- id: bertil.berg\n") == 1
    yaml_path.write_text(
        text.replace("- id: bertil.berg\n", f"- id: bertil.berg\n  redirect: {value}\n"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(org)
    [line] = caught.value.problems
    assert line.startswith(f"{yaml_path}:") and "users[1].redirect:" in line
    assert "HAL-01" in line
    # the same folder with redirection left on (explicitly) loads
    yaml_path.write_text(
        text.replace("- id: bertil.berg\n", "- id: bertil.berg\n  redirect: true\n"),
        encoding="utf-8",
    )
    bertil = load_config(org).directory.user("bertil.berg")
    assert bertil is not None and bertil.redirect_enabled


def test_decision_json_has_the_contract_fields() -> None:
    """The route JSON carries called, number_kind, user, action, message, reason, until, next, target."""
    d = decide(Call("83012"), directory(), book({"anna.andersson": MEETING}), POLICY, NOW).as_json()
    for key in (
        "called",
        "number_kind",
        "user",
        "action",
        "message",
        "reason",
        "until",
        "next",
        "target",
    ):
        assert key in d
    assert d["until"] == "2026-11-24T14:30:00+01:00"


def test_free_block_does_not_redirect_the_call() -> None:
    """ALV-07 end to end: a free reminder leaves the extension ringing."""
    free = [block(local(2026, 11, 24, 10), local(2026, 11, 24, 11), BusyStatus.FREE, "Påminnelse")]
    assert (
        decide(Call("83012"), directory(), book({"anna.andersson": free}), POLICY, NOW).action
        is Action.RING
    )
