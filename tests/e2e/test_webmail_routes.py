"""Every webmail route, read from the route table in node/webmail/webmail.c, so a
route added later without these properties fails here: every change (non-GET, except
login) needs the CSRF token (403 without it, nothing changed), and every route that
names a message answers another user's uid with 404, never with that user's mail."""
import os
import re

from test_webmail_api import Client, uid_of, wm, alice  # noqa: F401 (fixtures)

SOURCE = os.environ.get("MN_SOURCE_DIR",
                        os.path.join(os.path.dirname(__file__), "..", ".."))
ROUTE_RE = re.compile(r'\{\s*API_(GET|POST|PATCH|DELETE|PUT),\s*"(mail/[^"]*)",\s*([^}]*)\}')


def routes():
    with open(os.path.join(SOURCE, "node", "webmail", "webmail.c")) as f:
        found = [(m.group(1), m.group(2), "NEEDS_CSRF" in m.group(3))
                 for m in ROUTE_RE.finditer(f.read())]
    assert len(found) >= 20, found
    return found


def fill(pattern, uid):
    """A concrete path for a route pattern: alice's message uid in INBOX."""
    parts = pattern.split("/")[1:]
    out = []
    for i, p in enumerate(parts):
        if p != "*":
            out.append(p)
        elif parts[i - 1] == "folders":
            out.append("INBOX")
        elif parts[i - 1] == "messages":
            out.append(str(uid))
        elif parts[i - 1] == "parts":
            out.append("1")
        else:
            out.append("nobody%40x.test")
    return "/" + "/".join(out)


def body_for(pattern):
    return {"mail/folders": {"name": "X"}, "mail/send": {"to": ["bob@wm.test"]},
            "mail/folders/*/messages/*/move": {"to": "Junk"},
            "mail/folders/*/messages/*": {"seen": True}}.get(pattern, {})


def snapshot(c):
    st, folders, _ = c.call("GET", "/folders")
    assert st == 200
    st, msgs, _ = c.call("GET", "/folders/INBOX/messages?limit=200")
    assert st == 200
    return folders, [(m["uid"], m.get("flags")) for m in msgs["messages"]]


def test_every_change_needs_csrf(alice):  # noqa: F811
    uid = uid_of(alice, "apple")
    before = snapshot(alice)
    checked = 0
    for method, pattern, csrf in routes():
        if method == "GET" or pattern == "mail/login":
            assert not (method == "GET" and csrf), (method, pattern)
            continue
        assert csrf, "%s %s changes state without a CSRF check" % (method, pattern)
        path = fill(pattern, uid)
        st, obj, _ = alice.call(method, path, body_for(pattern), csrf=False)
        assert st == 403, (method, path, st, obj)
        checked += 1
    assert checked >= 12
    assert snapshot(alice) == before
    assert alice.call("GET", "/session")[0] == 200  # still logged in


def test_every_message_route_hides_other_users_mail(wm, alice):  # noqa: F811
    uid = uid_of(alice, "apple")
    bob = Client(wm)
    assert bob.login("bob@wm.test")[0] == 200
    before = snapshot(alice)
    checked = 0
    for method, pattern, _ in routes():
        if "messages/*" not in pattern:
            continue
        path = fill(pattern, uid)
        st, obj, _ = bob.call(method, path, body_for(pattern))
        assert st == 404, (method, path, st, obj)
        checked += 1
    assert checked >= 6
    assert snapshot(alice) == before
