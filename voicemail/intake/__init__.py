"""Intake from app_voicemail's spool into the register: idempotent and crash-safe.

Order per batch, so a SIGKILL at any instant loses and duplicates nothing:

1. parse each ready `msgNNNN.txt` (pure) and skip messages the register already holds. A message
   is (context, mailbox, msg_id): app_voicemail copies one recording into every recipient's
   mailbox byte for byte, and each copy is its own record, linked by `recording_key`;
2. copy the audio into the content-addressed audio store (tmp, fsync, rename, dir fsync);
3. one transaction inserts the records, their numbers and audit events (WAL, synchronous=FULL);
4. the spool's copy stays: it is the owner's phone mailbox (ALV-23). `voicemail.phonewatch`
   then follows what the owner does with it on the phone (listens, deletes), and remembers
   what each file held, so a message already taken in is skipped, unread, on every later pass
   and never registered twice (by (mailbox, msg_id), else the audio hash). With
   `remove_taken` (the old mode) the spool files are removed instead: audio first, txt last;
   a txt left without audio is recognised by its hash, in its own mailbox, and removed.

One message never holds up the others: every spool entry is reached through
`voicemail.spoolfs` (no link followed, no FIFO opened, nothing removed outside the spool); a
link or a FIFO or a folder where a message file belongs, a txt that does not parse, and values
the register cannot hold are quarantined with their reason; a message that is not complete yet
(no `duration` line, audio still changing, or shorter than `duration` says) waits, and is
quarantined once it has stayed so for `incomplete_after_s`; anything unexpected while reading one
message is logged once and that message waits for the next pass.

The package: `spool_intake` (a pass and the loop), `batches` (group commit), `audio_copies`
(the batch's audio copies), `quarantine` (setting messages aside), `report` (what a pass did).
"""

from voicemail.intake.batches import caller_e164
from voicemail.intake.report import IntakeReport, Quarantined, printable
from voicemail.intake.spool_intake import SpoolIntake

__all__ = ["IntakeReport", "Quarantined", "SpoolIntake", "caller_e164", "printable"]
