"""Errors of the voicemail domain: one base, subclasses carry fields."""

from __future__ import annotations


class VoicemailError(Exception):
    """Base of every voicemail-domain error."""

    error_id = "voicemail-error"


class SpoolFormatError(VoicemailError, ValueError):
    """A `msgNNNN.txt` that is not app_voicemail's message format."""

    error_id = "malformed-spool-message"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsafeSpoolEntry(VoicemailError, OSError):
    """A spool entry that is not what app_voicemail writes there: a symbolic link, a FIFO, a
    device, or a directory where a file belongs. Never followed, opened or removed through."""

    error_id = "unsafe-spool-entry"

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path}: a {kind}, not a regular file or folder; never followed")
        self.path = path
        self.kind = kind


class AudioIncomplete(VoicemailError):
    """Message audio that is not (yet) whole: still growing, or shorter than the txt says."""

    error_id = "audio-incomplete"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RecordRefused(VoicemailError, ValueError):
    """A new record with a value no register column can hold (checked before any SQL runs)."""

    error_id = "record-refused"

    def __init__(self, intake_key: str, reason: str) -> None:
        super().__init__(f"{intake_key}: {reason}")
        self.intake_key = intake_key
        self.reason = reason


class UnknownRecord(VoicemailError, LookupError):
    """No record with this id or registration number."""

    error_id = "unknown-record"

    def __init__(self, ref: str) -> None:
        super().__init__(f"no record {ref!r}")
        self.ref = ref


class NotPermitted(VoicemailError, PermissionError):
    """The actor may not do this to this record (ALV-14, REC-04)."""

    error_id = "not-permitted"

    def __init__(self, actor: str, action: str, ref: str, why: str) -> None:
        super().__init__(f"{actor!r} may not {action} {ref}: {why}")
        self.actor = actor
        self.action = action
        self.ref = ref
        self.why = why


class RecordDisposed(VoicemailError):
    """The record's audio has been destroyed under a disposal rule (REC-04)."""

    error_id = "record-disposed"

    def __init__(self, ref: str, rule: str | None) -> None:
        super().__init__(f"{ref} was disposed of under rule {rule!r}; only its metadata is kept")
        self.ref = ref
        self.rule = rule


class InvalidClassification(VoicemailError, ValueError):
    """A classification request that lacks what it needs (e.g. a case reference); `field` is
    the input to correct (`classification`, `summary` or `case_reference`)."""

    error_id = "invalid-classification"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StorageError(VoicemailError):
    """The register's database is unusable (wrong schema version, corrupt file)."""

    error_id = "storage-error"


class GreetingError(VoicemailError):
    """A greeting could not be rendered (espeak-ng missing or failing)."""

    error_id = "greeting-failed"
