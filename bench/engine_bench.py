"""The whole engine under load: N simultaneous calls on the sim board, on one core.

What
    ``N`` callers ring the box at once on a sim board of ``N`` trunks; once every call is
    answered, each call for a fixed simulated time either plays the main menu over and over
    (interruptible, so the DTMF receiver is on and a digit barges in), or, one call in ten,
    records (no silence end). One caller in three of those hearing the menu presses a digit
    every few seconds, so the receiver, barge-in and the call layer do real work; the others
    stay silent (the sim line model still puts noise on every line).

How
    The real :class:`~hotline.daemon.engine.Engine` runs on a temporary folder (config, SQLite,
    spool), with a :class:`~hotline.clock.ManualClock`, logging at warning, BLAS held to one
    thread. Ticks are driven as fast as possible inside a running event loop; per tick the
    wall time (``perf_counter_ns``) and CPU time (``process_time_ns``) of ``engine.tick()``
    plus one event-loop turn (``await asyncio.sleep(0)``, where the call handlers run) are
    measured. The far ends' work (queueing DTMF, taking their events) happens between ticks,
    outside the measure. The sim board's own ``read``/``write`` (line model: noise, echo, G.711
    round trip; far-end queues) is inside ``engine.tick()`` and is also reported on its own,
    since real boards do not do that work in our process.

    ``--realtime`` sleeps to the 20 ms schedule as ``Engine._tick_until_stopped`` does and
    counts the deadlines actually missed. ``--all`` runs N = 30, 240 and 1000 (``--counts``),
    each in its own process so peak RSS is per N, and prints a summary table. ``--breakdown``
    prints the CPU time of each stage of a tick (DTMF, caller ID, recording, ...);
    ``--profile`` the top functions of the measured ticks (cProfile, which slows them).

Figures
    CPU-seconds per channel-second (engine CPU / (N x simulated seconds)); channels per core
    (N x simulated seconds / engine CPU: the channels one core carries in real time); tick
    processing time p50 / p99 / max, wall and CPU; missed 20 ms deadlines (as fast as
    possible: ticks that took longer than 20 ms of wall time, i.e. would have missed in real
    time); RSS after setup and peak RSS (the process peak, read at the end); digits sent against
    digits heard, and recordings written, as a check that the work was real. On a machine busy
    with other work the wall figures include waiting for a CPU (the load average is printed);
    the CPU figures do not.

Goals
    1,000 channels per core; zero missed deadlines at 240 channels; under 150 MB RSS at 240
    channels.

Run: ``python bench/engine_bench.py [--channels 240] [--seconds 30] [--realtime] [--all]
[--breakdown] [--profile]``.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import pstats  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hotline.clock import ManualClock  # noqa: E402
from hotline.daemon.config import MAX_LINES_PER_BOARD, load_config  # noqa: E402
from hotline.daemon.engine import FRAME_S, Engine  # noqa: E402
from hotline.dsp import tones  # noqa: E402
from hotline.store.calls import wav_duration_ms  # noqa: E402

# -- what runs --------------------------------------------------------------------------------
DEFAULT_CHANNELS = 240
DEFAULT_SECONDS = 30.0  # simulated seconds measured
ALL_CHANNEL_COUNTS = (30, 240, 1000)
TICK_MS = 20.0  # one media tick; its deadline
TICKS_PER_S = round(1 / FRAME_S)
RECORD_EVERY = 10  # call index % 10 == 0 records
DIGIT_SENDER_EVERY = 3  # of the other calls, index % 3 == 1 press digits
DIGIT_EVERY_S = 3.0  # one digit per sender this often
DIGITS = "0123456789*#"
DIGIT_ON_MS = 80.0
DIGIT_OFF_MS = 80.0
DIGIT_LEVEL_DBM0 = -10.0  # per tone
DIGIT_SETTLE_S = 0.5  # no digit is pressed in the last 0.5 s, so every one sent can be heard
MENU_PROMPT = "main-menu"  # 12 s, played round and round
MENU_DIGIT_WAIT_S = FRAME_S  # between two rounds of the menu, wait one tick for a digit
RECORD_MARGIN_S = 60.0  # recordings may last the measured time plus this
ANSWER_TIMEOUT_S = 15.0  # simulated; caller ID + first ring take about 2 s
START_TICKS = 2  # after the last answer, so every handler has started its prompt or recording
RESYNC_S = 0.2  # --realtime, as the engine: further behind than this, restart the schedule
TAKE_EVERY_S = 1.0  # far ends take their queued events (notes) this often
SHUTDOWN_TICKS = 3  # ticks after hanging up all calls, so handlers finish and recordings close
CALLER_NUMBER = "13800138000"

# -- goals ------------------------------------------------------------------------------------
GOAL_CHANNELS_PER_CORE = 1000
GOAL_CHANNELS = 240  # the missed-deadline and RSS goals are for this many channels
GOAL_MISSED = 0
GOAL_RSS_MB = 150.0

KB_PER_MB = 1024
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
RESULT_PREFIX = "RESULT "  # a child of --all prints its figures as JSON on such a line
PROFILE_TOP = 30
BOARD_STAGE = "sim board read, write (line model)"
TURN_STAGE = "event loop turn (call handlers)"


@dataclass
class Result:
    """The figures of one run, as printed and as handed from a child to ``--all``."""

    channels: int
    seconds: float
    ticks: int
    realtime: bool
    setup_s: float  # simulated seconds until every call was answered
    cpu_s: float  # engine CPU over the measured ticks
    board_cpu_s: float  # of which the sim board's read/write
    tick_p50_ms: float  # wall time of a tick's processing
    tick_p99_ms: float
    tick_max_ms: float
    cpu_p50_ms: float  # CPU time of a tick's processing
    cpu_p99_ms: float
    cpu_max_ms: float
    over_deadline: int  # ticks whose processing took longer than 20 ms
    missed: int  # deadlines missed: over_deadline, or counted on the real-time schedule
    rss_setup_mb: float
    peak_rss_setup_mb: float
    peak_rss_mb: float
    digits_sent: int = 0
    digits_heard: int = 0
    senders_exact: int = 0
    senders: int = 0
    false_digits: int = 0
    recordings: int = 0
    recorded_s: float = 0.0
    recorders: int = 0
    load_average: float = 0.0  # 1-minute load average at the end, against
    cores: int = 1  # the CPUs of the machine: other work makes wall times longer
    stages: dict = field(default_factory=dict)  # label -> CPU s (--breakdown)

    @property
    def cpu_per_channel_s(self) -> float:
        return self.cpu_s / (self.channels * self.seconds)

    @property
    def channels_per_core(self) -> float:
        return self.channels * self.seconds / self.cpu_s if self.cpu_s else float("inf")

    @property
    def channels_per_core_without_board(self) -> float:
        engine_s = self.cpu_s - self.board_cpu_s
        return self.channels * self.seconds / engine_s if engine_s > 0 else float("inf")


# -- setting up -------------------------------------------------------------------------------

def write_config(folder: Path, channels: int) -> Path:
    """A config of sim boards with ``channels`` trunks in all, state in ``folder``."""
    boards = []
    left = channels
    while left > 0:
        trunks = min(left, MAX_LINES_PER_BOARD)
        boards.append(f'[[board]]\ndriver = "sim"\nname = "bench{len(boards)}"\ntrunks = {trunks}\nstations = 0\n')
        left -= trunks
    path = folder / "hotline.toml"
    path.write_text('[paths]\nstate_dir = "state"\nspool_dir = "spool"\nruntime_dir = "run"\n\n'
                    '[engine]\nlog_level = "warning"\n\n' + "\n".join(boards))
    return path


def records(index: int) -> bool:
    """Call ``index`` (line ``index + 1``) records instead of hearing the menu."""
    return index % RECORD_EVERY == 0


def sends_digits(index: int) -> bool:
    """The caller of call ``index`` presses a digit every :data:`DIGIT_EVERY_S`."""
    return not records(index) and index % DIGIT_SENDER_EVERY == 1


def make_handler(record_max_s: float):
    """The bench's call handler: every call stays in one known state for the whole run."""

    async def handler(call) -> None:
        if records(call.line - 1):
            path = call.manager.recording_path(call)
            await call.record(path, max_s=record_max_s, silence_s=0, stop_digits="")
            return
        while True:  # the menu round and round; a digit cuts it short and it starts again
            await call.collect(max_digits=1, first_timeout_s=MENU_DIGIT_WAIT_S, terminators="",
                               prompt=MENU_PROMPT)

    return handler


def digit_audio() -> dict[str, np.ndarray]:
    """One key press (tone, then quiet) per digit, int16 scale."""
    return {d: tones.dtmf(d, on_ms=DIGIT_ON_MS, off_ms=DIGIT_OFF_MS, level_dbm0=DIGIT_LEVEL_DBM0)
            for d in DIGITS}


@dataclass
class Callers:
    """The far ends: their handles, and who presses which digits when."""

    handles: list  # FarEndHandle per call index
    period_ticks: int
    by_phase: dict[int, list[int]]  # tick % period -> indices of the senders pressing then
    audio: dict[str, np.ndarray]
    sent: dict[int, str] = field(default_factory=dict)  # index -> digits sent

    def press(self, tick: int) -> None:
        for index in self.by_phase.get(tick % self.period_ticks, ()):
            so_far = self.sent.get(index, "")
            digit = DIGITS[(index + len(so_far)) % len(DIGITS)]
            self.handles[index].send_audio(self.audio[digit])
            self.sent[index] = so_far + digit

    def take(self) -> None:
        for handle in self.handles:
            handle.take()


def attach_callers(engine: Engine, channels: int) -> Callers:
    handles = []
    for board in engine.boards:
        for line in board.lines:
            handles.append(board.attach_caller(line.number, caller=CALLER_NUMBER, listen=False))
    period = round(DIGIT_EVERY_S * TICKS_PER_S)
    by_phase: dict[int, list[int]] = {}
    for index in range(channels):
        if sends_digits(index):
            by_phase.setdefault((index * 7) % period, []).append(index)
    return Callers(handles, period, by_phase, digit_audio())


async def answer_all(engine: Engine, clock: ManualClock, channels: int) -> int:
    """Tick until every call is answered; the ticks it took."""
    ticks = 0
    while engine.manager.calls_handled < channels:
        if ticks >= ANSWER_TIMEOUT_S * TICKS_PER_S:
            raise SystemExit(f"only {engine.manager.calls_handled} of {channels} calls answered "
                             f"after {ANSWER_TIMEOUT_S:g} s")
        engine.tick()
        await asyncio.sleep(0)
        clock.advance(FRAME_S)
        ticks += 1
    for _ in range(START_TICKS):
        engine.tick()
        await asyncio.sleep(0)
        clock.advance(FRAME_S)
    return ticks + START_TICKS


# -- measuring --------------------------------------------------------------------------------

def rss_mb() -> float:
    """Resident set size now (Linux ``/proc``), MB."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / (KB_PER_MB * KB_PER_MB)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KB_PER_MB  # ru_maxrss is in KB on Linux


class Meters:
    """CPU time spent in chosen methods of the engine's objects, by label (instance wrappers).

    Each wrapped call costs two ``process_time_ns`` calls (about 1-2 µs): a few per tick are
    noise against a tick of milliseconds.
    """

    def __init__(self):
        self.ns: dict[str, int] = {}

    def wrap(self, obj, name: str, label: str) -> None:
        inner = getattr(obj, name)
        self.ns.setdefault(label, 0)

        def timed(*args, **kwargs):
            start = time.process_time_ns()
            try:
                return inner(*args, **kwargs)
            finally:
                self.ns[label] += time.process_time_ns() - start

        setattr(obj, name, timed)

    def seconds(self, label: str) -> float:
        return self.ns.get(label, 0) / NS_PER_S


def meter_boards(meters: Meters, engine: Engine) -> None:
    for board in engine.boards:
        meters.wrap(board, "read", BOARD_STAGE)
        meters.wrap(board, "write", BOARD_STAGE)


def meter_stages(meters: Meters, engine: Engine) -> None:
    """The stages of a tick (besides the boards), for ``--breakdown``."""
    media, manager = engine.media, engine.manager
    meters.wrap(media.dtmf, "process", "DTMF receiver")
    meters.wrap(media.progress, "process", "progress tones, silence, voice")
    if media.callerid is not None:
        meters.wrap(media.callerid, "process", "FSK caller ID (all trunks)")
    meters.wrap(media, "_record", "recording")
    meters.wrap(media, "_play", "playback")
    meters.wrap(media, "_bridge", "bridging")
    meters.wrap(manager, "handle", "call layer: events")
    meters.wrap(manager, "on_tick", "call layer: timers")


async def measure(engine: Engine, clock: ManualClock, callers: Callers, ticks: int,
                  realtime: bool, meters: Meters) -> tuple[np.ndarray, np.ndarray, int]:
    """Run ``ticks`` ticks; per-tick wall and CPU ns of tick + loop turn, and real-time misses."""
    wall = np.zeros(ticks, np.int64)
    cpu = np.zeros(ticks, np.int64)
    turn_ns = 0
    last_press = ticks - round(DIGIT_SETTLE_S * TICKS_PER_S)
    take_every = round(TAKE_EVERY_S * TICKS_PER_S)
    missed = 0
    deadline = time.monotonic()
    for k in range(ticks):
        if k < last_press:
            callers.press(k)
        if k % take_every == 0:
            callers.take()
        w0, c0 = time.perf_counter_ns(), time.process_time_ns()
        engine.tick()
        c1 = time.process_time_ns()
        await asyncio.sleep(0)
        c2 = time.process_time_ns()
        wall[k] = time.perf_counter_ns() - w0
        cpu[k] = c2 - c0
        turn_ns += c2 - c1
        clock.advance(FRAME_S)
        if realtime:
            deadline += FRAME_S
            missed += await keep_schedule(deadline)
            if time.monotonic() - deadline > RESYNC_S:
                deadline = time.monotonic()
    meters.ns[TURN_STAGE] = turn_ns
    return wall, cpu, missed


async def keep_schedule(deadline: float) -> int:
    """Sleep until ``deadline`` (monotonic s); 1 if it has passed already (a missed deadline)."""
    delay = deadline - time.monotonic()
    await asyncio.sleep(max(delay, 0))
    return 1 if delay < 0 else 0


def count_digits(engine: Engine, callers: Callers, channels: int) -> dict:
    heard = {call.line - 1: call.digits for call in engine.manager.calls.values()}
    senders = [i for i in range(channels) if sends_digits(i)]
    return {
        "digits_sent": sum(len(s) for s in callers.sent.values()),
        "digits_heard": sum(len(d) for d in heard.values()),
        "senders": len(senders),
        "senders_exact": sum(1 for i in senders if heard.get(i, "") == callers.sent.get(i, "")),
        "false_digits": sum(len(d) for i, d in heard.items() if not sends_digits(i)),
    }


async def shut_down(engine: Engine) -> None:
    engine.manager.end_all("system")
    for _ in range(SHUTDOWN_TICKS):
        engine.tick()
        await asyncio.sleep(0)
    for board in engine.boards:
        board.close()
    engine.store.close()


def count_recordings(spool: Path) -> tuple[int, float]:
    """WAV files with audio under ``spool``, and their total seconds."""
    durations_ms = [wav_duration_ms(path) or 0 for path in spool.rglob("*.wav")]
    return sum(1 for ms in durations_ms if ms > 0), sum(durations_ms) / 1000


async def run(channels: int, seconds: float, realtime: bool, profile: bool, breakdown: bool) -> Result:
    logging.getLogger("hotline").setLevel(logging.WARNING)
    ticks = round(seconds * TICKS_PER_S)
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        config_path = write_config(Path(tmp), channels)
        config = load_config(config_path)
        clock = ManualClock()
        engine = Engine(config, clock, config_path)
        engine.manager.handler = make_handler(seconds + RECORD_MARGIN_S)
        callers = attach_callers(engine, channels)
        setup_ticks = await answer_all(engine, clock, channels)
        callers.take()
        rss_setup, peak_setup = rss_mb(), peak_rss_mb()
        meters = Meters()
        meter_boards(meters, engine)
        if breakdown:
            meter_stages(meters, engine)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        wall, cpu, rt_missed = await measure(engine, clock, callers, ticks, realtime, meters)
        if profiler:
            profiler.disable()
        digits = count_digits(engine, callers, channels)
        await shut_down(engine)
        recordings, recorded_s = count_recordings(config.paths.spool_dir)
    if profiler:
        print_profile(profiler)
    over = int(np.count_nonzero(wall > TICK_MS * NS_PER_MS))
    return Result(
        channels=channels, seconds=ticks / TICKS_PER_S, ticks=ticks, realtime=realtime,
        setup_s=setup_ticks / TICKS_PER_S, cpu_s=cpu.sum() / NS_PER_S, board_cpu_s=meters.seconds(BOARD_STAGE),
        **percentiles_ms(wall, "tick"), **percentiles_ms(cpu, "cpu"),
        over_deadline=over, missed=rt_missed if realtime else over,
        rss_setup_mb=rss_setup, peak_rss_setup_mb=max(peak_setup, rss_setup), peak_rss_mb=peak_rss_mb(),
        recordings=recordings, recorded_s=recorded_s,
        recorders=sum(1 for i in range(channels) if records(i)),
        load_average=os.getloadavg()[0], cores=os.cpu_count() or 1,
        stages={label: ns / NS_PER_S for label, ns in meters.ns.items()} if breakdown else {}, **digits)


def percentiles_ms(ns: np.ndarray, name: str) -> dict[str, float]:
    return {f"{name}_p50_ms": float(np.percentile(ns, 50)) / NS_PER_MS,
            f"{name}_p99_ms": float(np.percentile(ns, 99)) / NS_PER_MS,
            f"{name}_max_ms": float(ns.max()) / NS_PER_MS}


def print_profile(profiler: cProfile.Profile) -> None:
    print(f"\nTop {PROFILE_TOP} costs of the measured ticks (cProfile, by own time):")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(PROFILE_TOP)
    print(f"Top {PROFILE_TOP} by cumulative time:")
    stats.sort_stats("cumulative").print_stats(PROFILE_TOP)


# -- printing ---------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def goal_at_240(result: Result, ok: bool, text: str) -> str:
    if result.channels == GOAL_CHANNELS:
        return f"goal {text} at {GOAL_CHANNELS} channels: {verdict(ok)}"
    return f"(goal {text} is for {GOAL_CHANNELS} channels)"


def report(r: Result) -> None:
    mode = "real time (20 ms schedule)" if r.realtime else "as fast as possible"
    listeners = r.channels - r.recorders
    print(f"hotline engine benchmark: {r.channels} channels, {r.seconds:g} s simulated ({r.ticks} ticks), "
          f"{mode}, one core (BLAS threads 1)")
    print(f"  calls: {r.channels} answered after {r.setup_s:.2f} s simulated; {r.recorders} recording, "
          f"{listeners} hearing the menu, {r.senders} of them pressing a digit every {DIGIT_EVERY_S:g} s")
    print(f"  RSS after setup:            {r.rss_setup_mb:8.1f} MB  (peak so far {r.peak_rss_setup_mb:.1f} MB)")
    print(f"  CPU per channel-second:     {r.cpu_per_channel_s * 1e6:8.1f} µs  "
          f"({r.cpu_per_channel_s:.3g} CPU-s per channel-s; {r.cpu_s:.2f} CPU-s in all)")
    print(f"  channels per core:          {r.channels_per_core:8.0f}     goal {GOAL_CHANNELS_PER_CORE:,}: "
          f"{verdict(r.channels_per_core >= GOAL_CHANNELS_PER_CORE)}")
    print(f"    of which sim board:       {r.board_cpu_s:8.2f} CPU-s ({100 * r.board_cpu_s / r.cpu_s:.0f} %: "
          f"line model, far ends; not ours on real boards)")
    print(f"    without the sim board:    {r.channels_per_core_without_board:8.0f}     channels per core")
    print(f"  tick processing (wall):     p50 {r.tick_p50_ms:.2f} ms  p99 {r.tick_p99_ms:.2f} ms  "
          f"max {r.tick_max_ms:.2f} ms")
    print(f"  tick processing (CPU):      p50 {r.cpu_p50_ms:.2f} ms  p99 {r.cpu_p99_ms:.2f} ms  "
          f"max {r.cpu_max_ms:.2f} ms")
    what = "missed on the 20 ms schedule" if r.realtime else f"ticks over {TICK_MS:g} ms"
    print(f"  missed 20 ms deadlines:     {r.missed:8d}     ({what}, of {r.ticks})  "
          f"{goal_at_240(r, r.missed <= GOAL_MISSED, f'{GOAL_MISSED}')}")
    if r.realtime:
        print(f"    ticks over {TICK_MS:g} ms:         {r.over_deadline:8d}")
    print(f"  peak RSS:                   {r.peak_rss_mb:8.1f} MB  "
          f"{goal_at_240(r, r.peak_rss_mb < GOAL_RSS_MB, f'< {GOAL_RSS_MB:g} MB')}")
    print(f"  digits: sent {r.digits_sent}, heard {r.digits_heard}; {r.senders_exact} of {r.senders} "
          f"senders heard exactly; {r.false_digits} false on silent lines")
    print(f"  recordings written: {r.recordings} of {r.recorders}, {r.recorded_s:.1f} s of audio")
    print(f"  machine: load average {r.load_average:.2f} on {r.cores} CPUs"
          + ("  (busy: wall times include waiting for a CPU; the CPU figures do not)"
             if r.load_average > r.cores - 1 else ""))
    if r.stages:
        report_stages(r)


def report_stages(r: Result) -> None:
    print("  CPU by stage (µs per tick; % of the tick):")
    accounted = 0.0
    for label, seconds in sorted(r.stages.items(), key=lambda item: -item[1]):
        accounted += seconds
        print(f"    {label:<36} {seconds / r.ticks * 1e6:8.0f} µs  {100 * seconds / r.cpu_s:5.1f} %")
    rest = r.cpu_s - accounted
    print(f"    {'the rest (tick glue, board events)':<36} {rest / r.ticks * 1e6:8.0f} µs  "
          f"{100 * rest / r.cpu_s:5.1f} %")


def summary(results: list[Result]) -> None:
    print("\nSummary (each N in its own process)")
    print(f"  {'channels':>8} {'CPU µs/ch-s':>12} {'ch/core':>8} {'ch/core no sim':>15} {'wall p50':>9} "
          f"{'p99':>6} {'max ms':>7} {'CPU p50':>8} {'p99':>6} {'max ms':>7} {'missed':>7} {'RSS setup':>10} "
          f"{'peak RSS MB':>12} {'digits sent/heard':>18} {'recordings':>11} {'load':>5}")
    for r in results:
        print(f"  {r.channels:>8} {r.cpu_per_channel_s * 1e6:>12.1f} {r.channels_per_core:>8.0f} "
              f"{r.channels_per_core_without_board:>15.0f} {r.tick_p50_ms:>9.2f} {r.tick_p99_ms:>6.2f} "
              f"{r.tick_max_ms:>7.2f} {r.cpu_p50_ms:>8.2f} {r.cpu_p99_ms:>6.2f} {r.cpu_max_ms:>7.2f} "
              f"{r.missed:>7} {r.rss_setup_mb:>10.1f} {r.peak_rss_mb:>12.1f} "
              f"{f'{r.digits_sent}/{r.digits_heard}':>18} {r.recordings:>11} {r.load_average:>5.1f}")
    print(f"  goals: {GOAL_CHANNELS_PER_CORE:,} channels per core; {GOAL_MISSED} missed deadlines and "
          f"< {GOAL_RSS_MB:g} MB RSS at {GOAL_CHANNELS} channels")


# -- running ----------------------------------------------------------------------------------

def run_children(counts: list[int], args: argparse.Namespace) -> int:
    results = []
    for channels in counts:
        command = [sys.executable, str(Path(__file__).resolve()), "--channels", str(channels),
                   "--seconds", str(args.seconds), "--result-line"]
        command += [flag for flag, on in (("--realtime", args.realtime), ("--breakdown", args.breakdown)) if on]
        child = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        for line in child.stdout.splitlines():
            if line.startswith(RESULT_PREFIX):
                results.append(Result(**json.loads(line[len(RESULT_PREFIX):])))
            else:
                print(line)
        if child.returncode:
            print(child.stderr, file=sys.stderr)
            print(f"the run at {channels} channels failed (exit {child.returncode})", file=sys.stderr)
            return 1
        print()
    summary(results)
    return 0


def channel_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("expected channel counts like 30,240,1000")
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=DEFAULT_CHANNELS, help="simultaneous calls (default 240)")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help="simulated seconds measured (default 30)")
    parser.add_argument("--realtime", action="store_true", help="tick on the 20 ms schedule, count missed deadlines")
    parser.add_argument("--all", action="store_true", help="run each of --counts in its own process, then a summary")
    parser.add_argument("--counts", type=channel_counts, default=list(ALL_CHANNEL_COUNTS),
                        help="channel counts for --all (default 30,240,1000)")
    parser.add_argument("--profile", action="store_true",
                        help="print the top costs of the measured ticks (cProfile; slows the ticks)")
    parser.add_argument("--breakdown", action="store_true", help="print the CPU time of each stage of a tick")
    parser.add_argument("--result-line", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.channels < 1 or args.seconds < 1:
        parser.error("--channels must be at least 1 and --seconds at least 1")
    if args.all:
        return run_children(args.counts, args)
    result = asyncio.run(run(args.channels, args.seconds, args.realtime, args.profile, args.breakdown))
    report(result)
    if args.result_line:
        print(RESULT_PREFIX + json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
