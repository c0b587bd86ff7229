"""``make demo``: start the appliance on the simulated board and call it once, right away.

Writes a demo configuration under ``var/demo/`` (its own state, spool and runtime folders: no
root, no ``/run``), starts ``hotlined`` in the foreground with its log on this terminal, waits
until it answers on its control socket, places one scripted test call through the menu (the
transcript shows what the caller heard and what the box heard), then tells how to call it
yourself, and keeps the box running until Ctrl-C (which stops it the way systemd does: SIGTERM).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from hotline.daemon.ctl import ClientError, ControlClient

DEMO_DIR = Path("var/demo")
READY_TIMEOUT_S = 60.0
DEMO_KEYS = "w t1 1 w t1 2 w w t1 #"  # greeting; 1 cuts the menu short: office hours; 2: a message; #
DEMO_CONFIG = """\
# The demo box: a simulated board with 4 exchange lines (trunks 1-4) and 2 agent phones
# (stations 5-6). Everything it writes stays under this folder.
[engine]
drain_s = 5

[paths]
state_dir = "state"
spool_dir = "spool"
runtime_dir = "run"

[[board]]
driver = "sim"
trunks = 4
stations = 2
"""


def _wait_ready(socket_path: Path, daemon: subprocess.Popen) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and daemon.poll() is None:
        try:
            with ControlClient(socket_path, timeout_s=2.0) as client:
                if client.call("status")["state"] == "running":
                    return True
        except ClientError:
            time.sleep(0.2)
    return False


def main() -> int:
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    config = DEMO_DIR / "hotline.toml"
    if not config.exists():
        config.write_text(DEMO_CONFIG)
    ctl = [sys.executable, "-m", "hotline.daemon.ctl", "--config", str(config)]
    daemon = subprocess.Popen([sys.executable, "-m", "hotline.daemon.main", "--config", str(config)])
    signal.signal(signal.SIGINT, lambda *_: daemon.send_signal(signal.SIGTERM))
    try:
        if not _wait_ready(DEMO_DIR / "run" / "control.sock", daemon):
            print("demo: hotlined did not come up; its log is above", file=sys.stderr)
            return 1
        print(f"\n== a test call: hotlinectl test-call --keys '{DEMO_KEYS}'\n", flush=True)
        subprocess.run([*ctl, "test-call", "--keys", DEMO_KEYS])
        subprocess.run([*ctl, "status"])
        shell_ctl = f"{Path(sys.executable).parent}/hotlinectl --config {config}"
        print(f"""
== hotline is running on the simulated board. In another terminal:
   {shell_ctl} phone                       call it yourself: keys are DTMF, h hangs up
   {shell_ctl} phone --station 5           be the agent's phone (press 0 in the menu to ring it)
   {shell_ctl} test-call --keys 'w w 1 w h'   a scripted call with a transcript
   {shell_ctl} lines | calls | status
   call records: {DEMO_DIR}/state/hotline.sqlite3, messages: {DEMO_DIR}/spool/messages/
== Ctrl-C stops it.
""", flush=True)
        return daemon.wait()
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait()


if __name__ == "__main__":
    sys.exit(main())
