"""Shared pieces of the benchmarks in tests/bench/*/ (never run in CI).

Owns: the temp dir of one benchmark run, the servers it starts (a mailnode
node, Postfix, Dovecot) and their cleanup, the Debian install of Postfix and
Dovecot, compiling the C load generators, and reading server memory from
/proc. Everything listens on 127.0.252.x (the e2e suite uses 127.0.10-249.x
and the cluster suite 127.0.0.x), everything lives under one mkdtemp dir,
and every process started here is stopped on exit, on an exception and on
SIGINT/SIGTERM (Bench.close runs from a finally and from atexit).

Postfix and Dovecot run as root here, configured only through files under
the temp dir (`postfix -c DIR`, `dovecot -c FILE`): the system's own
/etc/postfix and /etc/dovecot are not read and not changed.
"""
import atexit
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import base64

BENCH_DOMAIN = "bench.test"
USER_PASSWORD = "bench-Secret-1"
ADMIN_PASSWORD = "bench-admin-Secret1"

ADDR_MAILNODE = "127.0.252.1"
ADDR_POSTFIX = "127.0.252.2"
ADDR_DOVECOT = "127.0.252.3"
PORT_SMTP = 2525
PORT_LMTP = 2424
PORT_IMAP = 2143
PORT_HTTP = 6080

APT_PACKAGES = ["postfix", "dovecot-lmtpd", "dovecot-imapd"]


def log(msg):
    print("bench: %s" % msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def wait_port(address, port, deadline_s, proc=None):
    """Poll until (address, port) accepts; False on deadline or proc exit."""
    deadline = time.monotonic() + deadline_s
    while True:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((address, port), timeout=1):
                return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def ensure_packages():
    """Install Postfix and Dovecot (LMTP, IMAP) from Debian when missing.

    The debconf answer 'No configuration' keeps the package from writing a
    system main.cf; the image's policy-rc.d (or none) decides whether the
    system services start: if they did, they are the system's, not ours, and
    they listen on other addresses and ports than the benchmark."""
    need = []
    if shutil.which("postfix") is None:
        need.append("postfix")
    if not os.path.exists("/usr/lib/dovecot/lmtp"):
        need.append("dovecot-lmtpd")
    if not os.path.exists("/usr/lib/dovecot/imap"):
        need.append("dovecot-imapd")
    if shutil.which("dovecot") is None and "dovecot-imapd" not in need:
        need.append("dovecot-imapd")
    if not need:
        return
    log("installing %s from Debian" % " ".join(need))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["debconf-set-selections"], check=True, text=True,
                   input="postfix postfix/main_mailer_type select No configuration\n")
    r = subprocess.run(["apt-get", "install", "-y", "-q"] + need, env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        r = subprocess.run(["apt-get", "install", "-y", "-q"] + need, env=env,
                           capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError("apt-get install %s failed:\n%s" % (" ".join(need), r.stderr[-2000:]))


def yescrypt_hash(password):
    """crypt(3) hash with a "$y$" setting from libxcrypt's crypt_gensalt."""
    import ctypes
    import ctypes.util
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    setting = lib.crypt_gensalt(b"$y$", 0, None, 0)
    h = lib.crypt(password.encode(), setting) if setting else None
    if not h or not h.startswith(b"$y$"):
        raise BenchError("libcrypt cannot make a yescrypt hash")
    return h.decode()


def machine_line():
    """CPU count, model and load average: the machine is shared with other
    work (builds, tests), so each result states how busy it was."""
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return "machine: %d CPUs (%s), load average %s" % (os.cpu_count(), model, load)


def compile_tool(src, out):
    """Compile a C load generator with the shared loadlib.c next to this file."""
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run(["cc", "-O2", "-Wall", "-pthread", "-I", here, "-o", out, src,
                        os.path.join(here, "loadlib.c")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError("cc %s failed:\n%s" % (src, r.stderr))
    return out


def env_int(name, default):
    """The integer knob BENCH_... from the environment, default when unset."""
    return int(os.environ.get(name, str(default)))


def env_float(name, default):
    return float(os.environ.get(name, str(default)))


def run_side(results, key, fn, *args, packages=False):
    """results[key] = fn(*args), or "FAILED: why" when it raises BenchError;
    with packages the reference servers are installed first."""
    try:
        if packages:
            ensure_packages()
        results[key] = fn(*args)
    except BenchError as e:
        results[key] = "FAILED: %s" % e


def end_line(load_before):
    """The machine line taken before the run plus the load average now."""
    return "%s; at the end: %s" % (load_before, machine_line().split("load average ")[1])


def run_smtpload(tool, host, port, n, clients, size, users, domain, prefix=None):
    """smtpload's one key=value line as floats (see tests/bench/smtp/smtpload.c)."""
    cmd = [tool, "-h", host, "-p", str(port), "-n", str(n), "-c", str(clients),
           "-s", str(size), "-u", str(users), "-d", domain]
    if prefix is not None:
        cmd += ["-x", prefix]
    cmd += ["-t", "600"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=700)
    if r.stderr:
        log("smtpload: %s" % r.stderr.strip())
    res = dict(kv.split("=", 1) for kv in r.stdout.split())
    return {k: float(v) for k, v in res.items()}


def delivery_header(label, width):
    return "%-*s %8s %9s %9s %9s %8s %8s" % (width, label, "accepted", "acc msg/s", "delivered",
                                            "dlv msg/s", "p50 ms", "p99 ms")


def delivery_row(name, r, width):
    """One row of an SMTP delivery table; sets r["acc_rate"] and r["dlv_rate"]."""
    acc = r["accepted"] / r["elapsed"] if r["elapsed"] else 0
    dlv = r["delivered"] / r["delivered_secs"] if r["delivered_secs"] else 0
    r["acc_rate"], r["dlv_rate"] = acc, dlv
    return "%-*s %8d %9.0f %9d %9.0f %8.1f %8.1f" % (
        width, name, r["accepted"], acc, r["delivered"], dlv, r["p50_ms"], r["p99_ms"])


def parse_imapload(out):
    """imapload's "total ..." line as floats, its "cmd NAME ..." lines under "cmd"."""
    res = {"cmd": {}}
    for line in out.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "cmd":
            res["cmd"][f[1]] = {k: float(v) for k, v in (x.split("=") for x in f[2:])}
        elif f[0] == "total":
            res.update({k: float(v) for k, v in (x.split("=") for x in f[1:])})
    return res


def run_imapload(tool, host, port, users, domain, password, *args, timeout=900):
    """Run imapload to the end; its parsed result, BenchError when it gave none."""
    cmd = [tool, "-h", host, "-p", str(port), "-u", str(users), "-d", domain,
           "-w", password] + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.stderr.strip():
        log("imapload: %s" % r.stderr.strip()[:2000])
    res = parse_imapload(r.stdout)
    if "ops" not in res:
        raise BenchError("imapload %s gave no result (exit %d)"
                         % (" ".join(str(a) for a in args), r.returncode))
    return res


def raise_nofile(n=65536):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(n, soft), hard if hard != resource.RLIM_INFINITY else n)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# ---------------------------------------------------------------- /proc memory

def _children_map():
    kids = {}
    for p in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(p) as f:
                s = f.read()
        except OSError:
            continue
        pid = int(p.split("/")[2])
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(pid)
    return kids


def process_tree(pid):
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(pid):
    """Memory of a server: the process and all its descendants (Dovecot and
    Postfix are many processes). rss/hwm are sums of VmRSS/VmHWM (shared
    pages counted once per process), pss the sum of proportional set sizes
    (shared pages split): pss is the fair total for a multi-process server."""
    pids = process_tree(pid)
    return {"procs": len(pids),
            "rss_kb": sum(_status_kb(p, "VmRSS") for p in pids),
            "hwm_kb": sum(_status_kb(p, "VmHWM") for p in pids),
            "pss_kb": sum(_pss_kb(p) for p in pids)}


class MemorySampler:
    """Samples memory(pid) from a thread; keeps the peak of each field."""

    def __init__(self, pid, interval=0.25):
        import threading
        self.pid = pid
        self.interval = interval
        self.peak = {"procs": 0, "rss_kb": 0, "hwm_kb": 0, "pss_kb": 0}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            m = memory(self.pid)
            for k, v in m.items():
                self.peak[k] = max(self.peak[k], v)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


# ---------------------------------------------------------------- bench run

class Bench:
    """One benchmark run: a temp dir and the servers started in it."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="mn-bench-%s-" % name)
        # Postfix and Dovecot drop privileges (postfix, dovecot, dovenull,
        # mail): they must be able to walk into the temp dir.
        os.chmod(self.dir, 0o755)
        self._cleanups = []
        self._closed = False
        self.keep = os.environ.get("BENCH_KEEP") == "1"
        atexit.register(self.close)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        raise SystemExit(128 + signum)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def on_close(self, fn):
        self._cleanups.append(fn)

    def close(self):
        if self._closed:
            return
        self._closed = True
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except Exception as e:  # keep cleaning up the rest
                log("cleanup: %s" % e)
        if self.keep:
            log("kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def _stop_proc(proc, name, sig=signal.SIGTERM, deadline_s=20):
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=deadline_s)
    except subprocess.TimeoutExpired:
        log("%s did not stop within %ds: SIGKILL" % (name, deadline_s))
        proc.kill()
        return proc.wait()


def _kill_pids_with_env(key, value):
    """Postfix's master passes its config dir to every child as MAIL_CONFIG:
    find exactly our processes by it (never by name) and kill them by id."""
    mine = []
    for p in glob.glob("/proc/[0-9]*/environ"):
        try:
            with open(p, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if ("%s=%s" % (key, value)).encode() in env:
            mine.append(int(p.split("/")[2]))
    for pid in mine:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return mine


# ---------------------------------------------------------------- Dovecot

class Dovecot:
    """Dovecot (LMTP + IMAP) with Maildir storage under the bench dir.

    Durability: Dovecot's default mail_fsync = optimized, which fsyncs a
    delivered message before LMTP answers 250 and fsyncs index changes where
    data would be lost otherwise."""

    def __init__(self, bench, users, lmtp=True, imap=True, max_idle=0):
        self.bench = bench
        self.root = bench.path("dovecot")
        self.users = users
        self.proc = None
        os.makedirs(self.root)
        for d in ("run", "state", "mail"):
            os.makedirs(os.path.join(self.root, d))
        mail = os.path.join(self.root, "mail")
        shutil.chown(mail, "mail", "mail")
        # The same password hash as mailnode's directory (yescrypt at
        # libxcrypt's default cost, storage/directory/password.c), so a
        # LOGIN costs both servers the same crypt(3) work.
        pw = "{CRYPT}" + yescrypt_hash(USER_PASSWORD)
        with open(os.path.join(self.root, "passwd"), "w") as f:
            for u in users:
                f.write("%s:%s::::::\n" % (u, pw))
        os.chmod(os.path.join(self.root, "passwd"), 0o644)
        self.protocols = " ".join(p for p, on in (("lmtp", lmtp), ("imap", imap)) if on)
        self.conf = os.path.join(self.root, "dovecot.conf")
        self.configure(max_idle)

    def configure(self, max_idle=0):
        """(Re)write dovecot.conf; max_idle > 0 sets it up for that many
        idle IMAP sessions: one imap process serves up to 64 of them
        (client_limit, fine with a single mail uid), login processes in
        performance mode, no per-user+IP connection cap, and an auth cache
        (the idle phase measures memory, not LOGIN cost)."""
        limits = ""
        if max_idle:
            limits = """
service imap {
  client_limit = 64
  service_count = 0
  process_limit = %d
}
service imap-login {
  service_count = 0
  client_limit = %d
  process_min_avail = 2
}
service anvil {
  client_limit = %d
}
default_client_limit = %d
# the idle phase measures memory, not 5,000 yescrypt runs in one auth process
auth_cache_size = 10M
protocol imap {
  mail_max_userip_connections = %d
}
""" % (max_idle // 64 + 64, max_idle + 100, max_idle * 3 + 1000, max_idle + 1000,
       max_idle + 100)
        with open(self.conf, "w") as f:
            f.write("""# written by tests/bench/lib/benchlib.py
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = {protocols}
listen = {addr}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 8
first_valid_gid = 8
mail_uid = mail
mail_gid = mail
mail_location = maildir:{root}/mail/%d/%n/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
  default_fields = uid=mail gid=mail home={root}/mail/%d/%n
}}
service lmtp {{
  inet_listener lmtp {{
    address = {addr}
    port = {lmtp_port}
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {addr}
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{limits}
""".format(root=self.root, protocols=self.protocols, addr=ADDR_DOVECOT, lmtp_port=PORT_LMTP,
           imap_port=PORT_IMAP, limits=limits))

    def start(self):
        err = open(os.path.join(self.root, "stderr.log"), "w")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=err, stderr=err, start_new_session=True)
        err.close()
        self.bench.on_close(self.stop)
        port = PORT_IMAP if "imap" in self.protocols else PORT_LMTP
        if not wait_port(ADDR_DOVECOT, port, 30, self.proc):
            raise BenchError("dovecot did not start:\n%s\n%s" % (
                self._tail("stderr.log"), self._tail("dovecot.log")))
        log("dovecot %s up (pid %d)" % (self.version(), self.proc.pid))
        return self

    def version(self):
        r = subprocess.run(["dovecot", "--version"], capture_output=True, text=True)
        return r.stdout.split()[0] if r.stdout else "?"

    def _tail(self, name):
        try:
            with open(os.path.join(self.root, name), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        pids = process_tree(proc.pid)
        _stop_proc(proc, "dovecot")
        # The master stops its children; kill any straggler of ours by id.
        for pid in pids[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def count_messages(self):
        n = 0
        for d in glob.glob(os.path.join(self.root, "mail", "*", "*", "Maildir")):
            for sub in ("new", "cur"):
                try:
                    n += sum(1 for _ in os.scandir(os.path.join(d, sub)))
                except FileNotFoundError:
                    pass
        return n


# ---------------------------------------------------------------- Postfix

POSTFIX_MASTER_CF = """# written by tests/bench/lib/benchlib.py (chroot off: the queue is in a temp dir)
{addr}:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """Postfix smtpd -> qmgr -> lmtp to Dovecot, all under the bench dir.

    Durability: Postfix fsyncs each queue file before smtpd answers 250
    (its default), and removes it only after the LMTP 250."""

    def __init__(self, bench, users):
        self.bench = bench
        self.root = bench.path("postfix")
        self.conf_dir = os.path.join(self.root, "conf")
        self.started = False
        for d in ("conf", "queue", "data"):
            os.makedirs(os.path.join(self.root, d))
        shutil.chown(os.path.join(self.root, "data"), "postfix", "postfix")
        with open(os.path.join(self.conf_dir, "vmailbox"), "w") as f:
            for u in users:
                f.write("%s OK\n" % u)
        with open(os.path.join(self.conf_dir, "main.cf"), "w") as f:
            f.write("""# written by tests/bench/lib/benchlib.py
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = $myhostname
# Postfix only accepts addresses configured on an interface here; lo has
# 127.0.0.1/8, so the smtpd entry in master.cf names {addr} itself.
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
relay_domains =
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = texthash:{conf}/vmailbox
virtual_transport = lmtp:inet:{lmtp_addr}:{lmtp_port}
smtp_address_preference = ipv4
biff = no
append_dot_mydomain = no
readme_directory = no
smtpd_tls_security_level = none
smtp_tls_security_level = none
""".format(root=self.root, addr=ADDR_POSTFIX, domain=BENCH_DOMAIN, conf=self.conf_dir,
           lmtp_addr=ADDR_DOVECOT, lmtp_port=PORT_LMTP))
        with open(os.path.join(self.conf_dir, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER_CF.format(addr=ADDR_POSTFIX, port=PORT_SMTP))

    def _postfix(self, *args):
        return subprocess.run(["postfix", "-c", self.conf_dir] + list(args),
                              capture_output=True, text=True,
                              env=dict(os.environ, MAIL_CONFIG=self.conf_dir))

    def master_pid(self):
        try:
            with open(os.path.join(self.root, "queue", "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self):
        self.bench.on_close(self.stop)
        self.started = True
        r = self._postfix("start")
        if r.returncode != 0:
            # postfix(1) prints its fatal reason only to a terminal or syslog
            why = subprocess.run(["script", "-qc", "postfix -c %s check" % self.conf_dir,
                                  "/dev/null"], capture_output=True, text=True)
            raise BenchError("postfix start failed:\n%s%s%s" % (r.stdout, r.stderr, why.stdout))
        if not wait_port(ADDR_POSTFIX, PORT_SMTP, 30):
            raise BenchError("postfix smtpd does not accept on %s:%d:\n%s"
                             % (ADDR_POSTFIX, PORT_SMTP, self._maillog()))
        log("postfix %s up (master pid %s)" % (self.version(), self.master_pid()))
        return self

    def version(self):
        r = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True,
                           text=True)
        return r.stdout.strip() or "?"

    def _maillog(self):
        try:
            with open(os.path.join(self.root, "maillog"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        if not self.started:
            return
        self.started = False
        pid = self.master_pid()
        self._postfix("stop")
        deadline = time.monotonic() + 20
        while pid is not None and os.path.exists("/proc/%d" % pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        _kill_pids_with_env("MAIL_CONFIG", self.conf_dir)

    def queue_empty(self):
        q = os.path.join(self.root, "queue")
        for sub in ("incoming", "active", "deferred", "maildrop", "hold"):
            for _, _, files in os.walk(os.path.join(q, sub)):
                if files:
                    return False
        return True


# ---------------------------------------------------------------- mailnode

class MailnodeUnavailable(BenchError):
    pass


class Mailnode:
    """One mailnode node from BUILD/mailnode with a config under the bench dir."""

    def __init__(self, bench, build_dir, smtp=False, imap=False, max_connections=1000,
                 name="bench1", address=ADDR_MAILNODE, cluster=None):
        """cluster: None for a single node, else a dict with "join"
        (HOST:RPC_PORT, "" on the bootstrap node) and "secret"."""
        self.bench = bench
        self.build_dir = os.path.abspath(build_dir)
        self.bin = os.path.join(self.build_dir, "mailnode")
        self.ctl = os.path.join(self.build_dir, "mailctl")
        self.name = name
        self.address = address
        self.root = bench.path("mailnode" if cluster is None else "mailnode-" + name)
        self.data_dir = os.path.join(self.root, "data")
        self.proc = None
        self.smtp, self.imap = smtp, imap
        os.makedirs(self.root)
        ports = {"smtp_port": PORT_SMTP if smtp else 0, "submission_port": 0, "smtps_port": 0,
                 "imap_port": PORT_IMAP if imap else 0, "imaps_port": 0, "pop3_port": 0,
                 "pop3s_port": 0, "http_port": PORT_HTTP, "https_port": 0,
                 "raft_port": 7100, "rpc_port": 7101}
        self.config = os.path.join(self.root, "node.ini")
        lines = ["; written by tests/bench/lib/benchlib.py", "[node]", "name = %s" % name,
                 "data_dir = %s" % self.data_dir, "hostname = %s.bench.test" % name,
                 "[listen]", "address = %s" % address]
        lines += ["%s = %d" % kv for kv in ports.items()]
        lines += ["max_connections = %d" % max_connections]
        if cluster is not None:
            lines += ["[cluster]", "join = %s" % cluster.get("join", ""),
                      "secret = %s" % cluster["secret"]]
        lines += ["[admin]", "initial_password = %s" % ADMIN_PASSWORD, "[log]", "level = info"]
        # The load comes from one address (127.0.0.1) with thousands of
        # connections: exempt loopback from the per-IP limits (node/limits),
        # as Postfix exempts $mynetworks from its anvil limits. Only for a
        # build that knows the [limits] section (an unknown one is refused).
        if os.path.exists(self.bin):
            with open(self.bin, "rb") as f:
                if b"conn_per_minute_per_ip" in f.read():
                    lines += ["[limits]", "exempt = 127.0.0.0/8"]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.url = "http://%s:%d" % (address, PORT_HTTP)

    def start(self):
        if not os.path.exists(self.bin):
            raise MailnodeUnavailable("no %s (build it: make build-run)" % self.bin)
        self.log_path = os.path.join(self.root, "stderr.log")
        err = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.bin, "--config", self.config],
                                     stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     cwd=self.root, start_new_session=True)
        err.close()
        self.bench.on_close(self.stop)
        if not wait_port(self.address, PORT_HTTP, 30, self.proc):
            raise BenchError("mailnode %s did not start (exit %s):\n%s"
                             % (self.name, self.proc.poll(), self.log_tail()))
        log("mailnode %s up on %s (pid %d)" % (self.name, self.address, self.proc.pid))
        return self

    def require(self, service, port):
        """The service's port must accept: the daemon of this build may not
        have the service yet (it ignores the port key then)."""
        if not wait_port(self.address, port, 10, self.proc):
            raise MailnodeUnavailable(
                "mailnode %s not available: %s does not listen on %s:%d "
                "(this build has no %s server)" % (service, self.bin, self.address, port, service))

    def log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        rc = _stop_proc(proc, "mailnode " + self.name)
        if rc != 0:
            log("mailnode %s exit code %s; log tail:\n%s" % (self.name, rc, self.log_tail()))

    def mailctl(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
        env.update(MAILCTL_SERVER=self.url, MAILCTL_USER="admin", MAILCTL_PASSWORD=ADMIN_PASSWORD)
        r = subprocess.run([self.ctl] + list(args), env=env, capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise BenchError("mailctl %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def add_users(self, users):
        self.mailctl("domain", "add", BENCH_DOMAIN)
        for u in users:
            self.mailctl("user", "add", u, "--password", USER_PASSWORD, "--quota", "10G")

    def api_get(self, path, conn=None):
        import http.client
        auth = base64.b64encode(("admin:%s" % ADMIN_PASSWORD).encode()).decode()
        c = conn or http.client.HTTPConnection(self.address, PORT_HTTP, timeout=30)
        c.request("GET", path, headers={"Authorization": "Basic " + auth})
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise BenchError("GET %s: %d %s" % (path, r.status, body[:200]))
        return json.loads(body)

    def spool_entries(self):
        """Files in data_dir/spool/queue (message + ID.state per queued
        message, docs/operations.md), or None when there is no such dir.
        Read from the file system so that polling costs the server nothing,
        as the Maildir count does for Dovecot."""
        try:
            return sum(1 for _ in os.scandir(os.path.join(self.data_dir, "spool", "queue")))
        except FileNotFoundError:
            return None

    def count_messages(self, users, conn):
        """Messages in the users' mailboxes: used_messages from
        GET /api/v1/users/{address}; where that is not filled in, the length
        of GET /api/v1/users/{address}/messages (INBOX)."""
        n = 0
        for u in users:
            info = self.api_get("/api/v1/users/%s" % u, conn)
            used = info.get("used_messages")
            if isinstance(used, int) and used > 0:
                n += used
            else:
                n += len(self.api_get("/api/v1/users/%s/messages" % u, conn))
        return n
