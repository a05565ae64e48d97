"""Five-node variant: four joins, five voters; two nodes down (a minority)
and writes through every survivor still succeed and replicate."""
from conftest import Cluster, healthy, wait_for


def test_five_nodes_survive_two_down():
    c = Cluster(5)
    try:
        st = c.start()
        assert sorted(m["role"] for m in st["members"]).count("follower") == 4
        leader = c.leader()
        down = [n for n in c.nodes if n is not leader][:2]
        for n in down:
            n.kill9()
        live = [n for n in c.nodes if n.proc is not None]
        for k, n in enumerate(live * 3):
            code, body = n.api("POST", "domains", {"name": "five%02d.test" % k})
            assert code in (200, 201), (n.name, code, body)
        want = live[0].domains()
        for n in live[1:]:
            wait_for(lambda: n.domains() == want, 10, "%s to replicate" % n.name)
        for n in down:
            n.start()
        wait_for(lambda: healthy(c.nodes, 5), 30, "five voters again", 0.1)
    finally:
        bad = c.stop()
    assert not bad, bad
