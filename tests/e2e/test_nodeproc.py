"""The shared start/stop helper of the e2e suites (nodeproc.py) must keep
catching what every suite relies on it to catch: a node that does not come
up, an "error" line or a sanitizer report in its log, a non-zero exit."""
import os

import pytest

from conftest import API_PORTS, next_address
from nodeproc import Mailnode, bad_log_lines, config_text


def node(tmp_path, extra=""):
    addr = next_address()
    config = str(tmp_path / "node.ini")
    with open(config, "w") as f:
        f.write(config_text("npnode", str(tmp_path / "data"), addr,
                            {"http_port": API_PORTS["http_port"]}, "Np-admin-1", extra=extra))
    return Mailnode(config, str(tmp_path / "node.log"), addr)


def test_bad_log_lines_are_error_lines_and_sanitizer_reports():
    log = ("2026-11-28T04:00:00Z info main event=listen\n"
           "2026-11-28T04:00:01Z error smtp event=x\n"
           "==1==ERROR: AddressSanitizer: heap-use-after-free\n"
           "a.c:3:5: runtime error: signed integer overflow\n"
           "==1==ERROR: LeakSanitizer: detected memory leaks\n"
           "2026-11-28T04:00:02Z warn imap event=y error=none\n")
    assert len(bad_log_lines(log)) == 4


def test_stop_fails_on_an_error_line_in_the_log(tmp_path):
    n = node(tmp_path).start(ports=[API_PORTS["http_port"]])
    with open(n.log_path, "a") as f:
        f.write("2026-11-28T04:00:01Z error test event=injected\n")
    with pytest.raises(AssertionError, match="bad lines"):
        n.stop()
    # the log is kept over a restart, each start marked
    n.start(ports=[API_PORTS["http_port"]])
    assert n.stop(check=False).count("---- start ") == 2


def test_start_fails_when_the_node_exits(tmp_path):
    n = node(tmp_path, extra="[nosuchsection]\nkey = 1\n")
    with pytest.raises(pytest.fail.Exception, match="did not accept"):
        n.start(ports=[API_PORTS["http_port"]])
    assert n.proc is None and os.path.exists(n.log_path)
