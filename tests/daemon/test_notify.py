"""hotline.daemon.notify against real datagram sockets, as systemd's notify socket is one."""

import logging
import os
import socket
import uuid

import pytest

from hotline.daemon.notify import Notifier

RECEIVE_TIMEOUT_S = 2.0
DATAGRAM_MAX = 4096


def receiver(address):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(RECEIVE_TIMEOUT_S)
    return sock


@pytest.fixture
def path_socket(tmp_path):
    """A notify socket at a path; yields (NOTIFY_SOCKET value, receiving socket)."""
    path = str(tmp_path / "notify")
    sock = receiver(path)
    yield path, sock
    sock.close()


@pytest.fixture
def abstract_socket():
    """A notify socket with an abstract name, unique per test (tests run in parallel)."""
    name = f"hotline-test-notify-{os.getpid()}-{uuid.uuid4().hex}"
    sock = receiver("\0" + name)
    yield "@" + name, sock
    sock.close()


def received(sock, count):
    return [sock.recv(DATAGRAM_MAX) for _ in range(count)]


@pytest.mark.parametrize("kind", ["path_socket", "abstract_socket"])
def test_lifecycle_messages_arrive_in_order_with_exact_text(request, kind):
    address, sock = request.getfixturevalue(kind)
    notifier = Notifier({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    assert notifier.ready()
    assert notifier.status("24/24 lines up, 3 calls, 1 queued")
    assert notifier.reloading(123_456_789)
    assert notifier.ready()
    assert notifier.watchdog()
    assert notifier.stopping()
    assert notifier.send("STATUS=bye", "ERRNO=0")
    notifier.close()
    assert received(sock, 7) == [
        b"READY=1",
        b"STATUS=24/24 lines up, 3 calls, 1 queued",
        b"RELOADING=1\nMONOTONIC_USEC=123456789",
        b"READY=1",
        b"WATCHDOG=1",
        b"STOPPING=1",
        b"STATUS=bye\nERRNO=0",
    ]


def test_status_is_one_line_and_utf8(path_socket):
    address, sock = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": address})
    notifier.status("reload failed:\nline 3: 坐席 unknown")
    assert sock.recv(DATAGRAM_MAX).decode("utf-8") == "STATUS=reload failed: line 3: 坐席 unknown"


def test_malformed_assignments_are_refused_even_without_systemd():
    notifier = Notifier({})
    for bad in ("READY", "=1", "STATUS=a\nREADY=1"):
        with pytest.raises(ValueError):
            notifier.send(bad)
    with pytest.raises(ValueError):
        notifier.reloading(-1)


@pytest.mark.parametrize("env", [{}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "vsock:2:1234"},
                                 {"NOTIFY_SOCKET": "@"}, {"NOTIFY_SOCKET": "relative/path"}])
def test_nothing_is_sent_without_a_usable_notify_socket(env):
    notifier = Notifier(env)
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False


def test_environment_is_read_when_no_mapping_is_given(path_socket, monkeypatch):
    address, sock = path_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    Notifier().ready()
    assert sock.recv(DATAGRAM_MAX) == b"READY=1"


def test_one_connection_is_kept_and_reopened_after_a_failure(tmp_path, caplog):
    """The notifier stays connected to the socket it found, and reconnects when it goes away.

    Replacing the socket file (as a re-executed service manager does) proves both: while the
    first receiver lives, a kept connection still reaches it, not the new one; once it is gone,
    the next message reconnects and reaches the new one.
    """
    path = str(tmp_path / "notify")
    first = receiver(path)
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.ready()
    os.unlink(path)
    second = receiver(path)
    assert notifier.watchdog()
    assert received(first, 2) == [b"READY=1", b"WATCHDOG=1"]
    first.close()
    with caplog.at_level(logging.DEBUG, logger="hotline.daemon.notify"):
        assert notifier.status("after re-exec")
    assert second.recv(DATAGRAM_MAX) == b"STATUS=after re-exec"
    assert caplog.records == []  # a successful reconnect is not worth a warning
    second.close()
    notifier.close()


def test_a_vanished_socket_does_not_raise_and_warns_once(tmp_path, caplog):
    path = str(tmp_path / "notify")
    sock = receiver(path)
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.ready()
    sock.close()
    os.unlink(path)
    with caplog.at_level(logging.DEBUG, logger="hotline.daemon.notify"):
        assert notifier.watchdog() is False
        assert notifier.watchdog() is False
        assert notifier.stopping() is False
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert path in caplog.records[0].getMessage()
    # The socket comes back: messages flow again, and a later failure would warn again.
    sock = receiver(path)
    assert notifier.ready()
    assert sock.recv(DATAGRAM_MAX) == b"READY=1"
    sock.close()
    notifier.close()


def test_a_socket_that_never_existed_does_not_raise(tmp_path):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "missing")})
    assert notifier.enabled
    assert notifier.ready() is False


def test_watchdog_interval_is_half_the_period():
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval_s() == 15.0
    own = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(own).watchdog_interval_s() == 15.0


@pytest.mark.parametrize("env", [
    {},
    {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)},  # another process's
    {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "not-a-pid"},
    {"WATCHDOG_USEC": "0"},
    {"WATCHDOG_USEC": "-5"},
    {"WATCHDOG_USEC": "30s"},
])
def test_no_watchdog_interval_unless_systemd_set_one_for_us(env):
    assert Notifier(env).watchdog_interval_s() is None
