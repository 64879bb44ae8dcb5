"""Issue 21, REC-02 (registration without delay): intake commits in groups — a batch's records,
numbers and audit events in one transaction of a few statements, not seven per message — and
registers exactly what one message after another would: the same numbers, the same audit
chain, every audio copy byte for byte, a message met twice in one pass registered once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from storekit import Storage, make_storage
from vmkit import LATER, message_txt, put_message
from vmkit import wav_bytes as wav

from routing.models import Organisation
from storage.postgresql import PgDb
from storage.sqlite import SqliteDb
from voicemail.intake import SpoolIntake
from voicemail.models import VoicemailSettings
from voicemail.register import RecordFilter
from voicemail.service import Register

T0 = 1795449850


def fill(spool: Path) -> int:
    """25 message files in three mailboxes: one recording copied into two mailboxes, one without
    msg_id, one also copied to Old/ (the same message twice in one pass); how many records."""
    for n in range(20):
        box = ("83012", "83013", "83014")[n % 3]
        txt = message_txt(T0 + n, f"{T0 + n}-{n:08x}", mailbox=box)
        put_message(spool, box, n // 3, txt, wav(bytes([n]) * 16000))
    shared = message_txt(T0 + 100, f"{T0 + 100}-shared", mailbox="83012")
    put_message(spool, "83012", 50, shared, wav(b"s" * 16000))
    put_message(spool, "83013", 50, shared, wav(b"s" * 16000))
    put_message(spool, "83014", 51, message_txt(T0 + 200, None, mailbox="83014"), wav(b"n" * 16000))
    twice = message_txt(T0 + 300, f"{T0 + 300}-twice", mailbox="83014")
    put_message(spool, "83014", 52, twice, wav(b"t" * 16000))
    put_message(spool, "83014", 0, twice, wav(b"t" * 16000), folder="Old")
    return 24


Statements = Counter[str]


def counting(monkeypatch: pytest.MonkeyPatch) -> Statements:
    """Count the statements the register sends (either engine)."""
    seen: Statements = Counter()
    for cls in (SqliteDb, PgDb):
        for name in ("fetch", "fetchone", "execute"):
            original = getattr(cls, name)

            def wrapped(
                original: Callable[..., Coroutine[Any, Any, Any]] = original,
            ) -> Callable[..., Coroutine[Any, Any, Any]]:
                async def call(self: object, sql: str, *args: object) -> Any:
                    seen[sql.split(" ", 1)[0].upper()] += 1
                    return await original(self, sql, *args)

                return call

            monkeypatch.setattr(cls, name, wrapped())
    return seen


async def registered(register: Register) -> list[tuple[str, str, str]]:
    """(registration number, intake key, audio hash) of every record, by number."""
    records = await register.store.records(RecordFilter())
    return sorted((r.registration_number, r.intake_key, r.sha256) for r in records)


async def test_rec02_a_batch_is_one_transaction_of_a_few_statements(
    register: Register,
    spool: Path,
    storage: Storage,
    org: Organisation,
    settings: VoicemailSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """REC-02 / issue 21: 24 records in one batch take one transaction of a few statements
    (not 7 per record); the register then holds what one message at a time gives: the same
    numbers for the same messages, an unbroken audit chain with the same head, the audio
    byte for byte; the message met in INBOX and Old/ is registered once."""
    expected = fill(spool)
    one_by_one_spool = tmp_path / "spool-2"
    fill(one_by_one_spool)
    other = await make_storage(storage.engine, tmp_path / "db-2").open_register(org, settings)
    try:
        await SpoolIntake(other, one_by_one_spool, batch_size=1).run_once(LATER)
        want = await registered(other)
        want_head = await other.store.audit_head()
    finally:
        await other.close()
    statements = counting(monkeypatch)
    add_records = register.store.add_records
    per_batch: list[Statements] = []

    async def measured(*args: Any, **kwargs: Any) -> Any:
        before = Counter(statements)
        try:
            return await add_records(*args, **kwargs)
        finally:
            per_batch.append(statements - before)

    monkeypatch.setattr(register.store, "add_records", measured)
    report = await SpoolIntake(register, spool, batch_size=64).run_once(LATER)
    assert len(report.taken) == expected and len(want) == expected
    [batch] = per_batch
    assert sum(batch.values()) <= 12, batch  # one record after another: 169 for these 24
    assert await registered(register) == want
    assert await register.store.audit_head() == want_head
    verified = await register.verify()
    assert verified.ok, verified
    assert verified.audio_checked == expected
