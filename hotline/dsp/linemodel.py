"""A telephone line between a far end and the box: gain, frequency offset, hybrid echo, noise, G.711.

The simulated board and the tests hear the far end through this model, the shape of SpanDSP's
``line_model`` (our own code). One :class:`LineModel` serves any number of channels and keeps
its state between calls, so audio can be pushed through it 20 ms at a time, like a board does:

1. the far end's signal is scaled by ``gain_db`` (line loss is a negative gain);
2. shifted in frequency by ``freq_offset_hz`` (an analog carrier system's offset: every
   component moves by the same number of hertz), with a Hilbert transformer;
3. the box's own outgoing audio (``echo_source``) comes back ``echo_delay_ms`` later and
   ``echo_loss_db`` weaker, as from a 2-wire/4-wire hybrid;
4. flat Gaussian noise at ``noise_dbm0`` is added;
5. the sum is clipped to 16 bits and, with ``codec``, passed through a μ-law or A-law round trip.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from hotline.dsp import SAMPLE_RATE_HZ, g711
from hotline.dsp.levels import db_to_amplitude, rms_for, to_pcm16

NOISE_TABLE_SAMPLES = 1 << 16  # about 8 s of unit Gaussian noise, drawn once per model
NOISE_TABLE_MAX_BLOCK = NOISE_TABLE_SAMPLES // 8  # longer blocks get freshly drawn noise
HILBERT_TAPS = 127
HILBERT_DELAY = HILBERT_TAPS // 2


def _hilbert_fir() -> np.ndarray:
    n = np.arange(HILBERT_TAPS) - HILBERT_DELAY
    taps = np.zeros(HILBERT_TAPS)
    odd = n % 2 != 0
    taps[odd] = 2.0 / (np.pi * n[odd])
    return taps * np.blackman(HILBERT_TAPS)


class LineModel:
    """A stateful line model for ``channels`` channels; see the module docstring for the stages."""

    def __init__(self, channels: int = 1, gain_db: float = 0.0, noise_dbm0: float | None = None,
                 codec: str | None = None, echo_delay_ms: float = 0.0, echo_loss_db: float | None = None,
                 freq_offset_hz: float = 0.0, rng: np.random.Generator | None = None,
                 sample_rate: int = SAMPLE_RATE_HZ):
        if codec is not None and codec not in g711.CODECS:
            raise ValueError(f"unknown codec {codec!r}; expected None or one of {sorted(g711.CODECS)}")
        self.channels = channels
        self.gain = db_to_amplitude(gain_db)
        self.noise_rms = None if noise_dbm0 is None else rms_for(noise_dbm0)
        self.codec = codec
        self.echo_gain = None if echo_loss_db is None else db_to_amplitude(-echo_loss_db)
        self.echo_delay = int(round(echo_delay_ms * sample_rate / 1000.0))
        self._echo_line = np.zeros((channels, self.echo_delay))
        self.freq_offset_hz = freq_offset_hz
        self.sample_rate = sample_rate
        self.rng = rng if rng is not None else np.random.default_rng()
        self._noise_table: np.ndarray | None = None
        self._hilbert = _hilbert_fir()
        self._hilbert_state = np.zeros((channels, HILBERT_TAPS - 1))
        self._delay_state = np.zeros((channels, HILBERT_DELAY))
        self._shift_phase = 0.0

    def process(self, samples: np.ndarray, echo_source: np.ndarray | None = None) -> np.ndarray:
        """The line's output (int16, same shape) for the far end's ``samples`` (1-D or ``(channels, n)``)."""
        x = np.asarray(samples, dtype=np.float64)
        one_channel = x.ndim == 1
        x = np.atleast_2d(x)
        if x.shape[0] != self.channels:
            raise ValueError(f"line model built for {self.channels} channels, got {x.shape[0]}")
        y = x * self.gain
        if self.freq_offset_hz:
            y = self._shift(y)
        if self.echo_gain is not None and echo_source is not None:
            y = y + self._echo(np.atleast_2d(np.asarray(echo_source, dtype=np.float64)), y.shape[1])
        if self.noise_rms is not None:
            y = y + self._noise(y.shape) * self.noise_rms
        out = to_pcm16(y)
        if self.codec is not None:
            out = g711.round_trip(out, self.codec)
        return out[0] if one_channel else out

    def _noise(self, shape: tuple[int, int]) -> np.ndarray:
        """White Gaussian noise of unit variance. A 20 ms frame is a window at a random place of a
        table drawn once: white noise has no memory, so independent windows are as good as fresh
        draws, at a fraction of the cost for hundreds of lines every tick."""
        channels, n = shape
        if n > NOISE_TABLE_MAX_BLOCK:
            return self.rng.standard_normal(shape)
        if self._noise_table is None:
            self._noise_table = self.rng.standard_normal(NOISE_TABLE_SAMPLES)
        starts = self.rng.integers(0, NOISE_TABLE_SAMPLES - n, channels)
        return self._noise_table[starts[:, None] + np.arange(n)]

    def _shift(self, x: np.ndarray) -> np.ndarray:
        history = np.concatenate([self._hilbert_state, x], axis=1)
        quadrature = sliding_window_view(history, HILBERT_TAPS, axis=1) @ self._hilbert[::-1]
        self._hilbert_state = history[:, x.shape[1]:]
        delayed = np.concatenate([self._delay_state, x], axis=1)
        in_phase = delayed[:, :x.shape[1]]
        self._delay_state = delayed[:, x.shape[1]:]
        step = 2.0 * np.pi * self.freq_offset_hz / self.sample_rate
        phase = self._shift_phase + step * np.arange(x.shape[1])
        self._shift_phase = float((self._shift_phase + step * x.shape[1]) % (2.0 * np.pi))
        return in_phase * np.cos(phase) - quadrature * np.sin(phase)

    def _echo(self, source: np.ndarray, n: int) -> np.ndarray:
        if source.shape[1] != n:
            raise ValueError(f"echo source has {source.shape[1]} samples, the signal {n}")
        line = np.concatenate([self._echo_line, source], axis=1)
        self._echo_line = line[:, n:]
        return line[:, :n] * self.echo_gain


def through_line(samples: np.ndarray, **line_options) -> np.ndarray:
    """One signal (1-D or ``(channels, n)``) through a fresh :class:`LineModel` built with ``line_options``."""
    x = np.asarray(samples)
    channels = 1 if x.ndim == 1 else x.shape[0]
    echo_source = line_options.pop("echo_source", None)
    return LineModel(channels=channels, **line_options).process(x, echo_source)
