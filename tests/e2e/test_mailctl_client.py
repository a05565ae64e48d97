"""mailctl against a scripted fake API server: the exact requests it sends
(method, %-encoded path, Basic auth, JSON body) and the exact output and
exit code it produces for each kind of answer. Needs no daemon, so the
client's behaviour is pinned down independently of the server.
"""
import base64
import http.server
import json
import os
import ssl
import subprocess
import threading

import pytest

from conftest import MAILCTL_BIN, next_address


class FakeApi:
    """Answers each (METHOD, raw path) from `routes`; records requests."""

    def __init__(self, address, tls_ctx=None):
        self.routes = {}
        self.requests = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                api.requests.append({"method": self.command, "path": self.path,
                                     "headers": dict(self.headers), "body": body})
                status, payload = api.routes.get((self.command, self.path),
                                                 (404, {"error": "no route"}))
                data = b"" if payload is None else (
                    payload if isinstance(payload, bytes) else
                    (json.dumps(payload) + "\n").encode())
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = handle_any

        self.server = http.server.ThreadingHTTPServer((address, 0), Handler)
        if tls_ctx is not None:
            self.server.socket = tls_ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        scheme = "https" if tls_ctx is not None else "http"
        self.url = "%s://%s:%d" % (scheme, address, self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api():
    a = FakeApi(ADDRESS)
    yield a
    a.close()


ADDRESS = next_address()


def run(api, *args, env=None, password="pw"):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
    e["MAILCTL_SERVER"] = api.url if api is not None else "http://%s:1" % ADDRESS
    if password is not None:
        e["MAILCTL_PASSWORD"] = password
    e.update(env or {})
    return subprocess.run([MAILCTL_BIN] + list(args), env=e, capture_output=True,
                          text=True, timeout=30)


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


USER = {"address": "bob@a.test", "name": "Bob B", "home_node": "node1",
        "quota_bytes": 104857600, "quota_messages": 0, "used_bytes": 2048,
        "used_messages": 3, "flags": ["readonly"], "max_message_size": 0,
        "expires_at": None, "created_at": 1795831748}


def test_user_show_percent_encodes_address_and_sends_basic_auth(api):
    api.routes[("GET", "/api/v1/users/bob%40a.test")] = (200, USER)
    r = run(api, "user", "show", "bob@a.test")
    assert r.returncode == 0, r.stderr
    req = api.requests[0]
    assert req["headers"]["Authorization"] == basic("admin", "pw")
    assert r.stdout == (
        "address:          bob@a.test\n"
        "name:             Bob B\n"
        "home node:        node1\n"
        "quota:            100M\n"
        "quota messages:   unlimited\n"
        "used:             2K\n"
        "used messages:    3\n"
        "flags:            readonly\n"
        "max message size: unlimited\n"
        "expires:          never\n"
        "created:          2026-11-28T02:09:08Z\n")


def test_json_anywhere_prints_body_exactly(api):
    body = b'{"address": "bob@a.test",   "name": "x"}\n'
    api.routes[("GET", "/api/v1/users/bob%40a.test")] = (200, body)
    for argv in (["--json", "user", "show", "bob@a.test"],
                 ["user", "--json", "show", "bob@a.test"],
                 ["user", "show", "bob@a.test", "--json"]):
        r = run(api, *argv)
        assert (r.returncode, r.stdout, r.stderr) == (0, body.decode(), "")


def test_user_add_sends_json_body_with_quota_in_bytes(api):
    api.routes[("POST", "/api/v1/users")] = (201, USER)
    r = run(api, "--password", "adminpw", "user", "add", "bob@a.test", "--password", "x y",
            "--quota", "100M", "--name", "Bob B", "--node", "node1")
    assert (r.returncode, r.stdout, r.stderr) == (0, "user bob@a.test added\n", "")
    req = api.requests[0]
    assert req["headers"]["Authorization"] == basic("admin", "adminpw")
    assert req["headers"]["Content-Type"] == "application/json"
    assert json.loads(req["body"]) == {"address": "bob@a.test", "password": "x y",
                                       "quota": 104857600, "name": "Bob B", "node": "node1"}


def test_global_options_with_equals_and_env_user(api):
    api.routes[("GET", "/api/v1/domains")] = (200, [])
    r = run(api, "domain", "list", "--user=boss", "--password=p:w", password=None)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "DOMAIN  USERS  ALIASES  CREATED\n"
    assert api.requests[0]["headers"]["Authorization"] == basic("boss", "p:w")
    r = run(api, "domain", "list", env={"MAILCTL_USER": "dadmin"})
    assert api.requests[1]["headers"]["Authorization"] == basic("dadmin", "pw")


def test_api_error_prints_reason_and_exits_1(api):
    api.routes[("POST", "/api/v1/users")] = (409, {"error": "user bob@a.test exists"})
    r = run(api, "user", "add", "bob@a.test", "--password", "x")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "mailctl: user bob@a.test exists\n")


def test_error_without_json_body_names_the_status(api):
    api.routes[("GET", "/api/v1/domains")] = (500, b"oops")
    r = run(api, "domain", "list")
    assert (r.returncode, r.stderr) == (1, "mailctl: server answered HTTP 500\n")


def test_401_without_password_gives_a_hint(api):
    api.routes[("GET", "/api/v1/domains")] = (401, {"error": "authentication required"})
    r = run(api, "domain", "list", password=None)
    assert r.returncode == 1
    assert r.stderr == ("mailctl: authentication required (no password given: "
                        "use --password or MAILCTL_PASSWORD)\n")
    assert "Authorization" not in api.requests[0]["headers"]


def test_transport_error_exits_1():
    r = run(None, "domain", "list")
    assert r.returncode == 1
    assert r.stderr.startswith("mailctl: cannot reach http://%s:1: " % ADDRESS)
    assert r.stderr.count("\n") == 1


@pytest.mark.parametrize("argv", [
    [],
    ["frobnicate"],
    ["user"],
    ["user", "show"],
    ["user", "show", "a@b", "extra"],
    ["user", "add", "bob@a.test"],              # --password required
    ["user", "add", "bob@a.test", "--password", "x", "--quota", "lots"],
    ["user", "add", "bob@a.test", "--password", "x", "--password", "y"],
    ["domain", "list", "--bogus", "1"],
    ["domain", "add", "--json=1", "a.test"],
    ["alias", "add", "a@a.test"],               # needs a target
    ["-x", "domain", "list"],
    ["domain", "add", ""],
])
def test_usage_errors_exit_2_with_usage(api, argv):
    r = run(api, *argv)
    assert r.returncode == 2, (argv, r.stdout, r.stderr)
    assert r.stderr.startswith("mailctl: ")
    assert "usage: mailctl [OPTIONS] COMMAND [ARGS]" in r.stderr
    assert r.stdout == ""
    assert api.requests == []


def test_help_and_version():
    r = run(None, "--help")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("usage: mailctl [OPTIONS] COMMAND [ARGS]\n")
    for line in ("  user add ADDRESS --password P [--node NODE] [--quota SIZE] "
                 "[--name \"Real Name\"]\n", "  group member add GROUP MEMBER\n",
                 "  cluster status\n", "  node drain NODE\n"):
        assert line in r.stdout
    r = run(None, "--version")
    assert (r.returncode, r.stdout) == (0, "mailctl 0.1.0\n")


# Each command: argv, the request it must send, the canned answer, the
# exact human output.
COMMANDS = [
    (["domain", "add", "a.test"], "POST", "/api/v1/domains", {"name": "a.test"},
     201, {"name": "a.test", "aliases": [], "users": 0, "created_at": "t"},
     "domain a.test added\n"),
    (["domain", "del", "a.test"], "DELETE", "/api/v1/domains/a.test", None, 204, None,
     "domain a.test deleted\n"),
    (["domain", "list"], "GET", "/api/v1/domains", None, 200,
     [{"name": "a.test", "aliases": ["b.test", "c.test"], "users": 12,
       "created_at": 1795831748},
      {"name": "long-domain.test", "aliases": [], "users": 0, "created_at": "t2"}],
     "DOMAIN            USERS  ALIASES        CREATED\n"
     "a.test            12     b.test,c.test  2026-11-28T02:09:08Z\n"
     "long-domain.test  0      -              t2\n"),
    (["domain", "alias", "add", "a.test", "b.test"], "POST", "/api/v1/domains/a.test/aliases",
     {"alias": "b.test"}, 201, {}, "domain alias b.test -> a.test added\n"),
    (["domain", "alias", "del", "a.test", "b.test"], "DELETE",
     "/api/v1/domains/a.test/aliases/b.test", None, 204, None,
     "domain alias b.test deleted\n"),
    (["user", "del", "bob@a.test"], "DELETE", "/api/v1/users/bob%40a.test", None, 204, None,
     "user bob@a.test deleted\n"),
    (["user", "passwd", "bob@a.test", "n3w pass"], "PATCH", "/api/v1/users/bob%40a.test",
     {"password": "n3w pass"}, 200, USER, "password of bob@a.test changed\n"),
    (["user", "list", "a.test"], "GET",
     "/api/v1/users?offset=0&limit=200&usage=1&domain=a.test",
     None, 200, [USER, dict(USER, address="eve@a.test", name="", quota_bytes=0,
                            home_node="node2", used_bytes=None, used_messages=None,
                            usage="unavailable")],
     "ADDRESS     NAME   NODE   QUOTA      USED\n"
     "bob@a.test  Bob B  node1  100M       2K\n"
     "eve@a.test  -      node2  unlimited  ?\n"),
    (["user", "move", "bob@a.test", "node2"], "POST", "/api/v1/users/bob%40a.test/move",
     {"node": "node2", "wait": False}, 200, dict(USER, home_node="node2"),
     "moving bob@a.test to node2 ...\nbob@a.test is on node2\n"),
    (["alias", "add", "info@a.test", "bob@a.test", "x@b.test"], "POST", "/api/v1/aliases",
     {"address": "info@a.test", "targets": ["bob@a.test", "x@b.test"]}, 201, {},
     "alias info@a.test -> bob@a.test, x@b.test added\n"),
    (["alias", "del", "info@a.test"], "DELETE", "/api/v1/aliases/info%40a.test", None, 204,
     None, "alias info@a.test deleted\n"),
    (["alias", "list", "a.test"], "GET", "/api/v1/aliases?domain=a.test", None, 200,
     [{"address": "info@a.test", "targets": ["bob@a.test", "x@b.test"]}],
     "ALIAS        TARGETS\ninfo@a.test  bob@a.test,x@b.test\n"),
    (["group", "add", "staff@a.test", "--name", "Staff"], "POST", "/api/v1/groups",
     {"address": "staff@a.test", "name": "Staff"}, 201, {}, "group staff@a.test added\n"),
    (["group", "del", "staff@a.test"], "DELETE", "/api/v1/groups/staff%40a.test", None, 204,
     None, "group staff@a.test deleted\n"),
    (["group", "member", "add", "staff@a.test", "bob@a.test"], "POST",
     "/api/v1/groups/staff%40a.test/members", {"member": "bob@a.test"}, 201, {},
     "bob@a.test added to group staff@a.test\n"),
    (["group", "member", "del", "staff@a.test", "bob@a.test"], "DELETE",
     "/api/v1/groups/staff%40a.test/members/bob%40a.test", None, 204, None,
     "bob@a.test removed from group staff@a.test\n"),
    (["group", "list"], "GET", "/api/v1/groups", None, 200,
     [{"address": "staff@a.test", "name": "Staff", "members": ["bob@a.test", "eve@a.test"]}],
     "GROUP         NAME   MEMBERS\nstaff@a.test  Staff  bob@a.test,eve@a.test\n"),
    (["group", "show", "staff@a.test"], "GET", "/api/v1/groups/staff%40a.test", None, 200,
     {"address": "staff@a.test", "name": "Staff", "members": ["bob@a.test"]},
     "group:   staff@a.test\nname:    Staff\nmembers:\n  bob@a.test\n"),
    (["admin", "add", "dadmin", "--password", "pw2", "--domain", "a.test"], "POST",
     "/api/v1/admins", {"name": "dadmin", "password": "pw2", "domain": "a.test"}, 201, {},
     "admin dadmin added for domain a.test\n"),
    (["admin", "del", "dadmin"], "DELETE", "/api/v1/admins/dadmin", None, 204, None,
     "admin dadmin deleted\n"),
    (["admin", "list"], "GET", "/api/v1/admins", None, 200,
     [{"name": "admin", "domain": None}, {"name": "dadmin", "domain": "a.test"}],
     "ADMIN   DOMAIN\nadmin   (all domains)\ndadmin  a.test\n"),
    (["node", "list"], "GET", "/api/v1/nodes", None, 200,
     [{"name": "node1", "state": "active", "address": "127.0.0.1:7101", "users": 2}],
     "NODE   STATE   ADDRESS         USERS\nnode1  active  127.0.0.1:7101  2\n"),
    (["node", "drain", "node1"], "POST", "/api/v1/nodes/node1/drain", None, 200, {},
     "draining node1 ...\nnode node1 drained\n"),
    (["node", "remove", "node 2"], "DELETE", "/api/v1/nodes/node%202", None, 204, None,
     "node node 2 removed\n"),
    (["cluster", "status"], "GET", "/api/v1/cluster", None, 200,
     {"leader": "node1", "commit_index": 7, "members": [
         {"name": "node1", "role": "leader", "state": "active", "address": "127.0.0.1:7100",
          "commit_index": 7, "applied_index": 7, "last_contact_ms": 0, "reachable": True},
         {"name": "node2", "role": "follower", "state": "active", "address": "127.0.0.2:7100",
          "commit_index": 6, "applied_index": 5, "last_contact_ms": 12, "reachable": True},
         {"name": "node3", "role": "follower", "state": "active", "address": "127.0.0.3:7100",
          "commit_index": None, "applied_index": None, "last_contact_ms": None,
          "reachable": False, "error": "no answer within the status deadline"}]},
     "leader: node1\ncommit index: 7\n"
     "NODE   ROLE      STATE   ADDRESS         COMMIT  APPLIED  LAST CONTACT\n"
     "node1  leader    active  127.0.0.1:7100  7       7        0ms\n"
     "node2  follower  active  127.0.0.2:7100  6       5        12ms\n"
     "node3  follower  active  127.0.0.3:7100  -       -        unreachable\n"),
    (["status"], "GET", "/api/v1/status", None, 200,
     {"node": "node1", "version": "0.1.0", "uptime_s": 5, "hostname": "mail1"},
     "node node1 (mailnode 0.1.0) hostname mail1, up 5s\n"),
]


@pytest.mark.parametrize("argv,method,path,body,status,answer,out", COMMANDS,
                         ids=[" ".join(c[0]) for c in COMMANDS])
def test_command_request_and_human_output(api, argv, method, path, body, status, answer,
                                          out):
    api.routes[(method, path)] = (status, answer)
    r = run(api, *argv)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert r.stdout == out
    assert len(api.requests) == 1
    req = api.requests[0]
    assert (req["method"], req["path"]) == (method, path)
    if body is None:
        assert req["body"] == b""
    else:
        assert json.loads(req["body"]) == body
    # --json: the API's bytes, nothing else (204: nothing at all).
    r = run(api, "--json", *argv)
    expected = "" if answer is None else json.dumps(answer) + "\n"
    assert (r.returncode, r.stdout, r.stderr) == (0, expected, "")


def test_blocking_command_reports_501(api):
    api.routes[("POST", "/api/v1/nodes/node1/drain")] = (
        501, {"error": "draining needs the cluster (not yet)"})
    r = run(api, "node", "drain", "node1")
    assert r.returncode == 1
    assert r.stdout == "draining node1 ...\n"
    assert r.stderr == "mailctl: draining needs the cluster (not yet)\n"


def test_user_list_follows_pages(api):
    page1 = [dict(USER, address="u%04d@a.test" % i) for i in range(200)]
    page2 = [dict(USER, address="w%04d@a.test" % i) for i in range(200)]
    page3 = [dict(USER, address="v@a.test")]
    api.routes[("GET", "/api/v1/users?offset=0&limit=200&usage=1")] = (200, page1)
    api.routes[("GET", "/api/v1/users?offset=200&limit=200&usage=1")] = (200, page2)
    api.routes[("GET", "/api/v1/users?offset=400&limit=200&usage=1")] = (200, page3)
    r = run(api, "--json", "user", "list")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert [u["address"] for u in got] == [u["address"] for u in page1 + page2 + page3]
    r = run(api, "user", "list")
    assert r.stdout.count("\n") == 1 + 401


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=mailnode-e2e", "-addext",
                    "subjectAltName=IP:%s" % ADDRESS, "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def test_https_needs_insecure_or_cacert(tls_files):
    cert, key = tls_files
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    a = FakeApi(ADDRESS, tls_ctx=ctx)
    try:
        a.routes[("GET", "/api/v1/domains")] = (200, [])
        r = run(a, "domain", "list")
        assert r.returncode == 1
        assert r.stderr.startswith("mailctl: cannot reach %s: " % a.url)
        r = run(a, "domain", "list", "--insecure")
        assert (r.returncode, r.stderr) == (0, "")
        r = run(a, "domain", "list", env={"MAILCTL_INSECURE": "1"})
        assert (r.returncode, r.stderr) == (0, "")
        r = run(a, "domain", "list", "--cacert", cert)
        assert (r.returncode, r.stderr) == (0, "")
    finally:
        a.close()
