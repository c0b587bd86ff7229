"""hotlined: the engine process.

Runs in the foreground (what systemd's ``Type=notify`` unit wants). ``--daemonize --pidfile``
detaches through python-daemon, only for hosts without systemd. Exit codes follow the LSB /
``systemd.exec(5)`` table: 0 after a clean stop, 1 on a failure at start (a dead device, an
unwritable folder, another instance running), 6 for an invalid configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import sys
from pathlib import Path

from hotline import __version__
from hotline.clock import SystemClock
from hotline.daemon.config import ConfigError, default_config_path, load_config
from hotline.daemon.control import AlreadyRunning
from hotline.daemon.logs import setup_logging
from hotline.daemon.notify import Notifier
from hotline.errors import HotlineError

log = logging.getLogger("hotline.daemon")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_NOT_CONFIGURED = 6
LOCK_FILENAME = "hotlined.lock"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="hotlined", description="The hotline engine.")
    parser.add_argument("--config", type=Path, help=f"configuration file (default {default_config_path()})")
    parser.add_argument("--daemonize", action="store_true",
                        help="detach into the background (hosts without systemd only)")
    parser.add_argument("--pidfile", type=Path, help="with --daemonize: where to write the pid")
    parser.add_argument("--version", action="version", version=f"hotlined {__version__}")
    args = parser.parse_args(argv)
    if args.daemonize and not args.pidfile:
        parser.error("--daemonize needs --pidfile")
    if args.config is not None:  # a reload reads it again, after --daemonize changed directory to /
        args.config = Path(os.path.abspath(args.config))
    return args


def take_lock(runtime_dir: Path):
    """Hold an exclusive lock for as long as the process lives; :class:`AlreadyRunning` if taken."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    path = runtime_dir / LOCK_FILENAME
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunning(f"another hotlined (pid {pid}) is running on {runtime_dir}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def run(config, config_path) -> int:
    from hotline.daemon.engine import Engine

    lock = take_lock(config.paths.runtime_dir)
    try:
        engine = Engine(config, SystemClock(), config_path, Notifier())
        asyncio.run(engine.run())
    finally:
        lock.close()
    return EXIT_OK


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging("info")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("invalid configuration, not starting:")
        for problem in exc.problems:
            log.error("  %s", problem)
        Notifier().send("STATUS=invalid configuration", "ERRNO=22")
        return EXIT_NOT_CONFIGURED
    setup_logging(config.engine.log_level)
    try:
        if args.daemonize:
            return _daemonized(config, args)
        return run(config, args.config)
    except HotlineError as exc:
        log.error("cannot run: %s", exc)
        return EXIT_FAILURE


def _daemonized(config, args) -> int:
    import daemon  # python-daemon: only for init systems without systemd
    import daemon.pidfile
    from logging.handlers import SysLogHandler

    context = daemon.DaemonContext(pidfile=daemon.pidfile.TimeoutPIDLockFile(str(args.pidfile)),
                                   umask=0o027, detach_process=True)
    with context:
        logger = logging.getLogger("hotline")
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        if os.path.exists("/dev/log"):
            syslog = SysLogHandler(address="/dev/log")
            syslog.ident = "hotlined: "
            logger.addHandler(syslog)
        else:
            config.paths.state_dir.mkdir(parents=True, exist_ok=True)
            logger.addHandler(logging.FileHandler(config.paths.state_dir / "hotlined.log"))
        return run(config, args.config)


if __name__ == "__main__":
    sys.exit(main())
