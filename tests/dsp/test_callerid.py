"""Caller ID, procedure by procedure: SDMF and MDMF fields, dynamic range, noise, bit-rate and
carrier errors, G.711, V.23 timing, corrupted messages, talk-off, channels, block carry-over,
bad input, DTMF caller ID, SpanDSP both ways, and the command line.

Signals come from our own modulator through the line model; many trials are channels of one
receiver. A message ``starts`` at the start bit of its first byte: after the channel seizure and
the mark run.
"""

import io
import json
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from hotline.dsp import callerid, g711, tones
from hotline.dsp.audiofile import write_wav
from hotline.dsp.callerid import (CallerIdError, DtmfCallerIdParser, FskCallerIdReceiver, decode_message,
                                  encode_mdmf, encode_sdmf, modulate)
from hotline.dsp.levels import rms_for, to_pcm16
from hotline.dsp.linemodel import through_line
from tests import corpus
from tests.peers import spandsp

FS = 8000
BIT = FS / 1200  # samples per bit
STANDARDS = ("bell202", "v23")
BLOCK = 160  # 20 ms, as the media loop feeds the receiver
Expected = namedtuple("Expected", "message start")


def random_datetime(rng):
    return "%02d%02d%02d%02d" % (rng.integers(1, 13), rng.integers(1, 29), rng.integers(0, 24), rng.integers(0, 60))


def random_number(rng):
    return "".join(rng.choice(list("0123456789"), size=int(rng.integers(7, 16))))


def random_name(rng):
    return "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ .-'"), size=int(rng.integers(1, 16))))


def random_message(rng):
    """An SDMF or MDMF caller-ID message with random fields, sometimes absence reasons instead."""
    if rng.random() < 0.3:
        if rng.random() < 0.8:
            return encode_sdmf(random_number(rng), random_datetime(rng))
        return encode_sdmf(datetime=random_datetime(rng), absence=str(rng.choice(["O", "P"])))
    number, name = random_number(rng), random_name(rng)
    kwargs = {"datetime": random_datetime(rng)}
    kwargs.update({"number": number} if rng.random() < 0.8 else {"number_absence": str(rng.choice(["O", "P"]))})
    kwargs.update({"name": name} if rng.random() < 0.8 else {"name_absence": str(rng.choice(["O", "P"]))})
    return encode_mdmf(**kwargs)


def burst(messages, standards, rng, level_dbm0=-13.5, snr_db=None, codec="ulaw", tail_ms=400, **modulation):
    """One channel per message, each after a random lead, through a line: int16 frames and expectations.

    ``snr_db``: flat 0-4 kHz noise that far below the FSK level. ``modulation``: passed to
    :func:`modulate` (``baud_error``, ``carrier_error``, ``seizure_bits``, ``mark_bits``).
    """
    standards = [standards] * len(messages) if isinstance(standards, str) else standards
    levels = np.broadcast_to(level_dbm0, (len(messages),))
    baud = 1 + modulation.get("baud_error", 0.0)
    preamble = modulation.get("seizure_bits", 300) + modulation.get("mark_bits", 180)
    signals, expected = [], []
    for message, standard, level in zip(messages, standards, levels):
        lead = int(rng.integers(0, 2000))
        signals.append(np.concatenate([np.zeros(lead), modulate(message, standard, float(level), rng=rng,
                                                                **modulation)]))
        expected.append(Expected(message, lead + preamble * BIT / baud))
    n = max(map(len, signals)) + int(tail_ms * FS / 1000)
    x = np.zeros((len(signals), n))
    for row, signal in zip(x, signals):
        row[:len(signal)] = signal
    if snr_db is not None:
        noise = rng.standard_normal(x.shape) * rms_for(0.0) * 10 ** ((levels[:, None] - snr_db) / 20)
        x += noise
    frames = to_pcm16(x)
    return (g711.round_trip(frames, codec) if codec else frames), expected


def hear(frames, standard="bell202", block=BLOCK, **options):
    """Every result of one receiver fed ``frames`` in blocks, then half a second of silence."""
    receiver = FskCallerIdReceiver(frames.shape[0], standard, **options)
    results = []
    for offset in range(0, frames.shape[1], block):
        results += receiver.process(frames[:, offset:offset + block])
    results += receiver.process(np.zeros((frames.shape[0], FS // 2), np.int16))
    return results


def assert_all_decoded(results, expected):
    """Each channel gave exactly its message, decoded, where it was sent."""
    got = {}
    for result in results:
        assert result.channel not in got, f"channel {result.channel}: two results"
        got[result.channel] = result
    missing = [c for c in range(len(expected)) if c not in got or got[c].message is None]
    assert not missing, f"{len(missing)} of {len(expected)} messages lost: " + ", ".join(
        f"ch {c}: {got[c].error} ({got[c].detail})" if c in got else f"ch {c}: nothing" for c in missing[:5])
    for channel, want in enumerate(expected):
        result = got[channel]
        assert result.message == decode_message(want.message)
        assert result.start_sample == pytest.approx(want.start, abs=3)


# --- fields --------------------------------------------------------------------------------

def test_sdmf_fields(rng):
    sent = [encode_sdmf("5551234567", "11261402"), encode_sdmf("13800138000", "01010000"),
            encode_sdmf(datetime="12312359", absence="O"), encode_sdmf(datetime="07040930", absence="P")]
    frames, expected = burst(sent, "bell202", rng)
    results = hear(frames)
    assert_all_decoded(results, expected)
    by_channel = {r.channel: r.message for r in results}
    first = by_channel[0]
    assert (first.kind, first.message_type, first.number, first.datetime) == ("sdmf", 0x04, "5551234567", "11261402")
    assert (first.month, first.day, first.hour, first.minute) == (11, 26, 14, 2)
    assert first.name is None and first.number_absence is None
    assert by_channel[1].number == "13800138000"
    assert (by_channel[2].number, by_channel[2].number_absence) == (None, "O")
    assert (by_channel[3].number, by_channel[3].number_absence, by_channel[3].datetime) == (None, "P", "07040930")
    # A widely published example, byte for byte: type, length, MMDDHHMM, number, checksum.
    example = encode_sdmf("6095551212", "09301224")
    assert example.hex() == "041230393330313232343630393535353132313251"
    assert sum(example) % 256 == 0


def test_mdmf_fields(rng):
    sent = [
        encode_mdmf(number="13800138000", name="ZHANG WEI", datetime="11261402"),
        encode_mdmf(number_absence="P", name_absence="P", datetime="02290000"),
        encode_mdmf(number="5551212", name_absence="O", datetime="12312359"),
        encode_mdmf(number_absence="O", name="CITY HALL", datetime="06150800", params=[(0x15, b"\x01")]),
        encode_mdmf(number="0123456789012345", name="A" * 15),
    ]
    frames, expected = burst(sent, "bell202", rng)
    results = hear(frames)
    assert_all_decoded(results, expected)
    got = {r.channel: r.message for r in results}
    assert (got[0].kind, got[0].message_type) == ("mdmf", 0x80)
    assert (got[0].number, got[0].name, got[0].datetime) == ("13800138000", "ZHANG WEI", "11261402")
    assert (got[1].number, got[1].number_absence, got[1].name, got[1].name_absence) == (None, "P", None, "P")
    assert (got[1].month, got[1].day) == (2, 29)
    assert (got[2].number, got[2].name_absence) == ("5551212", "O")
    assert (got[3].number_absence, got[3].name) == ("O", "CITY HALL")
    assert got[3].params[-1] == (0x15, b"\x01") and got[3].fields()["params"] == [[0x15, "01"]]
    assert (got[4].number, got[4].name, got[4].datetime) == ("0123456789012345", "A" * 15, None)
    # Bytes: type 0x80, length, then (type, length, value) parameters, checksum.
    message = encode_mdmf(number="8005551212", name="JOHN DOE", datetime="03240902")
    assert message[:4] == bytes([0x80, 0x20, 0x01, 0x08]) and sum(message) % 256 == 0
    with pytest.raises(CallerIdError):
        encode_mdmf(number="1", name="é")
    with pytest.raises(CallerIdError):
        encode_sdmf("123", datetime="1326")
    with pytest.raises(CallerIdError):
        encode_mdmf(name="x" * 300)


# --- the line ------------------------------------------------------------------------------

@pytest.mark.parametrize("standard", STANDARDS)
def test_levels_down_to_minus_40_dbm0(standard, rng):
    levels = np.repeat(np.arange(0, -41, -5), 4)
    messages = [random_message(rng) for _ in levels]
    frames, expected = burst(messages, standard, rng, level_dbm0=levels)
    assert_all_decoded(hear(frames, standard), expected)


@pytest.mark.parametrize("standard", STANDARDS)
def test_noise_10db_snr(standard, rng):
    levels = np.repeat([-40.0, -30.0, -20.0, -5.0], 12)
    messages = [random_message(rng) for _ in levels]
    frames, expected = burst(messages, standard, rng, level_dbm0=levels, snr_db=10, codec="alaw")
    assert_all_decoded(hear(frames, standard), expected)


@pytest.mark.parametrize("standard", STANDARDS)
@pytest.mark.parametrize("error", [-0.05, 0.05])
def test_baud_rate_error_5pct(standard, error, rng):
    messages = [random_message(rng) for _ in range(24)]
    frames, expected = burst(messages, standard, rng, level_dbm0=-30, snr_db=10, baud_error=error)
    assert_all_decoded(hear(frames, standard), expected)


@pytest.mark.parametrize("standard", STANDARDS)
@pytest.mark.parametrize("error", [-0.05, 0.05])
def test_carrier_error_5pct(standard, error, rng):
    messages = [random_message(rng) for _ in range(24)]
    frames, expected = burst(messages, standard, rng, level_dbm0=-30, snr_db=10, carrier_error=error)
    assert_all_decoded(hear(frames, standard), expected)


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_g711_round_trip(codec, rng):
    levels = np.tile([0.0, -20.0, -40.0], 8)
    standards = [str(s) for s in np.repeat(STANDARDS, 12)]
    messages = [random_message(rng) for _ in levels]
    frames, expected = burst(messages, standards, rng, level_dbm0=levels, codec=codec)
    results = hear(frames)
    assert_all_decoded(results, expected)
    assert [r.standard for r in sorted(results, key=lambda r: r.channel)] == standards


def test_v23(rng):
    # ETSI EN 300 659-1 timing: 300 seizure bits, 80 +- 25 marks; a shorter seizure too.
    messages = [random_message(rng) for _ in range(30)]
    for mark_bits, seizure_bits in ((55, 300), (80, 300), (105, 300), (80, 96)):
        frames, expected = burst(messages, "v23", rng, level_dbm0=-25, snr_db=15, mark_bits=mark_bits,
                                 seizure_bits=seizure_bits)
        results = hear(frames, "v23")
        assert_all_decoded(results, expected)
        assert {(r.standard, r.shift_hz // 50 * 50) for r in results} <= {("v23", 750), ("v23", 800)}
    # The V.23 receiver and the Bell 202 one each read the other's signal and tell them apart.
    frames, expected = burst(messages[:10], "bell202", rng, level_dbm0=-25, snr_db=15)
    results = hear(frames, "v23")
    assert_all_decoded(results, expected)
    assert {r.standard for r in results} == {"bell202"}


def test_seizure_required(rng):
    messages = [random_message(rng) for _ in range(8)]
    frames, expected = burst(messages, "bell202", rng, seizure_bits=0)
    assert hear(frames) == []
    assert_all_decoded(hear(frames, require_seizure=False), expected)


# --- what must not decode ------------------------------------------------------------------

def test_corrupted_message_checksum_error(rng):
    originals = [random_message(rng) for _ in range(96)]
    corrupted, kinds = [], []
    for i, message in enumerate(originals):
        data = bytearray(message)
        if i % 3 == 0:  # one bit flipped, anywhere after the type byte
            at = int(rng.integers(1, len(data)))
            data[at] ^= 1 << int(rng.integers(0, 8))
            kinds.append("bit")
        elif i % 3 == 1:  # one byte replaced by another value
            at = int(rng.integers(1, len(data)))
            data[at] = (data[at] + int(rng.integers(1, 256))) % 256
            kinds.append("byte")
        else:
            kinds.append("cut")
        corrupted.append(bytes(data))
    frames, expected = burst(corrupted, "bell202", rng, level_dbm0=-20, snr_db=30)
    # Cut messages: the signal stops somewhere after the type byte and before the checksum, then
    # silence.
    for channel, kind in enumerate(kinds):
        if kind == "cut":
            start = int(expected[channel].start)
            stop = start + int(rng.integers(12, (len(originals[channel]) - 1) * 10) * BIT)
            frames[channel, stop:] = g711.round_trip(to_pcm16(np.zeros(frames.shape[1] - stop)), "ulaw")
    results = hear(frames)
    assert all(r.message is None for r in results), [r.message for r in results if r.message][:3]
    errors = {r.channel: r for r in results}
    assert len(errors) == len(results)
    missing = [c for c in range(len(corrupted)) if c not in errors]
    assert not missing, f"corruptions not reported on channels {missing}"
    assert {r.error for r in errors.values()} <= {"checksum", "format", "framing"}
    cut = [errors[c] for c, kind in enumerate(kinds) if kind == "cut"]
    assert all(r.error == "checksum" for r in cut), [(r.error, r.detail) for r in cut if r.error != "checksum"]
    flipped = [errors[c] for c, kind in enumerate(kinds) if kind == "bit"]
    assert sum(r.error == "checksum" for r in flipped) >= len(flipped) - 3, [r.detail for r in flipped]
    # A type byte hit (0x80 to 0x81, unknown): nothing at all, and never fields.
    hit = bytearray(originals[0])
    hit[0] ^= 0x01
    frames, _ = burst([bytes(hit)], "bell202", rng)
    assert hear(frames) == []
    # Several errors that keep the sum right are still caught by the fields' own rules.
    for fields in (dict(number="123", datetime="13320000"), dict(number="12A4"), dict(name="AB\x01")):
        with pytest.raises(CallerIdError) as caught:
            decode_message(encode_mdmf(**fields))
        assert caught.value.code == "format"


def test_no_message_on_silence_noise_tones(rng):
    n = 3 * FS
    signals = [np.zeros(n)]
    signals += [tones.white_noise(n, level, rng) for level in (-60, -47, -40, -30, -20, -10, 0)]
    signals += [tones.sine(freq, n, -10, phase=1.0) for freq in (450, 1200, 1300, 1700, 2100, 2200, 2400)]
    signals += [tones.dual_tone(1200, 2200, n, -13, rng), tones.dual_tone(1300, 2100, n, -13, rng)]
    for _ in range(6):
        digits = "".join(rng.choice(list(tones.DTMF_DIGITS), size=24))
        signals.append(np.resize(tones.dtmf(digits, on_ms=50, off_ms=50, level_dbm0=-8, rng=rng), n))
    for plan in ("china", "north_america"):
        for name in ("dial", "busy", "ringback", "congestion"):
            signals.append(tones.progress_tone(plan, name, 3000, rng=rng))
    signals.append(np.resize(tones.sit(rng=rng), n))
    frames = through_line(np.stack(signals), noise_dbm0=-55, codec="ulaw", rng=rng)
    for standard in STANDARDS:
        assert hear(frames, standard) == []
    # Real speech and music (40 minutes and more): no message, and no error either.
    for recordings in (corpus.speech(), corpus.music()):
        frames = corpus.as_channels(recordings, chunk_s=30)
        assert hear(frames, "bell202", block=1600) == []


# --- the receiver as a component -----------------------------------------------------------

def test_channels_independent(rng):
    # 40 lines: messages of both standards at random times and levels, silent lines, noisy
    # lines, and lines with two messages (before the first ring and between rings).
    count = 40
    messages = [random_message(rng) for _ in range(count)]
    standards = [str(s) for s in rng.choice(STANDARDS, size=count)]
    levels = rng.uniform(-35, -5, size=count)
    frames, expected = burst(messages, standards, rng, level_dbm0=levels, tail_ms=3500)
    quiet = [3, 17, 29]
    frames[quiet] = g711.round_trip(to_pcm16(tones.white_noise(frames.shape[1], -50, rng, channels=3)), "ulaw")
    second = encode_mdmf(number="95512345", name="SECOND CALL", datetime="11261403")
    twice = [5, 23]
    later = int(expected[5].start + 2 * FS)
    for channel in twice:
        tail = modulate(second, standards[channel], -20, rng=rng)
        frames[channel, later:later + len(tail)] = to_pcm16(tail)
    receiver = FskCallerIdReceiver(count)
    results = []
    reset_channel, reset_at = 11, int(expected[11].start + 10 * BIT)  # inside its first byte
    for offset in range(0, frames.shape[1], BLOCK):
        if offset <= reset_at < offset + BLOCK:
            receiver.reset(reset_channel)
        results += receiver.process(frames[:, offset:offset + BLOCK])
    assert [r.sample for r in results] == sorted(r.sample for r in results)
    by_channel = {c: [r for r in results if r.channel == c] for c in range(count)}
    for channel in range(count):
        got = by_channel[channel]
        if channel in quiet or channel == reset_channel:
            assert got == [], f"channel {channel}"
            continue
        assert all(r.message is not None for r in got), f"channel {channel}: {got}"
        assert got[0].message == decode_message(expected[channel].message)
        assert got[0].start_sample == pytest.approx(expected[channel].start, abs=3)
        assert got[0].standard == standards[channel]
        if channel in twice:
            assert len(got) == 2 and got[1].message.name == "SECOND CALL"
            assert got[1].start_sample == pytest.approx(later + 480 * BIT, abs=3)
        else:
            assert len(got) == 1
    with pytest.raises(ValueError, match="out of range"):
        receiver.reset(count)


def test_partial_blocks_carry_over(rng):
    messages = [random_message(rng) for _ in range(6)]
    frames, _ = burst(messages, ["bell202", "v23"] * 3, rng, level_dbm0=-30, snr_db=20)
    whole = hear(frames, block=frames.shape[1])
    assert len(whole) == 6 and all(r.message for r in whole)
    receiver = FskCallerIdReceiver(frames.shape[0])
    pieces, offset = [], 0
    while offset < frames.shape[1]:
        size = int(rng.choice([0, 1, 2, 3, 7, 80, 159, 160, 161, 333, 1000]))
        pieces += receiver.process(frames[:, offset:offset + size])
        offset += size
    pieces += receiver.process(np.zeros((frames.shape[0], FS // 2), np.int16))
    assert pieces == whole


def test_results_come_within_a_batch_and_reset_drops_pending_audio(rng):
    # Fed 20 ms at a time, a result comes at most BATCH_MS (plus a block) after its end;
    # reset() forgets the channel's audio not yet worked through as well as its state. Here the
    # whole channel seizure is still pending at the reset: without it the message is not read.
    batch = int(callerid.BATCH_MS * FS / 1000)
    seizure_bits = 60  # more than MIN_SEIZURE_BITS, 50 ms
    lead = batch + BLOCK // 2
    seizure_end = lead + int(seizure_bits * BIT)
    assert seizure_end % BLOCK == 0 and seizure_end % batch > 0  # pending when the seizure has been fed
    signal = np.concatenate([np.zeros(lead), modulate(encode_sdmf("5551234", "11261403"),
                                                      seizure_bits=seizure_bits, rng=rng), np.zeros(FS)])
    frames = np.repeat(to_pcm16(signal)[None, :], 2, axis=0)
    receiver = FskCallerIdReceiver(2)
    results = []
    for offset in range(0, frames.shape[1], BLOCK):
        if offset == seizure_end:
            receiver.reset(0)
        got = receiver.process(frames[:, offset:offset + BLOCK])
        assert all(0 <= offset + BLOCK - r.sample <= batch + BLOCK for r in got)
        results += got
    assert [r.channel for r in results] == [1]
    assert results[0].message.number == "5551234"
    assert results[0].start_sample == pytest.approx(seizure_end + 180 * BIT, abs=3)


def test_process_rejects_bad_frames():
    receiver = FskCallerIdReceiver(4)
    for bad in (np.zeros((4, 160)), np.zeros((3, 160), np.int16), np.zeros(160, np.int16), [[0] * 160] * 4):
        with pytest.raises(ValueError) as caught:
            receiver.process(bad)
        assert "expected int16 frames of shape (4, n)" in str(caught.value)
    assert "float64 array of shape (4, 160)" in _error(receiver, np.zeros((4, 160)))
    assert "int16 array of shape (3, 160)" in _error(receiver, np.zeros((3, 160), np.int16))
    with pytest.raises(ValueError):
        FskCallerIdReceiver(0)
    with pytest.raises(ValueError, match="unknown FSK standard"):
        FskCallerIdReceiver(1, "v21")


def _error(receiver, frames):
    with pytest.raises(ValueError) as caught:
        receiver.process(frames)
    return str(caught.value)


# --- DTMF caller ID ------------------------------------------------------------------------

def test_dtmf_clip(rng):
    parse = callerid.parse_dtmf_clip
    assert parse("A13800138000C").number == "13800138000"
    assert parse("A4512345678#").number == "4512345678"  # Denmark: # ends the number
    assert parse("D5551234C").number == "5551234"  # the variants that start with D (China, Taiwan)
    assert (parse("A555D777C").number, parse("A555D777C").redirecting) == ("555", "777")
    for digits, reason in (("B00C", "O"), ("B10C", "P"), ("D00C", "O"), ("D10C", "P"), ("D1#", "P"),
                           ("D2#", "O"), ("D3#", "O"), ("D1C", "P"), ("D2C", "O"), ("D3C", "O")):
        found = parse(digits)
        assert (found.number, found.number_absence) == (None, reason), digits
    for junk in ("", "AC", "A123", "123C", "C123A", "A12B3C", "B1234C", "D12D3C"):
        assert parse(junk) is None, junk
    assert callerid.dtmf_clip_digits("5551234") == "A5551234C"
    assert callerid.dtmf_clip_digits("5551234", start="D") == "D5551234C"
    assert callerid.dtmf_clip_digits(absence="P") == "B10C"
    assert callerid.dtmf_clip_digits(absence="O", start="D", end="#") == "D2#"
    with pytest.raises(CallerIdError):
        callerid.dtmf_clip_digits("55A")

    # The parser over receiver events: digits before a start code, a stale half string, two lines.
    Event = namedtuple("Event", "channel digit sample")
    parser = DtmfCallerIdParser(2)
    events = [Event(0, d, 800 * i) for i, d in enumerate("19A5551234")]
    events += [Event(1, "D", 500), Event(1, "9", 2 * FS + 500)]  # stale after 2 s
    events += [Event(0, "C", 800 * 10), Event(1, "1", 2 * FS + 1300), Event(1, "#", 2 * FS + 2100)]
    found = parser.feed(events)
    assert [(f.channel, f.number) for f in found] == [(0, "5551234")]
    assert found[0].sample == 8000

    # Through a line with the DTMF receiver: generated by our own generator.
    cases = [dict(number="13800138000"), dict(number="4512345678", end="#"), dict(number="5551234", start="D"),
             dict(absence="P"), dict(absence="O", start="D", end="#")]
    for case in cases:
        x = np.concatenate([np.zeros(800), callerid.dtmf_clip(**case, level_dbm0=-20, rng=rng), np.zeros(800)])
        heard = callerid.dtmf_caller_id(through_line(x, noise_dbm0=-45, codec="alaw", rng=rng))
        want = callerid.parse_dtmf_clip(callerid.dtmf_clip_digits(**case))
        assert heard is not None and (heard.number, heard.number_absence) == (want.number, want.number_absence)
    assert callerid.dtmf_caller_id(to_pcm16(tones.dtmf("12345", rng=rng))) is None


# --- SpanDSP, both ways --------------------------------------------------------------------

@pytest.mark.skipif(not spandsp.available(), reason="SpanDSP (libspandsp2) not installed")
@pytest.mark.parametrize("standard, code", [("bell202", spandsp.ADSI_STANDARD_CLASS),
                                            ("v23", spandsp.ADSI_STANDARD_CLIP)])
def test_spandsp_cross_check(standard, code, rng):
    fields = [(spandsp.MCLASS_DATETIME, b"11261402"), (spandsp.MCLASS_CALLER_NUMBER, b"13800138000"),
              (spandsp.MCLASS_CALLER_NAME, b"ZHANG WEI")]
    # SpanDSP's transmitter, our receiver.
    transmitter = spandsp.AdsiTx(code)
    body = transmitter.build_message(spandsp.CLASS_MDMF_CALLERID, fields)
    theirs = transmitter.modulate(body)
    frames = through_line(np.concatenate([np.zeros(1600), theirs, np.zeros(1600)])[None], noise_dbm0=-50,
                          codec="alaw", rng=rng)
    results = hear(frames, standard)
    assert len(results) == 1 and results[0].message is not None, results
    message = results[0].message
    assert (message.number, message.name, message.datetime) == ("13800138000", "ZHANG WEI", "11261402")
    assert results[0].raw[:-1] == body and results[0].standard == standard
    # Our transmitter, SpanDSP's receiver (it strips the checksum once it has checked it).
    receiver = spandsp.AdsiRx(code)
    for message in (encode_mdmf(number="13800138000", name="ZHANG WEI", datetime="11261402"),
                    encode_sdmf("5551234567", "01020304")):
        x = np.concatenate([np.zeros(800), modulate(message, standard, -13.5, rng=rng), np.zeros(1600)])
        assert receiver.process(through_line(x, noise_dbm0=-50, codec="alaw", rng=rng)) == [message[:-1]]


# --- command line --------------------------------------------------------------------------

def write_raw(path, samples):
    np.asarray(samples, dtype="<i2").tofile(path)


@pytest.fixture
def recordings(tmp_path, rng):
    files = {}
    mdmf = encode_mdmf(number="13800138000", name="ZHANG WEI", datetime="11261402")
    files["bell.wav"] = to_pcm16(np.concatenate([np.zeros(4000), modulate(mdmf, "bell202", rng=rng), np.zeros(4000)]))
    files["v23.raw"] = to_pcm16(np.concatenate([np.zeros(2000), modulate(encode_sdmf("5551234567", "01020304"),
                                                                         "v23", -20, rng=rng), np.zeros(2000)]))
    files["dtmf.wav"] = to_pcm16(np.concatenate([np.zeros(800), callerid.dtmf_clip("5551234", start="D"),
                                                 np.zeros(800)]))
    files["silence.wav"] = np.zeros(FS, np.int16)
    bad = bytearray(mdmf)
    bad[5] ^= 0x10
    files["corrupt.wav"] = to_pcm16(np.concatenate([np.zeros(800), modulate(bytes(bad), rng=rng), np.zeros(4000)]))
    paths = {}
    for name, samples in files.items():
        paths[name] = tmp_path / name
        if name.endswith(".wav"):
            write_wav(paths[name], samples)
        else:
            write_raw(paths[name], samples)
    # A 44.1 kHz WAV, as a sound card records it.
    from scipy.signal import resample_poly
    paths["bell_44k.wav"] = tmp_path / "bell_44k.wav"
    write_wav(paths["bell_44k.wav"], to_pcm16(resample_poly(files["bell.wav"].astype(float), 441, 80)), 44100)
    return paths


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    status = callerid.main([str(a) for a in argv], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_cli_json(recordings):
    status, out, err = run_main([recordings["bell.wav"]])
    assert (status, err) == (0, "")
    assert json.loads(out) == {"standard": "bell202", "kind": "mdmf", "type": 0x80, "number": "13800138000",
                               "name": "ZHANG WEI", "datetime": "11261402"}
    names = ["v23.raw", "dtmf.wav", "silence.wav", "corrupt.wav", "bell_44k.wav"]
    status, out, err = run_main([recordings[name] for name in names])
    assert (status, err) == (0, "")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [Path(line.pop("file")).name for line in lines] == names
    v23, dtmf, silence, corrupt, resampled = lines
    assert v23 == {"standard": "v23", "kind": "sdmf", "type": 4, "number": "5551234567", "datetime": "01020304"}
    assert (dtmf["standard"], dtmf["number"], dtmf["digits"]) == ("dtmf", "5551234", "D5551234C")
    assert silence == {}
    assert (corrupt["error"], "number" in corrupt) == ("checksum", False)
    assert resampled["number"] == "13800138000"
    # As a program: python -m, JSON on stdout, status 0.
    done = subprocess.run([sys.executable, "-m", "hotline.dsp.callerid", str(recordings["bell.wav"])],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and json.loads(done.stdout)["name"] == "ZHANG WEI"


def test_cli_bad_file(recordings, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    odd = tmp_path / "odd.raw"
    odd.write_bytes(b"\x01\x02\x03")
    missing = tmp_path / "missing.wav"
    status, out, err = run_main([broken, recordings["bell.wav"], odd, missing])
    assert status == 2
    assert [json.loads(line)["name"] for line in out.splitlines()] == ["ZHANG WEI"]
    lines = err.splitlines()
    assert len(lines) == 3 and "Traceback" not in err
    for line, path in zip(lines, (broken, odd, missing)):
        assert str(path) in line
    assert "odd number of bytes" in lines[1] and "No such file" in lines[2]
    done = subprocess.run([sys.executable, "-m", "hotline.dsp.callerid", str(missing)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and str(missing) in done.stderr
