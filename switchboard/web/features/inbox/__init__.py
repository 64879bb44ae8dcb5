"""Mina röstmeddelanden: the mailbox owner's and delegates' web inbox (ALV-23, ALV-14, HAL-08)
and the owner's own greeting (ALV-11)."""
