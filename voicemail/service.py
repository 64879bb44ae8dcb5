"""The public-records register: registrar workflow, playback, disposal, checks (orchestration)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from routing.models import Organisation
from voicemail import policy
from voicemail.audiostore import AudioStore
from voicemail.audit import ChainReport, RecordsReport, verify_chain, verify_records
from voicemail.errors import (
    InvalidClassification,
    NotPermitted,
    RecordDisposed,
    UnknownRecord,
)
from voicemail.models import (
    Classification,
    PublicRecord,
    RecordStatus,
    VoicemailSettings,
)
from voicemail.register import RecordFilter, RegisterStore
from voicemail.register_schema import CONTENT_COLUMNS
from voicemail.store import SqliteStore

log = logging.getLogger("voicemail.register")

DB_NAME = "register.sqlite3"


def default_db_path(org: Organisation) -> Path:
    """The register's database inside the organisation's data directory."""
    return Path(org.data_dir) / "voicemail" / DB_NAME


@dataclass(frozen=True, slots=True)
class QueueItem:
    """A record awaiting classification and how long it has waited (REC-02)."""

    record: PublicRecord
    waiting_s: float


@dataclass(frozen=True, slots=True)
class OverdueMailbox:
    """ALV-13: a mailbox with messages unheard past their deadline, and whom to tell."""

    owner_id: str | None
    mailbox: str
    records: tuple[PublicRecord, ...]
    oldest_arrival: datetime
    notify: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Disposal:
    """One record destroyed (or to be destroyed, in a dry run) under one rule."""

    record: PublicRecord
    rule: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """`registry verify`: the database's own check, the audit chain, every record row held
    against the chain, and the audio copies checked against their hashes."""

    chain: ChainReport
    audio_checked: int
    audio_mismatch: tuple[str, ...] = field(default_factory=tuple)
    records: RecordsReport = field(default_factory=lambda: RecordsReport(0))
    integrity: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when nothing at all is wrong."""
        return self.chain.ok and self.records.ok and not self.audio_mismatch and not self.integrity


class Register:
    """The register of voicemail records for one organisation."""

    def __init__(
        self,
        store: RegisterStore,
        org: Organisation,
        settings: VoicemailSettings,
        audio: AudioStore,
    ) -> None:
        self.store = store
        self.org = org
        self.settings = settings
        self.audio = audio

    @classmethod
    async def open(
        cls,
        org: Organisation,
        settings: VoicemailSettings,
        db_path: str | Path | None = None,
        store: RegisterStore | None = None,
    ) -> Register:
        """Open (creating or migrating) the register: SQLite at `db_path` unless a store is given.

        Audio and quarantine live beside `db_path` (default `<data_dir>/voicemail/`) either way.
        A damaged database (the engine's integrity check), or a register that is new or empty
        beside an audio store holding another register's messages, raises StorageError: the
        numbers would start again at 000001 over the kept audio (issue 15).
        """
        path = Path(db_path) if db_path is not None else default_db_path(org)
        if store is None:
            store = SqliteStore(path)
        await store.open()
        try:
            audio = AudioStore(path.parent / "audio")
            register_id = await store.register_id()
            await asyncio.to_thread(audio.bind, register_id, await store.count())
            await asyncio.to_thread(audio.clean_incoming)
        except BaseException:
            await store.close()
            raise
        return cls(store, org, settings, audio)

    async def close(self) -> None:
        """Close the store."""
        await self.store.close()

    async def __aenter__(self) -> Register:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def prefix(self) -> str:
        """Registration-number prefix, e.g. 'ALV-RÖST'."""
        return f"{self.org.code}-{self.settings.series}"

    async def get(self, ref: str | int) -> PublicRecord:
        """A record by internal id or registration number; UnknownRecord if none."""
        text = str(ref).strip()
        record = None
        if text.isdigit():
            record = await self.store.get(int(text))
        if record is None:
            record = await self.store.get_by_number(text)
            if record is None and not text.isdigit():
                record = await self.store.get_by_number(text.upper())
        if record is None:
            raise UnknownRecord(text)
        return record

    async def queue(self, now: datetime, limit: int | None = 100) -> list[QueueItem]:
        """REC-02: records awaiting classification, longest-waiting first."""
        records = await self.store.records(
            RecordFilter(status=RecordStatus.AWAITING_CLASSIFICATION, limit=limit)
        )
        # an arrival after `now` (the PBX's clock ahead of ours) has waited 0 s, not less
        return [QueueItem(r, max(0.0, (now - r.arrived_at).total_seconds())) for r in records]

    async def queue_page(
        self,
        now: datetime,
        text: str | None = None,
        offset: int = 0,
        limit: int = 50,
        text_number: str | None = None,
    ) -> tuple[list[QueueItem], int]:
        """REC-02: one page of the queue (longest-waiting first, optionally searched; a number
        also as `text_number`, its E.164 form) and how many records the whole search matches."""
        where = RecordFilter(
            status=RecordStatus.AWAITING_CLASSIFICATION,
            text=text or None,
            text_number=text_number,
            limit=limit,
            offset=offset,
        )
        records = await self.store.records(where)
        total = await self.store.count_matching(where)
        items = [QueueItem(r, max(0.0, (now - r.arrived_at).total_seconds())) for r in records]
        return items, total

    async def records(self, where: RecordFilter | None = None) -> list[PublicRecord]:
        """Records for lists and exports."""
        return await self.store.records(where or RecordFilter())

    async def copies(self, record: PublicRecord) -> list[PublicRecord]:
        """The other mailboxes' records of the same recording (issue 15), oldest first."""
        if record.recording_key is None:
            return []
        same = await self.store.records(RecordFilter(recording_key=record.recording_key))
        return [r for r in same if r.id != record.id]

    async def mailbox(self, user_id: str) -> list[PublicRecord]:
        """The owner's view: their own messages, minus the ones they deleted (REC-04, HAL-08)."""
        return await self.store.records(RecordFilter(owner_id=user_id, include_hidden=False))

    def _require_registrar(self, actor: str, action: str, ref: str) -> None:
        if actor not in self.settings.registrars:
            raise NotPermitted(actor, action, ref, "only registrars classify records")

    async def classify(
        self,
        ref: str | int,
        classification: Classification,
        actor: str,
        now: datetime,
        summary: str | None = None,
        case_reference: str | None = None,
    ) -> PublicRecord:
        """ALV-16/17: a registrar classifies a record; a changed classification is audited too."""
        record = await self.get(ref)
        self._require_registrar(actor, "classify", record.registration_number)
        if record.status is RecordStatus.DISPOSED:
            raise RecordDisposed(record.registration_number, record.disposal_rule)
        case_reference = (case_reference or "").strip() or None
        summary = (summary or "").strip() or record.summary
        if classification is Classification.PUBLIC_REGISTERED and not case_reference:
            raise InvalidClassification(
                "ange ärendets diarienummer: en allmän handling som registreras i ett ärende"
                " behöver det",
                "case_reference",
            )
        if classification is not Classification.PUBLIC_REGISTERED and case_reference:
            raise InvalidClassification(
                "ett ärendenummer hör bara till 'Allmän handling, registrerad i ärende':"
                " ta bort numret eller välj den klassificeringen",
                "case_reference",
            )
        if not summary:
            raise InvalidClassification(
                "skriv en kort sammanfattning av vad meddelandet gäller (REC-01)", "summary"
            )
        changes: dict[str, object] = {
            "status": RecordStatus.CLASSIFIED,
            "classification": classification,
            "case_reference": case_reference,
            "summary": summary,
            "classified_at": now,
            "classified_by": actor,
        }
        return await self.store.update_record(record.id, changes, actor, "record.classified", now)

    async def play(self, ref: str | int, actor: str, now: datetime) -> tuple[PublicRecord, Path]:
        """ALV-14: check who may listen, audit the playback, and hand back the audio path."""
        record = await self.get(ref)
        why = policy.may_play(actor, record, self.org.directory, self.settings)
        if why is not None:
            await self.store.append_event(
                actor, "record.play_refused", record.id, None, {"reason": why}, now
            )
            raise NotPermitted(actor, "play", record.registration_number, why)
        if record.status is RecordStatus.DISPOSED:
            raise RecordDisposed(record.registration_number, record.disposal_rule)
        path = self.audio.path_for(record.sha256, record.audio_format)
        heard = policy.counts_as_heard(actor, record, self.org.directory)
        if heard and record.first_heard_at is None:
            record = await self.store.update_record(
                record.id, {"first_heard_at": now}, actor, "record.played", now, {"by": actor}
            )
        else:
            await self.store.append_event(
                actor, "record.played", record.id, None, {"by": actor}, now
            )
        return record, path

    async def hide(self, ref: str | int, actor: str, now: datetime) -> PublicRecord:
        """REC-04: the owner's "delete" only hides the message from the owner."""
        record = await self.get(ref)
        if actor != record.owner_id:
            raise NotPermitted(actor, "delete", record.registration_number, "not the mailbox owner")
        if record.hidden_from_owner:
            return record
        return await self.store.update_record(
            record.id, {"hidden_from_owner": True}, actor, "record.hidden_by_owner", now
        )

    async def dispose(self, now: datetime, actor: str, dry_run: bool = False) -> list[Disposal]:
        """REC-04: destroy audio of records whose disposal rule has come due; keep metadata."""
        due: list[Disposal] = []
        for rule in self.settings.disposal_rules:
            candidates = await self.store.records(
                RecordFilter(status=RecordStatus.CLASSIFIED, classification=rule.classification)
            )
            due.extend(
                Disposal(r, rule.name) for r in candidates if policy.disposal_due(r, rule, now)
            )
        if dry_run or not due:
            return due
        await self.store.append_event(
            actor,
            "disposal.run_started",
            None,
            None,
            {
                "records": [d.record.registration_number for d in due],
                "rules": sorted({d.rule for d in due}),
            },
            now,
        )
        done: list[Disposal] = []
        for d in due:
            # Metadata first, then the file: a crash between them leaves audio for the sweep below.
            updated = await self.store.update_record(
                d.record.id,
                {"status": RecordStatus.DISPOSED, "disposed_at": now, "disposal_rule": d.rule},
                actor,
                "record.disposed",
                now,
                {"rule": d.rule},
            )
            done.append(Disposal(updated, d.rule))
        await self._sweep_disposed_audio()
        await self.store.append_event(
            actor,
            "disposal.run_finished",
            None,
            None,
            {"disposed": [d.record.registration_number for d in done]},
            now,
        )
        return done

    async def _sweep_disposed_audio(self) -> None:
        disposed = await self.store.records(RecordFilter(status=RecordStatus.DISPOSED))
        keep = {
            (r.sha256, r.audio_format)
            for r in await self.store.records(RecordFilter())
            if r.status is not RecordStatus.DISPOSED
        }
        for r in disposed:
            if (r.sha256, r.audio_format) not in keep:
                await asyncio.to_thread(self.audio.remove, r.sha256, r.audio_format)

    async def overdue(self, now: datetime) -> list[OverdueMailbox]:
        """ALV-13: per mailbox, messages unheard past one working day, and whom to tell."""
        unheard = await self.store.records(RecordFilter(unheard_only=True))
        groups: dict[tuple[str | None, str], list[PublicRecord]] = {}
        for r in unheard:
            deadline = policy.listening_deadline(
                r.arrived_at, self.org.timezone, self.org.working_hours, self.org.holidays
            )
            if now > deadline:
                groups.setdefault((r.owner_id, r.mailbox), []).append(r)
        out: list[OverdueMailbox] = []
        for (owner_id, mailbox), records in sorted(
            groups.items(), key=lambda kv: kv[1][0].arrived_at
        ):
            owner = self.org.directory.user(owner_id) if owner_id else None
            notify = policy.who_to_tell(owner, self.settings.registrars)
            out.append(
                OverdueMailbox(owner_id, mailbox, tuple(records), records[0].arrived_at, notify)
            )
        return out

    async def verify(self, check_audio: bool = True) -> VerifyReport:
        """REC-03: the database's integrity check; the audit chain; every record row against
        what the chain says it holds; every kept audio copy re-hashed against its record."""
        integrity = tuple(await self.store.integrity_problems(full=True))
        events = await self.store.events()
        chain = verify_chain(events, await self.store.audit_head())
        rows = await self.store.record_contents()
        records = verify_records(events, rows, CONTENT_COLUMNS)
        mismatch: list[str] = []
        checked = 0
        if check_audio:
            hashed: dict[tuple[str, str], bool] = {}  # copies share one audio file
            for r in await self.store.records(RecordFilter()):
                if r.status is RecordStatus.DISPOSED:
                    continue
                checked += 1
                key = (r.sha256, r.audio_format)
                if key not in hashed:
                    hashed[key] = await asyncio.to_thread(self.audio.verify, *key)
                if not hashed[key]:
                    mismatch.append(r.registration_number)
        return VerifyReport(chain, checked, tuple(mismatch), records, integrity)
