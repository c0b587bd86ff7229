"""The one seam between hotline and time.

Everything that waits, times out or stamps a record asks a :class:`Clock`; nothing calls
``time.time()`` or ``time.monotonic()`` directly. The daemon uses :class:`SystemClock`; tests
pass a :class:`ManualClock` and move time by hand, so a 30 s timeout is tested without waiting.
"""

import time
from datetime import datetime, timezone


class Clock:
    """What a clock offers: a monotonic time for intervals and a wall time for records."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for timeouts and tick deadlines)."""
        raise NotImplementedError

    def wall(self) -> float:
        """Seconds since the epoch, UTC (for what is written into records)."""
        raise NotImplementedError

    def iso(self) -> str:
        """The wall time as ISO 8601 with milliseconds, UTC."""
        return datetime.fromtimestamp(self.wall(), timezone.utc).isoformat(timespec="milliseconds")


class SystemClock(Clock):
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class ManualClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, start_wall: float = 1_795_000_000.0):
        self._now = 0.0
        self._wall_offset = start_wall

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall_offset + self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._now += seconds
