"""The simulated board, as the box sees it (read, write, poll_events, commands) and as far ends
see it (in-process handles and the Unix socket).

The board is driven tick by tick, never sleeping: one ``read`` + ``write`` is 20 ms. What the
box hears is checked with the box's own receivers (DTMF, call progress, FSK caller ID).
"""

import asyncio
import base64
import datetime as dt
import json
import stat

import numpy as np
import pytest

from hotline.clock import ManualClock
from hotline.drivers.base import (FRAME_SAMPLES, DialComplete, DriverError, HookFlash, Line, LineKind, OffHook,
                                  OnHook, PolarityReversal, RingBegin, RingEnd)
from hotline.drivers.sim import board as sim_board
from hotline.drivers.sim.board import MAX_ERRORS, MAX_QUEUED_FRAMES, FarEndError, SimBoard
from hotline.drivers.sim.protocol import (AnsweredEvent, AttachedEvent, AudioEvent, HangupEvent, IncomingEvent,
                                          NoteEvent, RingEvent, RingingEvent, encode)
from hotline.dsp import g711, tones
from hotline.dsp.callerid import FskCallerIdReceiver
from hotline.dsp.dtmf import DtmfReceiver
from hotline.dsp.levels import level_dbm0, to_pcm16
from hotline.dsp.progress import ProgressDetector

WALL = 1_795_000_000.0  # 2026-11-18, some time of day
CALLER = "13800138000"
NAME = "ZHANG WEI"


def make_board(trunks=2, stations=1, **options):
    lines = tuple(Line(i + 1, LineKind.TRUNK if i < trunks else LineKind.STATION, "sim", i)
                  for i in range(trunks + stations))
    options.setdefault("rng", np.random.default_rng(20261126))
    return SimBoard("sim", lines, ManualClock(start_wall=WALL), **options)


class Box:
    """Drives the board as the media loop does: read, poll events, write, once per tick."""

    def __init__(self, board):
        self.board = board
        self.n = len(board.lines)
        self.rx = np.zeros((self.n, FRAME_SAMPLES), np.int16)
        self.heard = []  # every rx block
        self.events = []  # (tick, event)

    def tick(self, tx=None):
        self.board.read(self.rx)
        self.heard.append(self.rx.copy())
        events = self.board.poll_events()
        self.events.extend((self.board.tick, e) for e in events)
        self.board.write(np.zeros_like(self.rx) if tx is None else tx)
        return events

    def run(self, ticks, tx=None):
        """``ticks`` ticks; the events of those ticks."""
        start = len(self.events)
        for k in range(ticks):
            self.tick(None if tx is None else tx(k))
        return [e for _, e in self.events[start:]]

    def until(self, predicate, limit=3000):
        """Tick until an event satisfies ``predicate``; that event."""
        for _ in range(limit):
            for event in self.tick():
                if predicate(event):
                    return event
        raise AssertionError(f"no such event within {limit} ticks; got {self.events[-5:]}")

    def audio(self, since=0):
        """What the box heard, per line, from block ``since`` on: shape (lines, samples)."""
        return np.concatenate(self.heard[since:], axis=1)


def tone_frames(freq_hz, level_dbm0_, n_lines, line_index):
    """A tx function: a sine on one line, silence on the others."""
    signal = to_pcm16(tones.sine(freq_hz, FRAME_SAMPLES * 2000, level_dbm0_))

    def tx(k):
        out = np.zeros((n_lines, FRAME_SAMPLES), np.int16)
        out[line_index] = signal[k * FRAME_SAMPLES:(k + 1) * FRAME_SAMPLES]
        return out
    return tx


def digits_heard(audio, channels):
    receiver = DtmfReceiver(channels)
    return {c: "".join(e.digit for e in receiver.process(audio) if e.channel == c) for c in range(channels)}


def tones_heard(audio, channels):
    detector = ProgressDetector(channels, plan="china")
    found = {c: [] for c in range(channels)}
    for e in detector.process(audio):
        if e.kind not in ("silence", "voice", "tone_end"):
            found[e.channel].append((e.kind, e.sample))
    return found


# --- trunks, inbound -------------------------------------------------------------------------

def test_inbound_call_rings_with_cadence_and_answers():
    board = make_board(callerid="none", ring_cadence_ms=(1000, 4000))
    box = Box(board)
    caller = board.attach_caller(caller=CALLER, name=NAME)
    assert caller.line == 1
    assert caller.take() == [RingingEvent(1)]
    box.run(520)
    assert box.events == [(1, RingBegin(1)), (51, RingEnd(1, 1000)), (251, RingBegin(1)),
                          (301, RingEnd(1, 1000)), (501, RingBegin(1))]
    # The next caller hunts the next idle trunk; a third finds none; a busy trunk is refused.
    second = board.attach_caller(caller="13900000000")
    assert second.line == 2
    with pytest.raises(FarEndError, match="no idle trunk"):
        board.attach_caller()
    with pytest.raises(FarEndError, match="line 1 is busy"):
        board.far_end().call(CALLER, None, 1)
    with pytest.raises(FarEndError, match="line 3 is a station"):
        board.far_end().call(CALLER, None, 3)
    board.off_hook(1)  # mid-burst: the ringing just stops
    assert caller.take() == [AnsweredEvent()]
    assert board.line_phase(1) == "connected"
    ring_events = [e for e in box.run(600) if e.line == 1]
    assert ring_events == []
    assert board.poll_events() == []


def test_caller_gives_up_while_ringing_gives_no_hangup_event():
    board = make_board(callerid="none")
    box = Box(board)
    caller = board.attach_caller()
    box.run(20)  # 400 ms into the first burst
    caller.hangup()
    later = box.run(600)
    assert later == [RingEnd(1, 400)]  # the burst cut short ends; nothing says the caller left
    assert board.line_phase(1) == "idle"
    again = board.attach_caller(line=1)  # the trunk takes a new call
    assert again.line == 1


@pytest.mark.parametrize("mode", ["fsk_before_ring", "fsk_after_first_ring"])
def test_caller_id_fsk_is_on_the_line(mode):
    board = make_board(callerid=mode)
    box = Box(board)
    board.attach_caller(caller=CALLER, name=NAME)
    first_ring = box.until(lambda e: isinstance(e, RingBegin))
    ring_tick = board.tick
    ring_end = box.until(lambda e: isinstance(e, RingEnd))
    end_tick = board.tick
    box.until(lambda e: isinstance(e, RingBegin))
    second_tick = board.tick
    assert first_ring.line == 1 and ring_end.on_ms == 1000
    results = FskCallerIdReceiver(3).process(box.audio())
    assert [r.channel for r in results] == [0]  # only the ringing line carries it
    message = results[0].message
    assert message is not None, results[0]
    expected_time = dt.datetime.fromtimestamp(WALL).strftime("%m%d%H%M")
    assert (message.number, message.name, message.datetime) == (CALLER, NAME, expected_time)
    start, end = results[0].start_sample / FRAME_SAMPLES, results[0].sample / FRAME_SAMPLES
    if mode == "fsk_before_ring":
        assert end < ring_tick - 0.4 * 50  # the spill ends about 0.5 s before the first ring
        assert ring_tick - end < 1.0 * 50
    else:
        assert start > end_tick + 0.45 * 50  # at least 0.5 s after ring 1 ends (GR-30-CORE)
        assert end < second_tick  # and done before ring 2


def test_caller_id_none_and_withheld_number():
    quiet = make_board(callerid="none")
    box = Box(quiet)
    quiet.attach_caller(caller=CALLER)
    box.until(lambda e: isinstance(e, RingEnd))
    box.run(150)
    assert FskCallerIdReceiver(3).process(box.audio()) == []
    withheld = make_board(callerid="fsk_before_ring")
    box = Box(withheld)
    withheld.attach_caller(caller=None)
    box.until(lambda e: isinstance(e, RingBegin))
    (result,) = FskCallerIdReceiver(3).process(box.audio())
    assert result.message.number is None and result.message.number_absence == "P"


def test_far_end_audio_reaches_box_through_line_model(rng):
    board = make_board(callerid="none", codec="alaw", noise_dbm0=-70.0)
    box = Box(board)
    caller = board.attach_caller()
    box.until(lambda e: isinstance(e, RingBegin))
    board.off_hook(1)
    start = len(box.heard)
    caller.send_audio(tones.dtmf("159#", on_ms=80, off_ms=80, level_dbm0=-8, rng=rng))
    box.run(60)
    audio = box.audio(start)
    assert digits_heard(audio, 3) == {0: "159#", 1: "", 2: ""}
    assert np.array_equal(g711.round_trip(audio[0], "alaw"), audio[0])  # it went through A-law
    assert level_dbm0(audio[0, :640]) == pytest.approx(-8 + 3.0, abs=1.0)  # two tones of -8 dBm0
    assert -75 < level_dbm0(audio[1]) < -60  # an idle line carries line noise only (A-law's floor: +-8)


def test_box_audio_reaches_far_end_and_echoes_back():
    board = make_board(callerid="none", echo_loss_db=30.0, noise_dbm0=None, codec=None)
    box = Box(board)
    caller = board.attach_caller()
    assert caller.take() == [RingingEvent(1)]
    tx = tone_frames(1000, -10, 3, 0)
    box.run(40, tx)  # ringing: the box's output goes nowhere
    assert caller.take() == []
    board.off_hook(1)
    start = len(box.heard)
    box.run(100, lambda k: tx(40 + k))
    events, audio = caller.take_split()
    assert events == [AnsweredEvent()]
    expected = np.concatenate([tx(40 + k)[0] for k in range(100)])
    assert np.array_equal(audio, expected)  # every frame, in order, untouched
    echo = box.audio(start)[0, 400:]
    assert level_dbm0(echo) == pytest.approx(-10 - 30, abs=0.5)  # the hybrid returns it 30 dB down
    board.on_hook(1)
    box.run(10, tx)
    assert caller.take() == [HangupEvent("box")]


def test_caller_hangup_gives_onhook():
    board = make_board(callerid="none")
    box = Box(board)
    caller = board.attach_caller()
    box.until(lambda e: isinstance(e, RingBegin))
    board.off_hook(1)
    box.run(10)
    caller.hangup()
    assert box.run(1) == [OnHook(1)]
    caller.take()
    box.run(10)
    assert caller.take() == []  # nothing reaches a far end that left
    assert board.line_phase(1) == "dead"
    board.on_hook(1)
    assert board.line_phase(1) == "idle"
    assert board.attach_caller(line=1).line == 1


def test_busy_tone_disconnect_mode():
    board = make_board(callerid="none", disconnect="busy_tone")
    box = Box(board)
    caller = board.attach_caller()
    box.until(lambda e: isinstance(e, RingBegin))
    board.off_hook(1)
    box.run(25)
    start = len(box.heard)
    caller.hangup()
    assert box.run(100) == []  # no loop break: no event at all
    found = tones_heard(box.audio(start), 3)
    assert [kind for kind, _ in found[0]] == ["busy"]
    assert found[0][0][1] < 1.0 * 8000  # found within a second
    assert found[1] == [] and found[2] == []
    board.on_hook(1)
    quiet = len(box.heard)
    box.run(50)
    assert level_dbm0(box.audio(quiet)[0]) < -65  # the box hung up: the tone is gone


# --- stations --------------------------------------------------------------------------------

def test_station_ring_answer_hangup_flash():
    board = make_board(trunks=1, stations=1)
    box = Box(board)
    phone = board.attach_phone(2)
    assert phone.take() == [AttachedEvent(2)]
    with pytest.raises(FarEndError, match="station 2 already has a phone"):
        board.attach_phone(2)
    board.ring(2, (1000, 4000))
    rings = []
    for _ in range(260):
        box.tick()
        rings.extend((board.tick, e.on) for e in phone.take() if isinstance(e, RingEvent))
    assert rings == [(1, True), (51, False), (251, True)]
    assert [e for _, e in box.events] == []
    phone.offhook()  # answers during a burst
    assert board.poll_events() == [OffHook(2)]
    assert phone.take() == [RingEvent(False)]
    tx = tone_frames(700, -10, 2, 1)
    box.run(300, tx)
    events, audio = phone.take_split()
    assert events == []  # the ringer stopped for good
    assert len(audio) == 300 * FRAME_SAMPLES and np.array_equal(audio[:FRAME_SAMPLES], tx(0)[1])
    phone.flash()
    assert board.poll_events() == [HookFlash(2)]
    phone.onhook()
    assert board.poll_events() == [OnHook(2)]
    with pytest.raises(FarEndError, match="on hook"):
        phone.flash()
    phone.offhook()  # lifted while not ringing: the agent wants dial tone
    assert board.poll_events() == [OffHook(2)]
    board.ring(2)  # ringing an off-hook phone trips at once
    assert board.poll_events() == [OffHook(2)]
    board.off_hook(2)
    with pytest.raises(DriverError, match="off hook"):
        board.ring(2)
    phone.take()
    board.on_hook(2)  # the box hangs up the agent
    assert phone.take() == [HangupEvent("box")]
    with pytest.raises(DriverError, match="station"):
        board.dial(2, "1")
    with pytest.raises(DriverError, match="trunk"):
        board.ring(1)


# --- trunks, outbound ------------------------------------------------------------------------

def test_outbound_call_ringback_answer_polarity(rng):
    board = make_board()
    box = Box(board)
    answerer = board.attach_answerer("12345")
    assert answerer.take() == [AttachedEvent(None, "12345")]
    board.off_hook(1)
    start = len(box.heard)
    box.run(100)
    assert [k for k, _ in tones_heard(box.audio(start), 3)[0]] == ["dial"]
    board.dial(1, "12345")
    dialled = board.tick
    event = box.until(lambda e: isinstance(e, DialComplete))
    assert event == DialComplete(1) and board.tick - dialled == 50  # 5 digits x (100 ms + 100 ms gap)
    assert answerer.take() == [IncomingEvent(1, "12345")]
    start = len(box.heard)
    box.run(150)
    assert [k for k, _ in tones_heard(box.audio(start), 3)[0]] == ["ringback"]
    answerer.offhook()
    assert box.run(1) == [PolarityReversal(1), OffHook(1)]
    start = len(box.heard)
    answerer.send_audio(tones.dtmf("7", on_ms=80, off_ms=80, level_dbm0=-8, rng=rng))
    tx = tone_frames(1000, -10, 3, 0)
    box.run(30, tx)
    assert digits_heard(box.audio(start), 3)[0] == "7"
    _, audio = answerer.take_split()
    assert np.array_equal(audio[-FRAME_SAMPLES:], tx(29)[0])
    answerer.hangup()
    assert box.run(1) == [OnHook(1)]


def test_outbound_no_answerer_congestion():
    board = make_board()
    box = Box(board)

    def place_call(line, number):
        board.off_hook(line)
        board.dial(line, number)
        box.until(lambda e: isinstance(e, DialComplete) and e.line == line)
        return len(box.heard)

    start = place_call(1, "110")
    box.run(100)
    assert [k for k, _ in tones_heard(box.audio(start), 3)[0]] == ["congestion"]
    board.on_hook(1)
    board.attach_answerer("12345")
    start = place_call(1, "999")  # someone answers another number: still unknown
    box.run(100)
    assert [k for k, _ in tones_heard(box.audio(start), 3)[0]] == ["congestion"]
    board.on_hook(1)


def test_outbound_no_answer_then_busy():
    board = make_board()
    box = Box(board)
    answerer = board.attach_answerer(None)  # answers any number, but never does
    answerer.take()
    board.off_hook(2)
    board.dial(2, "12345")
    box.until(lambda e: isinstance(e, DialComplete))
    assert answerer.take() == [IncomingEvent(2, "12345")]
    start = len(box.heard)
    no_answer_ticks = sim_board.NO_ANSWER_S * 50
    box.run(no_answer_ticks + 100)
    found = tones_heard(box.audio(start), 3)[1]
    assert [k for k, _ in found] == ["ringback", "busy"]
    assert found[1][1] / 8000 == pytest.approx(sim_board.NO_ANSWER_S, abs=1.0)
    assert answerer.take() == [HangupEvent("network")]
    board.on_hook(2)
    with pytest.raises(DriverError, match="seized"):
        board.dial(2, "1")  # on hook


def test_dial_refuses_bad_digits():
    board = make_board()
    board.off_hook(1)
    with pytest.raises(DriverError, match="cannot dial"):
        board.dial(1, "12x")


# --- notes -----------------------------------------------------------------------------------

def test_notes_reach_far_end():
    board = make_board(callerid="none")
    caller = board.attach_caller()
    caller.take()
    board.annotate(1, {"prompt": "main-menu", "state": "start"})
    board.annotate(1, {"heard": "1", "ev": "not-an-override"})
    board.annotate(2, {"prompt": "nobody-listens", "state": "start"})  # no far end: ignored
    notes = caller.take()
    assert notes == [NoteEvent({"prompt": "main-menu", "state": "start"}),
                     NoteEvent({"heard": "1", "ev": "not-an-override"})]
    assert [json.loads(encode(n)) for n in notes] == [
        {"prompt": "main-menu", "state": "start", "ev": "note"}, {"heard": "1", "ev": "note"}]
    with pytest.raises(DriverError):
        board.annotate(9, {"heard": "1"})


# --- audio queue -----------------------------------------------------------------------------

def test_queue_overflow_is_refused():
    board = make_board(callerid="none", noise_dbm0=None, echo_loss_db=None)
    box = Box(board)
    caller = board.attach_caller()
    board.off_hook(1)
    tone = tones.sine(1000, 8000 * 9, -10)  # 9 s: fits
    caller.send_audio(tone)
    with pytest.raises(FarEndError, match="queue full.*50 frames dropped"):
        caller.send_audio(tones.sine(1000, 8000 * 2, -10))  # 2 s more: 1 s of it is refused
    assert caller.queued_frames == MAX_QUEUED_FRAMES
    box.run(MAX_QUEUED_FRAMES + 50)
    loud = [level_dbm0(block[0]) > -20 for block in box.heard]
    assert sum(loud) == MAX_QUEUED_FRAMES and all(loud[:MAX_QUEUED_FRAMES])


# --- the socket ------------------------------------------------------------------------------

async def read_event(reader, timeout=5.0):
    line = await asyncio.wait_for(reader.readline(), timeout)
    assert line, "connection closed"
    return json.loads(line)


async def next_non_audio(reader):
    while True:
        event = await read_event(reader)
        if event["ev"] != "audio":
            return event


def send(writer, obj):
    writer.write((json.dumps(obj) + "\n").encode() if not isinstance(obj, bytes) else obj)


def audio_op(samples):
    return {"op": "audio", "pcm": base64.b64encode(np.asarray(samples, "<i2").tobytes()).decode()}


class TickingBox:
    """Ticks the board in the background, as the daemon's media loop would."""

    def __init__(self, board, answer=True, tx=None):
        self.box = Box(board)
        self.answer = answer
        self.tx = tx
        self.stop = False

    async def run(self):
        k = 0
        while not self.stop:
            for event in self.box.tick(None if self.tx is None else self.tx(k)):
                if self.answer and isinstance(event, RingBegin):
                    self.box.board.off_hook(event.line)
            k += 1
            await asyncio.sleep(0.001)


def test_socket_protocol_round_trip(tmp_path, rng):
    async def main():
        board = make_board(callerid="none", noise_dbm0=None)
        path = tmp_path / "sim.sock"
        await board.serve(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        tx = tone_frames(1000, -10, 3, 0)
        ticking = TickingBox(board, tx=tx)
        task = asyncio.create_task(ticking.run())
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
            send(writer, {"op": "call", "caller": CALLER, "name": NAME, "line": None})
            assert await read_event(reader) == {"ev": "ringing", "line": 1}
            assert await read_event(reader) == {"ev": "answered"}
            first = await read_event(reader)
            assert first["ev"] == "audio"
            box_audio = np.frombuffer(base64.b64decode(first["pcm"]), "<i2")
            assert level_dbm0(box_audio) == pytest.approx(-10, abs=0.2)  # the box's tone, as sent
            start = len(ticking.box.heard)
            dtmf = to_pcm16(tones.dtmf("42", on_ms=80, off_ms=80, level_dbm0=-8, rng=rng))
            for frame in dtmf.reshape(-1, FRAME_SAMPLES):
                send(writer, audio_op(frame))
            await writer.drain()
            for _ in range(40):
                await read_event(reader)
            assert digits_heard(ticking.box.audio(start), 3)[0] == "42"
            send(writer, {"op": "onhook"})
            await writer.drain()
            for _ in range(200):
                if any(isinstance(e, OnHook) for _, e in ticking.box.events):
                    break
                await asyncio.sleep(0.005)
            assert (OnHook(1) in [e for _, e in ticking.box.events])
            writer.close()
        finally:
            ticking.stop = True
            await task
            await board.close_server()
        assert not path.exists()

    asyncio.run(main())


def test_socket_garbage_gets_error_then_dropped_and_board_goes_on(tmp_path):
    async def main():
        board = make_board(callerid="none")
        path = tmp_path / "sim.sock"
        await board.serve(path)
        ticking = TickingBox(board)
        task = asyncio.create_task(ticking.run())
        try:
            good = board.attach_caller(line=1)  # an in-process caller in a call all along
            phone_reader, phone_writer = await asyncio.open_unix_connection(str(path))
            send(phone_writer, {"op": "phone", "line": 3})
            assert await read_event(phone_reader) == {"ev": "attached", "line": 3, "number": None}

            reader, writer = await asyncio.open_unix_connection(str(path))
            garbage = [
                (b"hello\n", "not JSON"),
                ({"op": "dance"}, "unknown op \"dance\""),
                ({"op": "audio", "pcm": "!!!not base64!!!"}, "not valid base64"),
                (audio_op(np.zeros(100)), "wrong frame size: expected 320 bytes"),
                ({"op": "call", "line": 99}, "no line 99"),
                ({"op": "call", "line": 1}, "line 1 is busy"),
                ({"op": "phone", "line": 3}, "station 3 already has a phone"),
                ({"op": "call", "caller": "abc"}, "'caller' must be a number"),
                ({"op": "call", "colour": "red"}, "unknown field 'colour'"),
                (b"[1, 2]\n", "expected a JSON object"),
            ]
            for message, expected in garbage:
                send(writer, message)
                event = await read_event(reader)
                assert event["ev"] == "error" and expected in event["error"], (message, event)
            for _ in range(MAX_ERRORS - len(garbage)):
                send(writer, b"x\n")
                assert (await read_event(reader))["ev"] == "error"
            send(writer, b"x\n")  # one error too many
            assert (await read_event(reader))["ev"] == "error"
            last = await read_event(reader)
            assert "closing" in last["error"]
            assert await asyncio.wait_for(reader.readline(), 5) == b""  # dropped

            # The board and its other far ends went on.
            before = len(ticking.box.heard)
            good.take()
            await asyncio.sleep(0.05)
            assert len(ticking.box.heard) > before
            assert any(isinstance(e, AudioEvent) for e in good.take())
            send(phone_writer, {"op": "offhook"})
            await phone_writer.drain()
            assert (await read_event(phone_reader))["ev"] == "audio"  # off hook: it hears the box
            assert OffHook(3) in [e for _, e in ticking.box.events]

            # A caller in a call that sends an overlong line is dropped: its line goes on hook.
            r2, w2 = await asyncio.open_unix_connection(str(path))
            send(w2, {"op": "call", "line": 2})
            assert await read_event(r2) == {"ev": "ringing", "line": 2}
            assert await next_non_audio(r2) == {"ev": "answered"}
            w2.write(b"{" + b" " * (sim_board.protocol.MAX_LINE_BYTES + 10) + b"}\n")
            error = await next_non_audio(r2)
            assert "longer than" in error["error"]
            for _ in range(200):
                if OnHook(2) in [e for _, e in ticking.box.events]:
                    break
                await asyncio.sleep(0.005)
            assert OnHook(2) in [e for _, e in ticking.box.events]
            board.on_hook(2)

            # A client that just disconnects mid-call hangs up too.
            r3, w3 = await asyncio.open_unix_connection(str(path))
            send(w3, {"op": "call", "line": 2})
            assert await read_event(r3) == {"ev": "ringing", "line": 2}
            assert await next_non_audio(r3) == {"ev": "answered"}
            ticking.box.events.clear()
            w3.close()
            for _ in range(200):
                if OnHook(2) in [e for _, e in ticking.box.events]:
                    break
                await asyncio.sleep(0.005)
            assert OnHook(2) in [e for _, e in ticking.box.events]
            phone_writer.close()
        finally:
            ticking.stop = True
            await task
            await board.close_server()

    asyncio.run(main())


def test_socket_queue_overflow_is_an_error_event(tmp_path):
    async def main():
        board = make_board(callerid="none")
        path = tmp_path / "sim.sock"
        await board.serve(path)
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
            send(writer, {"op": "call", "line": 1})
            assert await read_event(reader) == {"ev": "ringing", "line": 1}
            board.off_hook(1)
            assert await read_event(reader) == {"ev": "answered"}
            frame = audio_op(np.zeros(FRAME_SAMPLES))
            writer.write(((json.dumps(frame) + "\n") * (MAX_QUEUED_FRAMES + 3)).encode())
            await writer.drain()
            errors = [await read_event(reader) for _ in range(3)]
            assert all("audio queue full" in e["error"] for e in errors)
            box = Box(board)
            box.tick()
            writer.close()
        finally:
            await board.close_server()

    asyncio.run(main())


def test_serve_refuses_a_path_that_is_not_a_socket(tmp_path):
    path = tmp_path / "sim.sock"
    path.write_text("not a socket")
    with pytest.raises(DriverError, match="not a socket"):
        asyncio.run(make_board().serve(path))
