"""Copies of one message and a damaged register (issue 15, items 3 and 9), on SQLite and
PostgreSQL: every recipient's copy is its own record, linked to the others; a register that is
empty, replaced, damaged or edited behind its back is found out at start or by `verify`.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from storekit import ENGINES, Storage, make_storage

# The register's test builders (vmkit) live beside the voicemail tests; share them, not copy.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "voicemail"))

from vmkit import LATER, make_org, make_settings, message_txt, put_message
from vmkit import wav_bytes as wav

from routing.models import Organisation
from routing.presence import PresenceRules
from storage import postgresql as pg
from storage import sqlite
from storage.db import Db
from switchboard.cli import main
from switchboard.cli.registry import shared as registry_shared
from switchboard.config import Config
from voicemail.audit import canonical
from voicemail.errors import StorageError
from voicemail.intake import SpoolIntake
from voicemail.models import Classification
from voicemail.register import to_db_time
from voicemail.register_schema import SCHEMA_VERSION, migrations_for
from voicemail.register_sql import INSERT_EVENT_SQL, LAST_EVENT_SQL, SET_HEAD_SQL, link_event
from voicemail.service import Register

SECOND = b"\x01\x00" * 8000
T = 1795449850
MSG_ID = "1795449850-00000000"
REGISTRAR = "rut.registrator"


@pytest.fixture
def org(tmp_path: Path) -> Organisation:
    """The test organisation."""
    return make_org(tmp_path / "data")


@pytest.fixture(params=ENGINES)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """A fresh register database on each engine."""
    return make_storage(str(request.param), tmp_path / "db")


@pytest.fixture
async def register(org: Organisation, storage: Storage) -> AsyncIterator[Register]:
    """An open register on the parametrized engine."""
    reg = await storage.open_register(org, make_settings())
    try:
        yield reg
    finally:
        await reg.close()


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    """An empty spool root."""
    p = tmp_path / "spool"
    p.mkdir()
    return p


def copy_to(spool: Path, mailboxes: list[str], msg_id: str = MSG_ID, t: int = T) -> bytes:
    """One message as `VoiceMail(83012&83013)` leaves it: the same txt and audio, byte for
    byte, in every recipient's INBOX (origmailbox names the first). The txt's bytes."""
    txt = message_txt(t, msg_id, mailbox=mailboxes[0])
    for box in mailboxes:
        put_message(spool, box, 0, txt, wav(SECOND))
    return txt


# --- item 3: copies of one message in several mailboxes -----------------------------------


async def test_copies_in_two_mailboxes_are_two_linked_records(
    register: Register, spool: Path
) -> None:
    """Issue 15 item 3: `VoiceMail(83012&83013)` writes the same msg_id twice; each recipient
    gets their own record (their own number, their own owner, playable by them), linked as
    copies of one recording; nothing is deleted as "already registered"."""
    copy_to(spool, ["83012", "83013"])
    report = await SpoolIntake(register, spool, remove_taken=True).run_once(LATER)
    assert report.already_registered == 0 and report.quarantined == []
    anna, bertil = sorted(report.taken, key=lambda r: r.mailbox)
    assert (anna.owner_id, bertil.owner_id) == ("anna.andersson", "bertil.berg")
    assert anna.msg_id == bertil.msg_id == MSG_ID
    assert anna.registration_number != bertil.registration_number
    assert anna.recording_key == bertil.recording_key == MSG_ID
    assert [c.id for c in await register.copies(anna)] == [bertil.id]
    assert [r.id for r in await register.mailbox("bertil.berg")] == [bertil.id]
    _, path = await register.play(bertil.id, "bertil.berg", LATER)
    assert path.read_bytes() == wav(SECOND)
    assert not leftovers(spool)
    # dropped again (a restore, a second pass): each copy is recognised as its own
    copy_to(spool, ["83012", "83013"])
    again = await SpoolIntake(register, spool, remove_taken=True).run_once(LATER)
    assert again.taken == [] and again.already_registered == 2
    assert (await register.verify()).ok


async def test_forwarded_copy_arriving_later_is_taken(register: Register, spool: Path) -> None:
    """Issue 15 item 3: a copy forwarded to 83014 after the original was registered (same
    msg_id, same txt bytes) is registered too, for its own owner."""
    copy_to(spool, ["83012"])
    [first] = (await SpoolIntake(register, spool).run_once(LATER)).taken
    copy_to(spool, ["83014"])
    [forwarded] = (await SpoolIntake(register, spool).run_once(LATER)).taken
    assert forwarded.owner_id == "cecilia.carlsson"
    assert forwarded.recording_key == first.recording_key


async def test_copys_lone_txt_is_not_taken_for_the_registered_original(
    register: Register, spool: Path
) -> None:
    """Issue 15 item 3: a copy's txt that is there before its audio (a forward being copied)
    has the very bytes of the registered original's txt; it waits for its audio instead of
    being removed as a leftover of the original."""
    txt = copy_to(spool, ["83012"])
    await SpoolIntake(register, spool, remove_taken=True).run_once(LATER)
    d = put_message(spool, "83013", 0, txt, None)
    report = await SpoolIntake(register, spool, orphan_txt_after_s=1e12).run_once(LATER)
    assert report.already_registered == 0 and (d / "msg0000.txt").exists()
    put_message(spool, "83013", 0, None, wav(SECOND))
    [copy] = (await SpoolIntake(register, spool).run_once(LATER)).taken
    assert copy.mailbox == "83013"


async def _make_v1(storage: Storage) -> tuple[Db, Callable[[], Awaitable[None]]]:
    """A schema-1 register (before issue 15) on the engine, through the shared plumbing."""

    def too_new(v: int) -> Exception:
        return StorageError(str(v))

    v1 = migrations_for(storage.engine)[:1]
    if storage.engine == "postgresql":
        assert storage.dsn is not None
        pool = await pg.open_migrated(storage.dsn, "public", 2, "schema_migrations", v1, 1, too_new)
        return pg.PgDb(pool), pool.close
    storage.db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = await sqlite.connect(storage.db_path, "FULL")
    await sqlite.migrate(conn, "schema_migrations", v1, 1, too_new)
    return sqlite.SqliteDb(conn, asyncio.Lock()), conn.close


async def _legacy_record(db: Db, audio_sha: str) -> None:
    """One record as schema 1 stored it: intake_key = msg_id, a short `record.received`."""
    now = datetime(2026, 11, 23, 16, 5, tzinfo=UTC)
    arrived = to_db_time(datetime.fromtimestamp(T, UTC))
    number = "ALV-RÖST-2026-000001"
    async with db.transaction("switchboard.register.chain:public") as tx:
        await tx.execute(
            "INSERT INTO registration_series (prefix, year, last_seq) VALUES ('ALV-RÖST', 2026, 1)"
        )
        await tx.execute(
            "INSERT INTO records (registration_number, reg_prefix, reg_year, reg_seq,"
            " intake_key, msg_id, txt_sha256, arrived_at, registered_at, context, mailbox,"
            " owner_id, caller_raw, caller_number, caller_name, duration_s, sha256,"
            " audio_bytes, audio_format, spool_fields, status)"
            " VALUES (?, 'ALV-RÖST', 2026, 1, ?, ?, ?, ?, ?, 'default', '83012',"
            " 'anna.andersson', '<0701234567>', '+46701234567', NULL, 1, ?, ?, 'wav', ?,"
            " 'awaiting_classification')",
            (number, MSG_ID, MSG_ID, "f" * 64, arrived, to_db_time(now), audio_sha,
             len(wav(SECOND)), canonical([["origtime", str(T)]])),
        )  # fmt: skip
        after = {
            "registration_number": number,
            "intake_key": MSG_ID,
            "arrived_at": arrived,
            "mailbox": "83012",
            "owner_id": "anna.andersson",
            "sha256": audio_sha,
            "audio_bytes": len(wav(SECOND)),
        }
        last = await tx.fetchone(LAST_EVENT_SQL)
        _, params = link_event(last, "system:intake", "record.received", 1, None, after, now)
        await tx.execute(INSERT_EVENT_SQL, params)
        await tx.execute(SET_HEAD_SQL, (params[-1],))


async def test_schema_1_register_migrates_seals_and_takes_copies(
    org: Organisation, storage: Storage, spool: Path
) -> None:
    """Issue 15 item 3 (migration): a register from before, on either engine, is migrated
    (recording key, per-mailbox identity), its rows sealed into the audit chain so `verify`
    holds them; then the original's copy in another mailbox is registered and linked, and the
    original dropped again is still recognised."""
    db, close = await _make_v1(storage)
    try:
        await _legacy_record(db, hashlib.sha256(wav(SECOND)).hexdigest())
    finally:
        await close()
    async with await storage.open_register(org, make_settings()) as register:
        assert await register.store.schema_version() == SCHEMA_VERSION == 5
        sealed = [e.action for e in await register.store.events(1)]
        assert sealed == ["record.received", "record.sealed"]
        # verify: the chain and every row hold (the audio of the legacy row is not stored here)
        report = await register.verify(check_audio=False)
        assert report.ok, report.records.problems
        copy_to(spool, ["83012", "83013"])
        result = await SpoolIntake(register, spool).run_once(LATER)
        [copy] = result.taken
        assert result.already_registered == 1
        assert copy.mailbox == "83013" and copy.recording_key == MSG_ID
        legacy = await register.get(1)
        assert [c.id for c in await register.copies(legacy)] == [copy.id]
        assert (await register.verify(check_audio=False)).ok
    async with await storage.open_register(org, make_settings()) as again:  # sealed once
        assert [e.action for e in await again.store.events(1)].count("record.sealed") == 1


# --- item 9: a damaged register is never silent --------------------------------------------


async def _one_message(register: Register, spool: Path) -> None:
    copy_to(spool, ["83012"])
    await SpoolIntake(register, spool).run_once(LATER)


def leftovers(spool: Path) -> list[Path]:
    """Message files still in the spool."""
    return list(spool.rglob("msg*"))


def empty_sqlite(db: Path, zero_length: bool) -> None:
    """The register file truncated to zero bytes (or deleted), its WAL and index gone."""
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{db}{suffix}")
        if zero_length and suffix == "":
            p.write_bytes(b"")
        else:
            p.unlink(missing_ok=True)


@pytest.mark.parametrize("damage", ["zero_length", "deleted"])
async def test_empty_register_beside_kept_audio_refuses_to_start(
    org: Organisation, storage: Storage, spool: Path, damage: str
) -> None:
    """Issue 15 item 9: the register emptied (a zero-length file, a deleted file, a new
    PostgreSQL database) while audio sits in the store: opening it is an error, every time,
    instead of issuing ALV-RÖST-2026-000001 again."""
    async with await storage.open_register(org, make_settings()) as register:
        await _one_message(register, spool)
    if storage.engine == "sqlite":
        empty_sqlite(storage.db_path, zero_length=damage == "zero_length")
        fresh = storage
    else:
        fresh = make_storage("postgresql", storage.db_path.parent)  # a new, empty database
    for _ in range(2):  # and the next start too: the refusal does not wear off
        with pytest.raises(StorageError, match="audio files"):
            await fresh.open_register(org, make_settings())


async def test_register_from_before_the_mark_empty_beside_audio_refuses(
    org: Organisation, storage: Storage, spool: Path
) -> None:
    """Issue 15 item 9: an audio store from before the register mark existed, holding audio,
    next to an empty register: refused ("empty register next to a non-empty audio store")."""
    async with await storage.open_register(org, make_settings()) as register:
        await _one_message(register, spool)
        marker = register.audio.root / ".register-id"
    marker.unlink()
    await storage.raw("DELETE FROM records")
    with pytest.raises(StorageError, match="register is empty"):
        await storage.open_register(org, make_settings())


async def test_new_register_with_empty_audio_store_starts(
    org: Organisation, storage: Storage
) -> None:
    """A register that is new next to an audio store without audio is simply a new register."""
    async with await storage.open_register(org, make_settings()) as register:
        assert await register.store.count() == 0


def test_overwritten_page_is_refused_at_start_and_by_verify(
    org: Organisation, tmp_path: Path, spool: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    """Issue 15 item 9: a page of register.sqlite3 overwritten (integrity_check: malformed):
    opening is a one-line StorageError and `registry verify` exits 1 saying so."""
    db = tmp_path / "reg.sqlite3"

    async def fill() -> None:
        async with await Register.open(org, make_settings(), db) as register:
            for n in range(40):  # enough rows for several pages
                put_message(spool, "83012", n, message_txt(T + n, f"{T + n}-{n:08x}"), wav(SECOND))
            await SpoolIntake(register, spool).run_once(LATER)

    asyncio.run(fill())
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[2 * page : 3 * page] = b"\xa5" * page  # one whole page of garbage
    db.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=r"damaged|malformed"):
        asyncio.run(Register.open(org, make_settings(), db))
    code, _, err = cli("verify")
    assert code == 1 and "Traceback" not in err
    assert "damaged" in err or "malformed" in err


@pytest.fixture
def cli(
    tmp_path: Path, org: Organisation, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., tuple[int, str, str]]:  # fmt: skip
    """`switchboard registry CMD` on tmp_path/reg.sqlite3 for the organisation built in code."""
    config = Config(org, PresenceRules(org.timezone, org.working_hours), make_settings(), tmp_path)
    monkeypatch.setattr(registry_shared, "load", lambda folder: config)

    def run(*argv: str) -> tuple[int, str, str]:
        cmd, *rest = argv
        code = main(["registry", cmd, "ORGDIR", "--db", str(tmp_path / "reg.sqlite3"), *rest])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


EDITS = {
    "caller_name": "UPDATE records SET caller_name = 'Mallory' WHERE id = 1",
    "summary": "UPDATE records SET summary = 'inget viktigt' WHERE id = 1",
    "arrived_at": "UPDATE records SET arrived_at = '2026-01-01T00:00:00.000000+00:00'",
    "hidden": "UPDATE records SET hidden_from_owner = 1 WHERE id = 2",
    "sha256": f"UPDATE records SET sha256 = '{'0' * 64}' WHERE id = 2",
    "deleted_row": "DELETE FROM records WHERE id = 2",
}


@pytest.mark.parametrize("edit", sorted(EDITS))
async def test_rows_edited_in_the_database_fail_verify(
    register: Register, spool: Path, storage: Storage, edit: str
) -> None:
    """Issue 15 item 9: a record row changed, or removed, behind the register's back: the audit
    chain now covers record content, so `verify` names the record and the column."""
    copy_to(spool, ["83012", "83013"])
    await SpoolIntake(register, spool).run_once(LATER)
    await register.classify(1, Classification.PUBLIC_MINOR, REGISTRAR, LATER, "Felringning")
    assert (await register.verify()).ok
    await storage.raw(EDITS[edit])
    report = await register.verify()
    assert not report.ok and report.chain.ok  # the events themselves were not touched
    problems = " ".join(report.records.problems)
    column = {"hidden": "hidden_from_owner", "deleted_row": "gone"}.get(edit, edit)
    assert column in problems


async def test_row_inserted_behind_the_back_fails_verify(
    register: Register, spool: Path, storage: Storage
) -> None:
    """Issue 15 item 9: a record row the audit trail never received is reported."""
    copy_to(spool, ["83012"])
    await SpoolIntake(register, spool).run_once(LATER)
    columns = "registration_number, reg_prefix, reg_year, reg_seq, intake_key, txt_sha256,"
    columns += " arrived_at, registered_at, context, mailbox, caller_raw, sha256, audio_bytes,"
    columns += " audio_format, spool_fields, status"
    await storage.raw(
        f"INSERT INTO records ({columns}) VALUES ('ALV-RÖST-2026-000099', 'ALV-RÖST', 2026, 99,"
        " 'forged', 'x', '2026-11-23T00:00:00.000000+00:00', '2026-11-23T00:00:00.000000+00:00',"
        f" 'default', '83012', '', '{'0' * 64}', 0, 'wav', '[]', 'awaiting_classification')"
    )
    report = await register.verify(check_audio=False)
    assert "ALV-RÖST-2026-000099: not in the audit trail" in " ".join(report.records.problems)


async def test_changed_audio_fails_verify_for_every_copy(register: Register, spool: Path) -> None:
    """Issue 15 item 9: `verify` re-hashes the audio against the recorded hash; both copies of
    one recording share the file, so both are reported."""
    copy_to(spool, ["83012", "83013"])
    taken = (await SpoolIntake(register, spool).run_once(LATER)).taken
    register.audio.path_for(taken[0].sha256, "wav").write_bytes(b"edited")
    report = await register.verify()
    assert sorted(report.audio_mismatch) == sorted(r.registration_number for r in taken)
