"""Line states and calls: which line rings, which call owns it, where each event goes.

The :class:`CallManager` receives every tick's events from the media loop (board line events
and media events) and turns them into call life: an inbound trunk that rings is answered (after
its caller ID when the line sends one), gets a :class:`~hotline.calls.call.Call` and a handler
coroutine; the far end hanging up (loop break, or busy/congestion tone on exchanges that signal
disconnect that way) ends it; the handler returning hangs up. Every step reaches the store at
once, so a record exists from the first ring and is complete whenever the process stops.

Timers count media ticks; :meth:`CallManager.on_tick` fires the due ones.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from hotline.calls.call import TICKS_PER_S, Call, CallEnded
from hotline.daemon.logs import call_logger
from hotline.drivers.base import (Alarm, AlarmCleared, Board, DialComplete, LineEvent, LineKind, OffHook,
                                  OnHook, PolarityReversal, RingBegin, RingEnd)
from hotline.media.events import CallerIdHeard, DigitHeard, PlayFinished, RecordingFinished, ToneHeard
from hotline.media.loop import MediaLoop
from hotline.errors import HotlineError
from hotline.media.prompts import FALLBACK, Clip, PromptError, PromptLibrary

log = logging.getLogger("hotline.calls")

RING_GONE_S = 8.0  # no new ring burst for this long: the caller gave up (DRIVERS.md §1.8, Asterisk's ringtimeout)
ANSWER_AFTER_RINGS_WITHOUT_CALLER_ID = 2  # caller ID may come after the first ring: wait for the second
DISCONNECT_TONES = ("busy", "congestion")  # China exchanges: the far end hung up (no loop break)
OUTBOUND_ANSWER_TIMEOUT_S = 45.0
OUTBOUND_FAILURES = ("busy", "congestion", "sit")

Handler = Callable[[Call], Awaitable[None]]


class CallFailed(HotlineError):
    """An outbound call did not get through: busy, congestion, no answer, no idle trunk."""


@dataclass
class LineState:
    number: int
    kind: LineKind
    board: Board
    state: str = "idle"  # idle, ringing, in_call, dialing, alarm
    blocked: bool = False
    call: Call | None = None
    rings: int = 0
    caller_id: tuple | None = None
    timer: object = None


class CallManager:
    """Every line's state and every call; see the module docstring."""

    def __init__(self, media: MediaLoop, store, clock, handler: Handler, prompts: PromptLibrary, spool_dir: Path):
        self.media = media
        self.store = store
        self.clock = clock
        self.handler = handler
        self.prompts = prompts
        self.spool_dir = Path(spool_dir)
        self.lines: dict[int, LineState] = {}
        for board in media.boards:
            for line in board.lines:
                self.lines[line.number] = LineState(line.number, line.kind, board)
        self.calls: dict[int, Call] = {}
        self.tasks: set[asyncio.Task] = set()
        self.accepting = True
        self.calls_handled = 0
        self._timers: list = []
        self._timer_seq = itertools.count()
        self._cancelled: set = set()

    # -- timers in ticks ----------------------------------------------------------------------

    def after(self, ticks: int, callback: Callable[[], None]):
        entry = (self.media.ticks + ticks, next(self._timer_seq), callback)
        heapq.heappush(self._timers, entry)
        return entry

    def cancel(self, entry) -> None:
        self._cancelled.add(entry[1])

    def on_tick(self) -> None:
        while self._timers and self._timers[0][0] <= self.media.ticks:
            _, seq, callback = heapq.heappop(self._timers)
            if seq in self._cancelled:
                self._cancelled.discard(seq)
                continue
            callback()

    # -- events -------------------------------------------------------------------------------

    def handle(self, events: list[LineEvent]) -> None:
        for event in events:
            state = self.lines.get(event.line)
            if state is None:  # pragma: no cover - a board reporting a line it does not own
                log.warning("event for unknown line %s: %s", event.line, event)
                continue
            handler = self._HANDLERS.get(type(event))
            if handler is not None:
                handler(self, state, event)

    def _on_ring_begin(self, state: LineState, event: RingBegin) -> None:
        if state.kind != LineKind.TRUNK or state.state not in ("idle", "ringing"):
            return
        if state.state == "idle":
            if state.blocked or not self.accepting:
                log.info("line %d: ringing, not answered (%s)", state.number,
                         "blocked" if state.blocked else "stopping")
                state.caller_id = None  # it belonged to this refused call, not to the next one
                return
            self._start_inbound(state)
        state.rings += 1
        self._arm_ring_timeout(state)
        if state.rings >= ANSWER_AFTER_RINGS_WITHOUT_CALLER_ID:
            self._answer(state)

    def _on_ring_end(self, state: LineState, event: RingEnd) -> None:
        if state.state == "ringing" and state.caller_id is not None:
            self._answer(state)

    def _on_caller_id(self, state: LineState, event: CallerIdHeard) -> None:
        if state.state not in ("idle", "ringing"):
            return
        state.caller_id = (event.number, event.name)
        if state.state == "ringing":  # caller ID after the first ring: the record was already started
            call = state.call
            call.caller_number, call.caller_name = event.number, event.name
            self.store.call_caller(call.id, event.number, event.name)

    def _on_off_hook(self, state: LineState, event: OffHook) -> None:
        if state.kind == LineKind.STATION and state.state == "ringing" and state.call is not None:
            state.call.wake("station", True)
        elif state.kind == LineKind.TRUNK and state.state == "dialing" and state.call is not None:
            self._on_answer_supervision(state, event)

    def _on_on_hook(self, state: LineState, event: OnHook) -> None:
        if state.kind == LineKind.STATION:
            if state.call is not None:  # the agent hung up a bridged call
                self._unbridge(state.call, state.number)
                state.call = None
            state.state = "idle"
            return
        if state.call is not None:
            self.end_call(state.call, hangup_by="caller")

    def _on_tone(self, state: LineState, event: ToneHeard) -> None:
        call = state.call
        if call is None or state.kind != LineKind.TRUNK:
            return
        if event.kind in DISCONNECT_TONES and state.state == "in_call" and call.direction == "inbound":
            call.log.info("%s tone on the line: the caller hung up", event.kind)
            self.end_call(call, hangup_by="caller")
        elif state.state == "dialing":
            call.wake("progress", event.kind)

    def _on_digit(self, state: LineState, event: DigitHeard) -> None:
        if state.call is not None and state.state == "in_call" and state.call.bridged_to is None:
            self.annotate(state.number, {"heard": event.digit})
            state.call.log.info("digit %s", event.digit)
            state.call.on_digit(event.digit)

    def _on_play_finished(self, state: LineState, event: PlayFinished) -> None:
        if state.call is not None:
            state.call.on_play_finished(event.token, event.interrupted)

    def _on_recording_finished(self, state: LineState, event: RecordingFinished) -> None:
        if state.call is not None:
            state.call.on_recording_finished(event.reason, event.duration_ms)

    def _on_answer_supervision(self, state: LineState, event: LineEvent) -> None:
        if state.call is not None and state.state == "dialing":
            state.call.wake("progress", "answered")

    def _on_dial_complete(self, state: LineState, event: DialComplete) -> None:
        if state.call is not None:
            state.call.log.info("dialling complete")

    def _on_alarm(self, state: LineState, event: Alarm) -> None:
        log.warning("line %d: alarm: %s", state.number, event.reason)
        if state.call is not None:
            self.end_call(state.call, hangup_by="system")
        state.state = "alarm"

    def _on_alarm_cleared(self, state: LineState, event: AlarmCleared) -> None:
        log.info("line %d: alarm cleared", state.number)
        if state.state == "alarm":
            state.state = "idle"

    _HANDLERS = {
        RingBegin: _on_ring_begin, RingEnd: _on_ring_end, CallerIdHeard: _on_caller_id,
        OffHook: _on_off_hook, OnHook: _on_on_hook, ToneHeard: _on_tone, DigitHeard: _on_digit,
        PlayFinished: _on_play_finished, RecordingFinished: _on_recording_finished,
        PolarityReversal: _on_answer_supervision, DialComplete: _on_dial_complete,
        Alarm: _on_alarm, AlarmCleared: _on_alarm_cleared,
    }

    # -- inbound calls ------------------------------------------------------------------------

    def _new_call(self, state: LineState, direction: str, called: str | None = None) -> Call:
        number, name = state.caller_id or (None, None)
        started = self.clock.iso()
        call_id = self.store.call_started(state.number, direction, started, caller_number=number,
                                          caller_name=name, called_number=called)
        call = Call(self, call_id, state.number, direction, number, name, called, started)
        call.log = call_logger(log, state.number, call_id)
        self.calls[call_id] = call
        state.call = call
        return call

    def _start_inbound(self, state: LineState) -> None:
        state.state = "ringing"
        state.rings = 0
        call = self._new_call(state, "inbound")
        call.log.info("ringing, caller %s", call.caller_number or "unknown")

    def _arm_ring_timeout(self, state: LineState) -> None:
        if state.timer is not None:
            self.cancel(state.timer)
        state.timer = self.after(round(RING_GONE_S * TICKS_PER_S), lambda: self._ring_gone(state))

    def _ring_gone(self, state: LineState) -> None:
        state.timer = None
        if state.state == "ringing" and state.call is not None:
            state.call.log.info("caller gave up before the answer")
            self.end_call(state.call, hangup_by="caller")

    def _answer(self, state: LineState) -> None:
        if state.state != "ringing":
            return
        if state.timer is not None:
            self.cancel(state.timer)
            state.timer = None
        call = state.call
        state.board.off_hook(state.number)
        self.media.reset_line(state.number)
        state.state = "in_call"
        call.answered_at = self.clock.iso()
        self.store.call_answered(call.id, call.answered_at)
        self.calls_handled += 1
        call.log.info("answered")
        self._run_handler(call)

    def _run_handler(self, call: Call) -> None:
        task = asyncio.get_running_loop().create_task(self._handler_task(call), name=f"call-{call.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handler_task(self, call: Call) -> None:
        try:
            await self.handler(call)
        except CallEnded:
            pass
        except Exception:  # the boundary for one call: log it, hang up, the box goes on
            call.log.exception("handler failed")
        finally:
            if not call.ended:
                self.end_call(call, hangup_by="box")

    # -- outbound calls -----------------------------------------------------------------------

    async def place_call(self, number: str, line: int | None = None,
                         timeout_s: float = OUTBOUND_ANSWER_TIMEOUT_S) -> Call:
        """Dial ``number`` on ``line`` (or any idle trunk) and return the call once the far end
        answers (answer supervision, or voice after ringback); :class:`CallFailed` naming why not."""
        state = self._idle_trunk(line)
        state.state = "dialing"
        call = self._new_call(state, "outbound", called=number)
        state.board.off_hook(state.number)
        self.media.reset_line(state.number)
        state.board.dial(state.number, number)
        call.log.info("dialling %s", number)
        deadline = self.media.ticks + round(timeout_s * TICKS_PER_S)
        while True:
            remaining_s = (deadline - self.media.ticks) / TICKS_PER_S
            progress = await call.wait_for("progress", remaining_s) if remaining_s > 0 else None
            if progress in ("answered", "voice"):
                break
            if progress is None or progress in OUTBOUND_FAILURES:
                reason = progress or "no answer"
                self.end_call(call, hangup_by="box")
                raise CallFailed(f"call to {number} on line {state.number} failed: {reason}")
        state.state = "in_call"
        call.answered_at = self.clock.iso()
        self.store.call_answered(call.id, call.answered_at)
        call.log.info("answered")
        return call

    def _idle_trunk(self, line: int | None) -> LineState:
        if line is not None:
            state = self.lines.get(line)
            if state is None or state.kind != LineKind.TRUNK:
                raise CallFailed(f"line {line} is not a trunk")
            if state.state != "idle" or state.blocked:
                raise CallFailed(f"line {line} is {'blocked' if state.blocked else state.state}")
            return state
        for state in self.lines.values():
            if state.kind == LineKind.TRUNK and state.state == "idle" and not state.blocked:
                return state
        raise CallFailed("no idle trunk")

    # -- ending calls -------------------------------------------------------------------------

    def end_call(self, call: Call, hangup_by: str) -> None:
        """End ``call`` now: hang up its line (and a bridged station), write its record."""
        if call.ended:
            return
        state = self.lines[call.line]
        answered = call.answered_at is not None
        if call.bridged_to is not None:
            station = self.lines[call.bridged_to]
            self._unbridge(call, call.bridged_to)
            station.board.on_hook(station.number)
            station.state = "idle"
            station.call = None
        recorded_ms = self.media.stop_recording(call.line)
        if recorded_ms is not None:  # the handler's record() keeps what was said before the hang-up
            call.on_recording_finished("hangup", recorded_ms)
        self.media.reset_line(call.line, off_hook=False)
        if state.state in ("in_call", "dialing"):
            state.board.on_hook(call.line)
        if state.timer is not None:
            self.cancel(state.timer)
            state.timer = None
        call.hangup_by = hangup_by
        disposition = "answered" if answered else ("failed" if call.direction == "outbound" else "abandoned")
        self.store.call_ended(call.id, self.clock.iso(), disposition, hangup_by, digits=call.digits, path=call.path)
        call.log.info("ended: %s, hung up by %s", disposition, hangup_by)
        state.state = "idle"
        state.call = None
        state.caller_id = None
        state.rings = 0
        self.calls.pop(call.id, None)
        call.on_ended()

    def end_all(self, hangup_by: str = "system") -> int:
        calls = list(self.calls.values())
        for call in calls:
            self.end_call(call, hangup_by)
        return len(calls)

    # -- stations and bridges -----------------------------------------------------------------

    async def ring_station(self, call: Call, station: int, timeout_s: float) -> bool:
        """Ring ``station`` for ``call``; bridge the two when it answers within ``timeout_s``."""
        state = self.lines.get(station)
        if state is None or state.kind != LineKind.STATION or state.state != "idle" or state.blocked:
            why = "no such station" if state is None or state.kind != LineKind.STATION else \
                ("blocked" if state.blocked else state.state)
            call.log.info("station %s cannot be rung: %s", station, why)
            return False
        state.state, state.call = "ringing", call
        state.board.ring(station)
        call.log.info("ringing station %d", station)
        try:
            answered = await call.wait_for("station", timeout_s)
        except CallEnded:
            self._release_station(state)
            raise
        if not answered:
            self._release_station(state)
            call.log.info("station %d did not answer", station)
            return False
        state.board.off_hook(station)
        state.state = "in_call"
        self.media.bridge(call.line, station)
        call.bridged_to = station
        call.log.info("station %d answered: bridged", station)
        return True

    def _release_station(self, state: LineState) -> None:
        state.board.stop_ring(state.number)
        state.state, state.call = "idle", None

    def _unbridge(self, call: Call, station: int) -> None:
        self.media.unbridge(call.line)
        call.bridged_to = None
        call.wake("bridge")

    # -- helpers for calls --------------------------------------------------------------------

    def clip(self, call: Call, prompt: str) -> Clip:
        try:
            return self.prompts.get(prompt)
        except PromptError as exc:
            call.log.error("%s; playing the fallback tone instead", exc)
            return self.prompts.get(FALLBACK)

    def annotate(self, line: int, note: dict) -> None:
        self.lines[line].board.annotate(line, note)

    def progress(self, call: Call) -> None:
        self.store.call_progress(call.id, self.clock.iso(), digits=call.digits, path=call.path)

    def recording_started(self, call: Call, path) -> int:
        call.log.info("recording to %s", path)
        return self.store.recording_started(call.id, str(path), self.clock.iso())

    def recording_finished(self, recording_id: int, duration_ms: int, reason: str) -> None:
        self.store.recording_finished(recording_id, self.clock.iso(), duration_ms, reason)

    def recording_path(self, call: Call) -> Path:
        day = self.clock.iso()[:10]
        folder = self.spool_dir / "messages" / day
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"call-{call.id}-line-{call.line}.wav"

    # -- control ------------------------------------------------------------------------------

    def block(self, line: int, blocked: bool) -> None:
        state = self.lines[line]
        state.blocked = blocked
        self.store.set_line_blocked(line, blocked, self.clock.iso())

    def line_rows(self) -> list[dict]:
        return [{"number": s.number, "kind": s.kind.value, "board": s.board.name,
                 "state": "blocked" if s.blocked and s.state == "idle" else s.state,
                 "call_id": s.call.id if s.call and s.kind == LineKind.TRUNK else None}
                for s in self.lines.values()]
