"""SIGKILL in the middle of twenty calls loses nothing: records, recordings and the database survive.

The daemon runs on the simulated board; twenty callers ring it at once from one asyncio loop
(the in-repo :class:`~hotline.drivers.sim.farend.SimCaller`). Some hang up after the greeting,
some choose 2 and are speaking into a recording, some sit in the menu. Once the daemon has
seen the first group hang up and the recordings are running, it gets SIGKILL (no drain, no
goodbye: a power cut of the process). It is started again with the same configuration, and
every call must be accounted for: the ended ones as they ended, the cut-off ones as
``interrupted`` by ``system``, every recording a valid WAV holding what was said, the database
intact, the restart's log naming the interrupted calls, and the box taking calls again.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import wave

import numpy as np

from hotline.dsp.audiofile import read_audio
from hotline.dsp.levels import level_dbm0
from hotline.store.calls import Store
from tests.daemon.daemon_fixtures import WAIT_TIMEOUT_S, connect_caller, seen, tone_voice

W = WAIT_TIMEOUT_S
QUICK = 8        # hang up after the greeting
RECORDING = 8    # choose 2 and talk; cut off while recording
IN_MENU = 4      # listen to the menu; cut off there
VOICE_S = 60.0   # longer than the test: the recordings are always running when the kill comes
HEARD_BEFORE_KILL_FRAMES = 50  # 1 s of each caller's voice recorded before the kill


def number(group: str, index: int) -> str:
    return {"quick": "1370000", "rec": "1370001", "menu": "1370002"}[group] + f"{index:04d}"


def test_sigkill_during_twenty_calls_loses_nothing(hotlined_factory):
    d = hotlined_factory()
    d.start()
    voice = tone_voice(VOICE_S)

    async def quick(index):
        client = await connect_caller(d, number("quick", index))
        assert await client.wait_answered(W)
        assert await client.wait_prompt_end(W)          # the greeting
        await client.hangup()
        return client

    async def recorder(index):
        client = await connect_caller(d, number("rec", index))
        assert await client.wait_answered(W)
        await client.wait_until(lambda: seen(client, "prompt main-menu started"), W)
        assert await client.send_digits("2", timeout=W)
        await client.wait_until(lambda: seen(client, "prompt tone:beep ended") or client.ended_by, W)
        assert client.ended_by is None, client.transcript.texts()
        start = client.frames
        talking = asyncio.create_task(client.send_voice(voice, "voice", timeout=VOICE_S + W))
        await client.wait_until(lambda: client.frames >= start + HEARD_BEFORE_KILL_FRAMES, W)
        return client, talking

    async def listener(index):
        client = await connect_caller(d, number("menu", index))
        assert await client.wait_answered(W)
        await client.wait_until(lambda: seen(client, "prompt main-menu started"), W)
        return client

    def daemon_done_with(lines):
        """The daemon has taken these lines' hang-ups: no call of its own is on them."""
        return not {call["line"] for call in d.control("calls")} & lines

    async def scenario():
        jobs = ([quick(i) for i in range(QUICK)] + [recorder(i) for i in range(RECORDING)]
                + [listener(i) for i in range(IN_MENU)])
        results = await asyncio.gather(*jobs)
        quick_clients = results[:QUICK]
        recorders = [client for client, _ in results[QUICK:QUICK + RECORDING]]
        talking = [task for _, task in results[QUICK:QUICK + RECORDING]]
        listeners = results[QUICK + RECORDING:]
        assert all(c.ended_by == "us" for c in quick_clients)
        ended_lines = {c.line for c in quick_clients}
        await asyncio.to_thread(d.wait_until, lambda: daemon_done_with(ended_lines),
                                "the daemon still lists calls whose callers hung up")
        assert all(c.in_call for c in recorders + listeners)
        assert len(d.control("calls")) == RECORDING + IN_MENU

        assert await asyncio.to_thread(d.kill) == -signal.SIGKILL
        for client in recorders + listeners:
            await client.wait_ended(W)
        await asyncio.gather(*talking, return_exceptions=True)
        for client in quick_clients + recorders + listeners:
            await client.close()
        return quick_clients, recorders, listeners

    quick_clients, recorders, listeners = asyncio.run(scenario())
    assert all(c.ended_by == "lost" for c in recorders + listeners)

    d.start()
    records = {r["caller_number"]: r for r in d.records()}
    assert len(records) == QUICK + RECORDING + IN_MENU, sorted(records)
    assert not [r for r in records.values() if r["disposition"] == "in_progress"]

    for index in range(QUICK):
        record = records[number("quick", index)]
        assert record["disposition"] == "answered" and record["hangup_by"] == "caller", record
        assert record["ended_at"] and record["answered_at"] and record["recordings"] == [], record

    interrupted = []
    for group, count in (("rec", RECORDING), ("menu", IN_MENU)):
        for index in range(count):
            record = records[number(group, index)]
            assert record["disposition"] == "interrupted" and record["hangup_by"] == "system", record
            assert record["ended_at"] and record["ended_at"] >= record["answered_at"], record
            interrupted.append(record["id"])
            if group == "menu":
                assert record["recordings"] == [] and record["path"][-1] == "menu", record
                continue
            assert record["digits"] == "2" and "record" in record["path"], record
            (recording,) = record["recordings"]
            assert recording["end_reason"] == "interrupted" and recording["ended_at"], recording
            assert recording["duration_ms"] >= HEARD_BEFORE_KILL_FRAMES * 20 - 100, recording

    recordings = [rec for r in records.values() for rec in r["recordings"]]
    assert len(recordings) == RECORDING
    for recording in recordings:
        with wave.open(recording["path"]) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
            frames = wav.getnframes()
            pcm = np.frombuffer(wav.readframes(frames), "<i2")
        assert len(pcm) == frames > 0
        assert frames * 1000 // 8000 == recording["duration_ms"], (frames, recording)
        assert np.array_equal(read_audio(recording["path"]), pcm)
        assert level_dbm0(pcm[800:]) > -30.0, f"{recording['path']}: the caller's voice is not in it"

    with Store.open(d.database) as store:
        assert store.integrity_check() == "ok"
    with sqlite3.connect(f"file:{d.database}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    log = d.log()
    assert f"{len(interrupted)} call(s) were cut off by the last stop and are recorded as interrupted" in log, log
    for call_id in interrupted:
        assert f"call {call_id} was cut off" in log, (call_id, log)

    done = d.test_call("w w 1 w h", "--caller", "13700030001")
    assert done.returncode == 0, d.explain(done)
    assert "box heard 1" in done.stdout
    d.wait_until(lambda: d.control("calls") == [], "the new call still listed after the caller hung up")
    assert d.record_of("13700030001")["disposition"] == "answered"
