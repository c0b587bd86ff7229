"""The control protocol of hotlined: the one command table, the wire format, the error codes.

What it is
    The contract between ``hotlined`` (the server side, :mod:`hotline.daemon.control`) and its
    clients (``hotlinectl``, :mod:`hotline.daemon.ctl`; the web page). :data:`COMMANDS` is the
    one table of commands. The same rows drive the server's dispatch and argument validation,
    the wire ``help`` command, ``hotlinectl --help`` / ``hotlinectl help`` and the client's
    subcommands, its tables and its exit codes. Nothing else may switch on a command's name
    (fail2ban's ``protocol.py`` table, without its ``if name == ...`` handler chain).

How it works on the wire
    One JSON object per line (UTF-8, ``\\n``-terminated) over an ``AF_UNIX`` stream socket, one
    reply line per request line, in order. Never pickle.

    request  ``{"cmd": "block", "args": {"line": 3}, "id": 1}``
             ``args`` is optional (default ``{}``); ``id`` is optional and echoed back as is.
    success  ``{"id": 1, "ok": true, "result": ...}``
    failure  ``{"id": 1, "ok": false, "error": {"code": "not_found", "message": "no line 3"}}``

    Error codes are the small fixed table :class:`Fault` (supervisor's ``xmlrpc.Faults`` idea).
    A target raises :class:`NotFound`, :class:`ReloadRefused`, :class:`Refused` or :class:`Busy`
    (all :class:`hotline.errors.HotlineError`) and the control server turns them into the code;
    anything unexpected becomes ``internal``.

Conventions
    A command row names its arguments (``Arg``), the method it calls on the target (the engine,
    whose interface is :class:`Engine`), the shape of its result (``columns`` for a list of
    objects, ``fields`` for one object: these are what ``hotlinectl`` prints as tables), its
    command-line spelling and the exit codes of its failures. Exit codes are LSB
    (``systemd.exec(5)`` "Process Exit Codes", supervisor's ``LSBInitExitStatuses``).
    This module imports only the standard library and :mod:`hotline.errors`, so a client can
    use it without pulling the daemon in.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

from hotline.errors import HotlineError

# ---------------------------------------------------------------------------------------------
# Wire limits

ENCODING = "utf-8"
MAX_REQUEST_BYTES = 64 * 1024          # one request line, newline included; longer: error, close
MAX_REPLY_BYTES = 16 * 1024 * 1024     # one reply line as a client accepts it
MAX_BAD_REQUESTS_IN_A_ROW = 20         # a client that sends this many bad requests is dropped


# ---------------------------------------------------------------------------------------------
# Error codes and the exceptions a target raises to produce them


class Fault(str, enum.Enum):
    """The fixed table of error codes a reply may carry."""

    BAD_REQUEST = "bad_request"   # not JSON, not an object, unknown command, bad/missing args
    NOT_FOUND = "not_found"       # no such line / call
    REFUSED = "refused"           # the engine will not do it (e.g. reload with a bad config)
    BUSY = "busy"                 # not now (e.g. a reload already running, too many clients)
    INTERNAL = "internal"         # a bug in a handler; logged with its traceback by the server


class ProtocolError(HotlineError):
    """An error that travels to the client as a reply with :attr:`code`."""

    code: Fault = Fault.INTERNAL


class BadRequest(ProtocolError):
    """The request is malformed; the message says what is wrong with it."""

    code = Fault.BAD_REQUEST


class NotFound(ProtocolError):
    """The line, call or other object the request names does not exist."""

    code = Fault.NOT_FOUND


class Refused(ProtocolError):
    """The engine will not carry the request out; the message says why."""

    code = Fault.REFUSED


class ReloadRefused(Refused):
    """A reload found the new configuration bad and kept the old one.

    ``problems`` are the configuration's problems, one string each (``ConfigError.problems``);
    the reply's message carries them, one per line, after the first line.
    """

    def __init__(self, message: str = "reload refused", problems: tuple[str, ...] | list[str] = ()):
        self.problems = tuple(problems)
        super().__init__("\n".join([message, *self.problems]))


class Busy(ProtocolError):
    """The engine cannot do it now; trying again later may work."""

    code = Fault.BUSY


# ---------------------------------------------------------------------------------------------
# Exit codes of hotlinectl (LSB, systemd.exec(5) "Process Exit Codes")

EXIT_OK = 0
EXIT_GENERIC = 1            # an error reply, a timeout, a broken connection
EXIT_INVALID_ARGS = 2       # bad command line (argparse), or the daemon says bad_request
EXIT_STATUS_NOT_RUNNING = 3  # `status` only: LSB status "program is not running"
EXIT_NO_PERMISSION = 4      # the socket exists but we may not connect to it
EXIT_NOT_INSTALLED = 5      # a part of hotline the command needs is missing (the sim board)
EXIT_NOT_CONFIGURED = 6     # check-config found problems; reload refused for the config
EXIT_NOT_RUNNING = 7        # no socket, or nobody answers on it (every command but status)

# Exit code of an error reply, unless the command's row says otherwise.
FAULT_EXIT: Mapping[Fault, int] = MappingProxyType({
    Fault.BAD_REQUEST: EXIT_INVALID_ARGS,
    Fault.NOT_FOUND: EXIT_GENERIC,
    Fault.REFUSED: EXIT_GENERIC,
    Fault.BUSY: EXIT_GENERIC,
    Fault.INTERNAL: EXIT_GENERIC,
})


# ---------------------------------------------------------------------------------------------
# The command table


@dataclasses.dataclass(frozen=True)
class Arg:
    """One argument of a command: a JSON member of ``args`` and a command-line operand."""

    name: str
    type: type            # int or str; checked strictly on the wire (true is not an integer)
    required: bool = True
    help: str = ""
    minimum: int | None = None   # for int arguments: the smallest accepted value


@dataclasses.dataclass(frozen=True)
class Field:
    """One member of a result object and how ``hotlinectl`` shows it to people.

    ``fmt`` names a presentation (``duration``, ``time``, ``clock``, ``list``, ``reload``);
    the client owns the formatting, the table only says which.
    """

    key: str
    label: str
    fmt: str = ""


@dataclasses.dataclass(frozen=True)
class Command:
    """One row of the command table.

    ``method``     the target (engine) method the server calls with the args as keywords;
                   ``None``: the control server answers itself (``help``).
    ``cli``        the ``hotlinectl`` spelling: words and ``<arg>`` placeholders; ``""`` (the
                   default) means ``name <arg>...``; ``None`` means not a remote CLI command.
                   Rows whose spelling starts with the same word become one subcommand whose
                   differing words are a choice (``line <line> block|unblock``).
    ``columns``    the result is a list of objects, shown as a table with these columns.
    ``fields``     the result is one object, shown as ``label: value`` lines in this order.
    ``empty``      what to print instead of an empty table.
    ``exit_codes`` exit code per fault, overriding :data:`FAULT_EXIT`.
    ``not_running_exit`` the exit code when no daemon answers.
    ``checks_config``  the client reads the configuration first and sends nothing if it is
                   invalid (the daemon would refuse it anyway, and the client needs a valid one
                   to find the daemon's socket).
    """

    name: str
    help: str
    method: str | None = None
    args: tuple[Arg, ...] = ()
    cli: str | None = ""
    columns: tuple[Field, ...] = ()
    fields: tuple[Field, ...] = ()
    empty: str = ""
    exit_codes: Mapping[Fault, int] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    not_running_exit: int = EXIT_NOT_RUNNING
    checks_config: bool = False

    @property
    def cli_words(self) -> tuple[str, ...]:
        """The command-line spelling as words, placeholders included (``("line", "<line>", "block")``)."""
        if self.cli is None:
            return ()
        if self.cli:
            return tuple(self.cli.split())
        return (self.name, *(f"<{a.name}>" for a in self.args if a.required))

    @property
    def usage(self) -> str:
        """One line: how to spell it on the command line (or on the wire if it has no CLI form)."""
        words = self.cli_words or (self.name, *(f"<{a.name}>" for a in self.args if a.required))
        optional = [f"[--{a.name} {a.name.upper()}]" for a in self.args if not a.required]
        return " ".join([*words, *optional])

    def exit_code(self, fault: Fault | str) -> int:
        """The exit code ``hotlinectl`` returns when this command gets ``fault`` back."""
        try:
            fault = Fault(fault)
        except ValueError:
            return EXIT_GENERIC
        return self.exit_codes.get(fault, FAULT_EXIT[fault])

    def describe(self) -> dict[str, Any]:
        """The row as JSON-ready data (the wire ``help`` result)."""
        return {
            "name": self.name,
            "usage": self.usage,
            "help": self.help,
            "args": [{"name": a.name, "type": a.type.__name__, "required": a.required,
                      "help": a.help} for a in self.args],
        }


LINE_ARG = Arg("line", int, help="line number, as `hotlinectl lines` shows it", minimum=1)
CALL_ARG = Arg("call", int, help="call id, as `hotlinectl calls` shows it", minimum=1)

COMMANDS: tuple[Command, ...] = (
    Command(
        "status", "show the daemon's state, uptime, lines up and calls",
        method="status",
        fields=(
            Field("version", "version"),
            Field("state", "state"),
            Field("uptime_s", "uptime", "duration"),
            Field("lines_up", "lines up"),
            Field("lines_total", "lines total"),
            Field("calls_active", "calls active"),
            Field("calls_today", "calls today"),
            Field("config_files", "config", "list"),
            Field("last_reload", "last reload", "reload"),
        ),
        not_running_exit=EXIT_STATUS_NOT_RUNNING,
    ),
    Command(
        "lines", "list the lines with their board and state",
        method="lines",
        columns=(
            Field("number", "LINE"),
            Field("kind", "KIND"),
            Field("board", "BOARD"),
            Field("state", "STATE"),
            Field("call_id", "CALL"),
        ),
        empty="no lines configured",
    ),
    Command(
        "calls", "list the calls in progress",
        method="calls",
        columns=(
            Field("id", "CALL"),
            Field("line", "LINE"),
            Field("caller_number", "CALLER"),
            Field("caller_name", "NAME"),
            Field("started_at", "STARTED", "clock"),
            Field("answered_at", "ANSWERED", "clock"),
            Field("state", "STATE"),
            Field("step", "STEP"),
            Field("digits", "DIGITS"),
        ),
        empty="no calls in progress",
    ),
    Command(
        "reload", "re-read the configuration; a bad one is refused and the old one kept",
        method="reload",
        exit_codes=MappingProxyType({Fault.REFUSED: EXIT_NOT_CONFIGURED}),
        checks_config=True,
    ),
    Command(
        "block", "take a line out of service: it no longer answers (a call on it goes on)",
        method="block", args=(LINE_ARG,), cli="line <line> block",
    ),
    Command(
        "unblock", "put a blocked line back in service",
        method="unblock", args=(LINE_ARG,), cli="line <line> unblock",
    ),
    Command(
        "hangup", "hang up a call in progress",
        method="hangup", args=(CALL_ARG,),
    ),
    Command(
        "stop", "stop the daemon: take no new calls, let calls drain, exit",
        method="stop",
    ),
    Command(
        "version", "show the daemon's version",
        method="version",
    ),
    Command(
        "help", "list the commands of the control protocol",
        method=None, cli=None,
    ),
)

COMMANDS_BY_NAME: Mapping[str, Command] = MappingProxyType({c.name: c for c in COMMANDS})


class Engine(Protocol):
    """What the control server calls on its target (the engine). Sync or ``async def``, both work.

    A sync method runs on the event loop, so it must be quick. Raise :class:`NotFound`
    (or ``KeyError``) for an unknown line or call, :class:`ReloadRefused` for a bad config,
    :class:`Busy` for "not now", :class:`Refused` for "never"; anything else is a bug and is
    answered ``internal``. Results must be JSON-ready (datetimes, paths and enums are converted).
    """

    def status(self) -> dict[str, Any]:
        """``version``, ``uptime_s``, ``lines_total``, ``lines_up``, ``calls_active``,
        ``calls_today``, ``config_files`` (list of paths), ``state`` (``running`` |
        ``draining`` | ``reloading``), ``last_reload`` (``{"at", "ok", "message"}`` or None)."""

    def lines(self) -> list[dict[str, Any]]:
        """One object per line: ``number``, ``kind``, ``board``, ``state`` (``idle`` |
        ``ringing`` | ``in_call`` | ``blocked`` | ``alarm``), ``call_id`` (or None)."""

    def calls(self) -> list[dict[str, Any]]:
        """One object per call in progress: ``id``, ``line``, ``caller_number``,
        ``caller_name``, ``started_at``, ``answered_at``, ``state``, ``step``, ``digits``."""

    def reload(self) -> dict[str, Any]:
        """Re-read the config transactionally; raise :class:`ReloadRefused` when it is bad."""

    def block(self, line: int) -> dict[str, Any]:
        """Take line ``line`` out of service; :class:`NotFound` when there is no such line."""

    def unblock(self, line: int) -> dict[str, Any]:
        """Put line ``line`` back in service; :class:`NotFound` when there is no such line."""

    def hangup(self, call: int) -> dict[str, Any]:
        """Hang call ``call`` up; :class:`NotFound` when there is no such call."""

    def stop(self) -> dict[str, Any]:
        """Schedule an orderly stop and return at once (the reply must still get out)."""

    def version(self) -> dict[str, Any]:
        """``{"version": ...}`` and whatever else identifies the build."""


# ---------------------------------------------------------------------------------------------
# Requests: parsing and validation (server side)


@dataclasses.dataclass(frozen=True)
class Request:
    """A validated request: its command row, its keyword arguments and the id to echo."""

    command: Command
    args: dict[str, Any]
    id: Any = None


_TYPE_NAMES = {int: "an integer", str: "a string"}


def request_id(message: Any) -> Any:
    """The ``id`` of a parsed request, for the reply, or None when there is none to echo."""
    return message.get("id") if isinstance(message, dict) else None


def parse_request(line: bytes) -> Request:
    """Decode and validate one request line; raise :class:`BadRequest` naming the problem."""
    return validate_request(decode_request(line))


def decode_request(line: bytes) -> Any:
    """The JSON value of one request line; raise :class:`BadRequest` if it is not JSON."""
    try:
        return json.loads(line.decode(ENCODING))
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request is not {ENCODING}: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"request is not JSON: {exc.msg} at column {exc.colno}") from None


def validate_request(message: Any) -> Request:
    """Check a decoded request against the command table; raise :class:`BadRequest`."""
    if not isinstance(message, dict):
        raise BadRequest(f"request must be a JSON object, got {_json_kind(message)}")
    unknown = sorted(set(message) - {"cmd", "args", "id"})
    if unknown:
        raise BadRequest(f"unknown request member(s): {', '.join(unknown)}")
    if not isinstance(message.get("id"), (str, int, float, type(None))):
        raise BadRequest('"id" must be a string, a number or null')
    name = message.get("cmd")
    if not isinstance(name, str):
        raise BadRequest('request needs "cmd", a string naming the command')
    command = COMMANDS_BY_NAME.get(name)
    if command is None:
        raise BadRequest(f"unknown command {name!r}; known: {', '.join(COMMANDS_BY_NAME)}")
    args = message.get("args")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise BadRequest(f'"args" of {name} must be a JSON object, got {_json_kind(args)}')
    return Request(command, validate_args(command, args), message.get("id"))


def validate_args(command: Command, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of ``command`` checked for presence, names, types and bounds."""
    known = {a.name for a in command.args}
    extra = sorted(set(args) - known)
    if extra:
        takes = ", ".join(sorted(known)) or "none"
        raise BadRequest(f"unknown argument(s) {', '.join(map(repr, extra))} for {command.name} "
                         f"(takes: {takes})")
    checked: dict[str, Any] = {}
    for arg in command.args:
        if arg.name not in args:
            if arg.required:
                raise BadRequest(f"missing argument {arg.name!r} for {command.name}")
            continue
        checked[arg.name] = _check_arg(command, arg, args[arg.name])
    return checked


def _check_arg(command: Command, arg: Arg, value: Any) -> Any:
    is_type = isinstance(value, arg.type) and not isinstance(value, bool)
    if not is_type:
        raise BadRequest(f"argument {arg.name!r} of {command.name} must be "
                         f"{_TYPE_NAMES.get(arg.type, arg.type.__name__)}, got {value!r}")
    if arg.minimum is not None and value < arg.minimum:
        raise BadRequest(f"argument {arg.name!r} of {command.name} must be >= {arg.minimum}, "
                         f"got {value!r}")
    return value


def _json_kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------------
# Replies: encoding (server side) and decoding (client side)


def encode(message: Mapping[str, Any]) -> bytes:
    """One wire line: compact JSON, UTF-8, newline-terminated. Raises TypeError if not JSON-ready."""
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=_to_json)
    return text.encode(ENCODING) + b"\n"


def ok_reply(request_id_: Any, result: Any) -> dict[str, Any]:
    """A success reply."""
    return {"id": request_id_, "ok": True, "result": result}


def error_reply(request_id_: Any, code: Fault, message: str) -> dict[str, Any]:
    """A failure reply with one of the :class:`Fault` codes."""
    return {"id": request_id_, "ok": False, "error": {"code": Fault(code).value, "message": message}}


def _to_json(value: Any) -> Any:
    """Convert the few non-JSON types a result may hold; anything else is a TypeError."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON-ready")


def help_result() -> list[dict[str, Any]]:
    """The wire ``help`` command's result: every row of the table, described."""
    return [c.describe() for c in COMMANDS]
