"""The AGI environment a channel hands a script (AsyncAGI's Env, FastAGI's opening lines)."""

from __future__ import annotations

from urllib.parse import quote

from switchboard.telephony.sim.models import SimCall

AGI_QUOTE_SAFE = "/.-_~()"


def agi_quote(text: str) -> str:
    """URL-encode like Asterisk's AsyncAGI Env/Result (spaces as %20, UTF-8 bytes escaped)."""
    return quote(text, safe=AGI_QUOTE_SAFE)


def _channel_env(call: SimCall, request: str, language: str) -> list[tuple[str, str]]:
    """The channel's part of the AGI environment, the same for AsyncAGI and FastAGI."""
    return [
        ("agi_request", request),
        ("agi_channel", call.channel),
        ("agi_language", language),
        ("agi_type", call.channel.split("/", 1)[0]),
        ("agi_uniqueid", call.uniqueid),
        ("agi_version", "22.10.1"),
        ("agi_callerid", call.caller or "unknown"),
        ("agi_calleridname", call.caller_name or "unknown"),
        ("agi_callingpres", "0"),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", call.exten),
        ("agi_rdnis", "unknown"),
        ("agi_context", call.context),
        ("agi_extension", call.exten),
        ("agi_priority", str(call.priority)),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""),
        ("agi_threadid", "140182715438784"),
    ]


def _lines(env: list[tuple[str, str]]) -> str:
    return "".join(f"{k}: {v}\n" for k, v in env) + "\n"


def agi_env(call: SimCall) -> str:
    """The URL-encoded Env of AsyncAGIStart: the channel's AGI environment."""
    return agi_quote(_lines(_channel_env(call, "async", "en")))


def fastagi_env(call: SimCall, script: str) -> str:
    """The environment res_agi sends a FastAGI script (agi_network, then the channel's)."""
    language = call.variables.get("CHANNEL(language)", "en")
    network = [("agi_network", "yes"), ("agi_network_script", script)]
    return _lines(network + _channel_env(call, f"agi://127.0.0.1/{script}", language))
