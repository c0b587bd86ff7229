"""Fixtures for the tests that run the real hotlined process (see daemon_fixtures.py)."""

import shutil

import pytest

from tests.daemon.daemon_fixtures import Daemon, short_root


@pytest.fixture
def hotlined_factory(tmp_path_factory):
    """Make :class:`Daemon` objects (not started) in folders of their own; all are killed and
    their sockets closed at the end of the test, whatever happened."""
    made = []

    def make(**options) -> Daemon:
        daemon = Daemon(short_root(tmp_path_factory), **options)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.close()
        _remove_if_outside(daemon.root, tmp_path_factory)


def _remove_if_outside(root, tmp_path_factory):
    """Remove a folder made outside pytest's temporary tree (pytest prunes its own)."""
    if not str(root).startswith(str(tmp_path_factory.getbasetemp())):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def shared_hotlined(tmp_path_factory):
    """One running daemon for the tests of a module that leave its configuration alone."""
    root = short_root(tmp_path_factory, "shared")
    daemon = Daemon(root)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.close()
        _remove_if_outside(root, tmp_path_factory)
