"""Helpers for the anti-abuse end-to-end suites (SPF, DKIM, DMARC): a node
whose [dns] resolvers point at the suite's own DNS responder
(dnsserver.py), and SMTP clients bound to chosen loopback source
addresses (the SPF client IP).

Addresses (kept apart from the other suites): nodes 127.0.200.x, DNS
responders 127.0.201.x, SMTP client sources 127.0.202.x.

No test traffic leaves the machine: antispam_node refuses to build a node
with checks on unless [dns] resolvers is a loopback responder, and
test_antispam_spf checks that refusal.
"""
import itertools
import smtplib

from conftest import Node
from smtp_util import SMTP_EXTRA, SMTP_PORTS, add_domain, add_user

NODE_NET = "127.0.200."
DNS_NET = "127.0.201."
CLIENT_NET = "127.0.202."

_node_ids = itertools.count(10)
_dns_ids = itertools.count(10)


def next_node_address():
    return NODE_NET + str(next(_node_ids))


def next_dns_address():
    return DNS_NET + str(next(_dns_ids))


class NoTestResolver(Exception):
    """Refusal to start a node with checks on and no loopback resolver."""


def antispam_config(resolvers, antispam=""):
    """[dns] and [antispam] sections; refuses resolvers that are not all on
    loopback (an unset [dns] resolvers would query the system's DNS)."""
    items = [r for r in (resolvers or "").replace(",", " ").split() if r]
    if not items or not all(r.startswith("127.") for r in items):
        raise NoTestResolver("[dns] resolvers must be a loopback test responder, got %r"
                             % resolvers)
    return "[dns]\nresolvers = %s\n[antispam]\n%s" % (" ".join(items), antispam)


def antispam_node(tmpdir, dns, antispam="", hostname=None):
    """A node with SMTP on 127.0.200.x, [dns] resolvers = dns.resolver and
    the given [antispam] lines. Remote mail goes to a closed loopback port."""
    extra = SMTP_EXTRA + "mx_override = 127.0.0.1:9\n" + antispam_config(dns.resolver, antispam)
    n = Node(tmpdir, address=next_node_address(), ports=SMTP_PORTS, extra=extra)
    return n


def setup_local(node, domain="local.test", users=("bob",), password="Secret-pw1"):
    add_domain(node, domain)
    for u in users:
        add_user(node, "%s@%s" % (u, domain), password)


def smtp_from(node, source_ip, helo="client.e2e.test", port_key="smtp_port"):
    """smtplib client connected from source_ip (a 127.0.202.x address)."""
    s = smtplib.SMTP(node.address, node.ports[port_key], timeout=60,
                     source_address=(source_ip, 0))
    s.ehlo(helo)
    return s
