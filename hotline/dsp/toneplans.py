"""Call-progress tone plans, as data shared by the generators and the detector.

A plan maps a tone name to its frequencies, its cadence (on/off times in ms, repeated; empty
for a continuous tone) and the level it is sent at. Figures: China (YDN/GB practice, 450 Hz)
and North America (the Precise Tone Plan); the special information tone (SIT) of ITU-T E.180.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressTone:
    """One call-progress tone of a plan."""

    name: str
    freqs_hz: tuple[float, ...]
    cadence_ms: tuple[int, ...]  # on, off, on, off, ...; () means continuous
    level_dbm0: float  # per frequency

    @property
    def continuous(self) -> bool:
        return not self.cadence_ms

    @property
    def period_ms(self) -> int:
        return sum(self.cadence_ms)


def _plan(*tones: ProgressTone) -> dict[str, ProgressTone]:
    return {tone.name: tone for tone in tones}


PLANS: dict[str, dict[str, ProgressTone]] = {
    "china": _plan(
        ProgressTone("dial", (450.0,), (), -10.0),
        ProgressTone("busy", (450.0,), (350, 350), -10.0),
        ProgressTone("ringback", (450.0,), (1000, 4000), -10.0),
        ProgressTone("congestion", (450.0,), (700, 700), -10.0),
    ),
    "north_america": _plan(
        ProgressTone("dial", (350.0, 440.0), (), -13.0),
        ProgressTone("busy", (480.0, 620.0), (500, 500), -24.0),
        ProgressTone("ringback", (440.0, 480.0), (2000, 4000), -19.0),
        ProgressTone("congestion", (480.0, 620.0), (250, 250), -24.0),
    ),
}

# Special information tone: three rising segments (ITU-T E.180 / Bellcore), then silence.
SIT_FREQS_HZ = (913.8, 1370.6, 1776.7)
SIT_SEGMENT_MS = (274, 274, 380)
SIT_LEVEL_DBM0 = -24.0


def plan(name: str) -> dict[str, ProgressTone]:
    """The tones of the plan ``name``; ``ValueError`` naming the known plans otherwise."""
    try:
        return PLANS[name]
    except KeyError:
        raise ValueError(f"unknown tone plan {name!r}; known plans: {', '.join(sorted(PLANS))}") from None
