#!/usr/bin/python3
"""bench/run.py: the benchmark driver of batchd (make bench, make bench-smoke).

Starts everything on 127.0.0.1 (nats-server, batchd, beanstalkd, the echo
responder, the C tools of bench/), runs the six parts, prints a table of
figures (median, min and max of the repetitions, with targets) and writes
bench/results/{latest|smoke}.{md,csv,json} (and latest.png with gnuplot).

Every process it starts is killed on exit, failure or signal included; the
shims of batchd (started in sessions of their own) are found by their pid
files and stopped too. Every wait is bounded. Timings never make the exit
status non-zero; a part that fails to run does.

Sizes come from --mode and can be overridden with --set NAME=VALUE (the
BENCH_* variables of bench/bench.mk).
"""

import argparse
import csv
import glob
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WS = "bench"

SIZES = {
    "full": {
        "BENCH_K": "1 8 32 128", "BENCH_CNATS_K": "32",
        "BENCH_REPS": 3, "BENCH_SECS": 3.0,
        "BENCH_WARM": 0.5, "BENCH_CLUSTERS": 512,
        "BENCH_LAT_N": 200, "BENCH_LAT_REPS": 3,
        "BENCH_LOG_MIB": 256, "BENCH_LOG_REPS": 7, "BENCH_LOG_ZSTD": "",
        "BENCH_SCALE_CLUSTERS": 1000, "BENCH_SCALE_QUEUED": 100,
        "BENCH_SCALE_RUNS": 1000000, "BENCH_SCALE_K": 32,
        "BENCH_SCALE_REPS": 3, "BENCH_COLD": 1, "BENCH_KEEP": 0,
        "BENCH_QUIET_S": 120, "BENCH_SCHED_N": 10000, "BENCH_SCHED_REPS": 3,
        "BENCH_SCHED_LEAD_S": 8,
        "BENCH_FLOW_N": 10000, "BENCH_FLOW_BATCH": 1000,
        "BENCH_FLOW_REPS": 3,
        "BENCH_HA_REPS": 3, "BENCH_HA_FAILOVERS": 3,
    },
    "smoke": {
        "BENCH_K": "1 8", "BENCH_CNATS_K": "8",
        "BENCH_REPS": 1, "BENCH_SECS": 0.25,
        "BENCH_WARM": 0.1, "BENCH_CLUSTERS": 16,
        "BENCH_LAT_N": 5, "BENCH_LAT_REPS": 1,
        "BENCH_LOG_MIB": 8, "BENCH_LOG_REPS": 1, "BENCH_LOG_ZSTD": "",
        "BENCH_SCALE_CLUSTERS": 20, "BENCH_SCALE_QUEUED": 5,
        "BENCH_SCALE_RUNS": 2000, "BENCH_SCALE_K": 8,
        "BENCH_SCALE_REPS": 1, "BENCH_COLD": 0, "BENCH_KEEP": 0,
        "BENCH_QUIET_S": 0, "BENCH_SCHED_N": 200, "BENCH_SCHED_REPS": 1,
        "BENCH_SCHED_LEAD_S": 3,
        "BENCH_FLOW_N": 1000, "BENCH_FLOW_BATCH": 1000,
        "BENCH_FLOW_REPS": 1,
        "BENCH_HA_REPS": 1, "BENCH_HA_FAILOVERS": 1,
    },
}

HI_PY = 'import sys\nsys.stdout.write("hi\\n")\nsys.stdout.flush()\n'
# The log streaming job: text lines, as jobs write them (128 bytes each,
# formatted, through Python's buffered stdout), exactly MIB MiB.
LINES_PY = """import sys
n = int(sys.argv[1]) << 20
w = sys.stdout.write
pad = "." * 66
for i in range(n // 128):
    w("%012d level=info step=%06d rows=%09d status=ok %s\\n"
      % (i, i % 999983, (i * 7919) % 1000000000, pad))
sys.stdout.flush()
"""

# Part 5: a job that fails at once and may retry in a week holds its
# cluster, without a process, so the fires queue behind it.
HOLDER_PY = "import sys\nsys.exit(1)\n"

# The worst case: ready-made 1 MiB blocks, nothing but write(2) (to
# /dev/null in milliseconds): what the pipeline itself sustains.
FLOOD_PY = """import sys
block = b"x" * 1048575 + b"\\n"
w = sys.stdout.buffer.write
for _ in range(int(sys.argv[1])):
    w(block)
sys.stdout.flush()
"""


class PartFailed(Exception):
    pass


def log(msg):
    print("bench: " + msg, flush=True)


# ---------------------------------------------------------------- processes

class Procs:
    """Every process started here, to be stopped whatever happens."""

    def __init__(self):
        self.procs = []
        self.data_dirs = []

    def start(self, argv, env=None, stdout=None, stderr=None):
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                             stdout=stdout, stderr=stderr)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=15.0):
        """Signal p and wait for it (SIGKILL after timeout); its status."""
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def stop_shims(self):
        """Stop the shims of every batchd data dir used (own sessions)."""
        for d in self.data_dirs:
            for lock in glob.glob(os.path.join(d, "runs", "*", "*",
                                               "lock")):
                try:
                    # the shim's pid and start time (daemon/exec.c)
                    pid, start = open(lock).read().split()[:2]
                    stat = open("/proc/%s/stat" % pid).read()
                    fields = stat[stat.rindex(")") + 2:].split()
                    if fields[19] == start:
                        os.kill(int(pid), signal.SIGKILL)
                        # its job is in a process group of its own
                        for child in children_of(int(pid)):
                            os.killpg(child, signal.SIGKILL)
                except (OSError, ValueError, IndexError):
                    pass

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p, signal.SIGKILL, timeout=5)
        self.stop_shims()


def children_of(pid):
    out = []
    for st in glob.glob("/proc/[0-9]*/stat"):
        try:
            s = open(st).read()
            f = s[s.rindex(")") + 2:].split()
            if int(f[1]) == pid:
                out.append(int(st.split("/")[2]))
        except (OSError, ValueError):
            pass
    return out


def free_port():
    """The tests' port picker: below the ephemeral range, locked."""
    d = os.path.join(TOP, "tests", "integration")
    if d not in sys.path:
        sys.path.insert(0, d)
    import harness
    return harness.free_port()


def wait_port(port, proc, timeout=10.0, banner=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PartFailed("process on port %d exited with %s"
                             % (port, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5) as s:
                if banner is None or s.recv(16).startswith(banner):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise PartFailed("nothing answers on 127.0.0.1:%d" % port)


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace")
                             .splitlines()[-n:])
    except OSError:
        return ""


def du_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


SYSCALLS = ("fdatasync", "pwrite64", "writev")


class SyscallCount:
    """Count some system calls of a process with perf stat (tracepoints,
    counted in the kernel: no measurable slowdown); optional."""

    def __init__(self, procs, pid, path):
        self.path, self.p = path, None
        if shutil.which("perf") is None:
            return
        ev = ",".join("syscalls:sys_enter_" + c for c in SYSCALLS)
        self.p = procs.start(["perf", "stat", "-x,", "-e", ev, "-p",
                              str(pid), "-o", path],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(0.2)

    def stop(self, procs):
        if self.p is None:
            return {}
        procs.stop(self.p, signal.SIGINT)
        out = {}
        try:
            for line in open(self.path):
                f = line.strip().split(",")
                if len(f) > 2 and f[2].startswith("syscalls:sys_enter_"):
                    out[f[2][19:]] = int(f[0])
        except (OSError, ValueError):
            pass
        return out


def proc_status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile of pid, in bytes."""
    out = {}
    try:
        for line in open("/proc/%d/status" % pid):
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


# ---------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args, sizes):
        self.args = args
        self.sz = sizes
        self.bin = os.path.join(TOP, args.bin)
        self.tools = os.path.join(self.bin, "bench")
        self.work = os.path.join(self.tools, "work")
        self.procs = Procs()
        self.rows = []          # figures
        self.raw = {}           # every tool's JSON, per part
        self.failed = []        # parts that did not run
        self.timing = {}        # seconds per part
        self.busy = {}          # CPU share used by others before each part
        self.disk = {}          # a synced write's us before each part
        self.nats = None

    # ---------------------------------------------------- helpers

    def tool(self, name, *argv, timeout=300.0, logname=None, env=None):
        """Run a C tool; its JSON result. A failure raises PartFailed."""
        path = os.path.join(self.tools, name)
        logpath = os.path.join(self.work, (logname or name) + ".stderr")
        with open(logpath, "ab") as err:
            p = self.procs.start([path] + [str(a) for a in argv],
                                 env=dict(self.tool_env(), **(env or {})),
                                 stdout=subprocess.PIPE, stderr=err)
            try:
                out, _ = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.procs.stop(p, signal.SIGKILL)
                raise PartFailed("%s timed out after %.0f s" % (name,
                                                                timeout))
            self.procs.procs.remove(p)
        lines = out.decode("utf-8", "replace").strip().splitlines()
        if p.returncode != 0 or not lines:
            raise PartFailed("%s %s exited with %s:\n%s"
                             % (name, " ".join(str(a) for a in argv),
                                p.returncode, tail(logpath, 15)))
        return json.loads(lines[-1])

    def tool_env(self):
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = "detect_leaks=0"
        # loadgen's clients speak NATS over a bare socket, as its
        # beanstalkd clients speak beanstalkd; "cnats" rows override it.
        env["BENCH_CLIENT"] = "raw"
        return env

    def start_nats(self):
        port = free_port()
        logf = open(os.path.join(self.work, "nats-server.log"), "ab")
        p = self.procs.start(["nats-server", "-a", "127.0.0.1", "-p",
                              str(port)], stdout=logf, stderr=logf)
        wait_port(port, p, banner=b"INFO")
        self.nats = "nats://127.0.0.1:%d" % port
        return p

    def batchd_env(self, data, extra=None):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("BATCHD_")}
        env.update({
            "BATCHD_NATS_URL": self.nats,
            "BATCHD_DATA_DIR": data,
            "BATCHD_WORKSPACE_ROOT": os.path.join(self.work, "ws"),
            "BATCHD_LOG_LEVEL": "warn",
            "BATCHD_QUEUE_CAP": "100000",
            # The scale part stores a million runs in one workspace.
            "BATCHD_QUOTA_RUNS": "0",
            "BATCHD_KILL_GRACE_S": "1",
            "ASAN_OPTIONS": "detect_leaks=0",
        })
        env.update(extra or {})
        return env

    def start_batchd(self, data, extra=None, wait=True, probe_name="none"):
        """Start batchd on data; (proc, ms until it answered) if wait."""
        os.makedirs(data, exist_ok=True)
        if data not in self.procs.data_dirs:
            self.procs.data_dirs.append(data)
        logf = open(os.path.join(data + ".stderr"), "ab")
        p = self.procs.start([os.path.join(self.bin, "batchd")],
                             env=self.batchd_env(data, extra),
                             stdout=logf, stderr=logf)
        if not wait:
            return p, None
        t0 = time.monotonic_ns()
        try:
            r = self.tool("probe", self.nats, WS, probe_name, 60)
        except PartFailed as e:
            raise PartFailed("batchd did not answer: %s\n%s"
                             % (e, tail(data + ".stderr")))
        return p, (r["t_answer_ns"] - t0) / 1e6

    def stop_batchd(self, p, data, sig=signal.SIGTERM):
        rc = self.procs.stop(p, sig)
        if sig == signal.SIGTERM and rc != 0:
            raise PartFailed("batchd exited with %s:\n%s"
                             % (rc, tail(data + ".stderr")))
        return rc

    def start_beanstalkd(self, binlog):
        port = free_port()
        argv = ["beanstalkd", "-l", "127.0.0.1", "-p", str(port)]
        if binlog:
            os.makedirs(binlog, exist_ok=True)
            argv += ["-b", binlog, "-f", "0"]
        logf = open(os.path.join(self.work, "beanstalkd.log"), "ab")
        p = self.procs.start(argv, stdout=logf, stderr=logf)
        wait_port(port, p)
        return p, port

    def add(self, part, figure, unit, values, target=None, ok=None,
            note=""):
        """A figure: its values over the repetitions."""
        vals = [v for v in values if v is not None]
        row = {"part": part, "figure": figure, "unit": unit,
               "n": len(vals),
               "median": statistics.median(vals) if vals else None,
               "min": min(vals) if vals else None,
               "max": max(vals) if vals else None,
               "target": target or "", "verdict": "", "note": note,
               "values": vals}
        if ok is not None and vals:
            row["verdict"] = "met" if ok(row["median"]) else "MISSED"
        self.rows.append(row)
        return row

    # ---------------------------------------------------- part 1

    def part_throughput(self):
        os.makedirs(os.path.join(self.work, "p1"), exist_ok=True)
        ks = [int(k) for k in str(self.sz["BENCH_K"]).split()]
        cnats_ks = [int(k) for k in str(self.sz["BENCH_CNATS_K"]).split()]
        reps = int(self.sz["BENCH_REPS"])
        secs = float(self.sz["BENCH_SECS"])
        warm = float(self.sz["BENCH_WARM"])
        nclusters = int(self.sz["BENCH_CLUSTERS"])
        echo_log = open(os.path.join(self.work, "echo.stderr"), "ab")
        echo = self.procs.start([os.path.join(self.tools, "echo"),
                                 self.nats, "bench.echo", "3600"],
                                env=self.tool_env(),
                                stdout=subprocess.PIPE, stderr=echo_log)
        if echo.stdout.readline().strip() != b"ready":
            raise PartFailed("echo responder did not start")
        res = {s: {k: [] for k in ks} for s in
               ("echo", "batchd", "batchd_flush", "bean_fsync", "bean_mem",
                "echo_cnats", "batchd_cnats")}
        durable = []
        floor = []
        order = ["echo", "batchd", "bean_fsync", "batchd_flush", "bean_mem",
                 "echo_cnats", "batchd_cnats"]
        for rep in range(reps):
            floor.append(self.tool("seed", "commit",
                                   os.path.join(self.work, "p1"),
                                   200 if reps > 1 else 20,
                                   logname="seed-commit"))
            log("storage floor rep %d: LMDB commit p50 %.0f us, pwrite+"
                "fdatasync p50 %.0f us, O_DSYNC pwrite p50 %.0f us" % (
                    rep + 1, floor[-1]["lmdb_commit_us"]["p50"],
                    floor[-1]["pwrite4k_fdatasync_us"]["p50"],
                    floor[-1]["odsync_pwrite120_us"]["p50"]))
            for k in ks:
                # Rotate the order so no system always goes first.
                n = rep % len(order)
                for sysname in order[n:] + order[:n]:
                    if sysname.endswith("_cnats") and k not in cnats_ks:
                        continue
                    tag = "%s-k%d-r%d" % (sysname, k, rep)
                    # *_cnats: the clients are cnats connections
                    client = ({"BENCH_CLIENT": "cnats"}
                              if sysname.endswith("_cnats") else None)
                    if sysname.startswith("echo"):
                        r = self.tool("loadgen", "echo", self.nats,
                                      "bench.echo", k, warm, secs,
                                      logname="loadgen-" + tag, env=client)
                    elif sysname.startswith("batchd"):
                        # batchd_flush: cnats without SendAsap, the event
                        # loop writes what a loop turn published
                        r, d = self.throughput_batchd(
                            tag, k, warm, secs, nclusters,
                            {"BATCHD_NATS_SEND_ASAP": "off"}
                            if sysname == "batchd_flush" else None, client)
                        durable.append(d)
                    else:
                        binlog = (os.path.join(self.work, "p1", tag)
                                  if sysname == "bean_fsync" else None)
                        bp, port = self.start_beanstalkd(binlog)
                        try:
                            r = self.tool("loadgen", "beanstalk", port, k,
                                          warm, secs,
                                          logname="loadgen-" + tag)
                        finally:
                            self.procs.stop(bp)
                            if binlog:
                                shutil.rmtree(binlog, ignore_errors=True)
                    res[sysname][k].append(r)
                    log("throughput %-10s K=%-3d rep %d: %8.0f/s "
                        "(p99 %.2f ms)" % (sysname, k, rep + 1, r["rate"],
                                           r["lat_p99_us"] / 1000))
        self.procs.stop(echo)
        self.raw["throughput"] = res
        self.raw["storage_floor"] = floor
        for key, label in (
                ("lmdb_commit_us", "LMDB commit of one put, synced"),
                ("pwrite4k_fdatasync_us", "pwrite 4 KiB + fdatasync"),
                ("odsync_pwrite120_us", "pwrite 120 B, O_DSYNC (LMDB meta)")):
            for q in ("p50", "p99"):
                self.add("1 throughput", "storage floor: %s %s"
                         % (label, q), "us", [f[key][q] for f in floor])
        names = {"echo": "echo (request/reply through nats-server, bus "
                         "ceiling)",
                 "echo_cnats": "echo, clients through cnats",
                 "batchd_cnats": "batchd run.submit, clients through cnats",
                 "batchd": "batchd run.submit (durable)",
                 "batchd_flush": "batchd run.submit, nats_send_asap off "
                                 "(writes once per loop turn)",
                 "bean_fsync": "beanstalkd put, binlog fsync each write",
                 "bean_mem": "beanstalkd put, no binlog"}
        for k in ks:
            for s in ("echo", "batchd", "batchd_flush", "bean_fsync",
                      "bean_mem"):
                self.add("1 throughput", "K=%d %s" % (k, names[s]), "req/s",
                         [r["rate"] for r in res[s][k]])
            for s, label, tgt, ok in (
                    ("echo", "batchd / echo", ">= 0.50",
                     lambda v: v >= 0.5),
                    ("bean_fsync", "batchd / beanstalkd fsync", ">= 2.0",
                     lambda v: v >= 2.0),
                    ("bean_mem", "batchd / beanstalkd no binlog", None,
                     None)):
                ratios = [b["rate"] / o["rate"] for b, o in
                          zip(res["batchd"][k], res[s][k]) if o["rate"]]
                if k != 32:
                    tgt, ok = None, None
                self.add("1 throughput", "K=%d %s" % (k, label), "ratio",
                         ratios, tgt, ok)
            if k in cnats_ks:
                for s in ("echo_cnats", "batchd_cnats"):
                    self.add("1 throughput", "K=%d %s" % (k, names[s]),
                             "req/s", [r["rate"] for r in res[s][k]])
                for o, label in (("echo_cnats", "echo"),
                                 ("bean_fsync", "beanstalkd fsync")):
                    self.add("1 throughput", "K=%d clients through cnats: "
                             "batchd / %s" % (k, label), "ratio",
                             [b["rate"] / e["rate"] for b, e in
                              zip(res["batchd_cnats"][k], res[o][k])
                              if e["rate"]])
            self.add("1 throughput", "K=%d batchd nats_send_asap off / on"
                     % k, "ratio",
                     [f["rate"] / b["rate"] for f, b in
                      zip(res["batchd_flush"][k], res["batchd"][k])
                      if b["rate"]])
            bd = res["batchd"][k]
            self.add("1 throughput", "K=%d batchd submit latency p50" % k,
                     "ms", [r["lat_p50_us"] / 1000 for r in bd])
            self.add("1 throughput", "K=%d batchd submit latency p99" % k,
                     "ms", [r["lat_p99_us"] / 1000 for r in bd])
            # Where the time goes, in the counted window (loadgen reads
            # batchd's /proc at its start and end); the syscall counts
            # below cover the whole loadgen run, set-up included.
            self.add("1 throughput", "K=%d batchd CPU per request, all "
                     "threads" % k, "us",
                     [r["watch_cpu_s"] / r["replies"] * 1e6 for r in bd
                      if r["replies"] and r.get("watch_cpu_s", -1) >= 0])
            self.add("1 throughput", "K=%d batchd loop thread busy" % k,
                     "%", [r["watch_main_cpu_s"] / r["secs"] * 100
                           for r in bd
                           if r.get("watch_main_cpu_s", -1) >= 0])
            for c in SYSCALLS:
                self.add("1 throughput", "K=%d batchd %s calls per request"
                         % (k, c), "calls",
                         [r["syscalls"][c] / r["acked"] for r in bd
                          if r["acked"] and c in r.get("syscalls", {})])
        lost = sum(d["lost"] for d in durable)
        self.add("1 throughput", "acknowledged submissions missing after "
                 "kill -9 (of %d)" % sum(d["acked"] for d in durable),
                 "runs", [lost], "0", lambda v: v == 0)
        if lost:
            raise PartFailed("%d acknowledged submissions not in storage "
                             "after kill -9" % lost)

    def throughput_batchd(self, tag, k, warm, secs, nclusters, extra=None,
                          client=None):
        data = os.path.join(self.work, "p1", tag)
        p, _ = self.start_batchd(data, dict({"BATCHD_SHIM": "/bin/false"},
                                            **(extra or {})))
        try:
            sc = SyscallCount(self.procs, p.pid, data + ".perfstat")
            r = self.tool("loadgen", "batchd", self.nats, WS, k, warm, secs,
                          nclusters, logname="loadgen-" + tag,
                          env=dict({"BENCH_WATCH_PID": str(p.pid)},
                                   **(client or {})))
            r["syscalls"] = sc.stop(self.procs)
        finally:
            # kill -9: what was acknowledged must be in storage.
            self.stop_batchd(p, data, signal.SIGKILL)
        c = self.tool("seed", "count", data)
        want = r["acked"] + nclusters
        self.discard(data)
        return r, {"acked": r["acked"], "stored": c["runs"],
                   "lost": max(0, want - c["runs"])}

    # ---------------------------------------------------- part 7

    def start_js_cluster(self, d):
        """Three nats-servers with JetStream, clustered on loopback; their
        client URLs."""
        ports = [(free_port(), free_port()) for _ in range(3)]
        routes = ", ".join("nats://127.0.0.1:%d" % c for _, c in ports)
        procs = []
        for i, (cp, rp) in enumerate(ports):
            conf = os.path.join(d, "n%d.conf" % i)
            with open(conf, "w") as f:
                f.write("server_name: n%d\nlisten: 127.0.0.1:%d\n"
                        "jetstream { store_dir: %s, max_mem: 256M, "
                        "max_file: 4G }\ncluster { name: bench, listen: "
                        "127.0.0.1:%d, routes: [%s] }\n"
                        % (i, cp, os.path.join(d, "js%d" % i), rp, routes))
            logf = open(os.path.join(d, "n%d.log" % i), "ab")
            procs.append(self.procs.start(["nats-server", "-c", conf],
                                          stdout=logf, stderr=logf))
        for (cp, _), p in zip(ports, procs):
            wait_port(cp, p, banner=b"INFO")
        return procs, ["nats://127.0.0.1:%d" % cp for cp, _ in ports]

    def part_ha(self):
        """HA: durable run.submit at K=32 with every commit in an R3
        JetStream stream, as a ratio of one batchd on the same NATS
        cluster; and the failover time, from kill -9 of the leader to the
        first answer of the standby that takes over."""
        d = os.path.join(self.work, "p7")
        os.makedirs(d, exist_ok=True)
        reps = int(self.sz["BENCH_HA_REPS"])
        secs = float(self.sz["BENCH_SECS"])
        warm = float(self.sz["BENCH_WARM"])
        nclusters = int(self.sz["BENCH_CLUSTERS"])
        k = 32 if 32 in [int(x) for x in str(self.sz["BENCH_K"]).split()] \
            else int(str(self.sz["BENCH_K"]).split()[-1])
        servers, urls = self.start_js_cluster(d)
        saved, self.nats = self.nats, urls[0]
        single, ha, failover = [], [], []
        try:
            time.sleep(1.0)     # the JetStream meta leader
            for rep in range(reps):
                for mode in (("single", "ha") if rep % 2 == 0
                             else ("ha", "single")):
                    r = self.throughput_ha(d, "%s-r%d" % (mode, rep), mode,
                                           urls, k, warm, secs, nclusters)
                    (ha if mode == "ha" else single).append(r["rate"])
                    log("ha %-6s K=%d rep %d: %8.0f/s (p99 %.2f ms)"
                        % (mode, k, rep + 1, r["rate"],
                           r["lat_p99_us"] / 1000))
            for i in range(int(self.sz["BENCH_HA_FAILOVERS"])):
                failover.append(self.failover_ms(d, "fo%d" % i, urls))
                log("ha failover %d: %.0f ms" % (i + 1, failover[-1]))
        finally:
            self.nats = saved
            for p in servers:
                self.procs.stop(p)
        self.add("7 ha", "K=%d run.submit, one batchd (no HA)" % k, "req/s",
                 single)
        self.add("7 ha", "K=%d run.submit, ha = on (R3 JetStream)" % k,
                 "req/s", ha)
        self.add("7 ha", "K=%d ha / one batchd" % k, "ratio",
                 [h / s for h, s in zip(ha, single) if s])
        self.add("7 ha", "failover: kill -9 of the leader to the new "
                 "leader's first answer (lease 3 s)", "ms", failover)

    def ha_env(self, d, tag, node, urls):
        return {"BATCHD_NATS_URL": ",".join(urls), "BATCHD_HA": "on",
                "BATCHD_HA_NODE": node, "BATCHD_HA_STREAM": "B" + tag,
                "BATCHD_HA_LEASE_S": "3", "BATCHD_HA_REPLICAS": "3",
                "BATCHD_SHIM": "/bin/false",
                "BATCHD_RUNS_DIR": os.path.join(d, tag + "-runs"),
                "BATCHD_LOGS_DIR": os.path.join(d, tag + "-logs")}

    def throughput_ha(self, d, tag, mode, urls, k, warm, secs, nclusters):
        nodes = []
        try:
            if mode == "ha":
                for node in ("a", "b"):
                    nodes.append(self.start_batchd(
                        os.path.join(d, tag + node),
                        self.ha_env(d, tag, node, urls), wait=node == "a"))
            else:
                nodes.append(self.start_batchd(
                    os.path.join(d, tag), {"BATCHD_SHIM": "/bin/false"}))
            leader = nodes[0][0]
            return self.tool("loadgen", "batchd", self.nats, WS, k, warm,
                             secs, nclusters, logname="loadgen-ha-" + tag,
                             env={"BENCH_WATCH_PID": str(leader.pid)})
        finally:
            for p, _ in nodes:
                self.procs.stop(p, signal.SIGKILL)

    def failover_ms(self, d, tag, urls):
        a, _ = self.start_batchd(os.path.join(d, tag + "a"),
                                 self.ha_env(d, tag, "a", urls))
        b, _ = self.start_batchd(os.path.join(d, tag + "b"),
                                 self.ha_env(d, tag, "b", urls), wait=False)
        try:
            time.sleep(1.0)     # b follows a
            t0 = time.monotonic_ns()
            self.procs.stop(a, signal.SIGKILL)
            r = self.tool("probe", self.nats, WS, "none", 60,
                          logname="probe-" + tag)
            return (r["t_answer_ns"] - t0) / 1e6
        finally:
            self.procs.stop(b, signal.SIGKILL)

    # ---------------------------------------------------- part 2

    def part_latency(self):
        n = int(self.sz["BENCH_LAT_N"])
        reps = int(self.sz["BENCH_LAT_REPS"])
        data = os.path.join(self.work, "p2")
        p, _ = self.start_batchd(data)
        res = []
        try:
            for rep in range(reps):
                r = self.tool("latency", self.nats, WS, n,
                              os.path.join(self.work, "ws", WS, "jobs",
                                           "hi.py"),
                              timeout=60 + n * 5,
                              logname="latency-r%d" % rep)
                res.append(r)
                log("latency rep %d: reply->RUNNING p50 %.2f p99 %.2f ms, "
                    "reply->first line p50 %.2f p99 %.2f ms, direct p50 "
                    "%.2f p99 %.2f ms" % (
                        rep + 1, r["reply_to_running"]["p50"],
                        r["reply_to_running"]["p99"],
                        r["reply_to_first_line"]["p50"],
                        r["reply_to_first_line"]["p99"],
                        r["direct_to_first_line"]["p50"],
                        r["direct_to_first_line"]["p99"]))
        finally:
            self.stop_batchd(p, data)
        self.raw["latency"] = res
        for key, label in (("reply_to_running", "reply -> RUNNING event"),
                           ("reply_to_first_line",
                            "reply -> first output line (LogChunk)"),
                           ("direct_to_first_line",
                            "direct posix_spawn -> first output line"),
                           ("submit_reply", "run.submit request -> reply"),
                           ("request_to_first_line",
                            "run.submit request -> first output line")):
            for q in ("p50", "p99", "max"):
                self.add("2 dispatch", "%s %s (n=%d per rep)"
                         % (label, q, n), "ms", [r[key][q] for r in res])
        self.add("2 dispatch", "overhead over direct spawn, p50", "ms",
                 [r["overhead_p50"] for r in res])
        self.add("2 dispatch", "overhead over direct spawn, p99", "ms",
                 [r["overhead_p99"] for r in res], "< 5",
                 lambda v: v < 5)
        # The same from the request: the submission's own commit too.
        for q in ("p50", "p99"):
            self.add("2 dispatch", "overhead from the request, %s" % q,
                     "ms", [r["request_overhead_" + q] for r in res])

    # ---------------------------------------------------- part 3

    def part_logs(self):
        mib = int(self.sz["BENCH_LOG_MIB"])
        reps = int(self.sz["BENCH_LOG_REPS"])
        level = str(self.sz["BENCH_LOG_ZSTD"])  # "": batchd's default
        data = os.path.join(self.work, "p3")
        p, _ = self.start_batchd(data, {"BATCHD_LOG_ZSTD_LEVEL": level}
                                 if level else None)
        res = {"lines.py": [], "flood.py": []}
        try:
            for rep in range(reps):
                for job in res:
                    r = self.tool("logstream", self.nats, WS, mib,
                                  os.path.join(self.work, "ws", WS, "jobs",
                                               job), self.work,
                                  timeout=600,
                                  logname="logstream-%s-r%d" % (job, rep))
                    res[job].append(r)
                    log("logs rep %d %s: %d MiB, /dev/null %.0f ms, file "
                        "%.0f ms, captured %.0f ms (x%.2f), beside the bus "
                        "%.0f ms (x%.2f), zstd %.0f "
                        "ms (x%.2f), batchd %.0f ms (x%.2f), %.0f MiB/s "
                        "received"
                        % (rep + 1, job, mib, r["direct_devnull_ms"],
                           r["direct_file_ms"], r["captured_ms"],
                           r["ratio_captured"], r["bus_ms"], r["ratio_bus"],
                           r["busz_ms"], r["ratio_busz"],
                           r["batchd_ms"], r["ratio_devnull"],
                           r["mib_per_s"]))
                    # the next run starts from clean log space
                    for f in glob.glob(os.path.join(data, "logs", "*", "*")):
                        os.unlink(f)
            hwm = proc_status(p.pid).get("VmHWM")
        finally:
            self.stop_batchd(p, data)
        self.raw["logs"] = res
        if hwm is not None:
            self.add("3 logs", "batchd peak RSS (VmHWM) over every job of "
                     "this part", "MiB", [hwm / 2**20])
        for job, what in (("lines.py", "text lines"),
                          ("flood.py", "1 MiB blocks (worst case)")):
            rs = res[job]
            self.add("3 logs", "%s, %d MiB to /dev/null, direct"
                     % (what, mib), "ms", [r["direct_devnull_ms"] for r in rs])
            self.add("3 logs", "%s, %d MiB to a file, direct" % (what, mib),
                     "ms", [r["direct_file_ms"] for r in rs])
            self.add("3 logs", "%s, into a pipe spliced to a file as the "
                     "shim does (captured and stored, nothing published)"
                     % what, "ms", [r["captured_ms"] for r in rs])
            self.add("3 logs", "%s, under batchd, RUNNING -> eof received"
                     % what, "ms", [r["batchd_ms"] for r in rs])
            self.add("3 logs", "%s, attempt wall under batchd (shim)" % what,
                     "ms", [r["shim_wall_ms"] for r in rs])
            if job == "lines.py":
                self.add("3 logs", "%s, batchd / direct to /dev/null" % what,
                         "ratio", [r["ratio_devnull"] for r in rs],
                         "<= 1.15", lambda v: v <= 1.15)
            else:
                self.add("3 logs", "%s, batchd / direct to /dev/null" % what,
                         "ratio", [r["ratio_devnull"] for r in rs])
            self.add("3 logs", "%s, batchd / direct to a file" % what,
                     "ratio", [r["ratio_file"] for r in rs])
            self.add("3 logs", "%s, captured / direct to /dev/null" % what,
                     "ratio", [r["ratio_captured"] for r in rs])
            self.add("3 logs", "%s, batchd / captured" % what, "ratio",
                     [r["batchd_over_captured"] for r in rs])
            if job == "lines.py":
                # what the bus's share of the two cores costs the job; the
                # flood's /dev/null run (~12 ms) is too short to pace by
                for key, ms_row, floor in (
                        ("bus", "to /dev/null while the bus carries as many "
                         "bytes (nothing stored)", "the bus's floor"),
                        ("busz", "the same with text lines compressed as "
                         "batchd publishes them (zstd)",
                         "the bus's floor as batchd uses it")):
                    self.add("3 logs", "%s, %s" % (what, ms_row), "ms",
                             [r[key + "_ms"] for r in rs])
                    self.add("3 logs", "%s, that / direct to /dev/null: %s"
                             % (what, floor), "ratio",
                             [r["ratio_" + key] for r in rs])
                    self.add("3 logs", "%s, batchd / %s" % (what, floor),
                             "ratio", [r["batchd_over_" + key] for r in rs])
            # a slower job (its CPU time grows) or a waiting one (its wall
            # grows past its CPU time)
            for key, how in (("devnull", "to /dev/null"),
                             ("captured", "captured"),
                             ("batchd", "under batchd")):
                self.add("3 logs", "%s, the job's CPU time (user + system), "
                         "%s" % (what, how), "ms",
                         [r[key + "_cpu_ms"] for r in rs])
            self.add("3 logs", "%s, received by a subscriber" % what,
                     "MiB/s", [r["mib_per_s"] for r in rs])
            self.add("3 logs", "%s, bytes of output per byte of LogChunk "
                     "data on the bus (log_zstd_level %s)"
                     % (what, level or "default"), "ratio",
                     [r["bytes"] / max(r["wire_bytes"], 1) for r in rs])

    # ---------------------------------------------------- part 4

    def part_scale(self):
        nc = int(self.sz["BENCH_SCALE_CLUSTERS"])
        nq = int(self.sz["BENCH_SCALE_QUEUED"])
        nruns = int(self.sz["BENCH_SCALE_RUNS"])
        k = int(self.sz["BENCH_SCALE_K"])
        reps = int(self.sz["BENCH_SCALE_REPS"])
        secs = float(self.sz["BENCH_SECS"])
        warm = float(self.sz["BENCH_WARM"])
        nclusters = int(self.sz["BENCH_CLUSTERS"])
        full = os.path.join(self.work, "p4", "full")
        extra = {"BATCHD_SHIM": "/bin/false",
                 "BATCHD_LMDB_MAP_SIZE": "16G"}
        t = time.monotonic()
        seed = self.tool("seed", "fill", full, WS, nc, nq, nruns,
                         timeout=3600, logname="seed-fill")
        seed_s = time.monotonic() - t
        log("scale: seeded %d clusters x %d queued + %d finished runs in "
            "%.0f s" % (nc, nq, nruns, seed_s))
        before = self.tool("seed", "count", full)
        lmdb_du = du_bytes(os.path.join(full, "lmdb"))
        self.procs.data_dirs.append(full)
        res = {"full": [], "empty": [], "cold": []}
        for rep in range(reps):
            for which in ("full", "empty"):
                data = full if which == "full" else os.path.join(
                    self.work, "p4", "empty-r%d" % rep)
                res[which].append(self.scale_once(data, extra, k, warm,
                                                  secs, nclusters, rep))
                r = res[which][-1]
                log("scale %-5s rep %d: first answer %.0f ms, RSS %.1f MiB "
                    "(%.1f after load), submit %0.f/s"
                    % (which, rep + 1, r["restart_ms"],
                       r["rss"]["VmRSS"] / 2**20,
                       r["rss_after"]["VmRSS"] / 2**20, r["rate"]))
                if which == "empty":
                    self.discard(data)
        if int(self.sz["BENCH_COLD"]) and os.access(
                "/proc/sys/vm/drop_caches", os.W_OK):
            for rep in range(reps):
                os.sync()
                with open("/proc/sys/vm/drop_caches", "w") as f:
                    f.write("3\n")
                p, ms = self.start_batchd(full, extra,
                                          probe_name="c00000")
                res["cold"].append({"restart_ms": ms,
                                    "rss": proc_status(p.pid)})
                self.stop_batchd(p, full)
                log("scale cold rep %d: first answer %.0f ms"
                    % (rep + 1, ms))
        after = self.tool("seed", "count", full)
        self.raw["scale"] = {"seed": seed, "seed_s": seed_s,
                             "before": before, "after": after, "runs": res}
        # The queued runs must still be queued: none was dispatched.
        if after["queue"] < before["queue"]:
            raise PartFailed("queued runs were dispatched after restart "
                             "(queue %d -> %d)" % (before["queue"],
                                                   after["queue"]))
        mib = 2**20
        self.add("4 scale", "seeding %d finished + %d queued runs (seed)"
                 % (nruns, nc * nq), "s", [seed_s])
        self.add("4 scale", "LMDB size on disk (du), seeded", "MiB",
                 [lmdb_du / mib])
        self.add("4 scale", "LMDB pages in use, seeded", "MiB",
                 [before["used_bytes"] / mib])
        self.add("4 scale", "restart -> first answer, %d runs, warm cache"
                 % before["runs"], "ms",
                 [r["restart_ms"] for r in res["full"]], "< 2000",
                 lambda v: v < 2000)
        if res["cold"]:
            self.add("4 scale", "restart -> first answer, %d runs, cold "
                     "cache (drop_caches)" % before["runs"], "ms",
                     [r["restart_ms"] for r in res["cold"]], "< 2000",
                     lambda v: v < 2000)
        self.add("4 scale", "restart -> first answer, empty store", "ms",
                 [r["restart_ms"] for r in res["empty"]])
        self.add("4 scale", "RSS after first answer, seeded", "MiB",
                 [r["rss"]["VmRSS"] / mib for r in res["full"]], "< 100",
                 lambda v: v < 100)
        self.add("4 scale", "  of which anonymous (RssAnon)", "MiB",
                 [r["rss"]["RssAnon"] / mib for r in res["full"]])
        self.add("4 scale", "RSS after the submit load, seeded", "MiB",
                 [r["rss_after"]["VmRSS"] / mib for r in res["full"]],
                 "< 100", lambda v: v < 100)
        self.add("4 scale", "  of which anonymous (RssAnon)", "MiB",
                 [r["rss_after"]["RssAnon"] / mib for r in res["full"]])
        self.add("4 scale", "RSS after the submit load, empty store", "MiB",
                 [r["rss_after"]["VmRSS"] / mib for r in res["empty"]])
        self.add("4 scale", "K=%d run.submit, seeded store" % k, "req/s",
                 [r["rate"] for r in res["full"]])
        self.add("4 scale", "K=%d run.submit, empty store" % k, "req/s",
                 [r["rate"] for r in res["empty"]])
        self.add("4 scale", "seeded / empty submit throughput", "ratio",
                 [f["rate"] / e["rate"] for f, e in
                  zip(res["full"], res["empty"]) if e["rate"]],
                 ">= 0.80", lambda v: v >= 0.8)

    def scale_once(self, data, extra, k, warm, secs, nclusters, rep):
        p, ms = self.start_batchd(data, extra, probe_name="c00000")
        try:
            rss = proc_status(p.pid)
            r = self.tool("loadgen", "batchd", self.nats, WS, k, warm, secs,
                          nclusters, logname="loadgen-scale-r%d" % rep)
            rss_after = proc_status(p.pid)
        finally:
            self.stop_batchd(p, data)
        return {"restart_ms": ms, "rss": rss, "rss_after": rss_after,
                "rate": r["rate"], "load": r}

    def discard(self, data):
        """Remove a data directory batchd used: its LMDB files now, the rest
        (attempt directories, logs: thousands of small files) with the work
        directory at the end of the run. ext4 without a journal (this
        machine's root) does not reuse an inode deleted in the last minute
        and finds a free one by checking those before it one by one: after
        part 1 deleted its stores, every file an attempt made cost up to a
        millisecond, for a minute, and part 2 measured that."""
        trash = os.path.join(self.work, "trash")
        os.makedirs(trash, exist_ok=True)
        shutil.rmtree(os.path.join(data, "lmdb"), ignore_errors=True)
        if os.path.isdir(data):
            os.rename(data, os.path.join(trash, str(len(os.listdir(trash)))))

    # ---------------------------------------------------- running

    # ---------------------------------------------------- part 5

    def part_schedules(self):
        """Fire lag: N schedules due in the same second, their runs queued
        (under the cap of 100) on clusters a holder keeps busy."""
        n = int(self.sz["BENCH_SCHED_N"])
        reps = int(self.sz["BENCH_SCHED_REPS"])
        res = []
        for rep in range(reps):
            data = os.path.join(self.work, "p5-%d" % rep)
            p, _ = self.start_batchd(data, extra={
                "BATCHD_QUEUE_CAP": "100", "BATCHD_QUOTA_SCHEDULES": "0"})
            try:
                r = Schedules(self, n).run()
            finally:
                self.stop_batchd(p, data)
                self.discard(data)
            res.append(r)
            log("schedules rep %d: %d due at once, fire lag min %.1f p50 "
                "%.1f p99 %.1f max %.1f ms; event received p99 %.1f ms; %d "
                "created in %.1f s" % (rep + 1, n, r["lag"]["min"],
                                       r["lag"]["p50"], r["lag"]["p99"],
                                       r["lag"]["max"], r["recv"]["p99"], n,
                                       r["create_s"]))
        self.raw["schedules"] = res
        for q, target in (("min", None), ("p50", None), ("p99", "< 50"),
                          ("max", None)):
            self.add("5 schedules", "fire lag, %d schedules due at once, %s"
                     % (n, q), "ms", [r["lag"][q] for r in res], target,
                     (lambda v: v < 50) if target else None)
        for q in ("p50", "p99"):
            self.add("5 schedules", "fire -> its ScheduleFireEvent received "
                     "(commit included), %s" % q, "ms",
                     [r["recv"][q] for r in res])
        self.add("5 schedules", "schedule.create, %d requests from 32 "
                 "threads" % n, "per s", [n / r["create_s"] for r in res])

    def part_workflows(self):
        """Dependencies: one run's end releasing N dependents (fan-out),
        N runs' ends releasing the joins that wait for them (fan-in), and
        run.submit_batch of B runs against B run.submits."""
        n = int(self.sz["BENCH_FLOW_N"])
        nb = int(self.sz["BENCH_FLOW_BATCH"])
        reps = int(self.sz["BENCH_FLOW_REPS"])
        res = []
        for rep in range(reps):
            data = os.path.join(self.work, "p6-%d" % rep)
            p, _ = self.start_batchd(data)
            try:
                r = Workflows(self, n, nb).run()
            finally:
                self.stop_batchd(p, data)
                self.discard(data)
            res.append(r)
            log("workflows rep %d: fan-out 1 -> %d: %.1f ms to the last "
                "queued, reply %.1f ms; fan-in %d -> %d joins: %.1f ms, "
                "reply %.1f ms; %d runs: batch %.1f ms, single %.1f ms"
                % (rep + 1, n, r["out_ms"], r["out_reply_ms"], n,
                   r["joins"], r["in_ms"], r["in_reply_ms"], nb,
                   r["batch_ms"], r["single_ms"]))
        self.raw["workflows"] = res
        part = "6 workflows"
        self.add(part, "fan-out: 1 run's end -> the last of its %d "
                 "dependents queued (in its commit)" % n, "ms",
                 [r["out_ms"] for r in res])
        self.add(part, "fan-out: run.cancel of the upstream, reply "
                 "(cascade and commit)", "ms",
                 [r["out_reply_ms"] for r in res])
        self.add(part, "fan-in: %d runs' ends -> the last of %d joins (64 "
                 "upstreams each) queued" % (n, res[0]["joins"]), "ms",
                 [r["in_ms"] for r in res])
        self.add(part, "fan-in: run.cancel_all of the %d upstreams, reply"
                 % n, "ms", [r["in_reply_ms"] for r in res])
        self.add(part, "run.submit_batch of %d runs" % nb, "ms",
                 [r["batch_ms"] for r in res])
        self.add(part, "%d run.submit, one after another" % nb, "ms",
                 [r["single_ms"] for r in res])
        self.add(part, "run.submit_batch speed-up over single submits",
                 "ratio", [r["single_ms"] / r["batch_ms"] for r in res])

    def setup(self):
        shutil.rmtree(self.work, ignore_errors=True)
        jobs = os.path.join(self.work, "ws", WS, "jobs")
        os.makedirs(jobs)
        with open(os.path.join(jobs, "hi.py"), "w") as f:
            f.write(HI_PY)
        with open(os.path.join(jobs, "flood.py"), "w") as f:
            f.write(FLOOD_PY)
        with open(os.path.join(jobs, "lines.py"), "w") as f:
            f.write(LINES_PY)
        with open(os.path.join(jobs, "holder.py"), "w") as f:
            f.write(HOLDER_PY)
        for t in ("loadgen", "echo", "latency", "logstream", "probe",
                  "seed"):
            if not os.access(os.path.join(self.tools, t), os.X_OK):
                raise SystemExit("bench: %s/%s missing: make bench-build"
                                 % (self.tools, t))
        for b in ("batchd", "batchd-shim"):
            if not os.access(os.path.join(self.bin, b), os.X_OK):
                raise SystemExit("bench: %s/%s missing" % (self.bin, b))
        for prog in ("nats-server", "beanstalkd"):
            if shutil.which(prog) is None:
                raise SystemExit("bench: %s not installed (make bench-deps"
                                 " / make deps)" % prog)

    def run(self, parts):
        self.setup()
        t_all = time.monotonic()
        self.start_nats()
        for name, fn in (("1 throughput", self.part_throughput),
                         ("2 dispatch", self.part_latency),
                         ("3 logs", self.part_logs),
                         ("4 scale", self.part_scale),
                         ("5 schedules", self.part_schedules),
                         ("6 workflows", self.part_workflows),
                         ("7 ha", self.part_ha)):
            if name[0] not in parts:
                continue
            # The writeback a part leaves behind must not land in the
            # next part's fsyncs (part 2 replies wait for one each).
            os.sync()
            self.disk[name] = wait_disk(self.work,
                                        float(self.sz["BENCH_QUIET_S"]))
            self.busy[name] = wait_quiet(float(self.sz["BENCH_QUIET_S"]))
            log("part %s (CPUs %.0f%% busy before it, synced 4 KiB write "
                "%.0f us)" % (name, self.busy[name] * 100, self.disk[name]))
            t = time.monotonic()
            try:
                fn()
            except PartFailed as e:
                self.failed.append(name)
                log("part %s FAILED: %s" % (name, e))
            finally:
                self.procs.stop_shims()
            self.timing[name] = time.monotonic() - t
            log("part %s took %.0f s" % (name, self.timing[name]))
        self.timing["total"] = time.monotonic() - t_all


# ---------------------------------------------------------------- output

def fmt(v, unit):
    if v is None:
        return "-"
    if unit in ("ratio",):
        return "%.2f" % v
    if abs(v) >= 1000:
        return "%.0f" % v
    if abs(v) >= 100:
        return "%.1f" % v
    return "%.2f" % v


def cpu_busy(secs=1.0):
    """Share of all CPUs busy over secs (any process), from /proc/stat."""
    def sample():
        f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        idle = f[3] + f[4]
        return sum(f), idle
    t0, i0 = sample()
    time.sleep(secs)
    t1, i1 = sample()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def wait_quiet(limit_s):
    """Wait (at most limit_s) until other work leaves the CPUs alone."""
    deadline = time.monotonic() + limit_s
    while True:
        busy = cpu_busy()
        if busy < 0.15 or time.monotonic() >= deadline:
            return busy
        log("machine busy (%.0f%% CPU used by other processes), waiting"
            % (busy * 100))
        time.sleep(4)


def fsync_us(path):
    """One 4 KiB write + fdatasync into path (made once and kept: a file
    deleted now would slow the next file made, see wait_disk()), in
    microseconds."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        t0 = time.monotonic_ns()
        os.pwrite(fd, b"\0" * 4096, 0)
        os.fdatasync(fd)
        return (time.monotonic_ns() - t0) / 1000.0
    finally:
        os.close(fd)


def wait_disk(work, limit_s):
    """Wait (at most limit_s) until a synced write is quick again: deleting
    a part's gigabytes makes the disk discard them for a while, and every
    run.submit reply waits for an fdatasync. The median of 9 probes."""
    deadline = time.monotonic() + limit_s
    probe = os.path.join(work, "fsync-probe")
    while True:
        us = statistics.median(fsync_us(probe) for _ in range(9))
        if us < 1000 or time.monotonic() >= deadline:
            return us
        log("disk busy (a synced 4 KiB write takes %.0f us), waiting" % us)
        time.sleep(2)


def machine():
    info = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "cpus": os.cpu_count(), "kernel": os.uname().release}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["mem_gib"] = round(os.sysconf("SC_PAGE_SIZE") *
                                os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        info["commit"] = subprocess.run(
            ["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", TOP, "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True,
                               timeout=10).stdout.strip()
        if dirty:
            info["commit"] += " (+ uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        pass
    for prog, arg in (("nats-server", "--version"), ("beanstalkd", "-v")):
        try:
            info[prog] = subprocess.run([prog, arg], capture_output=True,
                                        text=True, timeout=10
                                        ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def table_text(rows):
    head = ("part", "figure", "median", "min", "max", "unit", "n", "target",
            "")
    lines = [head]
    for r in rows:
        lines.append((r["part"], r["figure"], fmt(r["median"], r["unit"]),
                      fmt(r["min"], r["unit"]), fmt(r["max"], r["unit"]),
                      r["unit"], str(r["n"]), r["target"], r["verdict"]))
    w = [max(len(l[i]) for l in lines) for i in range(len(head))]
    out = io.StringIO()
    for i, l in enumerate(lines):
        out.write("  ".join(c.rjust(w[j]) if j in (2, 3, 4, 6) else
                            c.ljust(w[j]) for j, c in
                            enumerate(l)).rstrip() + "\n")
        if i == 0:
            out.write("  ".join("-" * x for x in w) + "\n")
    return out.getvalue()


def write_results(b, mode, sizes):
    d = os.path.join(TOP, "bench", "results")
    os.makedirs(d, exist_ok=True)
    base = os.path.join(d, "latest" if mode == "full" else mode)
    info = machine()
    with open(base + ".csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["part", "figure", "unit", "median", "min", "max", "n",
                    "target", "verdict", "values"])
        for r in b.rows:
            w.writerow([r["part"], r["figure"], r["unit"],
                        "" if r["median"] is None else "%.4g" % r["median"],
                        "" if r["min"] is None else "%.4g" % r["min"],
                        "" if r["max"] is None else "%.4g" % r["max"],
                        r["n"], r["target"], r["verdict"],
                        " ".join("%.4g" % v for v in r["values"])])
    with open(base + ".md", "w") as f:
        f.write("# batchd benchmark (%s)\n\n" % mode)
        f.write("%s, %s CPUs (%s), %s GiB, Linux %s; commit %s; %s; "
                "beanstalkd %s.\n\n" % (
                    info.get("date"), info.get("cpus"), info.get("cpu", "?"),
                    info.get("mem_gib", "?"), info.get("kernel"),
                    info.get("commit", "?"), info.get("nats-server", "?"),
                    info.get("beanstalkd", "?")))
        f.write("Sizes: %s.\n\n" % ", ".join(
            "%s=%s" % (k, v) for k, v in sorted(sizes.items())))
        f.write("Each figure: the median of n repetitions, with min and "
                "max. See bench/README.md for what each one measures.\n\n")
        f.write("| part | figure | median | min | max | unit | n | target "
                "| |\n|---|---|---:|---:|---:|---|---:|---|---|\n")
        for r in b.rows:
            f.write("| %s | %s | %s | %s | %s | %s | %d | %s | %s |\n" % (
                r["part"], r["figure"], fmt(r["median"], r["unit"]),
                fmt(r["min"], r["unit"]), fmt(r["max"], r["unit"]),
                r["unit"], r["n"], r["target"].replace("<", "&lt;"),
                r["verdict"]))
        f.write("\nTime per part: %s.\n" % ", ".join(
            "%s %.0f s" % (k, v) for k, v in b.timing.items()))
        f.write("\nCPU share used by other processes just before each "
                "part (the machine is shared; >15%% disturbs the "
                "figures): %s.\n" % ", ".join(
                    "%s %.0f%%" % (k, v * 100) for k, v in b.busy.items()))
        f.write("\nA synced 4 KiB write just before each part: %s.\n"
                % ", ".join("%s %.0f us" % (k, v) for k, v in b.disk.items()))
        if b.failed:
            f.write("\nParts that FAILED to run: %s.\n"
                    % ", ".join(b.failed))
    with open(base + ".json", "w") as f:
        json.dump({"machine": info, "sizes": sizes, "rows": b.rows,
                   "raw": b.raw, "timing": b.timing, "busy": b.busy,
                   "disk": b.disk, "failed": b.failed},
                  f, indent=1)
    if mode == "full":
        chart(b, base + ".png")
    return base


def chart(b, png):
    """Throughput per K with min-max bars, if gnuplot is there."""
    if shutil.which("gnuplot") is None or "throughput" not in b.raw:
        return
    res = b.raw["throughput"]
    ks = sorted(res["batchd"])
    dat = png[:-4] + "-throughput.dat"
    with open(dat, "w") as f:
        f.write("# K echo min max batchd min max bean_fsync min max "
                "bean_mem min max\n")
        for k in ks:
            f.write(str(k))
            for s in ("echo", "batchd", "bean_fsync", "bean_mem"):
                v = [r["rate"] for r in res[s][k]] or [0]
                f.write(" %.0f %.0f %.0f" % (statistics.median(v), min(v),
                                             max(v)))
            f.write("\n")
    script = """
set terminal png size 900,520
set output '%s'
set title 'Durable command throughput (median of reps, min-max bars)'
set ylabel 'replies / s'
set xlabel 'concurrent clients K'
set style data histograms
set style histogram errorbars gap 2 lw 1
set style fill solid 0.7 border -1
set key top left
set grid ytics
plot '%s' using 2:3:4:xtic(1) title 'echo (bus ceiling)', \
     '' using 5:6:7 title 'batchd run.submit (fsync)', \
     '' using 8:9:10 title 'beanstalkd binlog fsync', \
     '' using 11:12:13 title 'beanstalkd no binlog'
""" % (png, dat)
    try:
        subprocess.run(["gnuplot"], input=script, text=True, timeout=60,
                       capture_output=True, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        log("gnuplot: no chart (%s)" % e)
    finally:
        os.unlink(dat)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=sorted(SIZES), default="smoke")
    ap.add_argument("--bin", default="build",
                    help="directory of batchd and bench/ (default build)")
    ap.add_argument("--set", action="append", default=[],
                    metavar="NAME=VALUE",
                    help="override a size: %s" % " ".join(
                        sorted(SIZES["full"])))
    ap.add_argument("--parts", default="1234567",
                    help="parts to run, e.g. 14 (default 1234567)")
    args = ap.parse_args()
    sizes = dict(SIZES[args.mode])
    for s in args.set:
        k, _, v = s.partition("=")
        if k not in sizes:
            ap.error("unknown size %s" % k)
        sizes[k] = v
    b = Bench(args, sizes)

    def on_signal(sig, _frame):
        raise SystemExit("bench: signal %d, stopping" % sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        b.run(args.parts)
    finally:
        b.procs.stop_all()
    if not int(sizes["BENCH_KEEP"]):
        shutil.rmtree(b.work, ignore_errors=True)
    text = table_text(b.rows)
    print()
    print(text, end="")
    print("time: " + ", ".join("%s %.0f s" % (k, v)
                               for k, v in b.timing.items()))
    base = write_results(b, args.mode, sizes)
    print("written: %s.md %s.csv %s.json%s" % (
        base, base, base, " %s.png" % base
        if os.path.exists(base + ".png") else ""))
    if b.failed:
        print("FAILED to run: %s" % ", ".join(b.failed))
        return 1
    return 0



# ---------------------------------------------------------------- part 5

def pct(vals, q):
    """The q-quantile (0..1) of vals, nearest rank."""
    v = sorted(vals)
    return v[min(len(v) - 1, max(0, int(round(q * len(v) + 0.5)) - 1))]


class Schedules:
    """One repetition of part 5 against a started batchd: N schedules of
    a quick job, each on one of N/80 clusters a holder keeps busy, all
    firing at the same second T; their fire events give the lag."""

    PER_CLUSTER = 80

    def __init__(self, bench, n):
        sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
        sys.path.insert(0, os.path.join(TOP, "build", "py"))
        from batchd.v1 import batchd_pb2
        from natsclient import NatsClient
        self.pb = batchd_pb2
        host, port = bench.nats[len("nats://"):].split(":")
        self.nc = NatsClient(host, int(port))
        self.n = n
        self.lead = float(bench.sz["BENCH_SCHED_LEAD_S"])

    def call(self, verb, msg, cls):
        rep = cls.FromString(self.nc.request("%s.v1.%s.%s" % (
            "batchd", WS, verb), msg.SerializeToString(), timeout=30))
        if rep.HasField("error"):
            raise PartFailed("%s: %s" % (verb, rep.error.message))
        return rep

    def jobdef(self, name, location, **retry):
        pb = self.pb
        c = pb.JobConfig(type=pb.PYTHON, source_location=location)
        c.source.type = pb.WORKSPACE
        c.source.workspace.path = "jobs"
        for k, v in retry.items():
            setattr(c.retry_strategy, k, v)
        return self.call("jobdef.create", pb.CreateJobDefinitionRequest(
            name=name + os.urandom(3).hex(), config=c),
            pb.JobDefinitionReply).job_definition.uuid

    def held_clusters(self, k):
        """k clusters, each held by a run waiting a week to retry."""
        pb = self.pb
        holder = self.jobdef("holder", "holder.py", num_retries=1,
                             retry_delay_seconds=604800)
        cl, runs = [], []
        for i in range(k):
            c = self.call("cluster.create", pb.CreateClusterRequest(
                name="p5-%d-%s" % (i, os.urandom(3).hex()),
                config=pb.ClusterConfig(instance_type="local",
                                        workers_quantity=1)),
                pb.ClusterReply).cluster.uuid
            cl.append(c)
            runs.append(self.call("run.submit", pb.SubmitJobRunRequest(
                job_definition_uuid=holder, cluster_uuid=c),
                pb.JobRunReply).job_run.uuid)
        deadline = time.monotonic() + 60 + k
        for r in runs:
            while self.call("run.get", pb.GetJobRunRequest(uuid=r),
                            pb.JobRunReply).job_run.reason != \
                    pb.RETRY_PENDING:
                if time.monotonic() > deadline:
                    raise PartFailed("holder runs did not wait to retry")
                time.sleep(0.05)
        return cl

    def run(self):
        pb, n = self.pb, self.n
        job = self.jobdef("tick", "hi.py")
        clusters = self.held_clusters((n + self.PER_CLUSTER - 1) //
                                      self.PER_CLUSTER)
        t0 = time.time()
        fire = int(t0 + self.lead + n / 400.0) + 1
        tm = time.gmtime(fire)
        cron = "%d %d %d %d %d *" % (tm.tm_sec, tm.tm_min, tm.tm_hour,
                                      tm.tm_mday, tm.tm_mon)

        def create(i):
            self.call("schedule.create", pb.CreateScheduleRequest(
                name="s%06d" % i, cron=cron, job_definition_uuid=job,
                cluster_uuid=clusters[i // self.PER_CLUSTER],
                max_concurrent_runs=0), pb.ScheduleReply)
        with ThreadPoolExecutor(32) as ex:
            list(ex.map(create, range(n)))
        create_s = time.time() - t0
        if time.time() > fire - 1:
            raise PartFailed("creating %d schedules took %.1f s, past "
                             "their fire" % (n, create_s))
        got, lock = [], threading.Lock()
        done = threading.Event()

        def on_fire(subject, reply, data):
            with lock:
                got.append((time.time(), data))
                if len(got) == n:
                    done.set()
        self.nc._subscribe("batchd.v1.%s.schedule_fires.>" % WS, on_fire)
        self.nc.flush()
        if not done.wait(fire - time.time() + 60 + n / 200.0):
            raise PartFailed("%d of %d fire events" % (len(got), n))
        lag, recv, runs = [], [], set()
        for t, data in got:
            ev = pb.ScheduleFireEvent.FromString(data)
            if ev.scheduled_for_ms != fire * 1000 or not ev.run_uuid:
                raise PartFailed("a fire at %d (not %d) or skipped: %s" % (
                    ev.scheduled_for_ms, fire * 1000, ev.skipped_reason))
            lag.append(ev.at_ms - ev.scheduled_for_ms)
            recv.append(t * 1000 - ev.scheduled_for_ms)
            runs.add(ev.run_uuid)
        if len(runs) != n:
            raise PartFailed("%d runs for %d fires" % (len(runs), n))
        self.nc.close()
        return {"n": n, "create_s": create_s,
                "lag": {q: pct(lag, f) for q, f in (("min", 0.0),
                        ("p50", .5), ("p99", .99), ("max", 1.0))},
                "recv": {q: pct(recv, f) for q, f in (("p50", .5),
                         ("p99", .99), ("max", 1.0))}}


# ---------------------------------------------------------------- part 6

class Workflows(Schedules):
    """One repetition of part 6 against a started batchd. Dependents and
    upstreams wait in the queue of a cluster a holder keeps busy, so that
    only the resolution is measured: an upstream ends by run.cancel
    (AFTER_ENDED), and each released run's queue_deadline_ms (with
    max_queue_seconds DAY) says when it entered its queue."""

    DAY = 86400
    FAN_IN = 64         # upstreams of one join: the most depends_on takes

    def __init__(self, bench, n, nb):
        super().__init__(bench, n)
        self.nb = nb

    def item(self, job, cluster, deps=()):
        pb = self.pb
        return pb.SubmitJobRunRequest(
            job_definition_uuid=job, cluster_uuid=cluster,
            max_queue_seconds=self.DAY, depends_on=[
                pb.Dependency(run_uuid=u, condition=pb.AFTER_ENDED)
                for u in deps])

    def batch(self, items):
        """run.submit_batch in requests of at most 1000; the runs."""
        out = []
        for i in range(0, len(items), 1000):
            out.extend(self.call("run.submit_batch",
                                 self.pb.SubmitJobRunsRequest(
                                     runs=items[i:i + 1000]),
                                 self.pb.SubmitJobRunsReply).job_runs)
        return out

    def released(self, uuids, t_end):
        """ms from t_end to the last of uuids entering its queue."""
        pb, last = self.pb, 0
        for u in uuids:
            r = self.call("run.get", pb.GetJobRunRequest(uuid=u),
                          pb.JobRunReply).job_run
            if r.reason != pb.IN_QUEUE or r.queue_seq == 0:
                raise PartFailed("run %s not queued: %s" % (u,
                                                            r.reason_text))
            last = max(last, r.queue_deadline_ms - self.DAY * 1000)
        return last - t_end

    def fan_out(self, job, held, cl):
        pb = self.pb
        up = self.call("run.submit", self.item(job, held),
                       pb.JobRunReply).job_run.uuid
        deps = self.batch([self.item(job, cl, [up])
                           for _ in range(self.n)])
        t0 = time.monotonic()
        end = self.call("run.cancel", pb.CancelJobRunRequest(uuid=up),
                        pb.JobRunReply).job_run.finished_at_ms
        reply = (time.monotonic() - t0) * 1000
        return self.released([d.uuid for d in deps], end), reply

    def fan_in(self, job, held, cl):
        pb = self.pb
        ups = [r.uuid for r in self.batch([self.item(job, held)
                                           for _ in range(self.n)])]
        joins = self.batch([self.item(job, cl, ups[i:i + self.FAN_IN])
                            for i in range(0, self.n, self.FAN_IN)])
        t0 = time.monotonic()
        self.call("run.cancel_all", pb.CancelJobRunsRequest(
            cluster_uuids=[held]), pb.CancelJobRunsReply)
        reply = (time.monotonic() - t0) * 1000
        end = min(self.call("run.get", pb.GetJobRunRequest(uuid=u),
                            pb.JobRunReply).job_run.finished_at_ms
                  for u in ups)
        return (self.released([j.uuid for j in joins], end), reply,
                len(joins))

    def submits(self, job, cl):
        """(ms of one run.submit_batch of nb, ms of nb run.submits)."""
        pb = self.pb
        items = [self.item(job, cl) for _ in range(self.nb)]
        t0 = time.monotonic()
        self.batch(items)
        t1 = time.monotonic()
        for it in items:
            self.call("run.submit", it, pb.JobRunReply)
        t2 = time.monotonic()
        return (t1 - t0) * 1000, (t2 - t1) * 1000

    def run(self):
        job = self.jobdef("tick", "hi.py")
        held = self.held_clusters(4)
        out_ms, out_reply = self.fan_out(job, held[0], held[1])
        # cancel_all of held[2] ends its holder too: nothing waits there
        # but the upstreams; their joins go to held[3].
        in_ms, in_reply, joins = self.fan_in(job, held[2], held[3])
        batch_ms, single_ms = self.submits(job, held[3])
        self.nc.close()
        return {"n": self.n, "out_ms": out_ms, "out_reply_ms": out_reply,
                "in_ms": in_ms, "in_reply_ms": in_reply, "joins": joins,
                "batch_ms": batch_ms, "single_ms": single_ms}


if __name__ == "__main__":
    sys.exit(main())

