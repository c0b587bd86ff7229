"""Caller ID: FSK (Bell 202, V.23) and DTMF, received on many lines at once, and generated for tests.

What it does
    :class:`FskCallerIdReceiver` hears the audio of idle (on-hook) lines and reports every
    caller-ID message it finds, decoded into its fields (number, name, date and time, reasons
    for absence) or, when the message fails its checks, as an error. It does not care whether
    the exchange sends before the first ring or between the first and the second: it is fed
    audio whenever the line is on hook. :class:`DtmfCallerIdParser` turns DTMF digits (from
    :class:`hotline.dsp.dtmf.DtmfReceiver`) into a number or a reason for its absence.
    :func:`encode_sdmf`, :func:`encode_mdmf`, :func:`modulate` and :func:`dtmf_clip` make the
    signals, for tests and for the simulated board. ``python -m hotline.dsp.callerid FILE...``
    decodes recordings and prints JSON.

How it works
    Audio is gathered until ``BATCH_MS`` of it is pending, then worked through in chunks of up
    to ``CHUNK_MS``: the cost of a chunk is mostly the number of array operations, not their
    length, so a result comes up to ``BATCH_MS`` late, which caller ID can afford. A line whose
    chunk is quieter than ``GATE_DBM0`` and that is not inside a message costs one energy sum.
    A line with sound on it is first only screened: every 3 ms stretch is correlated (one small
    matrix product for all lines) with a tone near the mark frequencies; only a steady tone for
    ``SCREEN_RUN`` stretches (the start of a mark run) has the line demodulated, from far
    enough back to include the channel seizure before it. Demodulation
    (:mod:`hotline.dsp.fsk`) turns the audio of all such lines at once into soft bit values at
    4 kHz (one *tick* per two samples). Array operations find where a run of
    ``MIN_MARK_BITS`` mark bits completes, anywhere in a chunk (a line whose message ends
    may arm again later in the same chunk). The channel seizure before it (required by
    default: every on-hook transmission has one) gives the bit clock to about 0.2 % and the
    level halfway between mark and space, off zero when the tones are off frequency. Then the
    next crossing below that level is a start bit: from its position, to a fraction of a
    tick, and the seizure's clock come the ten bit centres, read by interpolation at three
    phases (+-1 sample); the phase that reads a space start bit, a mark stop bit and the
    strongest data bits wins, so each character re-times itself as a UART does. Every crossing
    that could start a character is read so, for all lines, in one array pass per chunk;
    following each line from one character to the next (which of those crossings are starts)
    is then a few scalar steps per character. Python runs per arming, per message and per
    character: never per sample. Each standard's receiver also reads the other's signal; the
    result tells them apart by the tone shift it measured.

    A message is a type byte, a length byte, that many bytes, and a checksum that makes the sum
    of all bytes 0 modulo 256. Nothing is reported unless the type is a known one; a message
    that ends early (lost carrier, or no next byte within ``MAX_GAP_BITS``) or whose sum is
    wrong gives ``error="checksum"``; a stop bit missing in a message with a right sum gives
    ``"framing"``; parameters that overrun the message, or fields that break their own rules
    (a date that is no date, a number with letters, a name with control characters: what
    several bit errors that happen to keep the sum right leave behind) give ``"format"``.
    Never fields.

Specifications (facts used; our own wording and code)
    - Bellcore GR-30-CORE and SR-TSV-002476 (North America): Bell 202 at 1200 bit/s; 300
      seizure bits, 180 mark bits; SDMF type 0x04 with MMDDHHMM and the number, or ``O``
      (unavailable) or ``P`` (private) instead of it; MDMF type 0x80 with parameters 0x01 date
      and time, 0x02 calling number, 0x04 reason for absence of number, 0x07 name, 0x08 reason
      for absence of name. Types 0x06 and 0x82 carry message waiting.
    - ETSI EN 300 659-1/-3: V.23 (mark 1300, space 2100 Hz), seizure of alternating bits, 80 ±
      25 mark bits, the same parameter codes inside type 0x80 (call set-up), 0x82 (message
      waiting), 0x86 (advice of charge), 0x89 (short message).
    - YDN 069 (China) uses the Bellcore field codes and either timing (before the first ring or
      between the first two); the receiver handles both since it never looks at ringing.
    - DTMF caller ID (a start code, the digits, an end code; national variants): see
      :func:`parse_dtmf_clip` for the codes accepted.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import sys
from dataclasses import dataclass

import numpy as np

from hotline.dsp import SAMPLE_RATE_HZ, tones
from hotline.dsp.audiofile import read_audio
from hotline.dsp.frames import check_channel, check_frames
from hotline.dsp.fsk import (BAUD_RATE, BELL202_MARK_HZ, BELL202_SPACE_HZ, STANDARDS, V23_MARK_HZ, V23_SPACE_HZ,
                             FskFrontEnd, fsk_standard, modulate, seizure_bit_periods)
from hotline.dsp.levels import rms_for
from hotline.errors import AudioFileError, HotlineError

__all__ = [
    "BAUD_RATE", "BELL202_MARK_HZ", "BELL202_SPACE_HZ", "V23_MARK_HZ", "V23_SPACE_HZ",
    "CallerIdError", "CallerIdMessage", "FskCallerIdResult", "FskCallerIdReceiver", "DtmfCallerId",
    "DtmfCallerIdParser", "checksum", "decode_message", "encode_sdmf", "encode_mdmf", "modulate",
    "parse_dtmf_clip", "dtmf_clip_digits", "dtmf_clip", "dtmf_caller_id", "decode_samples", "main",
]

# Message types (first byte) and MDMF parameter types (GR-30-CORE, EN 300 659-3).
SDMF_CALLER_ID = 0x04
SDMF_MESSAGE_WAITING = 0x06
MDMF_CALLER_ID = 0x80
MDMF_MESSAGE_WAITING = 0x82
MDMF_ADVICE_OF_CHARGE = 0x86
MDMF_SHORT_MESSAGE = 0x89
MESSAGE_TYPES = {
    SDMF_CALLER_ID: "caller ID (SDMF)",
    SDMF_MESSAGE_WAITING: "message waiting (SDMF)",
    MDMF_CALLER_ID: "call set-up (MDMF)",
    MDMF_MESSAGE_WAITING: "message waiting (MDMF)",
    MDMF_ADVICE_OF_CHARGE: "advice of charge (MDMF)",
    MDMF_SHORT_MESSAGE: "short message (MDMF)",
}
PARAM_DATETIME = 0x01
PARAM_NUMBER = 0x02
PARAM_NUMBER_ABSENCE = 0x04
PARAM_NAME = 0x07
PARAM_NAME_ABSENCE = 0x08
ABSENCE_REASONS = {"O": "unavailable", "P": "private"}
NUMBER_CHARS = "0123456789*#+- "  # what a calling number may hold
DATETIME_CHARS = 8  # MMDDHHMM
MAX_BODY_BYTES = 255  # the length byte's range

# Receiver.
MIN_MARK_BITS = 40  # mark run that arms the receiver (EN 300 659-1 allows as few as 55)
MARK_THRESHOLD = 0.1  # soft value above which a sample counts as mark
START_THRESHOLD = 0.0  # soft value below minus this starts a character
MAX_GAP_BITS = 40  # marks allowed between two bytes of a message before it counts as cut off
ARMED_TIMEOUT_MS = 1000  # after arming, give up waiting for the first start bit
GATE_DBM0 = -47.0  # a line quieter than this over a chunk, not inside a message, is idle
BATCH_MS = 80  # audio is gathered until this much is pending, then worked through at once: results come
# up to this much later than the audio that completes them (caller ID has no hurry: rings are 4 s apart)
CHUNK_MS = 128  # long inputs are worked through in pieces of at most this length
SCREEN_SAMPLES = 24  # a hunting line is screened in stretches of this many samples (3 ms)...
SCREEN_HZ = 1250.0  # ... for a steady tone near this frequency (either standard's mark, +-10 %) ...
SCREEN_RATIO = 0.4  # ... holding this share of the stretch's energy (a steady tone: 1, noise: ~0) ...
SCREEN_RUN = 6  # ... in this many stretches in a row; only then is the line demodulated
MIN_SEIZURE_BITS = 24  # alternating bits before the mark run that make a channel seizure
SEIZURE_LOOKBACK_BITS = 128  # how far before the arming point the seizure is looked for
MAX_CLOCK_ERROR = 0.07  # bit-rate error accepted from a seizure (relative)
CLOCK_PHASES = (-1, 0, 1)  # candidate offsets of the bit centres, in samples
CENTRE_OFFSET = 0.5  # samples from the start-bit crossing to where the bit centres are counted from
BITS_PER_CHAR = 10  # start, 8 data, stop
NOMINAL_SWING = 0.85  # mean distance of the soft value from the level at bit centres, own standard's tones
HUNT, ARMED, MESSAGE = 0, 1, 2

# DTMF caller ID.
DTMF_CLIP_ON_MS = 60
DTMF_CLIP_OFF_MS = 60
MAX_DIGIT_GAP_MS = 1000  # a longer pause between digits abandons a half-received string
MAX_DTMF_DIGITS = 40


class CallerIdError(HotlineError, ValueError):
    """A caller-ID message that cannot be built or decoded; ``code`` is ``checksum``, ``framing`` or ``format``."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# --- messages -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallerIdMessage:
    """One decoded message. Fields the message does not carry are ``None``."""

    kind: str  # "sdmf" or "mdmf"
    message_type: int
    datetime: str | None  # "MMDDHHMM" as sent
    number: str | None
    name: str | None
    number_absence: str | None  # "O" unavailable, "P" private (others kept as sent)
    name_absence: str | None
    params: tuple[tuple[int, bytes], ...]  # MDMF: every parameter as sent, in order
    raw: bytes  # the whole message, checksum included

    @property
    def month(self) -> int | None:
        return self._datetime_part(0)

    @property
    def day(self) -> int | None:
        return self._datetime_part(1)

    @property
    def hour(self) -> int | None:
        return self._datetime_part(2)

    @property
    def minute(self) -> int | None:
        return self._datetime_part(3)

    def _datetime_part(self, index: int) -> int | None:
        if self.datetime is None or not self.datetime.isdigit():
            return None
        return int(self.datetime[2 * index:2 * index + 2])

    def fields(self) -> dict:
        """The fields present, as JSON-ready values; parameters we do not name as hex strings."""
        out = {"kind": self.kind, "type": self.message_type}
        for key in ("number", "name", "datetime", "number_absence", "name_absence"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        known = {PARAM_DATETIME, PARAM_NUMBER, PARAM_NUMBER_ABSENCE, PARAM_NAME, PARAM_NAME_ABSENCE}
        other = [[ptype, value.hex()] for ptype, value in self.params if ptype not in known]
        if other:
            out["params"] = other
        return out


def checksum(data: bytes) -> int:
    """The byte that makes the sum of ``data`` plus itself 0 modulo 256."""
    return -sum(data) % 256


def _ascii(value: str | bytes, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        raise CallerIdError("format", f"{what} must be ASCII, got {value!r}") from None


def _datetime_field(when) -> bytes:
    if when is None:
        when = _dt.datetime.now()
    if isinstance(when, (_dt.datetime, _dt.date)):
        when = when.strftime("%m%d%H%M") if isinstance(when, _dt.datetime) else when.strftime("%m%d0000")
    text = _ascii(when, "date and time")
    if len(text) != DATETIME_CHARS or not text.isdigit():
        raise CallerIdError("format", f"date and time must be 8 digits MMDDHHMM, got {when!r}")
    return text


def _absence_field(reason: str, what: str) -> bytes:
    code = _ascii(reason, what)
    if len(code) != 1:
        raise CallerIdError("format", f"{what} is one character ('O' or 'P'), got {reason!r}")
    return code


def _frame(message_type: int, body: bytes) -> bytes:
    if len(body) > MAX_BODY_BYTES:
        raise CallerIdError("format", f"message body of {len(body)} bytes; at most {MAX_BODY_BYTES}")
    head = bytes([message_type, len(body)]) + body
    return head + bytes([checksum(head)])


def encode_sdmf(number: str | None = None, datetime=None, absence: str | None = None) -> bytes:
    """An SDMF caller-ID message (type 0x04): date and time, then the number or ``absence``.

    ``datetime``: ``"MMDDHHMM"``, a :class:`datetime.datetime`, or ``None`` for now.
    ``absence``: ``"O"`` (unavailable) or ``"P"`` (private) instead of a number.
    """
    if (number is None) == (absence is None):
        raise CallerIdError("format", "SDMF carries either a number or a reason for its absence")
    tail = _ascii(number, "number") if number is not None else _absence_field(absence, "reason for absence")
    return _frame(SDMF_CALLER_ID, _datetime_field(datetime) + tail)


def encode_mdmf(number: str | None = None, name: str | None = None, datetime=None,
                number_absence: str | None = None, name_absence: str | None = None,
                params=(), message_type: int = MDMF_CALLER_ID) -> bytes:
    """An MDMF message: date/time, number or its absence, name or its absence, then ``params``.

    Each field left ``None`` is left out (``datetime`` too: pass it to send one). ``params``:
    more ``(type, bytes)`` parameters, sent as given.
    """
    fields = []
    if datetime is not None:
        fields.append((PARAM_DATETIME, _datetime_field(datetime)))
    if number is not None:
        fields.append((PARAM_NUMBER, _ascii(number, "number")))
    if number_absence is not None:
        fields.append((PARAM_NUMBER_ABSENCE, _absence_field(number_absence, "reason for absence of number")))
    if name is not None:
        fields.append((PARAM_NAME, _ascii(name, "name")))
    if name_absence is not None:
        fields.append((PARAM_NAME_ABSENCE, _absence_field(name_absence, "reason for absence of name")))
    fields.extend((int(ptype), bytes(value)) for ptype, value in params)
    body = b""
    for ptype, value in fields:
        if len(value) > MAX_BODY_BYTES:
            raise CallerIdError("format", f"parameter 0x{ptype:02x} of {len(value)} bytes; at most {MAX_BODY_BYTES}")
        body += bytes([ptype, len(value)]) + value
    return _frame(message_type, body)


def decode_message(data: bytes) -> CallerIdMessage:
    """The fields of one whole message (type, length, body, checksum); :class:`CallerIdError` if bad."""
    data = bytes(data)
    if len(data) < 3 or len(data) != data[1] + 3:
        have = len(data)
        want = data[1] + 3 if have >= 2 else 3
        raise CallerIdError("checksum", f"truncated: {have} of {want} bytes")
    if sum(data) % 256:
        raise CallerIdError("checksum", f"bytes sum to 0x{sum(data) % 256:02x} modulo 256, not 0")
    message_type, body = data[0], data[2:-1]
    if message_type < 0x80:
        return _decode_sdmf(message_type, body, data)
    return _decode_mdmf(message_type, body, data)


def _decode_sdmf(message_type: int, body: bytes, raw: bytes) -> CallerIdMessage:
    datetime = number = absence = None
    if message_type == SDMF_CALLER_ID:
        if len(body) < DATETIME_CHARS:
            raise CallerIdError("format", f"SDMF body of {len(body)} bytes is shorter than its date and time")
        datetime, rest = _checked_datetime(body[:DATETIME_CHARS]), body[DATETIME_CHARS:]
        if len(rest) == 1 and chr(rest[0]) not in NUMBER_CHARS:
            absence = _checked_text(rest, "reason for absence")
        else:
            number = _checked_number(rest)
    return CallerIdMessage("sdmf", message_type, datetime, number, None, absence, None, (), raw)


def _decode_mdmf(message_type: int, body: bytes, raw: bytes) -> CallerIdMessage:
    params = []
    position = 0
    while position < len(body):
        if position + 2 > len(body) or position + 2 + body[position + 1] > len(body):
            raise CallerIdError("format", f"parameter at byte {position + 2} overruns the message")
        length = body[position + 1]
        params.append((body[position], bytes(body[position + 2:position + 2 + length])))
        position += 2 + length
    checks = {PARAM_DATETIME: _checked_datetime, PARAM_NUMBER: _checked_number,
              PARAM_NUMBER_ABSENCE: lambda v: _checked_text(v, "reason for absence of number"),
              PARAM_NAME: lambda v: _checked_text(v, "name"),
              PARAM_NAME_ABSENCE: lambda v: _checked_text(v, "reason for absence of name")}
    found = {}
    for ptype, value in params:
        if ptype in checks and ptype not in found:
            found[ptype] = checks[ptype](value)
    return CallerIdMessage("mdmf", message_type, found.get(PARAM_DATETIME), found.get(PARAM_NUMBER),
                           found.get(PARAM_NAME), found.get(PARAM_NUMBER_ABSENCE), found.get(PARAM_NAME_ABSENCE),
                           tuple(params), raw)


# A message whose checksum is right by chance (several bit errors) nearly always breaks one
# of these, so they are checked too: a wrong field is never reported.

def _checked_datetime(value: bytes) -> str:
    if len(value) == DATETIME_CHARS and value.isdigit():
        month, day, hour, minute = int(value[0:2]), int(value[2:4]), int(value[4:6]), int(value[6:8])
        if 1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59:
            return value.decode("ascii")
    raise CallerIdError("format", f"date and time {value!r} is not a valid MMDDHHMM")


def _checked_number(value: bytes) -> str:
    if value.strip(NUMBER_BYTES):
        raise CallerIdError("format", f"number {value!r} has characters other than {NUMBER_CHARS!r}")
    return value.decode("ascii")


def _checked_text(value: bytes, what: str) -> str:
    if _CONTROL.search(value):
        raise CallerIdError("format", f"{what} {value!r} has control characters")
    return value.decode("ascii", errors="replace")


_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
NUMBER_BYTES = NUMBER_CHARS.encode("ascii")


# --- the FSK receiver -----------------------------------------------------------------------

@dataclass(frozen=True)
class FskCallerIdResult:
    """A message heard on ``channel``: ``message`` when it decoded, else ``error`` and ``detail``.

    ``sample``: index (counted since the receiver was made) of the end of the last byte, or of
    where the message was given up; ``start_sample``: the start of its first byte.
    ``standard``: ``"bell202"`` or ``"v23"``, told apart by the tone shift measured
    (``shift_hz``: 1000 Hz for Bell 202, 800 Hz for V.23); ``raw``: the bytes received.
    """

    channel: int
    sample: int
    start_sample: int
    message: CallerIdMessage | None
    error: str | None = None
    detail: str = ""
    raw: bytes = b""
    standard: str = ""
    shift_hz: int = 0


def _ring_read(ring: np.ndarray, rows, start: int, stop: int) -> np.ndarray:
    """Columns ``start`` to ``stop`` (absolute, taken modulo the ring's width) of ``rows`` of ``ring``."""
    size = ring.shape[1]
    a, b = start % size, (stop - 1) % size + 1
    if a < b:
        return ring[rows, a:b]
    return np.concatenate([ring[rows, a:], ring[rows, :b]], axis=-1)


def _ring_write(ring: np.ndarray, rows, start: int, values: np.ndarray) -> None:
    """Store ``values`` in ``rows`` of ``ring`` from absolute column ``start`` on (modulo its width)."""
    size = ring.shape[1]
    a = start % size
    first = min(values.shape[1], size - a)
    ring[rows, a:a + first] = values[:, :first]
    if first < values.shape[1]:
        ring[rows, :values.shape[1] - first] = values[:, first:]


def _trailing_marks(soft: np.ndarray) -> np.ndarray:
    """Per row of ``soft``: the marks after its last tick that is no mark (its length if none)."""
    m, n = soft.shape
    broken = np.ones((m, n + 1), bool)
    np.less_equal(soft, MARK_THRESHOLD, out=broken[:, 1:])
    return broken[:, ::-1].argmax(axis=1)


_BEFORE_AND_AT = np.array([-1, 0])  # a start edge's tick and the one before it


class _Scan:
    """What the character reader needs of one chunk: the live rows' soft values (also flat),
    levels, bit-centre offsets of the nominal clock phase, and the next space at or after each
    column (flat, ``width + 1`` columns a row, the last one meaning none)."""

    __slots__ = ("work", "flat", "width", "level", "centres", "next_space")

    def __init__(self, work: np.ndarray, level: np.ndarray, centres: np.ndarray, next_space: np.ndarray):
        self.work, self.flat, self.width = work, work.ravel(), work.shape[1]
        self.level, self.centres, self.next_space = level, centres, next_space.ravel()


class FskCallerIdReceiver:
    """FSK caller-ID receiver for ``channels`` lines; see the module docstring.

    ``standard``: ``"bell202"`` or ``"v23"``, the tones the front end is centred on (each
    standard's receiver also reads the other's signal). ``require_seizure``: accept a message
    only after a channel seizure (every on-hook transmission has one, and it times the bit
    clock); with ``False`` a message without one is read with the nominal clock, and reported
    only if it decodes (speech often looks like the start of one).
    ``process(frames)`` takes int16 ``(channels, n)`` blocks of any length and returns the
    results completed so far, in time order: audio is worked through once ``BATCH_MS`` of it
    is pending, so results come up to that much later (``flush()`` works through the rest;
    a caller that keeps feeding, as the media loop does, loses nothing). Each result's
    ``sample`` and ``start_sample`` say where it lies in the audio, however late it comes.
    """

    def __init__(self, channels: int, standard: str = "bell202", sample_rate: int = SAMPLE_RATE_HZ,
                 require_seizure: bool = True):
        if int(channels) < 1:
            raise ValueError(f"channels must be at least 1, got {channels!r}")
        self.channels = int(channels)
        self.standard = fsk_standard(standard)
        self.sample_rate = int(sample_rate)
        self.require_seizure = require_seizure
        self._front = FskFrontEnd(self.standard, self.sample_rate)
        # Everything below the front end counts in ticks of `decimation` samples.
        d = self._decimation = self._front.decimation
        self._delay = self._front.delay  # samples
        bit = self._bit = self.sample_rate / self.standard.baud / d
        self._min_mark = int(round(MIN_MARK_BITS * bit))
        self._max_gap = int(round(MAX_GAP_BITS * bit))
        self._lookback = int(round(SEIZURE_LOOKBACK_BITS * bit))
        self._armed_timeout = int(ARMED_TIMEOUT_MS * self.sample_rate / 1000 / d)
        self._chunk = max(1, int(CHUNK_MS * self.sample_rate / 1000 / d))
        self._batch = max(d, int(BATCH_MS * self.sample_rate / 1000))  # samples
        # Candidate clocks, flattened candidate-major: offset of each, and bit-centre numbers.
        phases = (CENTRE_OFFSET + np.asarray(CLOCK_PHASES, np.float64)) / d
        self._phase_grid = np.repeat(phases, BITS_PER_CHAR).astype(np.float32)
        self._centre_grid = np.tile(np.arange(BITS_PER_CHAR) + 0.5, len(phases)).astype(np.float32)
        data = np.zeros(BITS_PER_CHAR, np.float32)
        data[1:BITS_PER_CHAR - 1] = 1.0
        frame = np.zeros(BITS_PER_CHAR, np.float32)
        frame[0], frame[-1] = -1.0, 1.0
        self._data_weights = np.kron(np.eye(len(phases), dtype=np.float32), data[:, None])
        self._frame_weights = np.kron(np.eye(len(phases), dtype=np.float32), frame[:, None])
        self._need = int(np.ceil(phases.max() + (BITS_PER_CHAR - 0.5) * bit * (1 + MAX_CLOCK_ERROR))) + 3
        self._history = self._need + 2
        self._ring_size = 1 << int(np.ceil(np.log2(self._chunk + self._history + self._lookback)))
        # When screening finds a mark, the line is demodulated from this far back (ticks): enough
        # for the seizure behind the mark run.
        self._prime = self._lookback + self._min_mark + self._history
        self._columns = np.arange(max(self.channels, self._chunk + self._history) + 1, dtype=np.int32)
        # The audio kept per line: what priming and the front end read back, and the screen's stretches.
        look_back = max(SCREEN_SAMPLES, self._front.history)
        self._audio_size = 1 << int(np.ceil(np.log2((self._prime + self._chunk) * d + look_back)))
        k = np.arange(SCREEN_SAMPLES)
        w = 2.0 * np.pi * SCREEN_HZ / self.sample_rate
        self._screen_oscillator = np.stack([np.cos(w * k), np.sin(w * k)], axis=1).astype(np.float32)
        self._gate = np.float32(rms_for(GATE_DBM0) ** 2)
        self._known_type = [octet in MESSAGE_TYPES for octet in range(256)]
        self._ticks = 0  # ticks heard so far
        c = self.channels
        self._pending = np.zeros((c, self._batch + d), np.int16)  # audio not worked through yet
        self._pending_count = 0
        self._ring = np.zeros((c, self._ring_size), np.float32)  # soft values by absolute tick mod size
        self._audio = np.zeros((c, self._audio_size), np.float32)  # samples by absolute index mod size
        self._active = np.zeros(c, bool)
        self._full = np.zeros(c, bool)  # demodulated (rather than screened) in the last chunk
        self._screen_run = np.zeros(c, np.int64)  # stretches in a row that held a steady tone
        self._state = np.zeros(c, np.int8)
        self._cursor = np.zeros(c, np.int64)  # absolute tick where the next search starts
        self._waiting = np.zeros(c, np.int64)  # absolute tick where the current wait began
        self._run = np.zeros(c, np.int64)  # mark run (ticks, capped) at the end of the last chunk
        self._period = np.full(c, bit)  # bit period of the message in progress, ticks
        self._level = np.zeros(c, np.float32)  # soft value halfway between its mark and space
        self._seized = np.zeros(c, bool)  # the message in progress followed a channel seizure
        # The message in progress, per channel, as plain Python values: the reader updates them
        # one character at a time.
        self._bytes = [bytearray() for _ in range(c)]  # its first MAX_BODY_BYTES + 3 bytes
        self._count = [0] * c  # bytes received
        self._framing = [False] * c  # a stop bit was missing
        self._swing = [0.0] * c  # sum of the soft values' distance from the level at the bit centres
        self._start = [0] * c  # sample where it began

    def reset(self, channel: int) -> None:
        """Forget everything heard on ``channel`` (a message in progress is dropped)."""
        check_channel(channel, self.channels)
        self._state[channel] = HUNT
        self._run[channel] = 0
        self._count[channel] = 0
        self._active[channel] = False
        self._full[channel] = False
        self._screen_run[channel] = 0
        self._ring[channel] = 0
        self._pending[channel] = 0  # its audio not worked through yet is heard as silence

    def process(self, frames: np.ndarray) -> list[FskCallerIdResult]:
        """Hear one block of every channel; the results completed so far, in time order.

        Audio is gathered until ``BATCH_MS`` of it is pending and then worked through at once,
        so a result comes up to that much later than the audio that completes it: nothing is
        lost as long as audio keeps coming (:meth:`flush` works through what is pending now).
        """
        check_frames(frames, self.channels)
        count, n = self._pending_count, frames.shape[1]
        if count + n < self._batch:
            self._pending[:, count:count + n] = frames
            self._pending_count = count + n
            return []
        if count:
            frames = np.concatenate([self._pending[:, :count], frames], axis=1)
        return self._work_through(frames)

    def flush(self) -> list[FskCallerIdResult]:
        """Work through the audio pending now (all but part of a tick); the results completed in it."""
        frames = self._pending[:, :self._pending_count].copy()
        return self._work_through(frames)

    def _work_through(self, frames: np.ndarray) -> list[FskCallerIdResult]:
        d = self._decimation
        whole = frames.shape[1] // d * d
        self._pending_count = frames.shape[1] - whole
        self._pending[:, :self._pending_count] = frames[:, whole:]
        results = []
        step = self._chunk * d
        for offset in range(0, whole, step):
            results.extend(self._process_chunk(frames[:, offset:min(offset + step, whole)]))
        results.sort(key=lambda r: (r.sample, r.channel))
        return results

    # Soft values live in a ring indexed by absolute tick. A chunk is scanned as an array whose
    # column j is tick base + j: the last `history` values before the chunk, then the chunk.
    # Cursors are kept absolute between chunks, relative inside a scan.

    def _process_chunk(self, x: np.ndarray) -> list[FskCallerIdResult]:
        d = self._decimation
        n = x.shape[1] // d
        start = self._ticks
        self._ticks += n
        xf = x.astype(np.float32)
        power = np.einsum("ij,ij->i", xf, xf) / np.float32(x.shape[1])
        sound = power > self._gate
        state = self._state
        state[(state == ARMED) > sound] = HUNT  # carrier gone before the first byte
        active = sound | (state == MESSAGE)
        gone = np.greater(self._active, active).nonzero()[0]
        if gone.size:
            self._ring[gone] = 0
            self._run[gone] = 0
            self._full[gone] = False
            self._screen_run[gone] = 0
            self._audio[gone] = 0
        self._active = active
        lines = active.nonzero()[0]
        if lines.size == 0:
            return []
        _ring_write(self._audio, lines, start * d, xf if lines.size == self.channels else xf[lines])
        # A hunting line is only screened for a steady tone; one that holds it is demodulated
        # from far enough back to see its channel seizure.
        full = self._full[lines]
        screened = lines[~full]
        if screened.size:
            marks = self._screen(screened, start * d, (start + n) * d)
            if marks.size:
                self._prime_lines(marks, start)
                full = self._full[lines]
        rows = lines[full]
        if rows.size == 0:
            return []
        k = self._history
        work = np.empty((rows.size, k + n), np.float32)
        work[:, :k] = _ring_read(self._ring, rows, start - k, start)
        audio = _ring_read(self._audio, rows, start * d - self._front.history, (start + n) * d)
        self._front.process(audio, start * d, out=work[:, k:])
        _ring_write(self._ring, rows, start, work[:, k:])
        results = self._scan(rows, work, start - k)
        # Back to screening: hunting, and no mark run going on.
        self._full[rows[(self._state[rows] == HUNT) & (self._run[rows] == 0)]] = False
        return results

    def _screen(self, rows: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Which of ``rows`` now hold a steady tone near ``SCREEN_HZ`` for ``SCREEN_RUN`` stretches.

        Looks at the stretches (on a fixed grid of ``SCREEN_SAMPLES``) that end in samples
        ``start`` to ``stop``; the count of stretches in a row carries over between chunks.
        """
        size = SCREEN_SAMPLES
        first, last = start // size, stop // size  # stretches first ... last - 1 end in this chunk
        if last <= first:
            return rows[:0]
        x = _ring_read(self._audio, rows, first * size, last * size).reshape(rows.size, last - first, size)
        y = x @ self._screen_oscillator
        np.multiply(y, y, out=y)
        tone = y[:, :, 0] + y[:, :, 1]
        energy = np.einsum("rbs,rbs->rb", x, x)
        steady = tone > SCREEN_RATIO * (size / 2.0) * energy
        # Stretches in a row, carried from the last chunk.
        index = np.arange(last - first)
        broken = np.where(steady, -1 - self._screen_run[rows][:, None], index)
        np.maximum.accumulate(broken, axis=1, out=broken)
        run = index - broken
        self._screen_run[rows] = run[:, -1]
        return rows[np.maximum.reduce(run, axis=1) >= SCREEN_RUN]

    def _prime_lines(self, rows: np.ndarray, start: int) -> None:
        """Demodulate ``rows`` over the ``prime`` ticks before tick ``start``: their soft values,
        front-end state and mark runs, as if they had been demodulated all along."""
        d = self._decimation
        first = start - self._prime
        x = _ring_read(self._audio, rows, first * d - self._front.history, start * d)
        x[:, :self._front.history] = 0.0  # demodulated from silence on, as after a line was idle
        soft = self._front.process(x, first * d)
        _ring_write(self._ring, rows, first, soft)
        # A run long enough to arm already arms at the chunk's first tick.
        self._run[rows] = np.minimum(_trailing_marks(soft), self._min_mark - 1)
        self._full[rows] = True
        self._screen_run[rows] = 0

    def _arming(self, rows: np.ndarray, work: np.ndarray) -> dict[int, list[int]]:
        """Where in ``work`` the mark runs of ``rows`` reach the arming length: the columns, by
        row index (only rows that have any); updates the runs."""
        k = self._history
        n = work.shape[1] - k
        index = self._columns[:n]
        # Per tick, the last tick at or before it that is no mark (a run from the last chunk
        # counts as ticks before the first), hence the marks in a row up to it.
        last = np.where(work[:, k:] <= MARK_THRESHOLD, index, -1 - self._run[rows][:, None])
        np.maximum.accumulate(last, axis=1, out=last)
        run = np.subtract(index, last, out=last)
        self._run[rows] = np.minimum(run[:, -1], self._min_mark)
        crossings = {}
        for row, column in zip(*(run == self._min_mark).nonzero()):
            crossings.setdefault(int(row), []).append(int(column) + k)
        return crossings

    def _arm(self, channels: np.ndarray, columns: np.ndarray, base: int) -> np.ndarray:
        """Which of ``channels``, armed at ``columns``, to read; sets their clock and level.

        The seizure is looked for in the ``lookback`` ticks up to the arming point (a channel
        that was idle has zeros there, which are no seizure).
        """
        stops = (base + columns + 1).tolist()
        if len(stops) == 1:
            soft = _ring_read(self._ring, channels, stops[0] - self._lookback, stops[0])
        else:
            soft = np.stack([_ring_read(self._ring, ch, stop - self._lookback, stop)
                             for ch, stop in zip(channels.tolist(), stops)])
        period, bits, level = seizure_bit_periods(soft, self._bit)
        ok = (bits >= MIN_SEIZURE_BITS) & (np.abs(period / self._bit - 1) <= MAX_CLOCK_ERROR)
        self._period[channels] = np.where(ok, period, self._bit)
        self._level[channels] = np.where(ok, level, 0.0)
        self._seized[channels] = ok
        return ok | (not self.require_seizure)

    def _scan(self, rows: np.ndarray, work: np.ndarray, base: int) -> list[FskCallerIdResult]:
        state = self._state[rows]
        crossings = self._arming(rows, work)
        # Hunting rows arm at the first run that reaches the arming length (after a channel
        # seizure, by default); a row whose message ends inside the chunk may arm again after it.
        hunting = {i: -1 for i in crossings if state[i] == HUNT}  # row -> column after which it may arm
        live = (state != HUNT).nonzero()[0]
        results = []
        while True:
            armed = self._arm_rows(rows, crossings, hunting, base)
            if armed:
                live = np.union1d(live, np.fromiter(armed, np.int64, len(armed)))  # sorted
            if live.size == 0:
                return results
            # Only the live rows are read: those in a message or armed. A hunting line's cursor
            # is never read.
            channels = rows[live]
            state = self._state[channels]
            cursor, waiting = self._cursor[channels] - base, self._waiting[channels] - base
            for i, column in armed.items():
                at = np.searchsorted(live, i)
                state[at], cursor[at], waiting[at] = ARMED, column, column
            np.maximum(cursor, 1, out=cursor)
            ended = {}
            self._read_chunk(work[live] if live.size < rows.size else work, channels, state, cursor, waiting,
                             base, results, ended)
            hunting = {int(live[i]): column for i, column in ended.items() if int(live[i]) in crossings}
            if not hunting:
                return results
            live = live[:0]

    def _arm_rows(self, rows: np.ndarray, crossings: dict, hunting: dict, base: int) -> dict[int, int]:
        """Arm the ``hunting`` rows (index -> column after which they may) at their first run
        crossing after that column whose seizure checks out; the column of each armed row."""
        armed = {}
        while hunting:
            index, columns = [], []
            for i, after in hunting.items():
                later = [c for c in crossings[i] if c > after]
                if later:
                    index.append(i)
                    columns.append(later[0])
            if not index:
                break
            ok = self._arm(rows[index], np.array(columns), base).tolist()
            hunting = {}
            for i, column, good in zip(index, columns, ok):
                if good:
                    armed[i] = column
                else:
                    hunting[i] = column
        return armed

    def _read_chunk(self, work, channels, state, cur, wait, base, results, ended) -> None:
        """Read the characters of ``channels`` (armed or in a message) in ``work``, from their cursors.

        A character starts at the first space at or after the cursor; after a character the
        cursor is its stop bit, so a start is (nearly always) a crossing into a space. All the
        crossings that leave a whole character in the chunk are read at once (one array pass),
        each with the first space after its stop bit; following them from character to
        character, which decides which of them are starts, is a few scalar steps per character.
        A start that is no crossing is read when met. Updates the channels' state, cursor and
        wait start; ``ended`` gets the column from which each row that went back to hunting
        hunts, by row index.
        """
        rows, length = work.shape
        last_ready = length - self._need  # a character starting here or earlier is all in the chunk
        # A space: below the level by the threshold; exactly 0 is no carrier at all.
        level = self._level[channels]
        threshold = level - START_THRESHOLD
        space = work < threshold[:, None]
        space &= work != 0
        next_space = np.empty((rows, length + 1), np.int32)
        backwards = np.where(space[:, ::-1], self._columns[length - 1::-1], np.int32(length))
        np.minimum.accumulate(backwards, axis=1, out=next_space[:, length - 1::-1])
        next_space[:, length] = length
        # Candidate starts: crossings into a space from the first cursor on (cursors are >= 1).
        lowest = int(np.minimum.reduce(cur))
        row, edge = (space[:, lowest:last_ready + 1] > space[:, lowest - 1:last_ready]).nonzero()
        edge += lowest
        scan = _Scan(work, level, self._centre_grid * self._period[channels][:, None], next_space)
        width = length + 1
        found = {}
        if row.size:
            found = dict(zip((row * width + edge).tolist(), zip(*self._decode(scan, row, edge))))
        first = next_space[self._columns[:rows], cur]
        gap, timeout, known = self._max_gap, self._armed_timeout, self._known_type
        full = MAX_BODY_BYTES + 3
        st_out, c_out, w_out = [], [], []
        for i, ch, c, w, st, edge in zip(range(rows), channels.tolist(), cur.tolist(), wait.tolist(), state.tolist(),
                                         first.tolist()):
            if st == MESSAGE:
                buf, count, swing_sum = self._bytes[ch], self._count[ch], self._swing[ch]
            limit = gap if st == MESSAGE else timeout
            while True:
                if edge - w > limit and (edge < length or length - w > limit):
                    if st == MESSAGE:
                        self._count[ch], self._swing[ch] = count, swing_sum
                        self._report(results, self._finish(ch, base + w + gap))
                    st, ended[i] = HUNT, w + limit
                    break
                if edge > last_ready:
                    c = edge
                    break
                char = found.get(i * width + edge)
                if char is None:
                    char = next(zip(*self._decode(scan, np.array([i]), np.array([edge]))))
                octet, framed, stop, glitch, lead, swing, after = char
                if glitch:  # no clock sees a start bit: a dip in a mark (noise); look again after it
                    c = edge + 1 + int(np.argmax(work[i, edge + 1:] >= threshold[i]))
                    edge = int(scan.next_space[i * width + min(c, length)])
                    continue
                if st == ARMED:
                    if not (framed and known[octet]):
                        st, ended[i] = HUNT, edge
                        break
                    st, limit = MESSAGE, gap
                    buf = self._bytes[ch] = bytearray()
                    count, swing_sum = 0, 0.0
                    self._framing[ch] = False
                    self._start[ch] = round((base + edge + lead) * self._decimation - self._delay)
                if count < full:
                    buf.append(octet)
                else:  # a message longer than its length byte can say: keep the latest byte last
                    buf[-1] = octet
                swing_sum += swing
                count += 1
                if not framed:
                    self._framing[ch] = True
                c = w = stop
                edge = after
                if count >= 2 and count == (buf[1] + 3) & 0xFF:
                    self._count[ch], self._swing[ch] = count, swing_sum
                    self._report(results, self._finish(ch, base + stop + self._bit / 2))
                    st, ended[i] = HUNT, stop
                    break
            if st == MESSAGE:
                self._count[ch], self._swing[ch] = count, swing_sum
            st_out.append(st)
            c_out.append(c)
            w_out.append(w)
        self._state[channels] = st_out
        self._cursor[channels] = np.add(c_out, base)
        self._waiting[channels] = np.add(w_out, base)

    def _decode(self, scan: "_Scan", idx: np.ndarray, edge: np.ndarray) -> tuple:
        """Read a character at each start ``edge`` (a tick below the threshold) of rows ``idx``.

        Lists per character: its byte, whether its stop bit is a mark, the column of the stop
        bit, whether no clock saw a start bit there, where the start crossing lies (ticks before
        ``edge``), the sum of the bit centres' distances from the level, and the column of the
        first space at or after the stop bit.
        """
        flat = scan.flat
        at = idx * scan.width + edge
        level = scan.level[idx]
        # Where the soft value crossed the threshold, to a fraction of a tick before `edge`.
        ticks = flat[at[:, None] + _BEFORE_AND_AT]
        before = ticks[:, 0] - level
        lead = np.maximum(before - ticks[:, 1] + level, 1e-6)
        np.divide(before + START_THRESHOLD, lead, out=lead)
        np.maximum(lead, 0.0, out=lead)
        np.minimum(lead, 1.0, out=lead)
        lead -= 1.0
        # Bit centres of every candidate clock, candidate-major: (rows, candidates * bits).
        times = (lead[:, None] + self._phase_grid) + scan.centres[idx]
        whole = times.astype(np.int32)
        times -= whole
        index = whole + at[:, None]
        values = flat[index]
        index += 1
        values += times * (flat[index] - values)
        values -= level[:, None]
        # Clock metric: the start bit should read space, the stop bit mark, data bits strongly either.
        metric = np.abs(values) @ self._data_weights + values @ self._frame_weights  # (rows, candidates)
        metric[values[:, ::BITS_PER_CHAR] >= 0] = -np.inf
        best = metric.argmax(axis=1)  # the first of equals, as a strict comparison in order picks
        rows = np.arange(len(idx))
        glitch = metric[rows, best] == -np.inf
        picked = values.reshape(len(idx), len(CLOCK_PHASES), BITS_PER_CHAR)[rows, best]
        bits = picked > 0
        octet = np.packbits(bits[:, 1:9], axis=1, bitorder="little")[:, 0]
        stop = whole[:, BITS_PER_CHAR - 1::BITS_PER_CHAR][rows, best] + edge
        after = scan.next_space[idx * (scan.width + 1) + stop]
        swing = np.add.reduce(np.abs(picked), axis=1)
        return (octet.tolist(), bits[:, 9].tolist(), stop.tolist(), glitch.tolist(), lead.tolist(),
                swing.tolist(), after.tolist())

    @staticmethod
    def _report(results: list, result: FskCallerIdResult | None) -> None:
        if result is not None:
            results.append(result)

    def _finish(self, channel: int, end: float) -> FskCallerIdResult | None:
        """The result of the message on ``channel``, which ended at tick ``end``."""
        count = self._count[channel]
        raw = bytes(self._bytes[channel][:count])
        # The tone shift, measured from how far the bit centres swing from the level.
        swing = self._swing[channel] / max(count * BITS_PER_CHAR, 1) / NOMINAL_SWING
        shift = round(self.standard.shift_hz * swing)
        standard = _nearest_standard(shift)
        common = dict(channel=int(channel), sample=int(round(end * self._decimation - self._delay)),
                      start_sample=self._start[channel], raw=raw, standard=standard, shift_hz=shift)
        try:
            message = decode_message(raw)
        except CallerIdError as exc:
            if not self._seized[channel]:
                return None  # without a seizure a failure is more likely noise than a message
            return FskCallerIdResult(message=None, error=exc.code, detail=exc.detail, **common)
        if self._framing[channel]:
            if not self._seized[channel]:
                return None
            return FskCallerIdResult(message=None, error="framing",
                                     detail="a stop bit was missing although the checksum is right", **common)
        return FskCallerIdResult(message=message, **common)


# --- DTMF caller ID -------------------------------------------------------------------------

@dataclass(frozen=True)
class DtmfCallerId:
    """A DTMF caller-ID string and what it says: a number, or why there is none.

    ``digits``: the string as received, start and end codes included. ``number_absence``:
    ``"P"`` (private) or ``"O"`` (unavailable), with the code as sent in ``absence_code``.
    ``sample``: where its last digit was detected (``None`` when parsed from text).
    """

    digits: str
    number: str | None = None
    redirecting: str | None = None
    number_absence: str | None = None
    absence_code: str | None = None
    channel: int = 0
    sample: int | None = None

    def fields(self) -> dict:
        out = {"kind": "dtmf", "digits": self.digits}
        for key in ("number", "redirecting", "number_absence", "absence_code"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


DTMF_START_CODES = "ABD"
DTMF_END_CODES = "C#"
# Reasons for absence: (start code, code) -> "P" private / "O" unavailable.
DTMF_ABSENCE_CODES = {
    ("B", "00"): "O", ("B", "10"): "P",  # information codes after B
    ("D", "00"): "O", ("D", "10"): "P",  # the same codes after a D
    ("D", "1"): "P", ("D", "2"): "O", ("D", "3"): "O",  # Denmark: restricted; international; technical
}
_DTMF_CLIP = re.compile(r"([ABD])([0-9*]*)(?:D([0-9*]*))?([C#])")


def parse_dtmf_clip(digits: str, channel: int = 0, sample: int | None = None) -> DtmfCallerId | None:
    """What a complete DTMF caller-ID string says, or ``None`` if it is not one.

    Accepted, each from a start code to an end code ``C`` or ``#``:

    - ``A<number>C``, ``A<number>#`` (Denmark ends with ``#``), and
      ``A<number>D<redirecting number>C``;
    - ``D<number>C``, ``D<number>#``: the variants that start the number with D (in use in China);
    - reasons for absence: ``B00C`` / ``D00C`` unavailable, ``B10C`` / ``D10C`` private, and
      Denmark's ``D1#`` private (restricted), ``D2#`` unavailable (international call),
      ``D3#`` unavailable (technical reasons), also ending in ``C``.

    After ``B`` or ``D``, one or two digits are a code, not a number; a code not listed gives
    ``number_absence="O"``, and every code is kept in ``absence_code``.
    """
    match = _DTMF_CLIP.fullmatch(digits.upper())
    if not match:
        return None
    start, body, redirecting, _ = match.groups()
    if start in "BD" and redirecting is None and 0 < len(body) <= 2:
        code = DTMF_ABSENCE_CODES.get((start, body), "O")
        return DtmfCallerId(digits, number_absence=code, absence_code=body, channel=channel, sample=sample)
    if start == "B" or not body or (redirecting is not None and start != "A"):
        return None
    return DtmfCallerId(digits, number=body, redirecting=redirecting or None, channel=channel, sample=sample)


class DtmfCallerIdParser:
    """Assembles DTMF caller-ID strings from digit events, per channel.

    ``feed(events)`` takes events with ``.channel``, ``.digit`` and ``.sample`` (as
    :class:`hotline.dsp.dtmf.DtmfReceiver` gives them) and returns the caller IDs completed by
    them. A string starts at a start code (``A``, ``B`` or ``D``; digits before one are
    ignored), ends at ``C`` or ``#``, and is abandoned after ``MAX_DIGIT_GAP_MS`` without a
    digit or ``MAX_DTMF_DIGITS`` digits.
    """

    def __init__(self, channels: int = 1, sample_rate: int = SAMPLE_RATE_HZ):
        self.channels = channels
        self._max_gap = int(MAX_DIGIT_GAP_MS * sample_rate / 1000)
        self._digits = [""] * channels
        self._last = [0] * channels

    def reset(self, channel: int) -> None:
        self._digits[channel] = ""

    def feed(self, events) -> list[DtmfCallerId]:
        out = []
        for event in events:
            result = self._digit(event.channel, str(event.digit).upper(), int(event.sample))
            if result is not None:
                out.append(result)
        return out

    def _digit(self, channel: int, digit: str, sample: int) -> DtmfCallerId | None:
        held = self._digits[channel]
        if held and sample - self._last[channel] > self._max_gap:
            held = ""  # stale: the rest of that string was lost
        self._last[channel] = sample
        inside_a = held.startswith("A") and digit == "D"  # A<number>D<redirecting>C
        if digit in DTMF_START_CODES and not inside_a:
            held = digit
        elif held and len(held) < MAX_DTMF_DIGITS:
            held += digit
        else:
            held = ""
        self._digits[channel] = held if digit not in DTMF_END_CODES else ""
        if held and digit in DTMF_END_CODES:
            return parse_dtmf_clip(held, channel, sample)
        return None


def dtmf_clip_digits(number: str | None = None, absence: str | None = None, start: str = "A",
                     end: str = "C") -> str:
    """The DTMF string for ``number``, or for ``absence`` ("P" or "O"): ``start``, body, ``end``.

    Absence is sent as ``B10``/``B00`` (``start`` other than D) or as Denmark's ``D1``/``D2``.
    """
    if (number is None) == (absence is None):
        raise CallerIdError("format", "DTMF caller ID carries either a number or a reason for its absence")
    if start not in DTMF_START_CODES or end not in DTMF_END_CODES:
        raise CallerIdError("format", f"start code must be one of {DTMF_START_CODES}, end code one of "
                                      f"{DTMF_END_CODES}; got {start!r} and {end!r}")
    if number is not None:
        if not number or not all(ch in "0123456789*" for ch in number):
            raise CallerIdError("format", f"a DTMF caller-ID number is digits, got {number!r}")
        return f"{start}{number}{end}"
    if absence not in ABSENCE_REASONS:
        raise CallerIdError("format", f"reason for absence must be one of {sorted(ABSENCE_REASONS)}, got {absence!r}")
    if start == "D":
        return "D" + ("1" if absence == "P" else "2") + end
    return "B" + ("10" if absence == "P" else "00") + end


def dtmf_clip(number: str | None = None, absence: str | None = None, start: str = "A", end: str = "C",
              on_ms: float = DTMF_CLIP_ON_MS, off_ms: float = DTMF_CLIP_OFF_MS, level_dbm0: float = -10.0,
              rng: np.random.Generator | None = None) -> np.ndarray:
    """The DTMF caller-ID signal (float64 samples) for :func:`dtmf_clip_digits` of the same arguments."""
    return tones.dtmf(dtmf_clip_digits(number, absence, start, end), on_ms=on_ms, off_ms=off_ms,
                      level_dbm0=level_dbm0, rng=rng)


def dtmf_caller_id(samples: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> DtmfCallerId | None:
    """The first DTMF caller ID in int16 ``samples`` of one line, or ``None``."""
    from hotline.dsp.dtmf import DtmfReceiver  # the DTMF receiver is only needed here

    receiver = DtmfReceiver(1, sample_rate=sample_rate)
    parser = DtmfCallerIdParser(1, sample_rate)
    x = np.asarray(samples, dtype=np.int16).reshape(1, -1)
    found = parser.feed(receiver.process(x))
    # Let a digit at the very end finish: its pause may not have been heard yet.
    found += parser.feed(receiver.process(np.zeros((1, sample_rate // 5), np.int16)))
    return found[0] if found else None


# --- command line ---------------------------------------------------------------------------

def _nearest_standard(shift_hz: float) -> str:
    return min(STANDARDS.values(), key=lambda s: abs(np.log(max(shift_hz, 1.0) / s.shift_hz))).name


def decode_samples(samples: np.ndarray) -> dict:
    """The caller ID in int16 ``samples`` (8 kHz, one line) as a JSON-ready dict; ``{}`` if none.

    FSK is tried first (the first message that decodes; failing that, the first error), then
    DTMF.
    """
    x = np.asarray(samples, dtype=np.int16).reshape(1, -1)
    results = []
    padded = np.concatenate([x, np.zeros((1, SAMPLE_RATE_HZ // 2), np.int16)], axis=1)  # a message
    for name in STANDARDS:  # that ends with the recording still completes
        receiver = FskCallerIdReceiver(1, name)
        results += receiver.process(padded) + receiver.flush()
    results.sort(key=lambda r: (r.message is None, r.start_sample))
    if results and results[0].message is not None:
        first = results[0]
        return {"standard": first.standard, **first.message.fields()}
    dtmf = dtmf_caller_id(x[0])
    if dtmf is not None:
        return {"standard": "dtmf", **dtmf.fields()}
    if results:
        first = results[0]
        return {"standard": first.standard, "error": first.error, "detail": first.detail}
    return {}


def main(argv=None, *, stdout=None, stderr=None) -> int:
    """``python -m hotline.dsp.callerid FILE...``: one JSON object per file on stdout.

    Exit status 0, or 2 when a file cannot be read (a one-line message on stderr names it).
    """
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    parser = argparse.ArgumentParser(
        prog="python -m hotline.dsp.callerid",
        description="Decode the caller ID (FSK Bell 202 or V.23, SDMF or MDMF; or DTMF) in recordings "
                    "of a line: raw signed 16-bit little-endian 8 kHz, or WAV of any common kind.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="recording to decode")
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        try:
            samples = read_audio(path)
        except AudioFileError as exc:
            print(f"{parser.prog}: {exc}", file=stderr)
            status = 2
            continue
        found = decode_samples(samples)
        if len(args.files) > 1:
            found = {"file": path, **found}
        print(json.dumps(found, ensure_ascii=False), file=stdout)
    return status


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess in the tests
    sys.exit(main())
