"""Key scripts: a whole test call in one line, and what ``hotlinectl test-call`` runs.

What
    ``hotlinectl test-call [--caller NUMBER] [--line N] --keys SCRIPT`` places a call to the
    running daemon through the simulated board's socket, as a citizen would: waits for the box
    to answer, presses keys, waits for prompts, speaks, hangs up, and prints a transcript as it
    happens. A technician uses it to try a flow before publishing it; scripts and tests use
    its exit status. :func:`run_test_call` is that command; :func:`parse_keys` the grammar.

Grammar
    Tokens are separated by spaces or commas (``"w 1 w 2#, t2.5 h"``); case does not matter:

    ===============  ===========================================================================
    ``0-9*#ABCD``    a run of keys, each sent as DTMF: 80 ms of tone, 80 ms of silence
    ``w``            wait until the prompt playing now ends (or, if none plays, the next one)
    ``t2.5``         wait 2.5 s of call time (more than 0, at most 3600)
    ``@path.wav``    say the audio file (any WAV the box reads, or raw 16-bit 8 kHz) as the voice
    ``h``            hang up (must be the last token)
    ===============  ===========================================================================

    After the last token, unless it is ``h``, the call waits for the box to hang up (up to
    ``timeout_s``). A bad token is reported by its position: ``--keys: token 3 'x5': expected
    ...``.

Exit status
    0 the call ran to its end (the box answered and one side hung up normally); 1 the box never
    answered within :data:`ANSWER_TIMEOUT_S`, or a wait timed out, or the connection was lost; 2 a
    bad script; 4 no permission to use the socket; 7 the socket is absent or refuses (the daemon
    is not running, or not with the sim board). These follow the LSB's init-script codes.

Transcript
    One line per event, call time first (``mm:ss.ss``, counted in the box's 20 ms frames since
    it answered): the call placed (line, caller), the answer, each prompt's start and end and
    each digit the box heard (from the box's notes), each digit and voice file sent (at the time
    the box hears it), who hung up. With ``json_lines`` each line is a JSON object instead.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from hotline.drivers.sim.farend import (DEFAULT_CALLER, SimCallError, SimCaller, SimClient, SimUnavailable,
                                        TranscriptLine)
from hotline.dsp.audiofile import read_audio
from hotline.errors import AudioFileError, HotlineError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_SCRIPT = 2
EXIT_NO_PERMISSION = 4
EXIT_NO_DAEMON = 7
ANSWER_TIMEOUT_S = 30.0  # GB/T 33358 asks for an answer within 15 s; twice that is a failure
DEFAULT_TIMEOUT_S = 60.0
MAX_PAUSE_S = 3600.0
DIGITS_RE = re.compile(r"[0-9*#ABCD]+")
PAUSE_RE = re.compile(r"T(\d+(?:\.\d*)?|\.\d+)")
TOKEN_SPLIT_RE = re.compile(r"[\s,]+")
EXPECTED = "expected keys 0-9 * # A-D, w, t<seconds>, @<file> or h"


class ScriptError(HotlineError, ValueError):
    """A key script that cannot run; the text names the token and what was expected."""


@dataclass(frozen=True)
class Digits:
    digits: str


@dataclass(frozen=True)
class WaitPrompt:
    pass


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Voice:
    path: str
    samples: np.ndarray | None = field(default=None, compare=False, repr=False)  # filled by load_script


@dataclass(frozen=True)
class Hangup:
    pass


Step = Digits | WaitPrompt | Pause | Voice | Hangup


def _error(position: int, token: str, what: str) -> ScriptError:
    return ScriptError(f"--keys: token {position} {token!r}: {what}")


def parse_keys(text: str) -> tuple[Step, ...]:
    """The steps of a key script; :class:`ScriptError` naming the first bad token."""
    tokens = [t for t in TOKEN_SPLIT_RE.split(text.strip()) if t]
    if not tokens:
        raise ScriptError(f"--keys: empty script; {EXPECTED}")
    steps: list[Step] = []
    for position, token in enumerate(tokens, start=1):
        if steps and isinstance(steps[-1], Hangup):
            raise _error(position, token, "nothing may follow h (hang up)")
        upper = token.upper()
        if upper == "W":
            steps.append(WaitPrompt())
        elif upper == "H":
            steps.append(Hangup())
        elif token.startswith("@"):
            if len(token) == 1:
                raise _error(position, token, "expected a file name after @, e.g. @hello.wav")
            steps.append(Voice(token[1:]))
        elif upper.startswith("T"):
            match = PAUSE_RE.fullmatch(upper)
            if match is None:
                raise _error(position, token, "expected seconds after t, e.g. t2.5")
            seconds = float(match.group(1))
            if not 0 < seconds <= MAX_PAUSE_S:
                raise _error(position, token, f"a wait is more than 0 and at most {MAX_PAUSE_S:g} s")
            steps.append(Pause(seconds))
        elif DIGITS_RE.fullmatch(upper):
            steps.append(Digits(upper))
        else:
            raise _error(position, token, EXPECTED)
    return tuple(steps)


def load_script(text: str, base: Path | None = None) -> tuple[Step, ...]:
    """:func:`parse_keys`, with every voice file read (relative to ``base``, default the cwd)."""
    steps = parse_keys(text)
    tokens = [t for t in TOKEN_SPLIT_RE.split(text.strip()) if t]
    loaded: list[Step] = []
    for position, (token, step) in enumerate(zip(tokens, steps), start=1):
        if isinstance(step, Voice):
            path = Path(step.path) if base is None else Path(base) / step.path
            try:
                samples = read_audio(path)
            except AudioFileError as exc:
                raise _error(position, token, str(exc)) from None
            if len(samples) == 0:
                raise _error(position, token, f"{path}: no audio in the file")
            step = Voice(step.path, samples)
        loaded.append(step)
    return tuple(loaded)


def _printer(out: TextIO, json_lines: bool):
    def show(line: TranscriptLine) -> None:
        text = json.dumps(line.to_json(), ensure_ascii=False) if json_lines else line.format()
        print(text, file=out, flush=True)
    return show


async def connect_or_exit_code(client: SimClient, socket_path: str | Path, prog: str, err: TextIO) -> int | None:
    """Connect ``client`` to the sim socket; None when connected, else the exit code, the reason
    printed on ``err``."""
    try:
        await client.connect(socket_path)
    except SimUnavailable as exc:
        print(f"{prog}: {exc}", file=err)
        return EXIT_NO_DAEMON
    except PermissionError as exc:
        print(f"{prog}: {socket_path}: {exc.strerror}: the socket is for the hotline group", file=err)
        return EXIT_NO_PERMISSION
    return None


async def run_test_call_async(socket_path: str | Path, keys: str, caller: str | None = DEFAULT_CALLER,
                              line: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                              out: TextIO | None = None, *, name: str | None = None, json_lines: bool = False,
                              err: TextIO | None = None) -> int:
    """:func:`run_test_call` inside a running event loop."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        steps = load_script(keys)
    except ScriptError as exc:
        print(exc, file=err)
        return EXIT_BAD_SCRIPT
    client = SimCaller(on_line=_printer(out, json_lines))
    refused = await connect_or_exit_code(client, socket_path, "test-call", err)
    if refused is not None:
        return refused
    try:
        return await _run_call(client, steps, caller, name, line, timeout_s)
    except SimCallError as exc:
        client.note("fail", f"FAILED: {exc}")
        return EXIT_FAILED
    finally:
        await client.close()


async def _run_call(client: SimCaller, steps, caller, name, line, timeout_s: float) -> int:
    try:
        await client.call(caller, name, line)
    except SimCallError as exc:
        client.note("fail", f"FAILED: the board refused the call: {exc}")
        return EXIT_FAILED
    try:
        answered = await client.wait_answered(ANSWER_TIMEOUT_S)
    except TimeoutError:
        answered = False
    if not answered:
        if client.ended_by == "lost":
            client.note("fail", "FAILED: connection to the box lost before it answered")
        else:
            await client.hangup()
            client.note("fail", f"FAILED: box never answered within {ANSWER_TIMEOUT_S:g} s")
        return EXIT_FAILED
    for done, step in enumerate(steps):
        if client.ended_by is not None:
            left = len(steps) - done
            client.note("info", f"box hung up before the script ended ({left} step{'s' * (left > 1)} not run)")
            break
        try:
            await _run_step(client, step, timeout_s)
        except TimeoutError:
            what = "no prompt ended" if isinstance(step, WaitPrompt) else "the step did not finish"
            await client.hangup()
            client.note("fail", f"FAILED: {what} within {timeout_s:g} s")
            return EXIT_FAILED
    if client.ended_by is None:
        try:
            await client.wait_ended(timeout_s)
        except TimeoutError:
            await client.hangup()
            client.note("fail", f"FAILED: box did not hang up within {timeout_s:g} s")
            return EXIT_FAILED
    return EXIT_FAILED if client.ended_by == "lost" else EXIT_OK


async def _run_step(client: SimCaller, step: Step, timeout_s: float) -> None:
    if isinstance(step, Digits):
        await client.send_digits(step.digits, timeout=timeout_s)
    elif isinstance(step, WaitPrompt):
        await client.wait_prompt_end(timeout_s)
    elif isinstance(step, Pause):
        await client.wait_time(step.seconds, timeout=step.seconds + timeout_s)
    elif isinstance(step, Voice):
        await client.send_voice(step.samples, Path(step.path).name, timeout=timeout_s)
    elif isinstance(step, Hangup):
        await client.hangup()


def run_test_call(socket_path: str | Path, keys: str, caller: str | None = DEFAULT_CALLER,
                  line: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, out: TextIO | None = None,
                  *, name: str | None = None, json_lines: bool = False, err: TextIO | None = None) -> int:
    """Place a test call through the sim socket and run the key script ``keys``; the exit status.

    ``caller``: the calling number the box sees in the caller ID; ``line``: a trunk (``None``:
    any idle one); ``timeout_s``: how long each wait may take, and how long the box has to hang
    up after the last token. The transcript goes to ``out`` line by line (JSON objects with
    ``json_lines``), problems with the script or the socket to ``err``.
    """
    return asyncio.run(run_test_call_async(socket_path, keys, caller, line, timeout_s, out, name=name,
                                           json_lines=json_lines, err=err))
