"""The switches' audit in words (issue 20): "2026-11-24 13.05 · Lena Lund · Anna Andersson ·
Röstbrevlåda: av → på", for the page and the API alike."""

from __future__ import annotations

from datetime import tzinfo

from routing.effective import GLOBAL_VOICEMAIL
from routing.models import Directory, SharedPhone, User
from switchboard.web.store import SwitchChange

SWITCH_TEXT = {
    "voicemail": "Röstbrevlåda",
    "mobile_follows_calendar": "Mobilen följer kalendern",
    "international_unlocked": "Utlandssamtal upplåsta",
    "blocked": "Spärrad",
    GLOBAL_VOICEMAIL: "Röstbrevlåda för alla med anknytning",
}
SCOPE_TEXT = {"org": "hela organisationen", "user": "en användare", "bulk": "flera på en gång"}
HISTORY_PER_PAGE = 20


def switch_text(name: str) -> str:
    """A switch's name in Swedish (the name itself when unknown)."""
    return SWITCH_TEXT.get(name, name)


def value_text(name: str, value: bool | None) -> str:
    """A switch's value in words: "på"/"av", or for a block "ja"/"nej"; "okänt" when unknown."""
    if value is None:
        return "okänt"
    if name == "blocked":
        return "ja" if value else "nej"
    return "på" if value else "av"


def who(directory: Directory, entry_id: str) -> str:
    """A person or shared phone by name ("Hela organisationen" for "")."""
    if not entry_id:
        return "Hela organisationen"
    entry = directory.by_id.get(entry_id)
    if isinstance(entry, User):
        return entry.name
    if isinstance(entry, SharedPhone):
        return entry.designation
    return entry_id  # no longer in the directory: the id is all there is


def describe(change: SwitchChange, directory: Directory, tz: tzinfo) -> dict[str, object]:
    """One audited change as the page and the API show it."""
    what = (
        f"{switch_text(change.name)}: {value_text(change.name, change.before)} → "
        f"{value_text(change.name, change.after)}"
    )
    return {
        "at": change.at.isoformat(),
        "when": change.at.astimezone(tz).strftime("%Y-%m-%d %H.%M"),
        "by": change.by,
        "by_name": who(directory, change.by),
        "scope": change.scope,
        "scope_text": SCOPE_TEXT.get(change.scope, change.scope),
        "target": change.target,
        "target_name": who(directory, change.target),
        "switch": change.name,
        "before": change.before,
        "after": change.after,
        "text": what,
    }
