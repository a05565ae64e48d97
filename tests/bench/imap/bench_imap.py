"""IMAP benchmark: mailnode against Dovecot (tests/bench/imap).

Usage: bench_imap.py BUILD_DIR   (run.sh passes make's build-run dir)

For each server, started under a temp dir on 127.0.252.x:
  1. load:  the same BENCH_USERS x BENCH_MSGS messages (4 KB) APPENDed over
            IMAP by 20 sessions (imapload -m load): APPEND/s is printed too;
  2. mix:   BENCH_SESSIONS parallel sessions for BENCH_SECONDS doing LOGIN,
            SELECT INBOX, BENCH_OPS (50) commands (FETCH headers of 10 messages 30 %,
            FETCH BODY.PEEK[] 20 %, STORE +/-FLAGS 25 %, SEARCH 15 %,
            APPEND 10 %), LOGOUT, again (imapload -m mix): ops/s (every
            command counts, LOGIN/SELECT/LOGOUT included), p50/p99 latency,
            and server memory sampled during the run (peak VmRSS and VmHWM
            summed over the server's processes, and peak PSS);
            LOGIN costs the same crypt(3) on both: Dovecot's passwd-file holds
            the same yescrypt hash mailnode's directory makes;
  3. idle:  BENCH_IDLE connections each LOGIN + SELECT + IDLE (imapload -m
            idle); memory per idle connection = (PSS with all of them idle -
            PSS before) / connections. RSS delta is printed as well.
For Dovecot the mix runs on its default process model (one imap process per
session); for the idle phase it is restarted with settings for many
connections (imap client_limit 64, imap-login performance mode,
mail_max_userip_connections raised), the way one would run it for 5,000
idle clients; otherwise one imap process per connection would make its
figure several times worse.

Environment: BENCH_USERS (20), BENCH_MSGS (500), BENCH_SESSIONS (20),
BENCH_SECONDS (20), BENCH_OPS (50), BENCH_IDLE (5000; 0 skips the idle phase),
BENCH_ONLY (mailnode|dovecot), BENCH_KEEP=1 keeps the temp dir.
Exit status 0 only when every side ran without errors.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import benchlib as bl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
USERS = bl.env_int("BENCH_USERS", 20)
MSGS = bl.env_int("BENCH_MSGS", 500)
SESSIONS = bl.env_int("BENCH_SESSIONS", 20)
SECONDS = bl.env_float("BENCH_SECONDS", 20)
OPS = bl.env_int("BENCH_OPS", 50)
IDLE = bl.env_int("BENCH_IDLE", 5000)
ONLY = os.environ.get("BENCH_ONLY", "")


def users():
    return ["user%d@%s" % (i, bl.BENCH_DOMAIN) for i in range(USERS)]


def imapload(tool, host, *args, timeout=900):
    return bl.run_imapload(tool, host, bl.PORT_IMAP, USERS, bl.BENCH_DOMAIN, bl.USER_PASSWORD,
                           *args, timeout=timeout)


def phase_load(tool, host):
    bl.log("%s: loading %d users x %d messages" % (host, USERS, MSGS))
    return imapload(tool, host, "-m", "load", "-c", min(20, USERS), "-M", MSGS, "-T", 600)


def phase_mix(tool, host, pid):
    bl.log("%s: mix, %d sessions for %gs" % (host, SESSIONS, SECONDS))
    with bl.MemorySampler(pid) as mem:
        res = imapload(tool, host, "-m", "mix", "-c", SESSIONS, "-T", SECONDS, "-o", OPS)
    res["mem"] = dict(mem.peak)
    res["mem_after"] = bl.memory(pid)
    return res


def phase_idle(tool, host, pid):
    bl.log("%s: %d idle connections" % (host, IDLE))
    before = bl.memory(pid)
    cmd = [tool, "-h", host, "-p", str(bl.PORT_IMAP), "-u", str(USERS), "-d", bl.BENCH_DOMAIN,
           "-w", bl.USER_PASSWORD, "-m", "idle", "-c", str(IDLE), "-T", "300"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if not line.startswith("ready"):
            raise bl.BenchError("imapload idle: %r %s" % (line, p.stderr.read()[:2000]))
        ready = int(line.split()[1])
        time.sleep(1.0)  # let the server finish the IDLE bookkeeping (no polling target)
        during = bl.memory(pid)
    finally:
        p.stdin.close()  # imapload ends the IDLEs and exits on stdin EOF
        try:
            p.wait(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    out, err = p.stdout.read(), p.stderr.read()
    if err:
        bl.log("imapload idle: %s" % err.strip()[:2000])
    res = bl.parse_imapload(out)
    res["ready"] = ready
    res["before"] = before
    res["during"] = during
    n = max(ready, 1)
    res["pss_per_conn"] = (during["pss_kb"] - before["pss_kb"]) * 1024 / n
    res["rss_per_conn"] = (during["rss_kb"] - before["rss_kb"]) * 1024 / n
    return res


def bench_dovecot(bench, tool):
    u = users()
    dc = bl.Dovecot(bench, u, lmtp=False, imap=True).start()
    out = {"name": "Dovecot %s" % dc.version()}
    out["load"] = phase_load(tool, bl.ADDR_DOVECOT)
    out["mix"] = phase_mix(tool, bl.ADDR_DOVECOT, dc.proc.pid)
    if IDLE:
        dc.stop()
        dc.configure(max_idle=IDLE)
        dc.start()
        out["idle"] = phase_idle(tool, bl.ADDR_DOVECOT, dc.proc.pid)
    dc.stop()
    return out


def bench_mailnode(bench, tool, build_dir):
    u = users()
    mn = bl.Mailnode(bench, build_dir, imap=True, max_connections=IDLE + 1000).start()
    mn.require("IMAP", bl.PORT_IMAP)
    mn.add_users(u)
    out = {"name": "mailnode"}
    out["load"] = phase_load(tool, bl.ADDR_MAILNODE)
    out["mix"] = phase_mix(tool, bl.ADDR_MAILNODE, mn.proc.pid)
    if IDLE:
        out["idle"] = phase_idle(tool, bl.ADDR_MAILNODE, mn.proc.pid)
    mn.stop()
    return out


def fmt_side(r):
    if isinstance(r, str):
        return [r]
    lines = []
    ld, mx = r["load"], r["mix"]
    lines.append("  load:  %d APPENDs in %.1fs = %.0f/s, errors %d" % (
        ld["cmd"].get("APPEND", {}).get("n", 0), ld["elapsed"],
        ld["cmd"].get("APPEND", {}).get("n", 0) / ld["elapsed"], ld["errors"]))
    lines.append("  mix:   %.0f ops/s, p50 %.2f ms, p99 %.2f ms, %d ops, errors %d" % (
        mx["rate"], mx["p50_ms"], mx["p99_ms"], mx["ops"], mx["errors"]))
    for name, c in sorted(mx["cmd"].items()):
        lines.append("         %-10s n=%-7d p50 %7.2f ms  p99 %7.2f ms" % (
            name, c["n"], c["p50_ms"], c["p99_ms"]))
    m = mx["mem"]
    lines.append("  memory during mix (peak, %d processes): RSS %.1f MiB, HWM %.1f MiB, "
                 "PSS %.1f MiB" % (m["procs"], m["rss_kb"] / 1024, m["hwm_kb"] / 1024,
                                   m["pss_kb"] / 1024))
    if "idle" in r:
        i = r["idle"]
        lines.append("  idle:  %d/%d connections idle (LOGIN+SELECT+IDLE), %d processes; "
                     "%.1f KiB PSS per connection (RSS %.1f KiB), total PSS %.1f MiB" % (
                         i["ready"], IDLE, i["during"]["procs"], i["pss_per_conn"] / 1024,
                         i["rss_per_conn"] / 1024, i["during"]["pss_kb"] / 1024))
    return lines


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build_dir = sys.argv[1]
    bl.raise_nofile(max(65536, IDLE * 3))
    load_before = bl.machine_line()
    bench = bl.Bench("imap")
    results = {}
    try:
        tool = bl.compile_tool(os.path.join(HERE, "imapload.c"), bench.path("imapload"))
        if ONLY in ("", "dovecot"):
            bl.run_side(results, "dovecot", bench_dovecot, bench, tool, packages=True)
        if ONLY in ("", "mailnode"):
            bl.run_side(results, "mailnode", bench_mailnode, bench, tool, build_dir)
    finally:
        bench.close()

    ok = True
    print()
    print(bl.end_line(load_before))
    print("IMAP: %d users x %d messages of 4 KB; mix of %d sessions for %gs, %d commands "
          "per login; %d idle connections" % (USERS, MSGS, SESSIONS, SECONDS, OPS, IDLE))
    for key in ("mailnode", "dovecot"):
        if key not in results:
            continue
        r = results[key]
        print("%s:" % (r["name"] if isinstance(r, dict) else key))
        for line in fmt_side(r):
            print(line)
        if isinstance(r, str) or r["load"]["errors"] or r["mix"]["errors"] or (
                "idle" in r and (r["idle"]["errors"] or r["idle"]["ready"] != IDLE)):
            ok = False
    m, d = results.get("mailnode"), results.get("dovecot")
    if isinstance(m, dict) and isinstance(d, dict):
        print("ratio mailnode/dovecot: ops/s %.2fx (target >= 1x), p50 %.2fx, p99 %.2fx, "
              "peak PSS during mix %.2fx" % (
                  m["mix"]["rate"] / d["mix"]["rate"], m["mix"]["p50_ms"] / d["mix"]["p50_ms"],
                  m["mix"]["p99_ms"] / d["mix"]["p99_ms"],
                  m["mix"]["mem"]["pss_kb"] / max(d["mix"]["mem"]["pss_kb"], 1)))
        if "idle" in m and "idle" in d:
            print("idle memory per connection: mailnode %.1f KiB (target <= 32 KiB), "
                  "Dovecot %.1f KiB, ratio %.2fx" % (
                      m["idle"]["pss_per_conn"] / 1024, d["idle"]["pss_per_conn"] / 1024,
                      m["idle"]["pss_per_conn"] / max(d["idle"]["pss_per_conn"], 1)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
