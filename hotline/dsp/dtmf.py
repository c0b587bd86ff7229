"""DTMF receiver: the digits pressed on any number of channels, all channels at once.

What does it do?
    :class:`DtmfReceiver` takes 16-bit 8 kHz audio of shape ``(channels, n)``, any ``n`` per
    call, and returns the DTMF digits (``0-9 * # A-D``) it recognises, one :class:`DtmfEvent`
    per key press, in time order. It meets the ITU-T Q.24 / Bellcore figures:

    - frequency: a tone off by up to ±1.5 % is accepted; ±3.5 % and beyond is rejected, in
      each group and direction (the band edge sits at ``FREQ_TOLERANCE_PCT``);
    - duration: a tone of 40 ms or more is accepted, one of 20 ms or less never is; a pause of
      40 ms or more separates two digits, also the same digit twice;
    - twist: up to 8 dB with the low group louder, 4 dB with the high group louder;
    - level: 0 down to -36 dBm0 per tone and below: every digit down to -44 dBm0 (the floor
      is ``MIN_TONE_LEVEL_DBM0``);
    - noise: every digit at 6 dB SNR per tone against flat 0-4 kHz noise;
    - G.711 μ-law and A-law round trips are transparent; 450 Hz dial tone at the tones' level
      does not stop detection;
    - talk-off: no digit from real recorded speech or music (the tests' corpus, 43 minutes);
    - talk-down: digits pressed over a prompt echo at -13.5 dBm0 are still detected (over
      99 % of them in the tests; SpanDSP's receiver finds about 70 % of the same).

How does it work?
    1. Every 10 ms block of every channel goes through a bank of 8 complex DFT bins at the
       DTMF frequencies, phase-referenced to the start of the stream
       (:class:`~hotline.dsp.goertzel.DftBank`: one stacked matrix product per call for all
       channels). Two consecutive blocks add up to a 20 ms window; windows follow every 10 ms.
       The energy of each block is measured after an ``x[n] - x[n-2]`` pre-filter, which keeps
       the DTMF band and suppresses DC, hum, dial tone and the loud low part of speech. The
       bins are scaled so that a window bin's power is its tone's share of that energy.
    2. A window is *valid* when the strongest bin of each group is above the level floor and
       the two carry at least ``MIN_WINDOW_TONE_ENERGY_PCT`` of the window's energy. These
       powers are those of the window's two 10 ms blocks, whose wide main lobes barely lose a
       tone that is off-frequency.
    3. ``CONFIRM_WINDOWS`` valid windows in a row (40 ms of signal) on a channel that is not
       holding a digit make a candidate. Only candidates are examined further, each over its
       three 20 ms windows:
       - the same digit is strongest in all three;
       - both tones hold their level (within ``LEVEL_STABILITY_DB``): a 20 ms burst cannot,
         since the first and last windows see only part of it;
       - both tones are on frequency. With the bins referenced to the start of the stream, a
         tone's phase advances from one window to the next by ``2*pi*offset*step/fs``; the
         mean advance over the candidate's two steps (20 ms in all) measures each tone's
         offset, which must lie within ``FREQ_TOLERANCE_PCT`` of its nominal frequency. (A
         step is unambiguous up to ±50 Hz; a tone further off has lost most of its power in
         the window, and the twist and energy tests below reject it);
       - with the tone powers corrected for the window's roll-off at the measured offsets,
         the level floor and the twist limits hold, and the tones carry at least
         ``MIN_TONE_ENERGY_PCT`` of the filtered energy, plus ``OFFSET_PENALTY_PCT_PER_PCT``
         for each percent the two tones are off: speech and music that happen to put two
         harmonics near a DTMF pair rarely put them on frequency too.
    4. The first confirmed candidate after a pause (``PAUSE_WINDOWS`` invalid windows in a
       row) is reported; the channel then holds the digit until the next pause.

    Per-sample work is array work over all channels together, a few dozen numpy operations
    per call whatever the number of channels. Stage 3 runs only when some channel has a
    candidate, on the channels that can report one: their windows are examined together, one
    array operation per step for all windows, candidates and tones, with the channels as the
    last axis. Audio is analysed ``BATCH_BLOCKS`` blocks (120 ms) at a time, so with 20 ms
    frames one call in six does the work and the fixed cost of the numpy operations is paid
    once per 120 ms; a digit is reported at most 110 ms later for it (its ``sample`` is
    unchanged: where the confirming window ended), 150 ms after the key went down at most.
    At the end of a recording, :meth:`DtmfReceiver.flush` analyses what is still waiting.
"""

from __future__ import annotations

import argparse
import sys
from typing import NamedTuple

import numpy as np

from hotline.dsp import SAMPLE_RATE_HZ
from hotline.dsp.frames import check_channel, check_frames
from hotline.dsp.goertzel import DftBank
from hotline.dsp.levels import sine_peak
from hotline.dsp.tones import DTMF_COL_HZ, DTMF_KEYS, DTMF_ROW_HZ
from hotline.errors import HotlineError

BLOCK_MS = 10  # the DFT bank's block; windows follow at this step
BATCH_BLOCKS = 12  # audio is analysed 120 ms at a time: with 20 ms frames one call in six does the
# work, so the fixed cost of a call is paid once per 120 ms; a digit is reported at most 110 ms
# after the 40 ms of tone that confirm it, 150 ms after the key went down: the delay ITU-T G.114
# keeps conversation unimpaired by
WINDOW_BLOCKS = 2  # a window is 20 ms
CONFIRM_WINDOWS = 3  # valid windows in a row that make a candidate: 20 + 2 * 10 = 40 ms
PAUSE_WINDOWS = 2  # invalid windows in a row that end a digit (a 40 ms gap holds 2 or 3)
FREQ_TOLERANCE_PCT = 2.2  # band edge between the ±1.5 % accepted and the ±3.5 % rejected
MIN_TONE_LEVEL_DBM0 = -45.0  # per tone, after correction for the frequency offset
WINDOW_LEVEL_MARGIN_DB = 5.0  # a valid window's tones may lie this much below that floor
NORMAL_TWIST_DB = 10.0  # low group louder (Q.24: 8 dB must be accepted)
REVERSE_TWIST_DB = 6.0  # high group louder (Q.24: 4 dB must be accepted)
MIN_WINDOW_TONE_ENERGY_PCT = 70.0  # tones' share of a window's filtered energy, to be valid
MIN_TONE_ENERGY_PCT = 72.0  # tones' share of a candidate's filtered energy, on frequency...
OFFSET_PENALTY_PCT_PER_PCT = 8.0  # ...plus this much per percent of frequency offset
LEVEL_STABILITY_DB = 4.0  # weakest of a candidate's windows against the strongest
PREFILTER_LAG = 2  # the energy pre-filter is x[n] - x[n - PREFILTER_LAG]
MIN_ROLLOFF = 0.1  # a window's power loss to a tone's offset is undone up to 10 dB

BINS_HZ = DTMF_ROW_HZ + DTMF_COL_HZ  # the bank's bins: rows 0-3, then columns 4-7
BIN_COUNT = len(BINS_HZ)
DIGITS_BY_CODE = "".join(DTMF_KEYS[row][col] for col in range(4) for row in range(4))  # code = row + 4*col

# Blocks kept from earlier calls: the candidates' windows but the newest block.
BLOCK_HISTORY = CONFIRM_WINDOWS + WINDOW_BLOCKS - 2
WINDOW_HISTORY = CONFIRM_WINDOWS - 1  # windows kept from earlier calls
RING_CALLS = 4  # history buffers hold this many calls before they move their history back
EXIT_USAGE = 2
DECODE_CHUNK_S = 10  # decode() feeds long recordings this many seconds at a time


class DtmfEvent(NamedTuple):
    """A digit recognised on ``channel``. ``sample`` counts that channel's samples from the first
    one given to the receiver; it is the last sample of the window that confirmed the digit."""

    channel: int
    digit: str
    sample: int


def _db_to_power(db: float) -> float:
    return 10.0 ** (db / 10.0)


class _Ring:
    """Rows of per-block data with the ``keep`` newest rows of earlier calls in front of each
    call's new rows, without copying them every call."""

    def __init__(self, keep: int, row_shape: tuple, dtype, capacity: int):
        self.keep = keep
        self.buf = np.zeros((keep + capacity,) + row_shape, dtype)
        self.pos = keep  # first row of the next call

    def advance(self, rows: int) -> np.ndarray:
        """A view of ``keep`` old rows followed by ``rows`` rows for the caller to fill."""
        if self.pos + rows > len(self.buf):
            old = self.buf[self.pos - self.keep:self.pos].copy()
            if self.keep + rows > len(self.buf):
                self.buf = np.zeros((self.keep + 2 * rows,) + self.buf.shape[1:], self.buf.dtype)
            self.buf[:self.keep] = old
            self.pos = self.keep
        self.pos += rows
        return self.buf[self.pos - rows - self.keep:self.pos]

    def clear(self, channel: int) -> None:
        """Forget the kept rows of ``channel`` (the axis after the rows)."""
        self.buf[self.pos - self.keep:self.pos, channel] = 0


class DtmfReceiver:
    """DTMF receiver for ``channels`` channels of ``sample_rate`` audio (see the module docs)."""

    def __init__(self, channels: int, sample_rate: int = SAMPLE_RATE_HZ):
        channels = int(channels)
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        block = sample_rate * BLOCK_MS // 1000
        if sample_rate < SAMPLE_RATE_HZ or block * 1000 != sample_rate * BLOCK_MS:
            raise ValueError(f"sample rate {sample_rate} Hz not supported; expected a multiple of "
                             f"{1000 // BLOCK_MS} Hz from {SAMPLE_RATE_HZ} Hz up")
        self.channels = channels
        self.sample_rate = int(sample_rate)
        self._block = block
        self._window = block * WINDOW_BLOCKS

        # A tone of peak A centred on a bin gives |bin| = A*N/2 over an N-sample window, and
        # has energy A^2/2 per sample: |bin|^2 * 2/N over the window. The pre-filter scales that
        # energy by |1 - exp(-j*w*lag)|^2. Scaling each bin by the root of both makes a window
        # bin's power its tone's share of the window's filtered energy.
        prefilter = 4.0 * np.sin(np.pi * PREFILTER_LAG * np.asarray(BINS_HZ) / self.sample_rate) ** 2
        self._bin_weight = prefilter * 2.0 / self._window
        self._bank = DftBank(BINS_HZ, block, self.sample_rate, gains=np.sqrt(self._bin_weight), dc_free=True)
        self._min_power = (sine_peak(MIN_TONE_LEVEL_DBM0) * self._window / 2.0) ** 2  # unweighted
        # A block's bin sees half the window's samples, so a quarter of a window bin's power;
        # the peaks of a window's two blocks add up to half of it.
        block_share = 1.0 / WINDOW_BLOCKS
        self._min_block_power = np.float32(
            self._min_power * self._bin_weight.min() * block_share / _db_to_power(WINDOW_LEVEL_MARGIN_DB))
        # Energies are kept scaled so that a window is valid when its blocks' tone powers exceed
        # its scaled energy.
        self._energy_scale = MIN_WINDOW_TONE_ENERGY_PCT / 100.0 * block_share
        self._min_share = MIN_TONE_ENERGY_PCT / 100.0
        self._offset_penalty = OFFSET_PENALTY_PCT_PER_PCT / 100.0
        self._normal_twist = _db_to_power(NORMAL_TWIST_DB)
        self._reverse_twist = _db_to_power(REVERSE_TWIST_DB)
        self._min_stability = _db_to_power(-LEVEL_STABILITY_DB)

        # For the candidates, per bin: the inverse of the frequency tolerance as a phase turned
        # over a candidate's steps (rad), and of the bin's weight.
        max_turn = (2.0 * np.pi * np.asarray(BINS_HZ) * FREQ_TOLERANCE_PCT / 100.0
                    * block / self.sample_rate * (CONFIRM_WINDOWS - 1))
        table = np.stack([1.0 / max_turn, 1.0 / self._bin_weight], axis=1)  # (bin, kind)
        self._digits = np.array(list(DIGITS_BY_CODE))  # by code
        codes = np.arange(len(DIGITS_BY_CODE))  # row + 4 * column
        self._tone_table = np.stack([table[codes % 4], table[4 + codes // 4]],  # (code, group, kind)
                                    axis=1).astype(np.float32)
        # The phase a tone turns over half a window, from the turn summed over the steps.
        self._half_window_turn = np.float32(WINDOW_BLOCKS / 2.0 / (CONFIRM_WINDOWS - 1))
        self._offset_share = self._offset_penalty * FREQ_TOLERANCE_PCT  # per tolerance, summed
        self._tone_floor = CONFIRM_WINDOWS * self._min_power  # a tone summed over a candidate's windows
        self._batch = block * BATCH_BLOCKS  # fewer samples than this wait for the next call
        self._carry = np.zeros((channels, self._batch), np.int16)  # samples not analysed yet
        self._carry_len = 0
        self._blocks_done = 0  # blocks analysed; the same for every channel
        capacity = RING_CALLS * BATCH_BLOCKS
        self._bins = _Ring(BLOCK_HISTORY, (channels, 2 * BIN_COUNT), np.float32, capacity)
        self._energy = _Ring(BLOCK_HISTORY, (channels,), np.float32, capacity)  # per block, scaled
        self._peaks = _Ring(1, (channels, 2), np.float32, capacity)  # per block: row, column
        self._valid = _Ring(WINDOW_HISTORY, (channels,), bool, capacity)  # per window
        self._held = np.zeros(channels, bool)  # a digit was reported and no pause came since
        self._any_held = False
        self._work: dict[int, dict[str, np.ndarray]] = {}

    def reset(self, channel: int) -> None:
        """Forget ``channel``'s past, for a channel that starts a new call."""
        check_channel(channel, self.channels)
        self._carry[channel] = 0
        for ring in (self._bins, self._energy, self._peaks, self._valid):
            ring.clear(channel)
        self._held[channel] = False

    def process(self, frames: np.ndarray) -> list[DtmfEvent]:
        """Feed ``frames`` (int16, shape ``(channels, n)``); the digits recognised, in time order."""
        check_frames(frames, self.channels)
        carry = self._carry_len
        total = carry + frames.shape[1]
        blocks = total // self._block
        if total < self._batch:
            self._carry[:, carry:total] = frames
            self._carry_len = total
            return []
        work = self._work.get(blocks) or self._workspace(blocks)
        samples = work["samples"]
        used = blocks * self._block - carry
        rest = frames.shape[1] - used
        if carry:
            samples[:, :carry] = self._carry[:, :carry]
            samples[:, carry:] = frames[:, :used]
        elif rest:
            samples[:] = frames[:, :used]
        else:
            np.copyto(samples, frames)
        if rest:
            self._carry[:, :rest] = frames[:, used:]
        self._carry_len = rest
        return self._analyse(blocks, work)

    def flush(self) -> list[DtmfEvent]:
        """Analyse the audio still waiting for a whole batch (all but part of a block); the digits
        in it. For the end of a recording: a live stream, which keeps coming, needs no flush."""
        blocks = self._carry_len // self._block
        if not blocks:
            return []
        work = self._work.get(blocks) or self._workspace(blocks)
        whole = blocks * self._block
        work["samples"][:] = self._carry[:, :whole]
        rest = self._carry_len - whole
        self._carry[:, :rest] = self._carry[:, whole:whole + rest].copy()
        self._carry_len = rest
        return self._analyse(blocks, work)

    def _workspace(self, blocks: int) -> dict[str, np.ndarray]:
        """Buffers for calls of ``blocks`` blocks, kept between calls."""
        c, n = self.channels, blocks * self._block
        # Sums a block's filtered samples but its first PREFILTER_LAG, whose difference would
        # reach into the previous block (or, in the flat difference, another channel).
        block_sum = np.full(self._block, self._energy_scale * self._block / (self._block - PREFILTER_LAG),
                            np.float32)
        block_sum[:PREFILTER_LAG] = 0.0
        samples = np.zeros((c, n), np.float32)
        filtered = np.zeros((c, n), np.float32)
        squares = np.zeros((blocks, c, 2 * BIN_COUNT), np.float32)
        power = np.zeros((blocks, c, BIN_COUNT), np.float32)
        # The filtered energy of each candidate ending in this call, from its blocks' energies
        # (the call's and BLOCK_HISTORY before): a block counts once per window it is in, and
        # the energy scale is undone.
        counts = np.convolve(np.ones(CONFIRM_WINDOWS), np.ones(WINDOW_BLOCKS)) / self._energy_scale
        candidate_energy = np.zeros((blocks, blocks + BLOCK_HISTORY), np.float32)
        for window in range(blocks):
            candidate_energy[window, window:window + len(counts)] = counts
        work = {
            "samples": samples,
            "block_sum": block_sum,
            "squares": squares,
            "power": power,
            "tones": np.zeros((blocks, c, 2), np.float32),
            "window_energy": np.zeros((blocks, c), np.float32),
            "candidate_energy": candidate_energy,
            # Views, made once: the bank's input (blocks, channels, block), the flat arrays of
            # the pre-filter, the filtered blocks (blocks, channels, block), the squared bins'
            # real and imaginary parts, the power of each group's bins.
            "bank_in": self._bank.blocks_view(samples),
            "flat_ahead": samples.reshape(-1)[PREFILTER_LAG:],
            "flat_behind": samples.reshape(-1)[:-PREFILTER_LAG],
            "flat_filtered": filtered.reshape(-1),
            "filtered_ahead": filtered.reshape(-1)[PREFILTER_LAG:],
            "filtered_blocks": self._bank.blocks_view(filtered),
            "real": squares[:, :, 0::2],
            "imag": squares[:, :, 1::2],
            "bin_power": [power.reshape(blocks, c, 2, 4)[:, :, :, b] for b in range(4)],
        }
        if len(self._work) >= 4:
            self._work.clear()
        self._work[blocks] = work
        return work

    def _analyse(self, blocks: int, work: dict[str, np.ndarray]) -> list[DtmfEvent]:
        """Stages 1-4 of the module docs for the ``blocks`` blocks in ``work["samples"]``."""

        # 1. Block bins, and the filtered energy of each block and window (scaled).
        bins = self._bins.advance(blocks)  # (BLOCK_HISTORY + blocks, channels, 16)
        new_bins = bins[BLOCK_HISTORY:]
        np.matmul(work["bank_in"], self._bank.matrices(self._blocks_done, blocks), out=new_bins)
        filtered = work["flat_filtered"]
        np.subtract(work["flat_ahead"], work["flat_behind"], out=work["filtered_ahead"])
        np.multiply(filtered, filtered, out=filtered)
        energy = self._energy.advance(blocks)  # (BLOCK_HISTORY + blocks, channels)
        np.matmul(work["filtered_blocks"], work["block_sum"], out=energy[BLOCK_HISTORY:])
        window_energy = np.add(energy[BLOCK_HISTORY - 1:-1], energy[BLOCK_HISTORY:],
                               out=work["window_energy"])

        # 2. The strongest bin of each group in each block; validity of the windows.
        np.multiply(new_bins, new_bins, out=work["squares"])  # re0, im0, re1, im1, ... per channel
        np.add(work["real"], work["imag"], out=work["power"])
        peaks = self._peaks.advance(blocks)  # (1 + blocks, channels, group)
        bin_power = work["bin_power"]  # each the power of one bin of each group
        np.maximum(bin_power[0], bin_power[1], out=peaks[1:])
        np.maximum(peaks[1:], bin_power[2], out=peaks[1:])
        np.maximum(peaks[1:], bin_power[3], out=peaks[1:])
        tones = np.add(peaks[:-1], peaks[1:], out=work["tones"])  # per window
        row_tone, col_tone = tones[:, :, 0], tones[:, :, 1]
        valid_rows = self._valid.advance(blocks)  # (WINDOW_HISTORY + blocks, channels)
        valid = valid_rows[WINDOW_HISTORY:]
        np.greater(row_tone + col_tone, window_energy, out=valid)
        valid &= np.minimum(row_tone, col_tone) > self._min_block_power

        # 3. Pauses: PAUSE_WINDOWS invalid windows in a row. Candidates: CONFIRM_WINDOWS valid
        #    windows in a row on a channel armed by a pause.
        seen = valid
        for back in range(1, PAUSE_WINDOWS):
            seen = seen | valid_rows[WINDOW_HISTORY - back:WINDOW_HISTORY - back + blocks]
        run = valid
        for back in range(1, CONFIRM_WINDOWS):
            run = run & valid_rows[WINDOW_HISTORY - back:WINDOW_HISTORY - back + blocks]
        events: list[DtmfEvent] = []
        if np.count_nonzero(run):
            events = self._candidates(run, ~seen, bins, energy, work["candidate_energy"])
        elif self._any_held:
            np.logical_and(self._held, np.logical_and.reduce(seen, axis=0), out=self._held)
            self._any_held = bool(np.count_nonzero(self._held))
        self._blocks_done += blocks
        return events

    def _candidates(self, run: np.ndarray, pause: np.ndarray, bins: np.ndarray, energy: np.ndarray,
                    candidate_energy: np.ndarray) -> list[DtmfEvent]:
        """Stage 3 and 4 for the candidates ``run`` and pauses ``pause`` (both ``(windows,
        channels)``) of this call; keeps the held state."""
        paused = np.logical_or.reduce(pause, axis=0)
        # Only a channel armed when the call began (not held), or by a pause in it, can report.
        chans = np.nonzero(np.logical_or.reduce(run, axis=0) & (paused >= self._held))[0]
        held = self._held[chans]
        np.greater(self._held, paused, out=self._held)
        events = []
        if len(chans):
            # (np.take along the channel axis copies each channel's bins as one piece, and keeps
            # the result C-contiguous, as the complex view of the bins needs.)
            hits, codes = self._confirm(run[:, chans], np.take(bins, chans, axis=1),
                                        candidate_energy @ energy[:, chans])
            report = np.empty_like(hits)
            for window, window_pause in enumerate(pause[:, chans]):
                np.greater(held, window_pause, out=held)  # a pause releases the digit held
                np.greater(hits[window], held, out=report[window])
                held |= hits[window]
            self._held[chans] = held
            windows, picks = np.nonzero(report)  # in time order
            if len(windows):
                samples = (self._blocks_done + 1 + windows) * self._block - 1  # the windows' ends
                events = list(map(DtmfEvent._make, zip(chans[picks].tolist(),
                                                       self._digits[codes[windows, picks]].tolist(),
                                                       samples.tolist())))
        self._any_held = bool(np.count_nonzero(self._held))
        return events

    def _confirm(self, run: np.ndarray, bins: np.ndarray, energy: np.ndarray):
        """Which candidates of ``run`` (``(windows, k)`` for ``k`` channels, whose block bins are
        ``bins``: the call's blocks and ``BLOCK_HISTORY`` before) hold one steady digit on
        frequency, given each candidate's filtered ``energy``: ``(windows, k)`` bool, and the
        code of the digit strongest in each window (``row + 4 * column``), ``(windows, k)``.

        Each step is one array operation over all candidates of all channels."""
        y = _over_runs(np.add, bins, WINDOW_BLOCKS)  # (seen, k, 16): the windows' bins, re/im
        squares = y * y
        power = squares[:, :, 0::2] + squares[:, :, 1::2]  # (seen, k, bin)
        strongest = power.reshape(power.shape[:2] + (2, 4)).argmax(axis=3)  # (seen, k, group)
        pick = np.arange(0, 4 * strongest.size, 4).reshape(strongest.shape) + strongest
        tone_power = np.take(power, pick)  # (seen, k, group)
        tone = np.take(y.view(np.complex64), pick)
        code = strongest[:, :, 0] + 4 * strongest[:, :, 1]
        # The same digit strongest in every window of the candidate.
        hit = run & _over_runs(np.logical_and, code[1:] == code[:-1], CONFIRM_WINDOWS - 1)
        # Both tones hold their level.
        level = tone_power[:, :, 0] + tone_power[:, :, 1]
        hit &= (_over_runs(np.minimum, level, CONFIRM_WINDOWS)
                >= self._min_stability * _over_runs(np.maximum, level, CONFIRM_WINDOWS))
        # Frequency offsets: the phase advance of each tone from one window to the next, summed
        # over the candidate's steps.
        turn = tone[1:] * tone[:-1].conj()
        steps = np.arctan2(turn.imag, turn.real)  # (seen - 1, k, group), rad per block
        turned = np.abs(_over_runs(np.add, steps, CONFIRM_WINDOWS - 1))  # (windows, k, group)
        last = code[CONFIRM_WINDOWS - 1:]  # the candidates' digits
        per_tone = self._tone_table[last]  # (windows, k, group, kind)
        off = turned * per_tone[:, :, :, 0]  # as fractions of the tolerance
        hit &= np.maximum(off[:, :, 0], off[:, :, 1]) <= 1.0
        # Tone energies corrected for the window's roll-off at that offset: sinc(turn * W/2)^2
        # for a turn per step over a window of W blocks.
        half = turned * self._half_window_turn
        half += 1e-9
        rolloff = np.sin(half)
        rolloff /= half
        rolloff *= rolloff
        tone_energy = _over_runs(np.add, tone_power, CONFIRM_WINDOWS)
        tone_energy /= np.maximum(rolloff, MIN_ROLLOFF, out=rolloff)
        unweighted = tone_energy * per_tone[:, :, :, 1]
        row, col = unweighted[:, :, 0], unweighted[:, :, 1]
        hit &= np.minimum(row, col) >= self._tone_floor
        hit &= (row <= self._normal_twist * col) & (col <= self._reverse_twist * row)
        needed = self._min_share + self._offset_share * (off[:, :, 0] + off[:, :, 1])
        hit &= tone_energy[:, :, 0] + tone_energy[:, :, 1] >= needed * energy
        return hit, last


def _over_runs(ufunc, rows: np.ndarray, width: int) -> np.ndarray:
    """``ufunc`` over every ``width`` consecutive rows of ``rows``: ``len(rows) - width + 1`` rows."""
    count = len(rows) - width + 1
    out = rows[:count]
    for back in range(1, width):
        out = ufunc(out, rows[back:back + count])
    return out


def decode(samples: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> str:
    """All the digits in one channel of int16 ``samples``, as a string."""
    receiver = DtmfReceiver(1, sample_rate)
    samples = np.asarray(samples, np.int16).reshape(1, -1)
    chunk = DECODE_CHUNK_S * sample_rate
    events = [event for start in range(0, samples.shape[1], chunk)
              for event in receiver.process(samples[:, start:start + chunk])]
    return "".join(event.digit for event in events + receiver.flush())


def main(argv: list[str] | None = None) -> int:
    """``python -m hotline.dsp.dtmf FILE...``: print the DTMF digits found in each file."""
    from hotline.dsp.audiofile import read_audio  # only the command line reads files

    parser = argparse.ArgumentParser(
        prog="python -m hotline.dsp.dtmf",
        description="Print the DTMF digits in audio files: WAV (any common rate, width and "
                    "channel count) or raw signed 16-bit little-endian 8 kHz mono. With several "
                    "files, one line each: FILE: DIGITS.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio file to decode")
    args = parser.parse_args(argv)
    status = 0
    for name in args.files:
        try:
            digits = decode(read_audio(name))
        except (HotlineError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        print(f"{name}: {digits}" if len(args.files) > 1 else digits, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
