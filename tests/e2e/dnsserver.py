"""A small authoritative DNS responder for the anti-abuse tests: UDP and TCP
on one loopback address and port, answering from records the test gives
(zone-file lines: TXT, A, AAAA, MX, PTR, CNAME ...), so SPF, DKIM, DMARC
and DNSBL lookups never leave the machine.

    with DNSServer("127.0.201.1") as dns:
        dns.add('a.test. 60 IN TXT "v=spf1 ip4:127.0.200.1 -all"')
        dns.servfail("broken.test")        # SERVFAIL for every type
        ... [dns] resolvers = dns.resolver  ("127.0.201.1:PORT")
        dns.queries                          # [(qname, qtype), ...] seen

Names are matched case-insensitively. A name with records of another type
gets NOERROR with no answer (NODATA); an unknown name NXDOMAIN. Answers
too large for UDP (512 bytes without EDNS, else the client's size) are
sent truncated (TC) so the client retries over TCP, as a real server does.

Uses python3-dnslib (Debian) for the wire format.
"""
import socket
import struct
import threading

from dnslib import QTYPE, RCODE, RR, DNSRecord

LOOPBACK_PREFIX = "127."


class DNSServer:
    def __init__(self, address, port=0):
        assert address.startswith(LOOPBACK_PREFIX), "tests use loopback only"
        self.address = address
        self._lock = threading.Lock()
        self._records = {}  # (name, qtype) -> [RR]
        self._names = set()
        self._servfail = set()
        self.queries = []
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((address, port))
        self.port = self._udp.getsockname()[1]
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind((address, self.port))
        self._tcp.listen(16)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]
        for t in self._threads:
            t.start()

    @property
    def resolver(self):
        """The value for [dns] resolvers."""
        return "%s:%d" % (self.address, self.port)

    # --- records ---------------------------------------------------------

    def add(self, *zone_lines):
        """Add records given as zone-file lines ("name TTL IN TYPE rdata")."""
        with self._lock:
            for line in zone_lines:
                for rr in RR.fromZone(line):
                    name = str(rr.rname).lower().rstrip(".")
                    self._records.setdefault((name, rr.rtype), []).append(rr)
                    self._names.add(name)

    def txt(self, name, text, ttl=60):
        """A TXT record; text longer than 255 bytes is split into strings."""
        parts = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
        self.add("%s. %d IN TXT %s" % (name.rstrip("."), ttl,
                                       " ".join('"%s"' % p.replace('"', '\\"') for p in parts)))

    def remove(self, name, qtype=None):
        name = name.lower().rstrip(".")
        with self._lock:
            for key in list(self._records):
                if key[0] == name and (qtype is None or key[1] == getattr(QTYPE, qtype)):
                    del self._records[key]
            if not any(k[0] == name for k in self._records):
                self._names.discard(name)

    def servfail(self, name):
        with self._lock:
            self._servfail.add(name.lower().rstrip("."))

    def clear(self):
        with self._lock:
            self._records.clear()
            self._names.clear()
            self._servfail.clear()
            self.queries.clear()

    def queried(self, name, qtype=None):
        name = name.lower().rstrip(".")
        with self._lock:
            return [q for q in self.queries if q[0] == name and (qtype is None or q[1] == qtype)]

    # --- answering -------------------------------------------------------

    def answer(self, data):
        """The reply to one query message (bytes), or None for garbage."""
        try:
            req = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - garbage in, no answer
            return None
        reply = req.reply()  # QR, AA, RD copied, same id and question
        q = req.q
        name = str(q.qname).lower().rstrip(".")
        with self._lock:
            self.queries.append((name, QTYPE.get(q.qtype)))
            if name in self._servfail:
                reply.header.rcode = RCODE.SERVFAIL
            elif name not in self._names:
                reply.header.rcode = RCODE.NXDOMAIN
            else:
                for rr in self._records.get((name, q.qtype), []):
                    reply.add_answer(rr)
                if q.qtype != QTYPE.CNAME:
                    for rr in self._records.get((name, QTYPE.CNAME), []):
                        reply.add_answer(rr)
        return reply

    def _serve_udp(self):
        self._udp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data, peer = self._udp.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.answer(data)
            if reply is None:
                continue
            limit = 512
            if reply.ar:  # EDNS0 OPT from the client: its payload size
                limit = max(512, min(4096, reply.ar[0].rclass))
            out = reply.pack()
            if len(out) > limit:
                reply.rr = []
                reply.header.tc = 1
                out = reply.pack()
            try:
                self._udp.sendto(out, peer)
            except OSError:
                pass

    def _serve_tcp(self):
        self._tcp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True).start()

    def _tcp_conn(self, conn):
        conn.settimeout(5)
        try:
            while True:
                hdr = _recv_exact(conn, 2)
                if hdr is None:
                    return
                data = _recv_exact(conn, struct.unpack("!H", hdr)[0])
                if data is None:
                    return
                reply = self.answer(data)
                if reply is None:
                    return
                out = reply.pack()
                conn.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            return
        finally:
            conn.close()

    def close(self):
        self._stop.set()
        self._udp.close()
        self._tcp.close()
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf

