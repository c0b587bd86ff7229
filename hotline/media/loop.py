"""The frame loop: every 20 ms, every channel's audio at once.

One :meth:`MediaLoop.tick` does, for all lines of all boards as one ``(lines, 160)`` array:

1. read a frame from every board, and its line events;
2. DSP, batched over all channels: DTMF (:class:`~hotline.dsp.dtmf.DtmfReceiver`), call-progress
   tones, silence and voice (:class:`~hotline.dsp.progress.ProgressDetector`), and FSK caller ID
   on the trunks (:class:`~hotline.dsp.callerid.FskCallerIdReceiver`);
3. barge-in: a digit stops an interruptible prompt on its channel in the same tick;
4. recording: append each recording channel's frame, end on silence or maximum length;
5. playback: one gather from the prompt bank fills the output of every playing channel;
6. bridges: each bridged channel also sends what its peer received;
7. write a frame to every board.

It returns the tick's events (board line events first, then media events) for the call layer,
which runs at event rate. Per-sample work is array work over all channels; Python runs per
channel only for channels that record, start or finish something in this tick.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hotline.drivers.base import FRAME_SAMPLES, Board, LineEvent, LineKind
from hotline.dsp.callerid import FskCallerIdReceiver
from hotline.dsp.dtmf import DtmfReceiver
from hotline.dsp.levels import rms_for
from hotline.dsp.progress import ProgressDetector
from hotline.media.events import CallerIdHeard, DigitHeard, PlayFinished, RecordingFinished, ToneHeard
from hotline.media.prompts import Clip, PromptLibrary
from hotline.media.recorder import WavRecorder

log = logging.getLogger(__name__)

SILENCE_THRESHOLD_DBM0 = -45.0  # a recording frame quieter than this counts as silence
_NOT_PLAYING = -1
_NO_PEER = -1
_FRAME_OFFSETS = np.arange(FRAME_SAMPLES, dtype=np.int64)


@dataclass
class _Recording:
    recorder: WavRecorder
    max_samples: int
    silence_frames: int  # silent frames in a row that end it; 0 = never
    quiet: int = 0  # silent frames in a row so far
    heard_sound: bool = False  # silence ends a recording only after something was said


class MediaLoop:
    """The audio of every line of ``boards``; channel ``i`` is line ``i + 1``."""

    def __init__(self, boards: list[Board], prompts: PromptLibrary, country: str = "china"):
        self.boards = boards
        self.prompts = prompts
        self.lines = [line for board in boards for line in board.lines]
        if [line.number for line in self.lines] != list(range(1, len(self.lines) + 1)):
            raise ValueError("boards must number their lines 1..N in order")
        n = len(self.lines)
        self._slices = []
        start = 0
        for board in boards:
            self._slices.append(slice(start, start + len(board.lines)))
            start += len(board.lines)
        self.rx = np.zeros((n, FRAME_SAMPLES), np.int16)
        self.tx = np.zeros((n, FRAME_SAMPLES), np.int16)
        self.dtmf = DtmfReceiver(n)
        self.progress = ProgressDetector(n, plan=country)
        self.trunks = np.array([i for i, line in enumerate(self.lines) if line.kind == LineKind.TRUNK], np.int64)
        self.callerid = FskCallerIdReceiver(len(self.trunks)) if len(self.trunks) else None
        self.play_pos = np.full(n, _NOT_PLAYING, np.int64)
        self.play_end = np.zeros(n, np.int64)
        self.play_start = np.zeros(n, np.int64)
        self.play_loop = np.zeros(n, bool)
        self.barge_in = np.zeros(n, bool)
        self.play_token = np.zeros(n, np.int64)
        self._next_token = 1
        self.peer = np.full(n, _NO_PEER, np.int64)
        self.off_hook = np.zeros(n, bool)  # lines the box holds off hook (in a call): no caller ID there
        self.recordings: dict[int, _Recording] = {}
        self._silence_energy = rms_for(SILENCE_THRESHOLD_DBM0) ** 2 * FRAME_SAMPLES
        self.ticks = 0

    # -- commands from the call layer (take effect from the next tick) ------------------------

    def play(self, line: int, clip: Clip, barge_in: bool = False) -> int:
        """Start ``clip`` on ``line`` (replacing what played there); returns the play's token."""
        ch = line - 1
        self._finish_play(ch, interrupted=False, events=None)
        token = self._next_token
        self._next_token += 1
        self.play_pos[ch] = clip.start
        self.play_start[ch] = clip.start
        self.play_end[ch] = clip.start + clip.length
        self.play_loop[ch] = clip.loop
        self.barge_in[ch] = barge_in
        self.play_token[ch] = token
        return token

    def stop_play(self, line: int) -> None:
        self._finish_play(line - 1, interrupted=False, events=None)

    def playing(self, line: int) -> bool:
        return self.play_pos[line - 1] != _NOT_PLAYING

    def start_recording(self, line: int, path: Path, max_s: float, silence_s: float) -> None:
        self.stop_recording(line)
        self.recordings[line - 1] = _Recording(WavRecorder(path), int(max_s * 8000),
                                               int(silence_s * 1000) // 20)

    def stop_recording(self, line: int) -> int | None:
        """Close the recording on ``line``; its duration in ms, or None if there was none."""
        rec = self.recordings.pop(line - 1, None)
        if rec is None:
            return None
        rec.recorder.close()
        return rec.recorder.duration_ms

    def bridge(self, a: int, b: int) -> None:
        self.peer[a - 1], self.peer[b - 1] = b - 1, a - 1

    def unbridge(self, line: int) -> None:
        other = self.peer[line - 1]
        if other != _NO_PEER:
            self.peer[other] = _NO_PEER
        self.peer[line - 1] = _NO_PEER

    def reset_line(self, line: int, off_hook: bool = True) -> None:
        """A call starts (``off_hook``) or ends on ``line``: forget DSP state, stop playback,
        recording and bridges."""
        ch = line - 1
        self.off_hook[ch] = off_hook
        self.stop_play(line)
        self.stop_recording(line)
        self.unbridge(line)
        self.dtmf.reset(ch)
        self.progress.reset(ch)

    def retune(self, country: str) -> None:
        """Use another country's tone plan (a reload changed it)."""
        self.progress = ProgressDetector(len(self.lines), plan=country)

    # -- the tick -----------------------------------------------------------------------------

    def tick(self) -> list[LineEvent]:
        events: list[LineEvent] = []
        for board, part in zip(self.boards, self._slices):
            board.read(self.rx[part])
            events.extend(board.poll_events())
        rx = self.rx
        self._hear(rx, events)
        if self.recordings:
            self._record(rx, events)
        self._play(events)
        self._bridge(rx)
        for board, part in zip(self.boards, self._slices):
            board.write(self.tx[part])
        self.ticks += 1
        return events

    def _hear(self, rx: np.ndarray, events: list) -> None:
        for digit in self.dtmf.process(rx):
            events.append(DigitHeard(digit.channel + 1, digit.digit))
            if self.barge_in[digit.channel] and self.play_pos[digit.channel] != _NOT_PLAYING:
                self._finish_play(digit.channel, interrupted=True, events=events)
        for tone in self.progress.process(rx):
            events.append(ToneHeard(tone.channel + 1, tone.kind))
        if self.callerid is not None:
            heard = rx[self.trunks]
            heard[self.off_hook[self.trunks]] = 0  # caller ID comes on hook; silence keeps the receiver idle
            for result in self.callerid.process(heard):
                if result.message is not None:
                    line = int(self.trunks[result.channel]) + 1
                    events.append(CallerIdHeard(line, result.message.number, result.message.name))

    def _record(self, rx: np.ndarray, events: list) -> None:
        channels = np.fromiter(self.recordings, np.int64, len(self.recordings))
        frames = rx[channels].astype(np.float64)
        silent = np.einsum("ij,ij->i", frames, frames) < self._silence_energy
        for ch, quiet in zip(channels.tolist(), silent.tolist()):
            rec = self.recordings[ch]
            rec.recorder.append(rx[ch])
            rec.quiet = rec.quiet + 1 if quiet else 0
            rec.heard_sound = rec.heard_sound or not quiet
            reason = None
            if rec.recorder.samples >= rec.max_samples:
                reason = "max_length"
            elif rec.silence_frames and rec.heard_sound and rec.quiet >= rec.silence_frames:
                reason = "silence"
            if reason:
                duration = self.stop_recording(ch + 1)
                events.append(RecordingFinished(ch + 1, reason, duration))

    def _play(self, events: list) -> None:
        self.tx[:] = 0
        playing = np.flatnonzero(self.play_pos != _NOT_PLAYING)
        if not len(playing):
            return
        pos = self.play_pos[playing]
        # the bank has a frame of zeros after every clip, so reading past a clip's end is silence
        self.tx[playing] = self.prompts.bank[pos[:, None] + _FRAME_OFFSETS]
        pos += FRAME_SAMPLES
        end = self.play_end[playing]
        over = pos >= end
        looping = self.play_loop[playing]
        pos = np.where(over & looping, self.play_start[playing], pos)
        self.play_pos[playing] = pos
        for ch in playing[over & ~looping].tolist():
            self._finish_play(ch, interrupted=False, events=events)

    def _finish_play(self, ch: int, interrupted: bool, events: list | None) -> None:
        if self.play_pos[ch] == _NOT_PLAYING:
            return
        self.play_pos[ch] = _NOT_PLAYING
        if events is not None:
            events.append(PlayFinished(ch + 1, int(self.play_token[ch]), interrupted))

    def _bridge(self, rx: np.ndarray) -> None:
        bridged = np.flatnonzero(self.peer != _NO_PEER)
        if len(bridged):
            mixed = self.tx[bridged].astype(np.int32) + rx[self.peer[bridged]]
            self.tx[bridged] = np.clip(mixed, -32768, 32767)
