"""Tell systemd how hotlined is doing: readiness, reload, shutdown, status, watchdog pings.

This speaks the ``sd_notify(3)`` protocol directly, which systemd documents as stable and
meant to be reimplemented; no library is needed:

* The service manager names an ``AF_UNIX`` datagram socket in ``$NOTIFY_SOCKET``: a path
  (starting with ``/``) or, starting with ``@``, a Linux abstract name (``@`` stands for a NUL
  byte). Other forms (``vsock:`` for virtual machines) are ignored. Without the variable every
  call is a no-op, so the same code runs by hand and in tests.
* Each message is one datagram of ``KEY=VALUE`` lines joined by newlines, in UTF-8. The kernel
  attaches our credentials, which is how systemd tells the main process (``NotifyAccess=main``)
  from others.
* The watchdog: systemd exports the period in ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``, which
  must be ours if set; ``sd_watchdog_enabled(3)``); a service pings at half of it.

Sending never raises into the caller and never blocks: the daemon must neither die because the
service manager is being re-executed nor stall its 20 ms media loop on a full queue. A failure
returns False and is logged, once at warning per run of failures, then at debug.

One socket stays connected for the life of the notifier (a watchdog ping goes out every few
seconds); after a failure it is reopened, which also follows systemd to a socket recreated by
``systemctl daemon-reexec``.
"""

import logging
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)

READY = "READY=1"
RELOADING = "RELOADING=1"
STOPPING = "STOPPING=1"
WATCHDOG = "WATCHDOG=1"

ABSTRACT_PREFIX = "@"  # in $NOTIFY_SOCKET: the rest is an abstract socket name
PATH_PREFIX = "/"
WATCHDOG_PING_FRACTION = 0.5  # ping at half the period systemd waits for (sd_watchdog_enabled(3))
USEC_PER_S = 1_000_000


def socket_address(value: str) -> str | None:
    """The ``connect()`` address for a ``$NOTIFY_SOCKET`` value; None when we cannot use it."""
    if value.startswith(ABSTRACT_PREFIX) and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith(PATH_PREFIX):
        return value
    return None


def watchdog_period_us(env: Mapping[str, str], pid: int) -> int | None:
    """The watchdog period systemd set for process ``pid``, in µs; None when it set none."""
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None  # meant for another process (we are a child that inherited the variables)
    return int(usec)


def check_assignment(assignment: str) -> None:
    """Reject what would corrupt the datagram: no ``=``, or a newline inside one line."""
    key, sep, _ = assignment.partition("=")
    if not sep or not key:
        raise ValueError(f"not a KEY=VALUE assignment: {assignment!r}")
    if "\n" in assignment:
        raise ValueError(f"newline inside an assignment: {assignment!r}")


class Notifier:
    """The service manager's notification socket, or a no-op outside systemd."""

    def __init__(self, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        raw = env.get("NOTIFY_SOCKET", "")
        self._address = socket_address(raw)
        if raw and self._address is None:
            log.debug("ignoring NOTIFY_SOCKET=%r: neither a path nor an @abstract name", raw)
        self._watchdog_us = watchdog_period_us(env, os.getpid())
        self._sock: socket.socket | None = None
        self._failing = False
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether there is a service manager to notify."""
        return self._address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` assignments as one message; True if the message went out.

        ValueError for a malformed assignment (a bug in the caller); every socket error is
        logged and turned into False.
        """
        for assignment in assignments:
            check_assignment(assignment)
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8")
        with self._lock:
            return self._send_locked(payload)

    def ready(self) -> bool:
        """Startup, or a reload, is complete."""
        return self.send(READY)

    def reloading(self, monotonic_us: int) -> bool:
        """A reload has begun; ``monotonic_us`` is now on CLOCK_MONOTONIC, in µs.

        Follow it with :meth:`ready` when the reload is over, whether it succeeded or not.
        ``time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000`` gives the value.
        """
        if monotonic_us < 0:
            raise ValueError(f"monotonic_us must not be negative: {monotonic_us}")
        return self.send(RELOADING, f"MONOTONIC_USEC={int(monotonic_us)}")

    def stopping(self) -> bool:
        """Shutdown has begun."""
        return self.send(STOPPING)

    def status(self, text: str) -> bool:
        """The one-line status ``systemctl status`` shows; line breaks become spaces."""
        one_line = " ".join(text.splitlines())
        return self.send(f"STATUS={one_line}")

    def watchdog(self) -> bool:
        """The keep-alive ping; send it from the main loop, every :meth:`watchdog_interval_s`."""
        return self.send(WATCHDOG)

    def watchdog_interval_s(self) -> float | None:
        """How often to ping, in seconds (half the period); None when no watchdog is on."""
        if self._watchdog_us is None:
            return None
        return self._watchdog_us * WATCHDOG_PING_FRACTION / USEC_PER_S

    def close(self) -> None:
        """Close the socket; a later send opens it again."""
        with self._lock:
            self._drop_socket()

    def _send_locked(self, payload: bytes) -> bool:
        try:
            self._transmit(payload)
        except BlockingIOError as exc:  # the manager's queue is full: drop, don't stall
            return self._failed(exc)
        except OSError:
            # The connection may be stale (the manager re-executed, or its socket was
            # recreated): reconnect once and try again before giving up on this message.
            self._drop_socket()
            try:
                self._transmit(payload)
            except OSError as exc:
                self._drop_socket()
                return self._failed(exc)
        self._failing = False
        return True

    def _transmit(self, payload: bytes) -> None:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            try:
                sock.connect(self._address)
            except OSError:
                sock.close()
                raise
            self._sock = sock
        self._sock.send(payload, socket.MSG_DONTWAIT)

    def _drop_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _failed(self, exc: OSError) -> bool:
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "cannot notify the service manager at %r: %s",
                self._address.replace("\0", "@"), exc)
        self._failing = True
        return False
