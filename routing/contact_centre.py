"""Which groups are the contact centre (HAL-03): never a covering point, not an answered call.

A group is the contact centre when organisation.yaml's `contact_centre.groups` lists it or,
without that list, when its id or designation says so. The configuration check (no covering
point may be the contact centre) and the simulation's outcomes read the same rule from here.
"""

from __future__ import annotations

from routing.models import ContactCentre, Group

CONTACT_CENTRE_WORDS = ("kontaktcenter", "medborgarservice", "kundcenter", "växel")


def is_contact_centre(group: Group, centre: ContactCentre | None) -> bool:
    """HAL-03: whether the group is the contact centre (Medborgarservice, kontaktcenter)."""
    if centre is not None and centre.groups:
        return group.id in centre.groups
    text = f"{group.id} {group.designation}".casefold()
    return any(word in text for word in CONTACT_CENTRE_WORDS)
