"""The store on real SQLite files: schema and migrations, the call life cycle, crash recovery.

Timestamps are made up ISO 8601 strings (the store never reads the clock), so nothing sleeps.
The crash test runs the writer in a child process and kills it with SIGKILL mid-write.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hotline
from hotline.errors import HotlineError
from hotline.store import DB_FILENAME, SCHEMA_VERSION, Store, StoreError, database_path
from hotline.store import db as store_db
from hotline.store.calls import wav_duration_ms

REPO_ROOT = Path(hotline.__file__).resolve().parents[1]


def at(second: int) -> str:
    """A timestamp as Clock.iso() writes it, ``second`` seconds into a fixed minute."""
    return f"2026-03-01T08:{second // 60:02d}:{second % 60:02d}.000+00:00"


@pytest.fixture
def path(tmp_path):
    return database_path(tmp_path)


@pytest.fixture
def store(path):
    with Store.open(path) as store:
        yield store


def raw(path):
    """A plain sqlite3 connection, to look at the file behind the store's back."""
    return sqlite3.connect(path)


def schema_sql(path):
    with raw(path) as conn:
        return sorted(row[0] for row in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))


def backups(path):
    return sorted(p.name for p in path.parent.glob(f"{path.name}.bak-v*"))


# -- opening and migrations -------------------------------------------------------------------

def test_new_file_gets_schema_v1(store, path):
    assert path.name == DB_FILENAME
    assert store.schema_version == SCHEMA_VERSION == 1
    with raw(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
        columns = {table: [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
                   for table in ("calls", "recordings", "lines")}
    assert names == {"calls", "recordings", "lines", "calls_started_at", "calls_line", "recordings_call_id"}
    assert columns == {
        "calls": ["id", "line", "direction", "caller_number", "caller_name", "called_number", "started_at",
                  "answered_at", "ended_at", "disposition", "hangup_by", "digits", "path", "last_seen_at"],
        "recordings": ["id", "call_id", "path", "started_at", "ended_at", "duration_ms", "end_reason"],
        "lines": ["line", "blocked", "changed_at"],
    }
    assert backups(path) == []


def test_reopening_changes_nothing(path):
    with Store.open(path) as store:
        call_id = store.call_started(1, "inbound", at(0))
    before = schema_sql(path)
    with Store.open(path) as store:
        assert store.schema_version == 1
        assert store.call(call_id)["started_at"] == at(0)
    assert schema_sql(path) == before
    assert backups(path) == []


def test_every_connection_has_wal_foreign_keys_normal_sync_and_busy_timeout(path):
    db = store_db.open_database(path)
    try:
        pragmas = {name: db.conn.execute(f"PRAGMA {name}").fetchone()[0]
                   for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")}
    finally:
        db.close()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1, "busy_timeout": 5000}
    with raw(path) as conn:  # WAL is a property of the file, seen by every later connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_foreign_keys_are_enforced(store):
    with pytest.raises(StoreError, match="call 999") as caught:
        store.recording_started(999, "/nowhere.wav", at(0))
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
    assert isinstance(caught.value, HotlineError)


def test_check_constraints_hold_behind_the_api(store, path):
    with raw(path) as conn, pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute("INSERT INTO calls (line, direction, started_at, disposition) VALUES (1, 'inbound', ?, 'lost')",
                     (at(0),))


def test_a_database_newer_than_the_code_is_refused(path):
    Store.open(path).close()
    with raw(path) as conn:
        conn.execute("PRAGMA user_version = 7")
    with pytest.raises(StoreError, match=r"schema version 7.*version 1") as caught:
        Store.open(path)
    assert str(path) in str(caught.value)
    with raw(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 7
    assert backups(path) == []


def _v2_add_note(db):
    db.execute("ALTER TABLE calls ADD COLUMN note TEXT")


def test_migrating_an_existing_database_backs_it_up_first(path, monkeypatch):
    with Store.open(path) as store:
        call_id = store.call_started(4, "outbound", at(0), called_number="12345")
    monkeypatch.setattr(store_db, "MIGRATIONS", [store_db.MIGRATIONS[0], _v2_add_note])
    with Store.open(path) as store:
        assert store.schema_version == 2
        assert store.call(call_id)["note"] is None
        assert store.call(call_id)["called_number"] == "12345"
    assert backups(path) == [f"{DB_FILENAME}.bak-v1"]
    with raw(path.with_name(f"{DB_FILENAME}.bak-v1")) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT id, called_number FROM calls").fetchall() == [(call_id, "12345")]
        assert "note" not in [row[1] for row in conn.execute("PRAGMA table_info(calls)")]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_failing_migration_leaves_the_previous_version(path, monkeypatch):
    with Store.open(path) as store:
        call_id = store.call_started(1, "inbound", at(0))

    def v2_broken(db):
        _v2_add_note(db)
        db.execute("INSERT INTO nowhere VALUES (1)")

    monkeypatch.setattr(store_db, "MIGRATIONS", [store_db.MIGRATIONS[0], v2_broken])
    with pytest.raises(StoreError, match="migration to schema version 2 failed.*nowhere"):
        Store.open(path)
    monkeypatch.undo()
    with Store.open(path) as store:
        assert store.schema_version == 1
        assert "note" not in store.call(call_id)
    assert backups(path) == [f"{DB_FILENAME}.bak-v1"]


def test_a_new_but_unversioned_database_with_data_is_backed_up_as_v0(path, monkeypatch):
    with raw(path) as conn:
        conn.execute("CREATE TABLE legacy (x)")
        conn.execute("INSERT INTO legacy VALUES (42)")
    monkeypatch.setattr(store_db, "MIGRATIONS", [lambda db: db.execute("CREATE TABLE v1 (y)")])
    db = store_db.open_database(path)
    try:
        assert store_db.migrate(db, path) == 1
    finally:
        db.close()
    with raw(path.with_name(f"{DB_FILENAME}.bak-v0")) as conn:
        assert conn.execute("SELECT x FROM legacy").fetchall() == [(42,)]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0


def test_a_missing_directory_is_named(tmp_path):
    path = tmp_path / "no" / "such" / DB_FILENAME
    with pytest.raises(StoreError, match="not an existing directory") as caught:
        Store.open(path)
    assert str(path) in str(caught.value)
    assert not path.parent.exists()


def test_a_file_in_place_of_the_directory_is_named(tmp_path):
    (tmp_path / "state").write_text("not a directory")
    path = tmp_path / "state" / DB_FILENAME
    with pytest.raises(StoreError, match="not an existing directory") as caught:
        Store.open(path)
    assert str(path) in str(caught.value)


def test_a_directory_in_place_of_the_file_is_named(path):
    path.mkdir()
    with pytest.raises(StoreError, match="not a regular file") as caught:
        Store.open(path)
    assert str(path) in str(caught.value)


def test_a_garbage_file_is_named(path):
    path.write_bytes(b"this is not a database, but it is long enough to look like a header" * 20)
    with pytest.raises(StoreError, match="not a database") as caught:
        Store.open(path)
    assert str(path) in str(caught.value)


def test_an_unwritable_directory_is_named_even_for_root(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setattr(store_db.os, "access", lambda p, mode: Path(p) != state)  # as if mounted read-only
    with pytest.raises(StoreError, match="is not writable") as caught:
        Store.open(state / DB_FILENAME)
    assert str(state / DB_FILENAME) in str(caught.value)


def test_a_read_only_database_file_is_named(path, monkeypatch):
    Store.open(path).close()
    monkeypatch.setattr(store_db.os, "access", lambda p, mode: Path(p) != path)
    with pytest.raises(StoreError, match="not readable and writable") as caught:
        Store.open(path)
    assert str(path) in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_unwritable_directory_is_named(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="not writable") as caught:
            Store.open(state / DB_FILENAME)
    finally:
        state.chmod(0o755)
    assert str(state / DB_FILENAME) in str(caught.value)


# -- the call life cycle -----------------------------------------------------------------------

def test_a_call_round_trips_every_field(store, tmp_path):
    call_id = store.call_started(7, "inbound", at(0), caller_number="13800138000", caller_name="ZHANG SAN",
                                 called_number="12345")
    assert store.calls_in_progress()[0]["id"] == call_id
    store.call_answered(call_id, at(2))
    store.call_progress(call_id, at(5), digits="1", path=["greeting", "menu"])
    store.call_progress(call_id, at(6))  # only alive: digits and path stay
    recording_id = store.recording_started(call_id, tmp_path / "msg.wav", at(8))
    store.recording_finished(recording_id, at(20), 12000, "silence")
    store.call_ended(call_id, at(21), "answered", "caller", digits="12#",
                     path=["greeting", "menu", "info", "menu", "record"])
    assert store.call(call_id) == {
        "id": call_id, "line": 7, "direction": "inbound", "caller_number": "13800138000",
        "caller_name": "ZHANG SAN", "called_number": "12345", "started_at": at(0), "answered_at": at(2),
        "ended_at": at(21), "disposition": "answered", "hangup_by": "caller", "digits": "12#",
        "path": ["greeting", "menu", "info", "menu", "record"], "last_seen_at": at(21),
        "recordings": [{"id": recording_id, "call_id": call_id, "path": str(tmp_path / "msg.wav"),
                        "started_at": at(8), "ended_at": at(20), "duration_ms": 12000, "end_reason": "silence"}],
    }
    assert store.calls_in_progress() == []


def test_a_call_never_answered_keeps_its_defaults(store):
    call_id = store.call_started(2, "outbound", at(0), called_number="110")
    store.call_ended(call_id, at(30), "failed", "box")
    call = store.call(call_id)
    assert (call["answered_at"], call["digits"], call["path"], call["recordings"]) == (None, "", [], [])
    assert (call["caller_number"], call["caller_name"]) == (None, None)


def test_caller_id_heard_after_the_start_is_recorded(store):
    call_id = store.call_started(1, "inbound", at(0))
    store.call_caller(call_id, "075512345678", "WANG WU")
    call = store.call(call_id)
    assert (call["caller_number"], call["caller_name"], call["last_seen_at"]) == ("075512345678", "WANG WU", at(0))
    with pytest.raises(StoreError, match="no call with id 99"):
        store.call_caller(99, "1", None)


def test_progress_keeps_what_is_not_given(store):
    call_id = store.call_started(1, "inbound", at(0))
    store.call_progress(call_id, at(1), path=["greeting"])
    store.call_progress(call_id, at(2), digits="9")
    call = store.call(call_id)
    assert (call["digits"], call["path"], call["last_seen_at"]) == ("9", ["greeting"], at(2))


def test_an_invalid_disposition_names_the_accepted_ones(store):
    call_id = store.call_started(1, "inbound", at(0))
    for wrong in ("in_progress", "hung_up", ""):
        with pytest.raises(ValueError) as caught:
            store.call_ended(call_id, at(1), wrong, "caller")
        for accepted in ("answered", "abandoned", "failed", "interrupted"):
            assert repr(accepted) in str(caught.value)
    with pytest.raises(ValueError, match="'caller', 'box', 'agent', 'system'"):
        store.call_ended(call_id, at(1), "answered", "nobody")
    with pytest.raises(ValueError, match="'inbound', 'outbound'"):
        store.call_started(1, "sideways", at(0))
    with pytest.raises(ValueError, match="list of step names"):
        store.call_progress(call_id, at(1), path="menu")
    assert store.call(call_id)["disposition"] == "in_progress"


def test_unknown_ids_are_a_store_error(store):
    with pytest.raises(StoreError, match="no call with id 42"):
        store.call_answered(42, at(0))
    with pytest.raises(StoreError, match="no call with id 42"):
        store.call_ended(42, at(0), "answered", "caller")
    with pytest.raises(StoreError, match="no recording with id 5"):
        store.recording_finished(5, at(0), 100, "hangup")
    assert store.call(42) is None


def test_calls_are_listed_newest_first_with_limit_and_since(store):
    ids = [store.call_started(line, "inbound", at(10 * line)) for line in range(1, 6)]
    assert [call["id"] for call in store.calls()] == ids[::-1]
    assert [call["id"] for call in store.calls(limit=2)] == ids[:-3:-1]
    assert [call["id"] for call in store.calls(since=at(30))] == [ids[4], ids[3], ids[2]]
    assert store.calls(limit=0) == []
    assert all(call["path"] == [] for call in store.calls())
    with pytest.raises(ValueError, match="limit"):
        store.calls(limit=-1)


def test_blocked_lines_survive_a_reopen(path):
    with Store.open(path) as store:
        assert store.blocked_lines() == set()
        store.set_line_blocked(3, True, at(0))
        store.set_line_blocked(5, True, at(1))
        store.set_line_blocked(5, False, at(2))
    with Store.open(path) as store:
        assert store.blocked_lines() == {3}
        store.set_line_blocked(3, False, at(3))
        assert store.blocked_lines() == set()
    with raw(path) as conn:
        assert conn.execute("SELECT line, blocked, changed_at FROM lines ORDER BY line").fetchall() == [
            (3, 0, at(3)), (5, 0, at(2))]


def test_integrity_check_reports_broken_foreign_keys(store, path):
    assert store.integrity_check() == "ok"
    with raw(path) as conn:  # a connection without PRAGMA foreign_keys lets this through
        conn.execute("INSERT INTO recordings (call_id, path, started_at) VALUES (77, 'x.wav', ?)", (at(0),))
    assert store.integrity_check() == "foreign key: recordings row 1 refers to a missing row of calls"


def test_a_closed_store_raises_store_error(path):
    store = Store.open(path)
    assert repr(store) == f"Store({str(path)!r})"
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.call_started(1, "inbound", at(0))


# -- crash recovery ----------------------------------------------------------------------------

def test_wav_duration_is_measured_from_the_file_size(tmp_path):
    assert wav_duration_ms("x.wav", size_of=lambda _path: 44 + 2 * 8000 * 3 + 1) == 3000
    assert wav_duration_ms("x.wav", size_of=lambda _path: 20) == 0
    assert wav_duration_ms(tmp_path / "missing.wav") is None
    (tmp_path / "half.wav").write_bytes(bytes(44 + 8000))
    assert wav_duration_ms(tmp_path / "half.wav") == 500


def test_recovery_closes_calls_and_recordings_left_open(path, tmp_path):
    with Store.open(path) as store:
        done = store.call_started(1, "inbound", at(0))
        store.call_ended(done, at(9), "abandoned", "caller")
        cut = store.call_started(2, "inbound", at(1))
        store.call_progress(cut, at(4), digits="0", path=["greeting", "record"])
        late = store.recording_started(cut, tmp_path / "late.wav", at(6))  # after the last progress
        orphan = store.recording_started(done, tmp_path / "orphan.wav", at(2))  # call ended, recording not
        unversioned = store.call_started(3, "inbound", at(3))
    with raw(path) as conn:  # a record written before last_seen_at existed
        conn.execute("UPDATE calls SET last_seen_at = NULL WHERE id = ?", (unversioned,))
    measured = {}
    with Store.open(path) as store:
        assert store.recover_interrupted(at(59), duration_of=lambda p: measured.setdefault(p, 1234)) == [
            cut, unversioned]
        assert store.call(done)["disposition"] == "abandoned"
        assert (store.call(cut)["ended_at"], store.call(unversioned)["ended_at"]) == (at(4), at(3))
        recordings = {r["id"]: r for r in store.call(cut)["recordings"] + store.call(done)["recordings"]}
        assert (recordings[late]["ended_at"], recordings[orphan]["ended_at"]) == (at(6), at(9))
        assert {r["end_reason"] for r in recordings.values()} == {"interrupted"}
        assert {r["duration_ms"] for r in recordings.values()} == {1234}
        assert sorted(measured) == [str(tmp_path / "late.wav"), str(tmp_path / "orphan.wav")]
        assert store.recover_interrupted(at(59)) == []


CRASHING_WRITER = """
    import itertools, sys
    from hotline.store import Store

    def at(second):
        return f"2026-03-01T08:00:{second:02d}.000+00:00"

    store = Store.open(sys.argv[1])
    done = store.call_started(1, "inbound", at(0), caller_number="01012345678", caller_name="LI SI")
    store.call_answered(done, at(1))
    store.call_progress(done, at(2), digits="1", path=["greeting", "menu"])
    store.call_ended(done, at(5), "answered", "caller", digits="1#", path=["greeting", "menu", "info"])
    cut = store.call_started(2, "inbound", at(2), caller_number="13900000000")
    store.call_answered(cut, at(3))
    recording = store.recording_started(cut, sys.argv[2], at(4))
    silent = store.call_started(3, "outbound", at(6), called_number="12345")
    for n in itertools.count():  # still writing when the kill comes
        store.call_progress(cut, at(7), digits=str(n), path=["greeting", "record"])
        if n == 0:
            print(done, cut, silent, recording, flush=True)
"""


def test_a_writer_killed_mid_write_loses_nothing_committed(path, tmp_path):
    wav = tmp_path / "cut.wav"
    wav.write_bytes(bytes(44 + 2 * 8000 * 2))  # 2 s of audio, header never finished
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(CRASHING_WRITER))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    child = subprocess.Popen([sys.executable, str(script), str(path), str(wav)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready = child.stdout.readline()
        assert ready, child.stderr.read()
        done, cut, silent, recording = map(int, ready.split())
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()

    with Store.open(path) as store:
        assert store.integrity_check() == "ok"
        assert store.recover_interrupted(at(59)) == [cut, silent]
        assert store.integrity_check() == "ok"
        finished = store.call(done)
        assert (finished["disposition"], finished["hangup_by"], finished["ended_at"]) == ("answered", "caller", at(5))
        assert (finished["digits"], finished["path"]) == ("1#", ["greeting", "menu", "info"])
        assert (finished["caller_number"], finished["caller_name"]) == ("01012345678", "LI SI")
        cut_off = store.call(cut)
        assert (cut_off["disposition"], cut_off["hangup_by"], cut_off["ended_at"]) == ("interrupted", "system", at(7))
        assert cut_off["answered_at"] == at(3)
        assert cut_off["digits"].isdigit() and cut_off["path"] == ["greeting", "record"]
        assert cut_off["recordings"] == [{"id": recording, "call_id": cut, "path": str(wav), "started_at": at(4),
                                          "ended_at": at(7), "duration_ms": 2000, "end_reason": "interrupted"}]
        never = store.call(silent)
        assert (never["disposition"], never["ended_at"], never["answered_at"]) == ("interrupted", at(6), None)
        assert store.calls_in_progress() == []
