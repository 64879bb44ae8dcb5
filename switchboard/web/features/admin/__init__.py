"""The administrator's switches: voicemail for everyone (ALV-12) and each user's (ALV-05, ALV-10,
ALV-19, ALV-21)."""
