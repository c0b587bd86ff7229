"""The control socket server: a real Unix socket, a fake engine, every command and every misuse."""

import asyncio
import contextlib
import inspect
import json
import logging
import os
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from hotline.daemon import protocol
from hotline.daemon.control import BUILTINS, AlreadyRunning, ControlServer, ControlSocketError
from hotline.daemon.protocol import (COMMANDS, COMMANDS_BY_NAME, MAX_BAD_REQUESTS_IN_A_ROW,
                                     MAX_REQUEST_BYTES, Engine, NotFound, ReloadRefused)
from hotline.errors import HotlineError

STEP_TIMEOUT_S = 5.0  # no single step of a test may hang longer


class FakeEngine:
    """Implements :class:`hotline.daemon.protocol.Engine` in memory and records what it was asked.

    ``block`` and ``unblock`` are ``async def`` and the rest plain, so both kinds are exercised.
    """

    def __init__(self):
        self.calls_made = []
        self.blocked = set()
        self.reload_problems = []        # non-empty: reload is refused with these
        self.fail_with = None            # an exception status() raises
        self.active = {17: {"id": 17, "line": 2, "caller_number": "13800138000",
                            "caller_name": "ZHANG San", "started_at": "2026-03-01T09:15:02",
                            "answered_at": "2026-03-01T09:15:04", "state": "ivr",
                            "step": "main-menu", "digits": "1"}}

    def _record(self, name, **args):
        self.calls_made.append((name, args))

    def status(self):
        self._record("status")
        if self.fail_with is not None:
            raise self.fail_with
        return {"version": "0.1.0", "uptime_s": 93784, "lines_total": 4, "lines_up": 3,
                "calls_active": len(self.active), "calls_today": 12,
                "config_files": ["/etc/hotline/hotline.toml", "/etc/hotline/hotline.toml.d/10.toml"],
                "state": "running",
                "last_reload": {"at": "2026-03-01T08:00:00", "ok": True, "message": ""}}

    def lines(self):
        self._record("lines")
        return [{"number": n, "kind": "trunk" if n <= 2 else "station", "board": "sim0",
                 "state": "blocked" if n in self.blocked else ("in_call" if n == 2 else "idle"),
                 "call_id": 17 if n == 2 else None} for n in range(1, 5)]

    def calls(self):
        self._record("calls")
        return list(self.active.values())

    def reload(self):
        self._record("reload")
        if self.reload_problems:
            raise ReloadRefused("reload refused: the configuration has problems",
                                self.reload_problems)
        return {"ok": True, "message": "configuration reloaded", "files": 1}

    def _line(self, line):
        if not 1 <= line <= 4:
            raise NotFound(f"no line {line}")

    async def block(self, line):
        self._record("block", line=line)
        self._line(line)
        await asyncio.sleep(0)
        self.blocked.add(line)
        return {"line": line, "state": "blocked"}

    async def unblock(self, line):
        self._record("unblock", line=line)
        self._line(line)
        self.blocked.discard(line)
        return {"line": line, "state": "idle"}

    def hangup(self, call):
        self._record("hangup", call=call)
        if call not in self.active:
            raise KeyError(f"no call {call}")
        del self.active[call]
        return {"call": call, "state": "hung up"}

    def stop(self):
        self._record("stop")
        return {"state": "draining", "calls_active": len(self.active)}

    def version(self):
        self._record("version")
        return {"version": "0.1.0"}


@pytest.fixture
def sock_path(tmp_path):
    """A socket path short enough for sun_path (pytest's tmp_path can be too long)."""
    path = tmp_path / "control.sock"
    if len(os.fsencode(path)) <= 100:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="hl-", dir="/tmp") as folder:  # pragma: no cover - long tmp
        yield Path(folder) / "control.sock"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


class Client:
    """A raw JSON-lines client over asyncio streams."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, path):
        reader, writer = await asyncio.open_unix_connection(str(path))
        return cls(reader, writer)

    async def send_line(self, data: bytes):
        self.writer.write(data if data.endswith(b"\n") else data + b"\n")
        await self.writer.drain()

    async def reply(self):
        line = await asyncio.wait_for(self.reader.readline(), STEP_TIMEOUT_S)
        return json.loads(line) if line else None

    async def raw(self, data: bytes):
        await self.send_line(data)
        return await self.reply()

    async def request(self, cmd, args=None, id=1):
        message = {"cmd": cmd, "id": id}
        if args is not None:
            message["args"] = args
        return await self.raw(json.dumps(message).encode())

    async def closed(self):
        """True when the server has closed this connection (which is then closed here too)."""
        try:
            return await asyncio.wait_for(self.reader.read(), STEP_TIMEOUT_S) == b""
        except ConnectionError:
            return True
        finally:
            await self.close()

    async def close(self):
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def serving(path, target=None, logger=None):
    server = ControlServer(target or FakeEngine(), path, logger or logging.getLogger("test.control"))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def round_trip(path, target, cmd, args=None):
    async with serving(path, target):
        client = await Client.connect(path)
        try:
            return await client.request(cmd, args)
        finally:
            await client.close()


# --- every command round-trips ---------------------------------------------------------------

ARGS_FOR = {"block": {"line": 3}, "unblock": {"line": 3}, "hangup": {"call": 17}}


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_every_command_round_trips(sock_path, command):
    engine = FakeEngine()
    reply = run(round_trip(sock_path, engine, command, ARGS_FOR.get(command)))
    assert reply["ok"] is True, reply
    assert reply["id"] == 1
    row = COMMANDS_BY_NAME[command]
    if row.method is not None:
        assert engine.calls_made == [(row.method, ARGS_FOR.get(command, {}))]
        assert reply["result"] == _expected(command)


def _expected(command):
    """What a fresh engine answers, through JSON (which is what the wire must carry unchanged)."""
    engine = FakeEngine()
    result = getattr(engine, command)(**ARGS_FOR.get(command, {}))
    if inspect.isawaitable(result):
        result = asyncio.run(result)
    return json.loads(json.dumps(result))


def test_help_is_answered_by_the_server_from_the_table(sock_path):
    reply = run(round_trip(sock_path, FakeEngine(), "help"))
    names = [entry["name"] for entry in reply["result"]]
    assert names == [c.name for c in COMMANDS]
    block = next(e for e in reply["result"] if e["name"] == "block")
    assert block["usage"] == "line <line> block"
    assert block["args"] == [{"name": "line", "type": "int", "required": True,
                              "help": protocol.LINE_ARG.help}]


def test_args_and_id_are_optional(sock_path):
    async def scenario():
        async with serving(sock_path):
            client = await Client.connect(sock_path)
            reply = await client.raw(b'{"cmd": "version"}')
            assert reply == {"id": None, "ok": True, "result": {"version": "0.1.0"}}
            reply = await client.raw(b'{"cmd": "version", "args": null, "id": "abc"}')
            assert reply["ok"] and reply["id"] == "abc"
            await client.close()
    run(scenario())


def test_results_that_json_cannot_hold_directly_are_converted(sock_path):
    import datetime
    import enum

    class Colour(enum.Enum):
        RED = "red"

    class Engine_(FakeEngine):
        def version(self):
            return {"at": datetime.datetime(2026, 3, 1, 9, 0, 0), "path": Path("/etc/x"),
                    "colour": Colour.RED, "set": {2, 1}}

    reply = run(round_trip(sock_path, Engine_(), "version"))
    assert reply["result"] == {"at": "2026-03-01T09:00:00", "path": "/etc/x", "colour": "red",
                               "set": [1, 2]}


# --- bad requests: bad_request, a message naming the problem, the connection goes on ---------

BAD_REQUESTS = [
    (b"this is not json", "not JSON"),
    (b"\xff\xfe{}", "not utf-8"),
    (b"", "not JSON"),                                            # a blank line
    (b"[1, 2]", "must be a JSON object, got an array"),
    (b'"status"', "must be a JSON object, got a string"),
    (b'{"args": {}}', '"cmd"'),
    (b'{"cmd": 7}', '"cmd"'),
    (b'{"cmd": "launch-rockets"}', "unknown command 'launch-rockets'"),
    (b'{"cmd": "status", "extra": 1}', "unknown request member(s): extra"),
    (b'{"cmd": "status", "args": [1]}', '"args" of status must be a JSON object'),
    (b'{"cmd": "status", "id": {"x": 1}}', '"id" must be'),
    (b'{"cmd": "block"}', "missing argument 'line' for block"),
    (b'{"cmd": "block", "args": {}}', "missing argument 'line' for block"),
    (b'{"cmd": "block", "args": {"line": "3"}}', "argument 'line' of block must be an integer, got '3'"),
    (b'{"cmd": "block", "args": {"line": true}}', "argument 'line' of block must be an integer, got True"),
    (b'{"cmd": "block", "args": {"line": 2.5}}', "must be an integer"),
    (b'{"cmd": "block", "args": {"line": 0}}', "argument 'line' of block must be >= 1, got 0"),
    (b'{"cmd": "block", "args": {"line": 3, "now": true}}',
     "unknown argument(s) 'now' for block (takes: line)"),
    (b'{"cmd": "status", "args": {"verbose": true}}',
     "unknown argument(s) 'verbose' for status (takes: none)"),
    (b'{"cmd": "hangup", "args": {"line": 3}}', "unknown argument(s) 'line' for hangup (takes: call)"),
]


@pytest.mark.parametrize("line, names", BAD_REQUESTS, ids=[repr(b[:30]) for b, _ in BAD_REQUESTS])
def test_bad_request_is_named_and_the_connection_stays_usable(sock_path, line, names):
    async def scenario():
        engine = FakeEngine()
        async with serving(sock_path, engine):
            client = await Client.connect(sock_path)
            reply = await client.raw(line)
            assert reply["ok"] is False
            assert reply["error"]["code"] == "bad_request"
            assert names in reply["error"]["message"]
            assert engine.calls_made == []                       # nothing reached the engine
            again = await client.request("version", id=2)
            assert again == {"id": 2, "ok": True, "result": {"version": "0.1.0"}}
            await client.close()
    run(scenario())


def test_a_bad_request_echoes_its_id_when_it_has_one(sock_path):
    async def scenario():
        async with serving(sock_path):
            client = await Client.connect(sock_path)
            reply = await client.raw(b'{"cmd": "nope", "id": 41}')
            assert reply["id"] == 41 and reply["error"]["code"] == "bad_request"
            await client.close()
    run(scenario())


def test_a_flood_of_garbage_drops_that_client_only(sock_path, caplog):
    async def scenario():
        async with serving(sock_path):
            flooder = await Client.connect(sock_path)
            bystander = await Client.connect(sock_path)
            for count in range(1, MAX_BAD_REQUESTS_IN_A_ROW + 1):
                reply = await flooder.raw(b"garbage %d" % count)
                assert reply["error"]["code"] == "bad_request"
            assert "closing the connection" in reply["error"]["message"]
            assert await flooder.closed()
            assert (await bystander.request("lines"))["ok"] is True
            late = await Client.connect(sock_path)                # the server still accepts
            assert (await late.request("version"))["ok"] is True
            await bystander.close()
            await late.close()
    with caplog.at_level(logging.WARNING, logger="test.control"):
        run(scenario())
    assert f"after {MAX_BAD_REQUESTS_IN_A_ROW} bad requests in a row" in caplog.text


def test_a_good_request_resets_the_bad_count(sock_path):
    async def scenario():
        async with serving(sock_path):
            client = await Client.connect(sock_path)
            for _ in range(3):
                for _ in range(MAX_BAD_REQUESTS_IN_A_ROW - 1):
                    assert (await client.raw(b"x"))["ok"] is False
                assert (await client.request("version"))["ok"] is True
            await client.close()
    run(scenario())


def test_an_over_long_line_gets_an_error_then_the_connection_closes(sock_path):
    async def scenario():
        async with serving(sock_path):
            client = await Client.connect(sock_path)
            other = await Client.connect(sock_path)
            payload = b'{"cmd": "status", "pad": "' + b"x" * (MAX_REQUEST_BYTES + 10) + b'"}'
            client.writer.write(payload + b"\n")
            reply = await client.reply()
            assert reply["error"]["code"] == "bad_request"
            assert f"longer than {MAX_REQUEST_BYTES} bytes" in reply["error"]["message"]
            assert await client.closed()
            assert (await other.request("version"))["ok"] is True
            await other.close()
    run(scenario())


def test_a_client_that_vanishes_mid_request_harms_nobody(sock_path):
    async def scenario():
        async with serving(sock_path):
            rude = await Client.connect(sock_path)
            rude.writer.write(b'{"cmd": "sta')                  # no newline, then gone
            await rude.close()
            polite = await Client.connect(sock_path)
            assert (await polite.request("status"))["ok"] is True
            await polite.close()
    run(scenario())


def test_replies_come_back_in_order_for_pipelined_requests(sock_path):
    async def scenario():
        async with serving(sock_path):
            client = await Client.connect(sock_path)
            client.writer.write(b"".join(
                json.dumps({"cmd": "version", "id": n}).encode() + b"\n" for n in range(10)))
            await client.writer.drain()
            ids = [(await client.reply())["id"] for _ in range(10)]
            assert ids == list(range(10))
            await client.close()
    run(scenario())


def test_one_connection_too_many_is_told_busy(sock_path):
    async def scenario():
        server = ControlServer(FakeEngine(), sock_path, logging.getLogger("test.control"),
                               max_clients=2)
        async with server:
            first = await Client.connect(sock_path)
            second = await Client.connect(sock_path)
            assert (await first.request("version"))["ok"] and (await second.request("version"))["ok"]
            third = await Client.connect(sock_path)
            reply = await third.reply()
            assert reply["error"]["code"] == "busy"
            assert await third.closed()
            await first.close()
            await second.close()
    run(scenario())


def test_an_idle_client_is_closed(sock_path):
    async def scenario():
        server = ControlServer(FakeEngine(), sock_path, logging.getLogger("test.control"),
                               idle_timeout_s=0.2)
        async with server:
            client = await Client.connect(sock_path)
            assert await client.closed()
    run(scenario())


# --- errors raised by the engine -------------------------------------------------------------

def test_not_found_from_the_engine(sock_path):
    reply = run(round_trip(sock_path, FakeEngine(), "block", {"line": 9}))
    assert reply == {"id": 1, "ok": False, "error": {"code": "not_found", "message": "no line 9"}}


def test_key_error_from_the_engine_is_not_found(sock_path):
    reply = run(round_trip(sock_path, FakeEngine(), "hangup", {"call": 99}))
    assert reply["error"] == {"code": "not_found", "message": "no call 99"}


def test_reload_refused_carries_the_config_problems(sock_path):
    engine = FakeEngine()
    engine.reload_problems = ['/etc/hotline/hotline.toml: engine.country = "mars": expected one of ...',
                              "/etc/hotline/hotline.toml: board: expected at least one [[board]]"]
    reply = run(round_trip(sock_path, engine, "reload"))
    assert reply["error"]["code"] == "refused"
    message = reply["error"]["message"].splitlines()
    assert message[0] == "reload refused: the configuration has problems"
    assert message[1:] == engine.reload_problems


@pytest.mark.parametrize("exc, code", [(protocol.Busy("a reload is running"), "busy"),
                                       (protocol.Refused("not on a Sunday"), "refused")])
def test_other_protocol_errors_keep_their_code(sock_path, exc, code):
    engine = FakeEngine()
    engine.fail_with = exc
    reply = run(round_trip(sock_path, engine, "status"))
    assert reply["error"] == {"code": code, "message": str(exc)}


def test_a_handler_that_raises_gives_internal_and_the_server_goes_on(sock_path, caplog):
    async def scenario():
        engine = FakeEngine()
        engine.fail_with = ZeroDivisionError("division by zero")
        async with serving(sock_path, engine):
            client = await Client.connect(sock_path)
            reply = await client.request("status")
            assert reply["error"]["code"] == "internal"
            assert "ZeroDivisionError" in reply["error"]["message"]
            engine.fail_with = None
            assert (await client.request("status"))["ok"] is True    # same connection goes on
            other = await Client.connect(sock_path)
            assert (await other.request("lines"))["ok"] is True
            await client.close()
            await other.close()
    with caplog.at_level(logging.DEBUG, logger="test.control"):
        run(scenario())
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 1                                     # logged once, with traceback
    assert "status failed" in failures[0].getMessage()
    assert failures[0].exc_info[0] is ZeroDivisionError


def test_a_result_json_cannot_hold_is_internal(sock_path, caplog):
    class Engine_(FakeEngine):
        def version(self):
            return {"handle": object()}

    with caplog.at_level(logging.ERROR, logger="test.control"):
        reply = run(round_trip(sock_path, Engine_(), "version"))
    assert reply["error"]["code"] == "internal"
    assert "not JSON-ready" in caplog.text


# --- the socket file: stale, live, mode, cleanup ---------------------------------------------

def test_socket_mode_is_0660_and_the_file_goes_on_stop(sock_path):
    async def scenario():
        async with serving(sock_path):
            assert stat.S_ISSOCK(sock_path.stat().st_mode)
            assert stat.S_IMODE(sock_path.stat().st_mode) == 0o660
        assert not sock_path.exists()
    run(scenario())


def test_a_stale_socket_file_is_replaced(sock_path, caplog):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()                                   # the file stays, nobody listens: stale
    assert stat.S_ISSOCK(sock_path.stat().st_mode)
    with caplog.at_level(logging.WARNING, logger="test.control"):
        reply = run(round_trip(sock_path, FakeEngine(), "version"))
    assert reply["ok"] is True
    assert "removing stale control socket" in caplog.text


def test_a_live_server_on_the_path_means_already_running(sock_path):
    async def scenario():
        async with serving(sock_path):
            second = ControlServer(FakeEngine(), sock_path, logging.getLogger("test.control"))
            with pytest.raises(AlreadyRunning, match="another hotlined answers"):
                await second.start()
            assert sock_path.exists()                  # the first one's socket is untouched
            client = await Client.connect(sock_path)
            assert (await client.request("version"))["ok"] is True
            await client.close()
    run(scenario())
    assert issubclass(AlreadyRunning, HotlineError)


def test_a_file_that_is_not_a_socket_is_left_alone(sock_path):
    sock_path.write_text("precious")
    with pytest.raises(ControlSocketError, match="not a socket"):
        run(ControlServer(FakeEngine(), sock_path).start())
    assert sock_path.read_text() == "precious"


def test_a_path_too_long_for_a_unix_socket_is_refused(tmp_path):
    path = tmp_path / ("x" * 120) / "control.sock"
    with pytest.raises(ControlSocketError, match="longer than"):
        run(ControlServer(FakeEngine(), path).start())


def test_a_missing_folder_is_a_clear_error(sock_path):
    with pytest.raises(ControlSocketError, match="cannot listen on"):
        run(ControlServer(FakeEngine(), sock_path.parent / "nope" / "c.sock").start())


def test_stop_does_not_remove_a_successors_socket(sock_path):
    async def scenario():
        server = ControlServer(FakeEngine(), sock_path)
        await server.start()
        sock_path.unlink()                               # someone else took the path over
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        other.bind(str(sock_path))
        await server.stop()
        assert sock_path.exists()
        other.close()
    run(scenario())


def test_stop_closes_open_connections(sock_path):
    async def scenario():
        server = ControlServer(FakeEngine(), sock_path)
        await server.start()
        client = await Client.connect(sock_path)
        assert (await client.request("version"))["ok"]
        await server.stop()
        assert await client.closed()
        assert not server.listening
        await server.stop()                              # a second stop is harmless
    run(scenario())


# --- the table itself ------------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_command_has_a_handler_and_a_help_line(command):
    assert command.help and "\n" not in command.help
    if command.method is None:                           # answered by the server itself
        assert command.name in BUILTINS
        return
    for interface in (Engine, FakeEngine):
        method = getattr(interface, command.method, None)
        assert callable(method), f"{interface.__name__} lacks {command.method}"
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        assert params == [a.name for a in command.args], (interface.__name__, command.name)
    assert getattr(Engine, command.method).__doc__, f"Engine.{command.method} is undocumented"


def test_command_names_are_unique_and_the_engine_has_nothing_unlisted():
    assert len(COMMANDS_BY_NAME) == len(COMMANDS)
    methods = {c.method for c in COMMANDS if c.method}
    engine_methods = {name for name, _ in inspect.getmembers(Engine, inspect.isfunction)
                      if not name.startswith("_")}
    assert engine_methods == methods


def test_result_fields_in_the_table_are_what_the_engine_returns():
    engine = FakeEngine()
    for command in COMMANDS:
        if command.columns:
            row = getattr(engine, command.method)()[0]
            assert {f.key for f in command.columns} == set(row), command.name
        if command.fields:
            assert {f.key for f in command.fields} == set(getattr(engine, command.method)())


def test_the_real_engine_implements_the_interface():
    """The daemon's engine (the lead's) against the table: drift shows here, not at run time."""
    engine_module = pytest.importorskip("hotline.daemon.engine")
    real = engine_module.Engine
    for command in COMMANDS:
        if command.method is not None:
            method = getattr(real, command.method, None)
            assert callable(method), f"Engine lacks {command.method}"
            params = [p for p in inspect.signature(method).parameters if p != "self"]
            assert params == [a.name for a in command.args], command.name
