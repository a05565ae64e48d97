"""Loss of majority on a fresh 3-node cluster: writes fail fast with 503,
reads keep being served (SPEC §6, §7). Its own module so that the
module-scoped cluster of test_cluster.py is gone before it starts (same
addresses and ports)."""
import time

from conftest import running_cluster, wait_for


def add_domain(node, name):
    code, body = node.api("POST", "domains", {"name": name})
    assert code in (200, 201), (node.name, code, body)


def test_majority_lost_writes_503_reads_served():
    with running_cluster(3) as c:
        add_domain(c.nodes[2], "before.test")
        for n in c.nodes:
            wait_for(lambda: "before.test" in n.domains(), 10, "replication")
        # keep one follower: kill the leader and the other follower
        leader = c.leader()
        survivor = [n for n in c.nodes if n is not leader][0]
        for n in c.nodes:
            if n is not survivor:
                n.kill9()

        def refused():
            t = time.monotonic()
            code, body = survivor.api("POST", "domains", {"name": "lost.test"}, timeout=30)
            return (code, time.monotonic() - t) if code == 503 else None
        code, took = wait_for(refused, 30, "writes to fail with 503", 0.2)
        # at most the forwarding deadline to the dead leader, then at once
        assert took < 8, took
        code, took = refused()
        assert took < 1, took
        assert "before.test" in survivor.domains()
        assert "lost.test" not in survivor.domains()
