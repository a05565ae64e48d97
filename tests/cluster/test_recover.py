"""Recovery from the loss of a majority with `mailnode --recover`
(docs/cluster.md): three nodes on 127.0.0.31-33, two of them gone for good;
the survivor, stopped, is rewritten to a one-member configuration, starts
as its own leader with every committed write, accepts writes again, and
the dead nodes are marked removed in the node table."""
import re
import subprocess

import pytest

from conftest import MAILNODE_BIN, healthy, running_cluster, wait_for

BASE = 30


def recover(node, members):
    return subprocess.run([MAILNODE_BIN, "--config", node.config, "--recover", members],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def lost_majority():
    with running_cluster(3, base=BASE) as c:
        yield c


def test_recover_survivor_as_one_member_cluster(lost_majority):
    c = lost_majority
    leader = c.leader()
    for k in range(20):
        code, body = c.nodes[k % 3].api("POST", "domains", {"name": "before%02d.test" % k})
        assert code == 201, body
    survivor = [n for n in c.nodes if n is not leader][0]
    dead = [n for n in c.nodes if n is not survivor]
    want = leader.domains()
    wait_for(lambda: survivor.domains() == want, 10, "the survivor to hold every write")

    # the majority is gone for good: writes fail, reads still work
    for n in dead:
        n.kill9()
    wait_for(lambda: survivor.api("POST", "domains", {"name": "nomajority.test"},
                                  timeout=30)[0] == 503, 30, "writes to fail with 503")
    assert survivor.domains() == want

    # refused while the node runs (the data_dir lock)
    r = recover(survivor, survivor.name)
    assert r.returncode == 1 and "in use by another mailnode" in r.stderr, r.stderr
    assert survivor.stop() == 0

    # bad member lists are refused and change nothing
    for spec, why in (("nosuch", "no node nosuch"),
                      (dead[0].name, "must be one of the members"),
                      ("%s,%s" % (survivor.name, survivor.name), "given twice"),
                      ("0=127.0.0.1:7100", "raft id must be a number"),
                      ("7=127.0.0.1", "not ID=IP:PORT"),
                      ("", "no members")):
        r = recover(survivor, spec)
        assert r.returncode == 1 and why in r.stderr, (spec, r.stderr)

    r = recover(survivor, survivor.name)
    assert r.returncode == 0, r.stderr
    assert re.search(r"now 1 voter: \d+=127\.0\.0\.%d:7100 \(%s\)" % (survivor.i + BASE,
                                                                     survivor.name),
                     r.stdout), r.stdout

    # a one-member cluster: it elects itself and has every committed write
    survivor.start()
    survivor.wait_http()

    def own_leader():
        st = survivor.status()
        return st if st and st["leader"] == survivor.name else None
    st = wait_for(own_leader, 30, "the survivor to lead itself")
    assert [x["id"] for x in st["configuration"]] == [
        m["raft_id"] for m in st["members"] if m["name"] == survivor.name]
    assert survivor.domains() == want
    code, body = survivor.api("POST", "domains", {"name": "after-recover.test"})
    assert code == 201, body
    assert "after-recover.test" in survivor.domains()

    # the dead nodes are out of Raft; `node remove` marks them removed
    for n in dead:
        code, body = survivor.api("DELETE", "nodes/" + n.name)
        assert code == 204, body
    st = survivor.status()
    states = {m["name"]: m["state"] for m in st["members"]}
    assert states == {survivor.name: "active", dead[0].name: "removed",
                      dead[1].name: "removed"}, states
    me = [m for m in st["members"] if m["name"] == survivor.name][0]
    assert (me["role"], me["reachable"]) == ("leader", True)

    # and it survives a restart as a one-member cluster
    assert survivor.stop() == 0
    survivor.start()
    survivor.wait_http()
    wait_for(own_leader, 30, "the survivor to lead itself after a restart")
    code, body = survivor.api("POST", "domains", {"name": "after-restart.test"})
    assert code == 201, body
    assert healthy([survivor], 1) is not None


@pytest.fixture
def five():
    with running_cluster(5, base=BASE + 10) as c:
        yield c


def test_recover_two_survivors_of_five(five):
    """Three of five gone for good: recover one survivor with both
    survivors as members, give the other a copy of its raft/ (keeping its
    own raft-id), start both: they elect a leader between them."""
    import shutil
    c = five
    leader = c.leader()
    for k in range(10):
        code, body = c.nodes[k % 5].api("POST", "domains", {"name": "five%02d.test" % k})
        assert code == 201, body
    want = leader.domains()
    for n in c.nodes:
        wait_for(lambda: n.domains() == want, 20, "%s to hold every write" % n.name)
    a, b = [n for n in c.nodes if n is not leader][:2]
    dead = [n for n in c.nodes if n is not a and n is not b]
    for n in dead:
        n.kill9()
    wait_for(lambda: a.api("POST", "domains", {"name": "nomajority.test"},
                           timeout=30)[0] == 503, 30, "writes to fail with 503")
    assert a.stop() == 0 and b.stop() == 0

    r = recover(a, "%s,%s" % (a.name, b.name))
    assert r.returncode == 0, r.stderr
    assert "now 2 voters" in r.stdout, r.stdout
    shutil.rmtree(b.data_dir + "/raft")
    shutil.copytree(a.data_dir + "/raft", b.data_dir + "/raft")

    a.start()
    b.start()
    a.wait_http()
    b.wait_http()
    st = wait_for(lambda: healthy([a, b], 2), 30, "a leader between the two survivors")
    assert st["leader"] in (a.name, b.name)
    assert sorted(x["id"] for x in st["configuration"]) == sorted(
        m["raft_id"] for m in st["members"] if m["name"] in (a.name, b.name))
    for n in (a, b):
        assert n.domains() == want
    code, body = b.api("POST", "domains", {"name": "after-two.test"})
    assert code == 201, body
    wait_for(lambda: "after-two.test" in a.domains(), 10, "the write on the other survivor")
    # through the follower: forwarded to the leader, answered once applied
    # here (read-your-writes), so its own status says removed at once
    follower = b if st["leader"] == a.name else a
    for n in dead:
        code, body = follower.api("DELETE", "nodes/" + n.name)
        assert code == 204, body
        st = follower.status()
        assert [m["state"] for m in st["members"] if m["name"] == n.name] == ["removed"]
    st = wait_for(lambda: every_reachable(a, {a.name, b.name}), 20, "both survivors to answer")
    states = {m["name"]: m["state"] for m in st["members"]}
    assert states == dict({a.name: "active", b.name: "active"},
                          **{n.name: "removed" for n in dead}), states


def every_reachable(node, names):
    st = node.status()
    if st is None:
        return None
    ok = all(m.get("reachable") is True for m in st["members"] if m["name"] in names)
    return st if ok else None
