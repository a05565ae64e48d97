"""mailnode's own start and stop (node/main.c): first-start bootstrap (this
node, admin `admin` with a generated password in data_dir/admin-password,
the [dev] domain), the listen log lines, one process per data_dir, and a
clean exit 0 on SIGTERM and SIGINT. Self-contained (no fixtures), so it
runs beside the API and mailctl suites.
"""
import base64
import json
import os
import re
import signal
import socket
import stat
import subprocess
import urllib.error
import urllib.request

from nodeproc import MAILNODE_BIN, Mailnode, config_text, wait_port

# 127.1.X.Y: apart from the other suites' 127.0.x.y addresses.
_next = [10]


def address():
    _next[0] += 1
    return "127.1.%d.%d" % (1 + os.getpid() % 250, _next[0])


def write_config(tmp_path, addr, admin_password="", extra=""):
    data_dir = str(tmp_path / "data")
    path = str(tmp_path / "node.ini")
    with open(path, "w") as f:
        f.write(config_text("dnode", data_dir, addr, {"http_port": 6080}, admin_password,
                            hostname="d.e2e.test", extra=extra))
    return path, data_dir


class Daemon(Mailnode):
    """mailnode, started at once; stop(sig) checks the clean end
    (nodeproc.py) and returns the log."""

    def __init__(self, config, log_path, addr):
        super().__init__(config, log_path, addr)
        self.start()

    def wait_port(self, port):
        assert wait_port(self.address, port, proc=self.proc), (
            "no listener on %s:%d\n%s" % (self.address, port, self.log()))


def get(addr, path, user, password):
    req = urllib.request.Request("http://%s:6080%s" % (addr, path), headers={
        "Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (user, password)).encode()).decode()})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def test_first_start_generates_admin_password_and_dev_domain(tmp_path):
    addr = address()
    config, data_dir = write_config(tmp_path, addr, extra="[dev]\ncreate_domain = dev.test\n")
    d = Daemon(config, str(tmp_path / "log"), addr)
    d.wait_port(6080)
    pwfile = os.path.join(data_dir, "admin-password")
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(pwfile).st_mode) == 0o600
    with open(pwfile) as f:
        password = f.read()
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}\n", password), password
    password = password.strip()
    status, domains = get(addr, "/api/v1/domains", "admin", password)
    assert status == 200 and [x["name"] for x in domains] == ["dev.test"]
    status, nodes = get(addr, "/api/v1/nodes", "admin", password)
    assert [(n["name"], n["state"], n["address"]) for n in nodes] == [
        ("dnode", "active", addr)]
    log = d.stop()
    assert "info main event=bootstrap admin=admin password_file=%s" % pwfile in log
    assert "info main event=listen service=http address=%s:6080" % addr in log

    # Second start: no new bootstrap, same password, same data.
    d = Daemon(config, str(tmp_path / "log2"), addr)
    d.wait_port(6080)
    with open(pwfile) as f:
        assert f.read().strip() == password
    status, domains = get(addr, "/api/v1/domains", "admin", password)
    assert [x["name"] for x in domains] == ["dev.test"]
    log = d.stop(signal.SIGINT)
    assert "event=bootstrap" not in log
    assert "event=shutdown signal=INT" in log


def test_initial_password_from_config_and_no_password_file(tmp_path):
    addr = address()
    config, data_dir = write_config(tmp_path, addr, admin_password="From-Config-1")
    d = Daemon(config, str(tmp_path / "log"), addr)
    d.wait_port(6080)
    assert get(addr, "/api/v1/status", "admin", "From-Config-1")[0] == 200
    assert not os.path.exists(os.path.join(data_dir, "admin-password"))
    assert "password_source=config" in d.stop()


def test_second_daemon_on_the_same_data_dir_is_refused(tmp_path):
    addr = address()
    config, data_dir = write_config(tmp_path, addr, admin_password="pw")
    d = Daemon(config, str(tmp_path / "log"), addr)
    d.wait_port(6080)
    r = subprocess.run([MAILNODE_BIN, "--config", config], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert "mailnode: %s is in use by another mailnode" % data_dir in r.stderr
    d.stop()


def test_port_in_use_fails_start_with_reason(tmp_path):
    addr = address()
    s = socket.socket()
    s.bind((addr, 6080))
    s.listen(1)
    try:
        config, _ = write_config(tmp_path, addr, admin_password="pw")
        r = subprocess.run([MAILNODE_BIN, "--config", config], capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
    finally:
        s.close()
    assert r.returncode == 1
    assert re.search(r"^mailnode: http %s:6080: .+" % re.escape(addr), r.stderr, re.M), r.stderr
    assert "Sanitizer" not in r.stderr


def test_ui_paths_are_static_files_others_404(tmp_path):
    """Paths outside /api/v1 are the web UI (docs/webmail.md): files of the
    web root with the UI's CSP; anything not there is 404."""
    addr = address()
    config, _ = write_config(tmp_path, addr, admin_password="pw")
    d = Daemon(config, str(tmp_path / "log"), addr)
    d.wait_port(6080)
    with urllib.request.urlopen("http://%s:6080/index.html" % addr, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    try:
        urllib.request.urlopen("http://%s:6080/no-such-page.html" % addr, timeout=10)
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404
    d.stop()
