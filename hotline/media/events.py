"""What the media loop tells the call layer, once per tick, beside the boards' line events."""

from dataclasses import dataclass

from hotline.drivers.base import LineEvent


@dataclass(frozen=True)
class DigitHeard(LineEvent):
    digit: str


@dataclass(frozen=True)
class PlayFinished(LineEvent):
    """A clip ended (``interrupted`` by a digit, barge-in) or was stopped; ``token`` names which play."""

    token: int
    interrupted: bool


@dataclass(frozen=True)
class ToneHeard(LineEvent):
    """The call-progress detector's verdict: busy, congestion, ringback, dial, sit, tone_end, silence, voice."""

    kind: str


@dataclass(frozen=True)
class CallerIdHeard(LineEvent):
    number: str | None
    name: str | None


@dataclass(frozen=True)
class RecordingFinished(LineEvent):
    """A recording ended by itself: ``reason`` is ``silence`` or ``max_length``."""

    reason: str
    duration_ms: int
