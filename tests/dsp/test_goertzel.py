"""The DFT bank behind the DTMF receiver: bins of every sub-block of every channel, phase-referenced
to the start of the stream, against a direct DFT in float64."""

import numpy as np
import pytest

from hotline.dsp.goertzel import DftBank

RATE_HZ = 8000
BLOCK = 80
FREQS_HZ = (697.0, 1209.0, 1633.0)


def direct_bins(x: np.ndarray, freqs_hz, first_sample: int, length: int) -> np.ndarray:
    """sum(x[n] * exp(-j*w*n)) over ``length`` samples from ``first_sample``, n counted from 0."""
    n = np.arange(first_sample, first_sample + length)
    w = 2 * np.pi * np.asarray(freqs_hz) / RATE_HZ
    return (x[..., first_sample:first_sample + length, None] * np.exp(-1j * w * n[:, None])).sum(axis=-2)


def complex_bins(bank: DftBank, x: np.ndarray, first_block: int) -> np.ndarray:
    return bank.transform(np.ascontiguousarray(x, np.float32), first_block).view(np.complex64)


def test_bins_match_a_direct_dft_of_each_block_of_each_channel():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 3000, (5, 6 * BLOCK))
    bins = complex_bins(DftBank(FREQS_HZ, BLOCK, RATE_HZ), x, first_block=0)  # (blocks, channels, bins)
    assert bins.shape == (6, 5, len(FREQS_HZ))
    for block in range(6):
        expected = direct_bins(x, FREQS_HZ, block * BLOCK, BLOCK)
        np.testing.assert_allclose(bins[block], expected, rtol=1e-4, atol=0.5)


def test_later_calls_keep_the_phase_of_the_stream_so_blocks_add_up_to_longer_windows():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 3000, (2, 700 * BLOCK))  # past the one-second period of the kernel table
    bank = DftBank(FREQS_HZ, BLOCK, RATE_HZ)
    first = 690
    bins = complex_bins(bank, x[:, first * BLOCK:], first_block=first)
    window = bins[0] + bins[1]  # two blocks: the bin of a 2-block window
    np.testing.assert_allclose(window, direct_bins(x, FREQS_HZ, first * BLOCK, 2 * BLOCK), rtol=1e-4, atol=1.0)


def test_gains_scale_each_bin_and_dc_free_kernels_ignore_an_offset():
    tone = 1000 * np.cos(2 * np.pi * 1209 * np.arange(4 * BLOCK) / RATE_HZ)
    plain = complex_bins(DftBank(FREQS_HZ, BLOCK, RATE_HZ), tone[None], 0)
    scaled = complex_bins(DftBank(FREQS_HZ, BLOCK, RATE_HZ, gains=(1.0, 2.0, 0.5)), tone[None], 0)
    np.testing.assert_allclose(scaled, plain * np.array([1.0, 2.0, 0.5]), rtol=1e-5, atol=1e-2)

    dc_free = DftBank(FREQS_HZ, BLOCK, RATE_HZ, dc_free=True)
    with_offset = complex_bins(dc_free, (tone + 5000)[None], 0)
    without = complex_bins(dc_free, tone[None], 0)
    np.testing.assert_allclose(with_offset, without, rtol=1e-4, atol=0.5)
    assert abs(without[0, 0, 1]) == pytest.approx(1000 * BLOCK / 2, rel=0.01)  # the tone's own bin
