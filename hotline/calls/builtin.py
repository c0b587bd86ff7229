"""The built-in call handler, until the flow engine exists: a greeting, then a menu.

    1  office information, then back to the menu
    2  leave a message: a tone, then recording until silence, ``#`` or the maximum length
    0  an agent: the operator station rings while the caller hears ringback; bridged on answer
    #  hear the menu again

Pressing nothing ``menu_retries`` times, or a wrong key as often, ends with goodbye. Every
choice is a step in the call's path, which its record keeps.
"""

from __future__ import annotations

from hotline.calls.call import Call

def make_handler(config, operator_station: int | None):
    """A handler coroutine function bound to ``config`` (a ``HandlerConfig``)."""

    async def handler(call: Call) -> None:
        call.step("greeting")
        await call.play(config.greeting)
        failures = 0
        while failures < config.menu_retries:
            call.step("menu")
            choice = await call.collect(max_digits=1, prompt=config.menu, terminators="",
                                        first_timeout_s=config.first_digit_timeout_s)
            if choice == "1":
                call.step("info")
                await call.play(config.info)
                failures = 0
            elif choice == "2":
                await _take_message(call, config)
                return
            elif choice == "0":
                if await _reach_agent(call, config, operator_station):
                    return
                failures = 0
            elif choice == "#":
                failures = 0
            else:
                call.step("no-input" if choice == "" else "invalid")
                if choice:
                    await call.play(config.invalid)
                failures += 1
        call.step("goodbye")
        await call.play(config.goodbye, interruptible=False)

    return handler


async def _take_message(call: Call, config) -> None:
    call.step("record")
    await call.play(config.record_intro)
    path = call.manager.recording_path(call)
    result = await call.record(path, max_s=config.max_record_s, silence_s=config.record_silence_s)
    call.variables["recording"] = result
    call.step("recorded")
    await call.play(config.thanks, interruptible=False)
    await call.play(config.goodbye, interruptible=False)


async def _reach_agent(call: Call, config, station: int | None) -> bool:
    """Ring the operator station; True when an agent took the call and it has ended."""
    call.step("agent")
    await call.play(config.transfer, interruptible=False)
    if station is not None and await call.ring_station(station, config.operator_ring_s):
        call.step("bridged")
        await call.stay_bridged()
        return True
    call.step("no-agent")
    await call.play(config.no_agent)
    return False
