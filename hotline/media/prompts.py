"""The prompt library: prompts by name, converted once to 8 kHz int16 and kept in one bank.

Every prompt the box plays (and every generated tone: beep, ringback) lives in one int16 array,
the *bank*, at a fixed offset. A channel that plays something only holds two indices into the
bank, so the media loop fills the output frames of every playing channel with one gather, not a
Python loop per channel. Files are read with :func:`hotline.dsp.audiofile.read_audio` (any common
WAV kind, resampled to 8 kHz), once; a file that changed on disk is read again on next use.

A prompt name is a relative path without extension under ``<prompts_dir>/<language>/``
(``main-menu``, ``dept/welcome``). A missing or corrupt file raises :class:`PromptError` naming
the file: the call layer logs it and plays :data:`FALLBACK` so the caller never hears dead air.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hotline.drivers.base import FRAME_SAMPLES
from hotline.dsp import tones
from hotline.dsp.levels import to_pcm16
from hotline.errors import AudioFileError, HotlineError

PROMPT_NAME = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
BEEP_HZ = 1000.0
BEEP_MS = 300
BEEP_LEVEL_DBM0 = -12.0
FALLBACK = "tone:fallback"  # two short low tones: "something went wrong here", never silence
FALLBACK_HZ = 480.0
INITIAL_BANK_SAMPLES = 8000 * 60


class PromptError(HotlineError):
    """A prompt cannot be played: unknown name, missing or corrupt file."""


@dataclass(frozen=True)
class Clip:
    """A stretch of the bank: ``start`` and ``length`` in samples; ``loop`` repeats it forever."""

    name: str
    start: int
    length: int
    loop: bool = False


class PromptLibrary:
    """Prompts of one language from one folder, plus generated tones, all in one bank."""

    def __init__(self, prompts_dir: Path, language: str, country: str = "china"):
        self.folder = Path(prompts_dir) / language
        self.bank = np.zeros(INITIAL_BANK_SAMPLES, dtype=np.int16)
        self._used = 0
        self._clips: dict[str, tuple[Clip, float | None]] = {}
        self._add_tone("tone:beep", tones.sine(BEEP_HZ, tones.samples_for_ms(BEEP_MS), BEEP_LEVEL_DBM0))
        self._add_tone(FALLBACK, np.concatenate([
            tones.sine(FALLBACK_HZ, tones.samples_for_ms(200), -14.0), tones.silence(100),
            tones.sine(FALLBACK_HZ, tones.samples_for_ms(200), -14.0), tones.silence(200)]))
        ringback = tones.progress_tone(country, "ringback", sum(tones.plan(country)["ringback"].cadence_ms))
        self._add_tone("tone:ringback", ringback, loop=True)

    def get(self, name: str) -> Clip:
        """The clip for ``name`` (a prompt name or a ``tone:`` name); :class:`PromptError` if it cannot be had."""
        if name.startswith("tone:"):
            try:
                return self._clips[name][0]
            except KeyError:
                raise PromptError(f"unknown tone {name!r}") from None
        if not PROMPT_NAME.match(name):
            raise PromptError(f"bad prompt name {name!r}: letters, digits, '-', '_' and '/' only")
        path = self.folder / f"{name}.wav"
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise PromptError(f"prompt {name!r}: {path}: {exc.strerror}") from exc
        cached = self._clips.get(name)
        if cached and cached[1] == mtime:
            return cached[0]
        try:
            samples = _read_prompt(path)
        except AudioFileError as exc:
            raise PromptError(f"prompt {name!r}: {exc}") from exc
        clip = self._store(name, samples)
        self._clips[name] = (clip, mtime)
        return clip

    def _add_tone(self, name: str, samples: np.ndarray, loop: bool = False) -> None:
        pcm = to_pcm16(samples)
        if loop:  # a looping clip must fill whole frames so a frame never straddles the wrap
            pcm = np.resize(pcm, -(-len(pcm) // FRAME_SAMPLES) * FRAME_SAMPLES)
        self._clips[name] = (self._store(name, pcm, loop), None)

    def _store(self, name: str, pcm: np.ndarray, loop: bool = False) -> Clip:
        # one frame of silence after each clip: a gather running one frame past the end reads zeros
        need = self._used + len(pcm) + FRAME_SAMPLES
        if need > len(self.bank):
            grown = np.zeros(max(need, 2 * len(self.bank)), dtype=np.int16)
            grown[:self._used] = self.bank[:self._used]
            self.bank = grown
        start = self._used
        self.bank[start:start + len(pcm)] = pcm
        self.bank[start + len(pcm):need] = 0
        self._used = need
        return Clip(name, start, len(pcm), loop)


def _read_prompt(path: Path) -> np.ndarray:
    from hotline.dsp.audiofile import read_audio

    samples = read_audio(path)
    if len(samples) == 0:
        raise AudioFileError(f"{path}: no audio in the file")
    return samples
