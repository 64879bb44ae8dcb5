"""A simulated telephone platform: an AMI server on loopback that speaks Asterisk 22's bytes.

It keeps an AstDB and CustomPresence state, answers the actions the service uses, and plays
calls, recording what the caller experiences step by step:

- with a dialplan loaded (`load_dialplan`, what the service does with the one it generates),
  `place_call` runs that extensions.conf as Asterisk does (switchboard.telephony.dialplan): its
  `AGI(agi://…)` connects to the service's FastAGI port and falls through when nobody listens,
  its fallback reads AstDB, Playback/Dial/VoiceMail set PLAYBACKSTATUS/DIALSTATUS/VMSTATUS;
- without one, every call enters `AGI(agi:async)`: AsyncAGIStart, then the AGI actions the
  service sends. Like Asterisk, it waits for a command forever (no timeout); a channel parked so
  is listed by CoreShowChannels.

Frame shapes (header names and order, URL-encoded Env and Result, Cdr fields: one Cdr per CDR
segment, a Dial ending one, the last one sometimes after the Hangup) follow tests/fixtures/ami/
and the captures in docs/asterisk.md.

`SimulatedAsterisk` is built in layers, each a class over the one before:

- `ami_server.AmiServer`: the TCP server, the banner, framing, Login/Logoff, broadcasting events;
- `pbx.Pbx`: AstDB, channels, the dialplan and its applications (with `cdr`: the CDR writer,
  `functions`: the dialplan functions, `models`: `SimCall` and `Step`);
- `agi.AgiPbx`: AGI(agi:async) and FastAGI, the AGI commands (with `agi_env`);
- `asterisk.SimulatedAsterisk`: the AMI actions it answers.
"""

from switchboard.telephony.sim.agi_env import agi_quote
from switchboard.telephony.sim.ami_server import BANNER, frame
from switchboard.telephony.sim.asterisk import SimulatedAsterisk
from switchboard.telephony.sim.models import SimCall, Step

__all__ = ["BANNER", "SimCall", "SimulatedAsterisk", "Step", "agi_quote", "frame"]
