"""A call, and the operations its handler awaits: play, collect, record, bridge, ring, hang up.

One :class:`Call` per call; its handler is one coroutine (the built-in menu now, the IVR flow
interpreter later) that awaits these operations. Each operation asks the media loop or the board
for something and waits for the event that ends it; the :class:`~hotline.calls.manager.CallManager`
routes events to the call. Time is counted in media ticks (20 ms), so timeouts follow the audio
clock and tests move it by running ticks, never by sleeping.

When the far end hangs up, whatever the handler awaits raises :class:`CallEnded`; the handler
simply lets it propagate. Digits are kept in a type-ahead buffer: a caller who knows the menu
can press ahead, and an interruptible prompt is skipped or cut short (barge-in).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hotline.drivers.base import FRAME_MS
from hotline.errors import HotlineError

if TYPE_CHECKING:  # pragma: no cover - import only for type names
    from hotline.calls.manager import CallManager

TICKS_PER_S = 1000 // FRAME_MS


class CallEnded(HotlineError):
    """The call is over (the far end hung up, or the box hung up): nothing more can be done on it."""


@dataclass(frozen=True)
class RecordingResult:
    path: str
    duration_ms: int
    reason: str  # silence, max_length, digit, hangup


@dataclass
class _Wait:
    kind: str  # play, digit, record, sleep, or what a manager wakes: station, bridge, progress
    future: asyncio.Future
    token: int = 0
    timer: object = None


@dataclass
class Call:
    """One call on one line. Handlers use the ``async`` methods; the manager feeds events."""

    manager: "CallManager"
    id: int
    line: int
    direction: str
    caller_number: str | None = None
    caller_name: str | None = None
    called_number: str | None = None
    started_at: str = ""
    answered_at: str | None = None
    log: logging.LoggerAdapter | None = None
    variables: dict = field(default_factory=dict)
    path: list = field(default_factory=list)
    digits: str = ""  # every digit heard during the call
    ended: bool = False
    hangup_by: str | None = None
    bridged_to: int | None = None
    _typeahead: str = ""
    _wait: _Wait | None = None
    _last_recording_ms: int = 0

    # -- what handlers use --------------------------------------------------------------------

    def step(self, name: str) -> None:
        """Note that the handler reached ``name``; the call's record keeps the path."""
        self.path.append(name)
        self.manager.progress(self)

    async def play(self, prompt: str, interruptible: bool = True) -> str | None:
        """Play ``prompt``; with ``interruptible``, a digit stops it (and stays buffered for
        :meth:`collect`). Returns the digit that interrupted, if any. A prompt that cannot be
        played is logged with its file and replaced by a short fallback tone."""
        self._check()
        if interruptible and self._typeahead:
            await asyncio.sleep(0)  # still a turn of the loop: a handler replaying a prompt must not spin
            return self._typeahead[0]
        clip = self.manager.clip(self, prompt)
        token = self.manager.media.play(self.line, clip, barge_in=interruptible)
        self.manager.annotate(self.line, {"prompt": clip.name, "state": "start"})
        interrupted = await self._await(_Wait("play", self._future(), token=token))
        self.manager.annotate(self.line, {"prompt": clip.name, "state": "end"})
        return self._typeahead[:1] if interrupted else None

    async def collect(self, max_digits: int = 1, first_timeout_s: float = 5.0, inter_timeout_s: float = 3.0,
                      terminators: str = "#", prompt: str | None = None) -> str:
        """Digits the caller keys: up to ``max_digits``, or until a terminator (not returned), or a
        timeout (``first_timeout_s`` before the first digit, ``inter_timeout_s`` between digits).
        An empty string means the caller pressed nothing in time."""
        if prompt is not None:
            await self.play(prompt, interruptible=True)
        collected = ""
        while len(collected) < max_digits:
            if not self._typeahead:
                timeout = first_timeout_s if not collected else inter_timeout_s
                if not await self._await(_Wait("digit", self._future()), timeout):
                    break
            digit, self._typeahead = self._typeahead[0], self._typeahead[1:]
            if digit in terminators:
                if collected or max_digits > 1:
                    break
            collected += digit
        return collected

    async def record(self, path, max_s: float, silence_s: float, beep: bool = True,
                     stop_digits: str = "#") -> RecordingResult:
        """Record what the caller says into ``path`` until ``max_s``, ``silence_s`` of silence,
        a digit of ``stop_digits`` or hang-up. The recording is kept in every case."""
        if beep:
            await self.play("tone:beep", interruptible=False)
        self._typeahead = ""
        recording_id = self.manager.recording_started(self, path)
        self.manager.media.start_recording(self.line, path, max_s, silence_s)
        reason = "hangup"
        try:
            while True:
                outcome = await self._await(_Wait("record", self._future()))
                if isinstance(outcome, str):
                    reason = outcome
                    break
                if self._typeahead and self._typeahead[-1] in stop_digits:
                    self._typeahead = ""
                    reason = "digit"
                    break
        finally:
            duration = self.manager.media.stop_recording(self.line)
            result_ms = self._last_recording_ms if duration is None else duration
            self.manager.recording_finished(recording_id, result_ms, reason)
        return RecordingResult(str(path), result_ms, reason)

    async def sleep(self, seconds: float) -> None:
        self._check()
        await self._await(_Wait("sleep", self._future()), seconds)

    async def hangup(self) -> None:
        """The box hangs up the call."""
        if not self.ended:
            self.manager.end_call(self, hangup_by="box")

    async def ring_station(self, station: int, timeout_s: float, ringback: bool = True) -> bool:
        """Ring ``station`` while the caller hears ringback; True once it answers (then the two are
        bridged: see :meth:`stay_bridged`), False after ``timeout_s``."""
        self._check()
        if ringback:
            self.manager.media.play(self.line, self.manager.prompts.get("tone:ringback"))
        answered = await self.manager.ring_station(self, station, timeout_s)
        self.manager.media.stop_play(self.line)
        return answered

    async def stay_bridged(self) -> None:
        """Wait while the call is bridged; returns when the other side hangs up."""
        while self.bridged_to is not None:
            await self.wait_for("bridge")

    # -- what the manager uses ----------------------------------------------------------------

    def on_digit(self, digit: str) -> None:
        self.digits += digit
        self._typeahead += digit
        self.manager.progress(self)
        if self._wait and self._wait.kind in ("digit", "record"):
            self._resolve(True)

    def on_play_finished(self, token: int, interrupted: bool) -> None:
        if self._wait and self._wait.kind == "play" and self._wait.token == token:
            self._resolve(interrupted)

    def on_recording_finished(self, reason: str, duration_ms: int) -> None:
        self._last_recording_ms = duration_ms
        if self._wait and self._wait.kind == "record":
            self._resolve(reason)

    def wake(self, kind: str, value=None) -> None:
        """Resolve what the handler awaits if it waits for ``kind`` (a station answered, a bridge ended)."""
        if self._wait and self._wait.kind == kind:
            self._resolve(value)

    async def wait_for(self, kind: str, timeout_s: float | None = None):
        """Wait until :meth:`wake` is called with ``kind``; None after ``timeout_s``."""
        return await self._await(_Wait(kind, self._future()), timeout_s)

    def on_ended(self) -> None:
        self.ended = True
        if self._wait and not self._wait.future.done():
            self._cancel_timer()
            self._wait.future.set_exception(CallEnded(f"call {self.id} ended"))
            self._wait = None

    # -- waiting ------------------------------------------------------------------------------

    def _check(self) -> None:
        if self.ended:
            raise CallEnded(f"call {self.id} ended")

    def _future(self) -> asyncio.Future:
        self._check()
        return asyncio.get_running_loop().create_future()

    async def _await(self, wait: _Wait, timeout_s: float | None = None):
        """Wait for ``wait`` to be resolved; after ``timeout_s`` it resolves to False/None."""
        self._wait = wait
        if timeout_s is not None:
            wait.timer = self.manager.after(max(1, round(timeout_s * TICKS_PER_S)),
                                            lambda: self._timeout(wait))
        try:
            return await wait.future
        finally:
            if self._wait is wait:
                self._cancel_timer()
                self._wait = None

    def _timeout(self, wait: _Wait) -> None:
        if self._wait is wait and not wait.future.done():
            wait.future.set_result(False if wait.kind == "digit" else None)

    def _resolve(self, value) -> None:
        wait = self._wait
        if wait and not wait.future.done():
            self._cancel_timer()
            wait.future.set_result(value)

    def _cancel_timer(self) -> None:
        if self._wait and self._wait.timer is not None:
            self.manager.cancel(self._wait.timer)
            self._wait.timer = None
