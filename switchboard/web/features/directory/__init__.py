"""The phone book and the availability board for staff, and each one's own manual redirect."""
