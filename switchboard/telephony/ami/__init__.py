"""The Asterisk Manager Interface (AMI) adapter: a pure frame parser, a client and a supervisor.

Nothing else in the project speaks AMI; see docs/ami-client.md for why this is a small client of
our own rather than panoramisk.

- `protocol`: frames on the wire (`FrameParser`, `parse_frame`, `encode_action`), no I/O;
- `client`: one connection (`AmiClient`): Login, actions with deadlines, responses, events;
- `supervisor`: staying connected (`AmiSupervisor`): backoff, keepalive Ping, resync hooks.
"""

from switchboard.telephony.ami.client import AmiClient, AmiResponse, EventCallback
from switchboard.telephony.ami.protocol import (
    MAX_FRAME,
    FrameParser,
    Headers,
    Message,
    check_header,
    encode_action,
    parse_frame,
)
from switchboard.telephony.ami.supervisor import AmiSettings, AmiSupervisor, Backoff

__all__ = [
    "MAX_FRAME",
    "AmiClient",
    "AmiResponse",
    "AmiSettings",
    "AmiSupervisor",
    "Backoff",
    "EventCallback",
    "FrameParser",
    "Headers",
    "Message",
    "check_header",
    "encode_action",
    "parse_frame",
]
