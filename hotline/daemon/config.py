"""Static configuration: TOML files read once (at start and on reload) into frozen objects.

What it does
    Reads the main file and its drop-ins, merges them, checks every value in one pass and
    returns a :class:`Config` made of frozen dataclasses: the only form of configuration the
    rest of hotline sees. What a technician changes at run time (flows, prompts, agents, skills,
    hours) lives in SQLite; these files hold what the box needs before it can open a board.

Where the files are
    The main file is ``/etc/hotline/hotline.toml``, or ``$CONFIGURATION_DIRECTORY/hotline.toml``
    when systemd sets that variable (``ConfigurationDirectory=hotline``, ``systemd.exec(5)``).
    Drop-ins are the ``*.toml`` files of ``hotline.toml.d/`` beside the main file, read in
    lexical order of their names, so the shipped file stays as shipped and a site's changes go
    in drop-ins (``10-lines.toml``, ``20-handler.toml``). Without a main file at the default
    place, drop-ins alone are enough.

How files merge
    Tables merge key by key, a later file's value replacing an earlier one; arrays of tables
    (``[[board]]``) from later files are appended. Each value remembers the file it came from:
    an error names that file, and a relative path is resolved against that file's folder (a demo
    in a temporary folder says ``state_dir = "state"`` and needs no root).

How values are checked
    One table of field schemas per section maps each key to a converter, the idea of
    supervisor's ``datatypes.py``: one small converter per value type, returning the value or
    raising ``ValueError("expected ...")`` that says what it accepts. Types are strict, since
    TOML has types: a quoted number is not a number and a boolean is not an integer; an integer
    is accepted where a float is expected. Board drivers are entries of :data:`DRIVERS`, each
    with the schema of its own options. Every problem is collected, then all are raised at once
    in a :class:`ConfigError`, one per line::

        /etc/hotline/hotline.toml.d/10-lines.toml: board[0].codec = "gsm": expected one of "alaw", "ulaw", "none"

    TOML syntax errors name the file, line and column, and stop before the values are checked.

Paths (FHS, and the ``systemd.exec(5)`` directory variables)
    By default state lives in ``/var/lib/hotline``, recordings in ``/var/spool/hotline`` and the
    sockets and pidfile in ``/run/hotline``. When systemd sets ``$STATE_DIRECTORY`` or
    ``$RUNTIME_DIRECTORY`` (``StateDirectory=``, ``RuntimeDirectory=``) those win; of a
    colon-separated list, the first entry. systemd has no spool directive: the spool folder comes
    from the file or the FHS default.

Lines
    Lines are numbered from 1 across the boards in their order, each board's trunks first, then
    its stations (:meth:`Config.lines`).
"""

import dataclasses
import difflib
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from hotline.dsp.toneplans import PLANS
from hotline.errors import HotlineError

__all__ = [
    "BoardConfig", "Config", "ConfigError", "DRIVERS", "DriverSchema", "EngineConfig",
    "HandlerConfig", "LineSpec", "PathsConfig", "SimBoardOptions", "default_config_path",
    "load_config", "summary",
]

CONFIG_FILENAME = "hotline.toml"
DROPIN_DIR_SUFFIX = ".d"  # hotline.toml -> hotline.toml.d/
DROPIN_SUFFIX = ".toml"
DEFAULT_CONFIG_DIR = Path("/etc/hotline")
DEFAULT_STATE_DIR = Path("/var/lib/hotline")
DEFAULT_SPOOL_DIR = Path("/var/spool/hotline")
DEFAULT_RUNTIME_DIR = Path("/run/hotline")

CONFIGURATION_DIRECTORY_VAR = "CONFIGURATION_DIRECTORY"
STATE_DIRECTORY_VAR = "STATE_DIRECTORY"
RUNTIME_DIRECTORY_VAR = "RUNTIME_DIRECTORY"

DATABASE_FILENAME = "hotline.sqlite3"
CONTROL_SOCKET_FILENAME = "control.sock"
SIM_SOCKET_FILENAME = "sim.sock"
PIDFILE_FILENAME = "hotlined.pid"

LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_DRAIN_S = 3600.0
MAX_LINES_PER_BOARD = 1024
DIGIT_TIMEOUT_RANGE_S = (0.5, 60.0)
MENU_RETRIES_RANGE = (1, 10)
MAX_RECORD_RANGE_S = (1.0, 3600.0)
RECORD_SILENCE_RANGE_S = (1.0, 60.0)
OPERATOR_RING_RANGE_S = (1.0, 120.0)
SIM_NOISE_RANGE_DBM0 = (-120.0, 0.0)
SIM_GAIN_RANGE_DB = (-40.0, 20.0)
SIM_ECHO_LOSS_RANGE_DB = (0.0, 100.0)
SIM_ECHO_DELAY_RANGE_MS = (0.0, 500.0)
SIM_FREQ_OFFSET_RANGE_HZ = (-50.0, 50.0)
SIM_CALLERID_MODES = ("fsk_before_ring", "fsk_after_first_ring", "none")
SIM_DISCONNECT_MODES = ("loop_break", "busy_tone")
SHOWN_VALUE_MAX_CHARS = 60  # longer values are cut in error messages


class ConfigError(HotlineError):
    """The configuration cannot be used; ``problems`` lists every reason, one line each."""

    def __init__(self, problems):
        self.problems: list[str] = list(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(self.problems)


# --- the objects the rest of hotline sees ---------------------------------------------------

@dataclass(frozen=True)
class EngineConfig:
    """How the engine runs: national tone plan, prompt language, shutdown, logging, watchdog."""

    country: str = "china"  # a key of hotline.dsp.toneplans.PLANS
    language: str = "en"  # a prompt set name
    drain_s: float = 30.0  # on stop, how long calls in progress may go on
    log_level: str = "info"
    watchdog: bool = True  # ping systemd's watchdog when WatchdogSec= is set


@dataclass(frozen=True)
class PathsConfig:
    """Folders, absolute; ``prompts_dir`` None means the prompts shipped in the package."""

    state_dir: Path = DEFAULT_STATE_DIR
    spool_dir: Path = DEFAULT_SPOOL_DIR
    runtime_dir: Path = DEFAULT_RUNTIME_DIR
    prompts_dir: Path | None = None

    @property
    def database(self) -> Path:
        return self.state_dir / DATABASE_FILENAME

    @property
    def control_socket(self) -> Path:
        return self.runtime_dir / CONTROL_SOCKET_FILENAME

    @property
    def sim_socket(self) -> Path:
        return self.runtime_dir / SIM_SOCKET_FILENAME

    @property
    def pidfile(self) -> Path:
        return self.runtime_dir / PIDFILE_FILENAME


@dataclass(frozen=True)
class SimBoardOptions:
    """The simulated board's line model (see :mod:`hotline.dsp.linemodel`)."""

    codec: str = "alaw"  # "alaw", "ulaw" or "none"
    noise_dbm0: float = -70.0
    gain_db: float = 0.0
    echo_loss_db: float = 30.0
    echo_delay_ms: float = 4.0
    freq_offset_hz: float = 0.0
    callerid: str = "fsk_before_ring"  # how the simulated exchange sends caller ID
    disconnect: str = "loop_break"  # how it tells the box the caller hung up: loop_break or busy_tone

    @property
    def line_codec(self) -> str | None:
        """The codec as :class:`~hotline.dsp.linemodel.LineModel` takes it (None for "none")."""
        return None if self.codec == "none" else self.codec


BoardOptions = SimBoardOptions  # becomes a union as drivers are added to DRIVERS


@dataclass(frozen=True)
class BoardConfig:
    """One voice board: its driver, a name unique across boards, its lines, its own options."""

    driver: str
    name: str
    trunks: int
    stations: int
    options: BoardOptions

    @property
    def lines(self) -> int:
        return self.trunks + self.stations


@dataclass(frozen=True)
class HandlerConfig:
    """The built-in call handler: greeting, then a menu (1 information, 2 record, # repeat, 0 operator).

    Prompt names are relative to the prompt set; ``operator_station`` None means the first
    station line.
    """

    greeting: str = "welcome"
    menu: str = "main-menu"
    info: str = "office-info"
    record_intro: str = "record-after-tone"
    thanks: str = "thank-you"
    goodbye: str = "goodbye"
    invalid: str = "invalid-choice"
    transfer: str = "please-hold"
    no_agent: str = "no-agent"
    first_digit_timeout_s: float = 6.0
    inter_digit_timeout_s: float = 4.0
    menu_retries: int = 3
    max_record_s: float = 120.0
    record_silence_s: float = 5.0
    operator_ring_s: float = 20.0  # how long the operator station rings before the caller hears no_agent
    operator_station: int | None = None


@dataclass(frozen=True)
class LineSpec:
    """One line in the global numbering; ``index_on_board`` is its channel on the board, from 0
    (trunks first, then stations)."""

    number: int
    kind: Literal["trunk", "station"]
    board_name: str
    index_on_board: int


@dataclass(frozen=True)
class Config:
    """The whole static configuration, as read from ``source``."""

    source: tuple[Path, ...]
    engine: EngineConfig
    paths: PathsConfig
    boards: tuple[BoardConfig, ...]
    handler: HandlerConfig

    def lines(self) -> tuple[LineSpec, ...]:
        """Every line, numbered from 1 across boards: each board's trunks, then its stations."""
        specs = []
        for board in self.boards:
            for index in range(board.lines):
                kind = "trunk" if index < board.trunks else "station"
                specs.append(LineSpec(len(specs) + 1, kind, board.name, index))
        return tuple(specs)

    def operator_line(self) -> int | None:
        """The line that 0 rings: ``handler.operator_station``, else the first station (None if none)."""
        if self.handler.operator_station is not None:
            return self.handler.operator_station
        return next((line.number for line in self.lines() if line.kind == "station"), None)


# --- converters: one per value type, each says what it accepts --------------------------------

Converter = Callable[[Any], Any]


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unquote_hint(value: Any) -> str:
    """A hint when a number or a boolean was written as a string."""
    if isinstance(value, str):
        if value in ("true", "false"):
            return " (true and false are written without quotes)"
        try:
            float(value)
        except ValueError:
            return ""
        return " (a number is written without quotes)"
    return ""


def _fmt(number: float) -> str:
    return f"{number:g}"


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("expected true or false" + _unquote_hint(value))


def integer(low: int, high: int) -> Converter:
    accepts = f"expected an integer from {low} to {high}"

    def convert(value: Any) -> int:
        if _is_integer(value) and low <= value <= high:
            return value
        raise ValueError(accepts + _unquote_hint(value))
    return convert


def number(low: float, high: float) -> Converter:
    accepts = f"expected a number from {_fmt(low)} to {_fmt(high)}"

    def convert(value: Any) -> float:
        if _is_number(value) and low <= value <= high:  # compared before float(): no overflow
            return float(value)
        raise ValueError(accepts + _unquote_hint(value))
    return convert


def one_of(*choices: str) -> Converter:
    accepts = "expected one of " + ", ".join(json.dumps(choice) for choice in choices)

    def convert(value: Any) -> str:
        if isinstance(value, str) and value in choices:
            return value
        raise ValueError(accepts)
    return convert


def matching(pattern: str, accepts: str) -> Converter:
    regex = re.compile(pattern)

    def convert(value: Any) -> str:
        if isinstance(value, str) and regex.fullmatch(value):
            return value
        raise ValueError(accepts)
    return convert


def line_number(value: Any) -> int:
    if _is_integer(value) and value >= 1:
        return value
    raise ValueError("expected a line number (an integer, 1 or more)" + _unquote_hint(value))


def directory(value: Any) -> Path:
    """A folder; the caller resolves a relative one against the folder of the file that set it."""
    if isinstance(value, str) and value and "\0" not in value:
        return Path(value)
    raise ValueError("expected a folder path (a string; a relative one is taken from this file's folder)")


name = matching(r"[A-Za-z0-9_-]+", 'expected a name of letters, digits, "-" and "_"')
prompt_name = matching(
    r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*",
    'expected a prompt name: letters, digits, "-" and "_", in parts separated by "/" '
    '(no "..", no leading or trailing "/")')


# --- the schemas: which keys each section accepts, and how each is converted ------------------

ENGINE_FIELDS: Mapping[str, Converter] = MappingProxyType({
    "country": one_of(*PLANS),
    "language": name,
    "drain_s": number(0.0, MAX_DRAIN_S),
    "log_level": one_of(*LOG_LEVELS),
    "watchdog": boolean,
})

PATHS_FIELDS: Mapping[str, Converter] = MappingProxyType({
    "state_dir": directory,
    "spool_dir": directory,
    "runtime_dir": directory,
    "prompts_dir": directory,
})

HANDLER_FIELDS: Mapping[str, Converter] = MappingProxyType({
    "greeting": prompt_name,
    "menu": prompt_name,
    "info": prompt_name,
    "record_intro": prompt_name,
    "thanks": prompt_name,
    "goodbye": prompt_name,
    "invalid": prompt_name,
    "transfer": prompt_name,
    "no_agent": prompt_name,
    "first_digit_timeout_s": number(*DIGIT_TIMEOUT_RANGE_S),
    "inter_digit_timeout_s": number(*DIGIT_TIMEOUT_RANGE_S),
    "menu_retries": integer(*MENU_RETRIES_RANGE),
    "max_record_s": number(*MAX_RECORD_RANGE_S),
    "record_silence_s": number(*RECORD_SILENCE_RANGE_S),
    "operator_ring_s": number(*OPERATOR_RING_RANGE_S),
    "operator_station": line_number,
})

SIM_OPTION_FIELDS: Mapping[str, Converter] = MappingProxyType({
    "codec": one_of("alaw", "ulaw", "none"),
    "noise_dbm0": number(*SIM_NOISE_RANGE_DBM0),
    "gain_db": number(*SIM_GAIN_RANGE_DB),
    "echo_loss_db": number(*SIM_ECHO_LOSS_RANGE_DB),
    "echo_delay_ms": number(*SIM_ECHO_DELAY_RANGE_MS),
    "freq_offset_hz": number(*SIM_FREQ_OFFSET_RANGE_HZ),
    "callerid": one_of(*SIM_CALLERID_MODES),
    "disconnect": one_of(*SIM_DISCONNECT_MODES),
})


@dataclass(frozen=True)
class DriverSchema:
    """What a ``[[board]]`` of one driver accepts beyond ``driver``, ``name``, ``trunks`` and
    ``stations``: its options (keys of ``options_type``, converted by ``option_fields``)."""

    options_type: type
    option_fields: Mapping[str, Converter]
    default_trunks: int
    default_stations: int


DRIVERS: Mapping[str, DriverSchema] = MappingProxyType({
    "sim": DriverSchema(SimBoardOptions, SIM_OPTION_FIELDS, default_trunks=4, default_stations=2),
})

BOARD_FIELDS: Mapping[str, Converter] = MappingProxyType({
    "driver": one_of(*DRIVERS),
    "name": name,
    "trunks": integer(0, MAX_LINES_PER_BOARD),
    "stations": integer(0, MAX_LINES_PER_BOARD),
})

SECTIONS: Mapping[str, tuple[type, Mapping[str, Converter]]] = MappingProxyType({
    "engine": (EngineConfig, ENGINE_FIELDS),
    "paths": (PathsConfig, PATHS_FIELDS),
    "handler": (HandlerConfig, HANDLER_FIELDS),
})
BOARD_KEY = "board"
TOP_LEVEL_KEYS = (*SECTIONS, BOARD_KEY)


# --- where the files are ----------------------------------------------------------------------

def _env_dir(env: Mapping[str, str], variable: str) -> Path | None:
    """A systemd directory variable's first entry (they are colon-separated lists), or None."""
    first = env.get(variable, "").split(":")[0]
    return Path(first) if first else None


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$CONFIGURATION_DIRECTORY/hotline.toml`` when systemd sets it, else ``/etc/hotline/hotline.toml``."""
    env = os.environ if env is None else env
    return (_env_dir(env, CONFIGURATION_DIRECTORY_VAR) or DEFAULT_CONFIG_DIR) / CONFIG_FILENAME


def _default_paths(env: Mapping[str, str]) -> dict[str, Path]:
    defaults = {}
    for key, variable in (("state_dir", STATE_DIRECTORY_VAR), ("runtime_dir", RUNTIME_DIRECTORY_VAR)):
        folder = _env_dir(env, variable)
        if folder is not None:
            defaults[key] = folder
    return defaults


def _dropin_dir(main: Path) -> Path:
    return main.with_name(main.name + DROPIN_DIR_SUFFIX)


def _dropins(folder: Path) -> list[Path]:
    """The drop-ins of ``folder`` in lexical order; hidden files (editors' leftovers) are skipped."""
    if not folder.is_dir():
        return []
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise ConfigError([f"{folder}: cannot list the drop-ins: {exc.strerror}"]) from exc
    return [folder / entry for entry in names
            if entry.endswith(DROPIN_SUFFIX) and not entry.startswith(".") and (folder / entry).is_file()]


def _config_files(main: Path, explicit: bool) -> list[Path]:
    dropins = _dropins(_dropin_dir(main))
    if main.exists():
        return [main, *dropins]
    if explicit:
        raise ConfigError([f"{main}: no such configuration file"])
    if not dropins:
        raise ConfigError([f"{main}: no such configuration file, and no drop-ins in {_dropin_dir(main)}/"])
    return dropins


# --- reading and merging, remembering where each value came from ------------------------------

KeyPath = tuple[str | int, ...]
_TOML_POSITION = re.compile(r"(?P<what>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)", re.DOTALL)


def _read_toml(file: Path) -> dict:
    try:
        with open(file, "rb") as stream:
            return tomllib.load(stream)
    except tomllib.TOMLDecodeError as exc:
        where = _TOML_POSITION.fullmatch(str(exc))
        if where:
            raise ConfigError([f"{file}: line {where['line']}, column {where['column']}: "
                               f"TOML syntax error: {where['what']}"]) from exc
        raise ConfigError([f"{file}: TOML syntax error: {exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror or exc}"]) from exc


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _record(origins: dict[KeyPath, Path], path: KeyPath, value: Any, file: Path) -> None:
    """Note ``file`` as the origin of ``value`` at ``path`` and of everything inside it."""
    for stale in [key for key in origins if key[:len(path)] == path]:
        del origins[stale]
    origins[path] = file
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        _record(origins, path + (key,), item, file)


def _merge(base: dict, new: dict, file: Path, origins: dict[KeyPath, Path], prefix: KeyPath = ()) -> None:
    """Merge ``new`` (read from ``file``) into ``base``: tables key by key, arrays of tables appended."""
    for key, value in new.items():
        path = prefix + (key,)
        old = base.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            _merge(old, value, file, origins, path)
        elif _is_table_array(old) and _is_table_array(value):
            for item in value:
                _record(origins, path + (len(old),), item, file)
                old.append(item)
        else:
            base[key] = value
            _record(origins, path, value, file)


def _read_all(files: list[Path]) -> tuple[dict, dict[KeyPath, Path]]:
    """The merged tree and each value's file; every file's syntax errors are raised together."""
    tree: dict = {}
    origins: dict[KeyPath, Path] = {(): files[0]}
    problems: list[str] = []
    for file in files:
        try:
            _merge(tree, _read_toml(file), file, origins)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return tree, origins


# --- problems: each names the file, the key path, the value and what is accepted --------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            text += f".{key}" if text else key
    return text


def _toml(value: Any) -> str:
    """``value`` as it would be written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key_path((key,))} = {_toml(item)}" for key, item in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)


def _show(value: Any) -> str:
    text = _toml(value)
    return text if len(text) <= SHOWN_VALUE_MAX_CHARS else text[:SHOWN_VALUE_MAX_CHARS - 3] + "..."


class _Problems:
    """Collects problems, each with the file its value came from."""

    def __init__(self, origins: Mapping[KeyPath, Path]):
        self.origins = origins
        self.items: list[str] = []

    def origin(self, path: KeyPath) -> Path:
        while path not in self.origins:
            path = path[:-1]
        return self.origins[path]

    def bad(self, path: KeyPath, value: Any, expected: str, note: str = "") -> None:
        self.items.append(f"{self.origin(path)}: {_key_path(path)} = {_show(value)}{note}: {expected}")

    def missing(self, path: KeyPath, expected: str) -> None:
        self.items.append(f"{self.origin(path)}: {_key_path(path)}: missing; {expected}")

    def unknown(self, path: KeyPath, value: Any, known: list[str]) -> None:
        close = difflib.get_close_matches(str(path[-1]), known, n=1)
        hint = f"did you mean {json.dumps(close[0])}? " if close else ""
        self.bad(path, value, f"unknown key; {hint}accepted keys: {', '.join(known)}")

    def about(self, path: KeyPath, text: str) -> None:
        self.items.append(f"{self.origin(path)}: {_key_path(path)}: {text}")


# --- checking and building ----------------------------------------------------------------------

def _defaults(cls: type) -> dict[str, Any]:
    return {field.name: field.default for field in dataclasses.fields(cls)
            if field.default is not dataclasses.MISSING}


def _read_table(table: dict, path: KeyPath, fields: Mapping[str, Converter], defaults: Mapping[str, Any],
                problems: _Problems) -> tuple[dict[str, Any], set[str]]:
    """Every field's value (its default when absent or wrong) and the keys that were wrong."""
    for key, value in table.items():
        if key not in fields:
            problems.unknown(path + (key,), value, list(fields))
    values, failed = {}, set()
    for key, convert in fields.items():
        values[key] = defaults[key]
        if key not in table:
            continue
        where = path + (key,)
        try:
            value = convert(table[key])
        except ValueError as exc:
            problems.bad(where, table[key], str(exc))
            failed.add(key)
            continue
        if isinstance(value, Path):
            value = problems.origin(where).parent / value  # an absolute value stays as it is
        values[key] = value
    return values, failed


def _section(tree: dict, key: str, defaults: Mapping[str, Any], problems: _Problems) -> tuple[Any, set[str]]:
    cls, fields = SECTIONS[key]
    table = tree.get(key, {})
    if not isinstance(table, dict):
        problems.bad((key,), table, f"expected a table: [{key}]")
        table = {}
    values, failed = _read_table(table, (key,), fields, {**_defaults(cls), **defaults}, problems)
    return cls(**values), failed


def _board(index: int, table: Any, problems: _Problems) -> tuple[BoardConfig, set[str]] | None:
    path: KeyPath = (BOARD_KEY, index)
    if not isinstance(table, dict):
        problems.bad(path, table, f"expected a table: [[{BOARD_KEY}]]")
        return None
    if "driver" not in table:
        problems.missing(path + ("driver",), "expected one of " + ", ".join(map(json.dumps, DRIVERS)))
        return None
    try:
        driver = BOARD_FIELDS["driver"](table["driver"])
    except ValueError as exc:
        problems.bad(path + ("driver",), table["driver"], str(exc))
        return None
    schema = DRIVERS[driver]
    defaults = {"driver": driver, "name": f"{driver}{index}", "trunks": schema.default_trunks,
                "stations": schema.default_stations, **_defaults(schema.options_type)}
    values, failed = _read_table(table, path, {**BOARD_FIELDS, **schema.option_fields}, defaults, problems)
    options = schema.options_type(**{key: values[key] for key in schema.option_fields})
    board = BoardConfig(driver, values["name"], values["trunks"], values["stations"], options)
    if not failed & {"trunks", "stations"} and board.lines < 1:
        problems.about(path, f"trunks = {board.trunks} and stations = {board.stations}: "
                             "expected at least one line (trunks + stations >= 1)")
        failed.add("trunks")
    return board, failed


def _boards(tree: dict, problems: _Problems) -> tuple[tuple[BoardConfig, ...], bool]:
    """The boards, and whether all of them were read (the line numbering depends on it)."""
    drivers = ", ".join(map(json.dumps, DRIVERS))
    expected = f"expected at least one [[{BOARD_KEY}]] table, with driver = one of {drivers}"
    if BOARD_KEY not in tree:
        problems.missing((BOARD_KEY,), expected)
        return (), False
    tables = tree[BOARD_KEY]
    if not isinstance(tables, list) or not tables:
        problems.bad((BOARD_KEY,), tables,
                     expected + f" (an array of tables: [[{BOARD_KEY}]], double brackets)")
        return (), False
    boards, complete, names = [], True, {}
    for index, table in enumerate(tables):
        read = _board(index, table, problems)
        if read is None:
            complete = False
            continue
        board, failed = read
        boards.append(board)
        complete = complete and not failed & {"trunks", "stations"}
        if "name" not in failed:
            first = names.setdefault(board.name, index)
            if first != index:
                note = "" if "name" in table else " (the default name)"
                problems.bad((BOARD_KEY, index, "name"), board.name,
                             f"expected a name no other board has; board[{first}] is already named "
                             f"{json.dumps(board.name)}", note)
    return tuple(boards), complete


def _ranges(numbers: list[int]) -> str:
    """``[5, 6, 7, 10]`` -> ``"5-7, 10"``."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _check_operator(config: Config, problems: _Problems) -> None:
    wanted = config.handler.operator_station
    if wanted is None:
        return
    lines = config.lines()
    stations = [line.number for line in lines if line.kind == "station"]
    if wanted in stations:
        return
    if wanted <= len(lines):
        line = lines[wanted - 1]
        what = f"line {wanted} is a trunk of board {json.dumps(line.board_name)}"
    else:
        what = f"there are {len(lines)} lines"
    accepted = (f"station lines are {_ranges(stations)}" if stations else "no board has stations")
    problems.bad(("handler", "operator_station"), wanted,
                 f"expected the number of a station line; {what}, {accepted} "
                 "(lines are numbered from 1 across boards, each board's trunks first)")


def _build(tree: dict, origins: Mapping[KeyPath, Path], files: list[Path], env: Mapping[str, str]) -> Config:
    problems = _Problems(origins)
    for key, value in tree.items():
        if key not in TOP_LEVEL_KEYS:
            problems.unknown((key,), value, list(TOP_LEVEL_KEYS))
    engine, _ = _section(tree, "engine", {}, problems)
    paths, _ = _section(tree, "paths", _default_paths(env), problems)
    handler, handler_failed = _section(tree, "handler", {}, problems)
    boards, boards_complete = _boards(tree, problems)
    config = Config(tuple(files), engine, paths, boards, handler)
    if boards_complete and "operator_station" not in handler_failed:
        _check_operator(config, problems)
    if problems.items:
        raise ConfigError(problems.items)
    return config


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read, merge and check the configuration; :class:`ConfigError` lists every problem.

    ``path`` is the main file (or a folder holding ``hotline.toml``); None means
    :func:`default_config_path`. ``env`` (default ``os.environ``) supplies the systemd directory
    variables. A given file must exist; at the default place, drop-ins alone are enough.
    """
    env = os.environ if env is None else env
    main = Path(path) if path is not None else default_config_path(env)
    if main.is_dir():
        main = main / CONFIG_FILENAME
    main = Path(os.path.abspath(main))
    files = _config_files(main, explicit=path is not None)
    tree, origins = _read_all(files)
    return _build(tree, origins, files, env)


def summary(config: Config) -> str:
    """A few lines for ``hotlinectl check-config``: files, boards and lines, engine, paths."""
    out = ["files: " + ", ".join(map(str, config.source))]
    number = 1
    for board in config.boards:
        parts = []
        for count, kind in ((board.trunks, "trunk"), (board.stations, "station")):
            last = number + count - 1
            span = "" if count == 0 else f" (line {number})" if count == 1 else f" (lines {number}-{last})"
            parts.append(f"{count} {kind}{'' if count == 1 else 's'}{span}")
            number += count
        out.append(f"board {board.name}: driver {board.driver}, " + ", ".join(parts))
    operator = config.operator_line()
    out.append(f"lines: {number - 1}; operator (0): " + ("none, no board has stations" if operator is None
                                                        else f"line {operator}"))
    engine = config.engine
    out.append(f"engine: country {engine.country}, language {engine.language}, log level {engine.log_level}, "
               f"drain {_fmt(engine.drain_s)} s, watchdog {'on' if engine.watchdog else 'off'}")
    paths = config.paths
    prompts = paths.prompts_dir if paths.prompts_dir is not None else "(shipped with the package)"
    out.append(f"paths: state {paths.state_dir}, spool {paths.spool_dir}, runtime {paths.runtime_dir}, "
               f"prompts {prompts}")
    return "\n".join(out)
