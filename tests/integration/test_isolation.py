"""A job is a tenant of its workspace and nothing more: jobs of workspace A,
run as an unprivileged job user (BATCHD_JOB_USER=nobody), attack as a
review did and must fail: read B's workspace files, see B's running job or
its environment, read batchd's data_dir (the LMDB file, the redo log, other
runs' logs and attempt directories), read their supervisor's memory,
signal batchd, leave a setsid double-forked process behind after exit,
cancel or timeout, fork without bound, take more memory than its limit.
Each attempt has a cgroup of its own: its limits hold, its usage counts
grandchildren, and it is gone after the attempt (exit, cancel, timeout, a
failed or cancelled fetch, a lost supervisor). SQL runs try every way out
of their database that sqlite offers. Jobs that stay in bounds still work:
Python writing its work directory and workspace, SQL keeping its tables,
MPI with 2 ranks (Open MPI refuses root). The last tests run batchd itself
as nobody: the sandbox is then made in a user namespace."""

import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import harness
from batchd.v1 import batchd_pb2 as pb
from harness import (assert_ok, cluster_config, get_run, make_cluster,
                     make_jobdef, read_logs, submit_ok, wait_run,
                     write_job)

pytestmark = pytest.mark.usefixtures("nats_server")

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def iso(run_daemon_factory):
    """A started batchd whose jobs run as nobody."""
    return run_daemon_factory(env={"BATCHD_JOB_USER": "nobody"}).start()


def ws_dir(d, ws):
    """The workspace's directory, made by root: batchd hands it to the
    workspace's job identity at its first attempt, so its jobs may write
    there."""
    p = os.path.join(d.ws_root, ws)
    os.makedirs(p, exist_ok=True)
    return p


def host_pids_with(marker):
    """Host pids whose command line holds marker."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                if marker.encode() in f.read():
                    out.append(int(p))
        except OSError:
            pass
    return out


def cgroup_dirs(d, uuid, attempt=1):
    """The directories of the attempt's cgroup, one per hierarchy, under
    the parent batchd logged at start; [] when its jobs run without."""
    m = re.search(r"job cgroups under (\S+)", harness.read_text(
        d.stderr_path))
    if m is None:
        return []
    return [os.path.join(p, "%s.%d" % (uuid, attempt))
            for p in m.group(1).split(":") if p]


def need_cgroups(d):
    """Skip unless d's jobs get cgroups (a writable hierarchy here)."""
    if not cgroup_dirs(d, "x"):
        pytest.skip("no writable cgroup hierarchy: jobs run without")


def cgroup_pids(dirs):
    """Every pid listed in the cgroup.procs of dirs."""
    out = set()
    for x in dirs:
        try:
            with open(os.path.join(x, "cgroup.procs")) as f:
                out |= {int(p) for p in f.read().split()}
        except OSError:
            pass
    return out


def left(dirs):
    """Those of dirs that still exist."""
    return [x for x in dirs if os.path.exists(x)]


def run_py(d, ws, name, code, cl=None, timeout=30, **kw):
    jd = make_jobdef(d, ws, name, code=code, **kw)
    cl = cl or make_cluster(d, ws, name)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    return wait_run(d, ws, run.uuid, timeout=timeout)


def out_json(d, ws, r):
    out = read_logs(d, ws, r.uuid)[0]
    assert r.status == pb.SUCCEEDED, (harness.run_str(r), out,
                                      read_logs(d, ws, r.uuid, pb.STDERR)[0])
    return json.loads(out)


# What a job of A tries; it prints what it got as JSON.
PROBE = r"""
import errno, json, os, signal, sys

def err(e):
    return errno.errorcode.get(e.errno, str(e.errno))

def tryread(path, n=256):
    try:
        with open(path, 'rb') as f:
            return 'READ:' + f.read(n).decode('latin-1')
    except OSError as e:
        return err(e)

def trylist(path):
    try:
        return sorted(os.listdir(path))
    except OSError as e:
        return err(e)

env = os.environ
res = {'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(),
       'groups': os.getgroups(), 'pid': os.getpid(), 'ppid': os.getppid()}
res['ppid_comm'] = tryread('/proc/%d/comm' % os.getppid()).strip()
res['ppid_mem'] = tryread('/proc/%d/mem' % os.getppid())
status = open('/proc/self/status').read()
res['nnp'] = [l.split()[1] for l in status.splitlines()
              if l.startswith('NoNewPrivs:')][0]
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
res['pids'] = pids
token = env.get('PEEK_TOKEN', '')
res['token_seen_in'] = [p for p in pids if token and p != os.getpid() and
                        token in tryread('/proc/%d/environ' % p, 1 << 16)]
res['mem_readable'] = [p for p in pids if p != os.getpid() and
                       tryread('/proc/%d/mem' % p).startswith('READ')]
for k in ('B_PID',):
    if k in env:
        res[k] = {'environ': tryread('/proc/%s/environ' % env[k]),
                  'mem': tryread('/proc/%s/mem' % env[k]),
                  'cmdline': tryread('/proc/%s/cmdline' % env[k])}
res['host_paths'] = {p: os.path.lexists(p)
                     for p in json.loads(env.get('HOST_PATHS', '[]'))}
res['reads'] = {p: tryread(p) for p in json.loads(env.get('READS', '[]'))}
res['lists'] = {p: trylist(p) for p in json.loads(env.get('LISTS', '[]'))}
if 'BATCHD_PID' in env:
    try:
        os.kill(int(env['BATCHD_PID']), signal.SIGTERM)
        res['kill_batchd'] = 'OK'
    except OSError as e:
        res['kill_batchd'] = err(e)
res['root'] = trylist('/')
with open('probe-out.txt', 'w') as f:
    f.write('in the work directory')
with open(os.path.join(env['WS_DIR'], 'a-wrote.txt'), 'w') as f:
    f.write('in the workspace')
print(json.dumps(res))
"""

# Workspace B's long job: a secret in its environment, its marker in its
# command line; it says it runs in B's workspace, then waits.
B_JOB = r"""
import os, sys, time
open(os.path.join(os.environ['WS_DIR'], 'b-running'), 'w').close()
deadline = time.time() + 60
while time.time() < deadline and not os.path.exists(
        os.path.join(os.environ['WS_DIR'], 'b-stop')):
    time.sleep(0.05)
"""


def probe(d, ws, **env):
    env.setdefault("WS_DIR", ws_dir(d, ws))
    r = run_py(d, ws, "probe", PROBE, env={k: str(v) for k, v in
                                           env.items()})
    return r, out_json(d, ws, r)


def test_a_job_runs_unprivileged_without_new_privileges(iso, ws):
    r, got = probe(iso, ws)
    assert (got["uid"], got["euid"], got["gid"]) == (
        NOBODY.pw_uid, NOBODY.pw_uid, NOBODY.pw_gid), got
    assert got["groups"] in ([], [NOBODY.pw_gid]), got
    assert got["nnp"] == "1", got
    # It wrote its work directory and its workspace.
    work = os.path.join(iso.data_dir, "runs", r.uuid, "1", "work")
    with open(os.path.join(work, "probe-out.txt")) as f:
        assert f.read() == "in the work directory"
    with open(os.path.join(iso.ws_root, ws, "a-wrote.txt")) as f:
        assert f.read() == "in the workspace"


def test_a_job_sees_nothing_of_batchds_data_dir(iso, ws):
    """The LMDB file, the redo log, other runs' logs and attempt
    directories, the SQL databases of others: none exists in the sandbox.
    Of data_dir only the path down to its own work directory is there."""
    d = iso
    # Another run first, so there are logs and an attempt directory of it.
    other = run_py(d, ws + "-o", "other", "print('other run')\n")
    assert other.status == pb.SUCCEEDED
    rs = submit_sql(d, ws + "-o", "CREATE TABLE t(x);",
                    make_cluster(d, ws + "-o", "s"))
    assert rs.status == pb.SUCCEEDED
    host = []
    for dirpath, dirs, files in os.walk(d.data_dir):
        for n in dirs + files:
            host.append(os.path.join(dirpath, n))
    assert any(p.endswith("data.mdb") for p in host), host
    assert any("/logs/" + other.uuid in p for p in host), host
    assert any("/sql/" + ws + "-o" in p for p in host), host
    r, got = probe(d, ws, HOST_PATHS=json.dumps(host),
                   LISTS=json.dumps([d.data_dir,
                                     os.path.join(d.data_dir, "runs")]),
                   READS=json.dumps([os.path.join(d.data_dir, "data.mdb")]))
    work = os.path.join(d.data_dir, "runs", r.uuid, "1", "work")
    seen = [p for p, there in got["host_paths"].items()
            if there and not work.startswith(p + "/")]   # its own way down
    assert seen == [], seen
    assert got["lists"][d.data_dir] == ["runs"], got["lists"]
    assert got["lists"][os.path.join(d.data_dir, "runs")] == [r.uuid]
    assert got["reads"][os.path.join(d.data_dir, "data.mdb")] == "ENOENT"
    # The root holds what the runner needs and no more.
    top = {p.split("/")[1] for p in (d.data_dir, d.ws_root)}
    assert set(got["root"]) <= {"usr", "bin", "sbin", "lib", "lib32",
                                "lib64", "libx32", "etc", "sys", "dev",
                                "proc", "tmp"} | top, got["root"]


def test_a_job_cannot_read_another_workspace(iso, ws):
    d = iso
    a, b = ws + "-a", ws + "-b"
    bfile = write_job(d, b, "secret.txt", "B's own data\n", path="files")
    r, got = probe(d, a, READS=json.dumps([bfile]),
                   LISTS=json.dumps([d.ws_root, os.path.join(d.ws_root, b)]))
    assert got["reads"][bfile] == "ENOENT", got["reads"]
    assert got["lists"][d.ws_root] == [a], got["lists"]
    assert got["lists"][os.path.join(d.ws_root, b)] == "ENOENT"


def test_a_job_cannot_see_another_workspaces_running_job(iso, ws):
    """B runs a job with a token in its environment; A's job (same job
    user) lists /proc and reads every environ it finds, and B's job's host
    pid: nothing of B is there."""
    d = iso
    a, b = ws + "-a", ws + "-b"
    token = "b-token-" + os.urandom(8).hex()
    marker = "bmark" + os.urandom(6).hex()
    bdir = ws_dir(d, b)
    jb = make_jobdef(d, b, "long", code=B_JOB, args=marker,
                     env={"PEEK_ME": token, "WS_DIR": bdir})
    brun = submit_ok(d, b, jb.uuid, make_cluster(d, b, "cb").uuid)
    try:
        harness.wait_until(lambda: os.path.exists(
            os.path.join(bdir, "b-running")), 20, what="B's job runs")
        bpids = host_pids_with(marker)
        assert bpids, "B's job is not on the host"
        r, got = probe(d, a, PEEK_TOKEN=token, B_PID=bpids[-1])
        assert got["token_seen_in"] == [], got
        assert got["B_PID"]["environ"] == "ENOENT", got["B_PID"]
        assert bpids[-1] not in got["pids"] or bpids[-1] <= 3, got
        # Only its own namespace: init (1), the job (2) and what it runs.
        assert got["pids"][:2] == [1, 2], got["pids"]
        assert got["pid"] == 2 and got["ppid"] == 1, got
    finally:
        open(os.path.join(bdir, "b-stop"), "w").close()
    assert wait_run(d, b, brun.uuid).status == pb.SUCCEEDED


def test_a_job_cannot_read_its_shims_memory_nor_signal_batchd(iso, ws):
    """Its parent is the sandbox's init (root, not dumpable), not the
    shim: /proc/PPID/mem cannot be read, nor any other process's; the shim
    and batchd are not in its PID namespace, so kill(batchd) is ESRCH and
    batchd goes on answering."""
    d = iso
    r, got = probe(d, ws, BATCHD_PID=d.pid)
    assert got["ppid"] == 1 and got["ppid_comm"] == "READ:batchd-init", got
    assert not got["ppid_mem"].startswith("READ"), got
    assert got["mem_readable"] == [], got
    assert got["kill_batchd"] == "ESRCH", got
    assert d.running()
    assert_ok(d.call("run.get", pb.GetJobRunRequest(uuid=r.uuid),
                     pb.JobRunReply, ws=ws))


# A job that leaves a setsid double-forked grandchild with the marker in
# its command line, beating into the workspace; then exits or waits.
GRAND = r"""
import os, sys, time
marker, mode = sys.argv[1], sys.argv[2]
hb = os.path.join(os.environ['WS_DIR'], 'heartbeat')
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-c',
            'import sys, time\n'
            'while True:\n'
            '    open(sys.argv[1], "a").write(".")\n'
            '    time.sleep(0.05)\n', hb, marker])
    os._exit(0)
os.wait()
while not os.path.exists(hb):
    time.sleep(0.02)
print('left a grandchild', flush=True)
if mode != 'exit':
    time.sleep(60)
"""


@pytest.mark.parametrize("how", ["exit", "cancel", "timeout"])
def test_no_process_outlives_its_attempt(iso, ws, how):
    d = iso
    marker = "grand" + os.urandom(6).hex()
    wsd = ws_dir(d, ws)
    hb = os.path.join(wsd, "heartbeat")
    jd = make_jobdef(d, ws, "grand", code=GRAND, args="%s %s" % (marker, how),
                     env={"WS_DIR": wsd},
                     timeout_seconds=3 if how == "timeout" else None)
    run = submit_ok(d, ws, jd.uuid, make_cluster(d, ws, "g").uuid)
    harness.wait_until(lambda: os.path.exists(hb), 20,
                       what="the grandchild beats")
    dirs = cgroup_dirs(d, run.uuid)
    if how != "exit":       # else it may be gone already, with the job
        grand = host_pids_with(marker)
        assert grand
        # It is in the attempt's cgroup, like all the attempt started.
        if dirs:
            assert set(grand) <= cgroup_pids(dirs), (grand, dirs)
    if how == "cancel":
        assert_ok(d.call("run.cancel", pb.CancelJobRunRequest(uuid=run.uuid),
                         pb.JobRunReply, ws=ws))
    r = wait_run(d, ws, run.uuid, timeout=30)
    want = {"exit": pb.SUCCEEDED, "cancel": pb.CANCELLED,
            "timeout": pb.FAILED}[how]
    assert r.status == want, harness.run_str(r)
    if how == "timeout":
        assert r.reason == pb.TIMEOUT, harness.run_str(r)
    harness.wait_until(lambda: not host_pids_with(marker), 2,
                       what="no process of the attempt left")
    size = os.path.getsize(hb)
    time.sleep(0.3)
    assert os.path.getsize(hb) == size, "something still beats"
    # The attempt's cgroup went with it, in every hierarchy.
    assert left(dirs) == []


# ------------------------------------------------------------- cgroups

# Forks without bound: every process forks again and again; once refused,
# each holds its place and tries again. The job says when it was refused,
# waits for the test to look, and exits.
FORK_BOMB = r"""
import errno, os, sys, time
ws = os.environ['WS_DIR']
refused = None
while refused is None:
    try:
        pid = os.fork()
    except OSError as e:
        refused = e.errno
        break
    if pid == 0:
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.05)
print('refused', errno.errorcode.get(refused), flush=True)
open(os.path.join(ws, 'at-limit'), 'w').close()
deadline = time.time() + 30
while not os.path.exists(os.path.join(ws, 'go')) and time.time() < deadline:
    time.sleep(0.02)
"""


def test_a_fork_bomb_stops_at_the_process_limit(run_daemon_factory, ws):
    """job_limit_pids = 64: a job that forks without bound is refused
    (EAGAIN) at 64 processes in its cgroup, the host and batchd go on
    (a process starts, batchd answers), and the run ends: nothing of it
    is left, not its cgroup."""
    d = run_daemon_factory(env={"BATCHD_JOB_LIMIT_PIDS": "64"}).start()
    need_cgroups(d)
    marker = "bomb" + os.urandom(6).hex()
    wsd = ws_dir(d, ws)
    jd = make_jobdef(d, ws, "bomb", code=FORK_BOMB, args=marker,
                     env={"WS_DIR": wsd})
    run = submit_ok(d, ws, jd.uuid, make_cluster(d, ws, "b").uuid)
    dirs = cgroup_dirs(d, run.uuid)
    try:
        harness.wait_until(lambda: os.path.exists(
            os.path.join(wsd, "at-limit")), 30, what="the bomb's refusal")
        bomb = host_pids_with(marker)
        # The job and its descendants; init makes 64 with at most 63.
        assert 32 <= len(bomb) <= 63, len(bomb)
        assert set(bomb) <= cgroup_pids(dirs)
        assert len(cgroup_pids(dirs)) <= 64
        subprocess.run(["true"], check=True)    # the host still forks
        assert_ok(d.call("run.get", pb.GetJobRunRequest(uuid=run.uuid),
                         pb.JobRunReply, ws=ws))
    finally:
        open(os.path.join(wsd, "go"), "w").close()
    r = wait_run(d, ws, run.uuid, timeout=30)
    assert r.status == pb.SUCCEEDED, harness.run_str(r)
    assert read_logs(d, ws, r.uuid)[0] == b"refused EAGAIN\n"
    harness.wait_until(lambda: not host_pids_with(marker), 2,
                       what="no process of the bomb left")
    assert left(dirs) == []


# The job's setsid'd grandchild burns 0.3 s of CPU and then lives on; the
# job exits once it has burnt it. init never reaps the grandchild (it is
# killed with the namespace after init's report): only the cgroup saw it.
BURN = r"""
import os, time
done = os.path.join(os.environ['WS_DIR'], 'burnt')
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        t = time.process_time()
        while time.process_time() - t < 0.3:
            pass
        open(done, 'w').close()
        time.sleep(60)
    os._exit(0)
os.wait()
while not os.path.exists(done):
    time.sleep(0.01)
print('burnt', flush=True)
"""


def test_an_attempts_usage_counts_its_grandchildren(run_daemon, ws):
    d = run_daemon
    need_cgroups(d)
    r = run_py(d, ws, "burn", BURN, env={"WS_DIR": ws_dir(d, ws)})
    assert r.status == pb.SUCCEEDED, harness.run_str(r)
    cpu = r.usage.user_cpu_us + r.usage.system_cpu_us
    assert cpu >= 300000, r.usage
    assert r.attempts[0].usage.user_cpu_us == r.usage.user_cpu_us
    assert left(cgroup_dirs(d, r.uuid)) == []


EAT = r"""
import sys
mib = int(sys.argv[1])
x = b'\1' * (mib << 20)       # written: resident
print('ate', mib, 'MiB', flush=True)
"""


def test_a_job_past_its_memory_limit_is_killed(run_daemon_factory, ws):
    """job_limit_memory = 96 MiB: a job that writes 16 MiB runs; one that
    writes 512 MiB is killed (KILLED_BY_SIGNAL, SIGKILL) by the kernel,
    where a memory controller is there to enforce it."""
    d = run_daemon_factory(env={"BATCHD_JOB_LIMIT_MEMORY": str(96 << 20)})
    d.start()
    need_cgroups(d)
    cl = make_cluster(d, ws, "m")
    small = run_py(d, ws, "small", EAT, cl=cl, args="16")
    if small.reason == pb.SPAWN_FAILED and "memory limit" in \
            small.reason_text:
        pytest.skip("no memory controller here: " + small.reason_text)
    assert small.status == pb.SUCCEEDED, harness.run_str(small)
    assert read_logs(d, ws, small.uuid)[0] == b"ate 16 MiB\n"
    big = run_py(d, ws, "big", EAT, cl=cl, args="512", timeout=60)
    assert (big.status, big.reason) == (pb.FAILED, pb.KILLED_BY_SIGNAL), (
        harness.run_str(big))
    assert big.attempts[0].signal == signal.SIGKILL
    assert read_logs(d, ws, big.uuid)[0] == b""
    assert left(cgroup_dirs(d, big.uuid)) == []


def test_a_limit_that_cannot_hold_fails_the_attempt(run_daemon_factory, ws):
    """job_cgroup names only a cgroup v2 directory without the pids
    controller, and job_limit_pids is set: the attempt fails
    (SPAWN_FAILED, cg_create's reason) and the job never runs, rather
    than run without its limit."""
    v2 = [l.split()[4] for l in open("/proc/self/mountinfo")
          if " - cgroup2 " in l]
    if not v2:
        pytest.skip("no cgroup v2 hierarchy")
    with open(os.path.join(v2[0], "cgroup.controllers")) as f:
        if "pids" in f.read().split():
            pytest.skip("the v2 hierarchy has the pids controller")
    parent = os.path.join(v2[0], "batchd-test-" + os.urandom(4).hex())
    try:
        d = run_daemon_factory(env={"BATCHD_JOB_CGROUP": parent,
                                    "BATCHD_JOB_LIMIT_PIDS": "64"}).start()
        wsd = ws_dir(d, ws)
        ran = os.path.join(wsd, "ran")
        r = run_py(d, ws, "nolimit", "open(%r, 'w').close()\n" % ran)
        assert (r.status, r.reason) == (pb.FAILED, pb.SPAWN_FAILED), (
            harness.run_str(r))
        assert "pids limit: no cgroup hierarchy" in r.reason_text, (
            r.reason_text)
        assert not os.path.exists(ran)
        assert [n for n in os.listdir(parent)   # no attempt's cgroup
                if os.path.isdir(os.path.join(parent, n))] == []
    finally:
        if os.path.isdir(parent):
            os.rmdir(parent)


def cgroup_mount():
    """(mount point, super options) of the cgroup mount batchd sets
    favordynmods on: the v2 one, else the first v1 one; None if none."""
    ms = []
    for l in open("/proc/self/mountinfo"):
        pre, _, post = l.partition(" - ")
        fstype, _, opts = post.split()[:3]
        if fstype in ("cgroup2", "cgroup"):
            ms.append((fstype != "cgroup2", pre.split()[4], opts))
    return min(ms)[1:] if ms else None


def favordynmods_off():
    """Clear favordynmods (keeping the rest) so that batchd must set it;
    (mount point, its other options), or skip."""
    if os.geteuid() != 0:
        pytest.skip("only root may reconfigure the cgroup file system")
    m = cgroup_mount()
    if m is None:
        pytest.skip("no cgroup file system")
    point, opts = m
    before = [o for o in opts.split(",") if o != "favordynmods"]
    if "favordynmods" in opts.split(","):
        subprocess.run(["mount", "--options-mode", "ignore", "-o",
                        "remount," + ",".join(before), point], check=True)
    return point, before


def assert_favored(before):
    after = cgroup_mount()[1].split(",")
    assert "favordynmods" in after, after
    assert set(before) <= set(after), (before, after)


def test_a_job_enters_its_cgroup_without_a_grace_period(run_daemon_factory,
                                                        ws):
    """Each attempt's init moves into its cgroup; without the cgroup
    option favordynmods that move waits for an RCU grace period (~10 ms
    on every start). batchd, as root, turns it on at start, keeping the
    mount's other options, and says so."""
    _, before = favordynmods_off()
    d = run_daemon_factory().start()
    need_cgroups(d)
    r = run_py(d, ws, "entered", "print('in')\n")
    assert r.status == pb.SUCCEEDED, harness.run_str(r)
    assert_favored(before)
    assert "favordynmods turned on" in harness.read_text(d.stderr_path)


def test_batchd_favordynmods_sets_it_for_the_unit():
    """The systemd unit's batchd may not: its ExecStartPre=+ runs
    batchd --favordynmods, which sets it and exits 0."""
    _, before = favordynmods_off()
    p = subprocess.run([harness.BATCHD_BIN, "--favordynmods"],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert_favored(before)


def test_favordynmods_refused_says_why_and_changes_nothing():
    """Not root, batchd --favordynmods cannot set the option: it exits 78
    naming why, and the mount is as it was."""
    point, before = favordynmods_off()
    def drop():
        os.setgid(NOBODY.pw_gid)
        os.setuid(NOBODY.pw_uid)
    p = subprocess.run([harness.BATCHD_BIN, "--favordynmods"],
                       capture_output=True, timeout=30, preexec_fn=drop,
                       env={"ASAN_OPTIONS": "detect_leaks=0"})
    assert p.returncode == 78, (p.returncode, p.stderr)
    assert b"favordynmods: " + point.encode() in p.stderr, p.stderr
    assert cgroup_mount()[1].split(",") == before


def other_pidns(pid):
    """Is pid in another PID namespace than ours (a sandbox's init)?"""
    try:
        return os.readlink("/proc/%d/ns/pid" % pid) != \
            os.readlink("/proc/self/ns/pid")
    except OSError:
        return False


def test_a_cancelled_fetch_tears_the_prepared_sandbox_down(run_daemon, ws):
    """The job's file is a FIFO: the fetch waits on it. Meanwhile the
    sandbox is prepared (its init, in a PID namespace of its own, in the
    attempt's cgroup). A cancel then ends the fetch and the prepared init,
    and removes the cgroup: the job never starts."""
    d = run_daemon
    need_cgroups(d)
    jobs = os.path.join(d.ws_root, ws, "jobs")
    os.makedirs(jobs)
    os.mkfifo(os.path.join(jobs, "fifo.py"))
    jd = make_jobdef(d, ws, "fifo")
    run = submit_ok(d, ws, jd.uuid, make_cluster(d, ws, "f").uuid)
    dirs = cgroup_dirs(d, run.uuid)

    def prepared():
        return [p for p in host_pids_with(run.uuid) if other_pidns(p)]
    harness.wait_until(prepared, 20, what="the prepared sandbox's init")
    init = prepared()
    harness.wait_until(lambda: set(init) <= cgroup_pids(dirs), 20,
                       what="init in the attempt's cgroup")
    assert get_run(d, ws, run.uuid).status == pb.RUNNING
    assert_ok(d.call("run.cancel", pb.CancelJobRunRequest(uuid=run.uuid),
                     pb.JobRunReply, ws=ws))
    r = wait_run(d, ws, run.uuid, lambda r: r.attempts and
                 r.attempts[0].finished_at_ms, timeout=20,
                 what="the attempt's end")
    assert r.attempts[0].status == pb.CANCELLED, harness.run_str(r)
    assert not any(harness.pid_alive(p) for p in init)
    assert host_pids_with(run.uuid) == []
    assert left(dirs) == []


def test_a_failed_fetch_leaves_no_sandbox_behind(run_daemon, ws):
    """A WORKSPACE job whose file does not exist: SOURCE_FETCH_FAILED, and
    the sandbox prepared for it (init, cgroup) is gone with the attempt."""
    d = run_daemon
    need_cgroups(d)
    jd = make_jobdef(d, ws, "nosuch")
    r = wait_run(d, ws, submit_ok(d, ws, jd.uuid,
                                  make_cluster(d, ws, "n").uuid).uuid)
    assert (r.status, r.reason) == (pb.FAILED, pb.SOURCE_FETCH_FAILED), (
        harness.run_str(r))
    assert host_pids_with(r.uuid) == []
    assert left(cgroup_dirs(d, r.uuid)) == []


def test_a_lost_supervisors_cgroup_is_removed_by_batchd(run_daemon, ws):
    """The shim is killed (-9) while its job runs: its init dies with it
    (PDEATHSIG), and batchd, finding the attempt SUPERVISOR_LOST, kills
    what is left in the attempt's cgroup and removes it."""
    d = run_daemon
    need_cgroups(d)
    marker = "lost" + os.urandom(6).hex()
    wsd = ws_dir(d, ws)
    jd = make_jobdef(d, ws, "lost", code=GRAND, args="%s wait" % marker,
                     env={"WS_DIR": wsd})
    run = submit_ok(d, ws, jd.uuid, make_cluster(d, ws, "l").uuid)
    dirs = cgroup_dirs(d, run.uuid)
    harness.wait_until(lambda: os.path.exists(os.path.join(wsd,
                                                           "heartbeat")),
                       20, what="the grandchild beats")
    assert set(host_pids_with(marker)) <= cgroup_pids(dirs)
    adir = os.path.join(d.data_dir, "runs", run.uuid, "1")
    os.kill(harness.shim_pid(adir), signal.SIGKILL)
    r = wait_run(d, ws, run.uuid, lambda r: r.attempts and
                 r.attempts[0].finished_at_ms, timeout=20,
                 what="the attempt's end")
    assert r.attempts[0].reason == pb.SUPERVISOR_LOST, harness.run_str(r)
    harness.wait_until(lambda: not host_pids_with(marker), 5,
                       what="no process of the attempt left")
    harness.wait_until(lambda: left(dirs) == [], 5,
                       what="the attempt's cgroup removed")


# ---------------------------------------------------------------- SQL

def submit_sql(d, ws, sql, cl):
    rep = d.call("run.submit_sql", pb.SubmitSqlJobRunRequest(
        sql_query=sql, cluster_uuid=cl.uuid), pb.JobRunReply, ws=ws)
    assert_ok(rep)
    return wait_run(d, ws, rep.job_run.uuid)


def sha_file(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_sql_keeps_its_tables_in_a_directory_of_its_own(iso, ws):
    d = iso
    cl = make_cluster(d, ws, "s")
    r = submit_sql(d, ws, "CREATE TABLE t(x); INSERT INTO t VALUES(42);", cl)
    assert r.status == pb.SUCCEEDED, read_logs(d, ws, r.uuid, pb.STDERR)
    r = submit_sql(d, ws, "SELECT x FROM t;", cl)
    assert r.status == pb.SUCCEEDED, read_logs(d, ws, r.uuid, pb.STDERR)
    assert read_logs(d, ws, r.uuid)[0] == b"42\n"
    sqld = os.path.join(d.data_dir, "sql", ws)
    st = os.stat(sqld)
    assert (st.st_uid, st.st_mode & 0o777) == (NOBODY.pw_uid, 0o700)
    assert os.stat(os.path.join(sqld, ws + ".db")).st_uid == NOBODY.pw_uid
    assert not os.path.exists(os.path.join(d.data_dir, "sql", ws + ".db"))


def test_sql_database_of_an_older_batchd_moves_on_first_use(iso, ws):
    d = iso
    sql = os.path.join(d.data_dir, "sql")
    os.makedirs(sql, mode=0o700, exist_ok=True)
    old = os.path.join(sql, ws + ".db")
    subprocess.run(["sqlite3", old, "CREATE TABLE kept(v); "
                    "INSERT INTO kept VALUES('from before');"], check=True)
    r = submit_sql(d, ws, "SELECT v FROM kept;", make_cluster(d, ws, "s"))
    assert r.status == pb.SUCCEEDED, read_logs(d, ws, r.uuid, pb.STDERR)
    assert read_logs(d, ws, r.uuid)[0] == b"from before\n"
    assert not os.path.exists(old)
    assert os.path.exists(os.path.join(sql, ws, ws + ".db"))


def test_sql_cannot_leave_its_database(iso, ws):
    d = iso
    a, b = ws + "-a", ws + "-b"
    rb = submit_sql(d, b, "CREATE TABLE s(v); INSERT INTO s VALUES('b-row');",
                    make_cluster(d, b, "sb"))
    assert rb.status == pb.SUCCEEDED, read_logs(d, b, rb.uuid, pb.STDERR)
    bdb = os.path.join(d.data_dir, "sql", b, b + ".db")
    before = sha_file(bdb)
    bfile = write_job(d, b, "secret.txt", "B's own data\n", path="files")
    pwned = os.path.join(d.ws_root, a, "pwned")
    ws_dir(d, a)
    cl = make_cluster(d, a, "sa")
    attacks = [
        ".shell touch %s" % pwned,
        ".system touch %s" % pwned,
        "ATTACH '%s' AS b; SELECT * FROM b.s;" % bdb,
        "ATTACH '%s' AS b; DELETE FROM b.s;" % bdb,
        "SELECT readfile('/etc/passwd');",
        "SELECT readfile('%s');" % bfile,
        "SELECT writefile('%s', 'x');" % bfile,
        "SELECT writefile('%s', 'x');" % pwned,
        "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so.0');",
        ".load /usr/lib/x86_64-linux-gnu/libsqlite3.so.0",
        ".open %s" % bdb,
        ".output %s" % pwned,
        ".read %s" % bfile,
        ".import %s t" % bfile,
        "VACUUM INTO '%s';" % pwned,
    ]
    for q in attacks:
        r = submit_sql(d, a, q, cl)
        out = read_logs(d, a, r.uuid)[0] + read_logs(d, a, r.uuid,
                                                      pb.STDERR)[0]
        assert r.status == pb.FAILED, (q, out)
        assert b"b-row" not in out and b"B's own" not in out, (q, out)
        assert b"root:" not in out, (q, out)
        assert not os.path.exists(pwned), q
    assert sha_file(bdb) == before
    with open(bfile) as f:
        assert f.read() == "B's own data\n"


# ---------------------------------------------------------------- MPI

@pytest.mark.skipif(shutil.which("mpiexec") is None,
                    reason="Open MPI (openmpi-bin) is not installed")
def test_mpi_with_two_workers_runs_as_the_job_user(run_daemon_factory,
                                                   tmp_path, ws):
    """Open MPI refuses to run as root: 2 ranks printing prove the job is
    not root, and that the sandbox has what mpiexec needs."""
    conf = tmp_path / "b.conf"
    conf.write_text("[plugin.python]\nmpiexec_args = --oversubscribe\n")
    d = run_daemon_factory(env={"BATCHD_JOB_USER": "nobody"})
    real = d.binary
    wrapper = os.path.join(d.tmpdir, "batchd-with-conf")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec %s -c %s \"$@\"\n" % (real, conf))
    os.chmod(wrapper, 0o755)
    d.binary = wrapper
    d.start()
    r = run_py(d, ws, "ranks", "import os\nprint('rank', os.environ["
               "'OMPI_COMM_WORLD_RANK'], os.getuid(), flush=True)\n",
               cl=make_cluster(d, ws, "mpi", config=cluster_config(2)),
               env={"OMPI_MCA_plm": "isolated", "OMPI_MCA_btl": "self,vader"},
               timeout=60)
    out = read_logs(d, ws, r.uuid)[0].decode()
    assert r.status == pb.SUCCEEDED, (harness.run_str(r), out, read_logs(
        d, ws, r.uuid, pb.STDERR)[0])
    assert sorted(out.split("\n")[:2]) == ["rank 0 %d" % NOBODY.pw_uid,
                                           "rank 1 %d" % NOBODY.pw_uid]


# ------------------------------------------------- batchd as a plain user

def test_unprivileged_batchd_sandboxes_in_a_user_namespace(
        run_daemon_factory, ws):
    """batchd (and so its shims) run as nobody: the sandbox is made in a
    user namespace mapping nobody to itself. The job runs as nobody, sees
    nothing of data_dir, and leaves no process behind."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    top = tempfile.mkdtemp(prefix="batchd-nobody-")
    try:
        os.chmod(top, 0o755)
        os.chown(top, NOBODY.pw_uid, NOBODY.pw_gid)
        d = run_daemon_factory()
        d.tmpdir = top
        d.data_dir = os.path.join(top, "var")
        d.ws_root = os.path.join(top, "ws")
        for p in (d.data_dir, d.ws_root):
            os.makedirs(p)
            os.chown(p, NOBODY.pw_uid, NOBODY.pw_gid)
        wrapper = os.path.join(top, "batchd-as-nobody")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec setpriv --reuid=%d --regid=%d "
                    "--clear-groups %s \"$@\"\n"
                    % (NOBODY.pw_uid, NOBODY.pw_gid, d.binary))
        os.chmod(wrapper, 0o755)
        d.binary = wrapper
        d.start()
        wsd = ws_dir(d, ws)     # batchd's own user runs the jobs: its to write
        os.chown(wsd, NOBODY.pw_uid, NOBODY.pw_gid)
        host = []
        for dirpath, dirs, files in os.walk(d.data_dir):
            host += [os.path.join(dirpath, n) for n in dirs + files]
        assert any(p.endswith("data.mdb") for p in host), host
        r, got = probe(d, ws, HOST_PATHS=json.dumps(host),
                       READS=json.dumps(["/proc/self/uid_map"]),
                       BATCHD_PID=d.pid)
        assert got["uid"] == NOBODY.pw_uid and got["nnp"] == "1", got
        assert got["reads"]["/proc/self/uid_map"].split()[1:] == [
            str(NOBODY.pw_uid), str(NOBODY.pw_uid), "1"], got["reads"]
        assert [p for p, there in got["host_paths"].items() if there] == []
        assert got["kill_batchd"] == "ESRCH" and got["ppid"] == 1, got
        assert d.running()
        # A grandchild does not outlive the attempt here either.
        marker = "grand" + os.urandom(6).hex()
        hb = os.path.join(wsd, "heartbeat")
        r = run_py(d, ws, "grand", GRAND, args="%s exit" % marker,
                   env={"WS_DIR": wsd})
        assert r.status == pb.SUCCEEDED, harness.run_str(r)
        assert os.path.exists(hb)
        harness.wait_until(lambda: not host_pids_with(marker), 2,
                           what="no process of the attempt left")
        # SQL: its directory, its database.
        r = submit_sql(d, ws, "CREATE TABLE t(x); INSERT INTO t VALUES(5);"
                       " SELECT x FROM t;", make_cluster(d, ws, "s"))
        assert r.status == pb.SUCCEEDED, read_logs(d, ws, r.uuid, pb.STDERR)
        assert read_logs(d, ws, r.uuid)[0] == b"5\n"
        harness.stop_shims(d)
        d.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)


# A job that stays root (no job user) tries to undo its sandbox. Every try
# aims inside its own work directory, so that on a build without the
# sandbox (where it succeeds) it harms nothing of the host.
ROOT_ESCAPE = r"""
import ctypes, errno, json, os, stat
libc = ctypes.CDLL(None, use_errno=True)
res = {'uid': os.getuid()}
def call(f, *a):
    if f(*a) == 0:
        return 'OK'
    return errno.errorcode[ctypes.get_errno()]
os.mkdir('mnt')
res['mount_tmpfs'] = call(libc.mount, b'tmpfs', b'mnt', b'tmpfs', 0, None)
libc.umount2(b'mnt', 2)
res['mknod'] = call(libc.mknod, b'blk', stat.S_IFBLK | 0o600,
                    os.makedev(7, 0))
res['mounts'] = {l.split()[4]: l.split()[5].split(',')[0]
                 for l in open('/proc/self/mountinfo')}
print(json.dumps(res))
"""


def test_a_root_job_cannot_undo_its_sandbox(run_daemon_factory, ws):
    """With job_user = root the job is root, but cannot mount or make
    device nodes (its capabilities to do so are gone), and /usr is
    read-only."""
    d = run_daemon_factory(env={"BATCHD_JOB_USER": "root"}).start()
    r = run_py(d, ws, "esc", ROOT_ESCAPE)
    got = out_json(d, ws, r)
    assert got["uid"] == 0, got
    assert got["mount_tmpfs"] == "EPERM", got
    assert got["mknod"] == "EPERM", got
    assert got["mounts"].get("/usr") == "ro", got["mounts"]
    assert got["mounts"].get("/") == "ro", got["mounts"]


def test_refused_namespaces_fail_the_attempt_never_run_unsandboxed(
        run_daemon_factory, ws, tmp_path):
    """Where the kernel refuses the namespaces (noclone.c preloaded into
    the shim: a clone into new namespaces fails with EPERM, others are
    real), the attempt fails as SPAWN_FAILED saying why; the job never
    runs, not even outside a sandbox."""
    from test_run_exec import preloaded_shim
    mark = str(tmp_path / "refused")
    wrapper = preloaded_shim(tmp_path, "noclone", {
        "NOCLONE_MARK": mark, "NOCLONE_NAMESPACES": "1"})
    d = run_daemon_factory(env={"BATCHD_SHIM": str(wrapper),
                                "BATCHD_JOB_USER": "nobody"}).start()
    wsd = ws_dir(d, ws)
    ran = os.path.join(wsd, "ran")
    r = run_py(d, ws, "nons", "open(%r, 'w').close()\nprint('ran')\n" % ran)
    assert (r.status, r.reason) == (pb.FAILED, pb.SPAWN_FAILED), (
        harness.run_str(r))
    assert os.path.exists(mark), "the shim never tried the namespaces"
    assert "sandbox: clone: Operation not permitted" in r.reason_text, (
        r.reason_text)
    assert "namespaces" in r.reason_text
    assert read_logs(d, ws, r.uuid)[0] == b""
    assert not os.path.exists(ran)
