"""Signal levels: dBm0 against the linear scale of 16-bit samples.

0 dBm0 is a sine of peak 22826 (ITU-T G.711: the digital milliwatt sits 3.14 dB below the
μ-law overload point). Levels of tones are given per tone in dBm0; the level of noise or
speech is its rms against the rms of that sine.
"""

import numpy as np

DBM0_SINE_PEAK = 22826.0
DBM0_RMS = DBM0_SINE_PEAK / np.sqrt(2.0)
PCM16_MIN = -32768
PCM16_MAX = 32767


def sine_peak(level_dbm0: float) -> float:
    """Peak amplitude of a sine at ``level_dbm0``."""
    return DBM0_SINE_PEAK * 10.0 ** (level_dbm0 / 20.0)


def rms_for(level_dbm0: float) -> float:
    """Rms amplitude of any signal at ``level_dbm0``."""
    return DBM0_RMS * 10.0 ** (level_dbm0 / 20.0)


def level_dbm0(samples: np.ndarray) -> float:
    """Rms level of ``samples`` in dBm0 (``-inf`` for digital silence)."""
    x = np.asarray(samples, dtype=np.float64)
    rms = np.sqrt(np.mean(x * x)) if x.size else 0.0
    return 20.0 * np.log10(rms / DBM0_RMS) if rms > 0 else -np.inf


def db_to_amplitude(db: float) -> float:
    """Amplitude ratio of a gain in dB."""
    return 10.0 ** (db / 20.0)


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Round and saturate float samples to int16, as a codec or a sound card would clip them."""
    x = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0)
    return np.clip(np.rint(x), PCM16_MIN, PCM16_MAX).astype(np.int16)
