"""Domain administrators stay inside their own domains, on EVERY admin API
endpoint, and the web admin's bearer-token sessions (POST /api/v1/session)
behave as docs/api.md says.

The scope test reads the route table of node/admin/api.c and fails when a
route has no case here: a new endpoint must say what a domain admin of
own.test gets when it names other.test (403 for another domain or a
system-only endpoint, 404 where the object cannot be named at all), and
what it gets for its own domain. Nothing outside the admin's domain may
change: the directory is compared before and after.
"""
import base64
import http.client
import json
import os
import re

import pytest

from conftest import ADMIN_PASSWORD, Node
from nodeproc import SOURCE_DIR

DADM = ("scopeadm", "Scope-pw1")


def call(node, method, path, body=None, user="admin", password=ADMIN_PASSWORD, token=None,
         headers=None):
    h = {}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    elif user is not None:
        h["Authorization"] = "Basic " + base64.b64encode(
            ("%s:%s" % (user, password)).encode()).decode()
    if body is not None:
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    conn = http.client.HTTPConnection(node.address, node.http_port, timeout=30)
    try:
        conn.request(method, "/api/v1" + path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, (json.loads(data) if data else None), resp
    finally:
        conn.close()


def ok(node, method, path, body=None, **kw):
    status, data, _ = call(node, method, path, body, **kw)
    assert 200 <= status < 300, (method, path, status, data)
    return data


def dcall(node, method, path, body=None):
    return call(node, method, path, body, user=DADM[0], password=DADM[1])


@pytest.fixture(scope="module")
def scoped(tmp_path_factory):
    # many short connections from one address: no per-minute connection cap
    node = Node(tmp_path_factory.mktemp("scope"),
                extra="[limits]\nconn_per_minute_per_ip = 0\n")
    node.start()
    try:
        populate(node)
        yield node
    finally:
        node.stop()


def populate(node):
    for d in ("own.test", "other.test"):
        ok(node, "POST", "/domains", {"name": d})
    ok(node, "POST", "/domains/own.test/aliases", {"alias": "own-alias.test"})
    ok(node, "POST", "/domains/other.test/aliases", {"alias": "other-alias.test"})
    for u in ("ann@own.test", "bob@other.test"):
        ok(node, "POST", "/users", {"address": u, "password": "User-pw1"})
    ok(node, "POST", "/aliases", {"address": "info@other.test", "targets": ["bob@other.test"]})
    ok(node, "POST", "/groups", {"address": "staff@other.test", "name": "Staff"})
    ok(node, "POST", "/groups/staff%40other.test/members", {"member": "bob@other.test"})
    ok(node, "POST", "/admins", {"name": DADM[0], "password": DADM[1], "domain": "own.test"})


# (method, route pattern in api.c, concrete path naming other.test, body,
#  statuses a domain admin of own.test may get)
OTHER = [
    ("GET", "status", "/status", None, (200,)),  # counted below: own domain only
    ("GET", "session", "/session", None, (200,)),
    ("DELETE", "session", "/session", None, (400,)),  # Basic: no session to end
    ("GET", "domains", "/domains", None, (200,)),  # checked below: own only
    ("POST", "domains", "/domains", {"name": "new.test"}, (403,)),
    ("GET", "domains/*", "/domains/other.test", None, (403,)),
    ("DELETE", "domains/*", "/domains/other.test", None, (403,)),
    ("POST", "domains/*/aliases", "/domains/other.test/aliases", {"alias": "x.test"}, (403,)),
    ("DELETE", "domains/*/aliases/*", "/domains/other.test/aliases/other-alias.test", None,
     (403,)),
    ("GET", "domains/*/dkim", "/domains/other.test/dkim", None, (403,)),
    ("POST", "domains/*/dkim", "/domains/other.test/dkim", {}, (403,)),
    ("DELETE", "domains/*/dkim", "/domains/other.test/dkim", None, (403,)),
    ("GET", "users", "/users?domain=other.test", None, (403,)),
    ("POST", "users", "/users", {"address": "eve@other.test", "password": "pw"}, (403,)),
    ("GET", "users/*", "/users/bob%40other.test", None, (403,)),
    ("PATCH", "users/*", "/users/bob%40other.test", {"quota": "1M"}, (403,)),
    ("DELETE", "users/*", "/users/bob%40other.test", None, (403,)),
    ("POST", "users/*/move", "/users/bob%40other.test/move", {"node": "node1"}, (403,)),
    ("DELETE", "users/*/move", "/users/bob%40other.test/move", None, (403,)),
    ("GET", "aliases", "/aliases?domain=other.test", None, (403,)),
    ("POST", "aliases", "/aliases", {"address": "x@other.test", "targets": ["ann@own.test"]},
     (403,)),
    ("GET", "aliases/*", "/aliases/info%40other.test", None, (403,)),
    ("DELETE", "aliases/*", "/aliases/info%40other.test", None, (403,)),
    ("GET", "groups", "/groups?domain=other.test", None, (403,)),
    ("POST", "groups", "/groups", {"address": "g@other.test"}, (403,)),
    ("GET", "groups/*", "/groups/staff%40other.test", None, (403,)),
    ("DELETE", "groups/*", "/groups/staff%40other.test", None, (403,)),
    ("POST", "groups/*/members", "/groups/staff%40other.test/members",
     {"member": "ann@own.test"}, (403,)),
    ("DELETE", "groups/*/members/*", "/groups/staff%40other.test/members/bob%40other.test",
     None, (403,)),
    ("GET", "admins", "/admins", None, (403,)),
    ("POST", "admins", "/admins", {"name": "x", "password": "pw"}, (403,)),
    ("PATCH", "admins/*", "/admins/admin", {"password": "pw"}, (403,)),
    ("DELETE", "admins/*", "/admins/admin", None, (403,)),
    ("GET", "nodes", "/nodes", None, (403,)),
    ("POST", "nodes/*/drain", "/nodes/node1/drain", None, (403,)),
    ("DELETE", "nodes/*", "/nodes/node1", None, (403,)),
    ("GET", "cluster", "/cluster", None, (200,)),  # no domain data in it
    ("GET", "queue", "/queue", None, (403,)),
    ("POST", "queue/*/retry", "/queue/x/retry", None, (403,)),
    ("DELETE", "queue/*", "/queue/x", None, (403,)),
    ("GET", "users/*/messages", "/users/bob%40other.test/messages", None, (403,)),
    ("GET", "users/*/messages/*/raw", "/users/bob%40other.test/messages/1/raw", None, (403,)),
    ("GET", "users/*/quarantine", "/users/bob%40other.test/quarantine", None, (403,)),
    ("POST", "users/*/quarantine/*/release", "/users/bob%40other.test/quarantine/1/release",
     None, (403,)),
    ("DELETE", "users/*/quarantine/*", "/users/bob%40other.test/quarantine/1", None, (403,)),
    ("GET", "users/*/prefs", "/users/bob%40other.test/prefs", None, (403,)),
    ("PUT", "users/*/prefs", "/users/bob%40other.test/prefs", {"language": "en"}, (403,)),
    ("GET", "domains/*/prefs", "/domains/other.test/prefs", None, (403,)),
    ("PUT", "domains/*/prefs", "/domains/other.test/prefs", {"send_messages_per_hour": "5"},
     (403,)),
    ("GET", "security/blocked", "/security/blocked", None, (403,)),
    ("DELETE", "security/blocked/*", "/security/blocked/127.0.0.9", None, (403,)),
]


def route_table():
    src = open(os.path.join(SOURCE_DIR, "node", "admin", "api.c")).read()
    return set(re.findall(r'\{ API_(GET|POST|PATCH|DELETE|PUT), "([^"]*)", api_\w+', src))


def directory_dump(node):
    return {p: ok(node, "GET", p) for p in
            ("/domains", "/users", "/aliases", "/groups", "/admins",
             "/domains/other.test/prefs", "/users/bob%40other.test/prefs")}


def test_every_route_has_a_scope_case():
    covered = {(m, pat) for m, pat, _, _, _ in OTHER}
    missing = route_table() - covered
    assert not missing, "routes without a domain-admin scope case: %s" % sorted(missing)


@pytest.mark.parametrize("method,pattern,path,body,want", OTHER,
                         ids=["%s %s" % (c[0], c[1]) for c in OTHER])
def test_domain_admin_is_refused_other_domain(scoped, method, pattern, path, body, want):
    before = directory_dump(scoped)
    status, data, _ = dcall(scoped, method, path, body)
    assert status in want, (method, path, status, data)
    if status >= 400:
        assert isinstance(data["error"], str) and data["error"]
    assert directory_dump(scoped) == before


def test_domain_alias_of_other_domain_is_other_domain(scoped):
    for method, path, body in [
            ("GET", "/domains/other-alias.test", None),
            ("GET", "/users/bob%40other-alias.test", None),
            ("POST", "/users", {"address": "x@other-alias.test", "password": "pw"}),
            ("GET", "/users?domain=other-alias.test", None)]:
        status, data, _ = dcall(scoped, method, path, body)
        assert status == 403, (method, path, status, data)


def test_domain_admin_lists_show_only_its_domain(scoped):
    assert [d["name"] for d in dcall(scoped, "GET", "/domains")[1]] == ["own.test"]
    assert {u["address"] for u in dcall(scoped, "GET", "/users")[1]} == {"ann@own.test"}
    assert {u["address"] for u in dcall(scoped, "GET", "/users?search=bob")[1]} == set()
    assert dcall(scoped, "GET", "/aliases")[1] == []
    assert {g["address"] for g in dcall(scoped, "GET", "/groups")[1]} <= {"everyone@own.test"}
    st = dcall(scoped, "GET", "/status")[1]
    assert (st["counts"]["domains"], st["counts"]["users"]) == (1, 1)
    st = ok(scoped, "GET", "/status")
    assert st["counts"]["domains"] >= 2 and st["counts"]["users"] >= 2


def test_domain_admin_manages_its_own_domain(scoped):
    assert dcall(scoped, "GET", "/domains/own.test")[0] == 200
    # a domain alias is in scope but is no domain object, as for a system admin
    assert dcall(scoped, "GET", "/domains/own-alias.test")[0] == 404
    assert dcall(scoped, "POST", "/users", {"address": "cy@own.test",
                                            "password": "User-pw1"})[0] == 201
    status, user, _ = dcall(scoped, "PATCH", "/users/cy%40own.test",
                            {"quota": "5M", "flags": ["readonly"]})
    assert (status, user["quota_bytes"], user["flags"]) == (200, 5 << 20, ["readonly"])
    assert dcall(scoped, "POST", "/aliases", {"address": "hi@own.test",
                                              "targets": ["cy@own.test"]})[0] == 201
    assert dcall(scoped, "POST", "/groups", {"address": "team@own.test"})[0] == 201
    assert dcall(scoped, "POST", "/groups/team%40own.test/members",
                 {"member": "cy@own.test"})[0] == 201
    assert dcall(scoped, "GET", "/users/cy%40own.test/messages")[0] == 200
    for method, path in [("DELETE", "/groups/team%40own.test"),
                         ("DELETE", "/aliases/hi%40own.test"),
                         ("DELETE", "/users/cy%40own.test")]:
        assert dcall(scoped, method, path)[0] == 204, (method, path)


# --- sessions (web admin) ---------------------------------------------------

def login(node, name, password):
    return call(node, "POST", "/session", {"name": name, "password": password}, user=None)


def test_session_login_gives_a_token_that_works_like_basic(scoped):
    status, s, resp = login(scoped, "admin", ADMIN_PASSWORD)
    assert status == 201 and s["name"] == "admin" and s["domain"] is None
    assert len(s["token"]) == 43 and resp.getheader("Set-Cookie") is None
    assert ok(scoped, "GET", "/session", token=s["token"])["name"] == "admin"
    assert ok(scoped, "GET", "/status", token=s["token"])["node"] == scoped.name
    assert call(scoped, "DELETE", "/session", token=s["token"])[0] == 204
    status, data, resp = call(scoped, "GET", "/status", token=s["token"])
    assert status == 401 and "log in again" in data["error"]
    # a page must never get the browser's own Basic dialog
    assert resp.getheader("WWW-Authenticate") == 'Bearer realm="mailnode"'


def test_session_of_domain_admin_keeps_its_scope(scoped):
    status, s, _ = login(scoped, *DADM)
    assert (status, s["domain"]) == (201, "own.test")
    assert call(scoped, "GET", "/users/bob%40other.test", token=s["token"])[0] == 403
    assert call(scoped, "GET", "/admins", token=s["token"])[0] == 403
    assert call(scoped, "GET", "/users/ann%40own.test", token=s["token"])[0] == 200


def test_session_login_refusals(scoped):
    status, data, resp = login(scoped, "admin", "wrong")
    assert (status, data["error"]) == (401, "bad credentials")
    assert resp.getheader("WWW-Authenticate") == 'Bearer realm="mailnode"'
    assert login(scoped, "nobody", "x")[0] == 401
    status, data, _ = call(scoped, "POST", "/session", {"name": "admin"}, user=None)
    assert (status, data["error"]) == (400, 'missing field "password"')
    assert call(scoped, "GET", "/status", token="x" * 43)[0] == 401
    assert call(scoped, "GET", "/status", token="short")[0] == 401


def test_password_change_ends_sessions(scoped):
    ok(scoped, "POST", "/admins", {"name": "tmpadm", "password": "Tmp-pw1"})
    s = login(scoped, "tmpadm", "Tmp-pw1")[1]
    assert ok(scoped, "GET", "/session", token=s["token"])["name"] == "tmpadm"
    ok(scoped, "PATCH", "/admins/tmpadm", {"password": "Tmp-pw2"})
    status, data, _ = call(scoped, "GET", "/session", token=s["token"])
    assert status == 401 and "changed or deleted" in data["error"]
    s = login(scoped, "tmpadm", "Tmp-pw2")[1]
    ok(scoped, "DELETE", "/admins/tmpadm")
    assert call(scoped, "GET", "/session", token=s["token"])[0] == 401


def test_status_has_dashboard_fields(scoped):
    st = ok(scoped, "GET", "/status")
    assert st["disk"]["free_bytes"] > 0 and st["disk"]["total_bytes"] >= st["disk"]["free_bytes"]
    svc = {s["name"]: s for s in st["services"]}
    assert svc["http"] == {"name": "http", "port": scoped.http_port, "state": "listening"}
    assert svc["smtp"]["state"] == "off"
    assert st["counts"]["messages"] == 0 and st["counts"]["aliases"] >= 1


def test_session_logins_count_in_login_failure_blocking(scoped):
    """[limits] auth_fail_user (20 by default): the 20th wrong password for a
    name blocks it; the right one then gets the same 401, until a system
    admin releases the block."""
    ok(scoped, "POST", "/admins", {"name": "blockme", "password": "Block-pw1"})
    try:
        for _ in range(20):
            assert login(scoped, "blockme", "wrong")[0] == 401
        status, data, _ = login(scoped, "blockme", "Block-pw1")
        assert (status, data["error"]) == (401, "bad credentials")
        blocked = ok(scoped, "GET", "/security/blocked")
        assert {"kind": "user", "key": "blockme"}.items() <= next(
            b for b in blocked if b["key"] == "blockme").items()
        ok(scoped, "DELETE", "/security/blocked/blockme")
        assert login(scoped, "blockme", "Block-pw1")[0] == 201
    finally:
        ok(scoped, "DELETE", "/admins/blockme")


def test_session_over_https_and_the_page_is_served(scoped):
    """The web admin works on the HTTPS port too (self-signed dev cert), and
    /admin/ is served with the UI's Content-Security-Policy."""
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(scoped.address, scoped.https_port, timeout=30,
                                       context=ctx)
    try:
        conn.request("POST", "/api/v1/session",
                     body=json.dumps({"name": "admin", "password": ADMIN_PASSWORD}),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        token = json.loads(resp.read())["token"]
        assert resp.status == 201
        conn.request("GET", "/api/v1/status", headers={"Authorization": "Bearer " + token})
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["node"] == scoped.name
        conn.request("GET", "/admin/")
        resp = conn.getresponse()
        page = resp.read().decode()
        assert resp.status == 200 and '<script type="module" src="/admin/app.js">' in page
        assert "script-src 'self'" in resp.getheader("Content-Security-Policy")
        conn.request("GET", "/admin/app.js")
        resp = conn.getresponse()
        resp.read()
        assert (resp.status, resp.getheader("Content-Type")) == (
            200, "text/javascript; charset=utf-8")
    finally:
        conn.close()
