"""Static configuration: defaults, systemd paths, drop-ins, and an error message for every mistake."""

import dataclasses
import re
from pathlib import Path

import pytest

from hotline.daemon import config as cfg
from hotline.daemon.config import (BoardConfig, Config, ConfigError, EngineConfig, HandlerConfig, LineSpec,
                                   PathsConfig, SimBoardOptions, default_config_path, load_config, summary)
from hotline.dsp.toneplans import PLANS
from hotline.errors import HotlineError

SAMPLE = Path(__file__).resolve().parents[2] / "etc" / "hotline.toml"
MINIMAL = '[[board]]\ndriver = "sim"\n'


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems_of(path, env=None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={} if env is None else env)
    return caught.value.problems


def the_problem(path, env=None) -> str:
    problems = problems_of(path, env)
    assert len(problems) == 1, problems
    return problems[0]


# --- defaults and paths ---------------------------------------------------------------------

def test_minimal_file_gives_every_default(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL)
    config = load_config(main, env={})
    assert config.source == (main,)
    assert config.engine == EngineConfig()
    assert config.engine.country == "china" and config.engine.drain_s == 30.0 and config.engine.watchdog is True
    assert config.paths == PathsConfig(Path("/var/lib/hotline"), Path("/var/spool/hotline"), Path("/run/hotline"), None)
    assert config.paths.database == Path("/var/lib/hotline/hotline.sqlite3")
    assert config.paths.control_socket == Path("/run/hotline/control.sock")
    assert config.paths.sim_socket == Path("/run/hotline/sim.sock")
    assert config.paths.pidfile == Path("/run/hotline/hotlined.pid")
    assert config.boards == (BoardConfig("sim", "sim0", 4, 2, SimBoardOptions()),)
    assert config.boards[0].options == SimBoardOptions("alaw", -70.0, 0.0, 30.0, 4.0, 0.0)
    assert config.handler == HandlerConfig()
    assert config.handler.operator_station is None
    assert config.operator_line() == 5


def test_default_country_is_a_known_plan():
    assert EngineConfig().country in PLANS
    for plan in PLANS:
        assert cfg.ENGINE_FIELDS["country"](plan) == plan


def test_schemas_cover_exactly_the_dataclass_fields():
    for cls, fields in cfg.SECTIONS.values():
        assert list(fields) == [field.name for field in dataclasses.fields(cls)]
    for schema in cfg.DRIVERS.values():
        assert list(schema.option_fields) == [field.name for field in dataclasses.fields(schema.options_type)]
    assert list(cfg.BOARD_FIELDS) == [field.name for field in dataclasses.fields(BoardConfig)][:4]


def test_default_config_path_follows_configuration_directory():
    assert default_config_path({}) == Path("/etc/hotline/hotline.toml")
    assert default_config_path({"CONFIGURATION_DIRECTORY": "/etc/hotline-a:/etc/other"}) == \
        Path("/etc/hotline-a/hotline.toml")


def test_configuration_directory_is_read_when_no_path_is_given(tmp_path):
    write(tmp_path / "hotline.toml", MINIMAL + 'trunks = 1\n')
    config = load_config(env={"CONFIGURATION_DIRECTORY": str(tmp_path)})
    assert config.source == (tmp_path / "hotline.toml",)
    assert config.boards[0].trunks == 1


def test_systemd_directory_variables_decide_the_default_paths(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL)
    env = {"STATE_DIRECTORY": "/var/lib/hl:/var/lib/hl-extra", "RUNTIME_DIRECTORY": "/run/hl"}
    paths = load_config(main, env=env).paths
    assert paths.state_dir == Path("/var/lib/hl")
    assert paths.runtime_dir == Path("/run/hl")
    assert paths.spool_dir == Path("/var/spool/hotline")
    assert paths.control_socket == Path("/run/hl/control.sock")
    assert paths.database == Path("/var/lib/hl/hotline.sqlite3")


def test_the_file_wins_over_the_systemd_variables(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + '[paths]\nstate_dir = "/srv/state"\n')
    assert load_config(main, env={"STATE_DIRECTORY": "/var/lib/hl"}).paths.state_dir == Path("/srv/state")


def test_relative_paths_are_taken_from_the_folder_of_the_file_that_set_them(tmp_path):
    main = write(tmp_path / "demo" / "hotline.toml",
                 MINIMAL + '[paths]\nstate_dir = "state"\nruntime_dir = "./run"\nspool_dir = "/abs/spool"\n')
    write(tmp_path / "demo" / "hotline.toml.d" / "10-prompts.toml", '[paths]\nprompts_dir = "prompts"\n')
    paths = load_config(main, env={}).paths
    assert paths.state_dir == tmp_path / "demo" / "state"
    assert paths.runtime_dir == tmp_path / "demo" / "run"
    assert paths.spool_dir == Path("/abs/spool")
    assert paths.prompts_dir == tmp_path / "demo" / "hotline.toml.d" / "prompts"


def test_a_relative_main_path_is_made_absolute(tmp_path, monkeypatch):
    write(tmp_path / "hotline.toml", MINIMAL + '[paths]\nstate_dir = "state"\n')
    monkeypatch.chdir(tmp_path)
    config = load_config("hotline.toml", env={})
    assert config.source == (tmp_path / "hotline.toml",)
    assert config.paths.state_dir == tmp_path / "state"


def test_a_folder_means_its_hotline_toml(tmp_path):
    write(tmp_path / "hotline.toml", MINIMAL)
    assert load_config(tmp_path, env={}).source == (tmp_path / "hotline.toml",)


# --- drop-ins -----------------------------------------------------------------------------------

def test_dropins_override_scalars_in_lexical_order_and_append_boards(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + '[engine]\nlanguage = "en"\ndrain_s = 10\n')
    dropins = tmp_path / "hotline.toml.d"
    write(dropins / "20-late.toml", '[engine]\nlanguage = "zh"\n')
    write(dropins / "10-early.toml", '[engine]\nlanguage = "fr"\nlog_level = "debug"\n'
                                     '[[board]]\ndriver = "sim"\nname = "extra"\ntrunks = 8\nstations = 0\n')
    write(dropins / "notes.txt", "not toml [")
    write(dropins / ".10-early.toml.swp", "junk [")
    config = load_config(main, env={})
    assert config.source == (main, dropins / "10-early.toml", dropins / "20-late.toml")
    assert config.engine.language == "zh"
    assert config.engine.log_level == "debug"
    assert config.engine.drain_s == 10.0
    assert [(b.name, b.trunks, b.stations) for b in config.boards] == [("sim0", 4, 2), ("extra", 8, 0)]


def test_default_board_name_counts_boards_across_files(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL)
    write(tmp_path / "hotline.toml.d" / "10.toml", MINIMAL)
    assert [b.name for b in load_config(main, env={}).boards] == ["sim0", "sim1"]


def test_dropins_alone_are_enough_at_the_default_place(tmp_path):
    write(tmp_path / "hotline.toml.d" / "10-board.toml", MINIMAL)
    config = load_config(env={"CONFIGURATION_DIRECTORY": str(tmp_path)})
    assert config.source == (tmp_path / "hotline.toml.d" / "10-board.toml",)


def test_an_error_names_the_dropin_the_value_came_from(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL)
    dropin = write(tmp_path / "hotline.toml.d" / "10-lines.toml", '[[board]]\ndriver = "sim"\ncodec = "gsm"\n')
    assert the_problem(main) == f'{dropin}: board[1].codec = "gsm": expected one of "alaw", "ulaw", "none"'


def test_an_error_names_the_file_whose_value_won(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + '[engine]\ncountry = "mars"\n')
    dropin = write(tmp_path / "hotline.toml.d" / "10.toml", '[engine]\ncountry = "atlantis"\n')
    problem = the_problem(main)
    assert problem.startswith(f'{dropin}: engine.country = "atlantis": expected one of ')
    assert '"china"' in problem and '"north_america"' in problem


# --- every kind of error ---------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ('[[board]]\ndriver = "sim"\ntrunks = "4"\n',
     'board[0].trunks = "4": expected an integer from 0 to 1024 (a number is written without quotes)'),
    ('[[board]]\ndriver = "sim"\ntrunks = true\n', 'board[0].trunks = true: expected an integer from 0 to 1024'),
    ('[[board]]\ndriver = "sim"\nstations = 2.5\n', 'board[0].stations = 2.5: expected an integer from 0 to 1024'),
    ('[[board]]\ndriver = "sim"\ntrunks = 1025\n', 'board[0].trunks = 1025: expected an integer from 0 to 1024'),
    ('[[board]]\ndriver = "sim"\nnoise_dbm0 = 3\n', 'board[0].noise_dbm0 = 3: expected a number from -120 to 0'),
    ('[[board]]\ndriver = "sim"\ngain_db = nan\n', 'board[0].gain_db = nan: expected a number from -40 to 20'),
    ('[[board]]\ndriver = "sim"\nfreq_offset_hz = "5"\n',
     'board[0].freq_offset_hz = "5": expected a number from -50 to 50 (a number is written without quotes)'),
    (MINIMAL + '[engine]\nwatchdog = "true"\n',
     'engine.watchdog = "true": expected true or false (true and false are written without quotes)'),
    (MINIMAL + '[engine]\nwatchdog = 1\n', 'engine.watchdog = 1: expected true or false'),
    (MINIMAL + '[engine]\ndrain_s = -1\n', 'engine.drain_s = -1: expected a number from 0 to 3600'),
    (MINIMAL + '[engine]\nlog_level = "INFO"\n',
     'engine.log_level = "INFO": expected one of "debug", "info", "warning", "error"'),
    (MINIMAL + '[engine]\nlanguage = "en/../x"\n',
     'engine.language = "en/../x": expected a name of letters, digits, "-" and "_"'),
    (MINIMAL + '[handler]\nmenu_retries = 0\n', 'handler.menu_retries = 0: expected an integer from 1 to 10'),
    (MINIMAL + '[handler]\nfirst_digit_timeout_s = 0.1\n',
     'handler.first_digit_timeout_s = 0.1: expected a number from 0.5 to 60'),
    (MINIMAL + '[paths]\nstate_dir = 5\n',
     "paths.state_dir = 5: expected a folder path (a string; a relative one is taken from this file's folder)"),
    (MINIMAL + '[paths]\nspool_dir = ""\n',
     "paths.spool_dir = \"\": expected a folder path (a string; a relative one is taken from this file's folder)"),
    ('engine = 3\n' + MINIMAL, 'engine = 3: expected a table: [engine]'),
])
def test_a_wrong_value_names_file_key_value_and_what_is_accepted(tmp_path, text, expected):
    main = write(tmp_path / "hotline.toml", text)
    assert the_problem(main) == f"{main}: {expected}"


@pytest.mark.parametrize("prompt", ["../../etc/passwd", "en/../secret", "/abs", "dir/", "a b", "x.wav", ""])
def test_bad_prompt_names(tmp_path, prompt):
    main = write(tmp_path / "hotline.toml", MINIMAL + f'[handler]\ngreeting = "{prompt}"\n')
    problem = the_problem(main)
    assert problem.startswith(f'{main}: handler.greeting = "{prompt}": expected a prompt name: ')
    assert 'no ".."' in problem


def test_prompt_names_may_have_subfolders(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + '[handler]\ninfo = "after-hours/office_info-2"\n')
    assert load_config(main, env={}).handler.info == "after-hours/office_info-2"


def test_ints_are_accepted_where_floats_are_expected(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + 'noise_dbm0 = -50\n[handler]\nmax_record_s = 60\n')
    config = load_config(main, env={})
    assert config.boards[0].options.noise_dbm0 == -50.0 and isinstance(config.boards[0].options.noise_dbm0, float)
    assert config.handler.max_record_s == 60.0 and isinstance(config.handler.max_record_s, float)


def test_unknown_key_with_a_suggestion(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + '[engine]\ncontry = "china"\n')
    assert the_problem(main) == (f'{main}: engine.contry = "china": unknown key; did you mean "country"? '
                                 'accepted keys: country, language, drain_s, log_level, watchdog')


def test_unknown_key_without_a_close_match(tmp_path):
    main = write(tmp_path / "hotline.toml", '[[board]]\ndriver = "sim"\nxyzzy = 1\n')
    problem = the_problem(main)
    assert problem.startswith(f"{main}: board[0].xyzzy = 1: unknown key; accepted keys: driver, name, trunks,")
    assert "did you mean" not in problem and "codec" in problem


def test_unknown_section_with_a_suggestion(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + '[handlr]\nmenu = "x"\n')
    assert the_problem(main) == (f'{main}: handlr = {{ menu = "x" }}: unknown key; did you mean "handler"? '
                                 'accepted keys: engine, paths, handler, board')


def test_unknown_driver_lists_the_accepted_drivers(tmp_path):
    main = write(tmp_path / "hotline.toml", '[[board]]\ndriver = "dahdi"\nspan = 1\n')
    assert the_problem(main) == f'{main}: board[0].driver = "dahdi": expected one of "sim"'


def test_missing_driver(tmp_path):
    main = write(tmp_path / "hotline.toml", '[[board]]\ntrunks = 2\n')
    assert the_problem(main) == f'{main}: board[0].driver: missing; expected one of "sim"'


def test_no_board(tmp_path):
    main = write(tmp_path / "hotline.toml", '[engine]\ncountry = "china"\n')
    assert the_problem(main) == f'{main}: board: missing; expected at least one [[board]] table, with driver = one of "sim"'


def test_a_single_bracket_board_table_is_explained(tmp_path):
    main = write(tmp_path / "hotline.toml", '[board]\ndriver = "sim"\n')
    problem = the_problem(main)
    assert problem.startswith(f'{main}: board = {{ driver = "sim" }}: expected at least one [[board]] table')
    assert "double brackets" in problem


def test_a_board_needs_a_line(tmp_path):
    main = write(tmp_path / "hotline.toml", '[[board]]\ndriver = "sim"\ntrunks = 0\nstations = 0\n')
    assert the_problem(main) == (f"{main}: board[0]: trunks = 0 and stations = 0: "
                                 "expected at least one line (trunks + stations >= 1)")


def test_duplicate_board_name(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + 'name = "front"\n')
    dropin = write(tmp_path / "hotline.toml.d" / "10.toml", MINIMAL + 'name = "front"\n')
    assert the_problem(main) == (f'{dropin}: board[1].name = "front": expected a name no other board has; '
                                 'board[0] is already named "front"')


def test_duplicate_of_a_default_board_name(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + 'name = "sim1"\n' + MINIMAL)
    assert the_problem(main) == (f'{main}: board[1].name = "sim1" (the default name): expected a name no other '
                                 'board has; board[0] is already named "sim1"')


def test_operator_station_must_be_a_station_line(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + '[handler]\noperator_station = 3\n')
    assert the_problem(main) == (
        f'{main}: handler.operator_station = 3: expected the number of a station line; line 3 is a trunk of '
        'board "sim0", station lines are 5-6 (lines are numbered from 1 across boards, each board\'s trunks first)')


def test_operator_station_beyond_the_last_line(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + '[handler]\noperator_station = 7\n')
    assert "there are 6 lines, station lines are 5-6" in the_problem(main)


def test_operator_station_on_a_second_board(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + MINIMAL + 'trunks = 1\n[handler]\noperator_station = 8\n')
    config = load_config(main, env={})
    assert config.handler.operator_station == 8
    assert config.operator_line() == 8


def test_operator_station_of_wrong_type(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + '[handler]\noperator_station = "5"\n')
    assert the_problem(main) == (f'{main}: handler.operator_station = "5": expected a line number '
                                 '(an integer, 1 or more) (a number is written without quotes)')


def test_toml_syntax_error_names_file_line_and_column(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + '[engine]\ncountry = china\n')
    assert the_problem(main) == f"{main}: line 4, column 11: TOML syntax error: Invalid value"


def test_syntax_errors_of_every_file_are_reported_together(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + "trunks = 1\ntrunks = 2\n")
    dropin = write(tmp_path / "hotline.toml.d" / "10.toml", '[engine\n')
    problems = problems_of(main)
    assert len(problems) == 2
    assert problems[0].startswith(f"{main}: line 4, column ") and "TOML syntax error: Cannot overwrite" in problems[0]
    assert problems[1].startswith(f"{dropin}: line 1, column ")


def test_not_utf8(tmp_path):
    main = tmp_path / "hotline.toml"
    main.write_bytes(b'[[board]]\ndriver = "\xff"\n')
    assert the_problem(main).startswith(f"{main}: not UTF-8 text")


def test_missing_file(tmp_path):
    assert the_problem(tmp_path / "nope.toml") == f"{tmp_path / 'nope.toml'}: no such configuration file"


def test_missing_file_at_the_default_place_without_dropins(tmp_path):
    main = tmp_path / "hotline.toml"
    assert the_problem(None, env={"CONFIGURATION_DIRECTORY": str(tmp_path)}) == \
        f"{main}: no such configuration file, and no drop-ins in {tmp_path / 'hotline.toml.d'}/"


def test_several_errors_in_one_file_are_all_reported_at_once(tmp_path):
    main = write(tmp_path / "hotline.toml", """\
bogus = 1
[engine]
country = "mars"
drain_s = "30"
[paths]
state_dir = 7
[handler]
goodbye = "../x"
menu_retries = 99
[[board]]
driver = "sim"
trunks = -1
codec = "gsm"
echo_delay_ms = 501
tranks = 2
[[board]]
driver = "alsa"
""")
    problems = problems_of(main)
    keys = [re.match(rf"{re.escape(str(main))}: (\S+)", p).group(1) for p in problems]
    assert sorted(keys) == sorted(["bogus", "engine.country", "engine.drain_s", "paths.state_dir",
                                   "handler.goodbye", "handler.menu_retries", "board[0].tranks",
                                   "board[0].trunks", "board[0].codec", "board[0].echo_delay_ms",
                                   "board[1].driver"])
    error = ConfigError(problems)
    assert str(error) == "\n".join(problems)
    assert isinstance(error, HotlineError)
    assert 'did you mean "trunks"?' in problems[keys.index("board[0].tranks")]


# --- the shipped sample ------------------------------------------------------------------------

def test_the_sample_file_loads():
    config = load_config(SAMPLE, env={})
    assert config.source == (SAMPLE,)
    assert [board.driver for board in config.boards] == ["sim"]


def test_the_sample_shows_every_key_with_its_default(tmp_path):
    text = SAMPLE.read_text()
    uncommented = re.sub(r"(?m)^#(?=[a-z0-9_]+ = )", "", text)
    assert uncommented != text
    main = write(tmp_path / "hotline.toml", uncommented)
    assert dataclasses.replace(load_config(main, env={}), source=()) == \
        dataclasses.replace(load_config(SAMPLE, env={}), source=())
    shown = set(re.findall(r"(?m)^#?\s*([a-z0-9_]+) = ", text))
    every_key = {key for _, fields in cfg.SECTIONS.values() for key in fields}
    every_key |= set(cfg.BOARD_FIELDS) | set(cfg.DRIVERS["sim"].option_fields)
    assert every_key <= shown


# --- objects, lines, summary -----------------------------------------------------------------

def test_objects_are_frozen(tmp_path):
    config = load_config(write(tmp_path / "hotline.toml", MINIMAL), env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.engine.country = "north_america"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.boards[0].options.gain_db = 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.paths = None
    assert isinstance(config.boards, tuple) and isinstance(config.source, tuple)
    with pytest.raises(TypeError):
        cfg.DRIVERS["alsa"] = None
    hash(config)


def test_lines_are_numbered_across_boards_trunks_first(tmp_path):
    main = write(tmp_path / "hotline.toml", '[[board]]\ndriver = "sim"\nname = "a"\ntrunks = 2\nstations = 1\n'
                                            '[[board]]\ndriver = "sim"\nname = "b"\ntrunks = 1\nstations = 2\n')
    config = load_config(main, env={})
    assert config.lines() == (
        LineSpec(1, "trunk", "a", 0), LineSpec(2, "trunk", "a", 1), LineSpec(3, "station", "a", 2),
        LineSpec(4, "trunk", "b", 0), LineSpec(5, "station", "b", 1), LineSpec(6, "station", "b", 2),
    )
    assert config.operator_line() == 3


def test_operator_line_is_none_without_stations(tmp_path):
    config = load_config(write(tmp_path / "hotline.toml", MINIMAL + "stations = 0\n"), env={})
    assert config.operator_line() is None
    assert "operator (0): none" in summary(config)


def test_sim_codec_for_the_line_model():
    assert SimBoardOptions(codec="none").line_codec is None
    assert SimBoardOptions(codec="ulaw").line_codec == "ulaw"


def test_summary(tmp_path):
    main = write(tmp_path / "hotline.toml", MINIMAL + '[paths]\nstate_dir = "state"\n')
    write(tmp_path / "hotline.toml.d" / "10.toml", '[[board]]\ndriver = "sim"\nname = "b"\ntrunks = 1\nstations = 0\n')
    text = summary(load_config(main, env={}))
    assert text.splitlines() == [
        f"files: {main}, {tmp_path / 'hotline.toml.d' / '10.toml'}",
        "board sim0: driver sim, 4 trunks (lines 1-4), 2 stations (lines 5-6)",
        "board b: driver sim, 1 trunk (line 7), 0 stations",
        "lines: 7; operator (0): line 5",
        "engine: country china, language en, log level info, drain 30 s, watchdog on",
        f"paths: state {tmp_path / 'state'}, spool /var/spool/hotline, runtime /run/hotline, "
        "prompts (shipped with the package)",
    ]


def test_config_can_be_built_by_hand():
    config = Config((), EngineConfig(), PathsConfig(), (BoardConfig("sim", "s", 1, 1, SimBoardOptions()),),
                    HandlerConfig())
    assert [line.kind for line in config.lines()] == ["trunk", "station"]
