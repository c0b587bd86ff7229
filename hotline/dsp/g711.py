"""G.711 μ-law and A-law companding of numpy arrays, bit-exact with ITU-T G.191.

How: the G.191 reference algorithms (``ulaw_compress``/``alaw_compress`` and their expanders)
are evaluated once, vectorised, over all 65,536 16-bit inputs and all 256 codes; encoding and
decoding are then one table look-up per sample.

The G.191 encoders work on the top 14 (μ-law) or 13 (A-law) bits of a 16-bit sample and form
the magnitude of a negative input as its one's complement, which is why they differ from
Python's old ``audioop`` on some negative inputs. Decoders return 16-bit samples (the G.191
expanders' output shifted to 16 bits), so ``decode(encode(x))`` is the codec's round trip.
"""

import numpy as np

ULAW_CLIP = 8158  # largest 14-bit magnitude μ-law codes (G.191)
ULAW_BIAS = 33  # added to the 14-bit magnitude before segment search (G.191)
ALAW_TOGGLE = 0x55  # even bits inverted on the A-law line code
SIGN_BIT = 0x80


def _ulaw_compress_reference(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.int32)
    magnitude = np.where(x < 0, (~x) >> 2, x >> 2)
    magnitude = np.minimum(magnitude, ULAW_CLIP) + ULAW_BIAS
    segment = np.ones_like(magnitude)
    rest = magnitude >> 6
    while np.any(rest):
        segment += rest != 0
        rest >>= 1
    high = 8 - segment
    low = 0x0F - ((magnitude >> segment) & 0x0F)
    code = (high << 4) | low
    code = np.where(x >= 0, code | SIGN_BIT, code)
    return code.astype(np.uint8)


def _ulaw_expand_reference(code: np.ndarray) -> np.ndarray:
    code = code.astype(np.int32)
    sign = np.where(code < SIGN_BIT, -1, 1)
    inverted = ~code
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    step = 4 << (exponent + 1)
    magnitude = (0x80 << exponent) + step * mantissa + step // 2 - 4 * ULAW_BIAS
    return (sign * magnitude).astype(np.int16)


def _alaw_compress_reference(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.int32)
    magnitude = np.where(x < 0, (~x) >> 4, x >> 4)
    big = magnitude > 15
    m = magnitude.copy()
    e = np.where(big, 1, 0)
    while True:
        shift = big & (m > 16 + 15)
        if not np.any(shift):
            break
        m = np.where(shift, m >> 1, m)
        e += shift
    code = np.where(big, (m - 16) + (e << 4), magnitude)
    code = np.where(x >= 0, code | SIGN_BIT, code)
    return (code ^ ALAW_TOGGLE).astype(np.uint8)


def _alaw_expand_reference(code: np.ndarray) -> np.ndarray:
    code = code.astype(np.int32)
    plain = (code ^ ALAW_TOGGLE) & 0x7F
    exponent = plain >> 4
    mantissa = plain & 0x0F
    mantissa = np.where(exponent > 0, mantissa + 16, mantissa)
    mantissa = (mantissa << 4) + 8
    mantissa = np.where(exponent > 1, mantissa << np.maximum(exponent - 1, 0), mantissa)
    return np.where(code > 127, mantissa, -mantissa).astype(np.int16)


_ALL_PCM16 = np.arange(-32768, 32768, dtype=np.int32)
_ALL_CODES = np.arange(256, dtype=np.int32)
# Tables indexed by the int16 sample viewed as uint16, and by the code.
_ULAW_ENCODE = np.roll(_ulaw_compress_reference(_ALL_PCM16), -32768)
_ALAW_ENCODE = np.roll(_alaw_compress_reference(_ALL_PCM16), -32768)
_ULAW_DECODE = _ulaw_expand_reference(_ALL_CODES)
_ALAW_DECODE = _alaw_expand_reference(_ALL_CODES)


def _as_pcm16(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.dtype != np.int16:
        raise ValueError(f"G.711 encoding expects int16 samples, got {x.dtype}")
    return x


def _as_codes(codes: np.ndarray) -> np.ndarray:
    c = np.asarray(codes)
    if c.dtype != np.uint8:
        raise ValueError(f"G.711 decoding expects uint8 codes, got {c.dtype}")
    return c


def ulaw_encode(samples: np.ndarray) -> np.ndarray:
    """μ-law codes (uint8) of int16 ``samples``, any shape."""
    return _ULAW_ENCODE[_as_pcm16(samples).view(np.uint16)]


def ulaw_decode(codes: np.ndarray) -> np.ndarray:
    """int16 samples of μ-law ``codes`` (uint8), any shape."""
    return _ULAW_DECODE[_as_codes(codes)]


def alaw_encode(samples: np.ndarray) -> np.ndarray:
    """A-law codes (uint8) of int16 ``samples``, any shape."""
    return _ALAW_ENCODE[_as_pcm16(samples).view(np.uint16)]


def alaw_decode(codes: np.ndarray) -> np.ndarray:
    """int16 samples of A-law ``codes`` (uint8), any shape."""
    return _ALAW_DECODE[_as_codes(codes)]


CODECS = {
    "ulaw": (ulaw_encode, ulaw_decode),
    "alaw": (alaw_encode, alaw_decode),
}


def round_trip(samples: np.ndarray, law: str) -> np.ndarray:
    """``samples`` (int16) after encoding and decoding with ``law`` (``"ulaw"`` or ``"alaw"``)."""
    try:
        encode, decode = CODECS[law]
    except KeyError:
        raise ValueError(f"unknown G.711 law {law!r}; expected one of {sorted(CODECS)}") from None
    return decode(encode(samples))
