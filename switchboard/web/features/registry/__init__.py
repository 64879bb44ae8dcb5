"""The registrar's side of the voicemail register: the queue, a record, classification, the
audit trail and the exports (REC-02, REC-03, REC-05)."""
