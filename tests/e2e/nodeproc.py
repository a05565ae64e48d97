"""The one way the e2e suites run the real `mailnode` daemon: start it with a
config file, wait until its ports accept (polled against a deadline, never
slept for), stop it with a signal and check a clean end: exit code 0 within
the stop deadline, no "error" level line and no sanitizer report in its log.

Each suite writes its own config (ports, [limits], [dev] ...) with
config_text and adds its own client helpers on top of Mailnode (conftest.py
for the API/mailctl/SMTP suites; test_daemon, test_imap, test_limits,
test_pop3 and test_real_clients for theirs). tests/cluster/conftest.py
builds its cluster Node on Mailnode too (it imports this file by path).

Environment (set by ctest): MAILNODE_BIN, MAILCTL_BIN, MN_SOURCE_DIR.
"""
import os
import re
import signal
import socket
import subprocess
import time

import pytest

SOURCE_DIR = os.environ.get(
    "MN_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MAILNODE_BIN = os.environ.get("MAILNODE_BIN", os.path.join(SOURCE_DIR, "build", "mailnode"))
MAILCTL_BIN = os.environ.get("MAILCTL_BIN", os.path.join(SOURCE_DIR, "build", "mailctl"))

START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 10.0
POLL_S = 0.02  # poll interval within every deadline

# Any sanitizer report (ASan, UBSan, LSan).
SANITIZER_REPORT = r"(ERROR: AddressSanitizer)|(runtime error:)|(LeakSanitizer)"
SANITIZER_LINE = re.compile(SANITIZER_REPORT, re.M)
# An "error" level log line, or any sanitizer report.
BAD_LOG_LINE = re.compile(r"(^\S+ error )|" + SANITIZER_REPORT, re.M)

# Every listener port the config knows; config_text writes 0 (off) for
# those a suite does not give.
ALL_PORTS = ("smtp_port", "submission_port", "smtps_port", "imap_port", "imaps_port",
             "pop3_port", "pop3s_port", "http_port", "https_port")


def poll(fn, what, deadline_s=START_DEADLINE_S):
    """Call fn until it returns a true value (returned); AssertionError
    naming `what` once the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(POLL_S)


def accepts(address, port):
    """One TCP connect to (address, port): True when it was accepted."""
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_port(address, port, deadline_s=START_DEADLINE_S, proc=None):
    """Poll until (address, port) accepts a connection: True; False when the
    deadline passes or proc (if given) exits first."""
    deadline = time.monotonic() + deadline_s
    while True:
        if proc is not None and proc.poll() is not None:
            return False
        if accepts(address, port):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)


def bad_log_lines(log):
    return [m.group(0) for m in BAD_LOG_LINE.finditer(log)]


def config_text(name, data_dir, address, ports, admin_password="", hostname=None,
                limits=None, extra=""):
    """A node config: [node], [listen] with every port of ALL_PORTS (0 unless
    given in ports, a dict; other keys of ports such as raft_port are written
    too), [admin] initial_password, [limits] from a dict or a string of
    lines, then extra (further sections) as given."""
    lines = ["[node]", "name = %s" % name, "data_dir = %s" % data_dir,
             "hostname = %s" % (hostname or name + ".e2e.test"),
             "[listen]", "address = %s" % address]
    for k in ALL_PORTS:
        lines.append("%s = %d" % (k, ports.get(k, 0)))
    lines += ["%s = %d" % (k, v) for k, v in ports.items() if k not in ALL_PORTS]
    lines += ["[admin]", "initial_password = %s" % (admin_password or "")]
    text = "\n".join(lines) + "\n"
    if limits is not None:
        text += "[limits]\n" + (limits if isinstance(limits, str) else
                                "".join("%s = %s\n" % kv for kv in limits.items()))
    return text + extra


class Mailnode:
    """One mailnode process on a config file. Its stdout and stderr go to
    log_path, appended over restarts with a "---- start N ----" line before
    each start. stop() asserts the clean end described above."""

    stop_deadline_s = STOP_DEADLINE_S

    def __init__(self, config, log_path, address, cwd=None):
        self.config = config
        self.log_path = log_path
        self.address = address
        self.cwd = cwd
        self.proc = None
        self.starts = 0

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def start(self, ports=()):
        """Run mailnode, then wait until each of ports accepts (0: skipped).
        Fails the test (with the log) if it exits or a port stays closed."""
        assert self.proc is None, "already running"
        self.starts += 1
        with open(self.log_path, "a") as f:
            f.write("---- start %d ----\n" % self.starts)
            f.flush()
            self.proc = subprocess.Popen([MAILNODE_BIN, "--config", self.config],
                                         stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                         cwd=self.cwd)
        for port in ports:
            if port and not wait_port(self.address, port, proc=self.proc):
                rc = self.proc.poll()
                if rc is None:
                    self.proc.kill()
                    self.proc.wait()
                self.proc = None
                pytest.fail("mailnode did not accept on %s:%d (exit %s); log:\n%s"
                            % (self.address, port, rc, self.log()))
        return self

    def running(self):
        """True while the process runs (for polls: a dead node ends them)."""
        return self.proc is not None and self.proc.poll() is None

    def signal_wait(self, sig, deadline_s):
        """Send sig and wait up to deadline_s for the exit, killing it after
        that: (exit code, whether it had to be killed). Checks nothing."""
        proc, self.proc = self.proc, None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=deadline_s), False
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(), True

    def stop(self, sig=signal.SIGTERM, check=True):
        """Send sig; assert exit 0 within stop_deadline_s and a log without
        bad lines (unless check is False). Returns the log."""
        if self.proc is None:
            return self.log()
        rc, killed = self.signal_wait(sig, self.stop_deadline_s)
        if killed:
            pytest.fail("mailnode did not exit within %ss of %s; log:\n%s"
                        % (self.stop_deadline_s, signal.Signals(sig).name, self.log()))
        log = self.log()
        if check:
            assert rc == 0, "mailnode exit code %s; log:\n%s" % (rc, log)
            bad = bad_log_lines(log)
            assert not bad, "bad lines in the mailnode log %s:\n%s" % (bad, log)
        return log


def fail_on_skips(session, exitstatus):
    """pytest_sessionfinish of both suites: under `make test` (MN_NO_SKIPS=1,
    set by CMake) a skipped test fails the run. Every tool a test needs is
    installed by deploy/install-deps.sh, so a skip there means a check
    silently did not run."""
    if os.environ.get("MN_NO_SKIPS") != "1":
        return
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = tr.stats.get("skipped", []) if tr is not None else []
    if skipped:
        for rep in skipped:
            print("\nSKIPPED under make test: %s %s" % (rep.nodeid, rep.longrepr))
        session.exitstatus = 1
