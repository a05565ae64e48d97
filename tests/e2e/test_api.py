"""The admin JSON API over raw HTTP (http.client and sockets): status codes,
authentication, error bodies, keep-alive and the HTTP server's limits.
"""
import base64
import http.client
import json
import select
import socket
import time

import pytest

from conftest import ADMIN_PASSWORD

READ_DEADLINE_S = 10.0


def auth(user="admin", password=ADMIN_PASSWORD):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()}


def request(node, method, path, body=None, headers=None, user="admin",
            password=ADMIN_PASSWORD, conn=None):
    h = {}
    if user is not None:
        h.update(auth(user, password))
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(node.address, node.http_port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        return resp, data
    finally:
        if own:
            conn.close()


def error_of(resp, data):
    assert resp.getheader("Content-Type", "").startswith("application/json")
    obj = json.loads(data)
    assert isinstance(obj["error"], str) and obj["error"]
    return obj["error"]


def test_status_with_credentials(node):
    resp, data = request(node, "GET", "/api/v1/status")
    assert resp.status == 200
    assert resp.getheader("Content-Type", "").startswith("application/json")
    st = json.loads(data)
    assert st["node"] == node.name and st["version"] == "0.1.0"
    assert st["hostname"] == "%s.e2e.test" % node.name


@pytest.mark.parametrize("user,password", [(None, None), ("admin", "wrong"),
                                           ("nosuchadmin", ADMIN_PASSWORD), ("", "")])
def test_401_without_or_with_bad_credentials(node, user, password):
    resp, data = request(node, "GET", "/api/v1/domains", user=user, password=password)
    assert resp.status == 401
    assert resp.getheader("WWW-Authenticate") == 'Basic realm="mailnode"'
    error_of(resp, data)


def test_401_for_malformed_authorization(node):
    for value in ("Basic !!!notbase64", "Bearer abc", "Basic " +
                  base64.b64encode(b"no-colon").decode()):
        resp, data = request(node, "GET", "/api/v1/domains", user=None,
                             headers={"Authorization": value})
        assert resp.status == 401, value
        error_of(resp, data)


def test_create_read_conflict_delete(node):
    resp, data = request(node, "POST", "/api/v1/domains", {"name": "api.test"})
    assert resp.status == 201
    d = json.loads(data)
    assert (d["name"], d["aliases"], d["users"]) == ("api.test", [], 0)
    assert "created_at" in d
    resp, data = request(node, "POST", "/api/v1/domains", {"name": "api.test"})
    assert resp.status == 409
    error_of(resp, data)
    resp, data = request(node, "GET", "/api/v1/domains/api.test")
    assert resp.status == 200 and json.loads(data)["name"] == "api.test"

    resp, data = request(node, "POST", "/api/v1/users",
                         {"address": "bob@api.test", "password": "pw", "quota": "1M"})
    assert resp.status == 201
    u = json.loads(data)
    assert (u["address"], u["quota_bytes"], u["home_node"]) == (
        "bob@api.test", 1024 * 1024, node.name)
    # %-encoded and raw '@' name the same user.
    for path in ("/api/v1/users/bob%40api.test", "/api/v1/users/bob@api.test"):
        resp, data = request(node, "GET", path)
        assert resp.status == 200 and json.loads(data)["address"] == "bob@api.test"
    resp, data = request(node, "PATCH", "/api/v1/users/bob%40api.test",
                         {"name": "Bob", "quota": 2048})
    assert resp.status == 200
    assert (json.loads(data)["name"], json.loads(data)["quota_bytes"]) == ("Bob", 2048)
    resp, data = request(node, "DELETE", "/api/v1/users/bob%40api.test")
    assert (resp.status, data) == (204, b"")
    resp, data = request(node, "DELETE", "/api/v1/domains/api.test")
    assert (resp.status, data) == (204, b"")


def test_403_for_domain_admin_outside_its_domain(node):
    assert request(node, "POST", "/api/v1/domains", {"name": "own.test"})[0].status == 201
    assert request(node, "POST", "/api/v1/domains", {"name": "other.test"})[0].status == 201
    resp, _ = request(node, "POST", "/api/v1/admins",
                      {"name": "apidadm", "password": "dpw", "domain": "own.test"})
    assert resp.status == 201
    dadm = {"user": "apidadm", "password": "dpw"}
    resp, _ = request(node, "POST", "/api/v1/users", {"address": "a@own.test",
                                                      "password": "pw"}, **dadm)
    assert resp.status == 201
    for method, path, body in [
            ("POST", "/api/v1/users", {"address": "a@other.test", "password": "pw"}),
            ("GET", "/api/v1/users?domain=other.test", None),
            ("POST", "/api/v1/domains", {"name": "new.test"}),
            ("DELETE", "/api/v1/domains/own.test", None),
            ("GET", "/api/v1/admins", None),
            ("GET", "/api/v1/nodes", None)]:
        resp, data = request(node, method, path, body, **dadm)
        assert resp.status == 403, (method, path, resp.status, data)
        error_of(resp, data)


@pytest.mark.parametrize("path", ["/api/v1/users/nobody%40none.test", "/api/v1/domains/none.test",
                                  "/api/v1/nosuchthing",
                                  "/api/v1/groups/nogroup%40none.test"])
def test_404(node, path):
    resp, data = request(node, "GET", path)
    assert resp.status == 404
    error_of(resp, data)


@pytest.mark.parametrize("method,path", [("PUT", "/api/v1/domains"), ("DELETE", "/api/v1/status"),
                                         ("POST", "/api/v1/cluster"), ("PATCH", "/api/v1/domains")])
def test_405_wrong_method(node, method, path):
    resp, data = request(node, method, path, body=b"{}" if method != "DELETE" else None)
    assert resp.status == 405
    error_of(resp, data)


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"name": 5}', b"", b'{"nam": "x.test"}',
                                  b'{"name": "bad domain"}'])
def test_400_bad_input(node, body):
    resp, data = request(node, "POST", "/api/v1/domains", body=body,
                         headers={"Content-Type": "application/json"})
    assert resp.status == 400, (body, data)
    error_of(resp, data)


def test_keep_alive_two_requests_on_one_connection(node):
    conn = http.client.HTTPConnection(node.address, node.http_port, timeout=10)
    try:
        resp, data = request(node, "GET", "/api/v1/status", conn=conn)
        assert resp.status == 200 and not resp.will_close
        sock = conn.sock
        resp, data = request(node, "GET", "/api/v1/domains", conn=conn)
        assert resp.status == 200 and isinstance(json.loads(data), list)
        assert conn.sock is sock, "the server closed a keep-alive connection"
    finally:
        conn.close()


def send_and_read(node, head, body=b"", chunk=16 * 1024):
    """Send head+body, stopping as soon as the server answers (it may reply
    before reading everything); return the whole response bytes."""
    s = socket.create_connection((node.address, node.http_port), timeout=10)
    data, out = head + body, b""
    try:
        sent = 0
        while sent < len(data):
            r, _, _ = select.select([s], [], [], 0)
            if r:
                break
            try:
                sent += s.send(data[sent:sent + chunk])
            except (BrokenPipeError, ConnectionResetError):
                break
        deadline = time.monotonic() + READ_DEADLINE_S
        while time.monotonic() < deadline:
            r, _, _ = select.select([s], [], [], deadline - time.monotonic())
            if not r:
                break
            try:
                part = s.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            out += part
            if b"\r\n\r\n" in out:
                hdr, _, rest = out.partition(b"\r\n\r\n")
                for line in hdr.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length" and len(rest) >= int(v):
                        return out
    finally:
        s.close()
    return out


def status_of(raw):
    assert raw.startswith(b"HTTP/1.1 "), raw[:200]
    return int(raw[9:12])


def test_2mb_body_gets_413_and_server_keeps_serving(node):
    body = b"{" + b" " * (2 * 1024 * 1024 - 2) + b"}"
    head = ("POST /api/v1/domains HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n%s\r\n" % (
                node.address, len(body),
                "".join("%s: %s\r\n" % kv for kv in auth().items()))).encode()
    assert status_of(send_and_read(node, head, body)) == 413
    assert request(node, "GET", "/api/v1/status")[0].status == 200


def test_100k_request_line_gets_414_and_server_keeps_serving(node):
    head = ("GET /api/v1/" + "a" * (100 * 1024) + " HTTP/1.1\r\nHost: x\r\n\r\n").encode()
    assert status_of(send_and_read(node, head)) == 414
    assert request(node, "GET", "/api/v1/status")[0].status == 200
