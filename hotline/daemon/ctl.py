"""hotlinectl: the command-line client of hotlined, for admins over SSH and for scripts.

What it does
    Sends one command of :data:`hotline.daemon.protocol.COMMANDS` over the control socket and
    prints the reply: aligned tables for people, the raw result with ``--json`` for scripts.
    A few commands work without a daemon (:data:`LOCAL_COMMANDS`): ``check-config``,
    ``test-call`` and ``phone`` (these two talk to the simulated board), and ``help``.

How it works
    The subcommands are built from the command table: a row's ``cli`` spelling gives the words
    and operands, rows starting with the same word share a subcommand whose differing word is a
    choice (``line N block|unblock``), and the row's ``columns``/``fields`` say how to show the
    result. :class:`ControlClient` is the blocking client (one JSON line out, one in), usable by
    other programs too. The socket is ``--socket``, else the configuration's
    ``paths.control_socket``, else ``$RUNTIME_DIRECTORY/control.sock`` or
    ``/run/hotline/control.sock``.

Exit codes (LSB, ``systemd.exec(5)`` "Process Exit Codes"; supervisorctl does the same)
    0 ok; 1 an error reply, a timeout or a broken connection; 2 invalid arguments;
    3 ``status`` when hotlined is not running; 4 no permission to the socket; 5 a part of
    hotline needed for the command is missing; 6 not configured (``check-config`` problems,
    ``reload`` refused because of the configuration); 7 hotlined is not running (no socket, or
    nobody answers on it) for every other command. Expected failures print one message on
    stderr, never a traceback.

Conventions
    ``main(argv=None) -> int`` returns the exit code; the console script exits with it. Tests
    pass ``stdout``/``stderr`` streams and a ``connect`` function (the one socket seam).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import importlib
import json
import math
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from hotline import __version__
from hotline.errors import HotlineError

from .protocol import (
    COMMANDS,
    ENCODING,
    EXIT_GENERIC,
    EXIT_INVALID_ARGS,
    EXIT_NO_PERMISSION,
    EXIT_NOT_INSTALLED,
    EXIT_NOT_CONFIGURED,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    MAX_REPLY_BYTES,
    Arg,
    Command,
    Field,
    encode,
)

PROG = "hotlinectl"
DEFAULT_TIMEOUT_S = 10.0                     # connect + reply; on by default (ECOSYSTEM §7)
DEFAULT_RUNTIME_DIR = Path("/run/hotline")   # FHS; systemd's RuntimeDirectory=hotline
RUNTIME_DIRECTORY_VAR = "RUNTIME_DIRECTORY"  # set by systemd; a colon-separated list
CONTROL_SOCKET_FILENAME = "control.sock"
SIM_SOCKET_FILENAME = "sim.sock"
EXIT_INTERRUPTED = 130                       # Ctrl-C, as shells report SIGINT
COLUMN_GAP = "  "                            # between table columns
NO_VALUE = "-"                               # how a None is shown in tables and records

Connect = Callable[[Path, float], socket.socket]


# ---------------------------------------------------------------------------------------------
# The client


class ClientError(HotlineError):
    """A failure talking to hotlined; ``exit_code`` is what hotlinectl returns for it."""

    exit_code = EXIT_GENERIC


class NotRunning(ClientError):
    """No socket at the path, or nothing accepts connections on it."""

    exit_code = EXIT_NOT_RUNNING


class NoPermission(ClientError):
    """The socket is there but this user may not connect to it."""

    exit_code = EXIT_NO_PERMISSION


class NoReply(ClientError):
    """hotlined accepted but did not answer in time, closed, or answered garbage."""


class ReplyError(ClientError):
    """hotlined answered with an error reply: ``code`` (a Fault value) and ``message``."""

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def connect_unix(path: Path, timeout_s: float) -> socket.socket:
    """A stream socket connected to ``path``, with ``timeout_s`` on every operation."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(os.fspath(path))
    except BaseException:
        sock.close()
        raise
    return sock


class ControlClient:
    """A blocking control-socket client: ``call(cmd, **args)`` returns the result or raises.

    >>> with ControlClient(Path("/run/hotline/control.sock")) as client:
    ...     client.call("block", line=3)
    """

    def __init__(self, path: Path | str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 connect: Connect = connect_unix):
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._connect = connect
        self._sock: socket.socket | None = None
        self._reader: IO[bytes] | None = None
        self._next_id = 1

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        for closable in (self._reader, self._sock):
            if closable is not None:
                with contextlib.suppress(OSError):
                    closable.close()
        self._reader = self._sock = None

    def call(self, cmd: str, **args: Any) -> Any:
        """Send one request and return its result; raise a :class:`ClientError` on failure."""
        reader = self._open()
        request_id, self._next_id = self._next_id, self._next_id + 1
        try:
            assert self._sock is not None
            self._sock.sendall(encode({"cmd": cmd, "args": args, "id": request_id}))
            line = reader.readline(MAX_REPLY_BYTES + 1)
        except TimeoutError:
            self.close()
            raise NoReply(f"hotlined did not answer {cmd} within {self.timeout_s:g} s "
                          f"(on {self.path})") from None
        except OSError as exc:
            self.close()
            raise NoReply(f"connection to hotlined lost during {cmd}: "
                          f"{exc.strerror or exc}") from None
        return self._result(cmd, line, request_id)

    def _open(self) -> IO[bytes]:
        if self._reader is not None:
            return self._reader
        try:
            self._sock = self._connect(self.path, self.timeout_s)
        except FileNotFoundError:
            raise NotRunning(f"hotlined is not running (no {self.path})") from None
        except ConnectionRefusedError:
            raise NotRunning(f"hotlined is not running ({self.path} refuses connections; "
                             "a stale socket)") from None
        except PermissionError:
            raise NoPermission(f"permission denied on {self.path} (is this user in group "
                               "hotline, or root?)") from None
        except TimeoutError:
            raise NoReply(f"hotlined did not accept a connection within {self.timeout_s:g} s "
                          f"(on {self.path})") from None
        except OSError as exc:
            raise ClientError(f"cannot connect to {self.path}: {exc.strerror or exc}") from None
        self._reader = self._sock.makefile("rb")
        return self._reader

    def _result(self, cmd: str, line: bytes, request_id: int) -> Any:
        if not line:
            self.close()
            raise NoReply(f"hotlined closed the connection without answering {cmd}")
        if not line.endswith(b"\n"):
            self.close()
            raise NoReply(f"hotlined's reply to {cmd} is cut short or longer than "
                          f"{MAX_REPLY_BYTES} bytes")
        try:
            reply = json.loads(line.decode(ENCODING))
            ok = reply["ok"]
            if reply.get("id") != request_id:
                raise ValueError(f"reply id {reply.get('id')!r}, expected {request_id}")
            if ok:
                return reply["result"]
            error = reply["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self.close()
            raise NoReply(f"hotlined's reply to {cmd} is not understood: {exc}") from None
        raise ReplyError(code, message)


# ---------------------------------------------------------------------------------------------
# Showing results to people


def _format_default(value: Any) -> str:
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(_format_default, value)) or NO_VALUE
    if isinstance(value, dict):
        return " ".join(f"{k}={_format_default(v)}" for k, v in value.items()) or NO_VALUE
    return str(value)


def _format_duration(value: Any) -> str:
    """Seconds as ``[Nd ]HH:MM:SS``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return _format_default(value)
    days, rest = divmod(int(value), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}d {clock}" if days else clock


def _as_datetime(value: Any) -> datetime.datetime | None:
    """An epoch number or an ISO 8601 string as a local datetime; None if it is neither."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.datetime.fromtimestamp(value)
        if isinstance(value, str):
            moment = datetime.datetime.fromisoformat(value)
            return moment.astimezone() if moment.tzinfo else moment
    except (ValueError, OverflowError, OSError):
        pass
    return None


def _time_formatter(pattern: str) -> Callable[[Any], str]:
    def format_time(value: Any) -> str:
        moment = _as_datetime(value)
        return moment.strftime(pattern) if moment else _format_default(value)
    return format_time


def _format_lines(value: Any) -> str:
    """A list one item a line (a record indents the continuation lines)."""
    if isinstance(value, (list, tuple)) and value:
        return "\n".join(map(_format_default, value))
    return _format_default(value)


def _format_reload(value: Any) -> str:
    """``{"at", "ok", "message"}`` as ``<time> ok`` or ``<time> failed: <message>``."""
    if value is None:
        return "never"
    if not isinstance(value, dict):
        return _format_default(value)
    when = FORMATS["time"](value.get("at"))
    outcome = "ok" if value.get("ok") else "failed"
    message = value.get("message")
    return f"{when} {outcome}" + (f": {message}" if message else "")


# Presentations a Field's ``fmt`` may name; "" is the default for every value.
FORMATS: Mapping[str, Callable[[Any], str]] = {
    "": _format_default,
    "duration": _format_duration,
    "time": _time_formatter("%Y-%m-%d %H:%M:%S"),
    "clock": _time_formatter("%H:%M:%S"),
    "list": _format_lines,
    "reload": _format_reload,
}


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Field]) -> str:
    """Rows as aligned columns under a header line; columns default to the first row's keys."""
    if not columns:
        columns = [Field(key, key.upper()) for key in (rows[0] if rows else {})]
    cells = [[column.label for column in columns]]
    cells += [[FORMATS[c.fmt](row.get(c.key)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(COLUMN_GAP.join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in cells)


def format_record(record: Mapping[str, Any], fields: Sequence[Field]) -> str:
    """One object as ``label: value`` lines, the table's fields first, then any other member."""
    known = {f.key for f in fields}
    items = [(f.label, FORMATS[f.fmt](record[f.key])) for f in fields if f.key in record]
    items += [(key.replace("_", " "), _format_default(value))
              for key, value in record.items() if key not in known]
    width = max((len(label) for label, _ in items), default=0) + 1
    indent = "\n" + " " * (width + 1)
    return "\n".join(f"{label + ':':<{width}} {value.replace(chr(10), indent)}"
                     for label, value in items)


def render(command: Command, result: Any, as_json: bool) -> str:
    """The text hotlinectl prints for ``command``'s result (without a final newline)."""
    if as_json:
        return json.dumps(result, indent=2, ensure_ascii=False)
    if isinstance(result, list):
        if not result:
            return command.empty or "(none)"
        if all(isinstance(row, dict) for row in result):
            return format_table(result, command.columns)
        return "\n".join(map(_format_default, result))
    if isinstance(result, dict):
        return format_record(result, command.fields)
    return "" if result is None else _format_default(result)


# ---------------------------------------------------------------------------------------------
# Running a command


@dataclasses.dataclass
class Console:
    """Where a command writes, and how it connects (the seams tests replace)."""

    out: IO[str]
    err: IO[str]
    connect: Connect = connect_unix
    env: Mapping[str, str] = dataclasses.field(default_factory=lambda: os.environ)

    def print(self, text: str = "") -> None:
        if text:
            print(text, file=self.out)

    def fail(self, message: str, code: int) -> int:
        """Print ``hotlinectl: message`` on stderr and return ``code``."""
        print(f"{PROG}: {message}", file=self.err)
        return code


def _runtime_dir(env: Mapping[str, str]) -> Path:
    first = env.get(RUNTIME_DIRECTORY_VAR, "").split(":")[0]
    return Path(first) if first else DEFAULT_RUNTIME_DIR


def _config_paths(ns: argparse.Namespace, con: Console) -> Any:
    """The configuration's ``paths`` section, or None when no configuration can be read."""
    try:
        from hotline.daemon.config import load_config
        return load_config(ns.config).paths
    except (ImportError, HotlineError, OSError, ValueError) as exc:
        if ns.config is not None:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"{PROG}: warning: cannot read {ns.config} ({first}); using default paths",
                  file=con.err)
        return None


def control_socket_path(ns: argparse.Namespace, con: Console) -> Path:
    """``--socket``, else the config's control socket, else the runtime folder's."""
    if ns.socket:
        return Path(ns.socket)
    paths = _config_paths(ns, con)
    return paths.control_socket if paths else _runtime_dir(con.env) / CONTROL_SOCKET_FILENAME


def sim_socket_path(ns: argparse.Namespace, con: Console) -> Path:
    """``--sim-socket``, else the config's simulated-board socket, else the runtime folder's."""
    if ns.sim_socket:
        return Path(ns.sim_socket)
    paths = _config_paths(ns, con)
    return paths.sim_socket if paths else _runtime_dir(con.env) / SIM_SOCKET_FILENAME


def _chosen(group: Sequence[Command], ns: argparse.Namespace) -> Command:
    """The row of a subcommand group whose fixed words the command line spelled."""
    return next(c for c in group if all(getattr(ns, _word_dest(i)) == word
                                        for i, word in _fixed_words(c)))


def run_remote(ns: argparse.Namespace, con: Console, group: Sequence[Command]) -> int:
    """Send the chosen row's command to hotlined and print the result."""
    command = _chosen(group, ns)
    args = {a.name: getattr(ns, a.name) for a in command.args
            if getattr(ns, a.name, None) is not None}
    if command.checks_config and not ns.socket:
        problems = _config_problems(ns.config)
        if problems:
            for problem in problems:
                print(problem, file=con.err)
            return con.fail(f"{command.name} refused: the configuration has problems; "
                            "the running one stays", EXIT_NOT_CONFIGURED)
    path = control_socket_path(ns, con)
    try:
        with ControlClient(path, ns.timeout, connect=con.connect) as client:
            result = client.call(command.name, **args)
    except NotRunning as exc:
        return con.fail(str(exc), command.not_running_exit)
    except ReplyError as exc:
        return con.fail(f"{command.name}: {exc.message}", command.exit_code(exc.code))
    except ClientError as exc:
        return con.fail(str(exc), exc.exit_code)
    con.print(render(command, result, ns.json))
    return EXIT_OK


def _config_problems(path) -> list[str]:
    """Every problem of the configuration at ``path`` (the default when None); [] when valid."""
    return _load_config(path)[1]


def _load_config(path) -> tuple[Any, list[str]]:
    from hotline.daemon.config import ConfigError, load_config

    try:
        return load_config(path), []
    except ConfigError as exc:
        return None, list(exc.problems)
    except OSError as exc:
        return None, [f"{path or 'configuration'}: {exc.strerror or exc}"]


def run_check_config(ns: argparse.Namespace, con: Console) -> int:
    """Read the configuration as hotlined would: ``OK`` and a summary, or every problem."""
    from hotline.daemon.config import summary

    path = ns.path or ns.config
    config, problems = _load_config(path)
    if not problems:
        con.print(json.dumps({"ok": True, "files": [str(f) for f in config.source],
                              "summary": summary(config)}, indent=2) if ns.json
                  else "OK\n" + summary(config))
        return EXIT_OK
    if ns.json:
        con.print(json.dumps({"ok": False, "problems": problems}, indent=2))
    for problem in problems:
        print(problem, file=con.err)
    return EXIT_NOT_CONFIGURED


def _delegate(con: Console, module: str, attribute: str, what: str, socket_path: Path, /,
              **kwargs: Any) -> int:
    """Import ``module.attribute`` lazily and run it; map the expected failures to exit codes."""
    try:
        function = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        return con.fail(f"{what} is not available: {exc}", EXIT_NOT_INSTALLED)
    try:
        return int(function(socket_path, **kwargs))
    except (FileNotFoundError, ConnectionRefusedError):
        return con.fail(f"hotlined's simulated board is not running (nothing on {socket_path})",
                        EXIT_NOT_RUNNING)
    except PermissionError:
        return con.fail(f"permission denied on {socket_path}", EXIT_NO_PERMISSION)
    except (HotlineError, OSError) as exc:
        return con.fail(f"{what}: {exc}", EXIT_GENERIC)


def _given(**options: Any) -> dict[str, Any]:
    """The options given on the command line (None: not given, so the callee's default holds)."""
    return {key: value for key, value in options.items() if value is not None}


def run_test_call(ns: argparse.Namespace, con: Console) -> int:
    """Place a scripted call on the simulated board and print its transcript (JSON lines with
    ``--json``); the exit status is the script's (:mod:`hotline.drivers.sim.script`)."""
    return _delegate(con, "hotline.drivers.sim.script", "run_test_call", "test-call",
                     sim_socket_path(ns, con), keys=ns.keys, line=ns.line, out=con.out,
                     err=con.err, json_lines=ns.json,
                     **_given(caller=ns.caller, name=ns.name, timeout_s=ns.call_timeout))


def run_phone(ns: argparse.Namespace, con: Console) -> int:
    """Be a caller (trunk) or an agent's phone (station) on the simulated board, interactively."""
    return _delegate(con, "hotline.drivers.sim.phone", "run_phone", "phone",
                     sim_socket_path(ns, con), line=ns.line, station=ns.station, audio=ns.audio,
                     **_given(caller=ns.caller, name=ns.name))


def run_help(ns: argparse.Namespace, con: Console) -> int:
    """The command list, or one command's own help."""
    if ns.topic is None:
        con.print(f"{ns.parser.format_usage().rstrip()}\n\n{commands_help()}")
        return EXIT_OK
    sub = ns.subparsers.get(ns.topic)
    if sub is None:
        return con.fail(f"no command {ns.topic!r}; `{PROG} help` lists them", EXIT_INVALID_ARGS)
    con.print(sub.format_help().rstrip())
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# The command line, built from the tables


@dataclasses.dataclass(frozen=True)
class LocalCommand:
    """A hotlinectl command that does not go through the control socket."""

    name: str
    usage: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Console], int]
    own_options: tuple[str, ...] = ()    # global options it defines with its own meaning


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def _cli_type(arg: Arg) -> Callable[[str], Any]:
    """The argparse converter of a table argument: its type, then its minimum."""
    def convert(text: str) -> Any:
        try:
            value = arg.type(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{arg.name} must be {'an integer' if arg.type is int else arg.type.__name__}, "
                f"got {text!r}") from None
        if arg.minimum is not None and value < arg.minimum:
            raise argparse.ArgumentTypeError(f"{arg.name} must be >= {arg.minimum}, got {text!r}")
        return value
    convert.__name__ = arg.type.__name__
    return convert


def _add_check_config_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("path", nargs="?", metavar="PATH",
                     help="main file or folder (default: --config, else the default place)")


def _add_sim_socket_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--sim-socket", metavar="PATH",
                     help="the simulated board's socket (default: from the configuration)")


def _add_test_call_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--keys", required=True, metavar="SCRIPT",
                     help="what the caller does, e.g. 'w 1 w 2# t2.5 h': keys, w (wait for "
                          "the prompt), t<seconds>, @file.wav (speak), h (hang up)")
    sub.add_argument("--caller", metavar="NUMBER", help="the calling number it presents")
    sub.add_argument("--name", metavar="NAME", help="the calling name it presents")
    sub.add_argument("--line", type=_cli_type(Arg("line", int, minimum=1)), metavar="N",
                     help="the trunk line to ring (default: the first idle one)")
    sub.add_argument("--timeout", dest="call_timeout", type=_positive_float, default=None,
                     metavar="S", help="give up on the call after S seconds")
    _add_sim_socket_argument(sub)


def _add_phone_arguments(sub: argparse.ArgumentParser) -> None:
    which = sub.add_mutually_exclusive_group()
    line_number = _cli_type(Arg("line", int, minimum=1))
    which.add_argument("--line", type=line_number, metavar="N", help="call in on trunk line N")
    which.add_argument("--station", type=line_number, metavar="N",
                       help="be the phone on station line N (an agent's set)")
    sub.add_argument("--caller", metavar="NUMBER", help="the calling number it presents")
    sub.add_argument("--name", metavar="NAME", help="the calling name it presents")
    sub.add_argument("--no-audio", dest="audio", action="store_false",
                     help="no sound card: show digits and events only")
    _add_sim_socket_argument(sub)


def _add_help_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("topic", nargs="?", metavar="COMMAND", help="the command to explain")


LOCAL_COMMANDS: tuple[LocalCommand, ...] = (
    LocalCommand("check-config", "check-config [PATH]",
                 "read the configuration as hotlined would; print OK and a summary, or every "
                 "problem (no daemon needed)", _add_check_config_arguments, run_check_config),
    LocalCommand("test-call", "test-call --keys SCRIPT [--caller NUMBER] [--name NAME] [--line N] "
                 "[--timeout S]", "place a scripted call on the simulated board and print "
                 "its transcript",
                 _add_test_call_arguments, run_test_call, own_options=("--timeout",)),
    LocalCommand("phone", "phone [--line N | --station N] [--caller NUMBER] [--name NAME] "
                 "[--no-audio]",
                 "be a phone on the simulated board, interactively", _add_phone_arguments,
                 run_phone),
    LocalCommand("help", "help [COMMAND]", "list the commands, or explain one",
                 _add_help_arguments, run_help),
)


def _is_placeholder(word: str) -> bool:
    return word.startswith("<") and word.endswith(">")


def _word_dest(position: int) -> str:
    return f"word{position}"


def _fixed_words(command: Command) -> list[tuple[int, str]]:
    """The fixed words after the first of a row's spelling, with their positions."""
    return [(i, w) for i, w in enumerate(command.cli_words) if i and not _is_placeholder(w)]


def cli_groups(commands: Sequence[Command] = COMMANDS) -> dict[str, tuple[Command, ...]]:
    """Rows with a command-line form, grouped by their first word (one subcommand each).

    Rows of a group must have the same operands at the same positions and differ only in
    fixed words; a ValueError says which group breaks that.
    """
    groups: dict[str, list[Command]] = {}
    for command in commands:
        if command.cli_words:
            groups.setdefault(command.cli_words[0], []).append(command)
    for word, group in groups.items():
        shapes = {tuple(w if _is_placeholder(w) else "" for w in c.cli_words) for c in group}
        if len(shapes) > 1:
            raise ValueError(f"commands spelled {word!r} differ in their operands: "
                             + "; ".join(c.usage for c in group))
    return {word: tuple(group) for word, group in groups.items()}


def _add_remote_arguments(sub: argparse.ArgumentParser, group: Sequence[Command]) -> None:
    first = group[0]
    args = {a.name: a for a in first.args}
    for position, word in enumerate(first.cli_words[1:], 1):
        if _is_placeholder(word):
            arg = args[word[1:-1]]
            sub.add_argument(arg.name, type=_cli_type(arg), metavar=arg.name.upper(),
                             help=arg.help)
        else:
            choices = list(dict.fromkeys(c.cli_words[position] for c in group))
            sub.add_argument(_word_dest(position), choices=choices, metavar="|".join(choices),
                             help="what to do (see above)")
    for arg in first.args:
        if not arg.required:
            sub.add_argument(f"--{arg.name}", type=_cli_type(arg), metavar=arg.name.upper(),
                             help=arg.help)


def commands_help() -> str:
    """Every command, one line each, from the tables (``hotlinectl help`` and ``--help``)."""
    remote = [(c.usage, c.help) for c in COMMANDS if c.cli_words]
    local = [(c.usage, c.help) for c in LOCAL_COMMANDS]
    width = max(len(usage) for usage, _ in remote + local if len(usage) <= 28) + 2

    def block(title: str, rows: list[tuple[str, str]]) -> str:
        lines = [title]
        for usage, text in rows:
            lines += ([f"  {usage:<{width}}{text}"] if len(usage) < width
                      else [f"  {usage}", f"  {'':<{width}}{text}"])
        return "\n".join(lines)

    return (block("commands (sent to hotlined):", remote) + "\n\n"
            + block("commands (local, no daemon needed):", local))


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool,
                    skip: Sequence[str] = ()) -> None:
    """The global options; on subcommands too (``hotlinectl lines --json``), without defaults
    there so they do not overwrite the ones given before the command. ``skip``: options the
    subcommand defines itself (test-call's own ``--timeout``)."""
    def add(option: str, default: Any, **kwargs: Any) -> None:
        if option not in skip:
            parser.add_argument(option, default=argparse.SUPPRESS if suppress else default,
                                **kwargs)

    add("--socket", None, metavar="PATH",
        help="the control socket (default: from the configuration, else "
             "$RUNTIME_DIRECTORY/control.sock or /run/hotline/control.sock)")
    add("--config", None, metavar="PATH",
        help="the configuration's main file (default: /etc/hotline/hotline.toml)")
    add("--json", False, action="store_true", help="print the raw result as JSON, for scripts")
    add("--timeout", DEFAULT_TIMEOUT_S, type=_positive_float, metavar="S",
        help=f"give up waiting for hotlined after S seconds (default {DEFAULT_TIMEOUT_S:g})")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: global options, one subcommand per group and local command."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Control hotlined over its control socket.",
        epilog=commands_help() + "\n\nexit codes: 0 ok, 1 failed, 2 bad arguments, 3 status: "
        "not running, 4 no permission, 5 not installed, 6 not configured, 7 not running",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _global_options(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    made: dict[str, argparse.ArgumentParser] = {}
    for word, group in cli_groups().items():
        sub = subparsers.add_parser(word, description="\n".join(f"{c.usage}: {c.help}"
                                                               for c in group),
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        _global_options(sub, suppress=True)
        _add_remote_arguments(sub, group)
        sub.set_defaults(run=functools.partial(run_remote, group=group))
        made[word] = sub
    for local in LOCAL_COMMANDS:
        sub = subparsers.add_parser(local.name, description=local.help)
        _global_options(sub, suppress=True, skip=local.own_options)
        local.add_arguments(sub)
        sub.set_defaults(run=local.run)
        made[local.name] = sub
    parser.set_defaults(run=None, parser=parser, subparsers=made, sim_socket=None)
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None,
         stderr: IO[str] | None = None, connect: Connect = connect_unix) -> int:
    """Run hotlinectl with ``argv`` (default: the process's) and return its exit code."""
    con = Console(stdout or sys.stdout, stderr or sys.stderr, connect)
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(con.out), contextlib.redirect_stderr(con.err):
            ns = parser.parse_args(argv)
    except SystemExit as exc:        # argparse: --help, --version (0) or a bad command line (2)
        return exc.code if isinstance(exc.code, int) else EXIT_INVALID_ARGS
    if ns.run is None:
        parser.print_usage(con.err)
        return con.fail(f"a command is needed; `{PROG} help` lists them", EXIT_INVALID_ARGS)
    try:
        return ns.run(ns, con)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:          # `hotlinectl calls | head`: the reader left, not an error
        with contextlib.suppress(OSError, ValueError):   # quiet the interpreter's final flush
            os.dup2(os.open(os.devnull, os.O_WRONLY), con.out.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
