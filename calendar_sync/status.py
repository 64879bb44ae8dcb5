"""Free/busy status of an iCalendar event, as Outlook and Exchange write it (HV-01)."""

from __future__ import annotations

from routing.absence import BusyStatus

_CDO_STATUS = {
    "FREE": BusyStatus.FREE,
    "TENTATIVE": BusyStatus.TENTATIVE,
    "BUSY": BusyStatus.BUSY,
    "OOF": BusyStatus.OOF,
    "WORKINGELSEWHERE": BusyStatus.WORKING_ELSEWHERE,
}

# EWS LegacyFreeBusyStatus / Graph scheduleItem.status spellings, lower-cased
_NAMED_STATUS = {
    "free": BusyStatus.FREE,
    "tentative": BusyStatus.TENTATIVE,
    "busy": BusyStatus.BUSY,
    "oof": BusyStatus.OOF,
    "away": BusyStatus.OOF,
    "workingelsewhere": BusyStatus.WORKING_ELSEWHERE,
    "nodata": BusyStatus.NO_DATA,
    "unknown": BusyStatus.NO_DATA,
}


def event_status(cdo_busystatus: str | None, transp: str | None) -> BusyStatus:
    """Status of one VEVENT.

    Outlook writes X-MICROSOFT-CDO-BUSYSTATUS even where TRANSP disagrees (a 'free' reminder is
    TRANSP:OPAQUE in some exports), so the CDO value wins; without it TRANSPARENT means free.
    """
    if cdo_busystatus:
        status = _CDO_STATUS.get(cdo_busystatus.strip().upper())
        if status is not None:
            return status
    if transp and transp.strip().upper() == "TRANSPARENT":
        return BusyStatus.FREE
    return BusyStatus.BUSY


def named_status(name: str) -> BusyStatus:
    """Status from an EWS or Graph name ('Busy', 'oof', 'workingElsewhere'); unknown → NO_DATA."""
    return _NAMED_STATUS.get(name.strip().lower(), BusyStatus.NO_DATA)
