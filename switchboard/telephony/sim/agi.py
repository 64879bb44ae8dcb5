"""AGI on the simulated platform: AGI(agi:async) over AMI (AsyncAGIStart/Exec/End),
AGI(agi://…) as a FastAGI client of the service, and the AGI commands both run."""

from __future__ import annotations

import asyncio
import contextlib
import shlex

from switchboard.telephony.sim.agi_env import agi_env, agi_quote, fastagi_env
from switchboard.telephony.sim.models import AgiLink, SimCall, Step
from switchboard.telephony.sim.pbx import Pbx


class AgiPbx(Pbx):
    """The PBX with AGI: commands from AMI (`Action: AGI`) or from a FastAGI connection."""

    async def _async_agi(self, call: SimCall) -> int:
        """AGI(agi:async): AsyncAGIStart, then wait — without any timeout, as res_agi.c does —
        for ASYNCAGI BREAK (the dialplan goes on) or HANGUP."""
        call.parked = asyncio.get_running_loop().create_future()
        env = agi_env(call)
        self.broadcast(
            self._channel_event(call, "AsyncAGIStart", ("Env", env), privilege="agi,all")
        )
        try:
            result = await call.parked
        finally:
            call.parked = None
        self.broadcast(self._channel_event(call, "AsyncAGIEnd", privilege="agi,all"))
        call.variables["AGISTATUS"] = "SUCCESS"
        if result == 0:
            call.steps.append(Step("fallback", {"reason": "ASYNCAGI BREAK"}))
        return result

    async def _agi_app(self, call: SimCall, url: str) -> int:
        """AGI(agi://host:port/script): connect (refused → AGISTATUS=FAILURE at once), send
        the environment, run commands until the client closes; HANGUP ends the channel."""
        if url.startswith("agi:async"):
            return await self._async_agi(call)
        if not url.startswith("agi://"):
            call.variables["AGISTATUS"] = "FAILURE"
            return 0
        hostport, _, script = url[len("agi://") :].partition("/")
        host, _, port_text = hostport.partition(":")
        try:
            reader, writer = await asyncio.open_connection(host, int(port_text or 4573))
        except (OSError, ValueError):
            call.variables["AGISTATUS"] = "FAILURE"
            call.steps.append(Step("fallback", {"reason": f"nobody answers {url}"}))
            return 0
        call.agi = AgiLink(writer)
        env = fastagi_env(call, script)
        hung_up = False
        try:
            writer.write(env.encode("utf-8"))
            while True:
                line = await reader.readline()
                if not line:
                    break
                command = line.decode("utf-8", errors="replace").strip()
                if not command:
                    continue
                if self.stall_commands and command.startswith(self.stall_commands):
                    call.commands.append(command)
                    continue  # a hung application: no answer (the client gives up)
                result = await self._execute(call, command)
                call.commands.append(command)
                if not writer.is_closing():
                    writer.write(result.encode("utf-8") + b"\n")
                if command.split(" ", 1)[0].upper() == "HANGUP":
                    hung_up = True
                    call.ended_by = call.ended_by or "agi hangup"
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            call.agi = None
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
        call.variables["AGISTATUS"] = "SUCCESS"
        if not hung_up and not call.dead:
            call.steps.append(Step("fallback", {"reason": "the service handed the call back"}))
        return -1 if hung_up or call.dead else 0

    async def _run_agi(self, call: SimCall, command: str, command_id: str) -> None:
        call.commands.append(command)
        if command.startswith(self.stall_commands) and self.stall_commands:
            return  # accepted, never answered: AsyncAGIExec does not come
        result = await self._execute(call, command)
        if call.done.is_set():
            return
        self.broadcast(
            self._channel_event(
                call,
                "AsyncAGIExec",
                ("Result", agi_quote(result + "\n")),
                ("CommandId", command_id),
                privilege="agi,all",
            )
        )
        verb = command.split(" ", 1)[0].upper()
        if call.parked is not None:  # AGI(agi:async) in a dialplan: the dialplan goes on
            if verb == "HANGUP" and not call.parked.done():
                call.parked.set_result(-1)
            elif command.upper().startswith("ASYNCAGI BREAK") and not call.parked.done():
                call.parked.set_result(0)
            return
        if verb == "HANGUP":
            await self._end_call(call, "agi hangup", cause="16")
        elif command.upper().startswith("ASYNCAGI BREAK"):
            self.broadcast(self._channel_event(call, "AsyncAGIEnd", privilege="agi,all"))
            call.steps.append(Step("dialplan", {"fallback": "AstDB switchboard/redirect"}))
            await self._end_call(call, "dialplan", cause="16", agi_ended=True)

    async def _execute(self, call: SimCall, command: str) -> str:
        try:
            # Most commands carry no quotes: a plain split is 10x cheaper than shlex.
            words = shlex.split(command) if '"' in command or "'" in command else command.split()
        except ValueError:
            return "520 Invalid command syntax."
        if not words:
            return "510 Invalid or unknown command"
        verb = words[0].upper()
        if verb == "ANSWER":
            if call.dead:
                return "511 Command Not Permitted on a dead channel or intercepted channel"
            self._answer(call)
            return "200 result=0"
        if verb == "HANGUP":
            return "200 result=1"
        if verb == "ASYNCAGI":
            return "200 result=0"
        if verb == "SET" and len(words) >= 4 and words[1].upper() == "VARIABLE":
            call.variables[words[2]] = words[3]
            return "200 result=1"
        if verb == "GET" and len(words) >= 3 and words[1].upper() == "VARIABLE":
            value = {"CALLERID(name)": call.caller_name, "CALLERID(num)": call.caller}.get(
                words[2], call.variables.get(words[2])
            )
            return "200 result=0" if value is None else f"200 result=1 ({value})"
        if verb == "STREAM" and len(words) >= 2:
            self._play(
                call, words[2] if len(words) > 2 and words[1].upper() == "FILE" else words[1]
            )
            return "200 result=0 endpos=8000"
        if verb == "EXEC" and len(words) >= 2:
            app = words[1].lower()
            data = " ".join(words[2:])
            if app not in ("playback", "dial", "voicemail", "wait", "noop", "set"):
                return "200 result=-2"
            return f"200 result={await self._app(call, words[1], data)}"
        return "510 Invalid or unknown command"
