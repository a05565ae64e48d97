"""API additions made for the web admin, against the real daemon with SMTP:
GET /users?usage=1 fills each listed user's mail store figures (null for
a user homed on another node, 0 before anything was delivered) and limits
the page; GET /status counts the messages of this node's mailboxes.
"""
import smtplib

import pytest

from smtp_util import SMTP_PORTS, Node, api, count_messages, ok

USERS = ["ua@usage.test", "ub@usage.test"]


@pytest.fixture(scope="module")
def unode(tmp_path_factory):
    n = Node(tmp_path_factory.mktemp("webadmin-api"), ports=SMTP_PORTS,
             extra="[limits]\nconn_per_minute_per_ip = 0\n")
    n.start()
    try:
        ok(n, "POST", "/domains", {"name": "usage.test"})
        for u in USERS:
            ok(n, "POST", "/users", {"address": u, "password": "Usage-pw1", "quota": "1M"})
        with smtplib.SMTP(n.address, n.ports["smtp_port"], timeout=30) as s:
            for i in range(2):
                s.sendmail("x@remote.test", [USERS[0]],
                           "From: x@remote.test\r\nTo: %s\r\nSubject: m%d\r\n\r\nbody %d\r\n"
                           % (USERS[0], i, i))
        count_messages(n, USERS[0], 2)
        yield n
    finally:
        n.stop()


def test_users_list_with_usage(unode):
    listed = {u["address"]: u for u in ok(unode, "GET", "/users?domain=usage.test&usage=1&limit=50")}
    one = ok(unode, "GET", "/users/%s" % USERS[0])
    assert listed[USERS[0]]["used_messages"] == 2 == one["used_messages"]
    assert listed[USERS[0]]["used_bytes"] == one["used_bytes"] > 0
    assert (listed[USERS[1]]["used_bytes"], listed[USERS[1]]["used_messages"]) == (0, 0)
    # without usage=1 the list does not read the store
    plain = ok(unode, "GET", "/users?domain=usage.test")
    assert all(u["used_bytes"] == 0 for u in plain)


@pytest.mark.parametrize("query,reason", [
    ("usage=1", "with usage=1, limit must be 1..200"),
    ("usage=1&limit=201", "with usage=1, limit must be 1..200"),
    ("usage=2&limit=5", 'query parameter "usage" must be an integer 0..1'),
])
def test_users_list_usage_bad_input(unode, query, reason):
    status, body = api(unode, "GET", "/users?" + query)
    assert (status, body["error"]) == (400, reason)


def test_status_counts_messages_of_this_node(unode):
    st = ok(unode, "GET", "/status")
    assert st["counts"]["messages"] == 2 and st["counts"]["message_bytes"] > 0
    assert st["counts"]["users"] == 2
    svc = {s["name"]: s for s in st["services"]}
    assert svc["smtp"] == {"name": "smtp", "port": unode.ports["smtp_port"],
                           "state": "listening"}
    assert svc["delivery"]["state"] == "running"
