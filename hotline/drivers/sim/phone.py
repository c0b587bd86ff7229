"""A phone in the terminal: call the box as a citizen, or be an agent's station phone.

What
    :func:`run_phone` connects to the simulated board's socket and turns the terminal into a
    phone. As a caller (default) it rings the box on a trunk; keys typed are pressed as real
    DTMF; ``h`` (or ``q``) hangs up. As a station phone (``station=N``) it waits for the box to
    ring it; ``o`` (or space, Enter) lifts the handset, ``h`` puts it down, ``f`` flashes,
    ``q`` quits; digits are pressed while it is off hook. The transcript (prompts, digits the
    box heard, ringing, hang-ups) is always printed; the box's audio goes to the speaker
    through ``aplay`` when it exists and ``audio`` is true (failures are ignored: a headless
    box has no sound card).

How
    The terminal is put in cbreak mode (keys arrive one by one, unechoed; Ctrl-C still works)
    and restored on exit, whatever happens. Keys are read with the event loop's reader, so the
    transcript keeps printing while nobody types. :class:`PhoneSession` does what a key means;
    it takes keys from any async iterator, which is how tests drive it without a tty.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import AsyncIterator, TextIO

from hotline.drivers.sim.farend import DEFAULT_CALLER, SimCallError, SimCaller, SimClient, SimPhone, TranscriptLine
from hotline.drivers.sim.protocol import AudioEvent
from hotline.drivers.sim.script import EXIT_FAILED, EXIT_OK, connect_or_exit_code

APLAY = ("aplay", "-q", "-t", "raw", "-f", "S16_LE", "-r", "8000", "-c", "1", "-")
DTMF_KEYS = set("0123456789*#ABCDabcd")
QUIT_KEYS = set("qQ\x03\x04")  # q, Ctrl-C, Ctrl-D
LIFT_KEYS = set("oO \r\n")


class Speaker:
    """Box audio to ``aplay``; does nothing when there is no aplay or it fails."""

    def __init__(self):
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> bool:
        if shutil.which(APLAY[0]) is None:
            return False
        try:
            self._process = await asyncio.create_subprocess_exec(
                *APLAY, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL)
        except OSError:
            self._process = None
        return self._process is not None

    def play(self, pcm) -> None:
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            return
        try:
            process.stdin.write(pcm.astype("<i2").tobytes())
        except (BrokenPipeError, ConnectionError, OSError):
            self._process = None

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            await asyncio.wait_for(process.wait(), timeout=2.0)
        except (asyncio.TimeoutError, BrokenPipeError, ConnectionError, OSError):
            process.kill()


class PhoneSession:
    """What each key does, for a caller (``station=False``) or a station phone."""

    def __init__(self, client: SimClient, station: bool):
        self.client = client
        self.station = station

    async def handle_key(self, key: str) -> bool:
        """Act on one key; ``False`` when the session is over."""
        client = self.client
        if key in QUIT_KEYS or key in "hH":
            if not self.station or client.offhook_now:
                await client.hangup()
            return self.station and key in "hH"  # a caller is done; a station phone stays on its desk
        if self.station and key in LIFT_KEYS:
            if not client.offhook_now:
                await client.offhook()
            return True
        if self.station and key in "fF":
            if client.offhook_now:
                await client.flash()
            return True
        if key in DTMF_KEYS:
            if client.connected:
                await client.send_digits(key.upper())
            else:
                client.note("info", f"key {key} ignored: not connected")
        return True

    async def feed(self, keys: AsyncIterator[str]) -> bool:
        """Act on every key; ``True`` when one of them ended the session, ``False`` when the keys
        ran out (input from a pipe: the call then goes on until the box ends it)."""
        async for key in keys:
            if not await self.handle_key(key):
                return True
        return False


@contextmanager
def _cbreak(stream):
    """The terminal in cbreak mode for the duration; nothing when it is not a terminal."""
    try:
        import termios
        import tty
    except ImportError:  # pragma: no cover - not a POSIX system
        yield
        return
    try:
        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError, AttributeError):  # a pipe or a file, not a terminal
        yield
        return
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def terminal_keys(stream=None) -> AsyncIterator[str]:
    """Characters typed on ``stream`` (stdin), one at a time, until end of input."""
    stream = sys.stdin if stream is None else stream
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    fd = stream.fileno()

    def ready() -> None:
        try:
            data = stream.buffer.raw.read(64) if hasattr(stream, "buffer") else stream.read(1)
        except (OSError, ValueError):
            data = b""
        if isinstance(data, bytes):
            data = data.decode("utf-8", errors="replace")
        queue.put_nowait(data or None)

    loop.add_reader(fd, ready)
    try:
        with _cbreak(stream):
            while True:
                chunk = await queue.get()
                if chunk is None:
                    return
                for key in chunk:
                    yield key
    finally:
        loop.remove_reader(fd)


async def run_phone_async(socket_path: str | Path, line: int | None = None, station: int | None = None,
                          caller: str | None = DEFAULT_CALLER, audio: bool = True, *, name: str | None = None,
                          keys: AsyncIterator[str] | None = None, out: TextIO | None = None,
                          err: TextIO | None = None) -> int:
    """:func:`run_phone` inside a running event loop; ``keys`` replaces the terminal."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err

    def show(entry: TranscriptLine) -> None:
        print(entry.format(), file=out, flush=True)

    client: SimClient = SimPhone(on_line=show) if station is not None else SimCaller(on_line=show)
    refused = await connect_or_exit_code(client, socket_path, "phone", err)
    if refused is not None:
        return refused
    speaker = Speaker()
    tasks: list[asyncio.Task] = []
    try:
        if station is not None:
            await client.attach(station)
            print("keys: o lift, 0-9*# press, f flash, h put down, q quit", file=err)
        else:
            await client.call(caller, name, line)
            print("keys: 0-9*#ABCD press, h hang up", file=err)
        if audio and await speaker.start():
            tasks.append(asyncio.create_task(_play(client, speaker)))
        session = PhoneSession(client, station=station is not None)
        feeder = asyncio.create_task(session.feed(keys if keys is not None else terminal_keys()))
        if station is None:
            over = asyncio.create_task(client.wait_ended(None))
        else:
            over = asyncio.create_task(client.wait_until(lambda: client.closed, None))
        tasks.extend((feeder, over))
        await asyncio.wait((feeder, over), return_when=asyncio.FIRST_COMPLETED)
        if feeder.done() and not feeder.result():
            await over  # keys ran out: the call goes on until it ends
        return EXIT_FAILED if client.ended_by == "lost" else EXIT_OK
    except SimCallError as exc:
        print(f"phone: {exc}", file=err)
        return EXIT_FAILED
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await speaker.stop()
        await client.close()


async def _play(client: SimClient, speaker: Speaker) -> None:
    async for event in client.events():
        if isinstance(event, AudioEvent):
            speaker.play(event.pcm)


def run_phone(socket_path: str | Path, line: int | None = None, station: int | None = None,
              caller: str | None = DEFAULT_CALLER, audio: bool = True, *, name: str | None = None) -> int:
    """Be a caller on trunk ``line`` (any idle one by default), or the phone of ``station``, in the
    terminal, until hung up (caller) or quit; the exit status (0, 1 failed, 4 no permission, 7 no
    daemon)."""
    try:
        return asyncio.run(run_phone_async(socket_path, line, station, caller, audio, name=name))
    except KeyboardInterrupt:
        return EXIT_OK
