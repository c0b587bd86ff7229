"""The simulated board: trunks and stations with a line model, and far ends that call in.

What
    :class:`SimBoard` is a :class:`~hotline.drivers.base.Board` whose lines lead to simulated
    far ends instead of copper: a caller rings the box on a trunk, a phone hangs on a station,
    an answerer takes the calls the box places. The demo, the tests, ``hotlinectl test-call``
    and the engine benchmark drive the box through it. Far ends are :class:`FarEndHandle`
    objects, made in-process (:meth:`SimBoard.attach_caller`, :meth:`SimBoard.attach_phone`,
    :meth:`SimBoard.attach_answerer`) or, one per connection, by the Unix-socket server
    (:meth:`SimBoard.serve`, protocol in :mod:`hotline.drivers.sim.protocol`): both use the
    same handle, so a socket client behaves exactly like an in-process one.

How
    Time is the board's tick: one :meth:`~SimBoard.read` is 20 ms. Every cadence and timeout
    counts ticks, so tests drive a call by calling ``read``/``write`` in a loop, never sleeping;
    the :class:`~hotline.clock.Clock` only stamps the caller-ID date. Each ``read`` builds the
    far-end signal of every line (the far end's queued frame, a tone the exchange plays, the
    caller-ID spill, or nothing), then passes all lines through ONE multi-channel
    :class:`~hotline.dsp.linemodel.LineModel` (gain, frequency offset, hybrid echo of the
    box's previous ``write``, noise, G.711), so a line without a far end carries line noise.
    Python runs per line only for lines with a far end, a tone, a ringer or a timer.
    ``write`` hands each connected far end its frame.

Real behaviour imitated (``shared/reference/drivers/DRIVERS.md``)
    - §1.7: audio moves in 160-sample blocks, one read and one write per tick; an idle line
      still delivers audio (noise), which is what lets the box hear on-hook caller ID.
    - §1.8, FXO incoming: every burst of the ring cadence gives :class:`RingBegin` then
      :class:`RingEnd` with its length; a caller who gives up before the answer gives **no
      event**: ringing simply stops (a burst cut short still ends with :class:`RingEnd`), and
      the box must time out. After the box answers, the far end's hang-up is a loop-current
      break (:class:`OnHook`) or, with ``disconnect="busy_tone"``, China busy tone (450 Hz,
      350/350 ms) in the audio and no event, as many exchanges do.
    - §1.9, caller ID: FSK MDMF (date and time MMDDHHMM, number, name; Bellcore field codes,
      which YDN 069 uses) as on-hook audio, either before the first ring (``fsk_before_ring``,
      about 0.5 s before it) or in the silence after the first ring (``fsk_after_first_ring``:
      starting 0.5 s after ring 1 ends); the board does not decode it for the box (DAHDI leaves
      FSK to userspace), the box hears it.
    - §1.8, FXO outbound: ``dial`` takes 100 ms of tone plus 100 ms of gap per digit (DAHDI's
      DTMF length), ``W`` 500 ms, then :class:`DialComplete`; the exchange plays ringback
      while the called party rings, :class:`PolarityReversal` then :class:`OffHook` on answer
      (answer supervision), busy tone when nobody answers within :data:`NO_ANSWER_S` or the
      party is busy, congestion tone when the number is unknown (China plan).
    - §1.8, FXS: ``ring`` runs the cadence (the phone hears ring on/off); the phone lifted
      gives :class:`OffHook` (whether or not it rang: an agent wanting dial tone), put down
      :class:`OnHook`, a flash :class:`HookFlash`; ringing a phone that is already off hook
      trips the ring at once (:class:`OffHook`), and ringing while the box holds the line
      off hook is refused (DAHDI's EBUSY).
    - Not simulated: the 2 s ring debounce after a hang-up, polarity reversal or DT-AS before
      caller ID, DTMF caller ID, reversal on disconnect, flash services of the exchange (a
      trunk flash does nothing), alarms.

Threads
    The media loop may call ``read``/``write`` from another thread than the socket server's
    event loop: every entry point takes the board's lock, and socket writers are woken with
    ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import os
import stat
import threading
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np

from hotline.clock import Clock
from hotline.drivers.base import (DEFAULT_STATION_RING_CADENCE_MS, FRAME_MS, FRAME_SAMPLES, Board, DialComplete,
                                  DriverError, HookFlash, Line, LineEvent, LineKind, OffHook, OnHook,
                                  PolarityReversal, RingBegin, RingEnd)
from hotline.drivers.sim import protocol
from hotline.drivers.sim.protocol import (AnsweredEvent, AttachedEvent, AudioEvent, CallOp, ErrorEvent, Event,
                                          HangupEvent, IncomingEvent, NoteEvent, Op, ProtocolError, RingEvent,
                                          RingingEvent)
from hotline.dsp import callerid, tones
from hotline.dsp.linemodel import LineModel
from hotline.errors import HotlineError

log = logging.getLogger(__name__)

MAX_QUEUED_MS = 10_000  # audio a far end may send ahead; more is refused and dropped
MAX_QUEUED_FRAMES = MAX_QUEUED_MS // FRAME_MS
MAX_OUTBOX_FRAMES = 500  # box audio kept for a far end that does not take it (10 s); later frames dropped
MAX_ERRORS = 20  # refused ops a connection may make; one more and it is dropped
MAX_CADENCE_MS = 60_000  # longest on or off time of a ring cadence
NO_ANSWER_S = 30  # an outbound call rings this long before the exchange gives busy tone
DIAL_TONE_MS = 100  # DAHDI's default DTMF length
DIAL_GAP_MS = 100  # between dialled digits
DIAL_PAUSE_MS = 500  # 'W' in a dial string
CID_LEAD_MS = 500  # fsk_before_ring: silence between the end of the spill and the first ring
CID_AFTER_RING_MS = 500  # fsk_after_first_ring: silence between ring 1 and the spill (GR-30: >= 0.5 s)
CONTINUOUS_TONE_MS = 1000  # a continuous tone is generated once for this long, then looped
SOCKET_MODE = 0o660
DIAL_DIGITS = set("0123456789*#ABCD")
CALLERID_MODES = ("fsk_before_ring", "fsk_after_first_ring", "none")
DISCONNECT_MODES = ("loop_break", "busy_tone")

# Trunk phases.
IDLE = "idle"  # on hook, nobody calling
ALERTING = "alerting"  # a caller rings the box (caller ID, ring bursts); the box is on hook
CONNECTED = "connected"  # box off hook, far end present: audio both ways
SEIZED = "seized"  # box off hook to dial: dial tone
DIALING = "dialing"  # the board sends the digits
RINGBACK = "ringback"  # the called answerer rings; the box hears ringback tone
TONE = "tone"  # box off hook, the exchange plays busy or congestion tone
DEAD = "dead"  # box off hook after a loop-break disconnect: line noise only


class FarEndError(HotlineError):
    """A far end asked for something the board refuses; the text is sent to it as an error."""


def _frames(ms: float) -> int:
    """Ticks in ``ms``, at least one."""
    return max(1, int(round(ms / FRAME_MS)))


def _whole_frames(x: np.ndarray) -> np.ndarray:
    """``x`` padded with silence to a whole number of frames."""
    pad = (-len(x)) % FRAME_SAMPLES
    return np.concatenate([x, np.zeros(pad)]) if pad else x


class _Source:
    """Samples the exchange or the board puts on a line from tick ``start``, once or looped."""

    __slots__ = ("samples", "start", "loop")

    def __init__(self, samples: np.ndarray, start: int, loop: bool):
        self.samples = _whole_frames(np.asarray(samples, dtype=np.float64))
        self.start = start
        self.loop = loop

    def frame(self, tick: int) -> np.ndarray | None:
        k = tick - self.start
        if k < 0:
            return None
        a = k * FRAME_SAMPLES
        if self.loop:
            a %= len(self.samples)
        elif a >= len(self.samples):
            return None
        return self.samples[a:a + FRAME_SAMPLES]

    def finished(self, tick: int) -> bool:
        return not self.loop and (tick - self.start + 1) * FRAME_SAMPLES >= len(self.samples)


class _Cadence:
    """A ring cadence (on, off, on, off, ... in ms) as transitions at tick offsets in a period."""

    def __init__(self, cadence_ms, what: str):
        cadence = tuple(cadence_ms)
        if not cadence or len(cadence) % 2 or any(
                isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 < ms <= MAX_CADENCE_MS
                for ms in cadence):
            raise DriverError(f"{what}: a ring cadence is pairs of on and off times, each 1 to "
                              f"{MAX_CADENCE_MS} ms; got {cadence!r}")
        self.ms = cadence
        self.on_frames = _frames(cadence[0])
        self.transitions: dict[int, bool] = {}
        position = 0
        for k, ms in enumerate(cadence):
            self.transitions[position] = k % 2 == 0
            position += _frames(ms)
        self.period = position


class _Ringer:
    """A cadence running from tick ``origin``: reports when the ringing goes on or off."""

    __slots__ = ("cadence", "origin", "on", "on_since")

    def __init__(self, cadence: _Cadence, origin: int):
        self.cadence = cadence
        self.origin = origin
        self.on = False
        self.on_since = 0

    def step(self, tick: int) -> tuple[bool, int] | None:
        """``(True, 0)`` when a burst starts at ``tick``, ``(False, burst_ms)`` when one ends."""
        k = tick - self.origin
        if k < 0:
            return None
        on = self.cadence.transitions.get(k % self.cadence.period)
        if on is None or on == self.on:
            return None
        self.on = on
        if on:
            self.on_since = tick
            return True, 0
        return False, (tick - self.on_since) * FRAME_MS

    def stop(self, tick: int) -> int | None:
        """Stop ringing after the read of ``tick``; the length of the burst cut short, if one was on."""
        if not self.on:
            return None
        self.on = False
        return (tick - self.on_since + 1) * FRAME_MS


class _LineState:
    """What the board knows of one line. Trunk fields and station fields share the object."""

    __slots__ = ("line", "index", "trunk", "phase", "box_offhook", "far", "source", "ringer", "until",
                 "number", "phone_offhook", "hangup_sent")

    def __init__(self, line: Line, index: int):
        self.line = line
        self.index = index
        self.trunk = line.kind is LineKind.TRUNK
        self.phase = IDLE
        self.box_offhook = False
        self.far: FarEndHandle | None = None  # caller or answerer on a trunk, phone on a station
        self.source: _Source | None = None
        self.ringer: _Ringer | None = None
        self.until = 0  # tick at which the phase's timer falls due (dialling, no answer)
        self.number = ""  # trunk: the number dialled
        self.phone_offhook = False
        self.hangup_sent = False  # station: the phone was told the box hung up


class FarEndHandle:
    """One far end of the board: the same object for in-process use and for a socket client.

    Roles: a *caller* (:meth:`call`) rings the box on a trunk; a *phone* (:meth:`phone`) is the
    phone of a station; an *answerer* (:meth:`answer`) takes the box's outbound calls. What the
    far end says goes in with :meth:`send_audio`; what the board tells it (the protocol's
    events, box audio as :class:`~hotline.drivers.sim.protocol.AudioEvent`) comes out of
    :meth:`take`. Refusals raise :class:`FarEndError` (a socket client gets them as ``error``
    events). ``listen=False`` skips box audio entirely (a benchmark's silent callers).
    """

    def __init__(self, board: "SimBoard", listener: Callable[[], None] | None = None, listen: bool = True):
        self._board = board
        self.listener = listener  # called (under the board's lock) whenever an event is queued
        self.listen = listen
        self.role: str | None = None  # "caller", "phone", "answerer"
        self.line: int | None = None  # global number of the line it is on now
        self.number: str | None = None  # answerer: the number it answers (None: any)
        self.closed = False
        self.dropped_frames = 0  # box audio dropped because nobody took it
        self._index: int | None = None
        self._queue: deque[np.ndarray] = deque()  # frames to the box
        self._outbox: deque[Event] = deque()
        self._outbox_frames = 0

    def __repr__(self) -> str:
        return f"<FarEndHandle {self.role or 'unassigned'} line={self.line}>"

    # -- what the far end does ----------------------------------------------------------------

    def call(self, caller: str | None = None, name: str | None = None, line: int | None = None) -> int:
        """Ring the box on trunk ``line`` (``None``: any idle trunk); the trunk's number."""
        return self._board._far_call(self, caller, name, line)

    def phone(self, line: int) -> int:
        """Become the phone of station ``line``."""
        return self._board._far_phone(self, line)

    def answer(self, number: str | None = None) -> None:
        """Take the box's outbound calls to ``number`` (``None``: any number)."""
        self._board._far_answer(self, number)

    def offhook(self) -> None:
        self._board._far_offhook(self)

    def onhook(self) -> None:
        self._board._far_onhook(self)

    hangup = onhook

    def flash(self) -> None:
        self._board._far_flash(self)

    def send_audio(self, samples) -> None:
        """Queue what the far end says (int16, any length; the last frame is padded with silence)."""
        x = np.asarray(samples)
        if x.ndim != 1:
            raise FarEndError(f"audio must be one channel of samples, got shape {x.shape}")
        x = _whole_frames(x.astype(np.float64)) if len(x) % FRAME_SAMPLES else x
        x = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
        self._board._far_audio(self, x.reshape(-1, FRAME_SAMPLES))

    def send_frame(self, frame: np.ndarray) -> None:
        if np.shape(frame) != (FRAME_SAMPLES,):
            raise FarEndError(f"a frame is {FRAME_SAMPLES} samples, got shape {np.shape(frame)}")
        self.send_audio(frame)

    def detach(self) -> None:
        """Leave the board (a closed connection): a call in progress is hung up from this side."""
        self._board._far_detach(self)

    def apply(self, op: Op) -> None:
        """Carry out a protocol op (what a socket client sent)."""
        if isinstance(op, CallOp):
            self.call(op.caller, op.name, op.line)
        elif isinstance(op, protocol.PhoneOp):
            self.phone(op.line)
        elif isinstance(op, protocol.AnswerOp):
            self.answer(op.number)
        elif isinstance(op, protocol.OffHookOp):
            self.offhook()
        elif isinstance(op, protocol.OnHookOp):
            self.onhook()
        elif isinstance(op, protocol.FlashOp):
            self.flash()
        elif isinstance(op, protocol.AudioOp):
            self.send_audio(op.pcm)
        else:  # pragma: no cover - decode_op returns only the ops above
            raise FarEndError(f"unknown op {op!r}")

    # -- what the board tells it --------------------------------------------------------------

    def take(self) -> list[Event]:
        """Every event queued for this far end since the last call, in order (box audio included)."""
        with self._board._lock:
            items = list(self._outbox)
            self._outbox.clear()
            self._outbox_frames = 0
        return items

    def take_split(self) -> tuple[list[Event], np.ndarray]:
        """:meth:`take`, as the events other than audio and the box audio concatenated."""
        items = self.take()
        audio = [e.pcm for e in items if isinstance(e, AudioEvent)]
        return ([e for e in items if not isinstance(e, AudioEvent)],
                np.concatenate(audio) if audio else np.zeros(0, np.int16))

    @property
    def queued_frames(self) -> int:
        """Frames sent to the box and not yet heard by it."""
        return len(self._queue)

    def _push(self, event: Event) -> None:
        if isinstance(event, AudioEvent):
            if self._outbox_frames >= MAX_OUTBOX_FRAMES:
                self.dropped_frames += 1
                return
            self._outbox_frames += 1
        self._outbox.append(event)
        if self.listener is not None:
            self.listener()

    def _leave_line(self) -> None:
        self._index = None
        self.line = None
        self._queue.clear()
        if self.role == "caller":
            self.role = None


class SimBoard(Board):
    """A board of simulated trunks and stations; see the module docstring.

    Line-model options (per line, the same for all): ``codec`` (``"alaw"``, ``"ulaw"`` or
    ``None``), ``noise_dbm0`` (``None``: no noise), ``gain_db`` (line loss is negative),
    ``echo_loss_db`` (``None``: no echo) and ``echo_delay_ms`` (hybrid echo of the box's own
    output), ``freq_offset_hz``. Exchange
    options: ``callerid`` (one of :data:`CALLERID_MODES`), ``callerid_standard`` (``"bell202"``
    or ``"v23"``), ``ring_cadence_ms`` of the trunks, ``disconnect`` (``"loop_break"`` or
    ``"busy_tone"``), ``tone_plan`` of the progress tones (``"china"``).
    """

    def __init__(self, name: str, lines: tuple[Line, ...], clock: Clock, *, codec: str | None = "alaw",
                 noise_dbm0: float | None = -70.0, gain_db: float = 0.0, echo_loss_db: float | None = 30.0,
                 echo_delay_ms: float = 4.0, freq_offset_hz: float = 0.0, callerid: str = "fsk_before_ring",
                 ring_cadence_ms: tuple[int, ...] = (1000, 4000), disconnect: str = "loop_break",
                 callerid_standard: str = "bell202", tone_plan: str = "china",
                 rng: np.random.Generator | None = None):
        super().__init__(name, tuple(lines))
        if callerid not in CALLERID_MODES:
            raise DriverError(f"board {name}: callerid {callerid!r}; expected one of {', '.join(CALLERID_MODES)}")
        if disconnect not in DISCONNECT_MODES:
            raise DriverError(f"board {name}: disconnect {disconnect!r}; expected one of "
                              f"{', '.join(DISCONNECT_MODES)}")
        for position, line in enumerate(self.lines):
            if line.index != position or line.board != name:
                raise DriverError(f"board {name}: line {line.number} has index {line.index} on board "
                                  f"{line.board!r}; expected index {position} on {name!r}")
        self.clock = clock
        self.callerid = callerid
        self.callerid_standard = callerid_standard
        self.disconnect = disconnect
        self.tone_plan = tone_plan
        self.rng = rng if rng is not None else np.random.default_rng()
        self._ring_cadence = _Cadence(ring_cadence_ms, f"board {name}: ring_cadence_ms")
        n = len(self.lines)
        try:
            self._model = LineModel(channels=max(n, 1), gain_db=gain_db, noise_dbm0=noise_dbm0, codec=codec,
                                    echo_delay_ms=echo_delay_ms, echo_loss_db=echo_loss_db,
                                    freq_offset_hz=freq_offset_hz, rng=self.rng)
        except ValueError as exc:
            raise DriverError(f"board {name}: {exc}") from None
        self._tones = {tone: self._make_tone(tone) for tone in ("dial", "busy", "ringback", "congestion")}
        self._lock = threading.RLock()
        self._states = [_LineState(line, i) for i, line in enumerate(self.lines)]
        self._tick = 0
        self._events: list[LineEvent] = []
        self._active: set[int] = set()  # lines stepped by read(): far end, tone, ringer or timer
        self._listening: set[int] = set()  # lines whose far end hears the box
        self._loop = np.zeros(n, dtype=bool)  # the line's loop is closed: the box's output echoes
        self._src = np.zeros((n, FRAME_SAMPLES))
        self._echo = np.zeros((n, FRAME_SAMPLES))
        self._answerers: list[FarEndHandle] = []
        self._server: asyncio.AbstractServer | None = None
        self._server_path: Path | None = None
        self._connections: set[_Connection] = set()

    def _make_tone(self, name: str) -> np.ndarray:
        tone = tones.plan(self.tone_plan)[name]
        period = tone.period_ms if tone.cadence_ms else CONTINUOUS_TONE_MS
        return tones.progress_tone(self.tone_plan, name, period)

    # -- Board interface ----------------------------------------------------------------------

    @property
    def tick(self) -> int:
        """Reads done so far (20 ms each): the board's clock."""
        return self._tick

    def close(self) -> None:
        """Put every line on hook: far ends in a call are told the box hung up."""
        with self._lock:
            for st in self._states:
                if st.trunk:
                    if st.phase == ALERTING:  # the caller would ring on; tell it the box is gone
                        st.far._push(HangupEvent("box"))
                        self._abandon(st)
                    self._trunk_on_hook(st)
                else:
                    self._station_on_hook(st)

    def read(self, out: np.ndarray) -> None:
        self._check_frames(out, "read")
        with self._lock:
            self._tick += 1
            tick = self._tick
            src = self._src
            src.fill(0.0)
            for i in sorted(self._active):
                st = self._states[i]
                if st.trunk:
                    self._step_trunk(st, tick, src[i])
                else:
                    self._step_station(st, tick, src[i])
            if len(self.lines):
                out[...] = self._model.process(src, echo_source=self._echo)

    def write(self, frames: np.ndarray) -> None:
        self._check_frames(frames, "write")
        with self._lock:
            np.multiply(frames, self._loop[:, None], out=self._echo)
            for i in self._listening:
                far = self._states[i].far
                if far.listen:
                    far._push(AudioEvent(frames[i].copy()))

    def poll_events(self) -> list[LineEvent]:
        with self._lock:
            events, self._events = self._events, []
        return events

    def off_hook(self, line: int) -> None:
        with self._lock:
            st = self._state(line)
            if st.trunk:
                self._trunk_off_hook(st)
            else:
                st.box_offhook = True
                self._stop_station_ring(st)
                self._update(st)

    def on_hook(self, line: int) -> None:
        with self._lock:
            st = self._state(line)
            if st.trunk:
                self._trunk_on_hook(st)
            else:
                self._station_on_hook(st)

    def flash(self, line: int, ms: int = 600) -> None:
        """A trunk flash reaches an exchange that offers no services here: nothing happens."""
        with self._lock:
            st = self._state(line)
            if st.trunk and not st.box_offhook:
                raise DriverError(f"line {line}: flash needs the trunk off hook")

    def ring(self, line: int, cadence_ms: tuple[int, ...] = DEFAULT_STATION_RING_CADENCE_MS) -> None:
        with self._lock:
            st = self._state(line)
            if st.trunk:
                raise DriverError(f"line {line}: ring is for stations; it is a trunk")
            cadence = _Cadence(cadence_ms, f"line {line}")
            if st.box_offhook:
                raise DriverError(f"line {line}: the box holds the station off hook; put it on hook to ring")
            if st.phone_offhook:
                self._events.append(OffHook(line))  # ring trip at once
                return
            self._stop_station_ring(st)
            st.ringer = _Ringer(cadence, self._tick + 1)
            self._update(st)

    def stop_ring(self, line: int) -> None:
        with self._lock:
            st = self._state(line)
            if st.trunk:
                raise DriverError(f"line {line}: stop_ring is for stations; it is a trunk")
            self._stop_station_ring(st)
            self._update(st)

    def dial(self, line: int, digits: str) -> None:
        with self._lock:
            st = self._state(line)
            if not st.trunk:
                raise DriverError(f"line {line}: dial is for trunks; it is a station")
            if st.phase != SEIZED:
                raise DriverError(f"line {line}: dial needs a seized trunk (off hook with dial tone); "
                                  f"it is {st.phase}")
            text = str(digits).upper()
            bad = sorted(set(text) - DIAL_DIGITS - {"W"})
            if not text or bad:
                raise DriverError(f"line {line}: cannot dial {digits!r}; expected 0-9 * # A-D and W (pause)")
            ms = sum(DIAL_PAUSE_MS if c == "W" else DIAL_TONE_MS + DIAL_GAP_MS for c in text)
            st.phase = DIALING
            st.source = None
            st.number = text.replace("W", "")
            st.until = self._tick + _frames(ms)
            self._update(st)

    def annotate(self, line: int, note: dict) -> None:
        if not isinstance(note, dict):
            raise DriverError(f"line {line}: a note is a dict, got {type(note).__name__}")
        with self._lock:
            st = self._state(line)
            if st.far is not None:
                st.far._push(NoteEvent(dict(note)))

    # -- in-process far ends ------------------------------------------------------------------

    def far_end(self, listener: Callable[[], None] | None = None, listen: bool = True) -> FarEndHandle:
        """A far end with no role yet (a fresh socket connection is one)."""
        return FarEndHandle(self, listener, listen)

    def attach_caller(self, line: int | None = None, caller: str | None = "13800138000",
                      name: str | None = None, *, listen: bool = True) -> FarEndHandle:
        """A caller that rings the box now, on trunk ``line`` or any idle trunk."""
        handle = self.far_end(listen=listen)
        handle.call(caller, name, line)
        return handle

    def attach_phone(self, line: int, *, listen: bool = True) -> FarEndHandle:
        """The phone of station ``line``, on hook."""
        handle = self.far_end(listen=listen)
        handle.phone(line)
        return handle

    def attach_answerer(self, number: str | None = None, *, listen: bool = True) -> FarEndHandle:
        """A far end that takes the box's outbound calls to ``number`` (``None``: any)."""
        handle = self.far_end(listen=listen)
        handle.answer(number)
        return handle

    def line_phase(self, line: int) -> str:
        """A trunk's phase (``idle``, ``alerting``, ``connected``, ...) or a station's
        (``idle``, ``ringing``, ``offhook``), for tests and the status page."""
        with self._lock:
            st = self._state(line)
            if st.trunk:
                return st.phase
            return "offhook" if st.phone_offhook else "ringing" if st.ringer else IDLE

    # -- socket server ------------------------------------------------------------------------

    async def serve(self, path: Path) -> None:
        """Listen on the Unix socket ``path`` (mode 0660); each connection is one far end."""
        path = Path(path)
        if self._server is not None:
            raise DriverError(f"board {self.name}: already serving on {self._server_path}")
        try:
            if stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()  # a stale socket from an earlier run
            else:
                raise DriverError(f"board {self.name}: {path} exists and is not a socket")
        except FileNotFoundError:
            pass
        try:
            self._server = await asyncio.start_unix_server(self._serve_client, path=str(path),
                                                           limit=protocol.MAX_LINE_BYTES)
            os.chmod(path, SOCKET_MODE)
        except OSError as exc:
            raise DriverError(f"board {self.name}: cannot listen on {path}: {exc.strerror or exc}") from exc
        self._server_path = path
        log.info("sim board %s: far ends connect to %s", self.name, path)

    async def close_server(self) -> None:
        """Stop listening, drop every connection (their calls hang up), remove the socket file."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self._connections):
            conn.close()
        await server.wait_closed()
        for conn in list(self._connections):
            await conn.finished.wait()
        if self._server_path is not None:
            try:
                self._server_path.unlink()
            except FileNotFoundError:
                pass
            self._server_path = None

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, reader, writer)
        self._connections.add(conn)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)

    # -- internals: lines ---------------------------------------------------------------------

    def _state(self, line: int) -> _LineState:
        return self._states[self.index(line)]

    def _far_state(self, line: int) -> _LineState:
        if line not in self._index_of:
            raise FarEndError(f"no line {line}")
        return self._states[self._index_of[line]]

    @staticmethod
    def _check_frames(frames: np.ndarray, what: str) -> None:
        if not isinstance(frames, np.ndarray) or frames.dtype != np.int16 or frames.ndim != 2 \
                or frames.shape[1] != FRAME_SAMPLES:
            got = (f"{frames.dtype} of shape {frames.shape}" if isinstance(frames, np.ndarray)
                   else type(frames).__name__)
            raise DriverError(f"{what}: expected int16 frames of shape (lines, {FRAME_SAMPLES}), got {got}")

    def _update(self, st: _LineState) -> None:
        """Recompute which sets the line belongs to after a change of state."""
        i = st.index
        if st.trunk:
            busy = st.phase != IDLE or st.far is not None
            listening = st.phase == CONNECTED and st.far is not None
            self._loop[i] = st.box_offhook
        else:
            busy = st.ringer is not None or st.far is not None
            listening = st.far is not None and st.phone_offhook
            self._loop[i] = st.phone_offhook
        (self._active.add if busy else self._active.discard)(i)
        (self._listening.add if listening else self._listening.discard)(i)

    def _step_trunk(self, st: _LineState, tick: int, src: np.ndarray) -> None:
        if st.ringer is not None:
            change = st.ringer.step(tick)
            if change is not None:
                on, burst_ms = change
                self._events.append(RingBegin(st.line.number) if on else RingEnd(st.line.number, burst_ms))
        if st.phase == DIALING and tick >= st.until:
            self._events.append(DialComplete(st.line.number))
            self._route(st, tick)
        elif st.phase == RINGBACK and tick >= st.until:
            far = st.far
            far._push(HangupEvent("network"))
            far._leave_line()
            st.far = None
            self._play(st, "busy", tick)
        if st.phase == CONNECTED and st.far is not None and st.far._queue:
            src += st.far._queue.popleft()
        if st.source is not None:
            frame = st.source.frame(tick)
            if frame is not None:
                src += frame
            if st.source.finished(tick):
                st.source = None

    def _step_station(self, st: _LineState, tick: int, src: np.ndarray) -> None:
        if st.ringer is not None:
            change = st.ringer.step(tick)
            if change is not None and st.far is not None:
                st.far._push(RingEvent(change[0]))
        if st.phone_offhook and st.far is not None and st.far._queue:
            src += st.far._queue.popleft()

    def _play(self, st: _LineState, tone: str, start: int) -> None:
        st.phase = TONE
        st.source = _Source(self._tones[tone], start, loop=True)
        self._update(st)

    def _trunk_off_hook(self, st: _LineState) -> None:
        if st.box_offhook:
            return
        st.box_offhook = True
        if st.phase == ALERTING:
            st.ringer = None  # answered: no RingEnd, the ringing voltage just goes
            st.source = None  # caller ID cut short, if it was still being sent
            st.phase = CONNECTED
            st.far._push(AnsweredEvent())
        elif st.phase == IDLE:
            st.phase = SEIZED
            st.source = _Source(self._tones["dial"], self._tick + 1, loop=True)
        self._update(st)

    def _trunk_on_hook(self, st: _LineState) -> None:
        if not st.box_offhook:
            return
        st.box_offhook = False
        if st.far is not None:
            st.far._push(HangupEvent("box"))
            st.far._leave_line()
            st.far = None
        st.phase = IDLE
        st.source = None
        st.ringer = None
        st.number = ""
        self._update(st)

    def _abandon(self, st: _LineState) -> None:
        """The caller gave up while the box was being rung: ringing stops, no hang-up event."""
        if st.ringer is not None:
            burst_ms = st.ringer.stop(self._tick)
            if burst_ms is not None:
                self._events.append(RingEnd(st.line.number, burst_ms))
        st.ringer = None
        st.source = None
        st.far._leave_line()
        st.far = None
        st.phase = IDLE
        self._update(st)

    def _far_gone(self, st: _LineState) -> None:
        """The far end of a connected trunk hung up: loop break, or busy tone and no event."""
        st.far._leave_line()
        st.far = None
        if self.disconnect == "busy_tone":
            self._play(st, "busy", self._tick + 1)
        else:
            st.phase = DEAD
            st.source = None
            self._events.append(OnHook(st.line.number))
            self._update(st)

    def _route(self, st: _LineState, tick: int) -> None:
        """The exchange connects a dialled call: an answerer rings, or busy, or congestion."""
        number = st.number
        matching = ([fe for fe in self._answerers if fe.number == number]
                    + [fe for fe in self._answerers if fe.number is None])
        free = [fe for fe in matching if fe._index is None]
        if not matching:
            self._play(st, "congestion", tick + 1)
        elif not free:
            self._play(st, "busy", tick + 1)
        else:
            far = free[0]
            far._index, far.line = st.index, st.line.number
            st.far = far
            st.phase = RINGBACK
            st.source = _Source(self._tones["ringback"], tick + 1, loop=True)
            st.until = tick + int(round(NO_ANSWER_S * 1000 / FRAME_MS))
            far._push(IncomingEvent(st.line.number, number))
            self._update(st)

    def _station_on_hook(self, st: _LineState) -> None:
        st.box_offhook = False
        self._stop_station_ring(st)
        if st.far is not None and st.phone_offhook and not st.hangup_sent:
            st.far._push(HangupEvent("box"))
            st.hangup_sent = True
        self._update(st)

    def _stop_station_ring(self, st: _LineState) -> None:
        if st.ringer is not None:
            was_on = st.ringer.on
            st.ringer = None
            if was_on and st.far is not None:
                st.far._push(RingEvent(False))

    # -- internals: far-end requests ----------------------------------------------------------

    def _check_free(self, fe: FarEndHandle, role: str) -> None:
        if fe.closed:
            raise FarEndError("this far end has left the board")
        if fe.role is not None:
            what = {"caller": "already in a call", "phone": f"already the phone of station {fe.line}",
                    "answerer": "already registered to answer calls"}[fe.role]
            raise FarEndError(f"{role}: {what}")

    def _far_call(self, fe: FarEndHandle, caller, name, line) -> int:
        caller = protocol.check_number(caller, "call", "caller")
        name = protocol.check_name(name, "call")
        line = protocol.check_line(line, "call", optional=True)
        with self._lock:
            self._check_free(fe, "call")
            if line is None:
                idle = [st for st in self._states if st.trunk and st.phase == IDLE and st.far is None]
                if not idle:
                    raise FarEndError("no idle trunk")
                st = idle[0]
            else:
                st = self._far_state(line)
                if not st.trunk:
                    raise FarEndError(f"line {line} is a station, not a trunk")
                if st.phase != IDLE or st.far is not None:
                    raise FarEndError(f"line {line} is busy")
            fe.role = "caller"
            fe._index, fe.line = st.index, st.line.number
            st.far = fe
            st.phase = ALERTING
            self._start_ringing(st, caller, name)
            fe._push(RingingEvent(st.line.number))
            self._update(st)
            return st.line.number

    def _start_ringing(self, st: _LineState, caller: str | None, name: str | None) -> None:
        start = self._tick + 1
        if self.callerid == "none":
            st.ringer = _Ringer(self._ring_cadence, start)
            return
        spill = self._callerid_samples(caller, name)
        if self.callerid == "fsk_before_ring":
            st.source = _Source(spill, start, loop=False)
            ring_at = start + len(st.source.samples) // FRAME_SAMPLES + _frames(CID_LEAD_MS)
            st.ringer = _Ringer(self._ring_cadence, ring_at)
        else:
            st.ringer = _Ringer(self._ring_cadence, start)
            st.source = _Source(spill, start + self._ring_cadence.on_frames + _frames(CID_AFTER_RING_MS),
                                loop=False)

    def _callerid_samples(self, caller: str | None, name: str | None) -> np.ndarray:
        when = _dt.datetime.fromtimestamp(self.clock.wall())  # the exchange's local time
        message = callerid.encode_mdmf(number=caller, name=name, datetime=when.strftime("%m%d%H%M"),
                                       number_absence=None if caller is not None else "P")
        return callerid.modulate(message, standard=self.callerid_standard, rng=self.rng)

    def _far_phone(self, fe: FarEndHandle, line) -> int:
        line = protocol.check_line(line, "phone", optional=False)
        with self._lock:
            self._check_free(fe, "phone")
            st = self._far_state(line)
            if st.trunk:
                raise FarEndError(f"line {line} is a trunk, not a station")
            if st.far is not None:
                raise FarEndError(f"station {line} already has a phone")
            fe.role = "phone"
            fe._index, fe.line = st.index, line
            st.far = fe
            st.phone_offhook = False
            fe._push(AttachedEvent(line))
            if st.ringer is not None and st.ringer.on:
                fe._push(RingEvent(True))
            self._update(st)
            return line

    def _far_answer(self, fe: FarEndHandle, number) -> None:
        number = protocol.check_number(number, "answer", "number")
        with self._lock:
            self._check_free(fe, "answer")
            fe.role = "answerer"
            fe.number = number
            self._answerers.append(fe)
            fe._push(AttachedEvent(None, number))

    def _far_offhook(self, fe: FarEndHandle) -> None:
        with self._lock:
            if fe.role == "phone":
                st = self._states[fe._index]
                if st.phone_offhook:
                    raise FarEndError("offhook: the phone is already off hook")
                self._stop_station_ring(st)
                st.phone_offhook = True
                st.hangup_sent = False
                self._events.append(OffHook(st.line.number))
                self._update(st)
            elif fe.role == "answerer":
                if fe._index is None or self._states[fe._index].phase != RINGBACK:
                    raise FarEndError("offhook: no incoming call to answer")
                st = self._states[fe._index]
                st.phase = CONNECTED
                st.source = None
                self._events.append(PolarityReversal(st.line.number))
                self._events.append(OffHook(st.line.number))
                self._update(st)
            else:
                raise FarEndError("offhook: only a phone or an answerer goes off hook; a caller uses call")

    def _far_onhook(self, fe: FarEndHandle) -> None:
        with self._lock:
            if fe.role == "phone":
                st = self._states[fe._index]
                if not st.phone_offhook:
                    raise FarEndError("onhook: the phone is already on hook")
                st.phone_offhook = False
                fe._queue.clear()
                self._events.append(OnHook(st.line.number))
                self._update(st)
                return
            if fe._index is None:
                raise FarEndError("onhook: not in a call")
            st = self._states[fe._index]
            if st.phase == ALERTING:
                self._abandon(st)
            elif st.phase == RINGBACK:  # the called party rejects: the box hears busy
                fe._leave_line()
                st.far = None
                self._play(st, "busy", self._tick + 1)
            else:
                self._far_gone(st)

    def _far_flash(self, fe: FarEndHandle) -> None:
        with self._lock:
            if fe.role != "phone":
                raise FarEndError("flash: only a phone flashes")
            st = self._states[fe._index]
            if not st.phone_offhook:
                raise FarEndError("flash: the phone is on hook")
            self._events.append(HookFlash(st.line.number))

    def _far_audio(self, fe: FarEndHandle, frames: np.ndarray) -> None:
        with self._lock:
            if fe._index is None:
                return  # nobody listens: dropped, as speech into a ringing line
            st = self._states[fe._index]
            if not (st.phase == CONNECTED if st.trunk else st.phone_offhook):
                return
            room = MAX_QUEUED_FRAMES - len(fe._queue)
            fe._queue.extend(frames[:max(room, 0)])
            if len(frames) > room:
                raise FarEndError(f"audio queue full ({MAX_QUEUED_MS} ms ahead): "
                                  f"{len(frames) - max(room, 0)} frames dropped")

    def _far_detach(self, fe: FarEndHandle) -> None:
        with self._lock:
            if fe.closed:
                return
            if fe.role == "phone":
                st = self._states[fe._index]
                if st.phone_offhook:
                    st.phone_offhook = False
                    self._events.append(OnHook(st.line.number))
                st.far = None
                fe._leave_line()
                self._update(st)
            elif fe._index is not None:
                self._far_onhook(fe)
            if fe in self._answerers:
                self._answerers.remove(fe)
            fe.role = None
            fe.closed = True


class _Connection:
    """One socket client: its lines become ops on a :class:`FarEndHandle`; its events go back."""

    def __init__(self, board: SimBoard, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.board = board
        self.reader = reader
        self.writer = writer
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.wake = asyncio.Event()
        self.finished = asyncio.Event()
        self.closing = False
        self.errors = 0
        self._wake_pending = False
        self.handle = board.far_end(listener=self._on_event)

    def _on_event(self) -> None:
        if self._wake_pending:
            return
        self._wake_pending = True
        if threading.get_ident() == self.loop_thread:
            self.wake.set()
        else:
            self.loop.call_soon_threadsafe(self.wake.set)

    def close(self) -> None:
        """Drop the client now (the server is closing): its reader ends, its call hangs up."""
        self.closing = True
        self.wake.set()
        if self.writer.transport is not None:
            self.writer.transport.abort()

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        try:
            await self._receive_loop()
        finally:
            self.handle.detach()
            self.closing = True
            self.wake.set()
            try:
                await asyncio.wait_for(sender, timeout=5.0)
            except (asyncio.TimeoutError, ConnectionError, OSError):  # pragma: no cover - a stuck peer
                sender.cancel()
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self.finished.set()

    def _refuse(self, text: str) -> bool:
        """Send an error; ``False`` when that was one too many and the connection must go."""
        self.errors += 1
        self.handle._push(ErrorEvent(text))
        if self.errors > MAX_ERRORS:
            self.handle._push(ErrorEvent(f"more than {MAX_ERRORS} errors: closing the connection"))
            return False
        return True

    async def _receive_loop(self) -> None:
        while not self.closing:
            try:
                line = await self.reader.readline()
            except ValueError:  # the line outgrew the reader's limit
                with self.board._lock:
                    self.handle._push(ErrorEvent(f"line longer than {protocol.MAX_LINE_BYTES} bytes: "
                                                 "closing the connection"))
                return
            except (ConnectionError, OSError):
                return
            if not line:
                return
            if not line.strip():
                continue
            try:
                op = protocol.decode_op(line)
                self.handle.apply(op)
            except (ProtocolError, FarEndError) as exc:
                with self.board._lock:
                    if not self._refuse(str(exc)):
                        return

    async def _send_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            self._wake_pending = False
            items = self.handle.take()
            if items:
                try:
                    self.writer.write(b"".join(protocol.encode(item) for item in items))
                    await self.writer.drain()
                except (ConnectionError, OSError):
                    return
            if self.closing and not self.handle._outbox:
                return
