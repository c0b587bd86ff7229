"""The files under systemd/: checked by systemd's own tools where systemd 252 has them.

* hotlined.service: ``systemd-analyze verify`` on a copy whose commands point at an existing
  executable (the real ones live in /opt/hotline/venv, absent here). verify exits 0 even for an
  unknown key or section and only reports it on stderr, so stderr is read too; a misspelt copy
  proves that check bites. ``systemd-analyze security --offline=true`` prints the exposure.
* hotline.sysusers.conf: ``systemd-sysusers --dry-run`` against an empty temporary root.
* hotline.tmpfiles.conf: ``systemd-tmpfiles --create`` into a temporary root whose /etc/passwd
  knows the user (there is no --dry-run on 252), then the directory's mode and owner.
* 60-hotline.rules: systemd 252 has no ``udevadm verify``; a small parse checks the rule's shape.
* Across files: the user, group, paths and device groups they name agree.

All of these run without root. The tools come with Debian's ``systemd`` package.
"""

import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD_DIR / "hotlined.service"
SYSUSERS = SYSTEMD_DIR / "hotline.sysusers.conf"
TMPFILES = SYSTEMD_DIR / "hotline.tmpfiles.conf"
UDEV_RULES = SYSTEMD_DIR / "60-hotline.rules"

INSTALLED_PREFIX = "/opt/hotline/venv/bin/"
STAND_IN = shutil.which("true") or "/bin/true"
MAX_EXPOSURE = 5.0  # systemd-analyze security rates 0 (locked down) .. 10 (exposed)
TOOL_TIMEOUT_S = 60

needs = {tool: pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} not installed")
         for tool in ("systemd-analyze", "systemd-sysusers", "systemd-tmpfiles")}


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                          env={**os.environ, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"})


def unit_entries(text):
    """(section, key, value) for each assignment of a unit file, in order (keys may repeat)."""
    section, entries = None, []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {raw!r}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(key, section="Service"):
    return [v for s, k, v in unit_entries(UNIT.read_text()) if (s, k) == (section, key)]


def runnable_copy(tmp_path, text=None):
    """The unit with its /opt commands pointed at an executable that exists here."""
    text = UNIT.read_text() if text is None else text
    copy = tmp_path / UNIT.name
    copy.write_text(re.sub(re.escape(INSTALLED_PREFIX) + r"\S+", STAND_IN, text))
    return copy


def verify(unit):
    result = run("systemd-analyze", "verify", "--man=no", str(unit))
    complaints = [line for line in result.stderr.splitlines()
                  if "Unknown key" in line or "Unknown section" in line or "Invalid" in line
                  or "Failed to parse" in line]
    return result, complaints


@needs["systemd-analyze"]
def test_unit_passes_systemd_analyze_verify(tmp_path):
    result, complaints = verify(runnable_copy(tmp_path))
    assert result.returncode == 0, result.stderr
    assert complaints == [], result.stderr


@needs["systemd-analyze"]
@pytest.mark.parametrize("mistake, expected", [
    (("ProtectSystem=", "ProtectSystm="), "Unknown key 'ProtectSystm'"),
    (("[Install]", "[Instal]"), "Unknown section 'Instal'"),
])
def test_verify_check_catches_a_misspelling(tmp_path, mistake, expected):
    text = UNIT.read_text()
    assert mistake[0] in text
    result, complaints = verify(runnable_copy(tmp_path, text.replace(mistake[0], mistake[1], 1)))
    assert any(expected in line for line in complaints), result.stderr


@needs["systemd-analyze"]
def test_unit_security_exposure(tmp_path):
    result = run("systemd-analyze", "security", "--offline=true", "--no-pager",
                 str(runnable_copy(tmp_path)))
    assert result.returncode == 0, result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout
    exposure = float(match.group(1))
    print(f"systemd-analyze security: hotlined.service exposure {exposure}")
    assert exposure <= MAX_EXPOSURE


def test_unit_runs_the_venv_commands_and_restarts_sensibly():
    assert unit_values("Type") == ["notify"]
    assert unit_values("NotifyAccess") == ["main"]
    assert unit_values("ExecStart") == [INSTALLED_PREFIX + "hotlined"]
    assert unit_values("ExecReload") == [INSTALLED_PREFIX + "hotlinectl reload"]
    assert unit_values("Restart") == ["on-failure"]
    assert unit_values("RestartPreventExitStatus") == ["6"]  # EXIT_NOTCONFIGURED
    assert unit_values("DevicePolicy") == ["closed"]
    assert "PrivateDevices" not in {k for _, k, _ in unit_entries(UNIT.read_text())}


def seconds(value):
    match = re.fullmatch(r"(\d+)s", value)
    assert match, f"write durations in seconds, as '45s': {value!r}"
    return int(match.group(1))


def test_stop_timeout_covers_the_drain_time_and_watchdog_is_on():
    default_drain_s = 30
    assert seconds(unit_values("TimeoutStopSec")[0]) > default_drain_s
    assert seconds(unit_values("WatchdogSec")[0]) > 0


def test_device_groups_cover_every_board_kind():
    allowed = {value.split()[0] for value in unit_values("DeviceAllow")}
    assert allowed == {"char-dahdi", "char-dahdi_channels", "char-alsa",
                       "char-ttyS", "char-ttyUSB", "char-ttyACM"}
    assert all(value.split()[1] == "rw" for value in unit_values("DeviceAllow"))


def config_lines(path):
    return [line.split() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def sysusers_entries():
    """(type, name, rest) per sysusers.d line; quoted GECOS kept as one field."""
    return [shlex.split(line) for line in SYSUSERS.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@needs["systemd-sysusers"]
def test_sysusers_file_is_accepted_by_systemd_sysusers(tmp_path):
    (tmp_path / "etc").mkdir()
    result = run("systemd-sysusers", f"--root={tmp_path}", "--dry-run", str(SYSUSERS))
    assert result.returncode == 0, result.stderr
    assert "Creating user 'hotline'" in result.stderr, result.stderr
    assert not (tmp_path / "etc" / "passwd").exists()  # a dry run writes nothing


@needs["systemd-sysusers"]
def test_sysusers_check_catches_a_bad_line(tmp_path):
    (tmp_path / "etc").mkdir()
    bad = tmp_path / "bad.conf"
    bad.write_text(SYSUSERS.read_text() + "q hotline audio\n")
    result = run("systemd-sysusers", f"--root={tmp_path}", "--dry-run", str(bad))
    assert result.returncode != 0
    assert "Unknown command type 'q'" in result.stderr


@needs["systemd-tmpfiles"]
def test_tmpfiles_creates_the_spool_directory(tmp_path):
    """Run the real tool into a temporary root whose passwd maps ``hotline`` to an id we may
    chown to: a made-up one as root, our own otherwise."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    uid, gid = (4242, 4242) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    passwd = f"hotline:x:{uid}:{gid}::/var/lib/hotline:/usr/sbin/nologin\n"
    (root / "etc" / "passwd").write_text(passwd)
    (root / "etc" / "group").write_text(f"hotline:x:{gid}:\n")
    result = run("systemd-tmpfiles", f"--root={root}", "--create", str(TMPFILES))
    assert result.returncode == 0, result.stderr
    spool = root / "var" / "spool" / "hotline"
    st = spool.stat()
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o750
    assert (st.st_uid, st.st_gid) == (uid, gid)


def test_tmpfiles_line_shape():
    [entry] = config_lines(TMPFILES)
    assert entry == ["d", "/var/spool/hotline", "0750", "hotline", "hotline", "-"]


UDEV_PAIR = re.compile(r'\s*([A-Z_]+(?:\{[^}]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*')
UDEV_MATCH_OPS = {"==", "!="}


def udev_rules():
    """Each rule as a list of (key, operator, value); fails on anything that does not parse."""
    rules = []
    for number, line in enumerate(UDEV_RULES.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs = []
        for part in line.split(","):
            match = UDEV_PAIR.fullmatch(part)
            assert match, f"{UDEV_RULES.name}:{number}: cannot parse {part!r}"
            pairs.append(match.groups())
        rules.append(pairs)
    return rules


def test_udev_rule_gives_dahdi_to_a_group_the_daemon_has():
    [rule] = udev_rules()
    matches = {(k, v) for k, op, v in rule if op in UDEV_MATCH_OPS}
    assigns = {k: v for k, op, v in rule if op not in UDEV_MATCH_OPS}
    assert matches == {("SUBSYSTEM", "dahdi")}
    assert assigns["MODE"] == "0660"
    daemon_groups = unit_values("Group") + unit_values("SupplementaryGroups")[0].split()
    assert assigns["GROUP"] in daemon_groups


def test_files_agree_on_user_groups_and_paths():
    entries = sysusers_entries()
    users = [e[1] for e in entries if e[0] == "u"]
    memberships = {(e[1], e[2]) for e in entries if e[0] == "m"}
    assert unit_values("User") == ["hotline"] and unit_values("Group") == ["hotline"]
    assert users == ["hotline"]
    supplementary = unit_values("SupplementaryGroups")[0].split()
    assert memberships == {("hotline", group) for group in supplementary}
    [spool] = config_lines(TMPFILES)
    assert unit_values("ReadWritePaths") == [spool[1]]
    assert (spool[3], spool[4]) == ("hotline", "hotline")


def test_each_file_says_where_it_installs():
    targets = {
        UNIT: "/etc/systemd/system/",
        SYSUSERS: "/usr/lib/sysusers.d/",
        TMPFILES: "/usr/lib/tmpfiles.d/",
        UDEV_RULES: "/usr/lib/udev/rules.d/",
    }
    for path, target in targets.items():
        header = path.read_text().split("\n\n")[0]
        assert target in header, path.name
