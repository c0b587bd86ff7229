"""Tone generators: sines, dual tones, DTMF strings, call-progress tones, SIT and noise.

Every generator returns float64 samples on the int16 scale (so signals can be mixed before one
final :func:`~hotline.dsp.levels.to_pcm16`), at 8 kHz unless told otherwise. Levels are per
tone in dBm0 (0 dBm0 = sine peak 22826). DTMF frequencies are those of ITU-T Q.23; cadences and
frequencies of progress tones come from :mod:`hotline.dsp.toneplans`.
"""

import numpy as np

from hotline.dsp import SAMPLE_RATE_HZ
from hotline.dsp.levels import rms_for, sine_peak
from hotline.dsp.toneplans import SIT_FREQS_HZ, SIT_LEVEL_DBM0, SIT_SEGMENT_MS, plan

DTMF_ROW_HZ = (697.0, 770.0, 852.0, 941.0)
DTMF_COL_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = ("123A", "456B", "789C", "*0#D")
DTMF_DIGITS = "0123456789*#ABCD"
DTMF_FREQS_HZ = {
    key: (DTMF_ROW_HZ[row], DTMF_COL_HZ[col])
    for row, keys in enumerate(DTMF_KEYS)
    for col, key in enumerate(keys)
}
DEFAULT_DTMF_LEVEL_DBM0 = -10.0
DEFAULT_DTMF_ON_MS = 50
DEFAULT_DTMF_OFF_MS = 50


def samples_for_ms(ms: float, sample_rate: int = SAMPLE_RATE_HZ) -> int:
    return int(round(ms * sample_rate / 1000.0))


def _random_phase(rng: np.random.Generator | None) -> float:
    return 0.0 if rng is None else float(rng.uniform(0.0, 2.0 * np.pi))


def sine(freq_hz: float, n: int, level_dbm0: float, phase: float = 0.0,
         sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """``n`` samples of a sine at ``freq_hz`` and ``level_dbm0``, starting at ``phase`` radians."""
    t = np.arange(n) / sample_rate
    return sine_peak(level_dbm0) * np.sin(2.0 * np.pi * freq_hz * t + phase)


def multi_tone(freqs_hz, n: int, levels_dbm0, rng: np.random.Generator | None = None,
               sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Sum of sines, one level per frequency (a float applies to all), each at a random phase."""
    levels = np.broadcast_to(np.asarray(levels_dbm0, dtype=np.float64), (len(freqs_hz),))
    out = np.zeros(n)
    for freq, level in zip(freqs_hz, levels):
        out += sine(freq, n, float(level), _random_phase(rng), sample_rate)
    return out


def dual_tone(f1_hz: float, f2_hz: float, n: int, level_dbm0: float,
              rng: np.random.Generator | None = None, sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Any dual tone, both frequencies at ``level_dbm0``."""
    return multi_tone((f1_hz, f2_hz), n, level_dbm0, rng, sample_rate)


def dtmf(digits: str, on_ms: float = DEFAULT_DTMF_ON_MS, off_ms: float = DEFAULT_DTMF_OFF_MS,
         level_dbm0: float = DEFAULT_DTMF_LEVEL_DBM0, twist_db: float = 0.0,
         row_error: float = 0.0, col_error: float = 0.0, rng: np.random.Generator | None = None,
         sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """A DTMF string: each digit ``on_ms`` of tone followed by ``off_ms`` of silence.

    The low (row) tone is at ``level_dbm0``, the high (column) tone at ``level_dbm0 + twist_db``:
    a negative ``twist_db`` makes the low group louder. ``row_error``/``col_error`` are relative
    frequency errors (``0.015`` is +1.5 %). With ``rng``, each tone starts at a random phase.
    """
    on = samples_for_ms(on_ms, sample_rate)
    off = samples_for_ms(off_ms, sample_rate)
    pieces = []
    for digit in digits:
        try:
            row_hz, col_hz = DTMF_FREQS_HZ[digit.upper()]
        except KeyError:
            raise ValueError(f"not a DTMF digit: {digit!r}; expected one of {DTMF_DIGITS}") from None
        pieces.append(sine(row_hz * (1 + row_error), on, level_dbm0, _random_phase(rng), sample_rate)
                      + sine(col_hz * (1 + col_error), on, level_dbm0 + twist_db,
                             _random_phase(rng), sample_rate))
        pieces.append(np.zeros(off))
    return np.concatenate(pieces) if pieces else np.zeros(0)


def cadenced(freqs_hz, cadence_ms, duration_ms: float, level_dbm0: float,
             rng: np.random.Generator | None = None, sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """A tone of ``freqs_hz`` switched on and off by ``cadence_ms`` (on, off, ...) for ``duration_ms``."""
    n = samples_for_ms(duration_ms, sample_rate)
    tone = multi_tone(freqs_hz, n, level_dbm0, rng, sample_rate)
    if not cadence_ms:
        return tone
    gate = np.zeros(n, dtype=bool)
    position = 0
    while position < n:
        for index, ms in enumerate(cadence_ms):
            length = samples_for_ms(ms, sample_rate)
            if index % 2 == 0:
                gate[position:position + length] = True
            position += length
    return tone * gate


def progress_tone(plan_name: str, tone_name: str, duration_ms: float, level_dbm0: float | None = None,
                  rng: np.random.Generator | None = None, sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """A call-progress tone of a plan by name (``"china"``, ``"busy"``), at the plan's level by default."""
    tones = plan(plan_name)
    try:
        tone = tones[tone_name]
    except KeyError:
        raise ValueError(f"plan {plan_name!r} has no tone {tone_name!r}; it has {', '.join(tones)}") from None
    level = tone.level_dbm0 if level_dbm0 is None else level_dbm0
    return cadenced(tone.freqs_hz, tone.cadence_ms, duration_ms, level, rng, sample_rate)


def sit(level_dbm0: float = SIT_LEVEL_DBM0, rng: np.random.Generator | None = None,
        sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """The three rising segments of the special information tone."""
    return np.concatenate([
        sine(freq, samples_for_ms(ms, sample_rate), level_dbm0, _random_phase(rng), sample_rate)
        for freq, ms in zip(SIT_FREQS_HZ, SIT_SEGMENT_MS)
    ])


def silence(ms: float, sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    return np.zeros(samples_for_ms(ms, sample_rate))


def white_noise(n: int, level_dbm0: float, rng: np.random.Generator, channels: int | None = None) -> np.ndarray:
    """Gaussian noise flat from 0 to 4 kHz at an rms of ``level_dbm0``; shape ``(channels, n)`` if given."""
    shape = (n,) if channels is None else (channels, n)
    return rng.standard_normal(shape) * rms_for(level_dbm0)
