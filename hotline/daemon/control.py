"""The control socket server of hotlined: JSON lines in, calls on the engine, JSON lines out.

What it does
    Listens on a Unix stream socket (``/run/hotline/control.sock`` under systemd, mode 0660 so
    admins in group ``hotline`` reach it without sudo) and answers the requests of
    :mod:`hotline.daemon.protocol` by calling methods of a *target*, the engine, whose
    interface is :class:`hotline.daemon.protocol.Engine`. It is the one boundary between the
    wire and the core (fail2ban's ``Transmitter``): the engine never sees a socket, and an
    exception never leaves this module as anything but an error reply.

How it works
    ``start()`` guards against a second daemon: if the socket path exists it connects to it;
    an answer means another hotlined runs (:class:`AlreadyRunning`), a refusal means the file
    is stale and is replaced. The socket is bound, given its mode and only then listened on,
    so no client ever meets it with the wrong mode. Each connection is read one line at a
    time (at most :data:`~hotline.daemon.protocol.MAX_REQUEST_BYTES`), each request is
    validated against the command table, dispatched to ``getattr(target, row.method)``
    (a plain or an ``async def`` method) and answered on one line, in order.

    Garbage never hurts the server or other clients: a bad request gets a ``bad_request``
    reply and the connection stays usable; a client sending
    :data:`~hotline.daemon.protocol.MAX_BAD_REQUESTS_IN_A_ROW` of them, an over-long line,
    or nothing for :data:`CLIENT_IDLE_TIMEOUT_S` is dropped. A handler that raises an
    unexpected exception is logged once with its traceback and answered ``internal``.

Conventions
    Sync target methods run on the event loop and must be quick; slow work belongs in an
    ``async def``. The engine's ``stop()`` must schedule the shutdown and return, so the reply
    still gets out; the daemon then calls :meth:`ControlServer.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import stat
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hotline.errors import HotlineError

from .protocol import (
    MAX_BAD_REQUESTS_IN_A_ROW,
    MAX_REQUEST_BYTES,
    BadRequest,
    Fault,
    ProtocolError,
    Request,
    decode_request,
    encode,
    error_reply,
    help_result,
    ok_reply,
    request_id,
    validate_request,
)

SOCKET_MODE = 0o660              # owner and group hotline read/write; nobody else
LISTEN_BACKLOG = 16              # pending connections the kernel queues for us
MAX_CLIENTS = 32                 # connections served at once; one more gets `busy` and is closed
CLIENT_IDLE_TIMEOUT_S = 600.0    # a connection silent this long is closed
PROBE_TIMEOUT_S = 2.0            # how long start() waits for an existing socket to answer
MAX_UNIX_PATH_BYTES = 107        # sun_path is 108 bytes on Linux, NUL included

_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

# Commands the server answers itself (rows of the table whose method is None), by name.
BUILTINS: Mapping[str, Callable[..., Any]] = MappingProxyType({"help": help_result})


class AlreadyRunning(HotlineError):
    """Another hotlined answers on the control socket's path."""


class ControlSocketError(HotlineError, OSError):
    """The control socket cannot be set up (path too long, not a socket, no permission...)."""


class ControlServer:
    """Serve the control protocol on ``path``, dispatching to ``target``.

    >>> server = ControlServer(engine, Path("/run/hotline/control.sock"), log)
    >>> await server.start()      # raises AlreadyRunning, ControlSocketError
    >>> ...
    >>> await server.stop()
    """

    def __init__(self, target: Any, path: Path | str, logger: logging.Logger | None = None,
                 *, mode: int = SOCKET_MODE, max_clients: int = MAX_CLIENTS,
                 idle_timeout_s: float = CLIENT_IDLE_TIMEOUT_S):
        self.target = target
        self.path = Path(path)
        self.log = logger or logging.getLogger(__name__)
        self.mode = mode
        self.max_clients = max_clients
        self.idle_timeout_s = idle_timeout_s
        self._server: asyncio.AbstractServer | None = None
        self._inode: tuple[int, int] | None = None     # (st_dev, st_ino) of the socket we bound
        self._clients: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def listening(self) -> bool:
        """True between a successful start() and stop()."""
        return self._server is not None

    async def start(self) -> None:
        """Take over the socket path (refusing if a daemon answers there) and listen."""
        if len(os.fsencode(self.path)) > MAX_UNIX_PATH_BYTES:
            raise ControlSocketError(f"control socket path is longer than {MAX_UNIX_PATH_BYTES} "
                                     f"bytes: {self.path}")
        await self._clear_path()
        sock = self._bind()
        try:
            self._server = await asyncio.start_unix_server(
                self._on_client, sock=sock, limit=MAX_REQUEST_BYTES)
        except BaseException:
            sock.close()
            self._unlink_own()
            raise
        self.log.info("control socket listening on %s", self.path)

    async def stop(self) -> None:
        """Stop listening, close every connection, remove the socket file (if still ours)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        await server.wait_closed()
        self._unlink_own()
        self.log.info("control socket closed")

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _clear_path(self) -> None:
        """Leave the path free: no file, or a stale socket removed; raise if a daemon answers."""
        try:
            st = self.path.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ControlSocketError(f"{self.path} exists and is not a socket; not touching it")
        if await self._answers():
            raise AlreadyRunning(f"another hotlined answers on {self.path}")
        self.log.warning("removing stale control socket %s (nobody answers on it)", self.path)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _answers(self) -> bool:
        """Whether something accepts connections on the path (a timeout counts as alive)."""
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.path)), PROBE_TIMEOUT_S)
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except asyncio.TimeoutError:
            return True
        except PermissionError as exc:
            raise ControlSocketError(f"cannot check existing control socket {self.path}: "
                                     f"{exc.strerror}") from exc
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    def _bind(self) -> socket.socket:
        """A socket bound to the path with its mode set, listening."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(os.fspath(self.path))
            st = os.stat(self.path)
            self._inode = (st.st_dev, st.st_ino)
            os.chmod(self.path, self.mode)     # before listen(): nobody connects in between
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            self._unlink_own()
            raise ControlSocketError(f"cannot listen on {self.path}: "
                                     f"{exc.strerror or exc}") from exc
        return sock

    def _unlink_own(self) -> None:
        """Remove the socket file if it is still the one we bound (not a successor's)."""
        own, self._inode = self._inode, None
        if own is None:
            return
        with contextlib.suppress(OSError):
            st = self.path.lstat()
            if (st.st_dev, st.st_ino) == own:
                self.path.unlink()

    # -- connections -------------------------------------------------------------------------

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        peer = _peer(writer)
        if len(self._clients) >= self.max_clients:
            self.log.warning("control: refusing a client (%s): %d connections already",
                             peer, len(self._clients))
            await self._send(writer, error_reply(None, Fault.BUSY, "too many control connections"))
            await _close(writer)
            return
        assert task is not None
        self._clients.add(task)
        self.log.debug("control: client connected (%s)", peer)
        try:
            await self._serve(reader, writer, peer)
        except asyncio.CancelledError:
            pass                      # the server is stopping
        finally:
            self._clients.discard(task)
            await _close(writer)
            self.log.debug("control: client gone (%s)", peer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     peer: str) -> None:
        """Answer one connection's requests until it ends, misbehaves or idles out."""
        bad_in_a_row = 0
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), self.idle_timeout_s)
            except asyncio.TimeoutError:
                self.log.debug("control: closing idle client (%s)", peer)
                return
            except ValueError:        # the line outgrew the reader's limit
                self.log.warning("control: client (%s) sent a request over %d bytes; closing",
                                 peer, MAX_REQUEST_BYTES)
                await self._send(writer, error_reply(
                    None, Fault.BAD_REQUEST,
                    f"request longer than {MAX_REQUEST_BYTES} bytes; closing the connection"))
                return
            except ConnectionError:
                return
            if not line:
                return                # end of file: the client is done
            reply = await self.answer(line)
            bad_in_a_row = bad_in_a_row + 1 if _is_bad_request(reply) else 0
            if bad_in_a_row >= MAX_BAD_REQUESTS_IN_A_ROW:
                self.log.warning("control: dropping client (%s) after %d bad requests in a row",
                                 peer, bad_in_a_row)
                reply["error"]["message"] += (f"; {bad_in_a_row} bad requests in a row, "
                                              "closing the connection")
                await self._send(writer, reply)
                return
            if not await self._send(writer, reply):
                return

    async def _send(self, writer: asyncio.StreamWriter, reply: dict[str, Any]) -> bool:
        """Write one reply line; False when the client has gone."""
        try:
            data = encode(reply)
        except (TypeError, ValueError) as exc:
            self.log.error("control: reply is not JSON-ready (%s); answering internal", exc)
            data = encode(error_reply(reply.get("id"), Fault.INTERNAL,
                                      f"result could not be encoded: {exc}"))
        try:
            writer.write(data)
            await writer.drain()
        except ConnectionError:
            return False
        return True

    # -- requests ----------------------------------------------------------------------------

    async def answer(self, line: bytes) -> dict[str, Any]:
        """The reply to one request line. Never raises (except on cancellation)."""
        message: Any = None
        try:
            message = decode_request(line)
            request = validate_request(message)
        except BadRequest as exc:
            self.log.debug("control: bad request: %s", exc)
            return error_reply(_echo_id(message), Fault.BAD_REQUEST, str(exc))
        return await self.dispatch(request)

    async def dispatch(self, request: Request) -> dict[str, Any]:
        """Call the request's handler and wrap its result or exception as a reply."""
        name = request.command.name
        try:
            result = await self._call(request)
        except ProtocolError as exc:
            self.log.debug("control: %s: %s: %s", name, exc.code.value, exc)
            return error_reply(request.id, exc.code, str(exc))
        except KeyError as exc:
            message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else f"not found: {exc}"
            return error_reply(request.id, Fault.NOT_FOUND, message)
        except Exception as exc:
            self.log.exception("control: %s failed", name)
            return error_reply(request.id, Fault.INTERNAL,
                               f"{name} failed: {type(exc).__name__}: {exc} (see the daemon's log)")
        return ok_reply(request.id, result)

    async def _call(self, request: Request) -> Any:
        method = request.command.method
        handler = (BUILTINS[request.command.name] if method is None
                   else getattr(self.target, method))
        result = handler(**request.args)
        if inspect.isawaitable(result):
            result = await result
        return result


def _is_bad_request(reply: dict[str, Any]) -> bool:
    return not reply["ok"] and reply["error"]["code"] == Fault.BAD_REQUEST.value


def _echo_id(message: Any) -> Any:
    """The id to echo in a reply to a bad request: only a JSON scalar is echoed."""
    value = request_id(message)
    return value if isinstance(value, (str, int, float, bool, type(None))) else None


def _peer(writer: asyncio.StreamWriter) -> str:
    """``pid P uid U`` of the connecting process (SO_PEERCRED), for the log."""
    sock = writer.get_extra_info("socket")
    try:
        pid, uid, _gid = _PEERCRED.unpack(
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
    except (AttributeError, OSError):  # pragma: no cover - not Linux, or the socket is gone
        return "peer unknown"
    return f"pid {pid} uid {uid}"


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await writer.wait_closed()
