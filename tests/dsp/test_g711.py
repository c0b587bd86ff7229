"""G.711 against an independent scalar transcription of the ITU-T G.191 reference algorithms.

Test procedures in the manner of a codec conformance run: every 16-bit input, every code,
cyclic stability, the quantisation error bound, and the digital milliwatt's level.
"""

import numpy as np
import pytest

from hotline.dsp import g711
from hotline.dsp.levels import level_dbm0
from hotline.dsp.tones import sine


def g191_ulaw_compress(sample: int) -> int:
    magnitude = (~sample if sample < 0 else sample) >> 2
    magnitude = min(magnitude, 8158) + 33
    segment, rest = 1, magnitude >> 6
    while rest:
        segment += 1
        rest >>= 1
    code = ((8 - segment) << 4) | (0x0F - ((magnitude >> segment) & 0x0F))
    return code | 0x80 if sample >= 0 else code


def g191_ulaw_expand(code: int) -> int:
    sign = -1 if code < 0x80 else 1
    inverted = ~code
    exponent = (inverted >> 4) & 0x07
    step = 4 << (exponent + 1)
    return sign * ((0x80 << exponent) + step * (inverted & 0x0F) + step // 2 - 4 * 33)


def g191_alaw_compress(sample: int) -> int:
    magnitude = (~sample if sample < 0 else sample) >> 4
    if magnitude > 15:
        exponent = 1
        while magnitude > 16 + 15:
            magnitude >>= 1
            exponent += 1
        magnitude = magnitude - 16 + (exponent << 4)
    if sample >= 0:
        magnitude |= 0x80
    return magnitude ^ 0x55


def g191_alaw_expand(code: int) -> int:
    plain = (code ^ 0x55) & 0x7F
    exponent, mantissa = plain >> 4, plain & 0x0F
    if exponent > 0:
        mantissa += 16
    mantissa = (mantissa << 4) + 8
    if exponent > 1:
        mantissa <<= exponent - 1
    return mantissa if code > 127 else -mantissa


ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)
LAWS = {
    "ulaw": (g191_ulaw_compress, g191_ulaw_expand),
    "alaw": (g191_alaw_compress, g191_alaw_expand),
}


@pytest.mark.parametrize("law", LAWS)
def test_encoder_bit_exact_for_all_65536_inputs(law):
    compress, _ = LAWS[law]
    encode, _ = g711.CODECS[law]
    expected = np.array([compress(int(x)) for x in ALL_SAMPLES], dtype=np.uint8)
    assert np.array_equal(encode(ALL_SAMPLES), expected)


@pytest.mark.parametrize("law", LAWS)
def test_decoder_bit_exact_for_all_256_codes(law):
    _, expand = LAWS[law]
    _, decode = g711.CODECS[law]
    expected = np.array([expand(int(c)) for c in ALL_CODES], dtype=np.int16)
    assert np.array_equal(decode(ALL_CODES), expected)


@pytest.mark.parametrize("law", LAWS)
def test_round_trip_is_stable(law):
    """Decoding then encoding gives the code back (μ-law's two zeros excepted), and a second
    round trip changes nothing: tandem codecs add no further distortion."""
    encode, decode = g711.CODECS[law]
    once = g711.round_trip(ALL_SAMPLES, law)
    assert np.array_equal(g711.round_trip(once, law), once)
    codes_back = encode(decode(ALL_CODES))
    changed = ALL_CODES[codes_back != ALL_CODES]
    assert set(changed.tolist()) <= ({0x7F} if law == "ulaw" else set())


@pytest.mark.parametrize("law,relative_error", [("ulaw", 0.035), ("alaw", 1 / 32)])
def test_quantisation_error_bound(law, relative_error):
    """Above the first segments the error stays within half a step: about 3 % of the magnitude."""
    x = ALL_SAMPLES.astype(np.int64)
    error = np.abs(g711.round_trip(ALL_SAMPLES, law).astype(np.int64) - x)
    loud = (np.abs(x) > 1024) & (np.abs(x) < 32000)
    assert np.all(error[loud] <= np.abs(x[loud]) * relative_error + 1)
    assert error[np.abs(x) < 64].max() <= 16


@pytest.mark.parametrize("law", LAWS)
def test_digital_milliwatt_level(law):
    tone = np.rint(sine(1000.0, 8000, 0.0, phase=0.3)).astype(np.int16)
    assert level_dbm0(g711.round_trip(tone, law)) == pytest.approx(0.0, abs=0.1)


def test_wrong_dtype_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="int16"):
        g711.ulaw_encode(np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match="uint8"):
        g711.alaw_decode(np.zeros(4, dtype=np.int16))
    with pytest.raises(ValueError, match="unknown G.711 law 'gsm'"):
        g711.round_trip(np.zeros(4, dtype=np.int16), "gsm")
