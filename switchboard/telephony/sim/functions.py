"""The dialplan functions and built-in variables the simulated dialplan knows."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from switchboard.telephony.sim.models import SimCall


def builtin_variables(call: SimCall, clock: Callable[[], float]) -> Callable[[str], str | None]:
    """`${EPOCH}`, `${CHANNEL}`, `${UNIQUEID}` of the call (None for any other name)."""

    def value(name: str) -> str | None:
        if name == "EPOCH":
            return str(int(clock()))
        if name == "CHANNEL":
            return call.channel
        if name == "UNIQUEID":
            return call.uniqueid
        return None

    return value


def dialplan_functions(
    call: SimCall, astdb: Mapping[str, Mapping[str, str]]
) -> dict[str, Callable[[str], str]]:
    """DB, CUT, CALLERID, CHANNEL, IF and LEN, reading the call and the (live) AstDB."""

    def db(arg: str) -> str:
        family, _, key = arg.rpartition("/")
        return astdb.get(family, {}).get(key, "")

    def cut(arg: str) -> str:
        name, delim, field_spec = [*arg.split(","), "", ""][:3]
        parts = call.variables.get(name, "").split(delim or "-")
        index = int(field_spec or 1) - 1
        return parts[index] if 0 <= index < len(parts) else ""

    def callerid(arg: str) -> str:
        which = arg.lower()
        if which == "name":
            return call.caller_name
        if which == "all":
            return f'"{call.caller_name}" <{call.caller}>'
        return call.caller

    def channel(arg: str) -> str:
        return call.variables.get(f"CHANNEL({arg})", "en" if arg == "language" else "")

    def if_(arg: str) -> str:
        condition, _, branches = arg.partition("?")
        yes, _, no = branches.partition(":")
        return yes if condition.strip() not in ("", "0") else no

    return {
        "DB": db,
        "CUT": cut,
        "CALLERID": callerid,
        "CHANNEL": channel,
        "IF": if_,
        "LEN": lambda arg: str(len(arg)),
    }
