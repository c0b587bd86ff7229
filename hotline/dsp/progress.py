"""Call-progress tones, silence and voice energy, for every channel at once.

What does it do?
    :class:`ProgressDetector` listens to the far end of many lines and reports, per channel and
    in time order, the call-progress tones of a plan (dial, busy, ringback, congestion), the
    special information tone (SIT), the end of a recognised tone, and whether the line is
    silent or carries voice. It drives disconnect supervision on exchange lines (a China
    exchange signals that the far end hung up with busy tone, not with a loop-current break)
    and outbound call progress (ringing, busy, congestion, number unobtainable, answer).

The tones come from :mod:`hotline.dsp.toneplans` (never from this module):

    ==============  =============================  ===========================================
    plan            frequencies                    cadence, on/off
    ==============  =============================  ===========================================
    China (YDN/GB   450 Hz                         dial continuous; busy 0.35/0.35 s; ringback
    practice)                                      1/4 s; congestion 0.7/0.7 s
    North America   dial 350+440, ringback         dial continuous; busy 0.5/0.5 s; ringback
    (Precise Tone   440+480, busy and reorder      2/4 s; reorder ("congestion") 0.25/0.25 s
    Plan)           480+620 Hz, each tone alike
    SIT (North      913.8, 1370.6, 1776.7 Hz       three segments back to back, 274, 274 and
    American form)                                 380 ms (either of 274/380 ms accepted for
                                                   the first two)
    ==============  =============================  ===========================================

What it meets (``tests/dsp/test_progress.py`` checks each, through a μ-law line with noise):

- every tone from 0 dBm0 down to :data:`MIN_LEVEL_DBM0` (-40) per frequency, and a busy tone
  at -30 dBm0 with 15 dB SNR over the whole band; around the minimum level a tone is missed,
  never taken for another;
- frequencies within :data:`FREQ_TOLERANCE_PCT` (2 %); 440 Hz, 2.2 % off, is no China tone;
- cadences within +-:data:`CADENCE_TOLERANCE_PCT` (20 %) of the plan, on and off times apart,
  as real exchanges drift: busy (0.35/0.35 s) and congestion (0.7/0.7 s) are never taken for
  each other;
- each China tone reported no later than SpanDSP's ``super_tone_rx`` on the same samples:
  busy 0.54 s after the tone starts (SpanDSP 0.63 s), congestion 0.89 s (1.27 s), ringback
  1.2 s (4.2 s), dial 1.34 s (1.52 s);
- no tone on real speech or music (the whole talk-off corpus), DTMF, noise, foreign tones
  (400, 425, 500 Hz), clipping, DC offset or silence.

How does it work?
    Audio is cut into :data:`BLOCK_MS` blocks; a partial block waits for the next call. One
    matrix product per call takes every block of every channel to the least-squares phasor
    (complex amplitude) of each plan and SIT frequency, fitted after the block's mean (DC) is
    removed, and to the block's sum; a row-wise dot product gives its energy. A block *holds*
    a set of frequencies (a tone's) when they carry at least :data:`MIN_TONE_SHARE_DB` of the
    block's energy, each is above :data:`MIN_LEVEL_DBM0` (:data:`LEVEL_HYSTERESIS_DB` lower if
    it was held a block before), the two of a dual tone are within :data:`MAX_TWIST_DB`, and
    each phasor turned from the last block as a steady tone at the nominal frequency would,
    within :data:`FREQ_TOLERANCE_PCT`: speech harmonics glide and musical notes sit a few hertz
    away; exchange tones do neither.

    At 240 channels a numpy call on such small arrays costs more than its arithmetic, so the
    per-block work is a fixed, short list of calls into buffers kept between calls (constants
    laid out over all channels, no broadcasting, masked selections or mixed types where a plain
    operation does), with every value computed as before (the same floating-point operations).

    Per channel, integer arrays then follow runs of blocks, one step per block for all
    channels at once: a burst is a run of blocks holding one set (a dropout of
    :data:`BRIDGE_MS` is bridged); the off time after it must stay :data:`OFF_DEPTH_DB` below
    the burst to count as silence. Each channel keeps counters (off time, quiet, sound, burst
    length, loud off-time blocks) and the counts at which its next decision falls due, so a
    step is a handful of array operations, and only the channels with a decision due go
    through the rest: one at a time when they are few (as out-of-step lines make them in nearly
    every block; through memoryviews, far cheaper than indexing an array for one entry), as
    array operations over all channels when many fall due together. A cadenced tone
    is recognised once a burst whose length fits its on time is followed by
    :data:`CONFIRM_OFF_MS` of clean off time (when a burst fits two tones, China congestion
    and ringback at their extremes, the off time settles it); a continuous tone once it
    outlasts every burst of a cadenced tone on its frequencies by :data:`CONTINUOUS_GUARD_MS`;
    SIT once its three segments follow each other. A recognised tone ends (``tone_end``) when a
    burst or an off time leaves its cadence, or sound fills its off time (an answer). Silence
    and voice use the block energy with hysteresis: ``silence`` after :data:`SILENCE_MS` below
    :data:`SILENCE_THRESHOLD_DBM0`, ``voice`` after :data:`VOICE_MS` at or above
    :data:`VOICE_THRESHOLD_DBM0` of energy that is no plan tone; between the two thresholds the
    state stays; neither is reported while a tone is.

Events carry the index of the sample that ends the block in which the decision was made,
counted from the first sample given to the detector (``reset`` does not restart the count).
"""

from dataclasses import dataclass

import numpy as np

from hotline.dsp import SAMPLE_RATE_HZ
from hotline.dsp.frames import check_channel, check_frames
from hotline.dsp.levels import DBM0_RMS, sine_peak
from hotline.dsp.toneplans import SIT_FREQS_HZ, SIT_SEGMENT_MS, plan as tone_plan

BLOCK_MS = 20  # analysis block; 20 ms tells 440 from 480 Hz (North America)
MIN_LEVEL_DBM0 = -40.0  # per frequency; quieter tones are not tones
LEVEL_HYSTERESIS_DB = 6.0  # a frequency held in the last block may go this much below it
MIN_TONE_SHARE_DB = -1.0  # the fitted frequencies hold at least this share of the block energy
MAX_TWIST_DB = 8.0  # between the two frequencies of a dual tone
FREQ_TOLERANCE_PCT = 2.0  # of the nominal frequency, from the phase step between blocks
CADENCE_TOLERANCE_PCT = 20.0  # on and off times, around the plan's
CADENCE_SLACK_MS = 40  # widens every on/off window: the blocks cut by a tone's edges
CONFIRM_OFF_MS = 200  # off time after a burst before a cadenced tone is reported
CONTINUOUS_MIN_MS = 1000  # a continuous tone is never reported sooner
CONTINUOUS_GUARD_MS = 100  # ... nor before it outlasts every burst on its frequencies by this
BRIDGE_MS = 20  # a dropout this short inside a burst does not end it
OFF_DEPTH_DB = 10.0  # an off time stays this far below its burst, or it is not silence
SIT_CONFIRM_MS = 100  # of the third SIT segment
SILENCE_THRESHOLD_DBM0 = -42.0  # block energy below it is quiet
VOICE_THRESHOLD_DBM0 = -36.0  # block energy at or above it is sound
SILENCE_MS = 500  # quiet this long is reported as silence
VOICE_MS = 60  # sound (not a plan tone) this long is reported as voice

TONE_END = "tone_end"
SIT = "sit"
SILENCE = "silence"
VOICE = "voice"
_NONE, _SILENT, _VOICED = 0, 1, 2  # energy states
_OFF, _QUIET, _SOUND, _ON, _DIRTY = 0, 1, 2, 3, 4  # a channel's counters (ProgressDetector.__init__)
_NEVER = 1 << 40  # a block count no run reaches
_ZERO = np.float32(0.0)
_DIRTY_BREAK = 2  # loud off-time blocks (the next burst's edge is one) that break a cadence
_FEW = 16  # decisions on at most this many channels in a block are taken one channel at a time


@dataclass(frozen=True)
class ProgressEvent:
    """Something heard on ``channel``: a tone, ``tone_end``, ``silence`` or ``voice``.

    ``sample`` is the index of the sample ending the block where it was decided, counted from
    the first sample the detector was given.
    """

    channel: int
    kind: str
    sample: int


def _blocks(ms: float) -> int:
    return int(round(ms / BLOCK_MS))


def _window_ms(nominal_ms: float) -> tuple[float, float]:
    """The accepted range of an on or off time of ``nominal_ms``."""
    spread = nominal_ms * CADENCE_TOLERANCE_PCT / 100.0
    return nominal_ms - spread - CADENCE_SLACK_MS, nominal_ms + spread + CADENCE_SLACK_MS


def _fit_matrices(freq_sets, n: int, sample_rate: int):
    """Least-squares sine fits of each frequency set over a block of ``n`` samples.

    A set's sines are centred (a fit never uses DC) and factored ``Q R``: ``x @ Q`` has the
    energy the set explains as its squared norm, and ``x @ Q @ inv(R).T`` the cosine and sine
    amplitudes of each frequency. Returns every set's ``Q`` side by side, the matrix taking
    those outputs to one complex amplitude per frequency (cosine + i sine), and the columns of
    each set.
    """
    t = np.arange(n) / sample_rate
    qs, r_inv_t, columns, start = [], [], [], 0
    for freqs in freq_sets:
        basis = np.column_stack([f(2.0 * np.pi * hz * t) for hz in freqs for f in (np.cos, np.sin)])
        basis -= basis.mean(axis=0)
        q, r = np.linalg.qr(basis)
        qs.append(q)
        r_inv_t.append(np.linalg.inv(r).T)
        columns.append(np.arange(start, start + q.shape[1]))
        start += q.shape[1]
    to_pairs = np.zeros((start, start))
    for cols, block in zip(columns, r_inv_t):
        to_pairs[np.ix_(cols, cols)] = block
    to_complex = to_pairs[:, 0::2] + 1j * to_pairs[:, 1::2]  # (columns, frequencies)
    return np.hstack(qs), to_complex, columns


def _fit(fit_q, to_complex, block: int, singletons: bool) -> np.ndarray:
    """The one matrix a block of samples is multiplied by (see ``ProgressDescriptor.fit``)."""
    phasors = to_complex * np.sqrt(block / 2.0)
    parts = np.empty((phasors.shape[0], 2 * phasors.shape[1]))
    parts[:, 0::2], parts[:, 1::2] = phasors.real, phasors.imag
    columns = [fit_q @ parts, np.full((block, 1), 1.0 / np.sqrt(block))]
    if not singletons:
        columns.append(fit_q)
    return np.hstack(columns).astype(np.float32)


@dataclass(frozen=True, eq=False)
class ProgressDescriptor:
    """Everything about a plan that the detector computes once (SpanDSP's descriptor/state split).

    Tone *kinds* are the plan's tones in plan order, then SIT. Frequency *sets* are the plan's
    distinct sets of frequencies, then one per SIT frequency; *components* are their
    frequencies, set by set. Arrays indexed by kind or set have one entry more, at the end, so
    that -1 (none) indexes a harmless value. Times are in blocks, energies per block.
    """

    plan: str
    sample_rate: int
    block: int  # samples per block
    kinds: tuple[str, ...]
    freq_sets: tuple[tuple[float, ...], ...]
    fit: np.ndarray  # (block, 2 components + 1 [+ columns]) float32, one product gives:
    #   each frequency's phasor, its complex amplitude (cos + i sin) times sqrt(block / 2), as
    #   real and imaginary parts side by side; then the block's sum over sqrt(block); then,
    #   unless every set is a single frequency, the set-by-set orthonormal coordinates of the
    #   fitted sines
    ahead: np.ndarray  # (components, 1) complex64: a steady tone's phasor turns by this a block
    set_energy: np.ndarray  # (columns, sets) float32: sums squared coordinates into set energies
    singletons: bool  # every set has one frequency (component index == set index)
    first: np.ndarray  # (sets,) component index of each set's first frequency
    second: np.ndarray  # (sets,) ... and of its second (the first again for a single tone)
    cos_tolerance: np.ndarray  # (components, 1) float32: cosine of the largest phase error accepted
    set_ids: np.ndarray  # (sets,) float32: 1, 2, ... (a block's code)
    min_share: float
    min_magnitude: float  # phasor magnitude of a tone at the minimum level
    min_magnitude_held: float  # ... and of one held in the last block (level hysteresis)
    max_twist: float  # amplitude ratio
    kind_set: np.ndarray  # (kinds+1,) frequency set of each kind
    on_max: np.ndarray  # (kinds+1,) longest burst that keeps a reported tone going
    off_min: np.ndarray  # (kinds+1,)
    off_max: np.ndarray  # (kinds+1,) a longer off time ends the tone
    continuous: np.ndarray  # (kinds+1,) bool: continuous tones and SIT end with their burst
    cadence_of: np.ndarray  # (sets+1, longest+1) cadenced kind whose on time fits a burst, or -1
    rival_of: np.ndarray  # (sets+1, longest+1) kind with a shorter off time that fits it too, or -1
    confirm_of: np.ndarray  # (sets+1, longest+1) off time before ``cadence_of`` is reported
    longest: int
    continuous_of: np.ndarray  # (sets+1,) continuous kind on a set, or -1
    continuous_min: np.ndarray  # (kinds+1,) burst length before a continuous tone is reported
    sit_sets: tuple[int, int, int]
    sit_kind: int
    sit_segment: tuple[int, int]  # (min, max) length of the first two segments
    sit_confirm: int  # of the third segment
    bridge: int  # blocks of dropout bridged inside a burst
    off_depth: float  # energy ratio
    silence_energy: float
    voice_energy: float
    silence_blocks: int
    voice_blocks: int


def _cadence_tables(windows, kind_set, n_sets, longest, off_min, off_max, confirm):
    """Per frequency set and burst length: which cadenced kind the burst is, when to confirm it.

    On-time windows may overlap (China congestion 0.7 s and ringback 1 s, at +-20 % each). A
    burst in both is confirmed as the kind with the long off time once the off time outlasts the
    other kind's (``confirm_of``); it is the other kind (its *rival*) if the next burst comes
    within that kind's off time. Overlaps that the off times cannot settle go to the nearest
    nominal on time.
    """
    shape = (n_sets + 1, longest + 1)
    cadence_of, rival_of, confirm_of = np.full(shape, -1), np.full(shape, -1), np.full(shape, _NEVER)
    for s in range(n_sets):
        for on in range(1, longest + 1):
            fits = sorted((abs(np.log(on * BLOCK_MS / nominal)), k)
                          for k, (nominal, lo, hi) in windows.items() if kind_set[k] == s and lo <= on <= hi)
            if not fits:
                continue
            k = fits[0][1]
            cadence_of[s, on], confirm_of[s, on] = k, confirm[k]
            if len(fits) > 1:
                short, long_ = sorted((fits[0][1], fits[1][1]), key=lambda j: off_max[j])
                if off_max[short] < off_min[long_]:
                    cadence_of[s, on], rival_of[s, on] = long_, short
                    confirm_of[s, on] = max(confirm[long_], off_max[short] + 1)
    return cadence_of, rival_of, confirm_of


def make_descriptor(plan: str = "china", sample_rate: int = SAMPLE_RATE_HZ,
                    silence_threshold_dbm0: float = SILENCE_THRESHOLD_DBM0,
                    voice_threshold_dbm0: float = VOICE_THRESHOLD_DBM0,
                    silence_ms: float = SILENCE_MS, voice_ms: float = VOICE_MS,
                    min_level_dbm0: float = MIN_LEVEL_DBM0) -> ProgressDescriptor:
    """The descriptor of ``plan`` (a name of :data:`hotline.dsp.toneplans.PLANS`)."""
    tones = list(tone_plan(plan).values())
    block = int(round(sample_rate * BLOCK_MS / 1000))
    plan_sets = list(dict.fromkeys(tuple(tone.freqs_hz) for tone in tones))
    sit_sets = [(hz,) for hz in SIT_FREQS_HZ]
    freq_sets = tuple(plan_sets + [s for s in sit_sets if s not in plan_sets])
    set_index = {s: i for i, s in enumerate(freq_sets)}
    fit_q, to_complex, columns = _fit_matrices(freq_sets, block, sample_rate)
    singletons = all(len(s) == 1 for s in freq_sets)
    n_sets = len(freq_sets)
    set_energy = np.zeros((fit_q.shape[1], n_sets))
    for index, cols in enumerate(columns):
        set_energy[cols, index] = 1.0
    first = np.array([cols[0] // 2 for cols in columns])
    second = np.array([cols[-1] // 2 for cols in columns])
    freqs = np.array([hz for s in freq_sets for hz in s])
    # A block's phase tells frequency only within +-sample_rate/(2 block): keep to half of that.
    tolerance_hz = np.minimum(freqs * FREQ_TOLERANCE_PCT / 100.0, sample_rate / (4.0 * block))
    step = 2.0 * np.pi * freqs * block / sample_rate

    kinds = tuple(tone.name for tone in tones) + (SIT,)
    sit_kind = len(kinds) - 1
    size = len(kinds) + 1
    kind_set = np.full(size, -2)
    on_max = np.full(size, _NEVER)
    off_min = np.zeros(size, dtype=np.int64)
    off_max = np.full(size, _NEVER)
    confirm = np.full(size, _NEVER)
    continuous = np.zeros(size, dtype=bool)
    continuous_min = np.full(size, _NEVER)
    bridge = _blocks(BRIDGE_MS)
    windows = {}  # cadenced kind: (nominal on ms, shortest on, longest on)
    for k, tone in enumerate(tones):
        kind_set[k] = set_index[tuple(tone.freqs_hz)]
        if tone.continuous:
            continuous[k] = True
            off_max[k] = bridge  # the burst's end is the tone's end
            continue
        on_lo, on_hi = _window_ms(tone.cadence_ms[0])
        off_lo, off_hi = _window_ms(tone.cadence_ms[1])
        windows[k] = (tone.cadence_ms[0], _blocks(on_lo), _blocks(on_hi))
        on_max[k], off_min[k], off_max[k] = _blocks(on_hi), _blocks(off_lo), _blocks(off_hi)
        confirm[k] = max(bridge + 2, _blocks(min(CONFIRM_OFF_MS, off_lo)))
    kind_set[sit_kind] = set_index[sit_sets[-1]]
    continuous[sit_kind] = True
    off_max[sit_kind] = bridge

    longest = max([hi for _, _, hi in windows.values()], default=0) + 1
    cadence_of, rival_of, confirm_of = _cadence_tables(windows, kind_set, n_sets, longest,
                                                       off_min, off_max, confirm)
    continuous_of = np.full(n_sets + 1, -1)
    for k, tone in enumerate(tones):
        if tone.continuous:
            s = kind_set[k]
            continuous_of[s] = k
            bursts = [hi for j, (_, _, hi) in windows.items() if kind_set[j] == s]
            continuous_min[k] = max([_blocks(CONTINUOUS_MIN_MS)]
                                    + [hi + _blocks(CONTINUOUS_GUARD_MS) for hi in bursts])
    # SIT segments are short (274 ms) or long (380 ms), in variants that tell the cause apart.
    segment_lo, _ = _window_ms(min(SIT_SEGMENT_MS))
    _, segment_hi = _window_ms(max(SIT_SEGMENT_MS))
    block_energy = block * DBM0_RMS ** 2
    return ProgressDescriptor(
        plan=plan, sample_rate=sample_rate, block=block, kinds=kinds, freq_sets=freq_sets,
        fit=_fit(fit_q, to_complex, block, singletons),
        ahead=np.exp(-1j * step)[:, None].astype(np.complex64),
        set_energy=set_energy.astype(np.float32),
        singletons=singletons, first=first, second=second,
        cos_tolerance=np.cos(2.0 * np.pi * tolerance_hz * block / sample_rate)[:, None].astype(np.float32),
        set_ids=np.arange(1, n_sets + 1, dtype=np.float32),
        min_share=10.0 ** (MIN_TONE_SHARE_DB / 10.0),
        min_magnitude=sine_peak(min_level_dbm0) * np.sqrt(block / 2.0),
        min_magnitude_held=sine_peak(min_level_dbm0 - LEVEL_HYSTERESIS_DB) * np.sqrt(block / 2.0),
        max_twist=10.0 ** (MAX_TWIST_DB / 20.0),
        kind_set=kind_set, on_max=on_max, off_min=off_min, off_max=off_max,
        continuous=continuous, cadence_of=cadence_of, rival_of=rival_of, confirm_of=confirm_of,
        longest=longest, continuous_of=continuous_of,
        continuous_min=continuous_min,
        sit_sets=tuple(set_index[s] for s in sit_sets), sit_kind=sit_kind,
        sit_segment=(_blocks(segment_lo), _blocks(segment_hi)), sit_confirm=_blocks(SIT_CONFIRM_MS),
        bridge=bridge, off_depth=10.0 ** (-OFF_DEPTH_DB / 10.0),
        silence_energy=block_energy * 10.0 ** (silence_threshold_dbm0 / 10.0),
        voice_energy=block_energy * 10.0 ** (voice_threshold_dbm0 / 10.0),
        silence_blocks=max(1, _blocks(silence_ms)), voice_blocks=max(1, _blocks(voice_ms)),
    )


class _Features:
    """What each block of each channel holds, and what a block carries to the next.

    Carried per frequency and channel, arrays ``(frequencies, channels)``: the conjugate of the
    phasor a steady tone would show in the next block (``ahead``); the least ``Re(turn)`` a
    steady tone's turn from it reaches, per unit of the next magnitude (``reach``); whether the
    frequency was above its level floor (``strong``; a weak one is too faint to tell: any turn
    then passes, and the level's hysteresis does not apply). Every operation runs along the
    channels; the constants are laid out over all channels and the single block of the usual
    call has its buffers, as a numpy call on small arrays costs more than its arithmetic (and a
    broadcast, a masked selection or a mixed-type operand several times more).
    """

    def __init__(self, d: ProgressDescriptor, channels: int):
        self.d = d
        m = len(d.ahead)
        shape = (m, channels)
        self.ahead = np.zeros(shape, dtype=np.complex64)
        self.reach = np.zeros(shape, dtype=np.float32)
        self.strong = np.zeros(shape, dtype=bool)
        self.turn = np.ascontiguousarray(np.broadcast_to(d.ahead, shape))
        self.cos_tolerance = np.ascontiguousarray(np.broadcast_to(d.cos_tolerance, shape))
        # level floors of a frequency weak and strong in the last block, as (2, 1) for (2, channels)
        self.floors = np.array([[d.min_magnitude], [d.min_magnitude_held]], dtype=np.float32)
        self.min_share = np.float32(d.min_share)
        self.max_twist = np.float32(d.max_twist)
        self.set_ids = d.set_ids
        self.x = np.zeros((channels, d.block), dtype=np.float32)  # the usual call's block
        self.fitted = np.zeros((channels, d.fit.shape[1]), dtype=np.float32)
        self.energy = np.zeros(channels, dtype=np.float32)
        self.code = np.zeros(channels, dtype=np.float32)
        self.phasor = np.zeros(shape, dtype=np.complex64)
        self.magnitude = np.zeros(shape, dtype=np.float32)
        self.turned = np.zeros(shape, dtype=np.complex64)
        self.bound = np.zeros(shape, dtype=np.float32)
        self.share = np.zeros(channels, dtype=np.float32)
        self.thresholds = np.zeros((2, 1, channels), dtype=np.float32)
        self.above = np.zeros((2,) + shape, dtype=bool)
        self.strong_now = np.zeros(shape, dtype=bool)
        self.failed = np.zeros(shape, dtype=bool)
        self.holds = np.zeros(shape, dtype=bool)
        if not d.singletons:
            np.copyto(self.thresholds, self.floors[:, :, None])
        # views of the usual call's buffers, made once
        self.fitted_phasors = _phasors(self.fitted, m)
        self.fitted_total = self.fitted[:, 2 * m]
        self.total = np.zeros(channels, dtype=np.float32)
        self.share_thresholds = self.thresholds[:, 0]
        self.turned_real = self.turned.real

    def reset(self, channel: int) -> None:
        self.ahead[:, channel] = 0
        self.reach[:, channel] = 0
        self.strong[:, channel] = False

    def single(self, frames: np.ndarray):
        """``(code, energy)`` of one block of int16 ``frames`` ``(channels, block)``, in buffers
        that the next call overwrites."""
        x = self.x
        np.copyto(x, frames, casting="unsafe")
        np.matmul(x, self.d.fit, out=self.fitted)
        _block_energy(x, self.fitted_total, self.energy, self.total)
        self._hold(self.fitted_phasors, self.fitted, self.energy, self.code)
        return self.code, self.energy

    def blocks(self, x: np.ndarray):
        """``(code, energy)``, each ``(blocks, channels)``, of ``x`` ``(blocks, channels, block)`` float32."""
        count, channels, n = x.shape
        rows = x.reshape(count * channels, n)
        fitted = (rows @ self.d.fit).reshape(count, channels, -1)
        energy = np.empty(count * channels, dtype=np.float32)
        total = fitted[:, :, 2 * len(self.turn)].reshape(-1)
        _block_energy(rows, total, energy, np.empty_like(total))
        energy = energy.reshape(count, channels)
        code = np.empty((count, channels), dtype=np.float32)
        for b in range(count):  # the level's hysteresis runs from block to block
            self._hold(_phasors(fitted[b], len(self.turn)), fitted[b], energy[b], code[b])
        return code, energy

    def _hold(self, phasors, fitted: np.ndarray, energy: np.ndarray, code: np.ndarray) -> None:
        """Into ``code``: 1 + the frequency set a block holds, 0 for none; carry it to the next block.

        ``fitted`` is the block's product with the descriptor's ``fit``, ``(channels, columns)``,
        and ``phasors`` its view as ``_phasors`` gives it.
        """
        d = self.d
        phasor, magnitude = self.phasor, self.magnitude
        np.copyto(phasor, phasors)
        np.abs(phasor, out=magnitude)  # squared: about the energy of that frequency in the block
        # Strong: above the level floor (the lower one if strong a block before) and, when every
        # set is one frequency, holding its share of the block's energy.
        if d.singletons:
            share = np.multiply(energy, self.min_share, out=self.share)
            np.sqrt(share, out=share)  # a frequency's squared magnitude is then its energy
            np.maximum(share, self.floors, out=self.share_thresholds)
        above = np.greater_equal(magnitude, self.thresholds, out=self.above)
        strong = np.logical_and(above[1], self.strong, out=self.strong_now)
        strong |= above[0]
        # Steady: the phasor turned from the last block's as a steady tone at the nominal frequency
        # would, within the tolerance; the turn's angle is the phase error, |turn| = |phasor| |ahead|.
        np.multiply(phasor, self.ahead, out=self.turned)
        bound = np.multiply(magnitude, self.reach, out=self.bound)
        failed = np.less(self.turned_real, bound, out=self.failed)
        failed &= self.strong  # a frequency weak a block before passes any turn
        holds = np.greater(strong, failed, out=self.holds)  # strong and steady
        np.multiply(phasor, self.turn, out=self.ahead)
        np.conjugate(self.ahead, out=self.ahead)
        np.multiply(magnitude, self.cos_tolerance, out=self.reach)
        self.strong, self.strong_now = strong, self.strong
        if not d.singletons:
            holds = self._set_holds(fitted, energy, holds)
        np.matmul(self.set_ids, holds, out=code)  # a set's share is over one half: at most one set holds

    def _set_holds(self, fitted, energy, holds) -> np.ndarray:
        """Sets of close frequencies: both held, within the twist, with the set's exact energy share."""
        d, m = self.d, len(self.turn)
        coordinates = fitted[:, 2 * m + 1:]
        set_energy = ((coordinates * coordinates) @ d.set_energy).T  # exact for close frequencies
        magnitude = self.magnitude
        weaker = np.minimum(magnitude[d.first], magnitude[d.second])
        stronger = np.maximum(magnitude[d.first], magnitude[d.second])
        held = (holds[d.first] & holds[d.second] & (stronger <= self.max_twist * weaker)
                & (set_energy >= self.min_share * energy))
        held &= np.add.reduce(held, axis=0) == 1  # overlapping sets (440 Hz in two) both fit: none
        return held


def _phasors(fitted: np.ndarray, components: int) -> np.ndarray:
    """The phasors in a block's product with ``fit``, as a ``(frequencies, channels)`` complex view."""
    return fitted[:, :2 * components].view(np.complex64).T


def _block_energy(rows: np.ndarray, total: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
    """Each row's energy without DC, from its sum over sqrt(block) ``total``, into ``out``."""
    _vecdot(rows, rows, out)
    np.subtract(out, np.multiply(total, total, out=scratch), out=out)
    np.maximum(out, _ZERO, out=out)  # rounding, on a block of DC alone


def _float32_at_least(x: float) -> np.float32:
    """The least float32 not below ``x``: float32 energies compare with it as with ``x`` itself."""
    y = np.float32(x)
    return y if y >= x else np.nextafter(y, np.float32(np.inf))


def _vecdot(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Row-by-row dot products, into ``out``."""
    return np.vecdot(a, b, out=out) if hasattr(np, "vecdot") else np.einsum("rn,rn->r", a, b, out=out)


class _Views:
    """Named memoryviews of 1-D arrays (see :meth:`ProgressDetector._one_channel_views`)."""

    def __init__(self, **arrays: np.ndarray):
        for name, array in arrays.items():
            setattr(self, name, memoryview(array))


class ProgressDetector:
    """Call-progress tones, SIT, silence and voice on ``channels`` lines of one tone plan.

    ``process(frames)`` takes int16 audio of shape ``(channels, n)``, any ``n`` (a partial block
    is kept for the next call), and returns the :class:`ProgressEvent` s decided in it, in time
    order. ``state(channel)`` and :attr:`states` tell what each line carries now: a tone's name,
    ``"silence"``, ``"voice"`` or ``None`` (not known yet). ``reset(channel)`` forgets a line's
    past, as at the start of a new call. The energy detector's thresholds are in dBm0 and ms.
    """

    def __init__(self, channels: int, plan: str = "china", sample_rate: int = SAMPLE_RATE_HZ, *,
                 silence_threshold_dbm0: float = SILENCE_THRESHOLD_DBM0,
                 voice_threshold_dbm0: float = VOICE_THRESHOLD_DBM0,
                 silence_ms: float = SILENCE_MS, voice_ms: float = VOICE_MS,
                 min_level_dbm0: float = MIN_LEVEL_DBM0):
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}")
        if silence_threshold_dbm0 > voice_threshold_dbm0:
            raise ValueError(f"the silence threshold ({silence_threshold_dbm0} dBm0) must not be above "
                             f"the voice threshold ({voice_threshold_dbm0} dBm0)")
        self.channels = c = int(channels)
        self.descriptor = d = make_descriptor(plan, sample_rate, silence_threshold_dbm0,
                                              voice_threshold_dbm0, silence_ms, voice_ms, min_level_dbm0)
        self.kinds = d.kinds
        self._tables(d)
        self._few_tables(d)
        self.samples = 0  # per channel, in whole blocks; event times count from here
        self._now = 0  # blocks processed
        self._pending = np.zeros((c, 0), dtype=np.int16)
        self._features = _Features(d, c)
        # Bursts: a run of blocks holding one frequency set, and the off time after it.
        self._tone_set = np.full(c, -1)  # set of the current or last burst
        self._expect = np.zeros(c, dtype=np.float32)  # code that continues the open burst, or 0
        self._open = np.zeros(c, dtype=bool)  # the burst has not been judged ended yet
        self._peak = np.zeros(c, dtype=np.float32)  # energy of the burst's first block
        self._loud = np.full(c, np.inf, dtype=np.float32)  # off-time blocks above this are loud
        # The last burst: the cadenced kind whose on time it fits, the kind it is instead if the
        # next burst comes soon enough, the off time that confirms the fit, the fit's longest
        # off time (one row of ``_cadence``); the four attributes are column views.
        self._fits = np.tile(self._cadence[-1], (c, 1))
        self._fit, self._rival, self._confirm, self._fit_off_max = self._fits.T
        self._sit_stage = np.zeros(c, dtype=np.int64)  # SIT segments heard in order
        self._reported = np.full(c, -1)  # kind reported and still going, or -1
        self._energy_state = np.full(c, _NONE)
        # Counters, in blocks: since the burst's last holding block (off time), of quiet, of
        # sound that is no tone, of the burst (its length), and of loud off-time blocks; and
        # the counts at which each channel's next decision falls due.
        self._runs = np.zeros((5, c), dtype=np.int64)
        self._dues = np.full((5, c), _NEVER)
        self._dues[_QUIET], self._dues[_SOUND] = d.silence_blocks, d.voice_blocks
        self._dirty, self._dirty_due = self._runs[_DIRTY], self._dues[_DIRTY]  # views
        self._counting = self._runs[:_DIRTY]  # the runs that grow every block
        self._restartable = self._runs[:_ON]
        self._louder = np.zeros(c, dtype=bool)  # this block: a loud off-time block
        self._restart = np.zeros((3, c), dtype=bool)  # this block: runs that restart (see _step)
        self._tonal, self._loudness, self._sound = self._restart[_OFF], self._restart[_QUIET:], self._restart[_SOUND]
        self._energy_thresholds = np.array([[_float32_at_least(d.silence_energy)],
                                            [_float32_at_least(d.voice_energy)]], dtype=np.float32)
        self._reached = np.zeros((5, c), dtype=bool)  # this block: runs at their due counts
        self._reached_flat = self._reached.reshape(-1)
        self._start = np.zeros(c, dtype=bool)  # this block: a burst starts (then: off time due)
        self._one_channel_views()
        self._start_runs = np.array([[1], [0]], dtype=np.int64)  # burst length, loud blocks at a start

    # -- public -------------------------------------------------------------------------------

    def process(self, frames: np.ndarray) -> list[ProgressEvent]:
        """Hear ``frames`` (int16, ``(channels, n)``); the events decided in them, in time order."""
        frames = check_frames(frames, self.channels)
        data = np.concatenate([self._pending, frames], axis=1) if self._pending.shape[1] else frames
        n = self.descriptor.block
        count = data.shape[1] // n
        if count * n != data.shape[1] or self._pending.shape[1]:
            self._pending = data[:, count * n:].copy()
        if count == 0:
            return []
        events: list[ProgressEvent] = []
        if count == 1:  # the media loop's case: one 20 ms frame, into buffers kept for it
            code, energy = self._features.single(data if data.shape[1] == n else data[:, :n])
            self._now += 1
            self.samples += n
            self._step(code, energy, events)
            return events
        x = data[:, :count * n].reshape(self.channels, count, n).transpose(1, 0, 2).astype(np.float32)
        code, energy = self._features.blocks(x)
        for b in range(count):
            self._now += 1
            self.samples += n
            self._step(code[b], energy[b], events)
        return events

    def reset(self, channel: int) -> None:
        """Forget everything heard on ``channel`` (its buffered partial block too)."""
        check_channel(channel, self.channels)
        d = self.descriptor
        self._pending[channel] = 0
        self._features.reset(channel)
        for array, value in ((self._tone_set, -1), (self._expect, 0.0), (self._open, False),
                             (self._peak, 0.0), (self._loud, np.inf), (self._sit_stage, 0),
                             (self._reported, -1), (self._energy_state, _NONE)):
            array[channel] = value
        self._fits[channel] = self._cadence[-1]
        self._runs[:, channel] = 0
        self._dues[:, channel] = (_NEVER, d.silence_blocks, d.voice_blocks, _NEVER, _NEVER)

    def state(self, channel: int) -> str | None:
        """What ``channel`` carries now: a tone's name, ``"silence"``, ``"voice"`` or ``None``."""
        check_channel(channel, self.channels)
        return self.states[channel]

    @property
    def states(self) -> list[str | None]:
        """:meth:`state` of every channel."""
        energy_names = {_NONE: None, _SILENT: SILENCE, _VOICED: VOICE}
        return [self.kinds[k] if k >= 0 else energy_names[int(e)]
                for k, e in zip(self._reported, self._energy_state)]

    def _tables(self, d: ProgressDescriptor) -> None:
        """Descriptor tables laid out for ``take``: one call gathers all a decision needs."""
        size = len(d.kinds) + 1
        kind = np.arange(size)
        kind[-1] = -1  # the extra entry stands for "none"
        cadenced = (kind >= 0) & ~d.continuous
        # Per kind (rows; the last is none): its set, shortest and longest off time, the burst
        # length that breaks it, the off time it is next judged at, when loud blocks break it.
        self._kind_table = np.column_stack([
            d.kind_set, d.off_min, d.off_max,
            np.where(cadenced, d.on_max + 1, _NEVER),
            np.where(kind >= 0, d.off_max + 1, _NEVER),
            np.where(cadenced, _DIRTY_BREAK, _NEVER),
            cadenced,
        ]).astype(np.int64)
        # Per set and burst length (row set * (longest + 1) + length; set -1 wraps to the
        # last): fit, rival, confirm and the fit's longest off time.
        self._cadence = np.stack([d.cadence_of, d.rival_of, d.confirm_of, d.off_max[d.cadence_of]],
                                 axis=-1).reshape(-1, 4).astype(np.int64)
        self._cadence_width = d.longest + 1
        # When an open burst is next judged by its length, per set, reported kind and SIT stage
        # (row ((set * kinds + kind + 1) * 4 + stage), set -1 wrapping to the last).
        sets = len(d.freq_sets) + 1
        s = np.arange(sets)[:, None, None]
        s = np.where(s < sets - 1, s, -1)
        k = np.arange(-1, size - 1)[None, :, None]  # column k + 1
        stage = np.arange(4)[None, None, :]
        steady = d.continuous_of[s]
        due = np.where((steady >= 0) & (k != steady), d.continuous_min[steady], _NEVER)
        due = np.minimum(due, np.where((k >= 0) & ~d.continuous[k], d.on_max[k] + 1, _NEVER))
        due = np.minimum(due, np.where((stage == 3) & (s == d.sit_sets[2]), d.sit_confirm, _NEVER))
        self._on_due_table = np.broadcast_to(due, (sets, size, 4)).reshape(-1).astype(np.int64)
        self._is_sit = np.zeros(sets, dtype=bool)  # per set (-1 last): a SIT frequency
        self._is_sit[list(d.sit_sets)] = True
        self._steady_table = np.column_stack([d.continuous_of,
                                              d.continuous_min[d.continuous_of]]).astype(np.int64)

    # -- the same decisions, one channel at a time: cheaper when only a few channels have one --

    def _few_tables(self, d: ProgressDescriptor) -> None:
        """The tables of :meth:`_tables` as Python lists, for one channel at a time."""
        self._kind_rows = [tuple(row) for row in self._kind_table.tolist()]
        self._cadence_rows = [tuple(row) for row in self._cadence.tolist()]
        self._on_due_list = self._on_due_table.tolist()
        self._steady_rows = [tuple(row) for row in self._steady_table.tolist()]
        self._off_depth = float(np.float32(d.off_depth))

    def _one_channel_views(self) -> None:
        """Memoryviews of the per-channel arrays: reading or writing one channel's entry through
        one costs a fraction of indexing the array (and float32 products of two float32 entries,
        exact in Python floats, round once when stored, as numpy's do)."""
        self._at = _Views(
            tone_set=self._tone_set, expect=self._expect, open=self._open, peak=self._peak, loud=self._loud,
            fit=self._fit, rival=self._rival, confirm=self._confirm, fit_off_max=self._fit_off_max,
            sit_stage=self._sit_stage, reported=self._reported, energy_state=self._energy_state,
            off=self._runs[_OFF], on=self._runs[_ON], dirty=self._dirty, off_due=self._dues[_OFF],
            quiet_due=self._dues[_QUIET], sound_due=self._dues[_SOUND], on_due=self._dues[_ON],
            dirty_due=self._dirty_due)

    def _burst_starts_few(self, channels, code, energy, events) -> None:
        """:meth:`_burst_starts` for the listed channels (ascending), one at a time."""
        d, at = self.descriptor, self._at
        code, energy = memoryview(code), memoryview(energy)
        kinds, size, on_due = self._kind_rows, len(self._kind_rows), self._on_due_list
        lo, hi = d.sit_segment
        s1, s2, s3 = d.sit_sets
        ended, found = [], []
        for c in channels:
            label = int(code[c]) - 1
            off_before = at.off[c] - 1
            k = at.reported[c]
            if k >= 0:
                row = kinds[k]
                if label != row[0] or off_before < row[1]:
                    self._end_tone_at(c, ended)
                    k = -1
            r = at.rival[c]
            if r >= 0:
                row = kinds[r]
                if (label == row[0] and row[1] <= off_before <= row[2] and at.dirty[c] <= _DIRTY_BREAK
                        and k != r):
                    self._recognise_at(c, r, found)
                    k = r
            stage = at.sit_stage[c]
            if stage or label in (s1, s2, s3):
                on_before = at.on[c] - off_before - 1
                follows = lo <= on_before <= hi and off_before <= d.bridge + 1
                before = at.tone_set[c]
                if label == s1:
                    stage = 1
                elif label == s2 and stage == 1 and before == s1 and follows:
                    stage = 2
                elif label == s3 and stage == 2 and before == s2 and follows:
                    stage = 3
                else:
                    stage = 0
                at.sit_stage[c] = stage
            at.tone_set[c] = label
            at.expect[c] = code[c]
            at.on[c] = 1
            at.dirty[c] = 0
            at.open[c] = True
            at.peak[c] = energy[c]
            at.loud[c] = np.inf
            at.off_due[c] = d.bridge + 1
            at.on_due[c] = on_due[((label * size + k + 1) << 2) + stage]
        self._emit(ended, found, events)

    def _off_decisions_few(self, channels, events) -> None:
        """:meth:`_off_decisions` for the listed channels (ascending), one at a time."""
        d, at, kinds = self.descriptor, self._at, self._kind_rows
        ended, found = [], []
        for c in channels:
            off = at.off[c]
            if at.open[c]:
                on = min(at.on[c] - off, d.longest)
                fit, rival, confirm, fit_off_max = self._cadence_rows[at.tone_set[c] * self._cadence_width + on]
                at.fit[c], at.rival[c], at.confirm[c], at.fit_off_max[c] = fit, rival, confirm, fit_off_max
                at.open[c] = False
                at.loud[c] = at.peak[c] * self._off_depth
                at.expect[c] = 0.0
                at.on_due[c] = _NEVER
                new_burst = True
            else:
                fit, rival, confirm, fit_off_max = at.fit[c], at.rival[c], at.confirm[c], at.fit_off_max[c]
                new_burst = False
            k = at.reported[c]
            row = kinds[k]
            loud = at.dirty[c]
            if off > row[2] or (row[6] and ((new_burst and fit != k and rival != k) or loud >= _DIRTY_BREAK)):
                self._end_tone_at(c, ended)
                k = -1
            clean = loud <= 0
            if confirm <= off <= fit_off_max and clean and k != fit:
                self._recognise_at(c, fit, found)
                k = fit
            row = kinds[k]
            at.off_due[c] = min(confirm if (k != fit and clean and off < confirm) else _NEVER, row[4])
            at.dirty_due[c] = row[5]
        self._emit(ended, found, events)

    def _on_decisions_few(self, channels, events) -> None:
        """:meth:`_on_decisions` for the listed channels (ascending), one at a time."""
        d, at, kinds, steady_of = self.descriptor, self._at, self._kind_rows, self._steady_rows
        size, on_due = len(kinds), self._on_due_list
        ended, steady, sit = [], [], []
        for c in channels:
            on, k, tone_set = at.on[c], at.reported[c], at.tone_set[c]
            if on >= kinds[k][3]:
                self._end_tone_at(c, ended)
                k = -1
            kind, length = steady_of[tone_set]
            if kind >= 0 and on >= length and k != kind:
                self._recognise_at(c, kind, steady)
                k = kind
            stage = at.sit_stage[c]
            if stage == 3 and tone_set == d.sit_sets[2] and on >= d.sit_confirm:
                at.sit_stage[c] = stage = 0
                self._recognise_at(c, d.sit_kind, sit)
                k = d.sit_kind
            at.on_due[c] = on_due[((tone_set * size + k + 1) << 2) + stage]
        self._emit(ended, steady + sit, events)

    def _energy_decisions_few(self, silent, voiced, events) -> None:
        """:meth:`_energy_decisions` for the listed channels (each ascending), one at a time."""
        d, at = self.descriptor, self._at
        for c in silent:
            events.append(ProgressEvent(c, SILENCE, self.samples))
            at.energy_state[c] = _SILENT
            at.quiet_due[c], at.sound_due[c] = _NEVER, d.voice_blocks
        for c in voiced:
            events.append(ProgressEvent(c, VOICE, self.samples))
            at.energy_state[c] = _VOICED
            at.quiet_due[c], at.sound_due[c] = d.silence_blocks, _NEVER

    def _end_tone_at(self, c, ended) -> None:
        at = self._at
        ended.append(c)
        at.reported[c] = -1
        at.dirty_due[c] = _NEVER
        at.quiet_due[c] = self.descriptor.silence_blocks
        at.sound_due[c] = self.descriptor.voice_blocks

    def _recognise_at(self, c, kind, found) -> None:
        at = self._at
        found.append((c, kind))
        at.reported[c] = kind
        at.energy_state[c] = _NONE
        at.quiet_due[c] = _NEVER
        at.sound_due[c] = _NEVER
        at.dirty_due[c] = self._kind_rows[kind][5]

    def _emit(self, ended, found, events) -> None:
        """Events in the order the all-channel methods give them: every tone's end, then tones."""
        if ended:
            events.extend(ProgressEvent(c, TONE_END, self.samples) for c in ended)
        if found:
            events.extend(ProgressEvent(c, self.kinds[k], self.samples) for c, k in found)

    # -- one block: a few array operations; decisions only where one falls due ----------------

    def _step(self, code, energy, events) -> None:
        """Advance every channel by one block (``code``: 1 + the set it holds, or 0); add its events."""
        np.add(self._counting, 1, out=self._counting)
        louder = np.greater(energy, self._loud, out=self._louder)
        if np.count_nonzero(louder):  # loud off-time blocks are rare: most blocks skip the add
            np.add(self._dirty, louder, out=self._dirty)
        tonal = np.greater(code, _ZERO, out=self._tonal)
        start = np.not_equal(code, self._expect, out=self._start)
        start &= tonal
        starts = start.nonzero()[0]
        if len(starts) > _FEW:
            self._burst_starts(start, code, energy, events)
        elif len(starts):
            self._burst_starts_few(starts.tolist(), code, energy, events)
        # The runs that restart: off time (holding), quiet (not quiet), sound (a plan tone or no sound).
        np.greater_equal(energy, self._energy_thresholds, out=self._loudness)  # not quiet; sound
        np.greater_equal(tonal, self._sound, out=self._sound)  # holding, or no sound
        np.putmask(self._restartable, self._restart, 0)
        reached = np.greater_equal(self._runs, self._dues, out=self._reached)
        flat = self._reached_flat.nonzero()[0]  # (a 1-D nonzero is several times cheaper)
        if len(flat):
            self._decisions(reached, *zip(*(divmod(i, self.channels) for i in flat.tolist())), events)

    def _decisions(self, reached, rows, channels, events) -> None:
        """Every channel with a run grown to a decision (``reached``, listed as its ``rows`` and
        ``channels``, row by row): burst length, off time, then energy."""
        told = len(events)
        if _ON in rows:
            on = [c for r, c in zip(rows, channels) if r == _ON]
            if len(on) > _FEW:
                self._on_decisions(reached[_ON], events)
            else:
                self._on_decisions_few(on, events)
            np.greater_equal(self._dirty, self._dirty_due, out=reached[_DIRTY])  # its due counts may move
            rows, channels = zip(*(divmod(i, self.channels) for i in self._reached_flat.nonzero()[0].tolist()))
        off = [c for r, c in zip(rows, channels) if r == _OFF or r == _DIRTY]
        if rows[0] == _OFF and rows[-1] == _DIRTY:  # both: in channel order, once each
            off = sorted(set(off))
        if len(off) > _FEW:
            self._off_decisions(np.logical_or(reached[_OFF], reached[_DIRTY]), self._runs[_OFF], events)
        elif off:
            self._off_decisions_few(off, events)
        if len(events) > told:  # a tone reported or ended moves the energy decisions' due counts
            energy = np.greater_equal(self._runs[_QUIET:_SOUND + 1], self._dues[_QUIET:_SOUND + 1],
                                      out=reached[_QUIET:_SOUND + 1])
            if np.count_nonzero(energy):
                self._energy_decisions(energy[0], energy[1] & ~energy[0], events)
        elif _QUIET in rows or _SOUND in rows:
            silent = [c for r, c in zip(rows, channels) if r == _QUIET]
            voiced = [c for r, c in zip(rows, channels) if r == _SOUND]
            if silent and voiced:
                voiced = sorted(set(voiced) - set(silent))
            if len(silent) + len(voiced) > _FEW:
                energy = reached[_QUIET:_SOUND + 1]
                self._energy_decisions(energy[0], energy[1] & ~energy[0], events)
            else:
                self._energy_decisions_few(silent, voiced, events)

    def _burst_starts(self, start, code, energy, events) -> None:
        """New bursts: judge the reported cadence and the SIT order against the burst before."""
        d = self.descriptor
        label = code.astype(np.int64)
        label -= 1
        runs = self._runs
        off_before = runs[_OFF] - 1  # the off time before this block
        k = self._reported
        reported = start & (k >= 0)
        if np.count_nonzero(reported):
            kt = self._kind_table.take(k, axis=0)
            broken = (label != kt[:, 0]) | (off_before < kt[:, 1])
            broken &= reported
            if np.count_nonzero(broken):
                self._end_tones(broken, events)
        r = self._rival  # the burst before fitted two kinds: the off time settles it
        rivals = start & (r >= 0)
        if np.count_nonzero(rivals):
            rt = self._kind_table.take(r, axis=0)
            self._recognise(rivals & (label == rt[:, 0]) & (off_before >= rt[:, 1]) & (off_before <= rt[:, 2])
                            & (self._dirty <= _DIRTY_BREAK) & (self._reported != r), r, events)
        stage, before = self._sit_stage, self._tone_set
        if np.count_nonzero(start & (self._is_sit.take(label, mode="wrap") | (stage != 0))):
            on_before = runs[_ON] - runs[_OFF]
            lo, hi = d.sit_segment
            follows = (on_before >= lo) & (on_before <= hi) & (off_before <= d.bridge + 1)
            s1, s2, s3 = d.sit_sets
            stage = np.where(label == s1, 1, np.where(
                (label == s2) & (stage == 1) & (before == s1) & follows, 2, np.where(
                    (label == s3) & (stage == 2) & (before == s2) & follows, 3, 0)))
            np.copyto(self._sit_stage, stage, where=start)
        np.copyto(before, label, where=start)
        np.copyto(self._expect, code, where=start)
        np.copyto(runs[_ON:], self._start_runs, where=start)  # burst length 1, no loud blocks
        np.copyto(self._open, True, where=start)
        np.copyto(self._peak, energy, where=start)
        np.copyto(self._loud, np.inf, where=start)  # the edges of a burst are never loud off time
        np.copyto(self._dues[_OFF], d.bridge + 1, where=start)
        self._set_on_due(start)

    def _set_on_due(self, mask) -> None:
        """When the open bursts of ``mask`` are next judged by their length."""
        row = self._tone_set * len(self._kind_table)
        row += self._reported
        row += 1
        row *= 4
        row += self._sit_stage
        np.copyto(self._dues[_ON], self._on_due_table.take(row, mode="wrap"), where=mask)

    def _on_decisions(self, due, events) -> None:
        """Open bursts grown long enough: a continuous tone, SIT, or a burst too long for its cadence."""
        d = self.descriptor
        on = self._runs[_ON]
        too_long = due & (on >= self._kind_table[:, 3].take(self._reported))
        if np.count_nonzero(too_long):
            self._end_tones(too_long, events)
        steady = self._steady_table.take(self._tone_set, axis=0)
        self._recognise(due & (steady[:, 0] >= 0) & (on >= steady[:, 1]) & (self._reported != steady[:, 0]),
                        steady[:, 0], events)
        sit = due & (self._sit_stage == 3) & (self._tone_set == d.sit_sets[2]) & (on >= d.sit_confirm)
        if np.count_nonzero(sit):
            self._sit_stage[sit] = 0
            self._recognise(sit, np.full(self.channels, d.sit_kind), events)
        self._set_on_due(due)

    def _off_decisions(self, due, off, events) -> None:
        """Off times grown long enough: a burst's end, a cadence confirmed or a tone ended."""
        d = self.descriptor
        runs = self._runs
        ended = due & self._open
        any_ended = np.count_nonzero(ended)
        if any_ended:
            row = np.minimum(runs[_ON] - off, d.longest)
            row += self._tone_set * self._cadence_width
            np.copyto(self._fits, self._cadence.take(row, axis=0, mode="wrap"), where=ended[:, None])
            np.copyto(self._open, False, where=ended)
            np.copyto(self._loud, self._peak * d.off_depth, where=ended)
            np.copyto(self._expect, 0.0, where=ended)
            np.copyto(self._dues[_ON], _NEVER, where=ended)
        k, fit, confirm = self._reported, self._fit, self._confirm
        kt = self._kind_table.take(k, axis=0)
        broken = self._dirty >= _DIRTY_BREAK
        if any_ended:
            broken |= ended & (fit != k) & (self._rival != k)
        broken &= kt[:, 6] != 0  # a cadenced tone
        broken |= off > kt[:, 2]
        broken &= due
        changed = np.count_nonzero(broken)
        if changed:
            self._end_tones(broken, events)
        clean = self._dirty <= 0
        found = due & (off >= confirm)
        if np.count_nonzero(found):
            found &= (off <= self._fit_off_max) & clean & (self._reported != fit)
            if np.count_nonzero(found):
                self._recognise(found, fit, events)
                changed = True
        k = self._reported
        if changed:
            kt = self._kind_table.take(k, axis=0)
        waiting = (k != fit) & clean & (off < confirm)
        nxt = np.where(waiting, confirm, _NEVER)
        np.minimum(nxt, kt[:, 4], out=nxt)
        np.copyto(self._dues[_OFF], nxt, where=due)
        np.copyto(self._dirty_due, kt[:, 5], where=due)

    def _recognise(self, found, kind, events) -> None:
        if not np.count_nonzero(found):
            return
        channels = np.flatnonzero(found)
        kinds = kind[channels]
        events.extend(ProgressEvent(int(c), self.kinds[k], self.samples) for c, k in zip(channels, kinds))
        self._reported[channels] = kinds
        self._energy_state[channels] = _NONE
        self._dues[_QUIET:_SOUND + 1, channels] = _NEVER
        self._dirty_due[channels] = self._kind_table[kinds, 5]

    def _end_tones(self, ended, events) -> None:
        channels = np.flatnonzero(ended)
        events.extend(ProgressEvent(int(c), TONE_END, self.samples) for c in channels)
        self._reported[channels] = -1
        self._dirty_due[channels] = _NEVER
        self._dues[_QUIET, channels] = self.descriptor.silence_blocks
        self._dues[_SOUND, channels] = self.descriptor.voice_blocks

    def _energy_decisions(self, silent, voiced, events) -> None:
        """Silence and voice, with hysteresis between the two thresholds; never while a tone is."""
        d = self.descriptor
        for mask, kind, state in ((silent, SILENCE, _SILENT), (voiced, VOICE, _VOICED)):
            channels = np.flatnonzero(mask)
            events.extend(ProgressEvent(int(c), kind, self.samples) for c in channels)
            self._energy_state[channels] = state
        self._dues[_QUIET, silent] = _NEVER
        self._dues[_SOUND, silent] = d.voice_blocks
        self._dues[_SOUND, voiced] = _NEVER
        self._dues[_QUIET, voiced] = d.silence_blocks
