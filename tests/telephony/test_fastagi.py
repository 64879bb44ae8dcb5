"""FastAGI on a real socket, against a client that speaks as res_agi.c does: the environment,
one answer line per command, `HANGUP` between answers when the caller goes, `520-` usage texts,
and the connection closing. Plus the latency histograms for /metrics (issue 14.7)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from switchboard.telephony.calls import CallController
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.fastagi import FastAgiServer
from switchboard.telephony.plan import CallRecord

from .test_end_to_end import ANNA, NOW, Book, _org, service

ENV = (
    "agi_network: yes\nagi_network_script: call\nagi_request: agi://127.0.0.1/call\n"
    "agi_channel: PJSIP/trunk-00000001\nagi_language: sv\nagi_type: PJSIP\n"
    "agi_uniqueid: 1796330000.1\nagi_version: 22.10.1\nagi_callerid: 0701112233\n"
    "agi_calleridname: Örjan Öst\nagi_context: switchboard-fallback\nagi_extension: 02683012\n"
    "agi_priority: 6\n\n"
)


class FakeAsterisk:
    """The client side of one FastAGI call: answers each command by a rule."""

    def __init__(self, answer: Callable[[str], list[str]]) -> None:
        self.answer = answer
        self.commands: list[str] = []

    async def call(self, port: int) -> None:
        """Connect, send the environment, answer until the service closes."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(ENV.encode("utf-8"))
        try:
            while line := await reader.readline():
                command = line.decode("utf-8").strip()
                self.commands.append(command)
                try:
                    lines = self.answer(command)
                except ConnectionResetError:
                    break  # close now, with the command unanswered
                for out in lines:
                    writer.write(out.encode("utf-8") + b"\n")
        finally:
            writer.close()
            await writer.wait_closed()


async def run_call(answer: Callable[[str], list[str]]) -> tuple[CallRecord, FakeAsterisk]:
    """One call through a CallController behind a FastAgiServer; its record."""
    book = Book()
    book.away(ANNA)
    done: list[CallRecord] = []
    controller = CallController(
        _org(), TelephonySettings(), book, lambda: NOW, lambda: None, on_done=done.append
    )
    server = FastAgiServer("127.0.0.1", 0, controller.run_fastagi)
    await server.start()
    fake = FakeAsterisk(answer)
    try:
        await asyncio.wait_for(fake.call(server.port), 5)
        await controller.wait_idle(5)  # the service has seen the connection end
    finally:
        await server.close()
    return done[0], fake


def asterisk_like(hang_up_on: str | None = None) -> Callable[[str], list[str]]:
    """Answers as Asterisk does; the caller hangs up during the command starting so."""
    gone = [False]

    def answer(command: str) -> list[str]:
        if hang_up_on and command.startswith(hang_up_on) and not gone[0]:
            gone[0] = True
            return ["200 result=-1", "HANGUP"]  # the app returns, then res_agi says HANGUP
        if command.startswith("GET VARIABLE"):
            name = command.split()[2]
            value = {"DIALSTATUS": "CANCEL" if gone[0] else "NOANSWER"}.get(name, "SUCCESS")
            return [f"200 result=1 ({value})"]
        if command.startswith("SET VARIABLE"):
            return ["200 result=1"]
        return ["200 result=0"]

    return answer


async def test_fastagi_call_is_driven_by_answers_and_statuses() -> None:
    """ALV-06 over FastAGI: the environment gives the call; every command is answered on the
    same connection; each application's status is read; the service ends with HANGUP."""
    rec, fake = await run_call(asterisk_like())
    assert rec.transport == "fastagi" and rec.to == "02683012" and rec.caller == "0701112233"
    assert fake.commands[0] == "ANSWER" and fake.commands[-1] == "HANGUP"
    assert "GET VARIABLE PLAYBACKSTATUS" in fake.commands
    assert "GET VARIABLE VMSTATUS" in fake.commands
    assert ("Dial", "NOANSWER") in rec.results and rec.outcome == "voicemail_left"


async def test_hangup_line_between_answers_stops_the_call() -> None:
    """The caller hangs up while the covering point rings: `200 result=-1`, then `HANGUP`;
    the service still reads DIALSTATUS (dead-channel mode) and sends nothing more but its own
    end: the caller got the message."""
    rec, fake = await run_call(asterisk_like(hang_up_on="EXEC Dial"))
    after = fake.commands[fake.commands.index("EXEC Dial PJSIP/83013,20") + 1 :]
    assert after[0] == "GET VARIABLE DIALSTATUS"
    assert not any(c.startswith(("EXEC VoiceMail", "EXEC Playback")) for c in after)
    assert rec.hung_up and rec.outcome == "message"


async def test_usage_text_is_one_answer() -> None:
    """A `520-` usage text over several lines is one answer (ending at `520 …`): the next
    command's answer is not taken for it."""

    def answer(command: str) -> list[str]:
        if command == "ANSWER":
            return [
                "520-Invalid command syntax.  Proper usage follows:",
                "Usage: ANSWER",
                "520 End of proper usage.",
            ]
        return asterisk_like()(command)

    rec, fake = await run_call(answer)
    assert fake.commands[1] == "SET VARIABLE SWITCHBOARD_KIND message"
    assert ("Playback", "SUCCESS") in rec.results


async def test_connection_closed_mid_call_ends_it_as_hung_up() -> None:
    """Asterisk closing the connection (the AGI application ended) ends the service's handling:
    nothing hangs, no exception escapes."""

    def answer(command: str) -> list[str]:
        if command.startswith("EXEC Dial"):
            raise ConnectionResetError  # the fake closes: res_agi's AGI() has returned
        return asterisk_like()(command)

    rec, _ = await run_call(answer)
    assert rec.hung_up and rec.outcome == "message"


async def test_latency_histograms_for_metrics(tmp_path: Path) -> None:
    """14.7: decision latency, first-command latency and the AGI round trip per command are
    Prometheus histograms (`TelephonyService.metrics_text()`), filled by real calls."""
    book = Book()
    book.away(ANNA)
    async with service(tmp_path, book) as (svc, sim):
        for _ in range(3):
            call = await sim.place_call("02683012", "0701112233", answer=True)
            await call.wait(3)
        await svc.controller.wait_idle(3)
        text = svc.metrics_text()
    assert "# TYPE switchboard_call_decision_seconds histogram" in text
    assert "switchboard_call_decision_seconds_count 3" in text
    assert 'switchboard_call_decision_seconds_bucket{le="+Inf"} 3' in text
    assert "switchboard_call_first_command_seconds_count 3" in text
    assert 'switchboard_agi_round_trip_seconds_count{command="Playback"} 3' in text
    assert 'switchboard_agi_round_trip_seconds_bucket{command="Dial",le="0.1"}' in text
