"""Preferences over the admin API (/api/v1/users/A/prefs, /domains/D/prefs):
values normalised by the directory, several keys changed together or not at
all, null deleting a key, domain admins limited to their domain, and the
preferences surviving a restart (they are directory state)."""
import json

from test_api import error_of, request


def put(node, path, body, **kw):
    return request(node, "PUT", path, body=body, **kw)


def test_user_prefs_round_trip_and_restart(node):
    assert request(node, "POST", "/api/v1/domains", {"name": "prefs.test"})[0].status == 201
    assert request(node, "POST", "/api/v1/users",
                   {"address": "pat@prefs.test", "password": "Pat-Secret-1"})[0].status == 201
    resp, data = request(node, "GET", "/api/v1/users/pat@prefs.test/prefs")
    assert resp.status == 200 and json.loads(data) == {}

    resp, data = put(node, "/api/v1/users/Pat@Prefs.test/prefs", {
        "language": "zh-CN", "signature": "Pat\n-- \n中文签名",
        "sender_block": "Spam@X.test, @junk.test", "send_messages_per_hour": "007"})
    assert resp.status == 200, data
    want = {"language": "zh-CN", "signature": "Pat\n-- \n中文签名",
            "sender_block": "spam@x.test\n@junk.test", "send_messages_per_hour": "7"}
    assert json.loads(data) == want

    # one bad value: 400 naming it, nothing of the request applied
    resp, data = put(node, "/api/v1/users/pat@prefs.test/prefs",
                     {"timezone": "Asia/Shanghai", "language": "fr"})
    assert resp.status == 400 and "language" in error_of(resp, data)
    resp, data = put(node, "/api/v1/users/pat@prefs.test/prefs", {"colour": "red"})
    assert resp.status == 400 and "colour is not a user preference" in error_of(resp, data)
    resp, data = put(node, "/api/v1/users/pat@prefs.test/prefs", {"language": 3})
    assert resp.status == 400
    resp, data = put(node, "/api/v1/users/pat@prefs.test/prefs", [])
    assert resp.status == 400

    resp, data = put(node, "/api/v1/users/pat@prefs.test/prefs", {"signature": None})
    assert resp.status == 200
    del want["signature"]
    assert json.loads(data) == want

    node.restart()
    resp, data = request(node, "GET", "/api/v1/users/pat@prefs.test/prefs")
    assert resp.status == 200 and json.loads(data) == want

    resp, data = request(node, "GET", "/api/v1/users/nobody@prefs.test/prefs")
    assert resp.status == 404


def test_domain_prefs_and_scope(node):
    for d in ("dp1.test", "dp2.test"):
        assert request(node, "POST", "/api/v1/domains", {"name": d})[0].status == 201
    resp, data = put(node, "/api/v1/domains/dp1.test/prefs",
                     {"sender_allow": "@partner.test", "send_recipients_per_day": "500"})
    assert resp.status == 200
    assert json.loads(data) == {"sender_allow": "@partner.test",
                                "send_recipients_per_day": "500"}
    resp, data = put(node, "/api/v1/domains/dp1.test/prefs", {"language": "en"})
    assert resp.status == 400 and "not a domain preference" in error_of(resp, data)
    assert request(node, "GET", "/api/v1/domains/nope.test/prefs")[0].status == 404

    assert request(node, "POST", "/api/v1/admins", {
        "name": "dp1admin", "password": "Dp1-Admin-Secret", "domain": "dp1.test"})[0].status == 201
    resp, _ = request(node, "GET", "/api/v1/domains/dp1.test/prefs",
                      user="dp1admin", password="Dp1-Admin-Secret")
    assert resp.status == 200
    resp, _ = put(node, "/api/v1/domains/dp2.test/prefs", {"sender_allow": "@x.test"},
                  user="dp1admin", password="Dp1-Admin-Secret")
    assert resp.status == 403
    resp, data = request(node, "GET", "/api/v1/domains/dp2.test/prefs")
    assert json.loads(data) == {}
