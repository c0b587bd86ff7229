"""The engine: boards, media loop, calls, store and control socket, run on one asyncio loop.

:class:`Engine` is built from a :class:`~hotline.daemon.config.Config`. :meth:`Engine.run` ticks
the media loop every 20 ms against the clock (counting missed deadlines), serves the control
socket (it is the control target: ``status``, ``lines``, ``calls``, ``reload``, ``block``, ...),
and serves the simulated board's socket. It reports to systemd through the notifier:
``READY=1`` once the control socket listens, ``STATUS=`` with lines and calls, ``WATCHDOG=1``
from the media loop itself (a wedged loop stops the pings), ``RELOADING=1``/``READY=1`` around
a reload and ``STOPPING=1`` on stop.

Reload is transactional: the new configuration is read and validated whole; if it has a
problem it is refused, logged and reported in ``STATUS=``, and the running one stays. What a
reload can change while calls go on (the handler's settings and prompts, the tone plan, the log
level, the drain time) takes effect at once; boards and paths take effect at the next start.

Stop: no new calls are answered; calls in progress get ``drain_s`` to finish; then the rest are
hung up and their records written, the boards closed and the store closed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

from hotline import __version__
from hotline.calls.builtin import make_handler
from hotline.calls.manager import CallManager
from hotline.clock import Clock
from hotline.daemon.config import Config, ConfigError, load_config
from hotline.daemon.control import ControlServer
from hotline.daemon.logs import setup_logging
from hotline.daemon.notify import Notifier
from hotline.daemon.protocol import NotFound, ReloadRefused
from hotline.drivers.base import FRAME_MS, Board, Line, LineKind
from hotline.errors import HotlineError
from hotline.media.loop import MediaLoop
from hotline.media.prompts import PromptLibrary
from hotline.prompts import shipped_prompts_dir
from hotline.store.calls import Store

log = logging.getLogger("hotline.engine")

FRAME_S = FRAME_MS / 1000.0
RESYNC_AFTER_S = 0.2  # further behind than this: stop catching up, restart the tick schedule
STATUS_EVERY_TICKS = 50  # STATUS= at most once a second, and only when it changed
TICK_FAILURE_LOG_EVERY = 500  # a failing tick is logged the first time, then every 10 s
CHECKPOINT_EVERY_S = 10.0  # the store's WAL is copied into the database this often, off the media loop


def build_boards(config: Config, clock: Clock) -> list[Board]:
    """One board object per configured board, with its lines in the global numbering."""
    from hotline.drivers.sim.board import SimBoard

    boards = []
    specs = config.lines()
    for board_config in config.boards:
        lines = tuple(Line(spec.number, LineKind(spec.kind), spec.board_name, spec.index_on_board)
                      for spec in specs if spec.board_name == board_config.name)
        options = board_config.options
        boards.append(SimBoard(board_config.name, lines, clock, codec=options.line_codec,
                               noise_dbm0=options.noise_dbm0, gain_db=options.gain_db,
                               echo_loss_db=options.echo_loss_db, echo_delay_ms=options.echo_delay_ms,
                               freq_offset_hz=options.freq_offset_hz, callerid=options.callerid,
                               disconnect=options.disconnect, tone_plan=config.engine.country))
    return boards


class Engine:
    """The running box; see the module docstring."""

    def __init__(self, config: Config, clock: Clock, config_path: Path | None = None,
                 notifier: Notifier | None = None):
        self.config = config
        self.config_path = config_path
        self.clock = clock
        self.notifier = notifier or Notifier(env={})
        self.started_monotonic = clock.monotonic()
        for folder in (config.paths.state_dir, config.paths.spool_dir, config.paths.runtime_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.store = Store.open(config.paths.database, auto_checkpoint=False)
        recovered = self.store.recover_interrupted(clock.iso())
        if recovered:
            log.warning("%d call(s) were cut off by the last stop and are recorded as interrupted: %s",
                        len(recovered), ", ".join(map(str, recovered)))
        self.boards = build_boards(config, clock)
        for board in self.boards:
            board.open()
        self.prompts = self._prompt_library(config)
        self.media = MediaLoop(self.boards, self.prompts, config.engine.country)
        self.manager = CallManager(self.media, self.store, clock, self._handler(config), self.prompts,
                                   config.paths.spool_dir)
        for line in self.store.blocked_lines():
            if line in self.manager.lines:
                self.manager.lines[line].blocked = True
        self.state = "starting"
        self.last_reload = {"at": None, "ok": True, "message": "started"}
        self.missed_deadlines = 0
        self.tick_failures = 0
        self._stop = asyncio.Event()
        self._status = ""
        self._watchdog_every = None

    @staticmethod
    def _prompt_library(config: Config) -> PromptLibrary:
        return PromptLibrary(config.paths.prompts_dir or shipped_prompts_dir(), config.engine.language,
                             config.engine.country)

    @staticmethod
    def _handler(config: Config):
        return make_handler(config.handler, config.operator_line())

    # -- the tick -----------------------------------------------------------------------------

    def tick(self) -> None:
        """One 20 ms step: the media loop, then the events and due timers of the call layer."""
        events = self.media.tick()
        if events:
            self.manager.handle(events)
        self.manager.on_tick()
        ticks = self.media.ticks
        if self._watchdog_every and ticks % self._watchdog_every == 0:
            self.notifier.watchdog()
        if ticks % STATUS_EVERY_TICKS == 0:
            self._report_status()

    def _report_status(self) -> None:
        up = sum(1 for s in self.manager.lines.values() if s.state != "alarm")
        text = f"{up}/{len(self.manager.lines)} lines up, {len(self.manager.calls)} calls"
        if self.state != "running":
            text += f", {self.state}"
        if not self.last_reload["ok"]:
            text += f"; reload failed: {self.last_reload['message']}"
        if text != self._status:
            self._status = text
            self.notifier.status(text)

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self._reload_from_signal()))
        control = ControlServer(self, self.config.paths.control_socket, log)
        await control.start()
        sim_servers = await self._serve_sim()
        interval = self.notifier.watchdog_interval_s() if self.config.engine.watchdog else None
        if interval:
            self._watchdog_every = max(1, int(interval / FRAME_S))
        self.state = "running"
        self.notifier.ready()
        self._report_status()
        checkpoints = loop.create_task(self._checkpoints())
        log.info("hotlined %s running: %d lines on %d board(s); control socket %s", __version__,
                 len(self.manager.lines), len(self.boards), self.config.paths.control_socket)
        try:
            await self._tick_until_stopped()
            await self._drain()
        finally:
            checkpoints.cancel()
            for board, server in sim_servers:
                await board.close_server()
            await control.stop()
            for board in self.boards:
                board.close()
            self.store.close()
            log.info("hotlined stopped")

    async def _serve_sim(self) -> list:
        served = []
        for index, board in enumerate(self.boards):
            if hasattr(board, "serve"):
                path = self.config.paths.sim_socket
                if index:
                    path = path.with_name(f"sim-{board.name}.sock")
                await board.serve(path)
                served.append((board, path))
        return served

    async def _tick_until_stopped(self, until=None) -> None:
        deadline = self.clock.monotonic()
        while not self._stop.is_set() and (until is None or not until()):
            self._guarded_tick()
            deadline += FRAME_S
            delay = deadline - self.clock.monotonic()
            if delay < 0:
                self.missed_deadlines += 1
                if delay < -RESYNC_AFTER_S:
                    log.warning("media loop %.0f ms behind; resynchronising", -delay * 1000)
                    deadline = self.clock.monotonic()
                delay = 0
            await asyncio.sleep(delay)

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY_S)
            try:
                await asyncio.to_thread(self.store.checkpoint)
            except HotlineError as exc:
                log.warning("%s", exc)

    def _guarded_tick(self) -> None:
        """A tick that cannot take the box down: a failure is logged (with its traceback the
        first time and every ``TICK_FAILURE_LOG_EVERY`` after), the next tick runs as usual."""
        try:
            self.tick()
        except Exception:  # the media loop's boundary: calls in progress must go on
            self.tick_failures += 1
            if self.tick_failures % TICK_FAILURE_LOG_EVERY == 1:
                log.exception("media tick failed (%d failure(s) so far); the loop goes on", self.tick_failures)

    def request_stop(self) -> None:
        if self.state in ("running", "starting"):
            log.info("stopping: no new calls; %d call(s) get %.0f s to finish",
                     len(self.manager.calls), self.config.engine.drain_s)
            self.state = "draining"
            self.notifier.stopping()
            self.manager.accepting = False
            self._report_status()
            self._stop.set()

    async def _drain(self) -> None:
        drain_ticks = round(self.config.engine.drain_s / FRAME_S)
        end = self.media.ticks + drain_ticks
        self._stop.clear()
        await self._tick_until_stopped(until=lambda: not self.manager.calls or self.media.ticks >= end)
        left = self.manager.end_all("system")
        if left:
            log.info("drain time over: hung up %d call(s)", left)
        for _ in range(3):  # let the hang-ups reach the lines and the handlers finish
            self._guarded_tick()
            await asyncio.sleep(0)

    # -- reload -------------------------------------------------------------------------------

    async def _reload_from_signal(self) -> None:
        try:
            self.reload()
        except ReloadRefused:
            pass  # logged and reported in STATUS= already

    def reload(self) -> dict:
        self.notifier.reloading(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
        previous_state, self.state = self.state, "reloading"
        try:
            try:
                new = load_config(self.config_path)
            except ConfigError as exc:
                message = "; ".join(exc.problems)
                log.error("reload refused, the running configuration stays: %s", message)
                self.last_reload = {"at": self.clock.iso(), "ok": False, "message": message}
                raise ReloadRefused(f"reload refused: {message}") from exc
            notes = self._apply(new)
            self.last_reload = {"at": self.clock.iso(), "ok": True, "message": "; ".join(notes) or "reloaded"}
            log.info("configuration reloaded from %s%s", ", ".join(map(str, new.source)),
                     "".join(f"; {note}" for note in notes))
            return {"reloaded": True, "files": [str(p) for p in new.source], "notes": notes}
        finally:
            self.state = previous_state
            self._status = ""
            self._report_status()
            self.notifier.ready()

    def _apply(self, new: Config) -> list[str]:
        notes = []
        old = self.config
        if new.boards != old.boards or new.paths != old.paths:
            notes.append("board and path changes take effect at the next start")
        if new.engine.country != old.engine.country:
            self.media.retune(new.engine.country)
        if (new.engine.language, new.engine.country, new.paths.prompts_dir) != \
                (old.engine.language, old.engine.country, old.paths.prompts_dir):
            self.prompts = self.manager.prompts = self.media.prompts = self._prompt_library(new)
        if new.engine.log_level != old.engine.log_level:
            setup_logging(new.engine.log_level)
        self.manager.handler = self._handler(new)
        self.config = new if not notes else _keep_boards_and_paths(new, old)
        return notes

    # -- the control target (hotline.daemon.protocol) -----------------------------------------

    def status(self) -> dict:
        states = [s.state for s in self.manager.lines.values()]
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(self.clock.monotonic() - self.started_monotonic, 1),
            "state": self.state,
            "lines_total": len(states),
            "lines_up": sum(1 for s in states if s != "alarm"),
            "calls_active": len(self.manager.calls),
            "calls_handled": self.manager.calls_handled,
            "missed_deadlines": self.missed_deadlines,
            "tick_failures": self.tick_failures,
            "config_files": [str(p) for p in self.config.source],
            "last_reload": self.last_reload,
        }

    def lines(self) -> list[dict]:
        return self.manager.line_rows()

    def calls(self) -> list[dict]:
        rows = []
        for call in self.manager.calls.values():
            rows.append({"id": call.id, "line": call.line, "direction": call.direction,
                         "caller_number": call.caller_number, "caller_name": call.caller_name,
                         "started_at": call.started_at, "answered_at": call.answered_at,
                         "state": self.manager.lines[call.line].state,
                         "step": call.path[-1] if call.path else None, "digits": call.digits})
        return rows

    def block(self, line: int) -> dict:
        return self._set_blocked(line, True)

    def unblock(self, line: int) -> dict:
        return self._set_blocked(line, False)

    def _set_blocked(self, line: int, blocked: bool) -> dict:
        if line not in self.manager.lines:
            raise NotFound(f"no line {line}; lines are 1..{len(self.manager.lines)}")
        self.manager.block(line, blocked)
        log.info("line %d: %s", line, "blocked" if blocked else "unblocked")
        return {"line": line, "blocked": blocked}

    def hangup(self, call: int) -> dict:
        target = self.manager.calls.get(call)
        if target is None:
            raise NotFound(f"no call {call} in progress")
        self.manager.end_call(target, hangup_by="system")
        return {"call": call, "hung_up": True}

    def stop(self) -> dict:
        self.request_stop()
        return {"stopping": True, "drain_s": self.config.engine.drain_s}

    def version(self) -> dict:
        return {"version": __version__}


def _keep_boards_and_paths(new: Config, old: Config) -> Config:
    from dataclasses import replace

    return replace(new, boards=old.boards, paths=old.paths)
