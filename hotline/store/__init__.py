"""hotline's records in SQLite: calls, their recordings, and the lines blocked at run time.

- :mod:`~hotline.store.db`: opening the one database file (WAL, ``synchronous=NORMAL``, foreign
  keys, busy timeout) and the hand-rolled migrations, versioned in ``PRAGMA user_version``, with a
  backup before each upgrade.
- :mod:`~hotline.store.calls`: :class:`Store`, the API ``hotlined`` records through.

Usage::

    with Store.open(database_path(state_dir)) as store:
        store.recover_interrupted(clock.iso())
        call_id = store.call_started(line=3, direction="inbound", started_at=clock.iso())

The store never reads the clock: every timestamp comes from the caller as ISO 8601 text.
Errors are :class:`StoreError` (a :class:`~hotline.errors.HotlineError`) naming the file.
"""

from hotline.store.calls import Store
from hotline.store.db import DB_FILENAME, SCHEMA_VERSION, StoreError, database_path

__all__ = ["DB_FILENAME", "SCHEMA_VERSION", "Store", "StoreError", "database_path"]
