"""DTMF receiver tests, one per test procedure of the Mitel/Bellcore tape (ITU-T Q.24 figures).

Every signal comes from our own generators and passes through the line model (G.711, noise,
echo) with random start phases and random alignment against the receiver's blocks. Sweeps put
their trials on the channels of one receiver, as the appliance would hear them.
"""

import difflib
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hotline.dsp import SAMPLE_RATE_HZ, tones
from hotline.dsp.dtmf import DtmfEvent, DtmfReceiver
from hotline.dsp.levels import level_dbm0, rms_for, to_pcm16
from hotline.dsp.linemodel import through_line
from hotline.dsp.tones import DTMF_COL_HZ, DTMF_DIGITS, DTMF_ROW_HZ
from tests import corpus

FRAME = 160  # 20 ms, as the media loop feeds the receiver
REPO = Path(__file__).resolve().parents[2]


# -- helpers ------------------------------------------------------------------------------------

def stack(signals) -> np.ndarray:
    """Float signals of any lengths as one (channels, n) array, zero-padded at the end."""
    n = max(len(s) for s in signals)
    return np.stack([np.pad(s, (0, n - len(s))) for s in signals])


def bursts(rng, channels: int, digits: str = DTMF_DIGITS, lead_ms: float = 60.0, **dtmf) -> np.ndarray:
    """``digits`` on every channel, each after a random lead-in (random alignment), float."""
    out = []
    for _ in range(channels):
        lead = np.zeros(int(rng.integers(0, lead_ms * 8)))
        out.append(np.concatenate([lead, tones.dtmf(digits, rng=rng, **dtmf), np.zeros(800)]))
    return stack(out)


def receive(x: np.ndarray, frame: int = FRAME) -> list[list[DtmfEvent]]:
    """Feed int16 ``x`` (channels, n) to one receiver in ``frame``-sample frames, then flush its
    last partial batch (as a live stream's next frames would); events per channel."""
    receiver = DtmfReceiver(x.shape[0])
    per_channel = [[] for _ in range(x.shape[0])]
    for start in range(0, x.shape[1], frame):
        for event in receiver.process(x[:, start:start + frame]):
            per_channel[event.channel].append(event)
    for event in receiver.flush():
        per_channel[event.channel].append(event)
    return per_channel


def digits_of(x: np.ndarray, frame: int = FRAME) -> list[str]:
    return ["".join(event.digit for event in events) for events in receive(x, frame)]


def matched(sent: str, got: str) -> int:
    """Digits of ``sent`` found, in order, in ``got``."""
    blocks = difflib.SequenceMatcher(None, sent, got, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks)


# -- decode check, recognition bandwidth ---------------------------------------------------------

def test_decode_all_digits(rng):
    on_ms, off_ms = 50, 50
    channels = 8
    leads, signals = [], []
    for _ in range(channels):
        lead = int(rng.integers(0, 400))
        leads.append(lead)
        signals.append(np.concatenate([np.zeros(lead), tones.dtmf(DTMF_DIGITS, on_ms, off_ms, rng=rng)]))
    x = through_line(stack(signals), codec="ulaw", rng=rng)
    for channel, events in enumerate(receive(x)):
        assert "".join(e.digit for e in events) == DTMF_DIGITS
        for index, event in enumerate(events):
            # Recognised after more than 30 ms of the tone (its first window may hold a little
            # silence), and before its end plus one window.
            tone_start = leads[channel] + index * (on_ms + off_ms) * 8
            assert tone_start + 30 * 8 <= event.sample <= tone_start + (on_ms + 20) * 8
            assert event.channel == channel


def test_frequency_acceptance_band(rng):
    signals, labels = [], []
    for error in (-0.015, -0.01, 0.01, 0.015):
        for group in ("row_error", "col_error"):
            for _ in range(3):
                signals.append(bursts(rng, 1, **{group: error})[0])
                labels.append((group, error))
    x = through_line(stack(signals), codec="alaw", rng=rng)
    for label, got in zip(labels, digits_of(x)):
        assert got == DTMF_DIGITS, label


def test_frequency_rejection_band(rng):
    errors = (-0.06, -0.045, -0.035, 0.035, 0.045, 0.06)
    signals = []
    for error in errors:
        for group, nominal in (("row_error", DTMF_ROW_HZ), ("col_error", DTMF_COL_HZ)):
            # The shifted tone must not be within 3.5 % of another tone of its group.
            for f in nominal:
                assert min(abs(f * (1 + error) / g - 1) for g in nominal) >= 0.035 - 1e-9
            for _ in range(2):
                signals.append(bursts(rng, 1, on_ms=60, off_ms=60, **{group: error})[0])
    x = through_line(stack(signals), codec="alaw", rng=rng)
    assert digits_of(x) == [""] * len(signals)


# -- duration, guard time -----------------------------------------------------------------------

def test_duration_accept_40ms(rng):
    # 40 ms tones, 40 ms pauses; random alignment across 32 channels: 512 bursts.
    x = through_line(bursts(rng, 32, on_ms=40, off_ms=40), codec="alaw", rng=rng)
    assert digits_of(x) == [DTMF_DIGITS] * 32


def test_duration_reject_20ms(rng):
    # 20 ms tones at random alignment: 24 channels x 48 bursts, at -10 and 0 dBm0 per tone.
    quiet = bursts(rng, 16, DTMF_DIGITS * 3, on_ms=20, off_ms=60)
    loud = bursts(rng, 8, DTMF_DIGITS * 3, on_ms=20, off_ms=60, level_dbm0=0.0)
    x = through_line(stack(list(quiet) + list(loud)), codec="alaw", rng=rng)
    assert digits_of(x) == [""] * 24


def test_pause_separates_repeated_digit(rng):
    signals = [bursts(rng, 1, digit * 4, on_ms=50, off_ms=40)[0] for digit in DTMF_DIGITS for _ in range(2)]
    x = through_line(stack(signals), codec="alaw", rng=rng)
    expected = [digit * 4 for digit in DTMF_DIGITS for _ in range(2)]
    assert digits_of(x) == expected


# -- twist, dynamic range, noise, codec -----------------------------------------------------------

def test_twist_normal_8db(rng):
    # Low group 8 dB louder than the high group.
    x = through_line(bursts(rng, 12, twist_db=-8.0), codec="alaw", rng=rng)
    assert digits_of(x) == [DTMF_DIGITS] * 12


def test_twist_reverse_4db(rng):
    # High group 4 dB louder than the low group.
    x = through_line(bursts(rng, 12, twist_db=4.0), codec="alaw", rng=rng)
    assert digits_of(x) == [DTMF_DIGITS] * 12


def test_dynamic_range(rng):
    levels = (0.0, -6.0, -12.0, -18.0, -24.0, -30.0, -36.0, -39.0, -41.0)
    signals = [bursts(rng, 1, level_dbm0=level)[0] for level in levels for _ in range(2)]
    x = through_line(stack(signals), codec="ulaw", rng=rng)
    got = digits_of(x)
    for index, level in enumerate(l for l in levels for _ in range(2)):
        assert got[index] == DTMF_DIGITS, f"{level} dBm0 per tone"


def test_noise_6db_snr(rng):
    # Tones at -10 and -25 dBm0 each, flat noise 6 dB below one tone.
    for level in (-10.0, -25.0):
        x = through_line(bursts(rng, 16, level_dbm0=level), noise_dbm0=level - 6.0, codec="ulaw", rng=rng)
        assert digits_of(x) == [DTMF_DIGITS] * 16, f"{level} dBm0 per tone"


def test_g711_round_trip(rng):
    clean = bursts(rng, 8, level_dbm0=-10.0)
    quiet = bursts(rng, 8, level_dbm0=-33.0)
    x = stack(list(clean) + list(quiet))
    linear = through_line(x, rng=rng)
    for codec in ("ulaw", "alaw"):
        assert digits_of(through_line(x, codec=codec, rng=rng)) == digits_of(linear) == [DTMF_DIGITS] * 16


# -- talk-off, talk-down, dial tone ---------------------------------------------------------------

def test_talk_off_speech():
    x = corpus.as_channels(corpus.speech())
    assert corpus.total_seconds(corpus.speech()) > 20 * 60
    coded = through_line(x, codec="alaw", rng=np.random.default_rng(1))
    events = DtmfReceiver(2 * x.shape[0]).process(np.concatenate([x, coded]))
    assert events == []


def test_talk_off_music():
    x = corpus.as_channels(corpus.music())
    assert corpus.total_seconds(corpus.music()) > 15 * 60
    coded = through_line(x, codec="ulaw", rng=np.random.default_rng(2))
    events = DtmfReceiver(2 * x.shape[0]).process(np.concatenate([x, coded]))
    assert events == []


def talk_down_set(rng, channels: int = 40, seconds: float = 10.0):
    """Digits at -10 dBm0 per tone, 50-100 ms on and off, over a real speech prompt at -13.5 dBm0
    rms (the whole prompt's rms, pauses included), through A-law. (signal, digits sent)"""
    prompts = corpus.as_channels(corpus.speech(), chunk_s=seconds).astype(np.float64)
    prompts = prompts[rng.permutation(len(prompts))[:channels]]
    n = prompts.shape[1]
    signals, sent = [], []
    for prompt in prompts:
        parts, digits, length = [np.zeros(int(rng.integers(0, 400)))], "", 0
        while length < n - 1600:
            digit = DTMF_DIGITS[rng.integers(len(DTMF_DIGITS))]
            part = tones.dtmf(digit, rng.uniform(50, 100), rng.uniform(50, 100), rng=rng)
            parts.append(part)
            digits += digit
            length += len(part)
        keys = np.concatenate(parts)[:n]
        keys = np.pad(keys, (0, n - len(keys)))
        signals.append(keys + prompt * rms_for(-13.5) / np.sqrt(np.mean(prompt ** 2)))
        sent.append(digits)
    return through_line(np.stack(signals), codec="alaw", rng=rng), sent


def test_talk_down_prompt_echo(rng):
    x, sent = talk_down_set(rng)
    got = digits_of(x)
    found = sum(matched(s, g) for s, g in zip(sent, got))
    total = sum(len(s) for s in sent)
    extra = sum(len(g) for g in got) - found
    print(f"talk-down: {found}/{total} digits ({100.0 * found / total:.1f} %), {extra} extra")
    assert found >= 0.97 * total
    assert extra <= 0.005 * total


def test_dial_tone_tolerance(rng):
    keys = bursts(rng, 12)
    dial = np.stack([tones.progress_tone("china", "dial", keys.shape[1] / 8.0, level_dbm0=-10.0, rng=rng)
                     [:keys.shape[1]] for _ in range(12)])
    x = through_line(np.concatenate([keys + dial, dial[:4]]), codec="alaw", rng=rng)
    assert digits_of(x) == [DTMF_DIGITS] * 12 + [""] * 4


# -- streaming, channels, bad input ---------------------------------------------------------------

def test_partial_blocks_carry_over(rng):
    x = through_line(bursts(rng, 6, "159#", on_ms=45, off_ms=45), codec="ulaw", rng=rng)
    receiver = DtmfReceiver(6)
    whole = receiver.process(x) + receiver.flush()
    assert ["".join(e.digit for e in whole if e.channel == c) for c in range(6)] == ["159#"] * 6
    receiver = DtmfReceiver(6)
    chunked, start = [], 0
    while start < x.shape[1]:
        size = int(rng.choice([0, 1, 7, 39, 40, 79, 80, 81, 160, 333, 1000]))
        chunked += receiver.process(x[:, start:start + size])
        start += size
    assert chunked + receiver.flush() == whole
    assert [e.sample for e in whole] == sorted(e.sample for e in whole)


def test_digits_come_at_most_110_ms_after_the_tone_that_confirms_them(rng):
    x = through_line(bursts(rng, 4, "0123456789*#ABCD", on_ms=45, off_ms=45), codec="ulaw", rng=rng)
    receiver = DtmfReceiver(4)
    delays = []
    for end in range(FRAME, x.shape[1] + 1, FRAME):  # 20 ms frames, as the media loop feeds them
        delays += [end - 1 - event.sample for event in receiver.process(x[:, end - FRAME:end])]
    assert len(delays) == 4 * 16
    assert max(delays) <= 110 * SAMPLE_RATE_HZ // 1000  # 150 ms after the key went down


def test_flush_hears_a_digit_at_the_very_end_of_a_recording(rng):
    x = through_line(stack([tones.dtmf("7", on_ms=60, off_ms=0, rng=rng)]), codec="alaw", rng=rng)
    receiver = DtmfReceiver(1)
    assert receiver.process(x) == []  # less than one analysis batch: it waits for more audio
    assert [e.digit for e in receiver.flush()] == ["7"]
    assert receiver.flush() == []


def test_channels_independent(rng):
    strings = ["123", "456A", "789B", "*0#CD"]
    x = through_line(stack([bursts(rng, 1, s)[0] for s in strings]), codec="alaw", rng=rng)
    assert digits_of(x) == strings

    # A digit held across reset() is a new key press on a new call; other channels go on.
    tone = to_pcm16(tones.dtmf("5", 400, 0, rng=rng))
    frames = np.stack([tone, tone])
    receiver = DtmfReceiver(2)
    first = receiver.process(frames[:, :1600])
    receiver.reset(0)
    second = receiver.process(frames[:, 1600:])
    assert [(e.channel, e.digit) for e in first] == [(0, "5"), (1, "5")]
    assert [(e.channel, e.digit) for e in second] == [(0, "5")]

    # reset() forgets what was heard: 30 ms before and 30 ms after it make no 40 ms tone.
    tone = to_pcm16(tones.dtmf("8", 60, 100, rng=rng))
    receiver = DtmfReceiver(2)
    events = receiver.process(np.stack([tone[:240], tone[:240]]))
    receiver.reset(1)
    events += receiver.process(np.stack([tone[240:], tone[240:]]))
    assert [(e.channel, e.digit) for e in events] == [(0, "8")]
    with pytest.raises(ValueError, match="channel 2"):
        receiver.reset(2)


def test_bad_input_shape_dtype():
    receiver = DtmfReceiver(4)
    cases = [
        (np.zeros((4, 160)), "got float64 array of shape (4, 160)"),
        (np.zeros((3, 160), np.int16), "got int16 array of shape (3, 160)"),
        (np.zeros(160, np.int16), "got int16 array of shape (160,)"),
        (np.zeros((4, 160), np.int32), "got int32 array of shape (4, 160)"),
        (np.zeros((4, 2, 80), np.int16), "got int16 array of shape (4, 2, 80)"),
        ([[0] * 160] * 4, "got list"),
    ]
    for frames, got in cases:
        with pytest.raises(ValueError) as error:
            receiver.process(frames)
        assert "expected int16 frames of shape (4, n)" in str(error.value)
        assert got in str(error.value)
    assert receiver.process(np.zeros((4, 0), np.int16)) == []


def test_clipping_dc_silence_no_false_digits(rng):
    n = 3 * SAMPLE_RATE_HZ
    t = np.arange(n) / SAMPLE_RATE_HZ
    bad = [
        np.zeros(n),  # digital silence
        np.full(n, 5000.0), np.full(n, -20000.0),  # DC offsets
        tones.white_noise(n, -10.0, rng), tones.white_noise(n, -40.0, rng),
        np.clip(tones.white_noise(n, 10.0, rng), -32768, 32767),  # clipped noise
    ]
    for freq in (350.0, 697.0, 941.0, 1000.0, 1209.0, 1633.0):  # full-scale square-ish waves
        bad.append(np.clip(30000.0 * np.sin(2 * np.pi * freq * t) * 10.0, -32768, 32767))
    bad.append(np.clip(tones.dual_tone(697.0, 1209.0, n, -10.0, rng) * 50.0, -32768, 32767) + 0.0)
    x = to_pcm16(stack(bad))
    got = digits_of(x)
    assert got[:-1] == [""] * (len(bad) - 1)
    assert got[-1] in ("", "1")  # a hard-clipped digit may still read as itself, never as another
    assert level_dbm0(x[-1]) > -3.0

    # Digits riding on a DC offset are still heard.
    keys = bursts(rng, 2) + np.array([[3000.0], [-8000.0]])
    assert digits_of(through_line(keys, codec="alaw", rng=rng)) == [DTMF_DIGITS] * 2


# -- comparison with SpanDSP ----------------------------------------------------------------------

def test_compare_with_spandsp_talk_down(rng):
    peers = pytest.importorskip("tests.peers.spandsp")
    if not peers.available():
        pytest.skip("libspandsp not installed")
    x, sent = talk_down_set(rng, channels=12)
    ours = sum(matched(s, g) for s, g in zip(sent, digits_of(x)))
    theirs = sum(matched(s, peers.DtmfRx().process(np.ascontiguousarray(row))) for s, row in zip(sent, x))
    print(f"talk-down over {sum(map(len, sent))} digits: ours {ours}, SpanDSP {theirs}")
    assert ours > theirs


# -- command line ---------------------------------------------------------------------------------

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "hotline.dsp.dtmf", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def write_wav(path: Path, samples: np.ndarray, rate: int, bits: int, channels: int = 1) -> None:
    """A PCM WAV of ``bits``-bit samples (float input on the int16 scale), ``channels`` copies."""
    scaled = np.rint(np.repeat(samples[:, None], channels, axis=1) * 2.0 ** (bits - 16)).astype(np.int64)
    width = bits // 8
    data = b"".join(int(v).to_bytes(width, "little", signed=True) for v in scaled.ravel())
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, 1, channels,
                         rate, rate * channels * width, channels * width, bits, b"data", len(data))
    path.write_bytes(header + data)


def test_cli_raw_file(tmp_path, rng):
    raw = tmp_path / "keys.raw"
    to_pcm16(tones.dtmf("0123456789*#ABCD", 60, 60, rng=rng)).astype("<i2").tofile(raw)
    done = run_cli(raw)
    assert (done.returncode, done.stdout, done.stderr) == (0, "0123456789*#ABCD\n", "")
    silent = tmp_path / "silence.raw"
    np.zeros(8000, "<i2").tofile(silent)
    done = run_cli(silent)
    assert (done.returncode, done.stdout) == (0, "\n")


def test_cli_wav_16khz_24bit(tmp_path, rng):
    wav = tmp_path / "keys.wav"
    write_wav(wav, tones.dtmf("2580*#", 70, 70, rng=rng, sample_rate=16000), 16000, 24)
    done = run_cli(wav)
    assert (done.returncode, done.stdout) == (0, "2580*#\n")


def test_cli_wav_44k_stereo(tmp_path, rng):
    wav = tmp_path / "keys.wav"
    write_wav(wav, tones.dtmf("1379ABCD", 70, 70, rng=rng, sample_rate=44100), 44100, 16, channels=2)
    done = run_cli(wav)
    assert (done.returncode, done.stdout) == (0, "1379ABCD\n")


def test_cli_several_files(tmp_path, rng):
    first, second = tmp_path / "a.raw", tmp_path / "b.wav"
    to_pcm16(tones.dtmf("12", rng=rng)).astype("<i2").tofile(first)
    write_wav(second, tones.dtmf("#9", rng=rng), 8000, 16)
    done = run_cli(first, second)
    assert done.returncode == 0
    assert done.stdout == f"{first}: 12\n{second}: #9\n"


def test_cli_corrupt_and_missing_files(tmp_path, rng):
    good, corrupt, odd = tmp_path / "good.raw", tmp_path / "corrupt.wav", tmp_path / "odd.raw"
    missing = tmp_path / "missing.raw"
    to_pcm16(tones.dtmf("47", rng=rng)).astype("<i2").tofile(good)
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00garbage")
    odd.write_bytes(b"\x00\x01\x02")
    done = run_cli(corrupt, good, missing, odd)
    assert done.returncode == 2
    assert done.stdout == f"{good}: 47\n"
    lines = done.stderr.splitlines()
    assert len(lines) == 3
    for path, line in zip((corrupt, missing, odd), lines):
        assert str(path) in line
    assert "Traceback" not in done.stderr
    done = run_cli(missing)
    assert done.returncode == 2 and done.stdout == "" and len(done.stderr.splitlines()) == 1
