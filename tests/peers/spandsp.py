"""SpanDSP as a comparison peer: DTMF, call-progress and FSK caller-ID receivers through ctypes.

SpanDSP (Debian ``libspandsp2``, version 0.0.6, LGPL-2.1) is loaded at run time with ctypes and
only its public C API is called; no SpanDSP source is part of this project. Tests and benchmarks
use it to compare our own receivers in ``hotline/dsp/`` against an established implementation;
the product never imports this module and never loads the library.

All signals are 8000 Hz, 16-bit linear, mono. Sample arrays must be 1-D ``numpy.int16`` (a
contiguous array is passed to C without a copy). Sample indices reported by the
``process_with_times`` methods count every sample fed to that receiver since it was created,
so for a fresh receiver they are indices into the array given.

If the library is missing, :func:`load` raises :class:`SpanDspUnavailable` and
:func:`available` returns ``False``; tests skip on that.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterable

import numpy as np

SONAME = "libspandsp.so.2"
SAMPLE_RATE_HZ = 8000

# dtmf.h: digits held inside a receiver between dtmf_rx_get() calls; more are dropped.
MAX_DTMF_DIGITS = 128
# Samples per dtmf_rx() call in DtmfRx.process (1 s, far fewer digits than MAX_DTMF_DIGITS).
DTMF_CHUNK_SAMPLES = 8000
# dtmf_rx_parms(): these values leave a setting unchanged.
DTMF_PARM_UNCHANGED = -1
DTMF_THRESHOLD_UNCHANGED_DBM0 = -99

# adsi.h: ADSI_STANDARD_* codes.
ADSI_STANDARD_CLASS = 1  # Bellcore CLASS, Bell 202 FSK (1200/2200 Hz), 1200 bit/s
ADSI_STANDARD_CLIP = 2  # ETSI CLIP, V.23 FSK (1300/2100 Hz), 1200 bit/s
ADSI_STANDARD_ACLIP = 3
ADSI_STANDARD_JCLIP = 4
ADSI_STANDARD_CLIP_DTMF = 5
ADSI_STANDARD_TDD = 6
# adsi.h: CLASS message types and MDMF field codes used by the tests.
CLASS_SDMF_CALLERID = 0x04
CLASS_MDMF_CALLERID = 0x80
MCLASS_DATETIME = 0x01
MCLASS_CALLER_NUMBER = 0x02
MCLASS_CALLER_NAME = 0x07
ADSI_MAX_MESSAGE_BYTES = 256  # size of the message buffers in the ADSI states
ADSI_TX_BLOCK_SAMPLES = 160  # samples asked of adsi_tx() per call
ADSI_TX_MAX_SAMPLES = 30 * SAMPLE_RATE_HZ  # give up on a transmitter that never finishes

# Super-tone cadence windows around a nominal on/off time: nominal*(1 -/+ fraction) -/+ slack.
TONE_TOLERANCE = 0.20  # fraction of the nominal duration
TONE_SLACK_MS = 30  # ms, widens every window on both sides
# Continuous tones (dial) are reported after this much unbroken tone. It must exceed the
# longest window for a single burst of the same frequencies (China ringback: 1230 ms), or a
# ringback burst would be taken for dial tone.
DIAL_MIN_MS = 1500
DIAL_MAX_MS = 0  # super_tone_rx_add_element(): a maximum of 0 means unlimited

# Nominal plans: name -> (f1 Hz, f2 Hz or 0 for a single tone, (on ms, off ms) or () if
# continuous). Kept independent of hotline.dsp.toneplans on purpose: a peer must not share our
# data. The North American reorder tone is named "congestion", as in our plans.
TONE_PLANS: dict[str, dict[str, tuple[int, int, tuple[int, ...]]]] = {
    "china": {
        "dial": (450, 0, ()),
        "busy": (450, 0, (350, 350)),
        "congestion": (450, 0, (700, 700)),
        "ringback": (450, 0, (1000, 4000)),
    },
    "north_america": {
        "dial": (350, 440, ()),
        "busy": (480, 620, (500, 500)),
        "congestion": (480, 620, (250, 250)),
        "ringback": (440, 480, (2000, 4000)),
    },
}


class SpanDspUnavailable(Exception):
    """The SpanDSP shared library cannot be loaded."""


_I16P = ctypes.POINTER(ctypes.c_int16)
_U8P = ctypes.POINTER(ctypes.c_uint8)
# super_tone_rx.h tone_report_func_t, async.h put_msg_func_t. (dtmf_rx_init's
# digits_rx_callback_t is declared as a plain pointer: DtmfRx passes NULL and polls instead.)
TONE_REPORT_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int)
PUT_MSG_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, _U8P, ctypes.c_int)

_P = ctypes.c_void_p
_I = ctypes.c_int
_PROTOTYPES = {
    # name: (restype, argtypes)
    "dtmf_rx_init": (_P, [_P, _P, _P]),
    "dtmf_rx_parms": (None, [_P, _I, _I, _I, _I]),
    "dtmf_rx": (_I, [_P, _I16P, _I]),
    "dtmf_rx_get": (ctypes.c_size_t, [_P, ctypes.c_char_p, _I]),
    "dtmf_rx_free": (_I, [_P]),
    "super_tone_rx_make_descriptor": (_P, [_P]),
    "super_tone_rx_free_descriptor": (_I, [_P]),
    "super_tone_rx_add_tone": (_I, [_P]),
    "super_tone_rx_add_element": (_I, [_P, _I, _I, _I, _I, _I]),
    "super_tone_rx_init": (_P, [_P, _P, TONE_REPORT_FUNC, _P]),
    "super_tone_rx": (_I, [_P, _I16P, _I]),
    "super_tone_rx_free": (_I, [_P]),
    "adsi_rx_init": (_P, [_P, _I, PUT_MSG_FUNC, _P]),
    "adsi_rx": (_I, [_P, _I16P, _I]),
    "adsi_rx_free": (_I, [_P]),
    "adsi_tx_init": (_P, [_P, _I]),
    "adsi_tx_set_preamble": (None, [_P, _I, _I, _I, _I]),
    "adsi_tx": (_I, [_P, _I16P, _I]),
    "adsi_tx_put_message": (_I, [_P, _U8P, _I]),
    "adsi_add_field": (_I, [_P, _U8P, _I, ctypes.c_uint8, ctypes.c_char_p, _I]),
    "adsi_tx_free": (_I, [_P]),
}

_lib: ctypes.CDLL | None = None


def load() -> ctypes.CDLL:
    """The SpanDSP library with its prototypes declared; ``SpanDspUnavailable`` if missing."""
    global _lib
    if _lib is not None:
        return _lib
    name = ctypes.util.find_library("spandsp") or SONAME
    try:
        lib = ctypes.CDLL(name)
        for func, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(lib, func)
            fn.restype = restype
            fn.argtypes = argtypes
    except (OSError, AttributeError) as exc:
        raise SpanDspUnavailable(
            f"SpanDSP ({SONAME}) cannot be loaded: {exc}; install Debian's libspandsp2"
        ) from exc
    _lib = lib
    return lib


def available() -> bool:
    """Whether the SpanDSP library can be loaded."""
    try:
        load()
    except SpanDspUnavailable:
        return False
    return True


def _samples(samples: np.ndarray) -> np.ndarray:
    """``samples`` as a contiguous 1-D int16 array (no copy when it already is one)."""
    arr = np.asarray(samples)
    if arr.dtype != np.int16:
        raise TypeError(f"int16 samples expected, not {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"1-D samples expected, not {arr.ndim}-D")
    return np.ascontiguousarray(arr)


def _ptr(arr: np.ndarray, start: int = 0) -> ctypes._Pointer:
    """A ``int16_t *`` to ``arr[start]`` (``arr`` must stay referenced while C uses it)."""
    return ctypes.cast(arr.ctypes.data + 2 * start, _I16P)


class _State:
    """Owns one SpanDSP state allocated by its ``*_init(NULL, ...)``; freed by ``close``."""

    _free_name = ""

    def __init__(self) -> None:
        self._lib = load()
        self._s: int | None = None
        self.samples_fed = 0

    def _own(self, state: int | None, what: str) -> None:
        if not state:
            raise RuntimeError(f"SpanDSP {what} returned NULL")
        self._s = state

    def _state(self) -> int:
        if self._s is None:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._s

    def close(self) -> None:
        if self._s is not None:
            getattr(self._lib, self._free_name)(self._s)
            self._s = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: ctypes may already be gone
            pass


class DtmfRx(_State):
    """SpanDSP's DTMF receiver (``dtmf_rx``); digits are polled with ``dtmf_rx_get``."""

    _free_name = "dtmf_rx_free"

    def __init__(self) -> None:
        super().__init__()
        # No digits callback: digits are buffered in the state for dtmf_rx_get.
        self._own(self._lib.dtmf_rx_init(None, None, None), "dtmf_rx_init")
        self._buf = ctypes.create_string_buffer(MAX_DTMF_DIGITS + 1)  # + NUL

    def parms(
        self,
        filter_dialtone: int = DTMF_PARM_UNCHANGED,
        twist_db: int = DTMF_PARM_UNCHANGED,
        reverse_twist_db: int = DTMF_PARM_UNCHANGED,
        threshold_dbm0: int = DTMF_THRESHOLD_UNCHANGED_DBM0,
    ) -> DtmfRx:
        """``dtmf_rx_parms`` pass-through; the defaults leave each setting unchanged."""
        self._lib.dtmf_rx_parms(
            self._state(), filter_dialtone, twist_db, reverse_twist_db, threshold_dbm0
        )
        return self

    def _feed(self, arr: np.ndarray, start: int, stop: int) -> str:
        self._lib.dtmf_rx(self._state(), _ptr(arr, start), stop - start)
        self.samples_fed += stop - start
        n = self._lib.dtmf_rx_get(self._s, self._buf, MAX_DTMF_DIGITS)
        return self._buf.raw[:n].decode("ascii")

    def process(self, samples: np.ndarray) -> str:
        """Feed ``samples``; the digits detected in them."""
        arr = _samples(samples)
        return "".join(
            self._feed(arr, i, min(i + DTMF_CHUNK_SAMPLES, len(arr)))
            for i in range(0, len(arr), DTMF_CHUNK_SAMPLES)
        )

    def process_with_times(self, samples: np.ndarray, block: int = 160) -> list[tuple[str, int]]:
        """Feed ``samples`` in blocks; each digit with the end index of the block it appeared in."""
        arr = _samples(samples)
        out: list[tuple[str, int]] = []
        for i in range(0, len(arr), block):
            stop = min(i + block, len(arr))
            out.extend((digit, self.samples_fed) for digit in self._feed(arr, i, stop))
        return out


def tone_plan(plan: str = "china") -> dict[str, list[tuple[int, int, int, int]]]:
    """The super-tone elements of ``plan``: name -> [(f1, f2, min ms, max ms), ...].

    Frequencies 0 mean "none" (f2 of a single tone, both of a silent period); a max of 0 means
    unlimited. Cadenced tones are one on element and one off element, repeated.
    """
    try:
        nominal = TONE_PLANS[plan]
    except KeyError:
        raise ValueError(f"unknown tone plan {plan!r}; known: {', '.join(TONE_PLANS)}") from None

    def window(ms: int) -> tuple[int, int]:
        return (
            round(ms * (1 - TONE_TOLERANCE)) - TONE_SLACK_MS,
            round(ms * (1 + TONE_TOLERANCE)) + TONE_SLACK_MS,
        )

    elements = {}
    for name, (f1, f2, cadence) in nominal.items():
        if not cadence:
            elements[name] = [(f1, f2, DIAL_MIN_MS, DIAL_MAX_MS)]
        else:
            on_ms, off_ms = cadence
            elements[name] = [(f1, f2, *window(on_ms)), (0, 0, *window(off_ms))]
    return elements


class SuperToneRx(_State):
    """SpanDSP's supervisory-tone detector (``super_tone_rx``) set up with a call-progress plan.

    SpanDSP reports a tone once its whole pattern has been seen (for a cadence: one burst and
    the following silence up to its minimum), and reports its end when the cadence breaks.
    """

    _free_name = "super_tone_rx_free"

    def __init__(self, plan: str = "china") -> None:
        super().__init__()
        self.plan = plan
        elements = tone_plan(plan)
        self.names = tuple(elements)
        self._desc = self._lib.super_tone_rx_make_descriptor(None)
        if not self._desc:
            raise RuntimeError("SpanDSP super_tone_rx_make_descriptor returned NULL")
        for code, (name, tone_elements) in enumerate(elements.items()):
            if self._lib.super_tone_rx_add_tone(self._desc) != code:
                raise RuntimeError(f"SpanDSP gave tone {name!r} an unexpected code")
            for element in tone_elements:
                self._lib.super_tone_rx_add_element(self._desc, code, *element)
        self._codes: list[int] = []  # tone reports since the last drain
        self._callback = TONE_REPORT_FUNC(self._on_report)  # kept alive with the state
        self._own(
            self._lib.super_tone_rx_init(None, self._desc, self._callback, None),
            "super_tone_rx_init",
        )
        self.current: str | None = None  # the tone detected now, None between tones

    def _on_report(self, _user_data, code: int, _level: int, _delay: int) -> None:
        self._codes.append(code)

    def close(self) -> None:
        # The state points at the descriptor and super_tone_rx_free leaves it: state first.
        super().close()
        if getattr(self, "_desc", None):
            self._lib.super_tone_rx_free_descriptor(self._desc)
            self._desc = None

    def _feed(self, arr: np.ndarray, start: int, stop: int) -> list[str]:
        self._lib.super_tone_rx(self._state(), _ptr(arr, start), stop - start)
        self.samples_fed += stop - start
        started = []
        for code in self._codes:
            self.current = self.names[code] if code >= 0 else None
            if code >= 0:
                started.append(self.current)
        self._codes.clear()
        return started

    def process(self, samples: np.ndarray) -> list[str]:
        """Feed ``samples`` in one call; the names of the tones detected, in order."""
        arr = _samples(samples)
        return self._feed(arr, 0, len(arr))

    def process_with_times(self, samples: np.ndarray, block: int = 160) -> list[tuple[str, int]]:
        """Feed ``samples`` in blocks; each tone detected with the end index of its block."""
        arr = _samples(samples)
        out: list[tuple[str, int]] = []
        for i in range(0, len(arr), block):
            stop = min(i + block, len(arr))
            out.extend((name, self.samples_fed) for name in self._feed(arr, i, stop))
        return out


class AdsiRx(_State):
    """SpanDSP's ADSI (FSK caller ID) receiver.

    A message is delivered as type, length and body bytes; SpanDSP checks the checksum and
    strips it.
    """

    _free_name = "adsi_rx_free"

    def __init__(self, standard: int = ADSI_STANDARD_CLASS) -> None:
        super().__init__()
        self.standard = standard
        self._messages: list[bytes] = []
        self._callback = PUT_MSG_FUNC(self._on_message)  # kept alive with the state
        self._own(
            self._lib.adsi_rx_init(None, standard, self._callback, None), "adsi_rx_init"
        )

    def _on_message(self, _user_data, msg, length: int) -> None:
        if length > 0:  # defensively ignore any status report (negative length)
            self._messages.append(ctypes.string_at(msg, length))

    def process(self, samples: np.ndarray) -> list[bytes]:
        """Feed ``samples``; the messages completed in them."""
        arr = _samples(samples)
        self._lib.adsi_rx(self._state(), _ptr(arr), len(arr))
        self.samples_fed += len(arr)
        out, self._messages = self._messages, []
        return out


class AdsiTx(_State):
    """SpanDSP's ADSI transmitter, to produce reference caller-ID signals."""

    _free_name = "adsi_tx_free"

    def __init__(self, standard: int = ADSI_STANDARD_CLASS) -> None:
        super().__init__()
        self.standard = standard
        self._own(self._lib.adsi_tx_init(None, standard), "adsi_tx_init")

    def set_preamble(
        self, preamble_bits: int, preamble_ones_bits: int, postamble_ones_bits: int, stop_bits: int
    ) -> None:
        """``adsi_tx_set_preamble`` pass-through (seizure bits, mark bits before and after)."""
        self._lib.adsi_tx_set_preamble(
            self._state(), preamble_bits, preamble_ones_bits, postamble_ones_bits, stop_bits
        )

    def build_message(self, msg_type: int, fields: Iterable[tuple[int, bytes]]) -> bytes:
        """A message (type, length, fields; no checksum) built with ``adsi_add_field``.

        A field type of 0 appends the body bare, as SDMF wants; other types add type and length
        bytes before the body (MDMF).
        """
        buf = (ctypes.c_uint8 * ADSI_MAX_MESSAGE_BYTES)()
        n = self._lib.adsi_add_field(self._state(), buf, 0, msg_type, None, 0)
        for field_type, body in fields:
            n = self._lib.adsi_add_field(self._s, buf, n, field_type, bytes(body), len(body))
            if n <= 0 or n > ADSI_MAX_MESSAGE_BYTES:
                raise ValueError("ADSI message too long")
        if self.standard in (ADSI_STANDARD_CLASS, ADSI_STANDARD_CLIP, ADSI_STANDARD_ACLIP):
            buf[1] = n - 2  # SpanDSP 0.0.6 fills the length byte only in adsi_tx_put_message
        return bytes(buf[:n])

    def put_message(self, msg: bytes) -> None:
        """Queue ``msg`` (without checksum: SpanDSP appends it) for transmission."""
        buf = (ctypes.c_uint8 * len(msg)).from_buffer_copy(msg)
        n = self._lib.adsi_tx_put_message(self._state(), buf, len(msg))
        if n <= 0:
            raise RuntimeError(f"adsi_tx_put_message refused the message ({n})")

    def generate(self) -> np.ndarray:
        """The samples of everything queued, up to the end of transmission."""
        blocks = []
        total = 0
        block = np.empty(ADSI_TX_BLOCK_SAMPLES, dtype=np.int16)
        while total < ADSI_TX_MAX_SAMPLES:
            n = self._lib.adsi_tx(self._state(), _ptr(block), ADSI_TX_BLOCK_SAMPLES)
            blocks.append(block[:n].copy())
            total += n
            if n < ADSI_TX_BLOCK_SAMPLES:
                return np.concatenate(blocks)
        raise RuntimeError("adsi_tx did not finish")

    def modulate(self, msg: bytes) -> np.ndarray:
        """``msg`` queued and generated: the samples of one complete transmission."""
        self.put_message(msg)
        return self.generate()
