"""Key scripts, ``test-call`` and the terminal phone, against a tiny scripted box on a real socket.

The box here is a few lines of IVR in the test: it answers on the first ring, plays prompts
(a tone, announced with notes), hears digits with the real DTMF receiver, and hangs up. It
ticks the board as fast as the event loop lets it; the clients count call time in the box's
frames, so nothing depends on the wall clock.
"""

import asyncio
import io
import json
import re

import numpy as np
import pytest

from hotline.clock import ManualClock
from hotline.drivers.base import FRAME_SAMPLES, HookFlash, Line, LineKind, OffHook, OnHook, RingBegin
from hotline.drivers.sim import script
from hotline.drivers.sim.board import SimBoard
from hotline.drivers.sim.phone import run_phone_async
from hotline.drivers.sim.script import (EXIT_BAD_SCRIPT, EXIT_FAILED, EXIT_NO_DAEMON, EXIT_OK, Digits, Hangup,
                                        Pause, ScriptError, Voice, WaitPrompt, load_script, parse_keys,
                                        run_test_call, run_test_call_async)
from hotline.dsp import tones
from hotline.dsp.audiofile import write_wav
from hotline.dsp.dtmf import DtmfReceiver
from hotline.dsp.levels import to_pcm16

TIME_RE = re.compile(r"^\d\d:\d\d\.\d\d  ")


# --- grammar ---------------------------------------------------------------------------------

def test_script_grammar():
    assert parse_keys("w 1 w 2#, t2.5 @hello.wav h") == (
        WaitPrompt(), Digits("1"), WaitPrompt(), Digits("2#"), Pause(2.5), parse_keys("@hello.wav")[0], Hangup())
    assert parse_keys("@hello.wav")[0].path == "hello.wav"
    assert parse_keys(" W,,1a*  T.5 H ") == (WaitPrompt(), Digits("1A*"), Pause(0.5), Hangup())
    bad = {
        "w 1 x5": "--keys: token 3 'x5': expected keys 0-9 * # A-D, w, t<seconds>, @<file> or h",
        "1 t": "--keys: token 2 't': expected seconds after t",
        "t2.5s": "--keys: token 1 't2.5s': expected seconds after t",
        "t0": "--keys: token 1 't0': a wait is more than 0 and at most 3600 s",
        "t9999": "--keys: token 1 't9999': a wait is more than 0",
        "h 1": "--keys: token 2 '1': nothing may follow h",
        "12 @": "--keys: token 2 '@': expected a file name after @",
        "1w": "--keys: token 1 '1w': expected keys",
        " , ": "--keys: empty script",
    }
    for text, message in bad.items():
        with pytest.raises(ScriptError) as info:
            parse_keys(text)
        assert str(info.value).startswith(message), (text, str(info.value))


def test_load_script_reads_voice_files(tmp_path):
    write_wav(tmp_path / "hello.wav", to_pcm16(tones.sine(300, 4000, -15)))
    steps = load_script("1 @hello.wav", base=tmp_path)
    assert isinstance(steps[1], Voice) and len(steps[1].samples) == 4000
    with pytest.raises(ScriptError, match=r"token 2 '@nope.wav': .*nope.wav: cannot read"):
        load_script("1 @nope.wav", base=tmp_path)


# --- a scripted box --------------------------------------------------------------------------

PROMPTS = {"greeting": 1.0, "menu": 3.0, "thanks": 1.0}  # seconds


class ScriptedBox:
    """Greeting, then the menu; a digit during the menu: 'heard' note, thanks, hang up. The menu
    ending without a digit hangs up too. ``answer=False``: never answers."""

    def __init__(self, board, answer=True):
        self.board = board
        self.answer = answer
        self.n = len(board.lines)
        self.rx = np.zeros((self.n, FRAME_SAMPLES), np.int16)
        self.receiver = DtmfReceiver(self.n)
        self.prompt_audio = to_pcm16(tones.sine(440, 8000 * 4, -20))
        self.prompt = None
        self.left = 0
        self.position = 0
        self.line = None
        self.heard = []
        self.events = []
        self.stop = False

    def play(self, name):
        self.prompt, self.left, self.position = name, int(PROMPTS[name] * 50), 0
        self.board.annotate(self.line, {"prompt": name, "state": "start"})

    def end_prompt(self):
        self.board.annotate(self.line, {"prompt": self.prompt, "state": "end"})
        self.prompt = None

    def hang_up(self):
        self.board.on_hook(self.line)
        self.line = None

    def step(self):
        self.board.read(self.rx)
        for event in self.board.poll_events():
            self.events.append(event)
            if isinstance(event, RingBegin) and self.answer and self.line is None:
                self.line = event.line
                self.board.off_hook(event.line)
                self.receiver.reset(self.board.index(event.line))
                self.play("greeting")
            elif isinstance(event, OnHook) and event.line == self.line:
                self.board.on_hook(self.line)
                self.line = None
                self.prompt = None
        tx = np.zeros_like(self.rx)
        if self.line is not None:
            channel = self.board.index(self.line)
            for digit in self.receiver.process(self.rx):
                if digit.channel != channel:
                    continue
                self.heard.append(digit.digit)
                self.board.annotate(self.line, {"heard": digit.digit})
                if self.prompt == "menu":
                    self.end_prompt()
                    self.play("thanks")
            if self.prompt is not None:
                tx[channel] = self.prompt_audio[self.position:self.position + FRAME_SAMPLES]
                self.position += FRAME_SAMPLES
                self.left -= 1
                if self.left == 0:
                    finished = self.prompt
                    self.end_prompt()
                    if finished == "greeting":
                        self.play("menu")
                    else:
                        self.hang_up()
        self.board.write(tx)

    async def run(self):
        while not self.stop:
            self.step()
            await asyncio.sleep(0.0005)


def make_board(**options):
    lines = (Line(1, LineKind.TRUNK, "sim", 0), Line(2, LineKind.TRUNK, "sim", 1), Line(3, LineKind.STATION, "sim", 2))
    return SimBoard("sim", lines, ManualClock(), rng=np.random.default_rng(5), **options)


async def with_box(tmp_path, body, answer=True, **options):
    board = make_board(**options)
    path = tmp_path / "sim.sock"
    await board.serve(path)
    box = ScriptedBox(board, answer=answer)
    task = asyncio.create_task(box.run())
    try:
        return await body(path, box)
    finally:
        box.stop = True
        await task
        await board.close_server()


def test_run_test_call_against_a_scripted_box(tmp_path):
    out, err = io.StringIO(), io.StringIO()

    async def body(path, box):
        return await run_test_call_async(path, "w 1 w", caller="13800138000", line=None, timeout_s=20,
                                         out=out, err=err)

    code = asyncio.run(with_box(tmp_path, body))
    lines = out.getvalue().splitlines()
    assert code == EXIT_OK, (lines, err.getvalue())
    assert all(TIME_RE.match(line) for line in lines), lines
    texts = [line[10:] for line in lines]
    assert texts == [
        "call placed on line 1 as 13800138000",
        "box answered",
        "prompt greeting started",
        "prompt greeting ended",
        "prompt menu started",
        "sent digit 1",
        "box heard 1",
        "prompt menu ended",
        "prompt thanks started",
        "prompt thanks ended",
        "box hung up",
    ]
    times = {text: line[:8] for text, line in zip(texts, lines)}
    assert times["box answered"] == "00:00.00"
    assert "00:00.98" <= times["prompt greeting ended"] <= "00:01.00"  # 50 frames of greeting
    assert "00:01.00" <= times["sent digit 1"] <= "00:01.10"  # pressed as soon as the greeting ended
    assert times["sent digit 1"] < times["box heard 1"] <= "00:01.30"  # heard within the tone
    assert "00:02.00" <= times["box hung up"] <= "00:02.40"  # thanks (1 s) after the digit


def test_run_test_call_json_lines_and_hangup_by_caller(tmp_path):
    out = io.StringIO()

    async def body(path, box):
        code = await run_test_call_async(path, "t0.5 h", timeout_s=20, out=out, json_lines=True)
        for _ in range(100):  # the box sees the caller leave
            if any(isinstance(e, OnHook) for e in box.events):
                break
            await asyncio.sleep(0.01)
        return code, list(box.events)

    code, events = asyncio.run(with_box(tmp_path, body))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert code == EXIT_OK
    assert [r["event"] for r in records] == ["call", "answered", "prompt", "hangup"]
    assert records[0]["line"] == 1 and records[0]["caller"] == "13800138000"
    assert records[-1]["event"] == "hangup" and records[-1]["text"] == "caller hung up"
    assert 0.5 <= records[-1]["t"] <= 0.56 and records[-1]["time"].startswith("00:00.5")
    assert OnHook(1) in events


def test_run_test_call_box_never_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(script, "ANSWER_TIMEOUT_S", 0.3)
    out = io.StringIO()

    async def body(path, box):
        return await run_test_call_async(path, "1", timeout_s=5, out=out)

    assert asyncio.run(with_box(tmp_path, body, answer=False)) == EXIT_FAILED
    assert out.getvalue().splitlines()[-1].endswith("FAILED: box never answered within 0.3 s")


def test_run_test_call_box_never_hangs_up(tmp_path):
    out = io.StringIO()

    async def body(path, box):
        box.play = lambda name: None  # no prompts: the box answers and then says nothing
        return await run_test_call_async(path, "1", timeout_s=0.5, out=out)

    assert asyncio.run(with_box(tmp_path, body)) == EXIT_FAILED
    assert "FAILED: box did not hang up within 0.5 s" in out.getvalue()


def test_run_test_call_bad_script_exit_2(tmp_path):
    err = io.StringIO()
    assert run_test_call(tmp_path / "absent.sock", "1 x", err=err) == EXIT_BAD_SCRIPT
    assert err.getvalue().startswith("--keys: token 2 'x': expected")


def test_run_test_call_no_daemon_exit_7(tmp_path):
    err = io.StringIO()
    assert run_test_call(tmp_path / "absent.sock", "1 w h", out=io.StringIO(), err=err) == EXIT_NO_DAEMON
    assert "absent.sock" in err.getvalue() and "daemon" in err.getvalue()
    stale = tmp_path / "stale.sock"  # a socket file nobody listens on
    import socket
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(stale))
    sock.close()
    assert run_test_call(stale, "1", out=io.StringIO(), err=io.StringIO()) == EXIT_NO_DAEMON


# --- the terminal phone, keys fed by a function ----------------------------------------------

def test_phone_caller_keys_become_dtmf(tmp_path):
    out = io.StringIO()

    async def body(path, box):
        async def keys():
            for _ in range(500):
                if box.prompt == "menu":
                    break
                await asyncio.sleep(0.005)
            yield "7"
            yield "h"
        code = await run_phone_async(path, audio=False, keys=keys(), out=out, err=io.StringIO())
        return code, list(box.heard)

    code, heard = asyncio.run(with_box(tmp_path, body))
    assert code == EXIT_OK
    assert heard == ["7"]
    texts = [line[10:] for line in out.getvalue().splitlines()]
    assert "sent digit 7" in texts and "box heard 7" in texts


def test_phone_station_keys(tmp_path):
    out = io.StringIO()

    async def body(path, box):
        box.answer = False

        async def keys():
            await asyncio.sleep(0.05)
            box.board.ring(3)
            for _ in range(500):
                if "ringing" in out.getvalue():
                    break
                await asyncio.sleep(0.005)
            for key in "o5fhq":
                yield key
                await asyncio.sleep(0.02)
        code = await run_phone_async(path, station=3, audio=False, keys=keys(), out=out, err=io.StringIO())
        await asyncio.sleep(0.05)
        return code, [e for e in box.events if e.line == 3]

    code, events = asyncio.run(with_box(tmp_path, body))
    assert code == EXIT_OK
    assert events == [OffHook(3), HookFlash(3), OnHook(3)]
    texts = [line[10:] for line in out.getvalue().splitlines()]
    assert texts[:4] == ["phone on station 3", "ringing", "phone lifted", "sent digit 5"]
    assert "hook flash" in texts and "phone put down" in texts
