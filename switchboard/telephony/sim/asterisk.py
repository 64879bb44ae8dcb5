"""The simulated Asterisk: the AMI actions it answers (AstDB, presence, Command, channels, AGI)
over the PBX model and AGI."""

from __future__ import annotations

from switchboard.telephony.ami.protocol import Message
from switchboard.telephony.sim.agi import AgiPbx
from switchboard.telephony.sim.ami_server import frame


class SimulatedAsterisk(AgiPbx):
    """The AMI server: start() on 127.0.0.1, then connect the ordinary AMI adapter to it."""

    def _act_ping(self, msg: Message, aid: str) -> bytes:
        return frame(
            ("Response", "Success"),
            ("ActionID", aid),
            ("Ping", "Pong"),
            ("Timestamp", f"{self.clock():.6f}"),
        )

    def _act_dbput(self, msg: Message, aid: str) -> bytes:
        family, key = msg.get("Family") or "", msg.get("Key") or ""
        if not family or not key:
            return frame(("Response", "Error"), ("ActionID", aid), ("Message", "No key specified"))
        self.astdb.setdefault(family, {})[key] = msg.get("Val") or ""
        return frame(
            ("Response", "Success"), ("ActionID", aid), ("Message", "Updated database successfully")
        )

    def _act_dbget(self, msg: Message, aid: str) -> bytes:
        family, key = msg.get("Family") or "", msg.get("Key") or ""
        val = self.astdb.get(family, {}).get(key)
        if val is None:
            return frame(
                ("Response", "Error"), ("ActionID", aid), ("Message", "Database entry not found")
            )
        return (
            frame(
                ("Response", "Success"),
                ("ActionID", aid),
                ("EventList", "start"),
                ("Message", "Result will follow"),
            )
            + frame(
                ("Event", "DBGetResponse"),
                ("Family", family),
                ("Key", key),
                ("Val", val),
                ("ActionID", aid),
            )
            + frame(
                ("Event", "DBGetComplete"),
                ("ActionID", aid),
                ("EventList", "Complete"),
                ("ListItems", "1"),
            )
        )

    def _act_dbgettree(self, msg: Message, aid: str) -> bytes:
        family = msg.get("Family") or ""
        rows = sorted(self._tree(family))
        head = frame(
            ("Response", "Success"),
            ("ActionID", aid),
            ("EventList", "start"),
            ("Message", "Result will follow"),
        )
        # One join, not `+=` per row: 10,000 rows made the old loop quadratic (1.8 s).
        body = "".join(
            f"Event: DBGetTreeResponse\r\nKey: {path}\r\nVal: {val}\r\nActionID: {aid}\r\n\r\n"
            for path, val in rows
        ).encode("utf-8")
        tail = frame(
            ("Event", "DBGetTreeComplete"),
            ("ActionID", aid),
            ("EventList", "Complete"),
            ("ListItems", str(len(rows))),
        )
        return head + body + tail

    def _tree(self, family: str) -> list[tuple[str, str]]:
        # AstDB families are paths; Key "a/b" under "f" and family "f/a" name the same row.
        rows: list[tuple[str, str]] = []
        for fam, keys in self.astdb.items():
            for key, val in keys.items():
                full = f"{fam}/{key}"
                if full == family or full.startswith(family.rstrip("/") + "/"):
                    rows.append((f"/{full}", val))
        return rows

    def _act_dbdel(self, msg: Message, aid: str) -> bytes:
        family, key = msg.get("Family") or "", msg.get("Key") or ""
        if self.astdb.get(family, {}).pop(key, None) is None:
            return frame(
                ("Response", "Error"),
                ("ActionID", aid),
                ("Message", "Database entry could not be deleted"),
            )
        return frame(
            ("Response", "Success"), ("ActionID", aid), ("Message", "Key deleted successfully")
        )

    def _act_dbdeltree(self, msg: Message, aid: str) -> bytes:
        family = (msg.get("Family") or "").rstrip("/")
        key = msg.get("Key")
        prefix = f"{family}/{key}" if key else family
        gone = False
        for fam in list(self.astdb):
            keys = self.astdb[fam]
            for k in list(keys):
                full = f"{fam}/{k}"
                if full == prefix or full.startswith(prefix + "/"):
                    del keys[k]
                    gone = True
            if not keys:
                del self.astdb[fam]
        if not gone:
            return frame(
                ("Response", "Error"),
                ("ActionID", aid),
                ("Message", "Database entry could not be deleted"),
            )
        return frame(
            ("Response", "Success"), ("ActionID", aid), ("Message", "Key tree deleted successfully")
        )

    def _act_setvar(self, msg: Message, aid: str) -> bytes:
        variable, value = msg.get("Variable") or "", msg.get("Value") or ""
        out = frame(("Response", "Success"), ("ActionID", aid), ("Message", "Variable Set"))
        if variable.startswith("PRESENCE_STATE(CustomPresence:") and variable.endswith(")"):
            ext = variable[len("PRESENCE_STATE(CustomPresence:") : -1]
            self.astdb.setdefault("CustomPresence", {})[ext] = value
            status, _, rest = value.partition(",")
            subtype, _, message = rest.partition(",")
            # Asterisk sends the change event right after the response (to every session).
            self._event_later(
                frame(
                    ("Event", "PresenceStateChange"),
                    ("Privilege", "call,all"),
                    ("Presentity", f"CustomPresence:{ext}"),
                    ("Status", status),
                    ("Subtype", subtype),
                    ("Message", message),
                )
            )
            return out
        channel = msg.get("Channel")
        call = self._call_by_channel(channel) if channel else None
        if call is not None:
            call.variables[variable] = value
        return out

    def _act_presencestate(self, msg: Message, aid: str) -> bytes:
        provider = msg.get("Provider") or ""
        if not provider.startswith("CustomPresence:"):
            return frame(
                ("Response", "Error"),
                ("ActionID", aid),
                ("Message", f"Invalid provider {provider} or provider in invalid state"),
            )
        raw = self.astdb.get("CustomPresence", {}).get(provider.split(":", 1)[1])
        if raw is None:
            return frame(
                ("Response", "Success"),
                ("ActionID", aid),
                ("Message", "Presence State"),
                ("State", "not_set"),
            )
        status, _, rest = raw.partition(",")
        subtype, _, message = rest.partition(",")
        headers = [
            ("Response", "Success"),
            ("ActionID", aid),
            ("Message", "Presence State"),
            ("State", status),
        ]
        if subtype:
            headers.append(("Subtype", subtype))
        if message:
            headers += [("Message", message), ("PresenceMessage", message)]
        return frame(*headers)

    def _act_voicemailrefresh(self, msg: Message, aid: str) -> bytes:
        # Not in the captures; Asterisk acknowledges with a bare Success.
        self.refreshed.append(msg.get("Mailbox") or "")
        return frame(("Response", "Success"), ("ActionID", aid))

    def _act_command(self, msg: Message, aid: str) -> bytes:
        command = msg.get("Command") or ""
        if command == "core show version":
            lines = ["Asterisk 22.10.1 (simulated by switchboard)"]
        elif command == "database show":
            rows = sorted(self._tree(""))
            lines = [f"{k:<50}: {v}" for k, v in rows] + [f"{len(rows)} results found."]
        else:
            words = command.split()
            lines = [
                f"No such command '{command}' (type 'core show help {' '.join(words[:2])}' "
                "for other possible commands)"
            ]
            return frame(
                ("Response", "Error"),
                ("ActionID", aid),
                ("Message", "Command output follows"),
                *(("Output", line) for line in lines),
            )
        return frame(
            ("Response", "Success"),
            ("ActionID", aid),
            ("Message", "Command output follows"),
            *(("Output", line) for line in lines),
        )

    def _act_coreshowchannels(self, msg: Message, aid: str) -> bytes:
        """Every live channel as a CoreShowChannel event (as captured: Application, Data)."""
        live = [c for c in self.calls.values() if not c.done.is_set()]
        head = frame(
            ("Response", "Success"),
            ("ActionID", aid),
            ("EventList", "start"),
            ("Message", "Channels will follow"),
        )
        body = b""
        for call in live:
            seconds = int(max(0.0, self.clock() - call.started))
            body += frame(
                ("Event", "CoreShowChannel"),
                ("ActionID", aid),
                *call.channel_headers(),
                ("Application", call.application),
                ("ApplicationData", call.application_data),
                ("Duration", f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"),
                ("BridgeId", ""),
            )
        tail = frame(
            ("Event", "CoreShowChannelsComplete"),
            ("ActionID", aid),
            ("EventList", "Complete"),
            ("ListItems", str(len(live))),
        )
        return head + body + tail

    def _act_hangup(self, msg: Message, aid: str) -> bytes:
        call = self._call_by_channel(msg.get("Channel") or "")
        if call is None:
            return frame(("Response", "Error"), ("ActionID", aid), ("Message", "No such channel"))
        self._spawn(self._end_call(call, "hangup action", cause="16"))
        return frame(("Response", "Success"), ("ActionID", aid), ("Message", "Channel Hungup"))

    def _act_agi(self, msg: Message, aid: str) -> bytes:
        channel = msg.get("Channel") or ""
        call = self._call_by_channel(channel)
        if call is None or call.done.is_set():
            return frame(
                ("Response", "Error"),
                ("ActionID", aid),
                ("Message", f"Channel {channel} does not exist."),
            )
        command = msg.get("Command") or ""
        command_id = msg.get("CommandID") or ""
        self._spawn(self._run_agi(call, command, command_id))
        return frame(
            ("Response", "Success"), ("ActionID", aid), ("Message", "Added AGI command to queue")
        )
