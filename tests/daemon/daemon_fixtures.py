"""The real hotlined as a process, for tests that drive it the way an admin and a caller would.

:class:`Daemon` writes a configuration (the simulated board, short prompts, a short drain) into
a folder of its own, starts ``python -m hotline.daemon.main`` with ``$NOTIFY_SOCKET`` pointing at
a datagram socket the test binds (:class:`NotifyListener`), so every ``READY=1``, ``STATUS=``,
``RELOADING=1`` and ``STOPPING=1`` the daemon sends is seen as systemd would see it, and waits
for ``READY=1``. The daemon's stderr goes to a file (:meth:`Daemon.log`). ``hotlinectl`` runs
as ``python -m hotline.daemon.ctl --config ...`` (:meth:`Daemon.ctl`); calls are placed with
``hotlinectl test-call`` or, for several at once, with the in-repo asyncio client
:class:`~hotline.drivers.sim.farend.SimCaller` (:func:`connect_caller`). Records are read from
the daemon's own SQLite file through :class:`~hotline.store.calls.Store`.

Waiting is always for an event (a datagram, a log line, a transcript line, a process exit);
the timeouts here are only a safety net against a hang, never something a test asserts on.

The prompts the daemon plays are the shipped ones cut to their first second
(:func:`make_short_prompts`): the shipped main menu is 12 s of speech and a test call would
otherwise spend half a minute listening.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hotline.daemon.ctl import ControlClient
from hotline.drivers.sim.farend import SimCaller
from hotline.dsp import tones
from hotline.dsp.audiofile import read_audio, write_wav
from hotline.dsp.levels import rms_for
from hotline.prompts import shipped_prompts_dir
from hotline.store.calls import Store

STARTUP_TIMEOUT_S = 60.0   # the first start imports numpy and scipy
STOP_TIMEOUT_S = 60.0
CTL_TIMEOUT_S = 180.0      # a test call runs in real time
WAIT_TIMEOUT_S = 60.0      # safety net of every other wait
POLL_S = 0.05
SHORT_PROMPT_S = 1.0
FADE_MS = 20
SAMPLE_RATE_HZ = 8000
LANGUAGE = "en"
MAX_SHORT_ROOT_CHARS = 60  # sockets live under the root: sun_path holds 107 bytes
REPO = Path(__file__).resolve().parents[2]  # the checkout under test, first on the daemon's path

# Environment a daemon must not inherit from the test runner (a systemd unit, a CI job).
INHERITED_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS",
                       "LISTEN_FDNAMES", "JOURNAL_STREAM", "STATE_DIRECTORY", "RUNTIME_DIRECTORY",
                       "CONFIGURATION_DIRECTORY")


# --- files the daemon reads ----------------------------------------------------------------------

def short_root(factory=None, name: str = "hl") -> Path:
    """A fresh folder with a path short enough for the Unix sockets made inside it."""
    if factory is not None:
        folder = factory.mktemp(name)
        if len(str(folder)) <= MAX_SHORT_ROOT_CHARS:
            return folder
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/tmp"))


def make_short_prompts(folder: Path, seconds: float = SHORT_PROMPT_S) -> Path:
    """``folder`` made a prompts_dir: every shipped prompt, cut to its first ``seconds``."""
    source = shipped_prompts_dir() / LANGUAGE
    target = Path(folder) / LANGUAGE
    target.mkdir(parents=True, exist_ok=True)
    fade = int(SAMPLE_RATE_HZ * FADE_MS / 1000)
    for wav in sorted(source.glob("*.wav")):
        samples = read_audio(wav)[:int(seconds * SAMPLE_RATE_HZ)].astype(np.float64)
        samples[-fade:] *= np.linspace(1.0, 0.0, fade)
        write_wav(target / wav.name, np.rint(samples).astype(np.int16))
    return Path(folder)


def make_voice(path: Path, seconds: float = 3.0) -> np.ndarray:
    """A caller's message at speech level in ``path`` (8 kHz WAV), trimmed of leading and
    trailing quiet; the samples. espeak-ng speaks it when installed, else a tone modulated
    like speech (no DTMF frequencies, never quiet for a frame)."""
    target_dbm0 = -18.0
    samples = None
    if shutil.which("espeak-ng"):
        spoken = Path(path).with_suffix(".espeak.wav")
        text = "Hello, the street light outside is broken."
        done = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "-w", str(spoken), text],
                              capture_output=True, timeout=60)
        if done.returncode == 0 and spoken.exists():
            samples = read_audio(spoken).astype(np.float64)
            spoken.unlink()
    if samples is None:
        n = int(seconds * SAMPLE_RATE_HZ)
        t = np.arange(n) / SAMPLE_RATE_HZ
        carrier = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((220.0, 440.0, 660.0), 1))
        samples = carrier * (0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t))
    loud = np.flatnonzero(np.abs(samples) > 0.02 * np.max(np.abs(samples)))
    samples = samples[loud[0]:loud[-1] + 1]
    samples *= rms_for(target_dbm0) / np.sqrt(np.mean(samples ** 2))
    pcm = np.clip(np.rint(samples), -32768, 32767).astype(np.int16)
    write_wav(path, pcm)
    return pcm


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def toml_text(sections: dict[str, dict[str, Any]], boards: list[dict[str, Any]]) -> str:
    out = []
    for name, values in sections.items():
        if values:
            out.append(f"[{name}]")
            out += [f"{key} = {toml_value(value)}" for key, value in values.items()]
            out.append("")
    for board in boards:
        out.append("[[board]]")
        out += [f"{key} = {toml_value(value)}" for key, value in board.items()]
        out.append("")
    return "\n".join(out)


# --- what the daemon tells systemd ------------------------------------------------------------------

class NotifyListener:
    """A bound ``SOCK_DGRAM`` socket collecting sd_notify messages, each as its list of lines."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.messages: list[list[str]] = []
        self._cond = threading.Condition()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._sock.settimeout(0.2)
        self._running = True
        self._thread = threading.Thread(target=self._run, name="notify-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._cond:
                self.messages.append(data.decode("utf-8", "replace").split("\n"))
                self._cond.notify_all()

    def mark(self) -> int:
        """Where the messages received from now on start."""
        with self._cond:
            return len(self.messages)

    def find(self, assignment: str, since: int = 0) -> int | None:
        """Index of the first message from ``since`` with a line equal to (or, for ``KEY=``,
        starting with) ``assignment``."""
        with self._cond:
            for index in range(since, len(self.messages)):
                if any(_matches(line, assignment) for line in self.messages[index]):
                    return index
        return None

    def wait(self, assignment: str, since: int = 0, timeout: float = WAIT_TIMEOUT_S,
             alive: Callable[[], bool] | None = None) -> int:
        """Wait for :meth:`find` to find ``assignment``; its index. AssertionError on timeout or
        when ``alive()`` turns False first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.find(assignment, since)
                if found is not None:
                    return found
                if alive is not None and not alive():
                    raise AssertionError(f"the daemon exited before sending {assignment!r}; got "
                                         f"{self.messages[since:]!r}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {assignment!r} within {timeout:g} s; got "
                                         f"{self.messages[since:]!r}")
                self._cond.wait(min(remaining, 0.2))

    def values(self, key: str, since: int = 0) -> list[str]:
        """The values of every ``KEY=`` line from message ``since`` on, in order."""
        with self._cond:
            return [line[len(key) + 1:] for message in self.messages[since:] for line in message
                    if line.startswith(key + "=")]

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2.0)
        self._sock.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _matches(line: str, assignment: str) -> bool:
    return line.startswith(assignment) if assignment.endswith("=") else line == assignment


# --- the daemon -------------------------------------------------------------------------------------

class Daemon:
    """One hotlined process and everything around it; see the module docstring."""

    def __init__(self, root: Path, *, trunks: int = 24, stations: int = 2, drain_s: float = 3.0,
                 handler: dict[str, Any] | None = None, engine: dict[str, Any] | None = None,
                 prompts: bool = True):
        self.root = Path(root)
        self.config_path = self.root / "hotline.toml"
        self.state_dir = self.root / "state"
        self.spool_dir = self.root / "spool"
        self.runtime_dir = self.root / "run"
        self.prompts_dir = make_short_prompts(self.root / "prompts") if prompts else None
        self.log_path = self.root / "hotlined.log"
        self.sections: dict[str, dict[str, Any]] = {
            "engine": {"drain_s": drain_s, **(engine or {})},
            "paths": {"state_dir": "state", "spool_dir": "spool", "runtime_dir": "run",
                      **({"prompts_dir": "prompts"} if prompts else {})},
            "handler": {"record_silence_s": 1.5, **(handler or {})},
        }
        self.boards = [{"driver": "sim", "trunks": trunks, "stations": stations}]
        self.write_config()
        self.notify = NotifyListener(self.root / "notify.sock")
        self.proc: subprocess.Popen | None = None
        self.started_at_mark = 0
        self.other_pids: list[int] = []   # daemonized processes to kill on close
        self._log_file = None

    # -- configuration --------------------------------------------------------------------------

    def write_config(self, **section_changes: dict[str, Any]) -> None:
        """Write the configuration file, with ``section={key: value}`` changes merged in."""
        for name, values in section_changes.items():
            self.sections.setdefault(name, {}).update(values)
        self.config_path.write_text(toml_text(self.sections, self.boards))

    @property
    def control_socket(self) -> Path:
        return self.runtime_dir / "control.sock"

    @property
    def sim_socket(self) -> Path:
        return self.runtime_dir / "sim.sock"

    @property
    def database(self) -> Path:
        return self.state_dir / "hotline.sqlite3"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in INHERITED_VARIABLES}
        env["NOTIFY_SOCKET"] = str(self.notify.path)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
        return env

    # -- the process ----------------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hotline.daemon.main", "--config", str(self.config_path), *args]

    def start(self, *args: str, wait_ready: bool = True) -> Daemon:
        """Start hotlined (stderr to :attr:`log_path`, appended); wait for READY=1."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.started_at_mark = self.notify.mark()
        self._log_file = open(self.log_path, "ab")
        self.log_offset = self.log_path.stat().st_size   # where this run's log starts
        self.proc = subprocess.Popen(self.command(*args), stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=self._log_file, env=self.env(), cwd=self.root)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self) -> int:
        """Wait for this run's first READY=1; the index of that message."""
        try:
            return self.notify.wait("READY=1", self.started_at_mark, STARTUP_TIMEOUT_S, alive=self.alive)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- daemon log ---\n{self.log()}") from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = STOP_TIMEOUT_S) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"hotlined did not exit within {timeout:g} s\n--- daemon log ---\n"
                                 f"{self.log()}") from None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait; the exit status."""
        self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill(self) -> int:
        """SIGKILL and wait; the exit status (-9)."""
        self.signal(signal.SIGKILL)
        return self.wait_exit()

    def close(self) -> None:
        """Whatever happened, leave no process behind."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)
        for pid in self.other_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._log_file is not None:
            self._log_file.close()
        self.notify.close()

    # -- the log --------------------------------------------------------------------------------

    def log(self, whole: bool = False) -> str:
        """The daemon's stderr, of this run only unless ``whole``."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        if not whole:
            data = data[getattr(self, "log_offset", 0):]
        return data.decode("utf-8", "replace")

    def wait_log(self, pattern: str, count: int = 1, timeout: float = WAIT_TIMEOUT_S,
                 since: int = 0) -> list[re.Match]:
        """Wait until this run's log, from character ``since`` on, matches ``pattern`` (a regex)
        ``count`` times; the matches."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = list(regex.finditer(self.log()[since:]))
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"log never matched {pattern!r} {count} time(s)\n--- daemon log ---\n"
                                     f"{self.log()}")
            time.sleep(POLL_S)

    # -- hotlinectl -----------------------------------------------------------------------------

    def ctl(self, *args: str, timeout: float = CTL_TIMEOUT_S) -> subprocess.CompletedProcess:
        """``hotlinectl --config <ours> args...``; never raises for an exit status."""
        return subprocess.run([sys.executable, "-m", "hotline.daemon.ctl", "--config", str(self.config_path),
                               *args], capture_output=True, text=True, timeout=timeout, env=self.env(),
                              cwd=self.root, stdin=subprocess.DEVNULL)

    def ctl_ok(self, *args: str) -> subprocess.CompletedProcess:
        done = self.ctl(*args)
        assert done.returncode == 0, self.explain(done)
        return done

    def control(self, cmd: str, **args: Any) -> Any:
        """One request on the control socket from this process (no hotlinectl start-up cost),
        for polling; the result."""
        with ControlClient(self.control_socket, timeout_s=CTL_TIMEOUT_S) as client:
            return client.call(cmd, **args)

    def ctl_json(self, *args: str) -> Any:
        return json.loads(self.ctl_ok("--json", *args).stdout)

    def test_call(self, keys: str, *args: str) -> subprocess.CompletedProcess:
        return self.ctl("test-call", "--keys", keys, *args)

    def explain(self, done: subprocess.CompletedProcess) -> str:
        return (f"{' '.join(map(str, done.args[3:]))} exited {done.returncode}\n--- stdout ---\n{done.stdout}"
                f"--- stderr ---\n{done.stderr}--- daemon log ---\n{self.log()}")

    def wait_until(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT_TIMEOUT_S) -> Any:
        """Poll ``predicate`` until it returns something true; that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:g} s\n--- daemon log ---\n{self.log()}")
            time.sleep(POLL_S * 4)

    # -- records --------------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """Every call the store holds, oldest first, each with its ``recordings``."""
        with Store.open(self.database) as store:
            return [store.call(row["id"]) for row in reversed(store.calls(limit=100_000))]

    def record_of(self, caller_number: str) -> dict[str, Any]:
        found = [r for r in self.records() if r["caller_number"] == caller_number]
        assert len(found) == 1, f"expected one call from {caller_number}, found {found}"
        return found[0]


def transcript_events(stdout: str) -> list[dict[str, Any]]:
    """The JSON lines of ``test-call --json``."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


# --- callers -----------------------------------------------------------------------------------------

async def connect_caller(daemon: Daemon, caller: str, line: int | None = None, **options) -> SimCaller:
    """A :class:`SimCaller` connected to the daemon's sim board, its call placed (ringing)."""
    client = SimCaller(**options)
    await client.connect(daemon.sim_socket)
    await client.call(caller, None, line)
    return client


async def ctl_async(daemon: Daemon, *args: str) -> subprocess.CompletedProcess:
    """:meth:`Daemon.ctl` without blocking the event loop the callers run on."""
    return await asyncio.to_thread(daemon.ctl, *args)


def seen(client: SimCaller, text: str) -> bool:
    """Whether a transcript line of ``client`` contains ``text``."""
    return any(text in line for line in client.transcript.texts())


def tone_voice(seconds: float) -> np.ndarray:
    """Seconds of a speech-level tone (no DTMF frequencies) for a caller to say."""
    n = int(seconds * SAMPLE_RATE_HZ)
    return tones.sine(300.0, n, -18.0) + tones.sine(520.0, n, -24.0)
