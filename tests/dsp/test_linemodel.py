"""The line model: each impairment measured back from what comes out."""

import numpy as np
import pytest

from hotline.dsp import g711
from hotline.dsp.levels import level_dbm0
from hotline.dsp.linemodel import LineModel, through_line
from hotline.dsp.tones import sine


def dominant_hz(x, sample_rate=8000):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=16 * len(x)))
    return np.argmax(spectrum) * sample_rate / (16 * len(x))


def test_gain():
    y = through_line(sine(1000, 8000, -10), gain_db=-12)
    assert level_dbm0(y) == pytest.approx(-10 - 12, abs=0.05)


def test_noise_level(rng):
    y = through_line(np.zeros(80000), noise_dbm0=-30, rng=rng)
    assert level_dbm0(y) == pytest.approx(-30, abs=0.1)


@pytest.mark.parametrize("offset_hz", [-40.0, 15.0])
def test_frequency_offset_moves_every_component(offset_hz):
    x = sine(700, 16000, -10) + sine(1500, 16000, -10)
    y = through_line(x, freq_offset_hz=offset_hz)[400:]
    low, high = y.copy(), y.copy()
    assert dominant_hz(np.convolve(low, np.hanning(9), "same") * 1.0) == pytest.approx(700 + offset_hz, abs=1.0)
    spectrum = np.abs(np.fft.rfft(high * np.hanning(len(high))))
    freqs = np.fft.rfftfreq(len(high), 1 / 8000)
    upper = freqs > 1100
    assert freqs[upper][np.argmax(spectrum[upper])] == pytest.approx(1500 + offset_hz, abs=1.0)


def test_echo_comes_back_late_and_weaker(rng):
    prompt = rng.standard_normal(8000) * 3000
    y = through_line(np.zeros(8000), echo_source=prompt, echo_delay_ms=20, echo_loss_db=12)
    lag = np.argmax(np.correlate(y.astype(float), prompt, "full")) - (len(prompt) - 1)
    assert lag == 160
    assert level_dbm0(y[160:]) - level_dbm0(prompt[:-160]) == pytest.approx(-12, abs=0.1)


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_codec_round_trip(law):
    x = sine(1000, 800, -10)
    expected = g711.round_trip(np.rint(x).astype(np.int16), law)
    assert np.array_equal(through_line(x, codec=law), expected)


def test_frames_through_a_stateful_model_equal_one_pass():
    """A board pushes 20 ms at a time: the state (echo line, Hilbert filter, oscillator) carries over."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 8000)) * 2000
    prompt = rng.standard_normal((3, 8000)) * 2000
    options = dict(gain_db=-3, freq_offset_hz=7, echo_delay_ms=12.5, echo_loss_db=10, codec="alaw")
    whole = LineModel(channels=3, **options).process(x, prompt)
    model = LineModel(channels=3, **options)
    framed = np.concatenate([model.process(x[:, i:i + 160], prompt[:, i:i + 160]) for i in range(0, 8000, 160)], axis=1)
    assert np.array_equal(whole, framed)


def test_clipping_and_nan_never_wrap_around():
    y = through_line(np.array([1e6, -1e6, np.nan, 0.0]))
    assert y.tolist() == [32767, -32768, 0, 0]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown codec 'g729'"):
        LineModel(codec="g729")
    with pytest.raises(ValueError, match="built for 2 channels, got 3"):
        LineModel(channels=2).process(np.zeros((3, 10)))
