"""What every batched receiver checks of its input: int16 frames of all its channels, a valid channel.

The receivers (:mod:`~hotline.dsp.dtmf`, :mod:`~hotline.dsp.progress`,
:mod:`~hotline.dsp.callerid`) take ``(channels, n)`` int16 arrays; anything else is a
programming error that must name what was expected and what came.
"""

import numpy as np


def check_frames(frames, channels: int) -> np.ndarray:
    """``frames`` if it is an int16 array of shape ``(channels, n)``; ``ValueError`` otherwise."""
    if isinstance(frames, np.ndarray) and frames.dtype == np.int16 and frames.ndim == 2 \
            and frames.shape[0] == channels:
        return frames
    got = (f"{frames.dtype} array of shape {frames.shape}" if isinstance(frames, np.ndarray)
           else type(frames).__name__)
    raise ValueError(f"expected int16 frames of shape ({channels}, n), got {got}")


def check_channel(channel: int, channels: int) -> None:
    if not 0 <= channel < channels:
        raise ValueError(f"channel {channel} out of range 0..{channels - 1}")
