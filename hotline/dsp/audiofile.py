"""Reading audio files into 8 kHz int16 samples: WAV of any common kind, or raw 16-bit PCM.

WAV: RIFF chunks are parsed here, so that besides PCM of 8, 16, 24 and 32 bits and IEEE float
(also inside ``WAVE_FORMAT_EXTENSIBLE``) the telephony formats G.711 μ-law and A-law are read too,
and a file whose header sizes were never finished (a recording cut off by a crash) still yields
the whole frames it holds. Several channels are mixed down; any rate is resampled to 8 kHz with
a polyphase filter (``scipy.signal.resample_poly``).

Raw: signed 16-bit little-endian mono at 8 kHz, any file that does not start with ``RIFF``.

Every problem raises :class:`~hotline.errors.AudioFileError` naming the file and what is wrong.
"""

import math
import struct
from pathlib import Path

import numpy as np

from hotline.dsp import SAMPLE_RATE_HZ, g711
from hotline.dsp.levels import to_pcm16
from hotline.errors import AudioFileError

FORMAT_PCM = 0x0001
FORMAT_FLOAT = 0x0003
FORMAT_ALAW = 0x0006
FORMAT_ULAW = 0x0007
FORMAT_EXTENSIBLE = 0xFFFE
FORMAT_NAMES = {FORMAT_PCM: "PCM", FORMAT_FLOAT: "IEEE float", FORMAT_ALAW: "A-law", FORMAT_ULAW: "μ-law"}
MAX_CHANNELS = 16
MIN_RATE_HZ = 1000
MAX_RATE_HZ = 384000


def read_audio(path: str | Path) -> np.ndarray:
    """The samples of the WAV or raw file at ``path``, as int16 mono at 8 kHz."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if data[:4] == b"RIFF":
        return _decode_wav(path, data)
    if path.suffix.lower() == ".wav":
        raise AudioFileError(f"{path}: not a WAV file (no RIFF header)")
    if len(data) % 2:
        raise AudioFileError(f"{path}: raw audio must be signed 16-bit little-endian, "
                             f"but the file has an odd number of bytes ({len(data)})")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def _chunks(path: Path, data: bytes):
    if len(data) < 12 or data[8:12] != b"WAVE":
        raise AudioFileError(f"{path}: RIFF file but not WAVE")
    position = 12
    while position + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, position)
        body = data[position + 8:position + 8 + size]
        yield chunk_id, body
        position += 8 + size + (size & 1)


def _decode_wav(path: Path, data: bytes) -> np.ndarray:
    fmt = None
    for chunk_id, body in _chunks(path, data):
        if chunk_id == b"fmt ":
            fmt = body
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioFileError(f"{path}: data chunk before the fmt chunk")
            return _decode_data(path, fmt, body)
    raise AudioFileError(f"{path}: no {'fmt' if fmt is None else 'data'} chunk")


def _decode_data(path: Path, fmt: bytes, body: bytes) -> np.ndarray:
    if len(fmt) < 16:
        raise AudioFileError(f"{path}: fmt chunk too short ({len(fmt)} bytes)")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == FORMAT_EXTENSIBLE:
        if len(fmt) < 26:
            raise AudioFileError(f"{path}: extensible fmt chunk too short ({len(fmt)} bytes)")
        tag = struct.unpack_from("<H", fmt, 24)[0]
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFileError(f"{path}: {channels} channels; expected 1 to {MAX_CHANNELS}")
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise AudioFileError(f"{path}: sample rate {rate} Hz; expected {MIN_RATE_HZ} to {MAX_RATE_HZ}")
    dtype = _sample_type(path, tag, bits)
    width = bits // 8
    if block_align != width * channels:
        raise AudioFileError(f"{path}: block align {block_align} does not match {channels} x {bits}-bit")
    frames = len(body) // block_align
    raw = np.frombuffer(body[:frames * block_align], dtype=np.uint8)
    samples = _to_float(raw, tag, bits, dtype).reshape(frames, channels).mean(axis=1)
    if rate != SAMPLE_RATE_HZ:
        from scipy.signal import resample_poly  # scipy.signal takes seconds to import: only when needed

        common = math.gcd(rate, SAMPLE_RATE_HZ)
        samples = resample_poly(samples, SAMPLE_RATE_HZ // common, rate // common)
    return to_pcm16(samples)


def _sample_type(path: Path, tag: int, bits: int) -> str:
    kinds = {
        (FORMAT_PCM, 8): "u1", (FORMAT_PCM, 16): "<i2", (FORMAT_PCM, 24): "i3", (FORMAT_PCM, 32): "<i4",
        (FORMAT_FLOAT, 32): "<f4", (FORMAT_FLOAT, 64): "<f8",
        (FORMAT_ALAW, 8): "u1", (FORMAT_ULAW, 8): "u1",
    }
    try:
        return kinds[(tag, bits)]
    except KeyError:
        name = FORMAT_NAMES.get(tag, f"format 0x{tag:04x}")
        raise AudioFileError(f"{path}: unsupported sample format: {name} with {bits} bits; expected "
                             "PCM 8/16/24/32-bit, float 32/64-bit, μ-law or A-law") from None


def _to_float(raw: np.ndarray, tag: int, bits: int, dtype: str) -> np.ndarray:
    """Samples on the int16 scale."""
    if tag == FORMAT_ULAW:
        return g711.ulaw_decode(raw).astype(np.float64)
    if tag == FORMAT_ALAW:
        return g711.alaw_decode(raw).astype(np.float64)
    if dtype == "u1":
        return (raw.astype(np.float64) - 128.0) * 256.0
    if dtype == "i3":
        triples = raw.reshape(-1, 3).astype(np.int32)
        value = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        value = np.where(value & 0x800000, value - (1 << 24), value)
        return value / 256.0
    values = raw.view(dtype).astype(np.float64)
    if tag == FORMAT_FLOAT:
        return np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=-1.0) * 32768.0
    return values / 2.0 ** (bits - 16)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> None:
    """Write int16 mono ``samples`` as a 16-bit PCM WAV."""
    pcm = np.asarray(samples, dtype="<i2").tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, FORMAT_PCM, 1,
                         sample_rate, sample_rate * 2, 2, 16, b"data", len(pcm))
    Path(path).write_bytes(header + pcm)
