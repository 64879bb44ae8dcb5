"""The CDR writer: one `Cdr` event per CDR record of a channel, as cdr_manager writes it."""

from __future__ import annotations

from datetime import UTC, datetime

from switchboard.telephony.sim.ami_server import frame
from switchboard.telephony.sim.models import SimCall

# Dial statuses as CDR dispositions (cdr.c).
DISPOSITIONS = {"ANSWER": "ANSWERED", "NOANSWER": "NO ANSWER", "BUSY": "BUSY"}


def cdr(call: SimCall, end: float, *, dest: str = "", dial: tuple[str, str] | None = None) -> bytes:
    """One CDR record of the channel, as cdr_manager writes it: no Linkedid, UniqueID of the
    channel, times in the server's zone (UTC here), a Dial closing the record it ran in."""

    def stamp(t: float | None) -> str:
        return "" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")

    start = call.segment_start or call.started
    answered = None if call.answered is None else max(call.answered, start)
    billable = int(end - answered) if answered is not None else 0
    if dial is not None:
        last_app, last_data = "Dial", dial[0]
        disposition = DISPOSITIONS.get(dial[1], "FAILED")
    elif call.last_app[0]:
        last_app, last_data = call.last_app
        disposition = "ANSWERED" if answered is not None else "NO ANSWER"
    else:
        last_app, last_data = "AGI", "agi:async"
        disposition = "ANSWERED" if answered is not None else "NO ANSWER"
    return frame(
        ("Event", "Cdr"),
        ("Privilege", "cdr,all"),
        ("AccountCode", ""),
        ("Source", call.caller),
        ("Destination", call.exten),
        ("DestinationContext", call.context),
        ("CallerID", f'"{call.caller_name}" <{call.caller}>'),
        ("Channel", call.channel),
        ("DestinationChannel", dest),
        ("LastApplication", last_app),
        ("LastData", last_data),
        ("StartTime", stamp(start)),
        ("AnswerTime", stamp(answered)),
        ("EndTime", stamp(end)),
        ("Duration", str(int(end - start))),
        ("BillableSeconds", str(billable)),
        ("Disposition", disposition),
        ("AMAFlags", "DOCUMENTATION"),
        ("UniqueID", call.uniqueid),
        ("UserField", ""),
    )
