"""hotlinectl against a real control server (fake engine, in a thread): output, JSON, exit codes."""

import asyncio
import io
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import types
from pathlib import Path

import pytest

from hotline.daemon import ctl, protocol
from hotline.daemon.control import ControlServer
from hotline.daemon.ctl import main
from hotline.daemon.protocol import COMMANDS, Arg, Command

from .test_control import FakeEngine

THREAD_TIMEOUT_S = 5.0
GOOD_TOML = '[[board]]\ndriver = "sim"\ntrunks = 2\nstations = 1\n[paths]\nruntime_dir = "run"\n'
BAD_TOML = '[[board]]\ndriver = "sim"\n[engine]\ncountry = "mars"\n'


@pytest.fixture
def short_dir():
    """A folder whose paths fit in sun_path."""
    with tempfile.TemporaryDirectory(prefix="hl-", dir="/tmp") as folder:
        yield Path(folder)


@pytest.fixture
def no_config(short_dir, monkeypatch):
    """No configuration at the default place, and no systemd directory variables."""
    empty = short_dir / "etc"
    empty.mkdir()
    monkeypatch.setenv("CONFIGURATION_DIRECTORY", str(empty))
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)


class ServerThread:
    """A ControlServer serving ``engine`` on its own event loop in a thread."""

    def __init__(self, path, engine):
        self.path, self.engine = Path(path), engine
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = None

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(THREAD_TIMEOUT_S)

    def __enter__(self):
        self.thread.start()
        self.server = ControlServer(self.engine, self.path, logging.getLogger("test.ctl"))
        self._run(self.server.start())
        return self

    def __exit__(self, *exc_info):
        self._run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(THREAD_TIMEOUT_S)
        self.loop.close()


@pytest.fixture
def engine():
    return FakeEngine()


@pytest.fixture
def daemon(short_dir, engine, no_config):
    """A server with the fake engine; yields its socket path."""
    path = short_dir / "control.sock"
    with ServerThread(path, engine):
        yield path


def ctl_run(*argv):
    """``main(argv)`` with captured streams: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def remote(socket_path, *argv):
    return ctl_run("--socket", str(socket_path), *argv)


def columns_of(line, header, names):
    """Each named column's text in ``line``, cut at the header's column starts."""
    starts = [header.index(name) for name in names] + [None]
    return [line[a:b].strip() for a, b in zip(starts, starts[1:])]


# --- tables and records for people -----------------------------------------------------------

def test_lines_is_an_aligned_table(daemon):
    code, out, err = remote(daemon, "lines")
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    names = ["LINE", "KIND", "BOARD", "STATE", "CALL"]
    assert header.split() == names
    assert [columns_of(row, header, names) for row in rows] == [
        ["1", "trunk", "sim0", "idle", "-"],
        ["2", "trunk", "sim0", "in_call", "17"],
        ["3", "station", "sim0", "idle", "-"],
        ["4", "station", "sim0", "idle", "-"],
    ]
    assert all(line == line.rstrip() for line in out.splitlines())


def test_calls_is_a_table_with_clock_times(daemon):
    code, out, _ = remote(daemon, "calls")
    assert code == 0
    header, row = out.splitlines()
    names = ["CALL", "LINE", "CALLER", "NAME", "STARTED", "ANSWERED", "STATE", "STEP", "DIGITS"]
    assert header.split() == names
    assert columns_of(row, header, names) == ["17", "2", "13800138000", "ZHANG San", "09:15:02",
                                             "09:15:04", "ivr", "main-menu", "1"]


def test_an_empty_table_says_so(daemon, engine):
    engine.active.clear()
    code, out, _ = remote(daemon, "calls")
    assert (code, out) == (0, "no calls in progress\n")


def test_status_is_a_record(daemon):
    code, out, _ = remote(daemon, "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split(":", 1)[0] == "version"
    record = {}
    for line in lines:
        if not line.startswith(" "):
            label, value = line.split(":", 1)
            record[label] = value.strip()
    assert record["version"] == "0.1.0"
    assert record["state"] == "running"
    assert record["uptime"] == "1d 02:03:04"
    assert record["lines up"] == "3" and record["lines total"] == "4"
    assert record["last reload"] == "2026-03-01 08:00:00 ok"
    config_line = next(i for i, line in enumerate(lines) if line.startswith("config:"))
    assert lines[config_line].endswith("/etc/hotline/hotline.toml")
    assert lines[config_line + 1].strip() == "/etc/hotline/hotline.toml.d/10.toml"
    assert lines[config_line + 1].index("/") == lines[config_line].index("/")   # aligned
    value_starts = {line.index(line.split(":", 1)[1].strip()) for line in lines
                    if not line.startswith(" ")}
    assert len(value_starts) == 1                                                # one value column


@pytest.mark.parametrize("argv, method, args, shown", [
    (["line", "3", "block"], "block", {"line": 3}, "state: blocked"),
    (["line", "3", "unblock"], "unblock", {"line": 3}, "state: idle"),
    (["hangup", "17"], "hangup", {"call": 17}, "state: hung up"),
    (["reload"], "reload", {}, "message: configuration reloaded"),
    (["stop"], "stop", {}, "state:        draining"),
    (["version"], "version", {}, "version: 0.1.0"),
])
def test_actions_reach_the_engine(daemon, engine, argv, method, args, shown):
    code, out, err = remote(daemon, *argv)
    assert (code, err) == (0, "")
    assert engine.calls_made == [(method, args)]
    assert shown in out


# --- JSON for scripts --------------------------------------------------------------------------

@pytest.mark.parametrize("command", [c for c in COMMANDS if c.cli_words and not c.args],
                         ids=lambda c: c.name)
def test_json_prints_the_raw_result(daemon, command):
    code, out, _ = remote(daemon, "--json", command.name)
    assert code == 0
    expected = getattr(FakeEngine(), command.method)()
    assert json.loads(out) == json.loads(json.dumps(expected))


def test_global_options_may_follow_the_command(daemon):
    code, out, _ = ctl_run("lines", "--json", "--socket", str(daemon), "--timeout", "3")
    assert code == 0
    assert [line["number"] for line in json.loads(out)] == [1, 2, 3, 4]


# --- error replies -----------------------------------------------------------------------------

def test_not_found_exits_1_with_the_message(daemon):
    code, out, err = remote(daemon, "line", "9", "block")
    assert (code, out) == (1, "")
    assert err == "hotlinectl: block: no line 9\n"


def test_hangup_of_an_unknown_call_exits_1(daemon):
    code, _, err = remote(daemon, "hangup", "99")
    assert code == 1 and "no call 99" in err


def test_reload_refused_for_the_config_exits_6_with_every_problem(daemon, engine):
    engine.reload_problems = ['/etc/hotline/hotline.toml: engine.country = "mars": expected ...',
                              "/etc/hotline/hotline.toml.d/10.toml: board[0].codec = \"gsm\": ..."]
    code, out, err = remote(daemon, "reload")
    assert (code, out) == (protocol.EXIT_NOT_CONFIGURED, "")
    lines = err.splitlines()
    assert lines[0] == "hotlinectl: reload: reload refused: the configuration has problems"
    assert lines[1:] == engine.reload_problems


@pytest.mark.parametrize("exc, code", [
    (RuntimeError("boom"), 1),                        # internal
    (protocol.Busy("a reload is running"), 1),
    (protocol.BadRequest("the daemon disagrees"), 2),
])
def test_other_error_replies(daemon, engine, exc, code):
    engine.fail_with = exc
    got, out, err = remote(daemon, "status")
    assert (got, out) == (code, "")
    assert err.startswith("hotlinectl: status: ") and "Traceback" not in err


# --- no daemon, no permission, no answer -----------------------------------------------------

@pytest.mark.parametrize("argv", [[c.name] for c in COMMANDS if c.cli_words and not c.args]
                         + [["line", "1", "block"], ["hangup", "3"]])
def test_no_socket_exits_7_but_status_exits_3(short_dir, no_config, argv):
    path = short_dir / "control.sock"
    code, out, err = remote(path, *argv)
    assert code == (3 if argv == ["status"] else 7)
    assert out == ""
    assert err == f"hotlinectl: hotlined is not running (no {path})\n"


def test_a_stale_socket_means_not_running(short_dir, no_config):
    path = short_dir / "control.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    assert remote(path, "lines")[0] == 7
    code, _, err = remote(path, "status")
    assert code == 3 and "refuses connections" in err


def test_permission_denied_exits_4(short_dir, no_config):
    def connect(path, timeout_s):
        raise PermissionError(13, "Permission denied")

    out, err = io.StringIO(), io.StringIO()
    code = main(["--socket", str(short_dir / "c.sock"), "lines"], stdout=out, stderr=err,
                connect=connect)
    assert code == 4
    assert "permission denied on" in err.getvalue() and "group hotline" in err.getvalue()


def test_permission_denied_on_a_real_socket_exits_4(short_dir, no_config):
    """A user outside the socket's group (0660): as root, a forked child becomes nobody."""
    path = short_dir / "control.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    os.chmod(path, 0o660)
    os.chmod(short_dir, 0o755)
    try:
        if os.geteuid() != 0:                                     # pragma: no cover - as a user
            os.chmod(path, 0o000)
            code = remote(path, "status")[0]
        else:
            code = _as_nobody(lambda: remote(path, "status")[0])
    finally:
        listener.close()
    assert code == 4


def _as_nobody(function):
    """Run ``function`` in a forked child with uid/gid 65534 and no groups; its int result."""
    pid = os.fork()
    if pid == 0:                                                  # pragma: no cover - the child
        code = 99
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = function()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_daemon_that_does_not_answer_times_out_with_1(short_dir, no_config):
    path = short_dir / "mute.sock"
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(path))
    mute.listen(1)                                     # connections queue, nobody answers
    try:
        code, out, err = remote(path, "--timeout", "0.2", "lines")
    finally:
        mute.close()
    assert (code, out) == (1, "")
    assert "did not answer lines within 0.2 s" in err


@pytest.mark.parametrize("reply, says", [
    (b"nonsense\n", "not understood"),
    (b'{"ok": true, "result": 1, "id": 999}\n', "reply id 999"),
    (b"", "closed the connection"),
    (b'{"ok": true', "cut short"),
])
def test_a_garbled_reply_exits_1(short_dir, no_config, reply, says):
    path = short_dir / "odd.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def answer_once():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(reply)

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    try:
        code, out, err = remote(path, "version")
    finally:
        thread.join(THREAD_TIMEOUT_S)
        listener.close()
    assert (code, out) == (1, "")
    assert says in err and "Traceback" not in err


def test_the_console_script_prints_no_traceback(short_dir, no_config):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "hotline.daemon.ctl", "--socket",
                           str(short_dir / "none.sock"), "status"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 3
    assert done.stderr == f"hotlinectl: hotlined is not running (no {short_dir / 'none.sock'})\n"


# --- bad command lines: 2 --------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    [], ["launch"], ["line", "x", "block"], ["line", "3", "explode"], ["line", "3"],
    ["line", "0", "block"], ["hangup"], ["hangup", "-1"], ["status", "extra"],
    ["--timeout", "0", "status"], ["--timeout", "soon", "status"], ["test-call"],
    ["phone", "--line", "1", "--station", "2"], ["help", "nope"],
])
def test_bad_arguments_exit_2(short_dir, no_config, argv):
    code, out, err = remote(short_dir / "unused.sock", *argv)
    assert code == 2
    assert err and "Traceback" not in err


# --- where the socket is ---------------------------------------------------------------------

def test_the_socket_comes_from_the_config(short_dir, engine, no_config):
    config = short_dir / "hotline.toml"
    config.write_text(GOOD_TOML)
    (short_dir / "run").mkdir()
    with ServerThread(short_dir / "run" / "control.sock", engine):
        code, out, _ = ctl_run("--config", str(config), "--json", "version")
    assert code == 0 and json.loads(out) == {"version": "0.1.0"}


def test_the_socket_falls_back_to_the_runtime_directory(short_dir, engine, no_config, monkeypatch):
    monkeypatch.setenv("RUNTIME_DIRECTORY", f"{short_dir}:/elsewhere")
    with ServerThread(short_dir / "control.sock", engine):
        code, _, err = ctl_run("version")
    assert (code, err) == (0, "")


def test_an_unreadable_config_warns_and_falls_back(short_dir, no_config, monkeypatch):
    bad = short_dir / "bad.toml"
    bad.write_text(BAD_TOML)
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(short_dir / "run"))
    code, _, err = ctl_run("--config", str(bad), "lines")
    assert code == 7
    warning, failure = err.splitlines()
    assert warning.startswith(f"hotlinectl: warning: cannot read {bad}")
    assert failure == f"hotlinectl: hotlined is not running (no {short_dir / 'run' / 'control.sock'})"


def test_without_config_or_environment_it_is_run_hotline(no_config):
    ns = ctl.build_parser().parse_args(["status"])
    con = ctl.Console(io.StringIO(), io.StringIO(), env={})
    assert ctl.control_socket_path(ns, con) == Path("/run/hotline/control.sock")
    assert ctl.sim_socket_path(ns, con) == Path("/run/hotline/sim.sock")


# --- check-config: no daemon needed --------------------------------------------------------------

def test_check_config_ok(short_dir, no_config):
    config = short_dir / "hotline.toml"
    config.write_text(GOOD_TOML)
    code, out, err = ctl_run("check-config", str(config))
    assert (code, err) == (0, "")
    first, *summary = out.splitlines()
    assert first == "OK"
    assert f"files: {config}" in summary
    assert any("2 trunks" in line for line in summary)


def test_check_config_takes_the_config_option_too(short_dir, no_config):
    config = short_dir / "hotline.toml"
    config.write_text(GOOD_TOML)
    code, out, _ = ctl_run("--config", str(config), "--json", "check-config")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True and report["files"] == [str(config)]


def test_check_config_problems_exit_6(short_dir, no_config):
    config = short_dir / "hotline.toml"
    config.write_text(BAD_TOML)
    code, out, err = ctl_run("check-config", str(config))
    assert (code, out) == (6, "")
    assert err.splitlines() == [f'{config}: engine.country = "mars": expected one of "china", '
                                '"north_america"']


def test_check_config_json_lists_the_problems(short_dir, no_config):
    config = short_dir / "hotline.toml"
    config.write_text(BAD_TOML + "[handlr]\n")
    code, out, err = ctl_run("--json", "check-config", str(config))
    assert code == 6
    report = json.loads(out)
    assert report["ok"] is False and len(report["problems"]) == 2 == len(err.splitlines())


def test_check_config_of_a_missing_file_exits_6(short_dir, no_config):
    code, _, err = ctl_run("check-config", str(short_dir / "nope.toml"))
    assert code == 6 and "no such configuration file" in err


def test_check_config_of_broken_toml_exits_6(short_dir, no_config):
    config = short_dir / "hotline.toml"
    config.write_text("[[board]\n")
    code, _, err = ctl_run("check-config", str(config))
    assert code == 6 and str(config) in err


# --- test-call and phone: delegated to the simulated board ----------------------------------------

@pytest.fixture
def fake_sim(monkeypatch):
    """Stand-ins for the sim board's entry points, recording their arguments."""
    seen = {}

    def run_test_call(socket_path, keys, caller="10000", line=None, timeout_s=60.0, out=None,
                      *, name=None, json_lines=False, err=None):
        seen["test-call"] = dict(socket_path=socket_path, keys=keys, caller=caller, line=line,
                                 timeout_s=timeout_s, out=out, name=name, json_lines=json_lines,
                                 err=err)
        print("caller heard: welcome", file=out)
        return seen.get("exit", 0)

    def run_phone(socket_path, line=None, station=None, caller="10000", audio=True, *, name=None):
        seen["phone"] = dict(socket_path=socket_path, line=line, station=station, caller=caller,
                             audio=audio, name=name)
        if "raise" in seen:
            raise seen["raise"]
        return 0

    monkeypatch.setitem(sys.modules, "hotline.drivers.sim.script",
                        types.SimpleNamespace(run_test_call=run_test_call))
    monkeypatch.setitem(sys.modules, "hotline.drivers.sim.phone",
                        types.SimpleNamespace(run_phone=run_phone))
    return seen


def test_test_call_delegates_with_the_sim_socket(fake_sim, short_dir, no_config):
    sim = short_dir / "sim.sock"
    out, err = io.StringIO(), io.StringIO()
    code = main(["test-call", "--keys", "w 1 w", "--caller", "13800138000", "--name", "ZHANG",
                 "--line", "2", "--timeout", "30", "--sim-socket", str(sim)], stdout=out, stderr=err)
    assert code == 0
    call = fake_sim["test-call"]
    assert call["socket_path"] == sim and call["keys"] == "w 1 w"
    assert (call["caller"], call["name"], call["line"], call["timeout_s"]) == (
        "13800138000", "ZHANG", 2, 30.0)
    assert call["out"] is out and call["err"] is err and call["json_lines"] is False
    assert out.getvalue() == "caller heard: welcome\n"


def test_test_call_leaves_unset_options_to_the_script(fake_sim, short_dir, no_config):
    assert ctl_run("--json", "test-call", "--keys", "h", "--sim-socket", str(short_dir / "s"))[0] == 0
    call = fake_sim["test-call"]
    assert (call["caller"], call["name"], call["line"], call["timeout_s"]) == ("10000", None, None, 60.0)
    assert call["json_lines"] is True


def test_test_call_exit_code_is_the_scripts(fake_sim, short_dir, no_config):
    fake_sim["exit"] = 1
    assert ctl_run("test-call", "--keys", "press 9", "--sim-socket", str(short_dir / "s"))[0] == 1


def test_test_call_finds_the_sim_socket_in_the_config(fake_sim, short_dir, no_config):
    config = short_dir / "hotline.toml"
    config.write_text(GOOD_TOML)
    assert ctl_run("--config", str(config), "test-call", "--keys", "h")[0] == 0
    assert fake_sim["test-call"]["socket_path"] == short_dir / "run" / "sim.sock"


def test_phone_delegates(fake_sim, short_dir, no_config):
    code, _, _ = ctl_run("phone", "--station", "5", "--no-audio", "--sim-socket", str(short_dir / "s"))
    assert code == 0
    assert fake_sim["phone"] == dict(socket_path=short_dir / "s", line=None, station=5,
                                     caller="10000", audio=False, name=None)
    ctl_run("phone", "--line", "1", "--caller", "555", "--name", "LI", "--sim-socket",
            str(short_dir / "s"))
    assert fake_sim["phone"]["line"] == 1 and fake_sim["phone"]["caller"] == "555"
    assert fake_sim["phone"]["name"] == "LI"
    assert fake_sim["phone"]["audio"] is True


@pytest.mark.parametrize("exc, code", [(FileNotFoundError(2, "No such file"), 7),
                                       (ConnectionRefusedError(111, "refused"), 7),
                                       (PermissionError(13, "denied"), 4)])
def test_phone_without_a_sim_board_fails_cleanly(fake_sim, short_dir, no_config, exc, code):
    fake_sim["raise"] = exc
    got, _, err = ctl_run("phone", "--sim-socket", str(short_dir / "s"))
    assert got == code and "Traceback" not in err


def test_a_missing_sim_module_exits_5(monkeypatch, short_dir, no_config):
    monkeypatch.setitem(sys.modules, "hotline.drivers.sim.script", None)   # import fails
    code, _, err = ctl_run("test-call", "--keys", "h", "--sim-socket", str(short_dir / "s"))
    assert code == 5 and "test-call is not available" in err


def test_the_real_sim_entry_points_take_what_hotlinectl_passes():
    import inspect

    from hotline.drivers.sim.phone import run_phone
    from hotline.drivers.sim.script import run_test_call

    inspect.signature(run_test_call).bind(Path("s"), keys="h", line=None, out=io.StringIO(),
                                          err=io.StringIO(), json_lines=True, caller="1",
                                          name="N", timeout_s=5.0)
    inspect.signature(run_phone).bind(Path("s"), line=None, station=5, audio=False, caller="1",
                                      name="N")


# --- help, from the tables ---------------------------------------------------------------------

def test_help_lists_every_command_from_the_tables(no_config):
    code, out, _ = ctl_run("help")
    assert code == 0
    for command in COMMANDS:
        if command.cli_words:
            assert f"  {command.usage}" in out and command.help in out
    for local in ctl.LOCAL_COMMANDS:
        assert f"  {local.usage}" in out and local.help in out
    assert "line <line> block" in out and "line <line> unblock" in out


def test_dash_dash_help_has_the_same_list(no_config):
    code, out, _ = ctl_run("--help")
    assert code == 0
    assert ctl.commands_help() in out


def test_help_on_one_command(no_config):
    code, out, _ = ctl_run("help", "line")
    assert code == 0
    assert "block|unblock" in out and "put a blocked line back in service" in out


def test_version_option(no_config):
    code, out, _ = ctl_run("--version")
    assert (code, out.split()[0]) == (0, "hotlinectl")


def test_rows_sharing_a_first_word_must_agree_on_operands():
    rows = (Command("a", "x", method="a", args=(Arg("n", int),), cli="pair <n> a"),
            Command("b", "x", method="b", cli="pair b"))
    with pytest.raises(ValueError, match="differ in their operands"):
        ctl.cli_groups(rows)


def test_every_cli_group_of_the_table_builds():
    groups = ctl.cli_groups()
    assert set(groups) == {c.cli_words[0] for c in COMMANDS if c.cli_words}
    assert [c.name for c in groups["line"]] == ["block", "unblock"]


def test_every_presentation_the_table_names_exists():
    named = {f.fmt for c in COMMANDS for f in (*c.columns, *c.fields)}
    assert named <= set(ctl.FORMATS)


@pytest.mark.parametrize("result, shown", [
    (None, ""), ("plain", "plain"), (3.0, "3"), (["a", "b"], "a\nb"), ([], "no calls in progress"),
    ([{"id": 1}], None), ({"flag": True, "gone": None, "nested": {"a": 1}}, None),
])
def test_render_copes_with_any_json(result, shown):
    text = ctl.render(protocol.COMMANDS_BY_NAME["calls"], result, as_json=False)
    if shown is not None:
        assert text == shown
    assert ctl.render(protocol.COMMANDS_BY_NAME["calls"], result, as_json=True) == json.dumps(
        result, indent=2)


def test_odd_values_in_a_record():
    text = ctl.format_record({"uptime_s": float("nan"), "last_reload": None, "flag": False,
                              "when": 0}, protocol.COMMANDS_BY_NAME["status"].fields)
    assert text.splitlines() == ["uptime:      nan", "last reload: never", "flag:        no",
                                 "when:        0"]


def test_reload_with_an_invalid_config_is_refused_before_anything_is_sent(short_dir, no_config):
    """The client cannot even find the daemon's socket in a broken file: it says what is wrong (6),
    not that the daemon is not running (7, what it would say had it tried to connect)."""
    config = short_dir / "hotline.toml"
    config.write_text(BAD_TOML)
    code, out, err = ctl_run("--config", str(config), "reload")
    assert code == 6
    assert f'{config}: engine.country = "mars"' in err and "the running one stays" in err
