"""End-to-end fixtures: run the real `mailnode` daemon and the `mailctl` client.

Each test module gets its own node on its own loopback address (127.0.B.N: B
derived from the pytest process id so that concurrent runs on one machine do
not collide, N from a per-module counter), its own data dir under a pytest
tmp dir, and the SPEC dev ports. Services a module does not need are off
(port 0). Readiness is polled against a deadline, never slept for.

Teardown sends SIGTERM and asserts a clean exit (code 0 within 10 s) and a
clean log: no "error" level line and no sanitizer report (nodeproc.py, the
one place every e2e suite starts and stops mailnode). The daemon's stderr is
kept in a file and printed when anything fails.

Environment (set by ctest): MAILNODE_BIN, MAILCTL_BIN, MN_SOURCE_DIR.
"""
import itertools
import os
import subprocess

import pytest

# MAILNODE_BIN is re-exported for the suites that import it from here
from nodeproc import MAILCTL_BIN, MAILNODE_BIN, Mailnode, config_text, fail_on_skips  # noqa: F401

ADMIN_PASSWORD = "e2e-admin-Secret1"

# SPEC §4 dev ports; 0 disables a service.
DEV_PORTS = {
    "smtp_port": 2525, "submission_port": 2587, "smtps_port": 2465,
    "imap_port": 2143, "imaps_port": 2993, "pop3_port": 2110, "pop3s_port": 2995,
    "http_port": 6080, "https_port": 6443, "raft_port": 7100, "rpc_port": 7101,
}
# Services an admin-API test needs; mail protocols off unless asked for.
API_PORTS = {k: (v if k in ("http_port", "https_port", "raft_port", "rpc_port") else 0)
             for k, v in DEV_PORTS.items()}

# Loopback addresses: the third octet from the pid (never 0, which the
# cluster suite and `make run` use), the fourth from a counter.
_OCTET3 = 10 + os.getpid() % 240
_counter = itertools.count(10)


def next_address():
    n = next(_counter)
    assert n < 255, "out of loopback addresses"
    return "127.0.%d.%d" % (_OCTET3, n)


def write_config(path, name, data_dir, address, ports, admin_password=ADMIN_PASSWORD,
                 extra=""):
    text = config_text(name, data_dir, address, ports, admin_password,
                       extra="[log]\nlevel = info\n" + extra)
    with open(path, "w") as f:
        f.write("; written by tests/e2e/conftest.py\n" + text)


class Node(Mailnode):
    """One mailnode process with its config and data dir (nodeproc.Mailnode:
    start polls the HTTP(S) port, stop checks exit 0 and a clean log)."""

    def __init__(self, tmpdir, name="node1", address=None, ports=None,
                 admin_password=ADMIN_PASSWORD, extra=""):
        self.dir = str(tmpdir)
        self.name = name
        self.ports = dict(ports or API_PORTS)
        self.admin_password = admin_password
        self.data_dir = os.path.join(self.dir, "data")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        super().__init__(os.path.join(self.dir, "node.ini"), self.stderr_path,
                         address or next_address(), cwd=self.dir)
        write_config(self.config, name, self.data_dir, self.address, self.ports,
                     admin_password, extra)

    @property
    def http_port(self):
        return self.ports["http_port"]

    @property
    def https_port(self):
        return self.ports["https_port"]

    @property
    def url(self):
        return "http://%s:%d" % (self.address, self.http_port)

    def stderr_text(self):
        return self.log()

    def start(self):
        return super().start(ports=[self.http_port or self.https_port])

    def restart(self):
        self.stop()
        return self.start()

    def mailctl(self, *args, password=None, user=None, env=None, input=None):
        """Run mailctl against this node; returns CompletedProcess (text)."""
        e = dict(os.environ)
        for k in ("MAILCTL_SERVER", "MAILCTL_USER", "MAILCTL_PASSWORD", "MAILCTL_INSECURE",
                  "MAILCTL_CACERT"):
            e.pop(k, None)
        e["MAILCTL_SERVER"] = self.url
        e["MAILCTL_PASSWORD"] = password if password is not None else self.admin_password
        if user is not None:
            e["MAILCTL_USER"] = user
        if env:
            e.update(env)
        return subprocess.run([MAILCTL_BIN] + [str(a) for a in args], env=e,
                              capture_output=True, text=True, timeout=60, input=input)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A running node with the admin API (HTTP + HTTPS), shared by a module."""
    n = Node(tmp_path_factory.mktemp("node"))
    n.start()
    yield n
    n.stop()


@pytest.fixture
def make_node(tmp_path_factory):
    """Factory for nodes a single test owns; stopped (and checked) at teardown."""
    nodes = []

    def make(**kw):
        n = Node(tmp_path_factory.mktemp("node"), **kw)
        nodes.append(n)
        return n

    make.nodes = nodes  # for the failure report below
    yield make
    for n in nodes:
        n.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the daemon's stderr to a failing test's report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        nodes = []
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Node):
                nodes.append(value)
            nodes.extend(getattr(value, "nodes", []))
        for n in nodes:
            rep.sections.append(("mailnode stderr (%s)" % n.address, n.stderr_text()))


# a skipped test fails `make test` (nodeproc.fail_on_skips)
pytest_sessionfinish = fail_on_skips
