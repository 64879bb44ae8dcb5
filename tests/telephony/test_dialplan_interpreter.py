"""The simulated platform's extensions.conf interpreter: patterns, `${…}`, `$[…]` and flow, as
pbx.c and ast_expr2 do them (the real thing is checked by tests/realpeer)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from switchboard.telephony.dialplan import (
    Channel,
    Dialplan,
    DialplanError,
    Extension,
    evaluate,
    run,
    substitute,
)

PLAN = """
[general]
static = yes

[globals]
GREETING = hej ; a comment

[in]
exten => _0268XXXX,1,Set(EXT=${EXTEN:-5})
 same => n,Goto(out,${EXT},1)
exten => 02680000,1,NoOp(exact wins over the pattern)
 same => n,Set(WHO=switchboard)

[out]
exten => _X.,1,Set(FIRST=${EXTEN:0:2})
 same => n,GotoIf($["${FIRST}" = "83" & ${LEN(${EXTEN})} = 5]?ok:bad)
 same => n(bad),Set(RESULT=bad)
 same => n,Hangup()
 same => n(ok),Set(RESULT=${CUT(ROW,|,2)}-${GREETING})
 same => n,ExecIf($[${EPOCH} > 100]?Set(LATE=1))
 same => n,Playback(${RESULT})
exten => h,1,Set(HANGUP_RAN=1)
"""


def _functions(variables: dict[str, str]) -> dict[str, Callable[[str], str]]:
    def cut(arg: str) -> str:
        name, delim, field = arg.split(",")
        return variables.get(name, "").split(delim)[int(field) - 1]

    return {"CUT": cut, "LEN": lambda arg: str(len(arg))}


@pytest.mark.parametrize(
    ("pattern", "exten", "matches"),
    [
        ("_0268XXXX", "02683012", True),
        ("_0268XXXX", "0268301", False),
        ("_X.", "83012", True),
        ("_X.", "+4626", False),
        ("_+X.", "+462683012", True),
        ("_NXX", "200", True),
        ("_NXX", "100", False),
        ("_Z!", "1", True),
        ("_[1-3]X", "25", True),
        ("_[1-3]X", "45", False),
        ("h", "h", True),
    ],
)
def test_patterns_match_as_asterisk_does(pattern: str, exten: str, matches: bool) -> None:
    """`_` patterns: X, N, Z, `.`, `!`, character classes; anything else is literal."""
    assert Extension(pattern).matches(exten) is matches


def test_exact_extension_wins_over_a_pattern() -> None:
    """02680000 has its own extension: it is run, not the pattern."""
    plan = Dialplan.parse(PLAN)
    found = plan.find("in", "02680000")
    assert found is not None and found.pattern == "02680000"
    assert plan.globals == {"GREETING": "hej"}


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ('"a" = "a"', "1"),
        ('"" != ""', "0"),
        ("10 <= 9", "0"),
        ("010 = 10", "1"),  # numeric when both sides are numbers
        ('"1796332895" != "" & 01796332895 <= 1796329295', "0"),  # an until in the future
        ('"x" = "y" | "z" = "z"', "1"),
        ("3 + 4 * 2", "11"),
        ("(3 + 4) * 2", "14"),
        ("!0", "1"),
        ("", ""),
    ],
)
def test_expressions(expression: str, value: str) -> None:
    """`$[…]` as ast_expr2 evaluates the operators the dialplan uses."""
    assert evaluate(expression) == value


def test_substitution_is_innermost_first_with_slices_and_functions() -> None:
    """`${VAR:offset:length}`, nested `${…}` and `$[…]`, functions."""
    variables = {"EXTEN": "02683012", "ROW": "a|b|c", "N": "2"}
    funcs = _functions(variables)
    text = substitute(
        "${EXTEN:-5} ${EXTEN:0:3} ${CUT(ROW,|,${N})} $[${N} + 1]",
        variables.get,
        funcs,
    )
    assert text == "83012 026 b 3"
    with pytest.raises(DialplanError):
        substitute("${NOPE(x)}", variables.get, {})


async def test_run_follows_goto_labels_execif_and_the_h_extension() -> None:
    """A call through two contexts: Goto, GotoIf to a label, ExecIf, an application of the
    host, then the h extension."""
    plan = Dialplan.parse(PLAN)
    played: list[tuple[str, str]] = []

    async def app(name: str, data: str) -> int:
        played.append((name, data))
        return -1  # the caller hangs up during it

    chan = Channel("in", "02683012", variables={"ROW": "x|covered"})
    reason = await run(
        plan,
        chan,
        app,
        _functions(dict(chan.variables)),
        lambda name: "1796329295" if name == "EPOCH" else None,
    )
    assert reason == "hangup"
    assert played == [("Playback", "covered-hej")]
    assert chan.variables["EXT"] == "83012" and chan.variables["LATE"] == "1"
    assert chan.variables["HANGUP_RAN"] == "1" and "bad" not in chan.variables.values()


async def test_a_missing_label_is_an_error() -> None:
    """GotoIf to a label that does not exist is reported, not silently ignored."""
    plan = Dialplan.parse("[c]\nexten => s,1,GotoIf(1?nowhere)\n")
    chan = Channel("c", "s")

    async def app(name: str, data: str) -> int:
        return 0

    with pytest.raises(DialplanError, match="nowhere"):
        await run(plan, chan, app, {})
