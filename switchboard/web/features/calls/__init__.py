"""IT's call log (ALV-18) and threats flagged in calls (ALV-20)."""
