"""The prompts shipped with hotline: one folder per language of 8 kHz 16-bit mono WAV files.

``tools/make-prompts`` speaks them with espeak-ng; a deployment may point ``paths.prompts_dir``
at its own recordings (any common WAV format; they are converted once when first played).
"""

from importlib.resources import files
from pathlib import Path


def shipped_prompts_dir() -> Path:
    return Path(str(files(__package__)))
