"""Opening hotline's SQLite database, and bringing its schema up to date.

What: one database file, ``<state_dir>/hotline.sqlite3``, opened through sqlite-utils. Every
connection gets the same settings (:func:`open_database`): WAL journal (the web page reads while
``hotlined`` writes), ``synchronous=NORMAL`` (a commit survives a crash of the process; only a
power cut can lose the last few, and never corrupts the file), foreign keys enforced, and a busy
timeout of 5 s.

How migrations work (the fail2ban shape, hand-rolled): :data:`MIGRATIONS` is an ordered list of
functions; migration *n* (1-based) takes the schema from version *n - 1* to *n*, and the version
a file is at lives in ``PRAGMA user_version``. :func:`migrate`:

1. refuses a database newer than the code, naming both versions;
2. before touching an existing, non-empty database, copies it to ``<file>.bak-v<old>`` with the
   SQLite backup API (consistent even while the WAL holds committed pages);
3. runs each pending step in its own ``BEGIN IMMEDIATE`` transaction together with the new
   ``user_version``, so a failed step leaves the file at the previous version, untouched.

Conventions: connections run in driver autocommit (``isolation_level=None``), so a single
statement is its own transaction and several statements are grouped explicitly with
:func:`transaction`. Every sqlite error leaves this package as :class:`StoreError` naming the
file and what was being done, with the sqlite error chained. Tables are created only here, with
explicit SQL: sqlite-utils' ``insert`` would silently create a table from a typo.
"""

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import sqlite_utils

from hotline.errors import HotlineError

log = logging.getLogger(__name__)

DB_FILENAME = "hotline.sqlite3"
BUSY_TIMEOUT_MS = 5000
BACKUP_SUFFIX = ".bak-v"  # + the version the file had before migrating: hotline.sqlite3.bak-v1


class StoreError(HotlineError):
    """The database cannot be opened, migrated, read or written; the message names the file."""


def database_path(state_dir: str | Path) -> Path:
    """Where the database lives inside hotline's state directory."""
    return Path(state_dir) / DB_FILENAME


@contextlib.contextmanager
def errors_named(path: Path, what: str) -> Iterator[None]:
    """Turn a sqlite (or file) error in the block into a :class:`StoreError` saying ``what`` failed."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"{path}: {what}: {exc}") from exc


@contextlib.contextmanager
def transaction(db: sqlite_utils.Database, *, write: bool = True) -> Iterator[sqlite_utils.Database]:
    """One transaction around the block: committed if it ends normally, else rolled back.

    ``write=True`` takes the write lock at once (``BEGIN IMMEDIATE``), so the transaction cannot
    fail half-way for want of it; reads use a plain ``BEGIN`` for one consistent snapshot.
    """
    db.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


# -- opening -----------------------------------------------------------------------------------

def _check_writable(path: Path) -> None:
    """Fail early, naming the path, where SQLite would fail late or vaguely."""
    parent = path.parent
    if not parent.is_dir():
        raise StoreError(f"{path}: cannot open the database: {parent} is not an existing directory")
    if path.exists() and not path.is_file():
        raise StoreError(f"{path}: cannot open the database: not a regular file")
    # WAL needs to create <file>-wal and <file>-shm next to the database.
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StoreError(f"{path}: cannot open the database: directory {parent} is not writable")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"{path}: cannot open the database: file is not readable and writable")


def open_database(path: str | Path) -> sqlite_utils.Database:
    """A connection to the database at ``path`` with hotline's settings; no schema work.

    The parent directory must exist (it is the state directory, made by systemd or the installer);
    the file is created if missing.
    """
    path = Path(path)
    _check_writable(path)
    with errors_named(path, "cannot open the database"):
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            db = sqlite_utils.Database(conn)
            db.enable_wal()
            mode = db.journal_mode
        except BaseException:
            conn.close()
            raise
    if mode != "wal":  # pragma: no cover - only on file systems without shared memory (NFS)
        conn.close()
        raise StoreError(f"{path}: cannot switch the database to WAL (journal mode stays {mode!r})")
    return db


def user_version(db: sqlite_utils.Database) -> int:
    """The schema version recorded in the file (0 for a new file)."""
    return db.conn.execute("PRAGMA user_version").fetchone()[0]


def backup(db: sqlite_utils.Database, destination: Path) -> None:
    """Copy the whole database to ``destination`` with the SQLite backup API.

    Written to a temporary name first and renamed, so a crash never leaves half a backup under the
    final name; an older file under that name is replaced.
    """
    temporary = destination.with_name(destination.name + ".tmp")
    temporary.unlink(missing_ok=True)
    target = sqlite3.connect(temporary)
    try:
        db.conn.backup(target)
    finally:
        target.close()
    os.replace(temporary, destination)


# -- schema ------------------------------------------------------------------------------------

def _v1_initial(db: sqlite_utils.Database) -> None:
    """Calls, their recordings, and the lines blocked at run time."""
    for statement in (
        """CREATE TABLE calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            line INTEGER NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
            caller_number TEXT,
            caller_name TEXT,
            called_number TEXT,
            started_at TEXT NOT NULL,
            answered_at TEXT,
            ended_at TEXT,
            disposition TEXT NOT NULL
                CHECK (disposition IN ('in_progress', 'answered', 'abandoned', 'failed', 'interrupted')),
            hangup_by TEXT CHECK (hangup_by IN ('caller', 'box', 'agent', 'system') OR hangup_by IS NULL),
            digits TEXT NOT NULL DEFAULT '',
            path TEXT NOT NULL DEFAULT '[]',
            last_seen_at TEXT
        )""",
        "CREATE INDEX calls_started_at ON calls (started_at)",
        "CREATE INDEX calls_line ON calls (line)",
        """CREATE TABLE recordings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            call_id INTEGER NOT NULL REFERENCES calls (id),
            path TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            duration_ms INTEGER,
            end_reason TEXT
        )""",
        # A call's recordings are looked up by call; SQLite also scans it for every foreign-key check.
        "CREATE INDEX recordings_call_id ON recordings (call_id)",
        """CREATE TABLE lines (
            line INTEGER PRIMARY KEY,
            blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
            changed_at TEXT
        )""",
    ):
        db.execute(statement)


Migration = Callable[[sqlite_utils.Database], None]

MIGRATIONS: list[Migration] = [_v1_initial]
"""Migration *n* (1-based) takes the schema from version *n - 1* to *n*. Append only."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The version this code writes. :func:`migrate` reads the list itself, so tests can patch it."""


def _is_empty(db: sqlite_utils.Database) -> bool:
    return user_version(db) == 0 and not db.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()


def migrate(db: sqlite_utils.Database, path: Path, migrations: Sequence[Migration] | None = None) -> int:
    """Bring the database to the newest version, backing it up first; returns the version reached."""
    migrations = MIGRATIONS if migrations is None else migrations
    target = len(migrations)
    with errors_named(path, "cannot read the schema version"):
        found = user_version(db)
        empty = _is_empty(db)
    if found > target:
        raise StoreError(f"{path}: the database has schema version {found}, but this hotline knows "
                         f"only up to version {target}: upgrade hotline, or restore an older backup")
    if found == target:
        return found
    if not empty:
        destination = path.with_name(f"{path.name}{BACKUP_SUFFIX}{found}")
        with errors_named(path, f"cannot back up to {destination}"):
            backup(db, destination)
        log.info("%s: backed up schema version %d to %s before migrating", path, found, destination)
    for version in range(found + 1, target + 1):
        with errors_named(path, f"migration to schema version {version} failed"):
            with transaction(db):
                if user_version(db) >= version:  # pragma: no cover - another process got there first
                    continue
                migrations[version - 1](db)
                db.execute(f"PRAGMA user_version = {version:d}")
        log.info("%s: migrated to schema version %d", path, version)
    return target
