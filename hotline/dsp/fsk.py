"""The 1200 bit/s FSK modem of caller ID: Bell 202 and V.23 tones, a modulator and a batched front end.

What it does
    :func:`modulate` turns message bytes into the analog signal an exchange sends before or
    between rings: a channel seizure of alternating bits, a run of mark bits, then each byte as
    an asynchronous character (a start bit 0, eight data bits least significant first, a stop
    bit 1), as phase-continuous FSK. :class:`FskFrontEnd` turns the audio of many channels at
    once into soft bit values, which the caller-ID receiver (:mod:`hotline.dsp.callerid`)
    frames into bytes.

How it works
    The front end shifts the band to baseband (times the cosine and minus the sine of the
    centre frequency, 1700 Hz for both standards), low-passes it with two moving sums of 3
    samples ([1, 2, 3, 2, 1], about +-1 kHz wide) of which the second is taken every other
    sample: from there on the chain runs at 4 kHz, one *tick* per two samples. A quadrature FM
    discriminator measures the phase turn from one tick to the next, normalised by the power
    so that it does not depend on the level: ``Im(z[k] conj z[k-1]) / (|z[k]|^2 + |z[k-1]|^2)``;
    ticks below the carrier threshold give 0. A moving sum over 0.9 bit is the post-detection
    filter, scaled so that a mark reads about +1 and a space -1. Every step is an array
    operation over all channels given, in batches sized for the cache. It keeps no state
    between blocks: each block comes with the few samples before it (``history``, 10) that its
    first value depends on, so the caller can take blocks of any channels from its own record
    of the audio.

    :func:`seizure_bit_periods` recovers the bit clock from the channel seizure: alternating
    bits make the soft values a square wave at half the bit rate, whose frequency it measures.

Standards
    ITU-T V.23 forward channel (mark 1300 Hz, space 2100 Hz) as ETSI EN 300 659-1 uses it;
    Bell 202 (mark 1200 Hz, space 2200 Hz) as Bellcore GR-30-CORE uses it; both 1200 bit/s.
    The receiver built on this front end tolerates errors of ±5 % in bit rate and in tone
    frequency.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hotline.dsp import SAMPLE_RATE_HZ
from hotline.dsp.levels import sine_peak

BAUD_RATE = 1200.0  # bit/s, both standards
BELL202_MARK_HZ = 1200.0
BELL202_SPACE_HZ = 2200.0
V23_MARK_HZ = 1300.0
V23_SPACE_HZ = 2100.0
DEFAULT_LEVEL_DBM0 = -13.5  # a typical exchange's caller-ID level
DEFAULT_SEIZURE_BITS = 300  # alternating bits; GR-30-CORE and EN 300 659-1 both use 300
DEFAULT_MARK_BITS = 180  # GR-30-CORE; EN 300 659-1 asks 80 ± 25
DEFAULT_POSTAMBLE_BITS = 5  # mark bits after the last byte
CARRIER_THRESHOLD_DBM0 = -48.0  # weaker FSK reads as no carrier (soft value 0)
LOWPASS_TAPS = 3  # each of the two moving averages that low-pass the signal shifted to baseband
POST_FILTER_BITS = 0.9  # the discriminator output is summed over this much of a bit
SEIZURE_BLOCK_BITS = 4  # a channel seizure is checked and timed in stretches of this many bits
SEIZURE_MIN_QUALITY = 0.2  # a stretch's correlation with the square wave, relative to its length (ideal 0.4)
DECIMATION = 2  # the discriminator runs at half the sample rate (the band is +-1 kHz wide)
BATCH_SAMPLES = 65536  # channels are worked through in batches of about this many samples (cache)
MAX_SCRATCH_LENGTHS = 4  # scratch buffers are kept for this many block lengths at most


@dataclass(frozen=True)
class FskStandard:
    """The tones and bit rate of one FSK standard."""

    name: str
    mark_hz: float  # binary 1
    space_hz: float  # binary 0
    baud: float = BAUD_RATE  # bit/s

    @property
    def shift_hz(self) -> float:
        return self.space_hz - self.mark_hz


BELL202 = FskStandard("bell202", BELL202_MARK_HZ, BELL202_SPACE_HZ)
V23 = FskStandard("v23", V23_MARK_HZ, V23_SPACE_HZ)
STANDARDS = {s.name: s for s in (BELL202, V23)}


def fsk_standard(name: str | FskStandard) -> FskStandard:
    """The standard called ``name`` (``"bell202"`` or ``"v23"``)."""
    if isinstance(name, FskStandard):
        return name
    try:
        return STANDARDS[name]
    except KeyError:
        raise ValueError(f"unknown FSK standard {name!r}; expected one of {sorted(STANDARDS)}") from None


def async_bits(data: bytes) -> np.ndarray:
    """``data`` as asynchronous characters: per byte a 0 start bit, 8 data bits LSB first, a 1 stop bit."""
    octets = np.frombuffer(bytes(data), dtype=np.uint8)
    data_bits = (octets[:, None] >> np.arange(8)) & 1
    frame = np.concatenate([np.zeros((len(octets), 1), np.uint8), data_bits, np.ones((len(octets), 1), np.uint8)],
                           axis=1)
    return frame.reshape(-1)


def seizure_pattern(count: int) -> np.ndarray:
    """The channel seizure: ``count`` alternating bits, starting with a 0 (space)."""
    return (np.arange(count) % 2).astype(np.uint8)


def modulate(message: bytes, standard: str | FskStandard = "bell202", level_dbm0: float = DEFAULT_LEVEL_DBM0,
             seizure_bits: int = DEFAULT_SEIZURE_BITS, mark_bits: int = DEFAULT_MARK_BITS,
             baud_error: float = 0.0, carrier_error: float = 0.0, rng: np.random.Generator | None = None, *,
             postamble_bits: int = DEFAULT_POSTAMBLE_BITS, sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Phase-continuous FSK of ``message`` (bytes, already with its checksum), float64 on the int16 scale.

    ``level_dbm0``: the level of the tone in dBm0. ``seizure_bits``, ``mark_bits``,
    ``postamble_bits``: lengths in bits of the alternating seizure, the mark run before the
    first byte and the mark run after the last. ``baud_error``/``carrier_error``: relative
    errors of the bit rate and of both tone frequencies (``0.05`` is +5 %). With ``rng`` the
    signal starts at a random phase.
    """
    fsk = fsk_standard(standard)
    bits = np.concatenate([
        seizure_pattern(seizure_bits),
        np.ones(mark_bits, np.uint8),
        async_bits(message),
        np.ones(postamble_bits, np.uint8),
    ])
    baud = fsk.baud * (1.0 + baud_error)
    n = int(np.ceil(len(bits) * sample_rate / baud))
    bit_index = np.minimum((np.arange(n) * baud / sample_rate).astype(np.int64), len(bits) - 1)
    freq = np.where(bits[bit_index] == 1, fsk.mark_hz, fsk.space_hz) * (1.0 + carrier_error)
    start_phase = 0.0 if rng is None else float(rng.uniform(0.0, 2.0 * np.pi))
    phase = start_phase + np.concatenate([[0.0], np.cumsum(2.0 * np.pi * freq[:-1] / sample_rate)])
    return sine_peak(level_dbm0) * np.sin(phase)


class FskFrontEnd:
    """Soft bit values for many channels: about +1 on a mark, -1 on a space, 0 without carrier.

    See the module docstring. The output comes at one value per :attr:`decimation` input
    samples (a *tick*); the value of tick ``t`` describes the signal around input sample
    ``decimation * t - delay``. It keeps no state: each block comes with the :attr:`history`
    samples before it (zeros where the signal starts).
    """

    def __init__(self, fsk: FskStandard, sample_rate: int = SAMPLE_RATE_HZ,
                 carrier_threshold_dbm0: float = CARRIER_THRESHOLD_DBM0):
        self.fsk = fsk
        self.sample_rate = sample_rate
        self.decimation = DECIMATION
        bit_ticks = sample_rate / fsk.baud / DECIMATION
        self.smooth = max(2, int(round(bit_ticks * POST_FILTER_BITS)))  # post-detection moving sum, ticks
        # Centre of the low-pass (2 samples) + of the discriminator (half a tick) + of the moving sum.
        self.delay = (LOWPASS_TAPS - 1) + DECIMATION * (0.5 + (self.smooth - 1) / 2.0)
        # Samples a block's first value looks back on: the low-pass of one tick, the tick
        # before it (discriminator) and the `smooth - 1` ticks before that (moving sum).
        self.history = 2 * (LOWPASS_TAPS - 1) + DECIMATION * self.smooth
        self.centre_hz = (fsk.mark_hz + fsk.space_hz) / 2.0
        # One tick's phase step at the mark, as the normalised discriminator sees it: the soft
        # value is the smoothed discriminator divided by this, so a clean mark reads +1.
        step = 2.0 * np.pi * (fsk.shift_hz / 2.0) * DECIMATION / sample_rate
        self._scale = np.float32(-1.0 / (self.smooth * np.sin(step) / 2.0))
        gain = _moving_sum_gain(fsk.shift_hz / 2.0, sample_rate) ** 2 * LOWPASS_TAPS ** 2
        amplitude = sine_peak(carrier_threshold_dbm0) / 2.0 * gain
        self.power_threshold = np.float32(2.0 * amplitude ** 2)  # two consecutive ticks' power
        self._scratch = {}  # block length -> (rows it holds, buffers, the buffers cut to each row count)
        self._table = None

    def _oscillator(self, start: int, n: int) -> np.ndarray:
        """cos and -sin of the centre frequency for samples ``start...``, shape ``(2, n)``."""
        if self._table is None:  # one second of it, worked out once
            phase = 2.0 * np.pi * self.centre_hz * np.arange(self.sample_rate) / self.sample_rate
            self._table = np.stack([np.cos(phase), -np.sin(phase)]).astype(np.float32)
        a = start % self.sample_rate
        if a + n <= self.sample_rate:
            return self._table[:, a:a + n]
        return self._table[:, (a + np.arange(n)) % self.sample_rate]

    def process(self, x: np.ndarray, start: int, out: np.ndarray | None = None) -> np.ndarray:
        """Soft values (float32, ``(rows, n // decimation)``) of the last ``n`` of float32 samples ``x``.

        Each row of ``x`` holds :attr:`history` samples, then the ``n`` samples of the block.
        ``start``: the index of the block's first sample, counted since the first block (it
        sets the oscillator's phase, the same for every channel); it and ``n`` must be
        multiples of :attr:`decimation`. ``out``: where to write the values. Rows are worked
        through in batches small enough for the cache, in buffers kept between calls.
        """
        count, width = x.shape
        n = width - self.history
        if n < 0 or n % self.decimation or start % self.decimation:
            raise ValueError(f"blocks must start and end on a multiple of {self.decimation} samples "
                             f"and come with {self.history} samples before them")
        soft = np.empty((count, n // self.decimation), np.float32) if out is None else out
        oscillator = self._oscillator(start - self.history, width)[:, None, :]
        batch = max(1, BATCH_SAMPLES // width)
        for first in range(0, count, batch):
            last = min(first + batch, count)
            self._batch(x[first:last], oscillator, soft[first:last])
        return soft

    def _buffers(self, m: int, width: int) -> dict:
        """Scratch arrays for ``m`` rows of ``width`` samples, kept between calls (one set per width)."""
        held = self._scratch.get(width)
        if held is None or held[0] < m:
            if len(self._scratch) >= MAX_SCRATCH_LENGTHS:
                self._scratch.clear()
            part = m * width // self.decimation  # ticks of one part: `width / decimation` a row
            buffers = {
                "mixed": np.empty((2, m, width), np.float32),  # in-phase part, then quadrature
                "sum": np.empty(4 * part - 2, np.float32),
                "z": np.empty(2 * part - 2, np.float32),
                "squares": np.empty(2 * part - 2, np.float32),
                "cross": np.empty((2, part), np.float32),
                "power": np.empty(part, np.float32),
                "turn": np.empty(part, np.float32),
                "both": np.empty(part, np.float32),
                "carrier": np.empty(part, bool),
                "detected": np.empty(part, np.float32),
                "soft": np.empty(part, np.float32),
            }
            held = self._scratch[width] = (m, buffers, {})
        views = held[2].get(m)
        if views is None:
            views = held[2][m] = self._cut(held[1], m, width)
        return views

    def _cut(self, buffers: dict, m: int, width: int) -> dict:
        """The scratch arrays for ``m`` rows: ``part`` ticks a part, of which the last
        ``LOWPASS_TAPS - 1`` reach past the block (every row's do, into the next row)."""
        part = m * width // self.decimation
        used = part - (LOWPASS_TAPS - 1)  # ticks of a part whose low-pass lies inside the rows
        views = {"mixed": buffers["mixed"][:, :m], "sum": buffers["sum"][:4 * part - 2],
                 "z": buffers["z"][:2 * part - 2], "squares": buffers["squares"][:2 * part - 2],
                 "cross": buffers["cross"][:, :used - 1], "power": buffers["power"][:used]}
        for name in ("turn", "both", "carrier", "detected"):
            views[name] = buffers[name][:used - 1]
        views["soft"] = buffers["soft"][:used - self.smooth]
        return views

    def _batch(self, x: np.ndarray, oscillator: np.ndarray, soft: np.ndarray) -> None:
        """Soft values of rows ``x`` into ``soft``; after the mixing, all rows and both parts are
        worked on end to end as one flat array (one long operation a step): a row's last few
        values, which reach into the next row, are never used."""
        m, width = x.shape
        b = self._buffers(m, width)
        mixed = b["mixed"]
        np.multiply(x, oscillator, out=mixed)
        flat = mixed.reshape(-1)
        # Low-pass: two moving sums of LOWPASS_TAPS (3) samples ([1, 2, 3, 2, 1] in all), the
        # second one only every other sample: the decimation by 2.
        total, z = b["sum"], b["z"]
        np.add(flat[:-2], flat[1:-1], out=total)
        total += flat[2:]
        ticks = z.size
        np.add(total[0:2 * ticks:2], total[1:2 * ticks + 1:2], out=z)
        z += total[2:2 * ticks + 2:2]
        # Normalised discriminator: Im(z[k] conj z[k-1]) / (|z[k]|^2 + |z[k-1]|^2), both parts
        # at once: squares = (re^2, im^2), cross = (im[k] re[k-1], re[k] im[k-1]).
        part = (ticks + 2) // 2
        used = b["power"].size
        squares, cross, power, turn, both = b["squares"], b["cross"], b["power"], b["turn"], b["both"]
        np.multiply(z, z, out=squares)
        np.add(squares[:used], squares[part:part + used], out=power)
        parts = np.lib.stride_tricks.as_strided(z, (2, used), (part * z.itemsize, z.itemsize))  # re; im
        np.multiply(parts[::-1, 1:], parts[:, :-1], out=cross)
        np.subtract(cross[0], cross[1], out=turn)
        np.add(power[1:], power[:-1], out=both)
        carrier, detected = b["carrier"], b["detected"]
        np.greater(both, self.power_threshold, out=carrier)
        detected.fill(0.0)
        np.divide(turn, both, out=detected, where=carrier)
        # Post-detection moving sum over `smooth` ticks, scaled so that a mark reads +1.
        out = b["soft"]
        count = out.size
        np.add(detected[:count], detected[1:count + 1], out=out)
        for i in range(2, self.smooth):
            out += detected[i:i + count]
        out *= self._scale
        row = width // self.decimation  # ticks from one row to the next
        np.copyto(soft, np.lib.stride_tricks.as_strided(out, (m, soft.shape[1]), (row * out.itemsize, out.itemsize)))


def _moving_sum_gain(freq_hz: float, sample_rate: int) -> float:
    """Gain of a :data:`LOWPASS_TAPS` moving average at ``freq_hz`` from the centre."""
    w = np.pi * freq_hz / sample_rate
    return float(abs(np.sin(LOWPASS_TAPS * w) / (LOWPASS_TAPS * np.sin(w))))


def seizure_bit_periods(soft: np.ndarray, nominal: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``soft``: the bit period (ticks) of the channel seizure in it, its bits, its mean.

    Alternating bits make the soft values a square wave at half the bit rate. Each stretch of
    ``SEIZURE_BLOCK_BITS`` is correlated with that frequency; the last run of stretches that
    look like the square wave is the seizure (marks may follow it). The rotation of the
    correlation from one stretch to the next gives the frequency, hence the bit rate; the mean
    is the level halfway between mark and space (not 0 when the tones are off frequency). A
    row without a seizure gets ``nominal``, 0 bits and level 0.
    """
    rows, width = soft.shape
    size = int(round(SEIZURE_BLOCK_BITS * nominal))
    blocks = width // size
    if blocks < 2:
        return np.full(rows, nominal), np.zeros(rows, np.int64), np.zeros(rows)
    seg = np.asarray(soft[:, width - blocks * size:], dtype=np.float32).reshape(rows, blocks, size)
    # Each stretch against the same oscillator: stretch b's correlation is off by a fixed
    # rotation per stretch, taken out of the rotation below.
    step = np.pi / nominal
    y = seg @ _seizure_oscillator(size, step)
    z = y[..., 0] + 1j * y[..., 1]
    # A square wave of +-1 gives 2/pi of the stretch's length (about 0.4 after the receiver's
    # filters); noise on a steady tone gives far less.
    inside = _last_run(np.abs(z) > SEIZURE_MIN_QUALITY * size)
    pairs = z[:, 1:] * np.conj(z[:, :-1]) * (inside[:, 1:] & inside[:, :-1])
    rotation = np.add.reduce(pairs, axis=1)
    span = np.add.reduce(inside, axis=1)
    good = (span >= 2) & (np.abs(rotation) >= SEIZURE_MIN_QUALITY * np.add.reduce(np.abs(pairs), axis=1))
    angle = np.arctan2(rotation.imag, rotation.real) - step * size  # undo the oscillator restarting each stretch
    angle = (angle + np.pi) % (2.0 * np.pi) - np.pi
    period = np.pi / (step + angle / size)
    means = np.add.reduce(seg, axis=2)
    np.true_divide(means, np.intp(size), out=means, casting="unsafe")
    level = np.add.reduce(means * inside, axis=1) / np.maximum(span, 1)
    return (np.where(good, period, nominal), np.where(good, span * SEIZURE_BLOCK_BITS, 0),
            np.where(good, level, 0.0))


def _last_run(flags: np.ndarray) -> np.ndarray:
    """Per row of ``flags``, only its last run of True values (none if it has none)."""
    backwards = flags[:, ::-1]
    starts = np.empty_like(backwards)
    starts[:, 0] = backwards[:, 0]
    np.greater(backwards[:, 1:], backwards[:, :-1], out=starts[:, 1:])
    first_run = np.cumsum(starts, axis=1) == 1
    first_run &= backwards
    return first_run[:, ::-1]


@lru_cache(maxsize=8)
def _seizure_oscillator(size: int, step: float) -> np.ndarray:
    k = np.arange(size)
    return np.stack([np.cos(step * k), -np.sin(step * k)], axis=1).astype(np.float32)
