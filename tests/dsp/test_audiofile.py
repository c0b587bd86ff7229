"""Reading audio files: every common WAV kind and raw PCM, and a clear error for each bad file."""

import struct

import numpy as np
import pytest

from hotline.dsp import g711
from hotline.dsp.audiofile import read_audio, write_wav
from hotline.dsp.levels import level_dbm0
from hotline.dsp.tones import sine
from hotline.errors import AudioFileError, HotlineError


def wav_bytes(tag, channels, rate, bits, payload, extensible=False, data_size=None):
    block_align = channels * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHHHHI16s", 0xFFFE, channels, rate, rate * block_align, block_align, bits, 22, bits,
                          0, struct.pack("<H14s", tag, b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x008\x9bq"))
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block_align, block_align, bits)
    size = len(payload) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 4) + b"INFO"
    body += b"data" + struct.pack("<I", size) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + body


def tone_at(rate, seconds=0.5):
    return sine(1000.0, int(rate * seconds), -6.0, sample_rate=rate)


def assert_is_the_tone(samples, seconds=0.5):
    assert len(samples) == pytest.approx(8000 * seconds, abs=1)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    assert np.argmax(spectrum) * 8000 / len(samples) == pytest.approx(1000, abs=3)
    assert level_dbm0(samples[100:-100]) == pytest.approx(-6.0, abs=0.3)


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
def test_pcm16_any_rate_resampled_to_8khz(tmp_path, rate):
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(1, 1, rate, 16, np.rint(tone_at(rate)).astype("<i2").tobytes()))
    assert_is_the_tone(read_audio(path))


@pytest.mark.parametrize("bits", [8, 24, 32])
def test_pcm_widths(tmp_path, bits):
    x = tone_at(16000) / 32768.0
    if bits == 8:
        payload = np.clip(np.rint(x * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    elif bits == 24:
        v = np.rint(x * 2**23).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        payload = v.tobytes()
    else:
        payload = np.rint(x * 2**31).astype("<i4").tobytes()
    path = tmp_path / "w.wav"
    path.write_bytes(wav_bytes(1, 1, 16000, bits, payload))
    assert_is_the_tone(read_audio(path))


def test_float_extensible_stereo_is_mixed_down(tmp_path):
    left = tone_at(48000) / 32768.0
    stereo = np.stack([left, left], axis=1).astype("<f4")
    path = tmp_path / "f.wav"
    path.write_bytes(wav_bytes(3, 2, 48000, 32, stereo.tobytes(), extensible=True))
    assert_is_the_tone(read_audio(path))


@pytest.mark.parametrize("law,tag", [("ulaw", 7), ("alaw", 6)])
def test_g711_wav(tmp_path, law, tag):
    encode, _ = g711.CODECS[law]
    path = tmp_path / "g.wav"
    path.write_bytes(wav_bytes(tag, 1, 8000, 8, encode(np.rint(tone_at(8000)).astype(np.int16)).tobytes()))
    assert_is_the_tone(read_audio(path))


def test_recording_cut_off_before_its_header_was_finished(tmp_path):
    """A crash leaves the data size unwritten (here: 0xFFFFFFFF): every whole frame is still read."""
    payload = np.rint(tone_at(8000)).astype("<i2").tobytes() + b"\x01"
    path = tmp_path / "cut.wav"
    path.write_bytes(wav_bytes(1, 1, 8000, 16, payload, data_size=0xFFFFFFFF))
    assert_is_the_tone(read_audio(path))


def test_raw_and_write_wav_round_trip(tmp_path):
    x = np.rint(tone_at(8000)).astype(np.int16)
    (tmp_path / "a.raw").write_bytes(x.astype("<i2").tobytes())
    assert np.array_equal(read_audio(tmp_path / "a.raw"), x)
    write_wav(tmp_path / "b.wav", x)
    assert np.array_equal(read_audio(tmp_path / "b.wav"), x)


@pytest.mark.parametrize("name,content,message", [
    ("missing.wav", None, "cannot read"),
    ("text.wav", b"hello, not audio", "not a WAV file"),
    ("odd.raw", b"\x00\x01\x02", "odd number of bytes"),
    ("avi.wav", b"RIFF\x04\x00\x00\x00AVI ", "not WAVE"),
    ("adpcm.wav", wav_bytes(2, 1, 8000, 4, b"\x00" * 10), "unsupported sample format: format 0x0002 with 4 bits"),
    ("nodata.wav", wav_bytes(1, 1, 8000, 16, b"")[:-8], "no data chunk"),
    ("rate.wav", wav_bytes(1, 1, 0, 16, b"\x00\x00"), "sample rate 0 Hz"),
    ("chans.wav", wav_bytes(1, 0, 8000, 16, b""), "0 channels"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioFileError, match=message) as caught:
        read_audio(path)
    assert str(caught.value).startswith(str(path))
    assert isinstance(caught.value, HotlineError)
