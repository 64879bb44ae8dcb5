"""The register as people read it: outcomes, states and audit events in Swedish sentences,
callers and mailboxes by name and national number, waiting times in days and hours.

The register keeps what happened as data (`public_registered`, `system:intake`, `+46701112233`);
the pages say it in words: "Klassificerad som allmän handling, diarieförd i ärende KS 2026/123
av Johanna Jansson 2026-11-24 13.05".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from routing.models import Directory
from switchboard.web.call_display import party
from voicemail.models import Classification, PublicRecord, RecordStatus

# The classify form's choices (the select's option texts).
CLASSIFICATION_TEXT = {
    Classification.PUBLIC_REGISTERED: "Allmän handling – diarieförs (ange ärendenummer)",
    Classification.PUBLIC_MINOR: "Allmän handling av ringa betydelse",
    Classification.NOT_PUBLIC_INTERNAL: "Inte allmän handling – internt arbetsmaterial",
    Classification.NOT_PUBLIC_PRIVATE: "Inte allmän handling – privat",
    Classification.NOT_PUBLIC_OTHER_CAPACITY: "Inte allmän handling – i annan egenskap",
}
# What a record became, after "Klassificerad som …" (the case number follows a registered one).
OUTCOME_WORDS = {
    Classification.PUBLIC_REGISTERED: "allmän handling, diarieförd",
    Classification.PUBLIC_MINOR: "allmän handling av ringa betydelse",
    Classification.NOT_PUBLIC_INTERNAL: "inte allmän handling (internt arbetsmaterial)",
    Classification.NOT_PUBLIC_PRIVATE: "inte allmän handling (privat)",
    Classification.NOT_PUBLIC_OTHER_CAPACITY: "inte allmän handling (i annan egenskap)",
}
STATUS_TEXT = {
    RecordStatus.AWAITING_CLASSIFICATION: "Väntar på klassificering",
    RecordStatus.CLASSIFIED: "Klassificerad",
    RecordStatus.DISPOSED: "Gallrad",
}
EVENT_TEXT = {
    "record.registered": "Registrerad",
    "record.received": "Mottagen och registrerad",
    "record.sealed": "Förseglad i händelsekedjan (post från före version 2)",
    "record.played": "Uppspelad",
    "record.play_refused": "Uppspelning nekad",
    "record.hidden_by_owner": "Raderad i brevlådan (dold för ägaren, finns kvar i registret)",
    "record.heard_on_phone": "Avlyssnad i telefonen",
    "record.deleted_on_phone": "Raderad i telefonen (dold för ägaren, finns kvar i registret)",
    "record.phone_copy_withdrawn": "Borttagen ur telefonen (numret har fått en ny innehavare)",
    "record.marked_heard": "Markerad som hörd på webben",
}


def outcome_phrase(classification: Classification, case_reference: str | None) -> str:
    """'allmän handling, diarieförd i ärende KS 2026/123' (lower case, after 'som')."""
    words = OUTCOME_WORDS[classification]
    if classification is Classification.PUBLIC_REGISTERED and case_reference:
        return f"{words} i ärende {case_reference}"
    return words


def record_state(rec: PublicRecord) -> str:
    """Where a record is, in one sentence: 'Allmän handling av ringa betydelse', 'Gallrad …'."""
    if rec.classification is not None:
        phrase = outcome_phrase(rec.classification, rec.case_reference)
        text = phrase[0].upper() + phrase[1:]
        if rec.status is RecordStatus.DISPOSED:
            text = f"Gallrad (ljudet är förstört) – var {phrase}"
    else:
        text = STATUS_TEXT[rec.status]
    if rec.hidden_from_owner:
        text += ". Raderad av ägaren (finns kvar här)"
    return text


def actor_name(actor: str, directory: Directory) -> str:
    """A person by name; '' for the system itself (the intake, the phone, an upgrade), whose
    events say in their own words where they happened."""
    if actor.startswith("system:"):
        return ""
    user = directory.user(actor)
    return user.name if user is not None else actor


def local_text(moment: datetime | None, tz: ZoneInfo) -> str:
    """'2026-11-24 13.05' in the organisation's zone ('' for none)."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H.%M") if moment else ""


def waiting_text(seconds: int) -> str:
    """'2 d 3 h', '3 h 20 min', '12 min'."""
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


@dataclass(frozen=True, slots=True)
class Party:
    """Someone as a page shows them: a name (may be empty) and a number in national form."""

    name: str
    number: str

    @property
    def text(self) -> str:
        """'Örjan Öst, 070-123 45 67'."""
        return ", ".join(p for p in (self.name, self.number) if p) or "Okänd"


def caller_of(rec: PublicRecord, directory: Directory, memo: dict[str, str]) -> Party:
    """The caller: the name the call gave (else the directory's holder of the number) and the
    number in national form ('Dolt nummer' when the caller hid it)."""
    raw = rec.caller_number or ""
    shown = party(raw, directory, memo) if raw else ""
    holder, sep, number = shown.rpartition(", ")
    if not sep:
        holder, number = "", shown
    if not any(ch.isdigit() for ch in number):
        holder, number = "", number
    return Party(rec.caller_name or holder, number)


def mailbox_of(rec: PublicRecord, directory: Directory, memo: dict[str, str]) -> Party:
    """The mailbox: its owner by name when the message came in, and its number."""
    shown = party(rec.mailbox, directory, memo) if rec.mailbox else ""
    number = shown.rpartition(", ")[2] or rec.mailbox
    owner = directory.user(rec.owner_id) if rec.owner_id else None
    if owner is not None:
        return Party(owner.name, number)
    return Party(rec.owner_id or "", number)


@dataclass(frozen=True, slots=True)
class AuditLine:
    """One event of a record's trail in words: what, by whom, when (and a detail line)."""

    what: str
    who: str
    when: str
    iso: str
    detail: str

    @property
    def sentence(self) -> str:
        """'Klassificerad som allmän handling, diarieförd i ärende KS 2026/123 av Johanna
        Jansson 2026-11-24 13.05'."""
        return f"{self.what} av {self.who} {self.when}" if self.who else f"{self.what} {self.when}"


def _classified_text(before: Mapping[str, object], after: Mapping[str, object]) -> str:
    def phrase(values: Mapping[str, object]) -> str | None:
        try:
            cls = Classification(str(values.get("classification")))
        except ValueError:
            return None
        case = values.get("case_reference")
        return outcome_phrase(cls, str(case) if case else None)

    now, was = phrase(after), phrase(before)
    if now is None:
        return "Klassificerad"
    if was is not None and was != now:
        return f"Omklassificerad från {was} till {now}"
    return f"Klassificerad som {now}"


def audit_line(
    action: str,
    actor: str,
    at: datetime,
    before: Mapping[str, object] | None,
    after: Mapping[str, object] | None,
    directory: Directory,
    tz: ZoneInfo,
) -> AuditLine:
    """An audit event of a record as a sentence."""
    before, after = before or {}, after or {}
    detail = ""
    if action == "record.classified":
        what = _classified_text(before, after)
        if after.get("summary") and after.get("summary") != before.get("summary"):
            detail = f"Sammanfattning: {after['summary']}"
    elif action == "record.disposed":
        rule = after.get("disposal_rule")
        what = f"Ljudet gallrat enligt regeln {rule}" if rule else "Ljudet gallrat"
    elif action == "record.received" and after.get("registration_number"):
        what = f"Mottagen och registrerad som {after['registration_number']}"
    else:
        what = EVENT_TEXT.get(action, "Händelse i registret")
    return AuditLine(what, actor_name(actor, directory), local_text(at, tz), at.isoformat(), detail)
