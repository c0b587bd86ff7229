"""An engine on the simulated board, driven tick by tick: no sleeping, no sockets.

The engine, its store (a real SQLite file), its prompts and its DSP are the real ones; the clock
is a :class:`~hotline.clock.ManualClock` moved 20 ms per tick, and the far ends are the sim
board's in-process handles. Each tick lets the handler coroutines run before the next one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from hotline.clock import ManualClock
from hotline.daemon.config import load_config
from hotline.daemon.engine import Engine
from hotline.drivers.sim.protocol import AudioEvent, HangupEvent, NoteEvent
from hotline.dsp import tones
from hotline.dsp.levels import to_pcm16

TICK_S = 0.02


def write_config(folder: Path, extra: str = "", trunks: int = 2, stations: int = 1, board: str = "",
                 paths: str = "") -> Path:
    path = folder / "hotline.toml"
    path.write_text(f"""
[paths]
state_dir = "state"
spool_dir = "spool"
runtime_dir = "run"
{paths}

[[board]]
driver = "sim"
trunks = {trunks}
stations = {stations}
{board}

{extra}
""")
    return path


class FarEnd:
    """A far-end handle with its transcript: notes, box audio and hang-up as they arrive."""

    def __init__(self, handle):
        self.handle = handle
        self.notes: list[dict] = []
        self.audio: list[np.ndarray] = []
        self.hangup_by: str | None = None
        self.events: list = []

    def collect(self) -> None:
        for event in self.handle.take():
            if isinstance(event, AudioEvent):
                self.audio.append(event.pcm)
            elif isinstance(event, NoteEvent):
                self.notes.append(event.note)
            elif isinstance(event, HangupEvent):
                self.hangup_by = event.by
            else:
                self.events.append(event)

    def prompts_started(self) -> list[str]:
        return [n["prompt"] for n in self.notes if n.get("state") == "start"]

    def heard_digits(self) -> str:
        return "".join(n["heard"] for n in self.notes if "heard" in n)

    def press(self, digits: str, on_ms: int = 80, off_ms: int = 80) -> None:
        self.handle.send_audio(to_pcm16(tones.dtmf(digits, on_ms=on_ms, off_ms=off_ms, level_dbm0=-8,
                                                  rng=np.random.default_rng(len(self.notes)))))

    def say(self, seconds: float) -> None:
        """Something voice-like: a warbling tone at speech level, well away from DTMF pairs."""
        t = np.arange(int(seconds * 8000)) / 8000
        voice = tones.sine(300, len(t), -15) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        self.handle.send_audio(to_pcm16(voice))

    def box_audio(self) -> np.ndarray:
        return np.concatenate(self.audio) if self.audio else np.zeros(0, np.int16)


class Harness:
    """The engine, a manual clock, and helpers to run ticks until something happens."""

    def __init__(self, folder: Path, extra: str = "", **config_options):
        self.config_path = write_config(folder, extra, **config_options)
        self.config = load_config(self.config_path)
        self.clock = ManualClock()
        self.engine = Engine(self.config, self.clock, self.config_path)
        self.board = self.engine.boards[0]
        self.far_ends: list[FarEnd] = []

    @property
    def store(self):
        return self.engine.store

    def caller(self, number: str | None = "13800138000", name: str | None = "ZHANG WEI", line=None) -> FarEnd:
        far = FarEnd(self.board.attach_caller(line=line, caller=number, name=name))
        self.far_ends.append(far)
        return far

    def phone(self, line: int) -> FarEnd:
        far = FarEnd(self.board.attach_phone(line))
        self.far_ends.append(far)
        return far

    async def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.engine.tick()
            self.clock.advance(TICK_S)
            for _ in range(3):  # let woken handlers run to their next await
                await asyncio.sleep(0)
            for far in self.far_ends:
                far.collect()

    async def run(self, seconds: float) -> None:
        await self.tick(round(seconds / TICK_S))

    async def until(self, condition, timeout_s: float = 60.0) -> float:
        """Run ticks until ``condition()`` holds; the seconds it took. Fails after ``timeout_s``."""
        for ticks in range(round(timeout_s / TICK_S)):
            if condition():
                return ticks * TICK_S
            await self.tick()
        raise AssertionError(f"not reached within {timeout_s} s of call time")

    async def until_prompt(self, far: FarEnd, prompt: str, state: str = "start", timeout_s: float = 60.0) -> None:
        await self.until(lambda: {"prompt": prompt, "state": state} in far.notes, timeout_s)

    def close(self) -> None:
        self.engine.manager.end_all("system")
        for board in self.engine.boards:
            board.close()
        self.engine.store.close()
