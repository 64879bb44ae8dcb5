"""The live reports: service level today (HAL-03/05, admin and IT), and a manager's unused
subscriptions (ALV-25) and blocked attempts (HAL-14)."""
