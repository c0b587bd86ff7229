"""The built-in handler, heard as a caller hears it: an engine on the sim board, tick by tick.

Real DSP (the caller's keys are DTMF audio through the line model), real prompts, a real SQLite
store; only the clock is moved by hand.
"""

import asyncio
import shutil
import wave

import pytest

from hotline.media.prompts import FALLBACK
from hotline.prompts import shipped_prompts_dir

RETRIES_AND_TIMEOUTS = """
[handler]
first_digit_timeout_s = 2.0
menu_retries = 2
record_silence_s = 2.0
"""


def test_caller_hears_greeting_then_menu_and_info(harness):
    async def scenario():
        h = harness()
        caller = h.caller(number="13900139000", name="LI NA")
        answer_s = await h.until(lambda: caller.prompts_started()[:1] == ["welcome"], 15)
        await h.until_prompt(caller, "main-menu")
        caller.press("1")
        await h.until_prompt(caller, "office-info")
        await h.until_prompt(caller, "office-info", "end")
        await h.until_prompt(caller, "main-menu")
        caller.handle.hangup()
        await h.run(0.2)
        return h, caller, answer_s

    h, caller, answer_s = asyncio.run(scenario())
    assert answer_s < 15  # GB/T 33358: answered well within 15 s
    assert caller.prompts_started() == ["welcome", "main-menu", "office-info", "main-menu"]
    assert caller.heard_digits() == "1"
    record = h.store.calls()[0]
    assert (record["caller_number"], record["caller_name"]) == ("13900139000", "LI NA")  # from FSK caller ID
    assert record["disposition"] == "answered" and record["hangup_by"] == "caller"
    assert record["digits"] == "1"
    assert record["path"] == ["greeting", "menu", "info", "menu"]


def test_a_digit_cuts_the_menu_short_barge_in(harness):
    async def scenario():
        h = harness()
        caller = h.caller()
        await h.until_prompt(caller, "main-menu")
        await h.run(1.0)
        caller.press("1")
        return h, caller, await h.until(lambda: {"prompt": "main-menu", "state": "end"} in caller.notes, 5)

    h, caller, cut_after_s = asyncio.run(scenario())
    assert cut_after_s < 0.5  # the menu is 12 s long: it stopped at the key, not at its end


def test_keys_pressed_ahead_skip_the_prompts(harness):
    """A caller who knows the menu presses 1 during the greeting: the menu is skipped."""
    async def scenario():
        h = harness()
        caller = h.caller()
        await h.until_prompt(caller, "welcome")
        await h.run(0.5)
        caller.press("1")
        await h.until_prompt(caller, "office-info")
        return caller

    caller = asyncio.run(scenario())
    assert caller.prompts_started() == ["welcome", "office-info"]


def test_silence_and_wrong_keys_end_with_goodbye(harness):
    async def scenario():
        h = harness(RETRIES_AND_TIMEOUTS)
        caller = h.caller()
        await h.until_prompt(caller, "main-menu", "end", 30)
        caller.press("7")
        await h.until(lambda: caller.hangup_by is not None, 60)
        await h.run(0.1)
        return h, caller

    h, caller = asyncio.run(scenario())
    assert caller.hangup_by == "box"
    assert caller.prompts_started()[-2:] == ["main-menu", "goodbye"]
    assert "invalid-choice" in caller.prompts_started()
    record = h.store.calls()[0]
    assert record["hangup_by"] == "box" and record["disposition"] == "answered"
    assert record["path"][-1] == "goodbye" and "invalid" in record["path"] and "no-input" in record["path"]


async def at_the_tone(harness):
    """A caller who chose 2 (leave a message) and just heard the tone."""
    h = harness(RETRIES_AND_TIMEOUTS)
    caller = h.caller()
    await h.until_prompt(caller, "main-menu")
    caller.press("2")
    await h.until_prompt(caller, "tone:beep", "end")
    return h, caller


def test_leave_a_message(harness):
    async def scenario():
        h, caller = await at_the_tone(harness)
        caller.say(3.0)
        await h.until_prompt(caller, "thank-you", timeout_s=20)
        await h.until(lambda: caller.hangup_by is not None, 20)
        return h

    h = asyncio.run(scenario())
    record = h.store.call(h.store.calls()[0]["id"])
    assert record["path"][-2:] == ["record", "recorded"]
    [recording] = record["recordings"]
    assert recording["end_reason"] == "silence"
    with wave.open(recording["path"]) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert 3.0 + 2.0 - 0.3 <= seconds <= 3.0 + 2.0 + 0.5  # the voice, then the silence that ended it
    assert recording["duration_ms"] == pytest.approx(seconds * 1000, abs=25)


def test_pound_ends_the_message(harness):
    async def scenario():
        h, caller = await at_the_tone(harness)
        caller.say(1.0)
        caller.press("#")
        await h.until_prompt(caller, "thank-you", timeout_s=5)
        return h

    h = asyncio.run(scenario())
    [recording] = h.store.call(1)["recordings"]
    assert recording["end_reason"] == "digit"


def test_zero_rings_the_operator_and_bridges(harness):
    async def scenario():
        h = harness(trunks=2, stations=1)
        agent = h.phone(3)
        caller = h.caller()
        await h.until_prompt(caller, "main-menu")
        caller.press("0")
        await h.until(lambda: any(getattr(e, "on", False) for e in agent.events), 15)
        agent.handle.offhook()
        await h.run(0.5)
        agent.audio.clear()
        caller.audio.clear()
        caller.say(1.0)
        agent.say(1.0)
        await h.run(1.5)
        heard_by_agent, heard_by_caller = agent.box_audio(), caller.box_audio()
        agent.handle.onhook()
        await h.until(lambda: caller.hangup_by is not None, 5)
        return h, heard_by_agent, heard_by_caller

    h, heard_by_agent, heard_by_caller = asyncio.run(scenario())
    loud = 3000  # the warbling voice at -15 dBm0 peaks near 5000; line noise is far below
    assert abs(heard_by_agent.astype(int)).max() > loud
    assert abs(heard_by_caller.astype(int)).max() > loud
    record = h.store.calls()[0]
    assert record["path"][-2:] == ["agent", "bridged"]


def test_no_agent_answers_back_to_the_menu(harness):
    async def scenario():
        h = harness("[handler]\noperator_ring_s = 3.0\n", trunks=2, stations=1)
        h.phone(3)
        caller = h.caller()
        await h.until_prompt(caller, "main-menu")
        caller.press("0")
        await h.until(lambda: caller.prompts_started()[-2:] == ["no-agent", "main-menu"], 20)
        return h, caller

    h, caller = asyncio.run(scenario())
    assert caller.prompts_started()[-3:] == ["please-hold", "no-agent", "main-menu"]
    assert h.engine.manager.lines[3].state == "idle"


def test_missing_prompt_plays_a_fallback_and_the_call_goes_on(harness, caplog):
    async def scenario():
        h = harness('[handler]\ngreeting = "no-such-greeting"\n')
        caller = h.caller()
        await h.until_prompt(caller, "main-menu")
        caller.press("1")
        await h.until_prompt(caller, "office-info")
        return caller

    caller = asyncio.run(scenario())
    assert caller.prompts_started()[:2] == [FALLBACK, "main-menu"]
    assert "no-such-greeting.wav" in caplog.text


def test_corrupt_prompt_file_is_named_in_the_log(harness, tmp_path, caplog):
    prompts = tmp_path / "prompts"
    shutil.copytree(shipped_prompts_dir() / "en", prompts / "en")
    (prompts / "en" / "welcome.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")

    async def scenario():
        h = harness(paths=f'prompts_dir = "{prompts}"')
        caller = h.caller()
        await h.until_prompt(caller, "main-menu")
        return caller

    caller = asyncio.run(scenario())
    assert caller.prompts_started()[:2] == [FALLBACK, "main-menu"]
    assert str(prompts / "en" / "welcome.wav") in caplog.text


def test_caller_who_gives_up_while_ringing_is_abandoned(harness):
    async def scenario():
        h = harness(board='callerid = "none"')
        caller = h.caller()
        await h.run(0.5)  # first ring: without caller ID the box waits for the second
        caller.handle.hangup()
        await h.run(10.0)
        return h

    h = asyncio.run(scenario())
    record = h.store.calls()[0]
    assert record["disposition"] == "abandoned" and record["hangup_by"] == "caller"
    assert record["answered_at"] is None


def test_busy_tone_from_the_exchange_means_the_caller_hung_up(harness):
    async def scenario():
        h = harness(board='disconnect = "busy_tone"')
        caller = h.caller()
        await h.until_prompt(caller, "main-menu")
        caller.handle.hangup()
        seconds = await h.until(lambda: not h.engine.manager.calls, 10)
        return h, seconds

    h, seconds = asyncio.run(scenario())
    assert seconds < 2.0
    assert h.store.calls()[0]["hangup_by"] == "caller"


def test_blocked_line_is_not_answered(harness):
    async def scenario():
        h = harness()
        h.engine.block(1)
        caller = h.caller(line=1)
        await h.run(12.0)
        return h, caller

    h, caller = asyncio.run(scenario())
    assert caller.prompts_started() == []
    assert h.store.calls() == []
    assert h.engine.lines()[0]["state"] == "blocked"


def test_message_cut_by_hang_up_is_kept_with_its_length(harness):
    async def scenario():
        h, caller = await at_the_tone(harness)
        caller.say(2.0)
        await h.run(2.0)
        caller.handle.hangup()
        await h.run(0.5)
        return h

    h = asyncio.run(scenario())
    record = h.store.call(1)
    [recording] = record["recordings"]
    assert recording["end_reason"] == "hangup"
    assert 1800 <= recording["duration_ms"] <= 2400
    with wave.open(recording["path"]) as wav:
        assert wav.getnframes() == recording["duration_ms"] * 8
    assert record["hangup_by"] == "caller"
