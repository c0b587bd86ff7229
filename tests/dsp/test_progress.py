"""The call-progress detector, procedure by procedure: recognition time against SpanDSP's
super_tone_rx and against the plans' figures, level and noise, frequency and cadence tolerance,
talk-off on real speech and music, DTMF, noise and foreign tones, tone end, silence and voice,
channels and reset, block carry-over, bad input.

Signals come from our generators through the line model (μ-law, noise); the trials of a test are
the channels of one detector. Event times are sample indices at 8 kHz from the first sample.
"""

import numpy as np
import pytest

from hotline.dsp import progress, tones
from hotline.dsp.levels import rms_for, to_pcm16
from hotline.dsp.linemodel import through_line
from hotline.dsp.progress import ProgressDetector
from hotline.dsp.toneplans import PLANS, SIT_FREQS_HZ, SIT_SEGMENT_MS
from tests import corpus
from tests.peers import spandsp

FS = 8000
TONE_KINDS = ("dial", "busy", "ringback", "congestion", "sit")
# Latest acceptable recognition, from the tone's first sample (ms): SpanDSP's super-tone receiver
# takes about 1.6 s (dial), 0.7 s (busy), 4.3 s (ringback), 1.3 s (congestion) on the China plan.
CHINA_BOUND_MS = {"dial": 1600, "busy": 700, "ringback": 4300, "congestion": 1300}
NORTH_AMERICA_BOUND_MS = {"dial": 1600, "busy": 1000, "ringback": 2500, "congestion": 600}
SNR_DB = 25  # tone level over flat 0-4 kHz noise, unless a test says otherwise


def ms(n_ms):
    return int(round(n_ms * FS / 1000))


def on_line(x, level_dbm0, rng, snr_db=SNR_DB):
    """``x`` through a μ-law line with flat noise ``snr_db`` below ``level_dbm0``."""
    return through_line(x, noise_dbm0=level_dbm0 - snr_db, codec="ulaw", rng=rng)


def led(x, lead_ms, total_ms):
    """``x`` after ``lead_ms`` of silence, cut or padded to ``total_ms``."""
    out = np.zeros(ms(total_ms))
    body = x[:len(out) - ms(lead_ms)]
    out[ms(lead_ms):ms(lead_ms) + len(body)] = body
    return out


def speech_clip(duration_ms, level_dbm0=-20.0):
    """A stretch of real speech without pauses of a quarter second or more, at ``level_dbm0`` rms.

    Cut from the first recording of the corpus that has one, from its first loud sample.
    """
    n, block = ms(duration_ms), ms(progress.BLOCK_MS)
    for _, samples in corpus.speech():
        x = samples.astype(float)
        loud = np.flatnonzero(np.abs(x) > 300)
        if len(loud) == 0 or len(x) - loud[0] < n:
            continue
        x = x[loud[0]:loud[0] + n]
        x *= rms_for(level_dbm0) / np.sqrt(np.mean(x * x))
        energy = (x[:n // block * block].reshape(-1, block) ** 2).mean(axis=1)
        quiet = energy < rms_for(progress.SILENCE_THRESHOLD_DBM0) ** 2
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], quiet, [0]]))))[::2]
        if not len(runs) or runs.max() * progress.BLOCK_MS < 250:
            return x
    raise AssertionError("no pause-free speech in the corpus")


def hear(signals, plan="china", **options):
    """Events of one detector fed ``signals`` (one per channel, equal lengths) at once, by channel."""
    frames = np.stack([np.asarray(s) for s in signals])
    detector = ProgressDetector(len(frames), plan, **options)
    by_channel = [[] for _ in frames]
    for event in detector.process(frames):
        by_channel[event.channel].append(event)
    return by_channel, detector


def tone_events(events):
    return [e for e in events if e.kind in TONE_KINDS]


def first_tone(events):
    found = tone_events(events)
    return found[0] if found else None


def tone_trials(plan, names, levels, rng, trials, total_ms, snr_db=SNR_DB):
    """One channel per (tone, level, trial): a random lead, random phases, then the tone on a line."""
    signals, cases = [], []
    for name in names:
        for level in levels:
            for _ in range(trials):
                lead = int(rng.integers(0, 400))
                x = led(tones.progress_tone(plan, name, total_ms, level, rng), lead, total_ms)
                signals.append(on_line(x, level, rng, snr_db))
                cases.append((name, level, ms(lead)))
    return signals, cases


def peer_first(plan, signal, name):
    """SpanDSP's first report of ``name`` on ``signal`` (sample index), or None."""
    with spandsp.SuperToneRx(plan) as rx:
        found = [index for kind, index in rx.process_with_times(signal, block=160) if kind == name]
    return found[0] if found else None


def test_china_tones_recognised_no_later_than_spandsp(rng):
    """Every China tone, 0 to -30 dBm0, random phase, μ-law line: the right tone, first, and no
    later than SpanDSP's super_tone_rx on the same samples (when it reports it at all)."""
    names = ("dial", "busy", "congestion", "ringback")
    signals, cases = tone_trials("china", names, (0, -10, -20, -30), rng, trials=2, total_ms=6000)
    heard, _ = hear(signals)
    have_peer = spandsp.available()
    compared = 0
    for signal, events, (name, level, lead) in zip(signals, heard, cases):
        found = first_tone(events)
        assert found is not None and found.kind == name, (name, level, events)
        assert found.sample - lead <= ms(CHINA_BOUND_MS[name]), (name, level, found)
        if have_peer:
            theirs = peer_first("china", signal, name)
            if theirs is not None:
                compared += 1
                assert found.sample <= theirs, (name, level, found.sample - lead, theirs - lead)
    if have_peer:  # SpanDSP hears at least the -20 and -30 dBm0 trials: the comparison is not empty
        assert compared >= len(names) * 2 * 2


@pytest.mark.parametrize("level_dbm0, snr_db", [(-30, 20), (-34, 20), (-38, 20), (-30, 15)])
def test_china_tones_down_to_minus_30_dbm0(rng, level_dbm0, snr_db):
    """Weak tones in noise (-30 dBm0 asked, down to -38 here, SNR 15-20 dB) are each still their
    own tone, alone, within the China bounds."""
    names = ("dial", "busy", "congestion", "ringback")
    signals, cases = tone_trials("china", names, (level_dbm0,), rng, trials=4, total_ms=5000,
                                 snr_db=snr_db)
    heard, _ = hear(signals)
    for events, (name, _, lead) in zip(heard, cases):
        found = tone_events(events)
        assert found and found[0].kind == name, (name, events)
        assert {e.kind for e in found} == {name}
        assert found[0].sample - lead <= ms(CHINA_BOUND_MS[name])


def test_busy_at_minus_30_dbm0_in_noise(rng):
    """Disconnect supervision: a faint busy tone at 15 to 20 dB SNR is busy, never congestion."""
    signals, _ = tone_trials("china", ("busy",), (-30,), rng, trials=12, total_ms=4000, snr_db=15)
    more, _ = tone_trials("china", ("busy",), (-30,), rng, trials=12, total_ms=4000, snr_db=20)
    heard, _ = hear(signals + more)
    for events in heard:
        assert [e.kind for e in tone_events(events)] == ["busy"], events


def test_tones_at_the_minimum_level_are_right_or_nothing(rng):
    """Around MIN_LEVEL_DBM0 a tone may be missed, never taken for another (a congestion tone
    flickering at the threshold must not turn into busy); far below it there is no tone."""
    names = ("dial", "busy", "congestion", "ringback")
    edge = progress.MIN_LEVEL_DBM0
    signals, cases = tone_trials("china", names, (edge - 1, edge, edge + 1), rng, trials=3, total_ms=6000)
    faint, _ = tone_trials("china", names, (edge - 8,), rng, trials=1, total_ms=6000)
    heard, _ = hear(signals + faint)
    for events, (name, level, _) in zip(heard, cases):
        assert {e.kind for e in tone_events(events)} <= {name}, (name, level, events)
    assert sum(bool(tone_events(events)) for events in heard[:len(cases)]) >= len(cases) // 3
    for events in heard[len(cases):]:
        assert not tone_events(events), events


def test_north_america_tones(rng):
    """Dial, busy, ringback and reorder of the Precise Tone Plan, at the plan's level and at -30
    dBm0: the right tone, within the bounds, and no later than SpanDSP when it reports it."""
    plan = PLANS["north_america"]
    signals, cases = [], []
    for name, tone in plan.items():
        for level in (tone.level_dbm0, -30):
            s, c = tone_trials("north_america", (name,), (level,), rng, trials=2, total_ms=7000)
            signals += s
            cases += c
    heard, _ = hear(signals, "north_america")
    for signal, events, (name, level, lead) in zip(signals, heard, cases):
        found = first_tone(events)
        assert found is not None and found.kind == name, (name, level, events)
        assert found.sample - lead <= ms(NORTH_AMERICA_BOUND_MS[name]), (name, found)
        if spandsp.available():
            theirs = peer_first("north_america", signal, name)
            assert theirs is None or found.sample <= theirs, (name, level)


def test_plans_do_not_hear_each_other(rng):
    """China's 450 Hz tones mean nothing on a North American line, and the other way round."""
    china, _ = tone_trials("china", ("dial", "busy", "congestion", "ringback"), (-10,), rng, 1, 6000)
    america, _ = tone_trials("north_america", ("dial", "busy", "congestion", "ringback"), (-15,), rng, 1,
                             6000)
    for events in hear(china, "north_america")[0] + hear(america, "china")[0]:
        assert not tone_events(events), events


@pytest.mark.parametrize("plan", ["china", "north_america"])
def test_sit(rng, plan):
    """The special information tone, then silence: reported once, during its third segment."""
    signals, ends = [], []
    for level in (-24, -30, -12):
        lead = int(rng.integers(0, 300))
        x = led(tones.sit(level, rng), lead, 2500)
        signals.append(on_line(x, level, rng))
        ends.append(ms(lead) + sum(ms(t) for t in SIT_SEGMENT_MS))
    # Long first and second segments (another SIT variant): SIT too.
    variant = np.concatenate([tones.sine(hz, ms(380), -24, float(rng.uniform(0, 6.28)))
                              for hz in SIT_FREQS_HZ])
    signals.append(on_line(led(variant, 200, 2500), -24, rng))
    ends.append(ms(200 + 3 * 380))
    # Two segments only, and the three segments in the wrong order: no SIT.
    whole = tones.sit(-24, rng)
    first_two = ms(SIT_SEGMENT_MS[0] + SIT_SEGMENT_MS[1])
    signals.append(on_line(led(whole[:first_two], 100, 2500), -24, rng))
    cut = [0, ms(SIT_SEGMENT_MS[0]), first_two, len(whole)]
    backwards = np.concatenate([whole[cut[i]:cut[i + 1]] for i in (2, 1, 0)])
    signals.append(on_line(led(backwards, 100, 2500), -24, rng))
    heard, _ = hear(signals, plan)
    for events, end in zip(heard[:4], ends):
        found = tone_events(events)
        assert [e.kind for e in found] == ["sit"], events
        assert end - ms(SIT_SEGMENT_MS[2]) < found[0].sample <= end
    assert not tone_events(heard[4]) and not tone_events(heard[5])


@pytest.mark.parametrize("plan, pairs", [
    ("china", (("busy", (350, 350)), ("congestion", (700, 700)))),
    ("north_america", (("busy", (500, 500)), ("congestion", (250, 250)))),
])
def test_busy_vs_congestion_cadence_tolerance(rng, plan, pairs):
    """Exchanges drift: every cadence within +-20 % (on and off apart) is still its tone, never the other."""
    freqs = PLANS[plan]["busy"].freqs_hz
    signals, expected = [], []
    for name, (on_ms, off_ms) in pairs:
        for on_scale, off_scale in ((0.8, 0.8), (0.9, 0.9), (1.0, 1.0), (1.1, 1.1), (1.2, 1.2),
                                    (1.2, 0.8), (0.8, 1.2)):
            cadence = (round(on_ms * on_scale), round(off_ms * off_scale))
            x = led(tones.cadenced(freqs, cadence, 5000, -20, rng), int(rng.integers(0, 300)), 5000)
            signals.append(on_line(x, -20, rng))
            expected.append(name)
    heard, _ = hear(signals, plan)
    for events, name in zip(heard, expected):
        assert {e.kind for e in tone_events(events)} == {name}, (name, events)


def test_frequency_tolerance(rng):
    """A busy tone off by 1.5 % is busy; off by 2.5 %, or a musical A (440 Hz, -2.2 %), is not."""
    accepted = [450.0 * (1 + e) for e in (-0.015, -0.0075, 0.0075, 0.015)]
    rejected = [450.0 * (1 + e) for e in (-0.025, 0.025)] + [440.0]
    signals = [on_line(tones.cadenced((hz,), (350, 350), 4000, -20, rng), -20, rng)
               for hz in accepted + rejected]
    heard, _ = hear(signals)
    for hz, events in zip(accepted + rejected, heard):
        kinds = [e.kind for e in tone_events(events)]
        assert kinds == (["busy"] if hz in accepted else []), (hz, events)


def test_short_dropouts_do_not_break_a_cadence(rng):
    """A line hit (5 ms of nothing) in the middle of every burst: still one busy tone, never ended."""
    x = tones.progress_tone("china", "busy", 6000, -20, rng)
    for burst_start in range(0, ms(6000), ms(700)):
        hit = burst_start + ms(170) + int(rng.integers(0, ms(10)))
        x[hit:hit + ms(5)] = 0.0
    heard, _ = hear([on_line(x, -20, rng)])
    assert [e.kind for e in heard[0] if e.kind in TONE_KINDS + ("tone_end",)] == ["busy"], heard[0]


def test_cadence_between_busy_and_congestion_is_neither(rng):
    """China: 0.5/0.5 s is no plan tone (busy is 0.35/0.35 s, congestion 0.7/0.7 s)."""
    x = tones.cadenced((450.0,), (500, 500), 6000, -20, rng)
    heard, _ = hear([on_line(x, -20, rng)])
    assert not tone_events(heard[0])


def talk_off(recordings, plan, line):
    x = corpus.as_channels(recordings)
    if line:
        x = through_line(x, noise_dbm0=-60, codec="ulaw", rng=np.random.default_rng(3))
    heard, _ = hear(x, plan)
    return [e for events in heard for e in tone_events(events)]


@pytest.mark.parametrize("plan, line", [("china", False), ("china", True), ("north_america", False)])
def test_no_busy_on_speech(plan, line):
    """Real speech (the whole corpus, about 25 minutes): no busy, congestion or any other tone."""
    assert talk_off(corpus.speech(), plan, line) == []


@pytest.mark.parametrize("plan, line", [("china", False), ("china", True), ("north_america", False)])
def test_no_busy_on_music(plan, line):
    """Real music on hold (about 19 minutes): no busy, congestion or any other tone."""
    assert talk_off(corpus.music(), plan, line) == []


def test_no_tone_on_dtmf_and_noise(rng):
    """DTMF strings (short and held keys), noise of any level, noise and foreign tones switched on
    and off like a busy tone: never a call-progress tone."""
    signals = []
    for level in (-5, -15, -25, -35):
        digits = tones.dtmf(tones.DTMF_DIGITS * 3, level_dbm0=level, rng=rng)
        signals.append(on_line(led(digits, 100, 6000), level, rng))
        held = tones.dtmf("5#0", on_ms=1500, off_ms=300, level_dbm0=level, rng=rng)
        signals.append(on_line(led(held, 100, 6000), level, rng))
    for level in (-50, -35, -20, -10):
        signals.append(tones.white_noise(ms(6000), level, rng))
    gate = np.arange(ms(6000)) % ms(700) < ms(350)
    for level in (-30, -15):
        signals.append(tones.white_noise(ms(6000), level, rng) * gate)
    for hz in (400.0, 500.0, 425.0):  # 425 Hz: the European busy tone
        signals.append(on_line(tones.cadenced((hz,), (350, 350), 6000, -15, rng), -15, rng))
        signals.append(on_line(tones.cadenced((hz,), (), 6000, -15, rng), -15, rng))
    for plan in ("china", "north_america"):
        heard, _ = hear([to_pcm16(s) for s in signals], plan)
        for index, events in enumerate(heard):
            assert not tone_events(events), (plan, index, events)


def test_silence_and_voice(rng):
    """Energy with hysteresis: silence after SILENCE_MS of quiet, voice after VOICE_MS of sound,
    neither flipped by a level between the thresholds; thresholds set in the constructor."""
    speech = speech_clip(2000)
    quiet = tones.white_noise(ms(2000), -60, rng)
    between = tones.white_noise(ms(2000), -39, rng)  # between -42 (silence) and -36 (voice)
    channel_a = np.concatenate([quiet, speech, quiet, between])
    channel_b = np.concatenate([quiet, between, speech, between])
    heard, detector = hear([to_pcm16(channel_a), to_pcm16(channel_b)])
    a, b = heard
    assert [e.kind for e in a] == ["silence", "voice", "silence"], a
    block = ms(progress.BLOCK_MS)
    assert a[0].sample == pytest.approx(ms(progress.SILENCE_MS), abs=block)
    assert ms(2000) < a[1].sample <= ms(2000 + progress.VOICE_MS) + 2 * block
    speech_end = ms(4000) - np.flatnonzero(np.abs(speech[::-1]) > 100)[0]
    silence_after = ms(progress.SILENCE_MS)
    assert speech_end + silence_after - block <= a[2].sample <= ms(4000) + silence_after + block
    assert [e.kind for e in b] == ["silence", "voice"], b  # "between" keeps whatever state came before
    assert detector.states == ["silence", "voice"]
    # Longer silence and a voice threshold above the speech, from the constructor.
    heard, _ = hear([to_pcm16(channel_a)], silence_ms=1500, voice_threshold_dbm0=0)
    assert [e.kind for e in heard[0]] == ["silence"]
    assert heard[0][0].sample == pytest.approx(ms(1500), abs=block)
    with pytest.raises(ValueError, match="threshold"):
        ProgressDetector(1, silence_threshold_dbm0=-20, voice_threshold_dbm0=-30)


def test_tones_are_not_voice(rng):
    signals, _ = tone_trials("china", ("busy", "dial", "ringback"), (0, -10), rng, 2, 5000, snr_db=40)
    for events in hear(signals)[0]:
        assert "voice" not in [e.kind for e in events], events


def test_tone_end(rng):
    """A tone that stops is reported ended (then silence); one that changes cadence ends before the
    new one is reported; ringback interrupted by an answer ends at once."""
    quiet = tones.white_noise(ms(4000), -60, rng)
    busy = tones.progress_tone("china", "busy", 2450, -20, rng)  # ends with its fourth burst
    dial = tones.progress_tone("china", "dial", 3000, -20, rng)
    ringback = tones.progress_tone("china", "ringback", 2500, -20, rng)  # 1.5 s into the off time
    congestion = tones.progress_tone("china", "congestion", 4000, -20, rng)
    signals = [np.concatenate([busy, quiet]), np.concatenate([dial, quiet]),
               np.concatenate([ringback, speech_clip(2000, -15), quiet]),
               np.concatenate([busy, tones.silence(350), congestion])]
    n = min(map(len, signals))
    heard, detector = hear([to_pcm16(s[:n] + tones.white_noise(n, -60, rng)) for s in signals])
    busy_end, dial_end, answer = ms(2450), ms(3000), ms(2500)
    assert [e.kind for e in heard[0]] == ["busy", "tone_end", "silence"], heard[0]
    off_max = ms(350 * (1 + progress.CADENCE_TOLERANCE_PCT / 100) + progress.CADENCE_SLACK_MS)
    assert busy_end + ms(300) <= heard[0][1].sample <= busy_end + off_max + ms(60)
    assert [e.kind for e in heard[1]] == ["dial", "tone_end", "silence"], heard[1]
    assert dial_end < heard[1][1].sample <= dial_end + ms(60)
    assert [e.kind for e in heard[2]][:3] == ["ringback", "tone_end", "voice"], heard[2]
    assert answer < heard[2][1].sample <= answer + ms(120)
    switch = [e.kind for e in heard[3] if e.kind in TONE_KINDS + ("tone_end",)]
    assert switch == ["busy", "tone_end", "congestion"], heard[3]
    assert detector.state(0) == "silence" and detector.state(3) == "congestion"


def test_channels_independent_and_reset(rng):
    """Each channel hears only its own line; reset forgets one line's cadence and nothing else."""
    busy = on_line(tones.progress_tone("china", "busy", 6000, -20, rng), -20, rng)
    congestion = on_line(tones.progress_tone("china", "congestion", 6000, -20, rng), -20, rng)
    quiet = to_pcm16(tones.white_noise(ms(6000), -60, rng))
    frames = np.stack([busy, quiet, congestion, busy])
    detector = ProgressDetector(4)
    half = ms(3000)
    events = detector.process(frames[:, :half])
    kinds = {c: [e.kind for e in events if e.channel == c] for c in range(4)}
    assert kinds == {0: ["busy"], 1: ["silence"], 2: ["congestion"], 3: ["busy"]}
    assert detector.states == ["busy", "silence", "congestion", "busy"]
    detector.reset(0)
    assert detector.states == [None, "silence", "congestion", "busy"]
    later = detector.process(frames[:, half:])
    assert [e.kind for e in later if e.channel != 0] == []  # nothing new elsewhere
    again = [e for e in later if e.channel == 0]
    assert [e.kind for e in again] == ["busy"]
    # A fresh start: one whole burst and the confirming off time after the reset, at least.
    assert again[0].sample >= half + ms(240 + progress.CONFIRM_OFF_MS)
    with pytest.raises(ValueError, match="channel"):
        detector.reset(4)
    with pytest.raises(ValueError, match="channel"):
        detector.state(-1)


def test_partial_blocks_carry_over(rng):
    """Audio cut anywhere (one sample, odd sizes, nothing at all) gives the same events as one call."""
    names = ("busy", "congestion", "dial", "ringback")
    signals, _ = tone_trials("china", names, (-20,), rng, 1, 6000)
    signals.append(on_line(led(tones.sit(-20, rng), 500, 6000), -20, rng))
    signals.append(to_pcm16(np.concatenate([tones.white_noise(ms(2000), -60, rng),
                                            tones.white_noise(ms(4000), -20, rng)])))
    frames = np.stack(signals)
    whole = ProgressDetector(len(frames)).process(frames)
    assert {e.kind for e in whole} >= {"busy", "congestion", "dial", "ringback", "sit", "voice"}
    detector = ProgressDetector(len(frames))
    pieces, start, sizes = [], 0, [1, 0, 7, 159, 160, 161, 80, 1000, 3, 2400]
    for call in range(frames.shape[1]):
        if start >= frames.shape[1]:
            break
        size = sizes[call % len(sizes)]
        pieces.extend(detector.process(frames[:, start:start + size]))
        start += size
    assert pieces == whole


def test_bad_input(rng):
    """Wrong dtype or shape: ValueError naming what was expected and received. Clipping, DC offset
    and silence: no crash and no tone (and a busy tone riding on DC is still busy)."""
    detector = ProgressDetector(2)
    for wrong, words in ((np.zeros((2, 160)), ("int16", "float64")),
                         (np.zeros((2, 160), dtype=np.int32), ("int16", "int32")),
                         (np.zeros(160, dtype=np.int16), ("(2, n)", "(160,)")),
                         (np.zeros((3, 160), dtype=np.int16), ("(2, n)", "(3, 160)")),
                         (np.zeros((2, 2, 160), dtype=np.int16), ("(2, n)", "(2, 2, 160)")),
                         ([[0] * 160] * 2, ("int16", "list"))):
        with pytest.raises(ValueError) as caught:
            detector.process(wrong)
        for word in words:
            assert word in str(caught.value)
    with pytest.raises(ValueError, match="channels"):
        ProgressDetector(0)
    with pytest.raises(ValueError, match="north_america"):
        ProgressDetector(1, plan="mars")

    speech = corpus.as_channels(corpus.speech())[2, :ms(8000)].astype(float)
    busy = tones.progress_tone("china", "busy", 8000, -20, rng)
    t = np.arange(ms(8000))
    signals = [speech * 30,  # clipped hard at both rails
               np.where(np.sin(2 * np.pi * 1000 * t / FS) >= 0, 32767.0, -32768.0),  # full-scale square
               np.full(ms(8000), 32767.0), np.zeros(ms(8000)),  # stuck at a rail; digital silence
               np.full(ms(8000), 8000.0) + tones.white_noise(ms(8000), -60, rng),  # DC and idle noise
               speech + 12000.0,  # speech on a DC offset
               tones.white_noise(ms(8000), 3, rng)]  # noise louder than any tone, clipping
    heard, _ = hear([to_pcm16(s) for s in signals] + [to_pcm16(busy + 9000.0)])
    for events in heard[:-1]:
        assert not tone_events(events), events
    assert [e.kind for e in heard[4]] == ["silence"]  # DC is no sound
    assert [e.kind for e in tone_events(heard[-1])] == ["busy"]
