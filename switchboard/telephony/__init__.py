"""Telephony adapters: Asterisk over AMI, and a simulated platform that speaks the same AMI."""

from switchboard.telephony.ami import (
    AmiClient,
    AmiResponse,
    AmiSettings,
    AmiSupervisor,
    Backoff,
    FrameParser,
    Message,
    encode_action,
    parse_frame,
)
from switchboard.telephony.errors import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiAuthenticationError,
    AmiConnectionError,
    AmiNotConnected,
    TelephonyError,
    UnsafeHeader,
)

__all__ = [
    "AmiActionFailed",
    "AmiActionTimeout",
    "AmiAuthenticationError",
    "AmiClient",
    "AmiConnectionError",
    "AmiNotConnected",
    "AmiResponse",
    "AmiSettings",
    "AmiSupervisor",
    "Backoff",
    "FrameParser",
    "Message",
    "TelephonyError",
    "UnsafeHeader",
    "encode_action",
    "parse_frame",
]
