"""Errors of the telephony adapters: one base, subclasses carry fields."""

from __future__ import annotations


class TelephonyError(Exception):
    """Base of every telephony-adapter error."""

    error_id = "telephony-error"


class UnsafeHeader(TelephonyError, ValueError):
    """A header name or value that would break AMI framing (CR, LF, or a colon in a name)."""

    error_id = "ami-unsafe-header"

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"AMI header {name!r}: {problem}")
        self.name = name
        self.problem = problem


class AmiConnectionError(TelephonyError, ConnectionError):
    """The AMI connection could not be opened, or it was lost."""

    error_id = "ami-connection"

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"AMI {host}:{port}: {reason}")
        self.host = host
        self.port = port
        self.reason = reason


class AmiAuthenticationError(TelephonyError):
    """Asterisk refused the Login (wrong username or secret, or a denied address)."""

    error_id = "ami-authentication"

    def __init__(self, username: str, message: str) -> None:
        super().__init__(f"AMI login refused for user {username!r}: {message}")
        self.username = username
        self.message = message


class AmiActionTimeout(TelephonyError, TimeoutError):
    """An action got no complete answer before its deadline."""

    error_id = "ami-action-timeout"

    def __init__(self, action: str, action_id: str, timeout: float) -> None:
        super().__init__(f"AMI action {action} ({action_id}) got no answer within {timeout:g} s")
        self.action = action
        self.action_id = action_id
        self.timeout = timeout


class AmiNotConnected(TelephonyError):
    """An action was requested while no logged-in connection exists; it is never queued."""

    error_id = "ami-not-connected"

    def __init__(self, action: str) -> None:
        super().__init__(f"AMI action {action} not sent: not connected (actions are never queued)")
        self.action = action


class AmiActionFailed(TelephonyError):
    """Asterisk answered an action with `Response: Error`."""

    error_id = "ami-action-failed"

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"AMI action {action} failed: {message}")
        self.action = action
        self.message = message
