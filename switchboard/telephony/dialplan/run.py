"""Running a channel through the dialplan: the flow applications (NoOp, Verbose, Set, Goto, GotoIf,
ExecIf, Hangup) here; every other application is the host's (`AppRunner`), then the `h`
extension when the context has one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field

from switchboard.telephony.dialplan.expr import Function, substitute, truth
from switchboard.telephony.dialplan.parse import Dialplan, DialplanError

AppRunner = Callable[[str, str], Awaitable[int]]  # (application, data) -> 0 go on, -1 hang up


@dataclass
class Channel:
    """Where one channel is in the dialplan, and its variables."""

    context: str
    exten: str
    priority: int = 1
    variables: MutableMapping[str, str] = field(default_factory=dict)
    trace: list[tuple[str, str]] = field(default_factory=list)  # (application, data) run


MAX_STEPS = 500


async def run(
    plan: Dialplan,
    chan: Channel,
    apps: AppRunner,
    functions: Mapping[str, Function],
    builtins: Callable[[str], str | None] | None = None,
) -> str:
    """Run from chan.context/exten/priority until Hangup, an app returns -1, or the extension
    runs out; then the `h` extension if the context has one. Returns why it stopped."""

    def variable(name: str) -> str | None:
        if name == "EXTEN":
            return chan.exten
        if name == "CONTEXT":
            return chan.context
        if name == "PRIORITY":
            return str(chan.priority - 1)
        if name in chan.variables:
            return chan.variables[name]
        if builtins is not None and (value := builtins(name)) is not None:
            return value
        return plan.globals.get(name)

    reason = "end"
    steps = 0
    while True:
        steps += 1
        if steps > MAX_STEPS:
            raise DialplanError("the dialplan loops")
        ext = plan.find(chan.context, chan.exten)
        step = None
        if ext is not None:
            step = next((p for p in ext.priorities if p.number == chan.priority), None)
        if step is None:
            break
        data = substitute(step.data, variable, functions)
        chan.trace.append((step.app, data))
        chan.priority += 1
        app = step.app.lower()
        if app in ("noop", "verbose"):
            continue
        if app == "set":
            name, _, value = data.partition("=")
            chan.variables[name.strip()] = value
            continue
        if app == "goto":
            _goto(plan, chan, data)
            continue
        if app == "gotoif":
            condition, _, targets = data.partition("?")
            yes, _, no = targets.partition(":")
            target = yes if truth(condition.strip()) else no
            if target:
                _goto(plan, chan, target)
            continue
        if app == "execif":
            condition, _, branches = data.partition("?")
            branch = branches if truth(condition.strip()) else ""
            if branch:
                name, _, args = branch.partition("(")
                args = args[:-1] if args.endswith(")") else args
                if name.lower() == "set":
                    key, _, value = args.partition("=")
                    chan.variables[key.strip()] = value
                elif await apps(name, args) < 0:
                    reason = "hangup"
                    break
            continue
        if app == "hangup":
            reason = "hangup"
            break
        if await apps(step.app, data) < 0:
            reason = "hangup"
            break
    h = plan.find(chan.context, "h")
    if h is not None and h.pattern == "h":
        chan.exten, chan.priority = "h", 1
        while (
            step := next((p for p in h.priorities if p.number == chan.priority), None)
        ) is not None:
            data = substitute(step.data, variable, functions)
            chan.trace.append((step.app, data))
            chan.priority += 1
            if step.app.lower() == "set":
                name, _, value = data.partition("=")
                chan.variables[name.strip()] = value
            elif step.app.lower() == "gotoif":
                condition, _, targets = data.partition("?")
                yes, _, no = targets.partition(":")
                target = yes if truth(condition.strip()) else no
                if target:
                    _goto(plan, chan, target)
    return reason


def _goto(plan: Dialplan, chan: Channel, target: str) -> None:
    parts = [p.strip() for p in target.split(",")]
    if len(parts) == 3:
        chan.context, chan.exten = parts[0], parts[1]
        where = parts[2]
    elif len(parts) == 2:
        chan.exten, where = parts
    else:
        where = parts[0]
    if where.isdigit():
        chan.priority = int(where)
        return
    ext = plan.find(chan.context, chan.exten)
    step = next((p for p in ext.priorities if p.label == where), None) if ext else None
    if step is None:
        raise DialplanError(f"no label {where!r} in {chan.context},{chan.exten}")
    chan.priority = step.number
