"""Logging for hotlined: journald priorities under systemd, a readable format on a terminal.

All of hotline logs through stdlib :mod:`logging` below the ``hotline`` logger, and
:func:`setup_logging` gives that logger exactly one handler writing to stderr, in one of two
formats:

* Under journald (stderr is the journal's stream), every physical line of a record starts with
  the syslog priority in angle brackets, as ``sd-daemon(3)`` defines: ``<3>`` for an error and
  ``<6>`` for information. journald strips the prefix and stores the priority, so
  ``journalctl -p warning`` filters by it. A line without a prefix would be stored at info, so
  the lines of a traceback are prefixed too, or an error's traceback would read as information.
  No timestamp and no program name: journald adds both (``SyslogIdentifier=hotlined``).
* Anywhere else (a terminal, a pipe, a test), a human format with a local timestamp.

Whether stderr is the journal's is decided the way ``systemd.exec(5)`` asks for: journald
exports ``$JOURNAL_STREAM=<device>:<inode>`` of the stream it connected, and stderr belongs to
it only if ``fstat()`` of our stream gives the same pair. The variable's mere presence is not
enough: a child whose stderr was redirected inherits it too.

Every message about a call names its line and call, and every message about a line names the
line, through the adapter from :func:`call_logger`::

    <6>line 3 call 17: answered after 2 rings                        (journal)
    2026-11-26 14:02:11.123 INFO  line 3 call 17: answered after 2 rings   (terminal)
"""

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

ROOT_LOGGER = "hotline"

# Accepted values of the log level setting, by name, as in the config file and `hotlinectl`.
LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

# syslog priorities (sd-daemon(3) SD_CRIT .. SD_DEBUG) for the Python levels, highest first;
# a level between two of these gets the priority of the one below it.
JOURNAL_PRIORITIES: tuple[tuple[int, int], ...] = (
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
)
DEBUG_PRIORITY = 7

JOURNAL_FORMAT = "%(message)s"
HUMAN_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-5s %(message)s"
HUMAN_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def journal_priority(levelno: int) -> int:
    """The syslog priority (2 critical .. 7 debug) journald should store a record under."""
    for threshold, priority in JOURNAL_PRIORITIES:
        if levelno >= threshold:
            return priority
    return DEBUG_PRIORITY


def parse_level(level: str) -> int:
    """The logging level for a level name (case-insensitive); ValueError names the accepted ones."""
    try:
        return LEVELS[level.strip().lower()]
    except (KeyError, AttributeError):
        accepted = ", ".join(LEVELS)
        raise ValueError(f"unknown log level {level!r}; accepted: {accepted}") from None


def is_journal_stream(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` is the very file journald connected, per ``$JOURNAL_STREAM``."""
    env = os.environ if env is None else env
    expected = env.get("JOURNAL_STREAM", "")
    device, sep, inode = expected.partition(":")
    if not sep or not device.isdigit() or not inode.isdigit():
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no descriptor: StringIO, closed stream
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


class JournalFormatter(logging.Formatter):
    """Prefixes each physical line of a record, traceback included, with its ``<N>`` priority."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).rstrip("\n")
        prefix = f"<{journal_priority(record.levelno)}>"
        # journald splits its stream on "\n" only, so split exactly there (not splitlines()).
        return "\n".join(prefix + line for line in text.split("\n"))


class HumanFormatter(logging.Formatter):
    """``2026-11-26 14:02:11.123 INFO  line 3 call 17: message``, in local time."""

    def __init__(self) -> None:
        super().__init__(HUMAN_FORMAT, datefmt=HUMAN_DATE_FORMAT)


class _HotlineHandler(logging.StreamHandler):
    """The handler setup_logging installs; its class marks it as ours to replace."""


def setup_logging(level: str = "info", stream: TextIO | None = None,
                  journal: bool | None = None) -> None:
    """Send the ``hotline`` logger's records to ``stream`` (stderr by default) at ``level``.

    ``journal`` forces the journald format on or off; None detects it from
    ``$JOURNAL_STREAM``. Calling it again (on reload, or ``set loglevel``) replaces the
    handler it installed before, so no record is ever written twice.
    """
    levelno = parse_level(level)
    stream = sys.stderr if stream is None else stream
    if journal is None:
        journal = is_journal_stream(stream)

    logger = logging.getLogger(ROOT_LOGGER)
    for old in [h for h in logger.handlers if isinstance(h, _HotlineHandler)]:
        logger.removeHandler(old)
        old.flush()

    handler = _HotlineHandler(stream)
    handler.setFormatter(JournalFormatter() if journal else HumanFormatter())
    logger.addHandler(handler)
    logger.setLevel(levelno)


def context_prefix(line: int, call_id: int | None) -> str:
    """``line 3 call 17`` for a call, ``line 3`` for a line with no call."""
    if call_id is None:
        return f"line {line}"
    return f"line {line} call {call_id}"


class CallLoggerAdapter(logging.LoggerAdapter):
    """Prefixes every message with its line (and call), and adds both as record attributes.

    The attributes ``hotline_line`` and ``hotline_call`` let a structured handler (or a test)
    read the context without parsing the text.
    """

    def process(self, msg: Any,
                kwargs: MutableMapping[str, Any]) -> tuple[str, MutableMapping[str, Any]]:
        kwargs["extra"] = {**self.extra, **kwargs.get("extra", {})}
        return f"{self.extra['hotline_prefix']}: {msg}", kwargs


def call_logger(logger: logging.Logger, line: int, call_id: int | None) -> logging.LoggerAdapter:
    """A logger for one call on ``line`` (``call_id`` None: for the line itself)."""
    context = {
        "hotline_line": line,
        "hotline_call": call_id,
        "hotline_prefix": context_prefix(line, call_id),
    }
    return CallLoggerAdapter(logger, context)
