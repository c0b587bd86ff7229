"""A bank of complex DFT bins over many channels at once, computed as one matrix product.

What does it do?
    For a set of frequencies, it gives the complex DFT bin of every ``block_len``-sample
    sub-block of every channel: ``sum(x[n] * exp(-j*w*n))`` over the sub-block, where ``n``
    counts samples from the start of the stream, not of the sub-block. With that absolute
    phase reference, the bins of consecutive sub-blocks simply add up to the bin of a longer
    window, and the phase advance of a window's bin from one window to the next is the tone's
    offset from the bin's frequency (``2*pi*offset_hz*hop/sample_rate`` radians).

How does it work?
    The samples of a call, shape ``(channels, blocks * block_len)``, are seen as ``blocks``
    matrices of shape ``(channels, block_len)`` (a strided view, no copy) and multiplied by
    ``blocks`` kernels of shape ``(block_len, 2 * bins)`` in one stacked matrix product. The
    kernel of sub-block ``i`` holds the cosines and sines of the bins rotated by the phase the
    stream has reached at that sub-block. Those rotations repeat: after ``period`` sub-blocks
    every bin has turned a whole number of times (``freq * block_len * period / sample_rate``
    is an integer; for integer frequencies at 8 kHz and 40-sample sub-blocks, 200 sub-blocks or
    one second), so all kernels are computed once, in ``__init__``. The result has shape
    ``(blocks, channels, 2 * bins)`` with real and imaginary parts alternating, bin by bin: its
    ``view(np.complex64)`` is the ``(blocks, channels, bins)`` complex bins.
"""

from fractions import Fraction
from math import lcm

import numpy as np

TWO_PI = 2.0 * np.pi
MAX_PERIOD_BLOCKS = 4000  # beyond this, kernels are rotated per call instead of tabulated
SPARE_BLOCKS = 64  # a call of up to this many sub-blocks reads one contiguous slice of the table


class DftBank:
    """Complex DFT bins at ``freqs_hz`` over ``block_len``-sample sub-blocks, phase-referenced
    to the start of the stream; all channels in one matrix product. ``gains`` (one per bin,
    default 1) scale the bins, so that a caller's calibration costs nothing per sample. With
    ``dc_free``, each kernel has its mean removed: a DC offset then leaks into no bin (a tone's
    bin changes by well under 1 %)."""

    def __init__(self, freqs_hz, block_len: int, sample_rate: int, gains=None, dc_free: bool = False):
        self.freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
        self.bins = len(self.freqs_hz)
        self.block_len = int(block_len)
        self.sample_rate = int(sample_rate)
        omega = TWO_PI * self.freqs_hz / self.sample_rate  # rad per sample
        n = np.arange(self.block_len)
        # (bins, block_len): the kernel exp(-j*w*n) of a sub-block starting at phase 0.
        kernel = np.exp(-1j * omega[:, None] * n[None, :])
        if dc_free:
            kernel -= kernel.mean(axis=1, keepdims=True)
        if gains is not None:
            kernel *= np.asarray(gains, dtype=np.float64)[:, None]
        self._kernel = kernel
        self._block_advance = omega * self.block_len  # rad per sub-block
        turns = [Fraction(float(f)).limit_denominator(10 ** 6) * self.block_len / self.sample_rate
                 for f in self.freqs_hz]
        period = lcm(*(t.denominator for t in turns))
        self.period = period if period <= MAX_PERIOD_BLOCKS else None
        self._table = None if self.period is None else self._rotated(np.arange(self.period + SPARE_BLOCKS))

    def _rotated(self, index: np.ndarray) -> np.ndarray:
        """Kernels of the sub-blocks ``index``, shape ``(len(index), block_len, 2*bins)``, float32."""
        phase = np.remainder(self._block_advance[None, :] * index[:, None].astype(np.float64), TWO_PI)
        rotated = np.exp(-1j * phase)[:, :, None] * self._kernel[None, :, :]  # (blocks, bins, block_len)
        parts = np.stack([rotated.real, rotated.imag], axis=2)  # (blocks, bins, re/im, block_len)
        return np.ascontiguousarray(parts.reshape(len(index), 2 * self.bins, self.block_len)
                                    .transpose(0, 2, 1), dtype=np.float32)

    def matrices(self, first_block: int, blocks: int) -> np.ndarray:
        """The kernels of sub-blocks ``first_block .. first_block + blocks - 1`` (counted from the
        start of the stream), shape ``(blocks, block_len, 2*bins)``, float32."""
        if self.period is None:
            return self._rotated(first_block + np.arange(blocks))
        start = first_block % self.period
        if blocks <= SPARE_BLOCKS:
            return self._table[start:start + blocks]
        return self._table[(start + np.arange(blocks)) % self.period]

    def transform(self, x: np.ndarray, first_block: int, out: np.ndarray | None = None) -> np.ndarray:
        """Bins of the float32 samples ``x`` (``(channels, blocks*block_len)``, C-contiguous),
        whose first sample is sample ``first_block * block_len`` of the stream.

        Returns ``(blocks, channels, 2*bins)`` float32 (written into ``out`` if given), real and
        imaginary parts alternating.
        """
        channels, n = x.shape
        blocks = n // self.block_len
        return np.matmul(self.blocks_view(x), self.matrices(first_block, blocks), out=out)

    def blocks_view(self, x: np.ndarray) -> np.ndarray:
        """``x`` (``(channels, blocks*block_len)``) as ``(blocks, channels, block_len)``: a strided
        view the matrix product reads in place."""
        channels, n = x.shape
        return x.reshape(channels, n // self.block_len, self.block_len).transpose(1, 0, 2)
