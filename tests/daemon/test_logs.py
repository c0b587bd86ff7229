"""hotline.daemon.logs: journald prefixes, journal detection, call context, reconfiguration."""

import io
import logging
import os
import re

import pytest

from hotline.daemon import logs


@pytest.fixture(autouse=True)
def restore_hotline_logger():
    """setup_logging changes the process-wide ``hotline`` logger; put it back after each test."""
    logger = logging.getLogger(logs.ROOT_LOGGER)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture
def child():
    """A logger below ``hotline`` that does not reach the root logger (pytest's capture)."""
    logging.getLogger(logs.ROOT_LOGGER).propagate = False
    return logging.getLogger("hotline.test.logs")


def configure(journal, level="debug"):
    out = io.StringIO()
    logs.setup_logging(level, stream=out, journal=journal)
    return out


def lines_of(out):
    return out.getvalue().splitlines()


def test_every_line_of_a_traceback_carries_the_priority(child):
    out = configure(journal=True)
    try:
        raise RuntimeError("board vanished\nsecond line of the message")
    except RuntimeError:
        child.exception("line 3: driver failed")
    lines = lines_of(out)
    assert len(lines) >= 5  # message, traceback header, frames, exception lines
    assert all(line.startswith("<3>") for line in lines), lines
    assert lines[0] == "<3>line 3: driver failed"
    assert "<3>Traceback (most recent call last):" in lines
    assert lines[-2:] == ["<3>RuntimeError: board vanished", "<3>second line of the message"]


@pytest.mark.parametrize("level, priority", [
    (logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
    (logging.INFO, 6), (logging.DEBUG, 7),
])
def test_levels_map_to_syslog_priorities(child, level, priority):
    out = configure(journal=True)
    child.log(level, "message")
    assert lines_of(out) == [f"<{priority}>message"]


def test_levels_between_the_named_ones_round_down():
    assert logs.journal_priority(logging.INFO + 5) == 6
    assert logs.journal_priority(logging.DEBUG - 5) == 7
    assert logs.journal_priority(logging.CRITICAL + 10) == 2


def test_journal_format_has_no_timestamp_and_no_trailing_empty_entry(child):
    out = configure(journal=True)
    child.info("ends with a newline\n")
    assert out.getvalue() == "<6>ends with a newline\n"


def test_human_format_has_timestamp_level_and_context(child):
    out = configure(journal=False)
    logs.call_logger(child, 3, 17).info("answered after %d rings", 2)
    [line] = lines_of(out)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO  line 3 call 17: answered after 2 rings", line
    ), line


def test_call_adapter_names_line_and_call(child):
    out = configure(journal=True)
    logs.call_logger(child, 3, 17).warning("caller hung up in queue")
    logs.call_logger(child, 3, None).info("ring detected")
    logs.call_logger(child, 4, 0).info("call id 0 is a call id")
    assert lines_of(out) == [
        "<4>line 3 call 17: caller hung up in queue",
        "<6>line 3: ring detected",
        "<6>line 4 call 0: call id 0 is a call id",
    ]


def test_call_adapter_exposes_the_context_as_record_attributes(child):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    configure(journal=True)  # level debug
    child.addHandler(Keep())
    try:
        logs.call_logger(child, 5, 9).info("x", extra={"digits": "12345"})
    finally:
        child.handlers.clear()
    [record] = records
    assert (record.hotline_line, record.hotline_call, record.digits) == (5, 9, "12345")


def test_reconfiguring_replaces_the_handler_and_changes_the_level(child):
    first = configure(journal=True, level="info")
    child.debug("not at info")
    second = configure(journal=True, level="debug")  # as a reload would
    child.debug("now at debug")
    child.info("once")
    assert lines_of(first) == []
    assert lines_of(second) == ["<7>now at debug", "<6>once"]


def test_reconfiguring_with_the_same_stream_writes_each_record_once(child):
    out = io.StringIO()
    for _ in range(3):
        logs.setup_logging("info", stream=out, journal=True)
    child.info("once")
    assert lines_of(out) == ["<6>once"]


def test_level_names_are_checked():
    assert logs.parse_level("WARNING") == logging.WARNING
    with pytest.raises(ValueError, match="accepted: debug, info, warning, error, critical"):
        logs.setup_logging("verbose", stream=io.StringIO())


def journal_stream_of(path):
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def test_journal_detected_when_journal_stream_names_our_stream(tmp_path, monkeypatch, child):
    ours = tmp_path / "stderr"
    with open(ours, "w") as stream:
        monkeypatch.setenv("JOURNAL_STREAM", journal_stream_of(ours))
        assert logs.is_journal_stream(stream)
        logs.setup_logging("info", stream=stream)  # journal=None: detect
        child.info("to the journal")
    assert ours.read_text() == "<6>to the journal\n"


def test_journal_not_detected_when_journal_stream_names_another_file(tmp_path, monkeypatch, child):
    other = tmp_path / "other"
    other.write_text("")
    ours = tmp_path / "stderr"
    with open(ours, "w") as stream:
        monkeypatch.setenv("JOURNAL_STREAM", journal_stream_of(other))
        assert not logs.is_journal_stream(stream)
        logs.setup_logging("info", stream=stream)
        child.info("to a terminal")
    assert ours.read_text().endswith(" INFO  to a terminal\n")
    assert not ours.read_text().startswith("<")


@pytest.mark.parametrize("value", [None, "", "garbage", "12:", ":34", "1:2:3"])
def test_journal_not_detected_without_a_usable_variable(tmp_path, value):
    env = {} if value is None else {"JOURNAL_STREAM": value}
    with open(tmp_path / "stderr", "w") as stream:
        assert not logs.is_journal_stream(stream, env)


def test_a_stream_without_a_descriptor_is_not_the_journal():
    assert not logs.is_journal_stream(io.StringIO(), {"JOURNAL_STREAM": "1:2"})
