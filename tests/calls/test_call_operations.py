"""The operations a handler awaits, one by one, with handlers written for the test."""

import asyncio

import pytest

from hotline.calls.manager import CallFailed
from tests.calls.harness import FarEnd


def with_handler(h, handler):
    h.engine.manager.handler = handler
    return h


async def answered(harness, handler):
    """An engine running ``handler`` and a caller half a second into the answered call."""
    h = with_handler(harness(), handler)
    caller = h.caller()
    await h.until(lambda: h.engine.manager.lines[1].state == "in_call", 10)
    await h.run(0.5)
    return h, caller


def test_collect_stops_at_the_terminator_and_keeps_the_digits(harness):
    got = {}

    async def handler(call):
        got["number"] = await call.collect(max_digits=10, first_timeout_s=5, inter_timeout_s=3, terminators="#")
        got["rest"] = await call.collect(max_digits=1, first_timeout_s=1)

    async def scenario():
        h, caller = await answered(harness, handler)
        caller.press("4711#9")
        await h.until(lambda: "rest" in got, 10)

    asyncio.run(scenario())
    assert got == {"number": "4711", "rest": "9"}


def test_collect_ends_on_the_inter_digit_timeout(harness):
    got = {}

    async def handler(call):
        got["number"] = await call.collect(max_digits=10, first_timeout_s=5, inter_timeout_s=1.0)
        got["at"] = call.manager.media.ticks

    async def scenario():
        h, caller = await answered(harness, handler)
        caller.press("12")
        sent_at = h.engine.media.ticks
        await h.until(lambda: "number" in got, 10)
        return sent_at

    sent_at = asyncio.run(scenario())
    assert got["number"] == "12"
    waited_s = (got["at"] - sent_at) * 0.02
    # the second key is heard about 0.2 s after the first began; then one idle second ends it
    assert 1.0 + 0.15 <= waited_s <= 1.0 + 0.35


def test_collect_returns_empty_when_nothing_is_pressed(harness):
    got = {}

    async def handler(call):
        start = call.manager.media.ticks
        got["number"] = await call.collect(max_digits=4, first_timeout_s=2.0)
        got["waited_s"] = (call.manager.media.ticks - start) * 0.02

    async def scenario():
        h = with_handler(harness(), handler)
        h.caller()
        await h.until(lambda: "number" in got, 15)

    asyncio.run(scenario())
    assert got["number"] == "" and got["waited_s"] == pytest.approx(2.0, abs=0.05)


def test_an_uninterruptible_prompt_plays_to_its_end(harness):
    async def handler(call):
        await call.play("welcome", interruptible=False)
        call.variables["after"] = await call.collect(max_digits=1, first_timeout_s=1)
        call.step(call.variables["after"])

    async def scenario():
        h = with_handler(harness(), handler)
        caller = h.caller()
        await h.until_prompt(caller, "welcome")
        await h.run(0.5)
        caller.press("5")
        cut_s = await h.until(lambda: {"prompt": "welcome", "state": "end"} in caller.notes, 10)
        await h.run(1.5)
        return h, cut_s

    h, cut_s = asyncio.run(scenario())
    assert cut_s > 1.5  # the 2.8 s greeting was not cut at the key
    assert h.store.calls()[0]["path"] == ["5"]  # and the key waited in the buffer


def test_outbound_call_is_answered_and_hears_the_box(harness):
    got = {}

    async def scenario():
        h = harness()
        handle = h.board.attach_answerer("12345")
        far = FarEnd(handle)
        h.far_ends.append(far)

        async def place():
            call = await h.engine.manager.place_call("12345")
            got["call"] = call
            await call.play("goodbye", interruptible=False)
            await call.hangup()

        task = asyncio.get_running_loop().create_task(place())
        await h.until(lambda: any(type(e).__name__ == "IncomingEvent" for e in far.events), 10)
        await h.run(1.0)
        handle.offhook()
        await h.until(lambda: task.done(), 20)
        task.result()
        return h, far

    h, far = asyncio.run(scenario())
    assert far.prompts_started() == ["goodbye"]
    assert abs(far.box_audio().astype(int)).max() > 1000
    record = h.store.calls()[0]
    assert (record["direction"], record["called_number"], record["disposition"]) == ("outbound", "12345", "answered")
    assert record["hangup_by"] == "box"


def test_outbound_call_to_nobody_fails_on_congestion(harness):
    async def scenario():
        h = harness()
        with pytest.raises(CallFailed, match="congestion"):
            task = asyncio.get_running_loop().create_task(h.engine.manager.place_call("999"))
            await h.until(lambda: task.done(), 20)
            task.result()
        return h

    h = asyncio.run(scenario())
    record = h.store.calls()[0]
    assert (record["direction"], record["disposition"]) == ("outbound", "failed")
    assert h.engine.lines()[0]["state"] == "idle"
