"""The SpanDSP comparison peer works: its receivers decode signals built here with numpy."""

import numpy as np
import pytest

from tests.peers import spandsp

if not spandsp.available():
    pytest.skip("SpanDSP (libspandsp2) is not installed", allow_module_level=True)

FS = spandsp.SAMPLE_RATE_HZ
PEAK = 7000  # per tone
DTMF_FREQS_HZ = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477)}


def tones(freqs_hz, ms, peak=PEAK):
    t = np.arange(FS * ms // 1000) / FS
    return sum(peak * np.sin(2 * np.pi * f * t) for f in freqs_hz)


def silence(ms):
    return np.zeros(FS * ms // 1000)


def pcm(*parts):
    return np.round(np.concatenate(parts)).astype(np.int16)


def cadenced(freqs_hz, on_ms, off_ms, total_ms):
    cycle = np.concatenate([tones(freqs_hz, on_ms), silence(off_ms)])
    reps = -(-total_ms // (on_ms + off_ms))
    return np.tile(cycle, reps)[: FS * total_ms // 1000]


def dtmf(digits, on_ms=60, off_ms=60):
    return pcm(*(p for d in digits for p in (tones(DTMF_FREQS_HZ[d], on_ms), silence(off_ms))))


def test_dtmf_digits():
    with spandsp.DtmfRx() as rx:
        assert rx.process(dtmf("123")) == "123"


def test_dtmf_digits_in_one_call_or_many_agree():
    signal = pcm(silence(100), dtmf("321" * 3))
    assert spandsp.DtmfRx().process(signal) == "321321321"
    rx = spandsp.DtmfRx()
    assert "".join(rx.process(signal[i : i + 80]) for i in range(0, len(signal), 80)) == "321321321"


def test_dtmf_times_fall_inside_their_digit():
    lead = FS // 10
    rx = spandsp.DtmfRx().parms(twist_db=8, reverse_twist_db=4)
    found = rx.process_with_times(pcm(silence(100), dtmf("123")), block=160)
    assert [d for d, _ in found] == list("123")
    for k, (_, index) in enumerate(found):
        start = lead + k * 960  # 120 ms per digit
        assert start < index <= start + 960
    assert rx.samples_fed == lead + 3 * 960


def test_dtmf_wants_int16():
    with pytest.raises(TypeError):
        spandsp.DtmfRx().process(np.zeros(160, dtype=np.int32))


@pytest.mark.parametrize(
    "plan, name, freqs_hz, cadence_ms, total_ms",
    [
        ("china", "busy", (450,), (350, 350), 3000),
        ("china", "congestion", (450,), (700, 700), 4000),
        ("china", "ringback", (450,), (1000, 4000), 11000),
        ("china", "dial", (450,), (), 3000),
        ("north_america", "busy", (480, 620), (500, 500), 4000),
        ("north_america", "congestion", (480, 620), (250, 250), 3000),
        ("north_america", "ringback", (440, 480), (2000, 4000), 13000),
        ("north_america", "dial", (350, 440), (), 3000),
    ],
)
def test_call_progress_tone_is_named(plan, name, freqs_hz, cadence_ms, total_ms):
    peak = PEAK if len(freqs_hz) == 1 else PEAK // 2
    if cadence_ms:
        body = cadenced(freqs_hz, *cadence_ms, total_ms) * peak / PEAK
    else:
        body = tones(freqs_hz, total_ms, peak)
    lead = FS // 2
    rx = spandsp.SuperToneRx(plan)
    found = rx.process_with_times(pcm(silence(500), body, silence(6000)))
    assert [n for n, _ in found] == [name]
    index = found[0][1]
    first_pattern_ms = sum(cadence_ms) if cadence_ms else spandsp.DIAL_MIN_MS
    assert lead < index <= lead + FS * (first_pattern_ms + 100) // 1000
    assert rx.current is None  # the final silence, longer than any off window, ended it


def test_china_busy_plain_process():
    rx = spandsp.SuperToneRx()
    assert rx.process(pcm(cadenced((450,), 350, 350, 3000))) == ["busy"]
    assert rx.current == "busy"


def test_tone_plan_windows_do_not_overlap():
    china = spandsp.tone_plan("china")
    assert china["dial"] == [(450, 0, spandsp.DIAL_MIN_MS, 0)]
    (_, _, _, busy_max), _ = china["busy"]
    (_, _, congestion_min, congestion_max), _ = china["congestion"]
    assert busy_max < congestion_min
    assert max(el[3] for el in china["ringback"][:1]) < spandsp.DIAL_MIN_MS
    with pytest.raises(ValueError):
        spandsp.tone_plan("atlantis")


def test_white_noise_is_no_tone():
    noise = np.random.default_rng(7).normal(0, 3000, 5 * FS)
    assert spandsp.SuperToneRx().process(pcm(noise)) == []


@pytest.mark.parametrize(
    "standard, msg_type, fields",
    [
        (spandsp.ADSI_STANDARD_CLASS, spandsp.CLASS_SDMF_CALLERID, [(0, b"0615093012345")]),
        (
            spandsp.ADSI_STANDARD_CLASS,
            spandsp.CLASS_MDMF_CALLERID,
            [(spandsp.MCLASS_DATETIME, b"06150930"), (spandsp.MCLASS_CALLER_NUMBER, b"12345")],
        ),
        (
            spandsp.ADSI_STANDARD_CLIP,
            spandsp.CLASS_MDMF_CALLERID,
            [(spandsp.MCLASS_DATETIME, b"06150930"), (spandsp.MCLASS_CALLER_NAME, b"HOTLINE")],
        ),
    ],
)
def test_fsk_caller_id_round_trip(standard, msg_type, fields):
    tx = spandsp.AdsiTx(standard)
    msg = tx.build_message(msg_type, fields)
    body = b"".join(bytes([t, len(b)]) + b if t else b for t, b in fields)
    assert msg == bytes([msg_type, len(body)]) + body
    signal = tx.modulate(msg)
    assert len(signal) > 0 and np.abs(signal).max() > 1000
    rx = spandsp.AdsiRx(standard)
    assert rx.process(pcm(silence(100), signal, silence(200))) == [msg]


def test_close_is_idempotent_and_final():
    rx = spandsp.AdsiRx()
    rx.close()
    rx.close()
    with pytest.raises(ValueError):
        rx.process(np.zeros(160, dtype=np.int16))
