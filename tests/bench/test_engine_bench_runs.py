"""The engine benchmark runs end to end and prints every figure (never its values: no timing asserts)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "engine_bench.py"
NUMBER = r"-?[\d,]+(\.\d+)?"
TIMEOUT_S = 300

FIGURES = (
    rf"RSS after setup: +{NUMBER} MB",
    rf"CPU per channel-second: +{NUMBER} µs",
    rf"channels per core: +{NUMBER} +goal 1,000",
    rf"of which sim board: +{NUMBER} CPU-s",
    rf"without the sim board: +{NUMBER} +channels per core",
    rf"tick processing \(wall\): +p50 {NUMBER} ms +p99 {NUMBER} ms +max {NUMBER} ms",
    rf"tick processing \(CPU\): +p50 {NUMBER} ms +p99 {NUMBER} ms +max {NUMBER} ms",
    rf"missed 20 ms deadlines: +{NUMBER} ",
    rf"peak RSS: +{NUMBER} MB",
    rf"digits: sent {NUMBER}, heard {NUMBER}",
    rf"recordings written: {NUMBER} of {NUMBER}, {NUMBER} s of audio",
)


def run_bench(*args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, cwd=BENCH.parent.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_figures(out: str) -> None:
    for figure in FIGURES:
        assert re.search(figure, out), f"missing {figure!r} in:\n{out}"


def test_prints_every_figure():
    out = run_bench("--channels", "12", "--seconds", "2", "--breakdown")
    assert_figures(out)
    assert "12 channels, 2 s simulated (100 ticks)" in out
    assert "DTMF receiver" in out and "the rest" in out  # the stage table


def test_realtime_mode_counts_deadlines():
    out = run_bench("--channels", "4", "--seconds", "1", "--realtime")
    assert_figures(out)
    assert re.search(rf"ticks over 20 ms: +{NUMBER}", out)


def test_all_prints_a_summary_per_channel_count():
    out = run_bench("--all", "--counts", "3,6", "--seconds", "1")
    assert out.count("hotline engine benchmark:") == 2
    table = out[out.index("Summary"):]
    assert re.search(r"^ +3 ", table, re.M) and re.search(r"^ +6 ", table, re.M)
    assert "goals: 1,000 channels per core" in table
