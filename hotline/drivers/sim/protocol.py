"""The simulated board's wire protocol: JSON lines between the board and its far ends.

What
    A far end (a caller on a trunk, a phone on a station, or an answerer of the box's outbound
    calls) talks to :class:`~hotline.drivers.sim.board.SimBoard` over a Unix stream socket, one
    connection per far end. Every message is one JSON object on one line, UTF-8, ending in
    ``\\n``. This module is the only place that builds and checks messages: the board's socket
    server decodes client ops with :func:`decode_op`, the clients decode the board's events
    with :func:`decode_event`, and both encode with :func:`encode`.

Client -> board (ops)
    ==========================================================  ===================================================
    ``{"op":"call","caller":"13800138000","name":"ZHANG WEI",``  ring the box on trunk ``line`` (``null``: any idle
    ``"line":null}``                                             trunk); ``caller``/``name`` ``null`` or left out:
                                                                 withheld. Reply ``ringing`` or an error
                                                                 (``no idle trunk``, ``line 2 is busy``, ...)
    ``{"op":"phone","line":N}``                                  become the phone of station ``N``; reply ``attached``
    ``{"op":"answer","number":"12345"}``                         answer the box's outbound calls to ``number``
                                                                 (``null``: any number); reply ``attached``, then
                                                                 ``incoming`` for each call offered
    ``{"op":"offhook"}``                                         phone: lift the handset (answer when ringing);
                                                                 answerer: answer the call offered
    ``{"op":"onhook"}``                                          hang up (a caller gives up or ends the call; a
                                                                 phone is put down; an answerer rejects or ends)
    ``{"op":"flash"}``                                           phone: hook flash
    ``{"op":"audio","pcm":"<base64>"}``                          one frame of what this far end says: exactly
                                                                 ``FRAME_SAMPLES`` (160) signed 16-bit
                                                                 little-endian samples at 8 kHz, base64
    ==========================================================  ===================================================

Board -> client (events)
    ============================================  ====================================================
    ``{"ev":"ringing","line":N}``                 the call rings the box on trunk ``N``
    ``{"ev":"attached","line":N|null,``           the phone is on station ``N``, or the answerer is
    ``"number":...}``                             registered (``line`` null, ``number`` as asked)
    ``{"ev":"incoming","line":N,"number":"..."}`` the box dialled ``number`` on trunk ``N``: it rings here
    ``{"ev":"answered"}``                         the box went off hook on our call
    ``{"ev":"ring","on":true|false}``             phone: the ringer starts or stops (per the cadence)
    ``{"ev":"audio","pcm":"<base64>"}``           one frame of what the box sends, every 20 ms tick
                                                  while connected
    ``{"ev":"note", ...}``                        what the box says it does: ``{"prompt":"main-menu",
                                                  "state":"start"|"end"}``, ``{"heard":"1"}``, ...
    ``{"ev":"hangup","by":"box"|"network"}``      the call ended from the other side (``network``: the
                                                  exchange withdrew an unanswered call)
    ``{"ev":"error","error":"..."}``              the last op was refused, and why
    ============================================  ====================================================

Rules
    - Pacing: the board sends one ``audio`` frame per tick while the far end is connected (a
      caller after ``answered``, a phone off hook, an answerer after answering). A far end
      that talks sends frames; it may send ahead, up to the board's queue (10 s), beyond which
      it gets an error and the excess is dropped. Frames sent while not connected are dropped,
      as speech into a ringing line is.
    - A refused op gets one ``error`` event and changes nothing. Too many errors, or a line
      longer than :data:`MAX_LINE_BYTES`, and the board closes the connection; closing the
      connection (either side) during a call is a hang-up.
    - Unknown fields in an op are an error (they are typos); clients ignore unknown fields in
      events, so the board may add some.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from hotline.drivers.base import FRAME_SAMPLES
from hotline.errors import HotlineError

MAX_LINE_BYTES = 4096  # an audio op is about 460 bytes; anything past this is not ours
MAX_NUMBER_CHARS = 32
MAX_NAME_CHARS = 50  # MDMF allows up to 253; real exchanges send 15 to 50
FRAME_BYTES = FRAME_SAMPLES * 2
NUMBER_RE = re.compile(r"[0-9*#+]+")
NAME_RE = re.compile(r"[\x20-\x7e]+")  # caller ID names are ASCII (GR-30-CORE, YDN 069)
HANGUP_BY = ("box", "network")


class ProtocolError(HotlineError, ValueError):
    """A message that is not valid in this protocol; the text says what was wrong, for the peer."""


# --- validation of single fields -------------------------------------------------------------

def check_number(value, where: str, field: str, optional: bool = True) -> str | None:
    """A telephone number: 1 to ``MAX_NUMBER_CHARS`` of ``0-9 * # +``, or ``None`` if allowed."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not NUMBER_RE.fullmatch(value) or len(value) > MAX_NUMBER_CHARS:
        raise ProtocolError(f"{where}: {field!r} must be a number of 1 to {MAX_NUMBER_CHARS} characters "
                            f"0-9 * # +{' or null' if optional else ''}, got {_show(value)}")
    return value


def check_name(value, where: str) -> str | None:
    """A caller's name: printable ASCII, 1 to ``MAX_NAME_CHARS`` characters, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, str) or not NAME_RE.fullmatch(value) or len(value) > MAX_NAME_CHARS:
        raise ProtocolError(f"{where}: 'name' must be printable ASCII of 1 to {MAX_NAME_CHARS} characters "
                            f"or null, got {_show(value)}")
    return value


def check_line(value, where: str, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProtocolError(f"{where}: 'line' must be a line number (1 or more)"
                            f"{' or null' if optional else ''}, got {_show(value)}")
    return value


def pcm_from_base64(value, where: str) -> np.ndarray:
    """One frame from its base64 text; :class:`ProtocolError` unless it is exactly one frame."""
    if not isinstance(value, str):
        raise ProtocolError(f"{where}: 'pcm' must be a base64 string, got {_show(value)}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"{where}: 'pcm' is not valid base64") from None
    if len(raw) != FRAME_BYTES:
        raise ProtocolError(f"{where}: wrong frame size: expected {FRAME_BYTES} bytes "
                            f"({FRAME_SAMPLES} samples s16le), got {len(raw)}")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


def pcm_to_base64(frame: np.ndarray) -> str:
    return base64.b64encode(np.asarray(frame, dtype="<i2").tobytes()).decode("ascii")


def _show(value) -> str:
    text = json.dumps(value) if not isinstance(value, np.ndarray) else "an array"
    return text if len(text) <= 40 else text[:37] + "..."


# --- messages --------------------------------------------------------------------------------

class Message:
    """Base of every message: ``to_wire`` gives the JSON object."""

    kind: ClassVar[str]  # the value of "op" or "ev"
    key: ClassVar[str]  # "op" or "ev"

    def to_wire(self) -> dict:
        out = {self.key: self.kind}
        for f in fields(self):
            out[f.name] = getattr(self, f.name)
        return out


class Op(Message):
    key = "op"


class Event(Message):
    key = "ev"


@dataclass(frozen=True)
class CallOp(Op):
    caller: str | None = None
    name: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class PhoneOp(Op):
    line: int


@dataclass(frozen=True)
class AnswerOp(Op):
    number: str | None = None


@dataclass(frozen=True)
class OffHookOp(Op):
    pass


@dataclass(frozen=True)
class OnHookOp(Op):
    pass


@dataclass(frozen=True)
class FlashOp(Op):
    pass


@dataclass(frozen=True, eq=False)
class AudioOp(Op):
    pcm: np.ndarray  # int16, FRAME_SAMPLES

    def to_wire(self) -> dict:
        return {"op": "audio", "pcm": pcm_to_base64(self.pcm)}


@dataclass(frozen=True)
class RingingEvent(Event):
    line: int


@dataclass(frozen=True)
class AttachedEvent(Event):
    line: int | None
    number: str | None = None


@dataclass(frozen=True)
class IncomingEvent(Event):
    line: int
    number: str


@dataclass(frozen=True)
class AnsweredEvent(Event):
    pass


@dataclass(frozen=True)
class RingEvent(Event):
    on: bool


@dataclass(frozen=True, eq=False)
class AudioEvent(Event):
    pcm: np.ndarray  # int16, FRAME_SAMPLES

    def to_wire(self) -> dict:
        return {"ev": "audio", "pcm": pcm_to_base64(self.pcm)}


@dataclass(frozen=True)
class NoteEvent(Event):
    note: dict

    def to_wire(self) -> dict:
        return {**self.note, "ev": "note"}


@dataclass(frozen=True)
class HangupEvent(Event):
    by: str  # one of HANGUP_BY


@dataclass(frozen=True)
class ErrorEvent(Event):
    error: str


OPS: dict[str, type[Op]] = {
    "call": CallOp, "phone": PhoneOp, "answer": AnswerOp, "offhook": OffHookOp,
    "onhook": OnHookOp, "flash": FlashOp, "audio": AudioOp,
}
EVENTS: dict[str, type[Event]] = {
    "ringing": RingingEvent, "attached": AttachedEvent, "incoming": IncomingEvent,
    "answered": AnsweredEvent, "ring": RingEvent, "audio": AudioEvent, "note": NoteEvent,
    "hangup": HangupEvent, "error": ErrorEvent,
}
for _name, _cls in (*OPS.items(), *EVENTS.items()):
    _cls.kind = _name
del _name, _cls


def encode(message: Message) -> bytes:
    """One message as its line of UTF-8 JSON, ``\\n`` included."""
    return (json.dumps(message.to_wire(), separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


def _parse(line: bytes | str) -> dict:
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"not UTF-8: byte 0x{exc.object[exc.start]:02x} at {exc.start}") from None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def decode_op(line: bytes | str) -> Op:
    """The op on one line from a client; :class:`ProtocolError` naming what is wrong."""
    obj = _parse(line)
    name = obj.pop("op", None)
    if name is None:
        raise ProtocolError("missing 'op'")
    if name not in OPS:
        raise ProtocolError(f"unknown op {_show(name)}; expected one of {', '.join(OPS)}")
    allowed = {f.name for f in fields(OPS[name])}
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ProtocolError(f"{name}: unknown field {unknown[0]!r}; {name} takes "
                            f"{', '.join(sorted(allowed)) if allowed else 'no fields'}")
    if name == "call":
        return CallOp(caller=check_number(obj.get("caller"), name, "caller"),
                      name=check_name(obj.get("name"), name),
                      line=check_line(obj.get("line"), name, optional=True))
    if name == "phone":
        return PhoneOp(line=check_line(obj.get("line"), name, optional=False))
    if name == "answer":
        return AnswerOp(number=check_number(obj.get("number"), name, "number"))
    if name == "audio":
        return AudioOp(pcm=pcm_from_base64(obj.get("pcm"), name))
    return OPS[name]()


def decode_event(line: bytes | str) -> Event:
    """The event on one line from the board. Unknown fields are ignored (newer boards)."""
    obj = _parse(line)
    name = obj.pop("ev", None)
    if name not in EVENTS:
        raise ProtocolError(f"unknown event {_show(name)}; expected one of {', '.join(EVENTS)}")
    try:
        if name == "note":
            return NoteEvent(note=obj)
        if name == "audio":
            return AudioEvent(pcm=pcm_from_base64(obj.get("pcm"), name))
        cls = EVENTS[name]
        return cls(**{f.name: obj[f.name] for f in fields(cls) if f.name in obj})
    except TypeError as exc:
        raise ProtocolError(f"{name}: {exc}") from None
