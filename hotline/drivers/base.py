"""The driver interface every board implements: frames, line events and line commands.

Designed against the hardware facts in ``shared/reference/drivers/DRIVERS.md`` so that DAHDI,
ALSA and voice-modem boards fit it unchanged:

- Audio moves in frames of ``FRAME_SAMPLES`` (20 ms) of signed 16-bit linear samples at 8 kHz,
  for all of a board's lines at once: the media loop calls :meth:`Board.read` then
  :meth:`Board.write` once per tick with arrays of shape ``(len(board.lines), FRAME_SAMPLES)``.
  (DAHDI: one 160-sample block per channel fd with ``DAHDI_SETLINEAR``; ALSA: one period;
  a voice modem: DLE-shielded samples converted by its driver.) A board fills silence for a
  line with nothing to say; it never blocks the tick.
- Line events go up (:meth:`Board.poll_events`): ring begin/end with the burst length, off-hook,
  on-hook, hook flash, polarity reversal, caller ID where the board decodes it itself (a modem's
  ``NMBR=``; DAHDI boards leave FSK to :mod:`hotline.dsp.callerid` in the media loop), alarm and
  alarm cleared, dialling complete.
- Commands go down: off-hook (answer a trunk, seize it to dial, or stop a station's ringer),
  on-hook (hang up), flash, ring a station with a cadence, dial digits on a trunk.

Two line kinds: a *trunk* goes to the exchange (the box answers and places calls on it, FXO);
a *station* goes to a phone on an agent's desk (the box rings it, FXS). Lines are numbered from
1 across all boards; a board knows the global numbers of its own lines.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from hotline.errors import HotlineError

SAMPLE_RATE_HZ = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE_HZ * FRAME_MS // 1000
DEFAULT_STATION_RING_CADENCE_MS = (1000, 4000)  # China and many others: 1 s on, 4 s off


class DriverError(HotlineError):
    """A board or line failed: a dead device, a refused command, a wrong line."""


class LineKind(str, enum.Enum):
    TRUNK = "trunk"
    STATION = "station"


@dataclass(frozen=True)
class Line:
    """One line of a board: its global number, kind, and position on the board."""

    number: int
    kind: LineKind
    board: str
    index: int  # position on its board, 0-based


@dataclass(frozen=True)
class LineEvent:
    """Something that happened on a line, reported by its board."""

    line: int


@dataclass(frozen=True)
class RingBegin(LineEvent):
    """Trunk: ringing voltage started (a burst of the exchange's ring cadence)."""


@dataclass(frozen=True)
class RingEnd(LineEvent):
    """Trunk: a ring burst ended after ``on_ms``."""

    on_ms: int


@dataclass(frozen=True)
class OffHook(LineEvent):
    """Station: the phone was lifted. Trunk: the far end answered an outbound call, where the
    line tells (answer supervision by polarity reversal, or the simulated exchange)."""


@dataclass(frozen=True)
class OnHook(LineEvent):
    """Station: the phone was put down. Trunk: loop current was lost (the far end hung up)."""


@dataclass(frozen=True)
class HookFlash(LineEvent):
    """Station: a short on-hook that the phone meant as a flash."""


@dataclass(frozen=True)
class PolarityReversal(LineEvent):
    """Trunk: the line's polarity reversed (answer or disconnect supervision in some networks)."""


@dataclass(frozen=True)
class CallerIdDecoded(LineEvent):
    """Trunk: caller ID decoded by the board itself (a modem); ``None`` where absent."""

    number: str | None
    name: str | None


@dataclass(frozen=True)
class Alarm(LineEvent):
    """The line cannot carry calls: no battery, device gone, ..."""

    reason: str


@dataclass(frozen=True)
class AlarmCleared(LineEvent):
    """The line carries calls again."""


@dataclass(frozen=True)
class DialComplete(LineEvent):
    """Trunk: the digits given to :meth:`Board.dial` have been sent."""


class Board:
    """A voice board: a set of lines, driven in 20 ms frames. Subclasses implement every method."""

    def __init__(self, name: str, lines: tuple[Line, ...]):
        self.name = name
        self.lines = lines
        self._index_of = {line.number: line.index for line in lines}

    def index(self, line: int) -> int:
        """Position on this board of global line ``line``; :class:`DriverError` if not ours."""
        try:
            return self._index_of[line]
        except KeyError:
            raise DriverError(f"board {self.name}: no line {line}") from None

    # life cycle
    def open(self) -> None:
        """Open the devices; :class:`DriverError` naming the device when one cannot be used."""

    def close(self) -> None:
        """Put every line on hook and release the devices."""

    # audio, once per tick, for all lines of the board
    def read(self, out: np.ndarray) -> None:
        """Fill ``out`` (int16, ``(len(self.lines), FRAME_SAMPLES)``) with the frame each line received."""
        raise NotImplementedError

    def write(self, frames: np.ndarray) -> None:
        """Send ``frames`` (int16, ``(len(self.lines), FRAME_SAMPLES)``), one frame to each line."""
        raise NotImplementedError

    def poll_events(self) -> list[LineEvent]:
        """Line events since the last call, in the order they happened."""
        raise NotImplementedError

    # commands
    def off_hook(self, line: int) -> None:
        raise NotImplementedError

    def on_hook(self, line: int) -> None:
        raise NotImplementedError

    def flash(self, line: int, ms: int = 600) -> None:
        raise NotImplementedError

    def ring(self, line: int, cadence_ms: tuple[int, ...] = DEFAULT_STATION_RING_CADENCE_MS) -> None:
        """Station: start ringing the phone with ``cadence_ms`` (on, off, ...); off-hook stops it."""
        raise NotImplementedError

    def stop_ring(self, line: int) -> None:
        raise NotImplementedError

    def dial(self, line: int, digits: str) -> None:
        """Trunk, off hook: send ``digits`` (``0-9*#ABCD``, ``W`` = 500 ms pause); then :class:`DialComplete`."""
        raise NotImplementedError

    def annotate(self, line: int, note: dict) -> None:
        """Tell whoever watches the line what the box is doing (which prompt plays, which digit
        it heard). Only the simulated board has someone to tell; real boards ignore it."""
