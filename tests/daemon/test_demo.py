"""`make demo` as a newcomer runs it: the box starts, a scripted call goes through the menu, Ctrl-C stops it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hotline.store.calls import Store

READY_TO_USE = "== Ctrl-C stops it."  # the last line the demo prints before it waits
DEMO_TIMEOUT_S = 120


def test_demo_starts_the_box_calls_it_and_stops_on_ctrl_c(tmp_path):
    demo = subprocess.Popen([sys.executable, "-m", "hotline.daemon.demo"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    lines = []
    deadline = time.monotonic() + DEMO_TIMEOUT_S
    try:
        for line in demo.stdout:
            lines.append(line)
            if line.startswith(READY_TO_USE) or time.monotonic() > deadline:
                break
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
    output = "".join(lines) + rest
    assert demo.returncode == 0, output
    assert "box heard 1" in output and "prompt office-info started" in output, output
    assert "== hotline is running on the simulated board" in output, output[-3000:]
    assert "phone --station 5" in output  # it tells how to call it yourself
    with Store.open(tmp_path / "var/demo/state/hotline.sqlite3") as store:
        [call] = store.calls()
    assert call["disposition"] == "answered" and call["digits"] == "12#"
