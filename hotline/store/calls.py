"""Call records: every call, its recordings, and the lines blocked at run time.

What: :class:`Store`, the one object ``hotlined`` writes its records through. A call is inserted
when it starts (disposition ``in_progress``), updated as it goes on (answered, digits, the steps of
its flow, and ``last_seen_at``, so a crash knows roughly when the call was cut off) and closed when
it ends. At startup :meth:`Store.recover_interrupted` closes what a crash left open.

How: one connection (see :mod:`hotline.store.db`), reused for every operation, with no schema
work after :meth:`Store.open`. Each write is one short statement, its own transaction (WAL with
``synchronous=NORMAL`` makes a commit cost tens of microseconds); the few operations that need
several statements group them in one transaction. Reads return plain dicts.

Conventions:

- The store never reads the clock: callers pass ISO 8601 timestamps (``Clock.iso()``), and the
  text order of those is their time order.
- A call's ``path`` is the list of flow steps it went through, stored as JSON text and returned
  decoded; a recording's ``path`` is its audio file.
- Bad arguments (an unknown disposition) raise :class:`ValueError` naming the accepted values;
  anything SQLite refuses, or an id that does not exist, raises :class:`StoreError` naming the file.
- Synchronous, for the event-loop thread that opened it (sqlite3 connections stay in one thread).
"""

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from hotline.store.db import StoreError, errors_named, migrate, open_database, transaction, user_version

log = logging.getLogger(__name__)

DIRECTIONS = ("inbound", "outbound")
IN_PROGRESS = "in_progress"
END_DISPOSITIONS = ("answered", "abandoned", "failed", "interrupted")
HANGUP_BY = ("caller", "box", "agent", "system")
DEFAULT_CALLS_LIMIT = 50

# Recordings are 16-bit mono PCM at 8 kHz behind a 44-byte WAV header.
WAV_HEADER_BYTES = 44
RECORDING_BYTES_PER_SAMPLE = 2
RECORDING_RATE_HZ = 8000


def wav_duration_ms(path: str | Path, size_of: Callable[[str | Path], int] = os.path.getsize) -> int | None:
    """How long the recording at ``path`` is, from its size alone; ``None`` if there is no file.

    A recording cut off by a crash has a header whose sizes were never written, so the size on
    disk is the only measure; a partly written last sample is dropped.
    """
    try:
        size = size_of(path)
    except OSError:
        return None
    samples = max(0, size - WAV_HEADER_BYTES) // RECORDING_BYTES_PER_SAMPLE
    return samples * 1000 // RECORDING_RATE_HZ


def _check_choice(name: str, value: Any, accepted: Sequence[Any]) -> None:
    if value not in accepted:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, accepted))}, not {value!r}")


def _encode_path(path: Sequence[str] | None) -> str | None:
    if path is None:
        return None
    if isinstance(path, str):
        raise ValueError(f"path must be a list of step names, not the string {path!r}")
    return json.dumps(list(path))


def _decode_call(row: dict[str, Any]) -> dict[str, Any]:
    row["path"] = json.loads(row["path"])
    return row


class Store:
    """hotline's records in SQLite. Open with :meth:`Store.open`; close, or use as a context manager."""

    def __init__(self, db: sqlite_utils.Database, path: Path):
        """Wrap an open, migrated database; use :meth:`open` instead."""
        self.path = path
        self._db = db
        self._conn = db.conn

    @classmethod
    def open(cls, path: str | Path, *, auto_checkpoint: bool = True) -> "Store":
        """Open (creating if new) and migrate the database file at ``path``; its directory must exist.

        With ``auto_checkpoint`` off, a write never stops to copy the WAL into the database file
        (SQLite's automatic checkpoint fsyncs, stalling a write for tens of ms); the owner then
        calls :meth:`checkpoint` from another thread, as the engine does off its media loop.
        """
        path = Path(path)
        db = open_database(path)
        try:
            migrate(db, path)
            if not auto_checkpoint:
                db.conn.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            db.close()
            raise
        return cls(db, path)

    def checkpoint(self) -> None:
        """Copy the WAL into the database file through a connection of its own (any thread)."""
        db = open_database(self.path)
        try:
            with errors_named(self.path, "cannot checkpoint"):
                db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @property
    def schema_version(self) -> int:
        """The schema version of the open file (``PRAGMA user_version``)."""
        with errors_named(self.path, "cannot read the schema version"):
            return user_version(self._db)

    # -- small helpers ---------------------------------------------------------------------------

    def _execute(self, what: str, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        with errors_named(self.path, what):
            return self._conn.execute(sql, parameters)

    def _update_one(self, what: str, kind: str, row_id: int, sql: str, parameters: Sequence[Any]) -> None:
        if self._execute(what, sql, parameters).rowcount != 1:
            raise StoreError(f"{self.path}: {what}: no {kind} with id {row_id}")

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self._db.query(sql, parameters))

    # -- calls -----------------------------------------------------------------------------------

    def call_started(self, line: int, direction: str, started_at: str, caller_number: str | None = None,
                     caller_name: str | None = None, called_number: str | None = None) -> int:
        """Record a new call, ``in_progress``; returns its id."""
        _check_choice("direction", direction, DIRECTIONS)
        cursor = self._execute(
            f"cannot record a call starting on line {line}",
            "INSERT INTO calls (line, direction, caller_number, caller_name, called_number, started_at,"
            " last_seen_at, disposition) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (line, direction, caller_number, caller_name, called_number, started_at, started_at, IN_PROGRESS))
        return cursor.lastrowid

    def call_answered(self, call_id: int, at: str) -> None:
        """The call was answered (went off hook, or the far end picked up) at ``at``."""
        self._update_one(f"cannot record call {call_id} answered", "call", call_id,
                         "UPDATE calls SET answered_at = ?, last_seen_at = ? WHERE id = ?", (at, at, call_id))

    def call_caller(self, call_id: int, caller_number: str | None, caller_name: str | None) -> None:
        """Caller ID heard after the record was started (it came between the rings): set who calls."""
        self._update_one(f"cannot record the caller of call {call_id}", "call", call_id,
                         "UPDATE calls SET caller_number = ?, caller_name = ? WHERE id = ?",
                         (caller_number, caller_name, call_id))

    def call_progress(self, call_id: int, at: str, digits: str | None = None,
                      path: Sequence[str] | None = None) -> None:
        """The call is still going at ``at``; ``digits`` and ``path``, if given, are the full current values."""
        self._update_one(f"cannot record progress of call {call_id}", "call", call_id,
                         "UPDATE calls SET last_seen_at = ?, digits = coalesce(?, digits), path = coalesce(?, path)"
                         " WHERE id = ?", (at, digits, _encode_path(path), call_id))

    def call_ended(self, call_id: int, at: str, disposition: str, hangup_by: str | None,
                   digits: str | None = None, path: Sequence[str] | None = None) -> None:
        """Close the call's record: how it ended, who hung up, and optionally its final digits and path."""
        _check_choice("disposition", disposition, END_DISPOSITIONS)
        _check_choice("hangup_by", hangup_by, HANGUP_BY + (None,))
        self._update_one(f"cannot record call {call_id} ended", "call", call_id,
                         "UPDATE calls SET ended_at = ?, last_seen_at = ?, disposition = ?, hangup_by = ?,"
                         " digits = coalesce(?, digits), path = coalesce(?, path) WHERE id = ?",
                         (at, at, disposition, hangup_by, digits, _encode_path(path), call_id))

    def call(self, call_id: int) -> dict[str, Any] | None:
        """One call with every column, its ``path`` decoded and its recordings under ``recordings``."""
        with errors_named(self.path, f"cannot read call {call_id}"), transaction(self._db, write=False):
            found = self._rows("SELECT * FROM calls WHERE id = ?", (call_id,))
            if not found:
                return None
            call = _decode_call(found[0])
            call["recordings"] = self._rows("SELECT * FROM recordings WHERE call_id = ? ORDER BY id", (call_id,))
        return call

    def calls(self, limit: int = DEFAULT_CALLS_LIMIT, since: str | None = None) -> list[dict[str, Any]]:
        """The latest ``limit`` calls, newest first; only those started at or after ``since`` if given."""
        if limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit!r}")
        with errors_named(self.path, "cannot list calls"):
            rows = self._rows("SELECT * FROM calls WHERE started_at >= coalesce(?, '')"
                              " ORDER BY started_at DESC, id DESC LIMIT ?", (since, limit))
        return [_decode_call(row) for row in rows]

    def calls_in_progress(self) -> list[dict[str, Any]]:
        """The calls not yet ended, oldest first."""
        with errors_named(self.path, "cannot list calls in progress"):
            rows = self._rows("SELECT * FROM calls WHERE disposition = ? ORDER BY id", (IN_PROGRESS,))
        return [_decode_call(row) for row in rows]

    # -- recordings ------------------------------------------------------------------------------

    def recording_started(self, call_id: int, path: str | Path, at: str) -> int:
        """A recording of the call began into the file ``path``; returns its id."""
        cursor = self._execute(f"cannot record a recording of call {call_id}",
                               "INSERT INTO recordings (call_id, path, started_at) VALUES (?, ?, ?)",
                               (call_id, str(path), at))
        return cursor.lastrowid

    def recording_finished(self, recording_id: int, at: str, duration_ms: int | None, end_reason: str) -> None:
        """The recording ended at ``at`` after ``duration_ms`` of audio, for ``end_reason`` ('silence', ...)."""
        self._update_one(f"cannot record recording {recording_id} finished", "recording", recording_id,
                         "UPDATE recordings SET ended_at = ?, duration_ms = ?, end_reason = ? WHERE id = ?",
                         (at, duration_ms, end_reason, recording_id))

    # -- after a crash ---------------------------------------------------------------------------

    def recover_interrupted(self, now_iso: str, *,
                            duration_of: Callable[[str], int | None] = wav_duration_ms) -> list[int]:
        """Close what a crash left open; returns the ids of the calls it marked ``interrupted``.

        Call once at startup, before the first call starts. Calls still ``in_progress`` become
        ``interrupted``, hung up by ``system``, ended when they were last seen. Nothing is recording
        at startup, so every recording still open was cut off too: it ends with its call (never
        before it began), for ``interrupted``, with the duration ``duration_of`` measures on its file.
        ``now_iso`` only dates the log message: the records keep the times the calls were last seen.
        """
        with errors_named(self.path, "cannot recover interrupted calls"), transaction(self._db):
            cut_off = self._conn.execute("SELECT id, line, coalesce(last_seen_at, started_at) FROM calls"
                                         " WHERE disposition = ? ORDER BY id", (IN_PROGRESS,)).fetchall()
            self._conn.execute("UPDATE calls SET disposition = 'interrupted', hangup_by = 'system',"
                               " ended_at = coalesce(last_seen_at, started_at) WHERE disposition = ?",
                               (IN_PROGRESS,))
            open_recordings = self._conn.execute(
                "SELECT r.id, r.path, max(r.started_at, coalesce(c.ended_at, c.last_seen_at, c.started_at))"
                " FROM recordings r JOIN calls c ON c.id = r.call_id WHERE r.ended_at IS NULL").fetchall()
            for recording_id, path, ended_at in open_recordings:
                self._conn.execute("UPDATE recordings SET ended_at = ?, duration_ms = ?, end_reason = 'interrupted'"
                                   " WHERE id = ?", (ended_at, duration_of(path), recording_id))
        for call_id, line, ended_at in cut_off:
            log.warning("line %d: call %d was cut off by a crash (last seen %s); marked interrupted",
                        line, call_id, ended_at)
        if cut_off or open_recordings:
            log.warning("recovered %d interrupted calls and %d open recordings at %s",
                        len(cut_off), len(open_recordings), now_iso)
        return [call_id for call_id, _line, _ended_at in cut_off]

    # -- lines -----------------------------------------------------------------------------------

    def set_line_blocked(self, line: int, blocked: bool, at: str) -> None:
        """Block (or unblock) a line at run time; it stays so across restarts."""
        self._execute(f"cannot {'block' if blocked else 'unblock'} line {line}",
                      "INSERT INTO lines (line, blocked, changed_at) VALUES (?, ?, ?) ON CONFLICT (line)"
                      " DO UPDATE SET blocked = excluded.blocked, changed_at = excluded.changed_at",
                      (line, int(bool(blocked)), at))

    def blocked_lines(self) -> set[int]:
        """The lines blocked at run time."""
        with errors_named(self.path, "cannot list blocked lines"):
            return {row[0] for row in self._conn.execute("SELECT line FROM lines WHERE blocked = 1")}

    # -- health ----------------------------------------------------------------------------------

    def integrity_check(self) -> str:
        """'ok', or SQLite's list of problems (page structure, then broken foreign keys), one a line."""
        with errors_named(self.path, "cannot check integrity"):
            problems = [row[0] for row in self._conn.execute("PRAGMA integrity_check")]
            if problems == ["ok"]:
                problems = []
            problems += [f"foreign key: {table} row {rowid} refers to a missing row of {parent}"
                         for table, rowid, parent, _fk in self._conn.execute("PRAGMA foreign_key_check")]
        return "\n".join(problems) or "ok"
