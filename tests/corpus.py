"""Real recordings for talk-off tests: human speech and music, from Debian packages.

- Speech: the recorded voice prompts of ``asterisk-core-sounds-en-wav`` (a professional
  voice talent, 8 kHz 16-bit WAV), minus the files that are synthetic tones or silence.
- Music: the music-on-hold tracks of ``asterisk-moh-opsound-wav``.

``.ci/run`` installs both packages; a test that needs them fails (it does not skip) when they
are missing, so a talk-off figure is never silently measured on nothing.
"""

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from hotline.dsp.audiofile import read_audio

SPEECH_DIR = Path("/usr/share/asterisk/sounds/en")
MUSIC_DIR = Path("/usr/share/asterisk/moh")
NOT_SPEECH = re.compile(r"(beep|tone|silence)", re.IGNORECASE)
SAMPLE_RATE_HZ = 8000


def _files(folder: Path, package: str, exclude: re.Pattern | None = None) -> list[Path]:
    files = sorted(p for p in folder.rglob("*.wav") if not (exclude and exclude.search(str(p.relative_to(folder)))))
    if not files:
        raise FileNotFoundError(f"no recordings under {folder}; install the Debian package {package}")
    return files


@lru_cache(maxsize=None)
def speech() -> tuple[tuple[str, np.ndarray], ...]:
    """Every real speech recording as ``(name, int16 samples at 8 kHz)``."""
    return tuple((p.name, read_audio(p)) for p in _files(SPEECH_DIR, "asterisk-core-sounds-en-wav", NOT_SPEECH))


@lru_cache(maxsize=None)
def music() -> tuple[tuple[str, np.ndarray], ...]:
    """Every real music recording as ``(name, int16 samples at 8 kHz)``."""
    return tuple((p.name, read_audio(p)) for p in _files(MUSIC_DIR, "asterisk-moh-opsound-wav"))


def as_channels(recordings, chunk_s: float = 60.0, gap_s: float = 0.1) -> np.ndarray:
    """All recordings end to end (``gap_s`` of silence between them), cut into ``chunk_s`` channels.

    A batched receiver hears the whole corpus at once this way, shape ``(channels, n)``; the last
    channel is zero-padded.
    """
    gap = np.zeros(int(gap_s * SAMPLE_RATE_HZ), dtype=np.int16)
    stream = np.concatenate([part for _, samples in recordings for part in (samples, gap)])
    chunk = int(chunk_s * SAMPLE_RATE_HZ)
    channels = -(-len(stream) // chunk)
    out = np.zeros(channels * chunk, dtype=np.int16)
    out[:len(stream)] = stream
    return out.reshape(channels, chunk)


def total_seconds(recordings) -> float:
    return sum(len(samples) for _, samples in recordings) / SAMPLE_RATE_HZ
