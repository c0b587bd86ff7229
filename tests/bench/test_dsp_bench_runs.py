"""The DSP benchmark runs end to end and prints every figure beside SpanDSP's (never asserts values)."""

import re
import subprocess
import sys
from pathlib import Path

from tests.peers import spandsp

BENCH = Path(__file__).resolve().parents[2] / "bench" / "dsp_bench.py"
NUMBER = r"[\d,]+(\.\d+)?"
TIMEOUT_S = 300
RECEIVERS = ("hotline DtmfReceiver", "hotline ProgressDetector", "hotline FskCallerIdReceiver")
PEERS = ("SpanDSP dtmf_rx", "SpanDSP super_tone_rx", "SpanDSP adsi_rx")
DTMF_LINES = 8  # 2 scenarios x 4 channel counts


def test_prints_each_receiver_beside_spandsp_with_the_ratio():
    done = subprocess.run([sys.executable, str(BENCH), "--seconds", "1", "--repeat", "1"],
                          capture_output=True, text=True, timeout=TIMEOUT_S, cwd=BENCH.parent.parent)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for name in RECEIVERS + (PEERS if spandsp.available() else ()):
        assert re.search(rf"{name} +{NUMBER} ch +{NUMBER} ch-s/CPU-s +\({NUMBER} events\)", out), \
            f"no figure for {name} in:\n{out}"
    if spandsp.available():
        ratios = re.findall(rf"ratio hotline / SpanDSP.*: {NUMBER}x", out)
        assert len(ratios) == DTMF_LINES + 2, out
