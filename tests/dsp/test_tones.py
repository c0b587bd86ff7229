"""Tone generators: frequencies, levels, twist and cadences measured back from the samples."""

import numpy as np
import pytest

from hotline.dsp import tones
from hotline.dsp.levels import level_dbm0
from hotline.dsp.toneplans import PLANS, SIT_FREQS_HZ


def peak_frequencies(x, count, sample_rate=8000):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=8 * len(x)))
    freqs = np.fft.rfftfreq(8 * len(x), 1 / sample_rate)
    peaks = []
    for _ in range(count):
        k = int(np.argmax(spectrum))
        peaks.append(freqs[k])
        spectrum[max(0, k - 200):k + 200] = 0
    return sorted(peaks)


@pytest.mark.parametrize("digit", tones.DTMF_DIGITS)
def test_dtmf_digit_frequencies(digit, rng):
    x = tones.dtmf(digit, on_ms=200, off_ms=0, rng=rng)
    assert peak_frequencies(x, 2) == pytest.approx(tones.DTMF_FREQS_HZ[digit], abs=1.0)


def test_dtmf_level_twist_and_frequency_error(rng):
    x = tones.dtmf("5", on_ms=500, off_ms=0, level_dbm0=-20, twist_db=-6, row_error=0.02, col_error=-0.02, rng=rng)
    low, high = peak_frequencies(x, 2)
    assert low == pytest.approx(770 * 1.02, abs=1.0) and high == pytest.approx(1336 * 0.98, abs=1.0)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)

    def peak(f):
        return spectrum[np.abs(freqs - f) < 10].max()

    twist = 20 * np.log10(peak(high) / peak(low))
    assert twist == pytest.approx(-6, abs=0.5)
    assert level_dbm0(tones.dtmf("5", on_ms=500, off_ms=0, level_dbm0=-20)) == pytest.approx(-20 + 3.01, abs=0.05)


def test_dtmf_timing():
    x = tones.dtmf("12", on_ms=60, off_ms=40)
    assert len(x) == 2 * 800
    assert np.all(x[480:800] == 0) and np.any(x[800:1280] != 0)


def test_unknown_digit_is_refused():
    with pytest.raises(ValueError, match="not a DTMF digit: 'x'"):
        tones.dtmf("1x")


@pytest.mark.parametrize("plan_name", PLANS)
def test_progress_tones_follow_their_plan(plan_name, rng):
    for tone in PLANS[plan_name].values():
        x = tones.progress_tone(plan_name, tone.name, 12000, rng=rng)
        on = np.sqrt(np.mean(x.reshape(-1, 8) ** 2, axis=1)) > 1  # 1 ms blocks
        edges = np.flatnonzero(np.diff(on.astype(int))) + 1
        runs = np.diff(np.concatenate([[0], edges, [len(on)]]))  # ms
        if tone.continuous:
            assert on.all()
        else:
            assert runs[0] == pytest.approx(tone.cadence_ms[0], abs=1)
            assert runs[1] == pytest.approx(tone.cadence_ms[1], abs=1)
        assert peak_frequencies(x, len(tone.freqs_hz)) == pytest.approx(tone.freqs_hz, abs=1.0)


def test_unknown_plan_or_tone_names_what_exists():
    with pytest.raises(ValueError, match="known plans: china, north_america"):
        tones.progress_tone("mars", "busy", 100)
    with pytest.raises(ValueError, match="no tone 'howler'"):
        tones.progress_tone("china", "howler", 100)


def test_sit_segments(rng):
    x = tones.sit(rng=rng)
    bounds = np.cumsum([0, 274 * 8, 274 * 8, 380 * 8])
    for freq, start, end in zip(SIT_FREQS_HZ, bounds[:-1], bounds[1:]):
        assert peak_frequencies(x[start:end], 1)[0] == pytest.approx(freq, abs=2.0)


def test_white_noise_level_and_shape(rng):
    noise = tones.white_noise(80000, -25.0, rng, channels=2)
    assert noise.shape == (2, 80000)
    assert level_dbm0(noise) == pytest.approx(-25.0, abs=0.1)
