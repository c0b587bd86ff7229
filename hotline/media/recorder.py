"""Recording to WAV files that stay readable when the process dies at any moment.

The header is written first with the sizes of what is there, and after every frame appended the
two size fields (RIFF and data) are rewritten in place with ``os.pwrite``. Data written with
``os.write`` sits in the kernel's page cache, which survives the process (SIGKILL, a crash), so
whatever was appended before the end is a complete, valid 16-bit 8 kHz mono WAV.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from hotline.drivers.base import SAMPLE_RATE_HZ
from hotline.errors import HotlineError

HEADER_BYTES = 44
RIFF_SIZE_OFFSET = 4
DATA_SIZE_OFFSET = 40
BYTES_PER_SAMPLE = 2


class RecordingError(HotlineError):
    """A recording cannot be written: the folder is missing or full, no permission."""


def _header(data_bytes: int) -> bytes:
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, 1,
                       SAMPLE_RATE_HZ, SAMPLE_RATE_HZ * BYTES_PER_SAMPLE, BYTES_PER_SAMPLE, 16, b"data", data_bytes)


class WavRecorder:
    """An open recording; :meth:`append` frames, :meth:`close` when done."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
            os.write(self._fd, _header(0))
        except OSError as exc:
            raise RecordingError(f"cannot record to {self.path}: {exc.strerror}") from exc
        self.samples = 0

    def append(self, frame: np.ndarray) -> None:
        data = np.asarray(frame, dtype="<i2").tobytes()
        try:
            os.write(self._fd, data)
            self.samples += len(data) // BYTES_PER_SAMPLE
            size = self.samples * BYTES_PER_SAMPLE
            os.pwrite(self._fd, struct.pack("<I", 36 + size), RIFF_SIZE_OFFSET)
            os.pwrite(self._fd, struct.pack("<I", size), DATA_SIZE_OFFSET)
        except OSError as exc:
            raise RecordingError(f"cannot write {self.path}: {exc.strerror}") from exc

    @property
    def duration_ms(self) -> int:
        return self.samples * 1000 // SAMPLE_RATE_HZ

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
