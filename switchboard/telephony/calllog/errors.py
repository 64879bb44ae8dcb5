"""Errors of the call log: the database failed, or a call is not in it."""

from __future__ import annotations

from switchboard.telephony.errors import TelephonyError


class CallLogError(TelephonyError):
    """The call-log database could not be opened or used."""

    error_id = "calllog-error"


class UnknownCall(TelephonyError, KeyError):
    """No call with this id is in the log (the web answers 404 `unknown-call`).

    The one error for it, raised by the store and by the web's checks alike; its message is the
    Swedish sentence the user sees.
    """

    error_id = "unknown-call"

    def __init__(self, call_id: str) -> None:
        self.message = f"det finns inget samtal {call_id!r} i samtalsloggen"
        super().__init__(self.message)
        self.call_id = call_id

    def __str__(self) -> str:
        # KeyError would show the repr of its argument (quotes round the sentence).
        return self.message
