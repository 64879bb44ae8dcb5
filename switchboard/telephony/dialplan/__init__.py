"""A small interpreter of Asterisk's `extensions.conf`, for the simulated platform.

It runs the dialplan the project ships (asterisk_config.py) the way pbx_config and pbx.c do, for
the subset that dialplan uses: contexts, `exten =>`/`same =>` with labels, `[globals]`, pattern
matching (`_X.`, `N`, `Z`, `[1-5]`, `!`), `${VAR}`, `${VAR:offset:length}`, functions (DB, CUT,
CALLERID, CHANNEL, IF, LEN), `$[…]` expressions (ast_expr2: `| & = != < > <= >= + - * / % !`,
parentheses, quoted strings) and the flow applications (NoOp, Set, Goto, GotoIf, ExecIf). The
applications that reach the caller (Answer, Playback, Dial, VoiceMail, AGI, Hangup, Wait) are the
host's (SimulatedAsterisk). The real thing is checked by tests/realpeer against Asterisk 22.

One module per job: `parse` (the file, and which extension runs), `expr` (`${…}` and `$[…]`),
`run` (a channel through the steps).
"""

from switchboard.telephony.dialplan.expr import Function, evaluate, substitute
from switchboard.telephony.dialplan.parse import Dialplan, DialplanError, Extension, Priority
from switchboard.telephony.dialplan.run import MAX_STEPS, AppRunner, Channel, run

__all__ = [
    "MAX_STEPS",
    "AppRunner",
    "Channel",
    "Dialplan",
    "DialplanError",
    "Extension",
    "Function",
    "Priority",
    "evaluate",
    "run",
    "substitute",
]
