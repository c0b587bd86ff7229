"""hotlined as a process: started, driven with hotlinectl and simulated callers, reloaded, stopped.

Each test runs the real daemon (``python -m hotline.daemon.main``) on the simulated board and
checks what an admin or a caller would notice: exit codes, hotlinectl's output, the datagrams
systemd would get, the transcript of a call, the records and recordings on disk, the log.
Nothing here asserts on timing; every wait is for an event, with a timeout only against a hang.
Tests that leave the configuration alone share one daemon (``shared_hotlined``); the others
start their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import stat
import subprocess
import time
import wave
from pathlib import Path

import numpy as np

from hotline.dsp.audiofile import read_audio
from hotline.dsp.levels import level_dbm0
from tests.daemon.daemon_fixtures import (WAIT_TIMEOUT_S, Daemon, connect_caller, ctl_async, make_voice,
                                          seen, transcript_events)

W = WAIT_TIMEOUT_S
LINES = 26  # 24 trunks and 2 stations
STATUS_RE = re.compile(r"^\d+/\d+ lines up, \d+ calls")


def texts(done: subprocess.CompletedProcess) -> list[str]:
    """The transcript lines of a test call without their call time."""
    return [line.split("  ", 1)[1] if "  " in line else line for line in done.stdout.splitlines()]


def request(sock_path: Path, *lines: bytes) -> list[dict]:
    """Send raw lines on one control connection; the replies, one per line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(W)
        sock.connect(str(sock_path))
        reader = sock.makefile("rb")
        replies = []
        for line in lines:
            sock.sendall(line)
            replies.append(json.loads(reader.readline()))
        return replies


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the peer sends until it closes the connection (a reset counts as closed)."""
    sock.settimeout(W)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


# --- start, readiness, stop ------------------------------------------------------------------------

def test_ready_comes_when_the_control_socket_answers_and_stop_is_clean(hotlined_factory):
    d = hotlined_factory()
    d.start(wait_ready=False)
    ready = d.wait_ready()

    # Right at READY=1 the control socket answers (systemd starts dependent units then).
    (reply,) = request(d.control_socket, b'{"cmd": "status", "id": 1}\n')
    assert reply["ok"] and reply["result"]["state"] == "running", reply
    status = d.ctl("status")
    assert status.returncode == 0, d.explain(status)
    assert re.search(r"^state:\s+running$", status.stdout, re.M), status.stdout
    assert re.search(rf"^lines total:\s+{LINES}$", status.stdout, re.M), status.stdout
    assert d.notify.find("READY=1", d.started_at_mark) == ready
    assert not any(line.startswith("STOPPING") for line in sum(d.notify.messages, []))

    # STATUS= is what `systemctl status` shows: lines and calls.
    d.notify.wait("STATUS=", d.started_at_mark)
    first_status = d.notify.values("STATUS", d.started_at_mark)[0]
    assert STATUS_RE.match(first_status), first_status
    assert first_status.startswith(f"{LINES}/{LINES} lines up, 0 calls"), first_status

    mark = d.notify.mark()
    assert d.stop() == 0, d.log()
    d.notify.wait("STOPPING=1", mark)
    assert not d.control_socket.exists() and not d.sim_socket.exists()
    assert "hotlined stopped" in d.log()
    after = d.ctl("status")
    assert after.returncode == 3 and "not running" in after.stderr, d.explain(after)


# --- calls ---------------------------------------------------------------------------------------------

def test_test_call_hears_the_menu_and_office_info_and_is_recorded(shared_hotlined):
    d = shared_hotlined
    caller = "13912345601"
    done = d.test_call("w w 1 w h", "--caller", caller)
    assert done.returncode == 0, d.explain(done)
    lines = texts(done)
    assert lines[0] == f"call placed on line {lines[0].split()[4]} as {caller}", lines
    for expected in ("box answered", "prompt welcome started", "prompt main-menu started", "box heard 1",
                     "prompt office-info started", "prompt office-info ended", "caller hung up"):
        assert expected in lines, f"{expected!r} not in the transcript:\n{done.stdout}"
    assert lines.index("box heard 1") < lines.index("prompt office-info started")

    d.wait_until(lambda: d.control("calls") == [], "the call still listed after the caller hung up")
    record = d.record_of(caller)
    assert record["disposition"] == "answered", record
    assert record["hangup_by"] == "caller", record
    assert record["digits"] == "1", record
    assert record["answered_at"] and record["ended_at"] and record["ended_at"] >= record["answered_at"]
    assert record["path"][:3] == ["greeting", "menu", "info"], record
    assert record["direction"] == "inbound" and record["recordings"] == []


def test_a_message_is_recorded_to_a_valid_wav_ended_by_silence(shared_hotlined):
    d = shared_hotlined
    voice = d.root / "voice.wav"
    said = make_voice(voice)
    caller = "13912345602"
    done = d.test_call(f"w w 2 w w @{voice}", "--caller", caller)
    assert done.returncode == 0, d.explain(done)
    lines = texts(done)
    for expected in ("box heard 2", "prompt record-after-tone started", "prompt tone:beep started",
                     "prompt thank-you started", "prompt goodbye started", "box hung up"):
        assert expected in lines, f"{expected!r} not in the transcript:\n{done.stdout}"
    assert any(line.startswith("sent voice voice.wav") for line in lines), done.stdout

    d.wait_until(lambda: d.control("calls") == [], "the call still listed after the box hung up")
    record = d.record_of(caller)
    assert record["disposition"] == "answered" and record["hangup_by"] == "box", record
    assert record["digits"] == "2" and "record" in record["path"] and "recorded" in record["path"], record
    (recording,) = record["recordings"]
    assert recording["end_reason"] == "silence", recording
    path = Path(recording["path"])
    assert path.is_file() and path.resolve().is_relative_to(d.spool_dir.resolve()), recording

    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        frames = wav.getnframes()
        pcm = np.frombuffer(wav.readframes(frames), "<i2")
    assert len(pcm) == frames
    audio = read_audio(path)
    assert np.array_equal(audio, pcm)
    seconds = frames / 8000
    silence_s = d.sections["handler"]["record_silence_s"]
    expected_s = len(said) / 8000 + silence_s
    assert abs(seconds - expected_s) < 0.5, (seconds, expected_s)
    assert abs(recording["duration_ms"] / 1000 - seconds) < 0.05, recording
    # What the caller said is in it, at speech level; the end is the silence that stopped it.
    spoken = pcm[:len(said)]
    assert level_dbm0(spoken) > -30.0, level_dbm0(spoken)
    assert level_dbm0(pcm[-int(silence_s * 8000) + 400:]) < -45.0


def test_lines_and_calls_tables_and_a_blocked_line_does_not_answer(shared_hotlined):
    d = shared_hotlined
    table = d.ctl_ok("lines").stdout.splitlines()
    assert table[0].split() == ["LINE", "KIND", "BOARD", "STATE", "CALL"], table
    rows = [row.split() for row in table[1:]]
    assert len(rows) == LINES
    assert rows[0][:4] == ["1", "trunk", "sim0", "idle"] and rows[-1][:4] == [str(LINES), "station", "sim0", "idle"]
    assert d.ctl_ok("calls").stdout.strip() == "no calls in progress"

    async def in_the_menu():
        caller = await connect_caller(d, "13912345603", line=5)
        try:
            assert await caller.wait_answered(W)
            await caller.wait_until(lambda: seen(caller, "prompt main-menu started"), W)
            return (json.loads((await ctl_async(d, "--json", "calls")).stdout),
                    (await ctl_async(d, "calls")).stdout,
                    json.loads((await ctl_async(d, "--json", "lines")).stdout))
        finally:
            await caller.hangup()
            await caller.close()

    calls, calls_table, lines = asyncio.run(in_the_menu())
    assert len(calls) == 1, calls
    call = calls[0]
    assert (call["line"], call["caller_number"], call["state"], call["step"]) == (5, "13912345603", "in_call", "menu")
    header, row = calls_table.splitlines()
    assert header.split()[:3] == ["CALL", "LINE", "CALLER"] and row.split()[1:3] == ["5", "13912345603"], calls_table
    assert lines[4]["state"] == "in_call" and lines[4]["call_id"] == call["id"], lines[4]

    blocked = d.ctl("line", "3", "block")
    assert blocked.returncode == 0, d.explain(blocked)
    try:
        assert d.control("lines")[2]["state"] == "blocked"
        mark = len(d.log())

        async def ring_blocked_line():
            caller = await connect_caller(d, "13912345604", line=3)
            try:
                # Each ring burst is refused in the log; two bursts are more than the box ever
                # lets ring before answering.
                await asyncio.to_thread(d.wait_log, r"line 3: ringing, not answered \(blocked\)", 2, since=mark)
                state = (caller.connected, caller.ended_by, await ctl_async(d, "lines"))
            finally:
                await caller.hangup()
                await caller.close()
            return state

        connected, ended_by, lines = asyncio.run(ring_blocked_line())
        assert not connected and ended_by is None, "the box answered a blocked line"
        assert lines.returncode == 0, d.explain(lines)
        assert lines.stdout.splitlines()[3].split()[:4] == ["3", "trunk", "sim0", "blocked"], lines.stdout
        assert not any(r["caller_number"] == "13912345604" for r in d.records())
        missing = d.ctl("line", "99", "block")
        assert missing.returncode == 1 and "no line 99" in missing.stderr, d.explain(missing)
    finally:
        unblocked = d.ctl("line", "3", "unblock")
    assert unblocked.returncode == 0, d.explain(unblocked)
    assert d.control("lines")[2]["state"] == "idle"
    after = d.test_call("w h", "--line", "3", "--caller", "13912345605")
    assert after.returncode == 0, d.explain(after)
    assert "box answered" in texts(after) and texts(after)[0].startswith("call placed on line 3 ")


# --- reload --------------------------------------------------------------------------------------------

def test_reload_applies_a_changed_configuration(hotlined_factory):
    d = hotlined_factory()
    d.start()
    d.write_config(handler={"greeting": "thank-you", "menu_retries": 2})
    mark = d.notify.mark()
    done = d.ctl("reload")
    assert done.returncode == 0, d.explain(done)
    assert re.search(r"^reloaded:\s+yes$", done.stdout, re.M), done.stdout
    reloading = d.notify.wait("RELOADING=1", mark)
    assert any(line.startswith("MONOTONIC_USEC=") for line in d.notify.messages[reloading])
    d.notify.wait("READY=1", reloading)
    assert d.control("status")["last_reload"]["ok"] is True
    assert d.alive()
    assert "configuration reloaded from" in d.log()

    call = d.test_call("w h", "--caller", "13912345610")
    assert call.returncode == 0, d.explain(call)
    prompts = [line for line in texts(call) if line.startswith("prompt ")]
    assert prompts[0] == "prompt thank-you started", call.stdout


def test_a_broken_configuration_is_refused_on_reload_and_on_sighup(hotlined_factory):
    d = hotlined_factory()
    d.start()
    good = d.config_path.read_text()
    d.config_path.write_text(good + "\n[engine\ndrain_s = = 3\n")
    broken_line = good.count("\n") + 2

    mark = d.notify.mark()
    # --socket: hotlinectl finds the socket through the configuration, which it cannot read now.
    done = d.ctl("--socket", str(d.control_socket), "reload")
    assert done.returncode == 6, d.explain(done)
    assert str(d.config_path) in done.stderr and f"line {broken_line}" in done.stderr, done.stderr
    reloading = d.notify.wait("RELOADING=1", mark)
    d.notify.wait("READY=1", reloading)
    d.notify.wait("STATUS=", reloading)
    assert any("reload failed" in s for s in d.notify.values("STATUS", reloading)), d.notify.messages[mark:]
    status = json.loads(d.ctl_ok("--socket", str(d.control_socket), "--json", "status").stdout)
    assert status["state"] == "running" and status["last_reload"]["ok"] is False, status
    assert d.alive()

    # The old configuration goes on: a call hears the menu and is served.
    call = d.test_call("w w 1 w h", "--caller", "13912345611", "--sim-socket", str(d.sim_socket))
    assert call.returncode == 0, d.explain(call)
    assert "prompt welcome started" in texts(call) and "prompt office-info started" in texts(call)

    # SIGHUP (what `kill -HUP` and Type=notify-reload do) with the same file: refused, no crash.
    mark = d.notify.mark()
    log_mark = len(d.log())
    d.signal(signal.SIGHUP)
    reloading = d.notify.wait("RELOADING=1", mark)
    d.notify.wait("READY=1", reloading)
    d.notify.wait("STATUS=", reloading)
    assert any("reload failed" in s for s in d.notify.values("STATUS", reloading))
    d.wait_log(r"reload refused", since=log_mark)
    assert d.alive()
    assert d.control("status")["state"] == "running"

    # Fixed and reloaded: the failure is no longer reported.
    d.config_path.write_text(good)
    mark = d.notify.mark()
    d.signal(signal.SIGHUP)
    reloading = d.notify.wait("RELOADING=1", mark)
    d.notify.wait("READY=1", reloading)
    d.notify.wait("STATUS=", reloading)
    assert not any("reload failed" in s for s in d.notify.values("STATUS", reloading))
    assert d.control("status")["last_reload"]["ok"] is True


# --- stop with calls in progress -----------------------------------------------------------------------

def test_sigterm_lets_calls_in_progress_finish_then_exits_0(hotlined_factory):
    d = hotlined_factory(drain_s=4.0)
    d.start()
    log_mark = len(d.log())

    async def scenario():
        stayer = await connect_caller(d, "13912345620")
        leaver = await connect_caller(d, "13912345621")
        for client in (stayer, leaver):
            assert await client.wait_answered(W)
            await client.wait_until(lambda c=client: seen(c, "prompt main-menu started"), W)
        mark = d.notify.mark()
        frames_at_stop = stayer.frames
        d.signal(signal.SIGTERM)
        await asyncio.to_thread(d.notify.wait, "STOPPING=1", mark)

        # No new call is answered while draining.
        late = await connect_caller(d, "13912345622")
        await asyncio.to_thread(d.wait_log, r"ringing, not answered \(stopping\)", 1, since=log_mark)

        # The calls in progress go on: the box still hears keys and plays prompts.
        assert await leaver.send_digits("1", timeout=W)
        await leaver.wait_until(lambda: seen(leaver, "prompt office-info started") or leaver.ended_by, W)
        assert seen(leaver, "box heard 1") and leaver.ended_by is None, leaver.transcript.texts()
        await leaver.hangup()

        # The other one stays until the drain time is over and the box hangs up.
        await stayer.wait_ended(W)
        rc = await asyncio.to_thread(d.wait_exit)
        late_answered = late.connected or seen(late, "box answered")
        for client in (stayer, leaver, late):
            await client.close()
        return rc, stayer, frames_at_stop, late_answered

    rc, stayer, frames_at_stop, late_answered = asyncio.run(scenario())
    assert rc == 0, d.log()
    assert stayer.ended_by == "box", stayer.transcript.texts()
    assert stayer.frames > frames_at_stop + 50, "the caller heard nothing after the stop began"
    assert not late_answered
    assert "drain time over: hung up 1 call(s)" in d.log()

    stayed = d.record_of("13912345620")
    assert stayed["disposition"] == "answered" and stayed["hangup_by"] == "system", stayed
    assert stayed["ended_at"] and "menu" in stayed["path"], stayed
    left = d.record_of("13912345621")
    assert left["disposition"] == "answered" and left["hangup_by"] == "caller", left
    assert left["ended_at"] and left["digits"] == "1" and "info" in left["path"], left
    assert all(r["disposition"] != "in_progress" for r in d.records())


# --- configuration problems, a second instance, stale sockets -----------------------------------------

def test_an_invalid_configuration_exits_6_naming_file_key_and_accepted_values(hotlined_factory):
    d = hotlined_factory()
    d.write_config(engine={"country": "mars"})
    d.start(wait_ready=False)
    assert d.wait_exit() == 6, d.log()
    log = d.log()
    problem = next((line for line in log.splitlines() if "engine.country" in line), None)
    assert problem is not None, log
    assert str(d.config_path) in problem and '"mars"' in problem, problem
    assert '"china"' in problem and '"north_america"' in problem, problem
    assert "Traceback" not in log
    d.notify.wait("STATUS=invalid configuration")
    assert d.notify.find("READY=1") is None
    assert not d.control_socket.exists()

    check = d.ctl("check-config", str(d.config_path))
    assert check.returncode == 6, d.explain(check)
    assert "engine.country" in check.stderr and str(d.config_path) in check.stderr, check.stderr

    d.config_path.write_text('[[board]]\ndriver = "sim"\ntrunks = = 4\nstations = 2\n')
    d.start(wait_ready=False)
    assert d.wait_exit() == 6, d.log()
    assert f"{d.config_path}: line 3, column" in d.log(), d.log()


def test_a_second_daemon_on_the_same_runtime_dir_refuses_and_the_first_goes_on(shared_hotlined):
    d = shared_hotlined
    env = d.env()
    del env["NOTIFY_SOCKET"]
    second = subprocess.run(d.command(), capture_output=True, text=True, env=env, cwd=d.root,
                            stdin=subprocess.DEVNULL, timeout=W)
    assert second.returncode != 0, second.stderr
    assert re.search(r"already running|another hotlined \(pid \d+\) is running", second.stderr), second.stderr
    assert f"pid {d.pid}" in second.stderr, second.stderr
    assert d.alive()
    assert d.control("status")["pid"] == d.pid
    assert stat.S_ISSOCK(d.control_socket.lstat().st_mode) and stat.S_ISSOCK(d.sim_socket.lstat().st_mode)
    call = d.test_call("w h", "--caller", "13912345630")
    assert call.returncode == 0, d.explain(call)


def test_the_sockets_a_killed_daemon_left_are_cleaned_up_on_start(hotlined_factory):
    d = hotlined_factory()
    d.start()
    assert d.kill() == -signal.SIGKILL
    assert stat.S_ISSOCK(d.control_socket.lstat().st_mode) and stat.S_ISSOCK(d.sim_socket.lstat().st_mode)
    down = d.ctl("status")
    assert down.returncode == 3 and "not running" in down.stderr, d.explain(down)

    d.start()
    assert "removing stale control socket" in d.log()
    assert d.control("status")["state"] == "running"
    call = d.test_call("w h", "--caller", "13912345631")
    assert call.returncode == 0, d.explain(call)


# --- garbage -------------------------------------------------------------------------------------------

def test_garbage_on_the_control_socket_gets_errors_and_harms_nobody(shared_hotlined):
    d = shared_hotlined
    replies = request(d.control_socket, b"hello there\n", b"\xff\xfe\x00\n", b'{"cmd": "rm -rf /"}\n',
                      b'{"cmd": "block", "args": {"line": "three"}}\n', b"[1, 2]\n",
                      b'{"cmd": "status", "id": 7}\n')
    for reply in replies[:-1]:
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request", reply
    assert replies[-1]["ok"] is True and replies[-1]["id"] == 7   # the connection stayed usable

    # A line over the limit: an error and the connection is closed.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(d.control_socket))
        try:
            sock.sendall(b"x" * 300_000 + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(sock)
    if answer:
        assert json.loads(answer.splitlines()[0])["error"]["code"] == "bad_request", answer[:200]

    # Bad requests without end: dropped.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(d.control_socket))
        try:
            sock.sendall(b"nonsense\n" * 100)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(sock)
    assert b"closing the connection" in answer, answer[-300:]

    # A client that connects and says nothing does not hold anyone up.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as idle:
        idle.connect(str(d.control_socket))
        assert d.ctl_json("status")["state"] == "running"
        call = d.test_call("w h", "--caller", "13912345640")
        assert call.returncode == 0, d.explain(call)
    assert d.alive()


def test_garbage_on_the_sim_socket_gets_errors_and_harms_nobody(shared_hotlined):
    d = shared_hotlined

    def events(sock, count):
        reader = sock.makefile("rb")
        return [json.loads(reader.readline()) for _ in range(count)]

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(W)
        sock.connect(str(d.sim_socket))
        sock.sendall(b"not json at all\n" b'{"op": "call", "caller": "abc"}\n' b'{"op": "fly"}\n'
                     b'{"op": "audio", "pcm": "!!!"}\n')
        got = events(sock, 4)
        assert all(event["ev"] == "error" for event in got), got

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(d.sim_socket))
        try:
            sock.sendall(b"y" * 50_000 + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(sock)
    assert b"longer than" in answer, answer[:300]

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(d.sim_socket))
        try:
            sock.sendall(b"{}\n" * 100)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(sock)
    assert b"closing the connection" in answer, answer[-300:]

    call = d.test_call("w w 1 w h", "--caller", "13912345641")
    assert call.returncode == 0, d.explain(call)
    assert "box heard 1" in texts(call)
    assert d.alive()


# --- prompts -------------------------------------------------------------------------------------------

def test_a_missing_and_a_corrupt_prompt_do_not_stop_the_call(hotlined_factory):
    d = hotlined_factory(handler={"greeting": "nosuchprompt"})
    corrupt = d.prompts_dir / "en" / "main-menu.wav"
    corrupt.write_bytes(bytes(range(256)) * 16)
    d.start()
    done = d.test_call("w w 1 w h", "--caller", "13912345650", "--json")
    assert done.returncode == 0, d.explain(done)
    events = transcript_events(done.stdout)
    started = [e["prompt"] for e in events if e["event"] == "prompt" and e["state"] == "start"]
    # The greeting and the menu are replaced by the fallback tone; the menu still takes a digit.
    assert started[:3] == ["tone:fallback", "tone:fallback", "office-info"], started
    assert {"event": "heard", "heard": "1"}.items() <= next(e for e in events if e["event"] == "heard").items()

    log = d.log()
    assert str(d.prompts_dir / "en" / "nosuchprompt.wav") in log, log
    assert str(corrupt) in log, log
    record = d.record_of("13912345650")
    assert record["disposition"] == "answered" and record["digits"] == "1" and "info" in record["path"], record


# --- SysV mode ------------------------------------------------------------------------------------------

def process_gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def daemons_of(d: Daemon) -> list[int]:
    """Pids of the hotlined processes started for ``d`` (they carry its NOTIFY_SOCKET)."""
    mine = f"NOTIFY_SOCKET={d.notify.path}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"hotline.daemon.main" in cmdline and mine in environ and not process_gone(int(entry.name)):
                found.append(int(entry.name))
    return found


def daemonize(d: Daemon, pidfile: Path, config: str | None = None) -> subprocess.CompletedProcess:
    """Run ``hotlined --daemonize``; the parent's result. Whatever it leaves running is killed at
    the end of the test."""
    command = d.command("--daemonize", "--pidfile", str(pidfile))
    if config is not None:
        command[command.index("--config") + 1] = config
    d.started_at_mark = d.notify.mark()
    parent = subprocess.run(command, capture_output=True, text=True, env=d.env(), cwd=d.root,
                            stdin=subprocess.DEVNULL, timeout=W)
    d.other_pids.extend(daemons_of(d))
    return parent


def wait_ready_or_gone(d: Daemon) -> bool:
    """True once the daemonized hotlined sent READY=1; False once no such process is left."""
    gone_polls = 0
    deadline = time.monotonic() + W
    while time.monotonic() < deadline:
        if d.notify.find("READY=1", d.started_at_mark) is not None:
            return True
        pids = daemons_of(d)
        d.other_pids.extend(p for p in pids if p not in d.other_pids)
        gone_polls = 0 if pids else gone_polls + 1
        if gone_polls >= 5:
            return d.notify.find("READY=1", d.started_at_mark) is not None
        time.sleep(0.1)
    raise AssertionError("the daemonized hotlined neither got ready nor exited")


def test_daemonize_writes_the_pidfile_and_stops_on_sigterm(hotlined_factory):
    d = hotlined_factory()
    d.state_dir.mkdir()   # see test_daemonize_on_a_first_start for why
    pidfile = d.root / "hotlined.pid"
    parent = daemonize(d, pidfile)
    assert parent.returncode == 0, parent.stderr
    assert wait_ready_or_gone(d), "the daemonized hotlined died before READY=1"
    pid = int(d.wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), "no pidfile"))
    d.other_pids.append(pid)
    status = d.ctl_json("status")
    assert status["pid"] == pid and status["state"] == "running", status
    call = d.test_call("w h", "--caller", "13912345660")
    assert call.returncode == 0, d.explain(call)

    os.kill(pid, signal.SIGTERM)
    d.wait_until(lambda: process_gone(pid), "the daemon did not exit on SIGTERM")
    d.wait_until(lambda: not pidfile.exists(), "the pidfile was left behind")
    assert not d.control_socket.exists()
    log = (d.state_dir / "hotlined.log").read_text() if not Path("/dev/log").exists() else ""
    if log:
        assert "hotlined stopped" in log, log


def test_daemonize_on_a_first_start(hotlined_factory):
    d = hotlined_factory()
    assert not d.state_dir.exists()
    pidfile = d.root / "hotlined.pid"
    parent = daemonize(d, pidfile)
    assert parent.returncode == 0, parent.stderr
    assert wait_ready_or_gone(d), "the daemonized hotlined died before READY=1"
    assert d.ctl_json("status")["state"] == "running"


def test_daemonize_with_a_relative_config_path_can_reload(hotlined_factory):
    d = hotlined_factory()
    d.state_dir.mkdir()
    parent = daemonize(d, d.root / "hotlined.pid", config=d.config_path.name)
    assert parent.returncode == 0, parent.stderr
    assert wait_ready_or_gone(d), "the daemonized hotlined died before READY=1"
    done = d.ctl("reload")
    assert done.returncode == 0, d.explain(done)
