"""Far-end clients of the simulated board, over its Unix socket: a caller, a phone, an answerer.

What
    :class:`SimCaller` rings the box on a trunk and talks to it: DTMF keys as real tones
    (:func:`hotline.dsp.tones.dtmf`, random phase), any audio, hang-up. :class:`SimPhone` is
    the phone of a station (it rings, is lifted, flashes, is put down). :class:`SimAnswerer`
    takes the calls the box places. Each keeps a :class:`Transcript` of the call as it
    happens (what was sent, what the box said it played and heard, who hung up), and offers
    the board's events and the box's audio as an async stream (:meth:`SimClient.events`).

How
    One asyncio connection per client (protocol: :mod:`hotline.drivers.sim.protocol`). Call
    time is counted in box audio frames received (20 ms each): the board sends one per tick
    while connected, so transcript times are the box's own time whatever the wall clock does,
    and waits (``t2.5``, :meth:`SimClient.wait_time`) are measured the same way. Audio is sent
    ahead of the box by at most ``max_ahead_frames`` (the board queues it, up to 10 s), and the
    client keeps a model of that queue, so it knows at which frame the box hears each sample:
    "sent digit 1" is stamped with the time the box hears the tone start, and written to the
    transcript when that frame has passed, in order with the box's notes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable

import numpy as np

from hotline.drivers.base import FRAME_MS, FRAME_SAMPLES
from hotline.drivers.sim import protocol
from hotline.drivers.sim.protocol import (AnsweredEvent, AttachedEvent, AudioEvent, AudioOp, CallOp, ErrorEvent,
                                          Event, FlashOp, HangupEvent, IncomingEvent, NoteEvent, OffHookOp,
                                          OnHookOp, PhoneOp, ProtocolError, RingEvent, RingingEvent)
from hotline.dsp import tones
from hotline.dsp.levels import to_pcm16
from hotline.errors import HotlineError

FRAMES_PER_S = 1000 // FRAME_MS
DEFAULT_CALLER = "13800138000"
CLIENT_LINE_LIMIT = 1 << 20  # the board's lines: audio is ~460 bytes, notes are small
MAX_AHEAD_FRAMES = 50  # audio sent ahead of what the box has heard (1 s; the board takes 10 s)
REPLY_TIMEOUT_S = 10.0
DIGIT_ON_MS = 80
DIGIT_OFF_MS = 80
DIGIT_LEVEL_DBM0 = -8.0


class SimUnavailable(HotlineError):
    """The simulated board's socket is absent or refuses connections: the daemon is not running."""


class SimCallError(HotlineError):
    """The board refused what the client asked, or the call is not in a state to do it."""


def format_call_time(frames: int) -> str:
    """Call time of ``frames`` 20 ms frames as ``mm:ss.ss``."""
    centis = int(frames) * FRAME_MS // 10
    minutes, centis = divmod(centis, 6000)
    return f"{minutes:02d}:{centis // 100:02d}.{centis % 100:02d}"


@dataclass(frozen=True)
class TranscriptLine:
    """One thing that happened in a call, at ``frames`` of call time."""

    frames: int
    kind: str  # call, ringing, answered, prompt, heard, note, digit, voice, hangup, incoming, ring, error, ...
    text: str
    data: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.frames * FRAME_MS / 1000.0

    @property
    def time(self) -> str:
        return format_call_time(self.frames)

    def format(self) -> str:
        return f"{self.time}  {self.text}"

    def to_json(self) -> dict:
        return {"time": self.time, "t": round(self.seconds, 2), "event": self.kind, "text": self.text, **self.data}


class Transcript:
    """The lines of a call in order; ``on_line`` is called with each as it is added."""

    def __init__(self, on_line: Callable[[TranscriptLine], None] | None = None):
        self.lines: list[TranscriptLine] = []
        self.on_line = on_line

    def add(self, frames: int, kind: str, text: str, **data) -> TranscriptLine:
        line = TranscriptLine(frames, kind, text, data)
        self.lines.append(line)
        if self.on_line is not None:
            self.on_line(line)
        return line

    def texts(self) -> list[str]:
        return [line.text for line in self.lines]

    def kinds(self) -> list[str]:
        return [line.kind for line in self.lines]


@dataclass(frozen=True)
class _Mark:
    """A transcript line due when the box has heard frame ``frame`` of what we sent."""

    frame: int
    kind: str
    text: str
    data: dict


def describe_note(note: dict) -> tuple[str, str, dict]:
    """A box note as a transcript line: (kind, text, data)."""
    if "prompt" in note and note.get("state") in ("start", "end"):
        verb = "started" if note["state"] == "start" else "ended"
        return "prompt", f"prompt {note['prompt']} {verb}", {"prompt": note["prompt"], "state": note["state"]}
    if "heard" in note:
        return "heard", f"box heard {note['heard']}", {"heard": note["heard"]}
    return "note", "note " + " ".join(f"{key}={value}" for key, value in note.items()), {"note": note}


class SimClient:
    """What every far-end client shares: the connection, the transcript, call time, pacing.

    ``on_line``: called with each :class:`TranscriptLine` as it happens. ``keep_audio``: keep
    every frame of box audio (:meth:`received_audio`). ``rng``: phases of generated tones.
    """

    def __init__(self, *, on_line: Callable[[TranscriptLine], None] | None = None, keep_audio: bool = False,
                 rng: np.random.Generator | None = None, max_ahead_frames: int = MAX_AHEAD_FRAMES):
        self.transcript = Transcript(on_line)
        self.keep_audio = keep_audio
        self.rng = rng if rng is not None else np.random.default_rng()
        self.max_ahead_frames = max_ahead_frames
        self.frames = 0  # box audio frames received in this call: the call time
        self.line: int | None = None
        self.connected = False  # audio flows both ways
        self.ended_by: str | None = None  # "box", "network", "us", "lost": why the call ended
        self.closed = False  # the socket is gone
        self.prompt: str | None = None  # the prompt the box says plays now
        self.prompt_ends = 0  # prompt-end notes received
        self.errors: list[str] = []
        self._audio: list[np.ndarray] = []
        self._marks: list[_Mark] = []
        self._play_at = 0  # call-time frame at which the box will hear the next frame we send
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self._changed = asyncio.Event()
        self._reply: asyncio.Future | None = None
        self._subscribers: list[asyncio.Queue] = []

    # -- connection ---------------------------------------------------------------------------

    async def connect(self, path: str | Path) -> None:
        """Connect to the board's socket; :class:`SimUnavailable` if nobody listens there."""
        try:
            self._reader, self._writer = await asyncio.open_unix_connection(str(path), limit=CLIENT_LINE_LIMIT)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as exc:
            raise SimUnavailable(f"{path}: {exc.strerror or exc}: is the daemon running with the sim board?") \
                from exc
        self._task = asyncio.create_task(self._read_loop())

    async def close(self) -> None:
        """Close the connection (during a call, the board takes it as a hang-up)."""
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=2.0)
            except asyncio.TimeoutError:  # pragma: no cover - a board that never closes its side
                self._task.cancel()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    @property
    def in_call(self) -> bool:
        return self.line is not None and self.ended_by is None

    @property
    def call_time(self) -> str:
        return format_call_time(self.frames)

    def note(self, kind: str, text: str, **data) -> TranscriptLine:
        """Add a line to the transcript at the current call time."""
        return self.transcript.add(self.frames, kind, text, **data)

    async def send(self, op) -> None:
        if self._writer is None or self.closed:
            raise SimCallError("not connected to the board")
        try:
            self._writer.write(protocol.encode(op))
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise SimCallError(f"connection to the board lost: {exc}") from exc

    async def request(self, op, timeout: float = REPLY_TIMEOUT_S) -> Event:
        """Send ``op`` and return the board's reply; :class:`SimCallError` for an ``error`` reply."""
        self._reply = asyncio.get_running_loop().create_future()
        await self.send(op)
        try:
            reply = await asyncio.wait_for(self._reply, timeout)
        except asyncio.TimeoutError:
            raise SimCallError(f"no reply from the board to {op.kind} within {timeout:g} s") from None
        finally:
            self._reply = None
        if isinstance(reply, ErrorEvent):
            raise SimCallError(reply.error)
        return reply

    # -- what the board says ------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event]:
        """Every event from now on, box audio included, until the connection closes."""
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            self._subscribers.remove(queue)

    def received_audio(self) -> np.ndarray:
        """The box audio received so far (with ``keep_audio``), int16."""
        return np.concatenate(self._audio) if self._audio else np.zeros(0, np.int16)

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    line = await self._reader.readline()
                except (ConnectionError, OSError, ValueError):
                    break
                if not line:
                    break
                try:
                    event = protocol.decode_event(line)
                except ProtocolError as exc:
                    self.note("error", f"bad message from the board: {exc}")
                    continue
                self._on_event(event)
                for queue in self._subscribers:
                    queue.put_nowait(event)
                self._poke()
        finally:
            self.closed = True
            if self.in_call:
                self._end("lost", "connection to the box lost")
            for queue in self._subscribers:
                queue.put_nowait(None)
            self._poke()

    def _poke(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, AudioEvent):
            self.frames += 1
            if self.keep_audio:
                self._audio.append(event.pcm)
            if self._marks and self._marks[0].frame < self.frames:
                self._flush_marks()
        elif isinstance(event, (RingingEvent, AttachedEvent, ErrorEvent)) and self._reply is not None \
                and not self._reply.done():
            self._reply.set_result(event)
        elif isinstance(event, ErrorEvent):
            self.errors.append(event.error)
            self.note("error", f"board refused: {event.error}", error=event.error)
        elif isinstance(event, AnsweredEvent):
            self._connect()
            self.note("answered", "box answered")
        elif isinstance(event, NoteEvent):
            kind, text, data = describe_note(event.note)
            if kind == "prompt":
                if data["state"] == "start":
                    self.prompt = data["prompt"]
                else:
                    self.prompt = None
                    self.prompt_ends += 1
            self.note(kind, text, **data)
        elif isinstance(event, HangupEvent):
            self._end(event.by, "box hung up" if event.by == "box" else "the network ended the call")
        else:
            self._on_other(event)

    def _on_other(self, event: Event) -> None:
        """Events only some clients expect (ring, incoming)."""

    def _connect(self) -> None:
        self.connected = True
        self.frames = 0
        self._play_at = 0

    def _end(self, by: str, text: str) -> None:
        if self.ended_by is not None:
            return
        self.ended_by = by
        self.connected = False
        self._marks.clear()  # sent but never heard
        self.note("hangup", text, by=by)

    def _flush_marks(self) -> None:
        while self._marks and self._marks[0].frame < self.frames:
            mark = self._marks.pop(0)
            self.transcript.add(mark.frame, mark.kind, mark.text, **mark.data)

    # -- waiting ------------------------------------------------------------------------------

    async def wait_until(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until ``predicate()`` holds (``True``) or the connection is gone (its value then);
        :class:`TimeoutError` after ``timeout`` seconds of wall time."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            if self.closed:
                return predicate()
            changed = self._changed
            if deadline is None:
                await changed.wait()
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:g} s")
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return True

    async def wait_time(self, seconds: float, timeout: float | None = None) -> bool:
        """Let ``seconds`` of call time pass; ``False`` if the call ended first."""
        target = self.frames + int(round(seconds * FRAMES_PER_S))
        await self.wait_until(lambda: self.frames >= target or self.ended_by is not None, timeout)
        return self.frames >= target

    async def wait_prompt_end(self, timeout: float | None = None) -> bool:
        """Wait until the prompt playing now ends, or, if none plays, until the next one ends;
        ``False`` if the call ended first."""
        target = self.prompt_ends + 1
        await self.wait_until(lambda: self.prompt_ends >= target or self.ended_by is not None, timeout)
        return self.prompt_ends >= target

    async def wait_ended(self, timeout: float | None = None) -> bool:
        """Wait until the call is over, whoever ended it."""
        return await self.wait_until(lambda: self.ended_by is not None, timeout)

    # -- talking ------------------------------------------------------------------------------

    async def send_audio(self, samples, *, marks: tuple[tuple[int, str, str, dict], ...] = (),
                         wait: bool = True, timeout: float | None = None) -> bool:
        """Say ``samples`` (8 kHz, int16 scale) to the box; ``False`` if the call ended first.

        ``marks``: ``(sample offset, kind, text, data)`` transcript lines, stamped with the call
        time at which the box hears that sample. With ``wait``, return when the box has heard
        the last frame, so the next step starts after it.
        """
        if not self.connected:
            raise SimCallError("not in a call with the box")
        x = to_pcm16(samples)
        x = np.concatenate([x, np.zeros((-len(x)) % FRAME_SAMPLES, np.int16)])
        frames = x.reshape(-1, FRAME_SAMPLES)
        pending = sorted(marks, key=lambda m: m[0])
        sent = 0
        while sent < len(frames):
            await self.wait_until(lambda: not self.connected
                                  or self._play_at - self.frames < self.max_ahead_frames, timeout)
            if not self.connected:
                return False
            begin = max(self._play_at, self.frames)
            count = min(len(frames) - sent, self.max_ahead_frames - (begin - self.frames))
            while pending and pending[0][0] < (sent + count) * FRAME_SAMPLES:
                offset, kind, text, data = pending.pop(0)
                self._marks.append(_Mark(begin + offset // FRAME_SAMPLES - sent, kind, text, data))
            self._play_at = begin + count
            await self._send_frames(frames[sent:sent + count])
            sent += count
        if wait:
            return await self.wait_until(lambda: self.frames >= self._play_at or not self.connected, timeout) \
                and self.connected
        return True

    async def _send_frames(self, frames: np.ndarray) -> None:
        if self._writer is None or self.closed:
            raise SimCallError("not connected to the board")
        try:
            self._writer.write(b"".join(protocol.encode(AudioOp(frame)) for frame in frames))
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise SimCallError(f"connection to the board lost: {exc}") from exc

    async def send_digits(self, digits: str, on_ms: float = DIGIT_ON_MS, off_ms: float = DIGIT_OFF_MS,
                          level_dbm0: float = DIGIT_LEVEL_DBM0, *, timeout: float | None = None) -> bool:
        """Press ``digits`` (``0-9*#ABCD``): real DTMF tones, each ``on_ms`` then ``off_ms`` quiet."""
        digits = digits.upper()
        audio = tones.dtmf(digits, on_ms=on_ms, off_ms=off_ms, level_dbm0=level_dbm0, rng=self.rng)
        step = tones.samples_for_ms(on_ms) + tones.samples_for_ms(off_ms)
        marks = tuple((k * step, "digit", f"sent digit {digit}", {"digit": digit}) for k, digit in enumerate(digits))
        return await self.send_audio(audio, marks=marks, timeout=timeout)

    async def send_voice(self, samples, label: str, *, timeout: float | None = None) -> bool:
        """Say recorded ``samples`` (a caller's voice); the transcript names it ``label``."""
        seconds = len(samples) / (FRAMES_PER_S * FRAME_SAMPLES)
        return await self.send_audio(samples, marks=((0, "voice", f"sent voice {label} ({seconds:.2f} s)",
                                                      {"file": label, "seconds": round(seconds, 2)}),),
                                     timeout=timeout)


class SimCaller(SimClient):
    """A caller: rings the box on a trunk, talks, hangs up. See :class:`SimClient` for the rest."""

    async def call(self, caller: str | None = DEFAULT_CALLER, name: str | None = None,
                   line: int | None = None) -> int:
        """Ring the box (on ``line``, or any idle trunk); the trunk's number once it rings."""
        reply = await self.request(CallOp(caller=caller, name=name, line=line))
        self.line = reply.line
        self.ended_by = None
        who = caller if caller is not None else "a withheld number"
        self.note("call", f"call placed on line {reply.line} as {who}" + (f" ({name})" if name else ""),
                  line=reply.line, caller=caller, name=name)
        return reply.line

    async def wait_answered(self, timeout: float | None = None) -> bool:
        """Wait for the box to answer; ``False`` if the call ended first, :class:`TimeoutError` after ``timeout``."""
        await self.wait_until(lambda: self.connected or self.ended_by is not None, timeout)
        return self.connected

    async def hangup(self) -> None:
        """Hang up (or give up while it rings)."""
        if not self.in_call:
            return
        self._end("us", "caller hung up")
        await self.send(OnHookOp())


class SimPhone(SimClient):
    """The phone of a station: rings, is lifted (:meth:`offhook`), put down, flashed."""

    def __init__(self, **options):
        super().__init__(**options)
        self.ringing = False
        self.offhook_now = False

    async def attach(self, line: int) -> int:
        reply = await self.request(PhoneOp(line=line))
        self.line = reply.line
        self.note("attached", f"phone on station {reply.line}", line=reply.line)
        return reply.line

    def _on_other(self, event: Event) -> None:
        if isinstance(event, RingEvent) and event.on != self.ringing:  # lifting the phone already stopped it
            self.ringing = event.on
            self.note("ring", "ringing" if event.on else "ringing stopped", on=event.on)

    async def wait_ring(self, timeout: float | None = None) -> bool:
        return await self.wait_until(lambda: self.ringing, timeout)

    async def offhook(self) -> None:
        """Lift the handset: answers a ringing phone, or asks the box for dial tone."""
        self.ended_by = None
        self._connect()
        self.offhook_now = True
        self.ringing = False
        self.note("offhook", "phone lifted")
        await self.send(OffHookOp())

    async def onhook(self) -> None:
        self.offhook_now = False
        self.connected = False
        self._end("us", "phone put down")
        await self.send(OnHookOp())

    hangup = onhook

    async def flash(self) -> None:
        self.note("flash", "hook flash")
        await self.send(FlashOp())


class SimAnswerer(SimClient):
    """Takes the box's outbound calls to a number (or any): :meth:`register`, then
    :meth:`wait_incoming` and :meth:`offhook` to answer."""

    def __init__(self, **options):
        super().__init__(**options)
        self.incoming: IncomingEvent | None = None

    async def register(self, number: str | None = None) -> None:
        await self.request(protocol.AnswerOp(number=number))
        self.note("attached", f"answering calls to {number or 'any number'}", number=number)

    def _on_other(self, event: Event) -> None:
        if isinstance(event, IncomingEvent):
            self.incoming = event
            self.line = event.line
            self.ended_by = None
            self.frames = 0
            self.note("incoming", f"box calls {event.number} on line {event.line}", line=event.line,
                      number=event.number)

    def _end(self, by: str, text: str) -> None:
        super()._end(by, text)
        self.incoming = None

    async def wait_incoming(self, timeout: float | None = None) -> IncomingEvent:
        await self.wait_until(lambda: self.incoming is not None, timeout)
        if self.incoming is None:
            raise SimCallError("connection to the board lost")
        return self.incoming

    async def offhook(self) -> None:
        """Answer the call offered."""
        if self.incoming is None:
            raise SimCallError("no incoming call to answer")
        self._connect()
        self.note("answered", "answered")
        await self.send(OffHookOp())

    async def hangup(self) -> None:
        if not self.in_call:
            return
        self._end("us", "answerer hung up")
        await self.send(OnHookOp())
