"""ALV-23/REC-04/HAL-08: the phone mailbox keeps its messages; what the owner does there counts.

app_voicemail is played by hand: listening moves `INBOX/msgNNNN` to `Old/` and renumbers the
rest (renames keep the files); deleting removes both files.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from vmkit import LATER, copy_real_spool, make_org, message_txt, put_message
from vmkit import wav_bytes as wav

from routing.models import Directory, User
from voicemail.intake import SpoolIntake
from voicemail.phonewatch import HEARD_ON_PHONE
from voicemail.service import Register

ANNA = "anna.andersson"


def listen_on_phone(spool: Path, mailbox: str, n: int, to: int, renumber: int = 0) -> None:
    """What app_voicemail does after a message is played: INBOX/msg<n> → Old/msg<to>, and the
    remaining INBOX messages renumbered down (`renumber` of them after n)."""
    inbox, old = spool / "default" / mailbox / "INBOX", spool / "default" / mailbox / "Old"
    old.mkdir(exist_ok=True)
    for ext in ("wav", "txt"):
        os.rename(inbox / f"msg{n:04d}.{ext}", old / f"msg{to:04d}.{ext}")
    for k in range(n + 1, n + 1 + renumber):
        for ext in ("wav", "txt"):
            os.rename(inbox / f"msg{k:04d}.{ext}", inbox / f"msg{k - 1:04d}.{ext}")


def delete_on_phone(spool: Path, mailbox: str, folder: str, n: int) -> None:
    """What app_voicemail does on "delete": both files removed."""
    for ext in ("wav", "txt"):
        (spool / "default" / mailbox / folder / f"msg{n:04d}.{ext}").unlink()


async def test_alv23_intake_leaves_the_phone_mailbox_whole(register: Register, spool: Path) -> None:
    """ALV-23: taking a message in never empties the owner's phone mailbox; the register's copy
    is byte for byte the spool's, and later passes skip the message without registering it twice."""
    copy_real_spool(spool)
    inbox = spool / "default/83012/INBOX"
    before = {p.name: p.read_bytes() for p in inbox.iterdir()}
    intake = SpoolIntake(register, spool)
    [record] = (await intake.run_once(LATER)).taken
    assert {p.name: p.read_bytes() for p in inbox.iterdir()} == before  # MWI stays lit
    _, path = await register.play(record.id, ANNA, LATER)
    assert path.read_bytes() == before["msg0000.wav"]
    again = await intake.run_once(LATER + timedelta(seconds=2))
    assert again.taken == [] and again.kept == 1 and again.waiting == []
    # a new process (nothing remembered) recognises it as registered too
    fresh = await SpoolIntake(register, spool).run_once(LATER + timedelta(seconds=4))
    assert fresh.taken == [] and fresh.already_registered == 1
    assert await register.store.count() == 1


async def test_alv23_listening_on_the_phone_is_audited(register: Register, spool: Path) -> None:
    """ALV-23/ALV-13: INBOX → Old is listening on the phone: "hörd i telefonen" in the audit
    trail, first_heard_at set, and the message is no longer overdue."""
    copy_real_spool(spool)
    intake = SpoolIntake(register, spool)
    [record] = (await intake.run_once(LATER)).taken
    late = LATER + timedelta(days=3)
    assert [o.mailbox for o in await register.overdue(late)] == ["83012"]
    listen_on_phone(spool, "83012", 0, 0)
    report = await intake.run_once(LATER + timedelta(minutes=1))
    assert report.phone is not None and report.phone.heard == [record.id]
    heard = await register.get(record.id)
    assert heard.first_heard_at == LATER + timedelta(minutes=1)
    [event] = [e for e in await register.store.events(record.id) if e.action.endswith("phone")]
    assert event.action == "record.heard_on_phone" and event.after is not None
    assert event.after["händelse"] == HEARD_ON_PHONE
    assert await register.overdue(late) == []
    # nothing more happens while it stays in Old
    quiet = await intake.run_once(LATER + timedelta(minutes=2))
    assert quiet.phone is not None and quiet.phone.heard == [] and quiet.taken == []


async def test_alv23_renumbering_is_not_a_new_message_or_a_delete(
    register: Register, spool: Path
) -> None:
    """ALV-23: app_voicemail renumbers INBOX after a message moves to Old; the renamed message
    is recognised by its content, neither taken in again nor counted as deleted or heard."""
    for n in range(3):
        put_message(
            spool,
            "83012",
            n,
            message_txt(1795449850 + n, f"1795449850-0000000{n}"),
            wav(bytes([n])),
        )
    intake = SpoolIntake(register, spool, missing_after_s=0)
    taken = (await intake.run_once(LATER)).taken
    ids = {r.msg_id: r.id for r in taken}
    listen_on_phone(spool, "83012", 0, 0, renumber=2)
    report = await intake.run_once(LATER + timedelta(minutes=1))
    report2 = await intake.run_once(LATER + timedelta(minutes=5))
    assert report.taken == [] and report2.taken == []
    assert report.phone is not None and report.phone.heard == [ids["1795449850-00000000"]]
    assert report.phone.deleted == [] and report2.phone is not None and report2.phone.deleted == []
    assert await register.store.count() == 3
    unheard = [r.msg_id for r in await register.mailbox(ANNA) if r.first_heard_at is None]
    assert unheard == ["1795449850-00000001", "1795449850-00000002"]


async def test_rec04_delete_on_the_phone_only_hides(register: Register, spool: Path) -> None:
    """REC-04: "delete" on the phone hides the message from its owner once it stays gone; the
    register keeps the record and its audio, and a registrar can still play it."""
    copy_real_spool(spool)
    intake = SpoolIntake(register, spool, missing_after_s=30)
    [record] = (await intake.run_once(LATER)).taken
    listen_on_phone(spool, "83012", 0, 0)
    await intake.run_once(LATER + timedelta(seconds=10))
    delete_on_phone(spool, "83012", "Old", 0)
    first = await intake.run_once(LATER + timedelta(seconds=20))
    assert first.phone is not None and first.phone.deleted == []  # maybe being renumbered
    second = await intake.run_once(LATER + timedelta(seconds=60))
    assert second.phone is not None and second.phone.deleted == [record.id]
    assert await register.mailbox(ANNA) == []
    kept = await register.get(record.id)
    assert kept.hidden_from_owner and kept.status.value == "awaiting_classification"
    _, path = await register.play(record.id, "rut.registrator", LATER + timedelta(minutes=2))
    assert path.exists()
    actions = [e.action for e in await register.store.events(record.id)]
    assert actions.count("record.deleted_on_phone") == 1


async def test_rec04_a_message_briefly_out_of_sight_is_not_deleted(
    register: Register, spool: Path
) -> None:
    """REC-04: a message away for less than `missing_after_s` (a rename in progress) stays."""
    copy_real_spool(spool)
    intake = SpoolIntake(register, spool, missing_after_s=30)
    [record] = (await intake.run_once(LATER)).taken
    d = spool / "default/83012/INBOX"
    os.rename(d / "msg0000.txt", d.parent / ".moving.txt")
    await intake.run_once(LATER + timedelta(seconds=5))
    os.rename(d.parent / ".moving.txt", d / "msg0000.txt")
    report = await intake.run_once(LATER + timedelta(seconds=120))
    assert report.phone is not None and report.phone.deleted == []
    assert [r.id for r in await register.mailbox(ANNA)] == [record.id]


async def test_alv23_heard_before_intake_saw_it(register: Register, spool: Path) -> None:
    """ALV-23: a message already in Old when first seen (listened to while the service was
    down) is taken in and counts as heard on the phone."""
    put_message(spool, "83012", 0, message_txt(1795449850, "1795449850-00000009"), wav(b"x"), "Old")
    report = await SpoolIntake(register, spool).run_once(LATER)
    [record] = report.taken
    assert report.phone is not None and report.phone.heard == [record.id]
    assert (await register.get(record.id)).first_heard_at == LATER


async def test_hal08_successor_does_not_inherit_the_phone_copies(
    register: Register, spool: Path, tmp_path: Path
) -> None:
    """HAL-08: when 83012 passes to a successor, Anna's messages leave the phone mailbox (the
    register keeps them, still Anna's); the successor's own messages stay on the phone."""
    put_message(spool, "83012", 0, message_txt(1795449850, "1795449850-00000005"), wav(b"a"))
    [anna] = (await SpoolIntake(register, spool).run_once(LATER)).taken
    users = tuple(
        replace(u, mailbox="83099", extension="+462683099") if u.id == ANNA else u
        for u in register.org.directory.users
    )
    successor = User("sara.svensson", "Sara Svensson", "+462683012", None, mailbox="83012")
    org2 = replace(make_org(tmp_path / "data"), directory=Directory.build((*users, successor)))
    reg2 = Register(register.store, org2, register.settings, register.audio)
    put_message(spool, "83012", 1, message_txt(1795449900, "1795449900-00000006"), wav(b"b"))
    report = await SpoolIntake(reg2, spool).run_once(LATER + timedelta(minutes=1))
    assert [r.owner_id for r in report.taken] == ["sara.svensson"]
    assert report.phone is not None and report.phone.withdrawn == [anna.id]
    inbox = sorted(p.name for p in (spool / "default/83012/INBOX").iterdir())
    assert inbox == ["msg0001.txt", "msg0001.wav"]
    assert [r.id for r in await reg2.mailbox(ANNA)] == [anna.id]
    assert [r.msg_id for r in await reg2.mailbox("sara.svensson")] == ["1795449900-00000006"]
