"""HTTPS on https_port: the self-signed certificate made in data_dir/tls on
first start, a real TLS handshake with Python's ssl module, the API over TLS,
and mailctl's --insecure / --cacert / MAILCTL_INSECURE.
"""
import base64
import http.client
import json
import os
import ssl

from conftest import ADMIN_PASSWORD

AUTH = {"Authorization": "Basic " + base64.b64encode(
    ("admin:%s" % ADMIN_PASSWORD).encode()).decode()}


def cert_path(node):
    return os.path.join(node.data_dir, "tls", "cert.pem")


def get_status(node, ctx):
    conn = http.client.HTTPSConnection(node.address, node.https_port, timeout=10, context=ctx)
    try:
        conn.request("GET", "/api/v1/status", headers=AUTH)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read()), conn.sock.version()
    finally:
        conn.close()


def test_self_signed_certificate_is_made_in_data_dir(node):
    path = cert_path(node)
    assert os.path.isfile(path)
    with open(path) as f:
        pem = f.read()
    assert "-----BEGIN CERTIFICATE-----" in pem
    # Loadable as a certificate (raises on garbage).
    ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(pem.split(
        "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"))


def test_status_over_tls_without_verification(node):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    status, st, version = get_status(node, ctx)
    assert status == 200 and st["node"] == node.name
    assert version in ("TLSv1.2", "TLSv1.3")


def test_status_over_tls_verified_against_the_node_certificate(node):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cert_path(node))
    status, st, _ = get_status(node, ctx)
    assert status == 200 and st["node"] == node.name


def test_tls_handshake_fails_against_unrelated_ca(node):
    ctx = ssl.create_default_context()  # system CAs only
    ctx.check_hostname = False
    try:
        get_status(node, ctx)
    except ssl.SSLCertVerificationError:
        return
    raise AssertionError("a self-signed node certificate verified against system CAs")


def test_mailctl_over_https(node):
    url = "https://%s:%d" % (node.address, node.https_port)
    r = node.mailctl("status", env={"MAILCTL_SERVER": url})
    assert r.returncode == 1 and r.stderr.startswith("mailctl: cannot reach %s: " % url)
    r = node.mailctl("status", "--insecure", env={"MAILCTL_SERVER": url})
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.startswith("node %s " % node.name)
    r = node.mailctl("--json", "status", env={"MAILCTL_SERVER": url, "MAILCTL_INSECURE": "1"})
    assert r.returncode == 0 and json.loads(r.stdout)["node"] == node.name
