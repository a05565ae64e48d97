"""mailctl against the real daemon: every command of the API contract, its
exact human output, its --json shape and its exit code (0 success, 1 the API
refused with a reason, 2 usage). The API's status codes themselves are
pinned in test_api.py; here each refusal must reach the user as exactly one
"mailctl: REASON" line on stderr and nothing on stdout.
"""
import imaplib
import json
import re

from conftest import API_PORTS, DEV_PORTS

USER_KEYS = {"address", "name", "home_node", "quota_bytes", "quota_messages",
             "used_bytes", "used_messages", "flags"}


def ok(r, out=None):
    assert (r.returncode, r.stderr) == (0, ""), (r.returncode, r.stdout, r.stderr)
    if out is not None:
        assert r.stdout == out
    return r.stdout


def fails(r):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    assert re.fullmatch(r"mailctl: \S[^\n]*\n", r.stderr), r.stderr
    return r.stderr


def js(r):
    ok(r)
    return json.loads(r.stdout)


def test_spec_flow_and_data_survives_restart(make_node):
    n = make_node().start()
    ok(n.mailctl("domain", "add", "a.test"), "domain a.test added\n")
    ok(n.mailctl("user", "add", "bob@a.test", "--password", "x"), "user bob@a.test added\n")
    users = js(n.mailctl("user", "list", "a.test", "--json"))
    assert [u["address"] for u in users] == ["bob@a.test"]
    assert users[0]["home_node"] == n.name
    n.restart()
    users = js(n.mailctl("--json", "user", "list", "a.test"))
    assert [u["address"] for u in users] == ["bob@a.test"]
    domains = js(n.mailctl("domain", "list", "--json"))
    assert [(d["name"], d["users"]) for d in domains if d["name"] == "a.test"] == [("a.test", 1)]


def test_status(node):
    out = ok(node.mailctl("status"))
    assert out.startswith("node %s (mailnode 0.1.0) hostname %s.e2e.test, up "
                          % (node.name, node.name))
    st = js(node.mailctl("status", "--json"))
    assert st["node"] == node.name and st["version"] == "0.1.0"
    assert isinstance(st["uptime_s"], int)


def test_domain_commands(node):
    ok(node.mailctl("domain", "add", "d1.test"), "domain d1.test added\n")
    fails(node.mailctl("domain", "add", "d1.test"))            # 409 duplicate
    fails(node.mailctl("domain", "add", "not a domain!"))      # 400
    lines = ok(node.mailctl("domain", "list")).splitlines()
    assert re.fullmatch(r"DOMAIN +USERS +ALIASES +CREATED", lines[0])
    assert any(re.fullmatch(r"d1\.test +0 +- +\S.*", l) for l in lines[1:]), lines
    d = [x for x in js(node.mailctl("domain", "list", "--json")) if x["name"] == "d1.test"]
    assert len(d) == 1 and d[0]["users"] == 0 and d[0]["aliases"] == []
    ok(node.mailctl("domain", "alias", "add", "d1.test", "d1-alias.test"),
       "domain alias d1-alias.test -> d1.test added\n")
    fails(node.mailctl("domain", "alias", "add", "d1.test", "d1-alias.test"))  # 409
    fails(node.mailctl("domain", "alias", "add", "nope.test", "x-alias.test"))  # 404
    assert js(node.mailctl("domain", "show", "d1.test", "--json"))["aliases"] == [
        "d1-alias.test"]
    ok(node.mailctl("domain", "alias", "del", "d1.test", "d1-alias.test"),
       "domain alias d1-alias.test deleted\n")
    fails(node.mailctl("domain", "alias", "del", "d1.test", "d1-alias.test"))  # 404
    ok(node.mailctl("domain", "del", "d1.test"), "domain d1.test deleted\n")
    fails(node.mailctl("domain", "del", "d1.test"))            # 404
    fails(node.mailctl("domain", "show", "d1.test"))           # 404


def test_domain_with_users_cannot_be_deleted(node):
    ok(node.mailctl("domain", "add", "full.test"))
    ok(node.mailctl("user", "add", "u@full.test", "--password", "pw"))
    fails(node.mailctl("domain", "del", "full.test"))          # 409 not empty
    ok(node.mailctl("user", "del", "u@full.test"), "user u@full.test deleted\n")
    ok(node.mailctl("domain", "del", "full.test"))


def test_user_commands(node):
    ok(node.mailctl("domain", "add", "u.test"))
    ok(node.mailctl("user", "add", "carol@u.test", "--password", "pw1", "--name", "Carol C",
                    "--quota", "100M"), "user carol@u.test added\n")
    fails(node.mailctl("user", "add", "carol@u.test", "--password", "pw1"))   # duplicate
    fails(node.mailctl("user", "add", "carol@nodomain.test", "--password", "pw"))  # 404
    fails(node.mailctl("user", "add", "no-at-sign", "--password", "pw"))      # 400
    fails(node.mailctl("user", "add", "x@u.test", "--password", "pw", "--node", "nosuchnode"))

    u = js(node.mailctl("user", "show", "carol@u.test", "--json"))
    assert USER_KEYS <= set(u)
    assert (u["address"], u["name"], u["home_node"], u["quota_bytes"], u["used_bytes"],
            u["used_messages"], u["flags"]) == (
        "carol@u.test", "Carol C", node.name, 100 * 1024 * 1024, 0, 0, [])
    assert isinstance(u["quota_messages"], int)
    lines = ok(node.mailctl("user", "show", "carol@u.test")).splitlines()
    assert lines[:4] == ["address:          carol@u.test", "name:             Carol C",
                         "home node:        %s" % node.name, "quota:            100M"]
    assert "used:             0" in lines and "flags:            -" in lines
    assert "expires:          never" in lines
    assert [l for l in lines if re.fullmatch(r"created: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", l)]

    assert ok(node.mailctl("user", "list", "u.test")) == (
        "ADDRESS       NAME     NODE   QUOTA  USED\n"
        "carol@u.test  Carol C  %s  100M   0\n" % node.name)

    ok(node.mailctl("user", "passwd", "carol@u.test", "pw2"),
       "password of carol@u.test changed\n")
    fails(node.mailctl("user", "passwd", "nobody@u.test", "pw2"))             # 404

    # Same node: a no-op that succeeds; an unknown node is refused.
    ok(node.mailctl("user", "move", "carol@u.test", node.name),
       "moving carol@u.test to %s ...\ncarol@u.test is on %s\n" % (node.name, node.name))
    r = node.mailctl("user", "move", "carol@u.test", "nosuchnode")
    assert r.returncode == 1 and r.stdout == "moving carol@u.test to nosuchnode ...\n"
    assert re.fullmatch(r"mailctl: \S[^\n]*\n", r.stderr)

    ok(node.mailctl("user", "del", "carol@u.test"), "user carol@u.test deleted\n")
    fails(node.mailctl("user", "del", "carol@u.test"))
    fails(node.mailctl("user", "show", "carol@u.test"))
    assert js(node.mailctl("user", "list", "u.test", "--json")) == []


def test_user_show_reports_mailbox_usage_from_the_store(make_node):
    """used_bytes / used_messages come from this node's mail store (read on
    the thread pool): 0 without a mailbox, then what IMAP APPEND stored,
    then less after an EXPUNGE; in the API, `mailctl user show` and --json."""
    n = make_node(ports=dict(API_PORTS, imap_port=DEV_PORTS["imap_port"])).start()
    ok(n.mailctl("domain", "add", "q.test"))
    ok(n.mailctl("user", "add", "dora@q.test", "--password", "pw-dora"))
    u = js(n.mailctl("user", "show", "dora@q.test", "--json"))
    assert (u["used_bytes"], u["used_messages"]) == (0, 0)
    msgs = [b"Subject: one\r\n\r\n" + b"x" * 1000 + b"\r\n",
            b"Subject: two\r\n\r\n" + b"y" * 2000 + b"\r\n"]
    m = imaplib.IMAP4(n.address, DEV_PORTS["imap_port"], timeout=30)
    m.login("dora@q.test", "pw-dora")
    for msg in msgs:
        assert m.append("INBOX", None, None, msg)[0] == "OK"
    total = sum(len(x) for x in msgs)
    u = js(n.mailctl("user", "show", "dora@q.test", "--json"))
    assert (u["used_bytes"], u["used_messages"]) == (total, 2)
    lines = ok(n.mailctl("user", "show", "dora@q.test")).splitlines()
    assert "used messages:    2" in lines, lines
    assert [l for l in lines if re.fullmatch(r"used: +\S+", l) and l != "used:             0"]
    m.select("INBOX")
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    u = js(n.mailctl("user", "show", "dora@q.test", "--json"))
    assert (u["used_bytes"], u["used_messages"]) == (len(msgs[1]), 1)


def test_usage_error_exits_2_without_a_request(node):
    r = node.mailctl("user", "add", "x@u.test")
    assert r.returncode == 2 and "usage: mailctl" in r.stderr


def test_alias_commands(node):
    ok(node.mailctl("domain", "add", "al.test"))
    ok(node.mailctl("user", "add", "u@al.test", "--password", "pw"))
    # Targets in sorted order, so the listing's order is the same either way.
    ok(node.mailctl("alias", "add", "info@al.test", "ext@elsewhere.test", "u@al.test"),
       "alias info@al.test -> ext@elsewhere.test, u@al.test added\n")
    fails(node.mailctl("alias", "add", "info@al.test", "u@al.test"))         # 409
    fails(node.mailctl("alias", "add", "x@noalias.test", "u@al.test"))       # 404 domain
    fails(node.mailctl("alias", "add", "u@al.test", "ext@elsewhere.test"))   # is a user
    assert ok(node.mailctl("alias", "list", "al.test")) == (
        "ALIAS         TARGETS\n"
        "info@al.test  ext@elsewhere.test,u@al.test\n")
    assert js(node.mailctl("alias", "list", "al.test", "--json")) == [
        {"address": "info@al.test", "targets": ["ext@elsewhere.test", "u@al.test"]}]
    ok(node.mailctl("alias", "del", "info@al.test"), "alias info@al.test deleted\n")
    fails(node.mailctl("alias", "del", "info@al.test"))
    assert ok(node.mailctl("alias", "list", "al.test")) == "ALIAS  TARGETS\n"


def test_group_commands(node):
    ok(node.mailctl("domain", "add", "gr.test"))
    for u in ("a@gr.test", "b@gr.test"):
        ok(node.mailctl("user", "add", u, "--password", "pw"))
    ok(node.mailctl("group", "add", "staff@gr.test", "--name", "Staff"),
       "group staff@gr.test added\n")
    fails(node.mailctl("group", "add", "staff@gr.test"))                     # 409
    ok(node.mailctl("group", "member", "add", "staff@gr.test", "a@gr.test"),
       "a@gr.test added to group staff@gr.test\n")
    ok(node.mailctl("group", "member", "add", "staff@gr.test", "b@gr.test"))
    fails(node.mailctl("group", "member", "add", "staff@gr.test", "a@gr.test"))  # dup
    fails(node.mailctl("group", "member", "add", "nogroup@gr.test", "a@gr.test"))  # 404
    # The directory may list built-in groups too (everyone@DOMAIN): look at ours.
    lines = ok(node.mailctl("group", "list", "gr.test")).splitlines()
    assert re.fullmatch(r"GROUP +NAME +MEMBERS", lines[0])
    staff = [l for l in lines if l.startswith("staff@")]
    assert len(staff) == 1
    assert re.fullmatch(r"staff@gr\.test +Staff +a@gr\.test,b@gr\.test", staff[0])
    # Columns line up under the header.
    assert staff[0].index("Staff") == lines[0].index("NAME")
    assert staff[0].index("a@gr") == lines[0].index("MEMBERS")
    groups = js(node.mailctl("group", "list", "gr.test", "--json"))
    assert [(g["address"], g["name"], sorted(g["members"])) for g in groups
            if g["address"] == "staff@gr.test"] == [
        ("staff@gr.test", "Staff", ["a@gr.test", "b@gr.test"])]
    assert ok(node.mailctl("group", "show", "staff@gr.test")) == (
        "group:   staff@gr.test\nname:    Staff\nmembers:\n  a@gr.test\n  b@gr.test\n")

    # Nesting is allowed; a cycle is refused.
    ok(node.mailctl("group", "add", "all@gr.test"))
    ok(node.mailctl("group", "member", "add", "all@gr.test", "staff@gr.test"))
    fails(node.mailctl("group", "member", "add", "staff@gr.test", "all@gr.test"))
    fails(node.mailctl("group", "member", "add", "all@gr.test", "all@gr.test"))

    ok(node.mailctl("group", "member", "del", "staff@gr.test", "a@gr.test"),
       "a@gr.test removed from group staff@gr.test\n")
    fails(node.mailctl("group", "member", "del", "staff@gr.test", "a@gr.test"))
    assert js(node.mailctl("group", "show", "staff@gr.test", "--json"))["members"] == [
        "b@gr.test"]
    ok(node.mailctl("group", "del", "all@gr.test"), "group all@gr.test deleted\n")
    ok(node.mailctl("group", "del", "staff@gr.test"))
    fails(node.mailctl("group", "del", "staff@gr.test"))


def test_admin_commands_and_credentials(node):
    ok(node.mailctl("admin", "add", "ops", "--password", "ops-pw1"), "admin ops added\n")
    fails(node.mailctl("admin", "add", "ops", "--password", "other"))         # 409
    admins = js(node.mailctl("admin", "list", "--json"))
    assert {"name": "ops", "domain": None} in admins
    assert {"name": "admin", "domain": None} in admins
    lines = ok(node.mailctl("admin", "list")).splitlines()
    assert re.fullmatch(r"ADMIN +DOMAIN", lines[0])
    assert re.fullmatch(r"ops +\(all domains\)", [l for l in lines if l.startswith("ops")][0])

    # The new admin's password works, a wrong one is refused (401).
    ok(node.mailctl("domain", "list", user="ops", password="ops-pw1"))
    fails(node.mailctl("domain", "list", user="ops", password="wrong"))
    fails(node.mailctl("domain", "list", password="wrong"))
    # Admin password on the command line before the command words.
    r = node.mailctl("--user", "ops", "--password", "ops-pw1", "admin", "add", "ops2",
                     "--password", "ops2-pw", password="")
    ok(r, "admin ops2 added\n")
    ok(node.mailctl("domain", "list", user="ops2", password="ops2-pw"))

    ok(node.mailctl("admin", "del", "ops2"), "admin ops2 deleted\n")
    ok(node.mailctl("admin", "del", "ops"), "admin ops deleted\n")
    fails(node.mailctl("admin", "del", "ops"))                                # 404
    fails(node.mailctl("domain", "list", user="ops", password="ops-pw1"))     # gone
    fails(node.mailctl("admin", "del", "admin"))                              # last system admin


def test_domain_admin_is_limited_to_its_domain(node):
    ok(node.mailctl("domain", "add", "da.test"))
    ok(node.mailctl("domain", "add", "db.test"))
    ok(node.mailctl("admin", "add", "dadm", "--password", "dpw", "--domain", "da.test"),
       "admin dadm added for domain da.test\n")

    def as_dadm(*args):
        return node.mailctl(*args, user="dadm", password="dpw")

    ok(as_dadm("user", "add", "x@da.test", "--password", "pw"), "user x@da.test added\n")
    assert [u["address"] for u in js(as_dadm("user", "list", "da.test", "--json"))] == [
        "x@da.test"]
    fails(as_dadm("user", "add", "x@db.test", "--password", "pw"))    # 403
    fails(as_dadm("user", "list", "db.test"))                         # 403
    fails(as_dadm("domain", "add", "dz.test"))                        # system only
    fails(as_dadm("domain", "del", "da.test"))
    fails(as_dadm("admin", "list"))
    fails(as_dadm("admin", "add", "evil", "--password", "pw"))
    fails(as_dadm("node", "list"))
    ok(node.mailctl("user", "del", "x@da.test"))


def test_node_and_cluster_commands(node):
    nodes = js(node.mailctl("node", "list", "--json"))
    assert [(x["name"], x["state"]) for x in nodes] == [(node.name, "active")]
    assert set(nodes[0]) >= {"name", "state", "address", "users"}
    lines = ok(node.mailctl("node", "list")).splitlines()
    assert re.fullmatch(r"NODE +STATE +ADDRESS +USERS", lines[0])
    assert re.fullmatch(r"%s +active +\S+ +\d+" % node.name, lines[1]) and len(lines) == 2

    st = js(node.mailctl("cluster", "status", "--json"))
    assert st["leader"] == node.name
    assert isinstance(st["commit_index"], int) and st["commit_index"] >= 1
    assert [(m["name"], m["role"], m["state"]) for m in st["members"]] == [
        (node.name, "leader", "active")]
    assert set(st["members"][0]) >= {"name", "role", "state", "address", "commit_index",
                                     "applied_index", "last_contact_ms"}
    me = st["members"][0]
    assert (me["raft_state"], me["reachable"], me["last_contact_ms"]) == ("leader", True, 0)
    assert me["commit_index"] >= 1 and me["applied_index"] >= 1
    lines = ok(node.mailctl("cluster", "status")).splitlines()
    assert lines[0] == "leader: %s" % node.name
    assert re.fullmatch(r"commit index: \d+", lines[1])
    assert re.fullmatch(r"NODE +ROLE +STATE +ADDRESS +COMMIT +APPLIED +LAST CONTACT", lines[2])
    assert re.fullmatch(r"%s +leader +active +\S+ +\d+ +\d+ +0ms" % node.name, lines[3])

    # Draining or removing the only node is refused (501 / 409), unknown is 404.
    r = node.mailctl("node", "drain", node.name)
    assert (r.returncode, r.stdout) == (1, "draining %s ...\n" % node.name)
    assert re.fullmatch(r"mailctl: \S[^\n]*\n", r.stderr)
    r = node.mailctl("node", "drain", "nosuchnode")
    assert r.returncode == 1
    fails(node.mailctl("node", "remove", node.name))
    fails(node.mailctl("node", "remove", "nosuchnode"))
