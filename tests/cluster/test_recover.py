"""Recovery from the loss of a majority with `mailnode --recover`
(docs/cluster.md): three nodes on 127.0.0.31-33, two of them gone for good;
the survivor, stopped, is rewritten to a one-member configuration, starts
as its own leader with every committed write, accepts writes again, and
the dead nodes are marked removed in the node table."""
import re
import subprocess

import pytest

from conftest import MAILNODE_BIN, Cluster, healthy, wait_for

BASE = 30


def recover(node, members):
    return subprocess.run([MAILNODE_BIN, "--config", node.config, "--recover", members],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def lost_majority():
    c = Cluster(3, base=BASE)
    try:
        c.start()
        yield c
    finally:
        bad = c.stop()
    assert not bad, "sanitizer reports:\n" + "\n".join(bad)


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
