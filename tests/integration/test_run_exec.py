"""What a job's process gets and gives: its output byte for byte (over the
bus and from run.logs), its descriptors, its environment and arguments, its
source file (which may not leave the workspace), and SQL jobs."""

import hashlib
import json
import os
import subprocess
import time

import pytest

import harness
from batchd.v1 import batchd_pb2 as pb
from harness import (assert_error, assert_ok, cluster_config, get_cluster,
                     get_run, make_cluster, make_jobdef, read_logs,
                     submit_ok, wait_run, write_job)

pytestmark = pytest.mark.usefixtures("nats_server")

# ---------------------------------------------------------------- logs

# Deterministic bytes: a sha256 chain, one hex digest per numbered line;
# the same code runs in the job and in the test.
GEN = """\
import hashlib
def gen(seed, n):
    out = bytearray()
    h = seed.encode()
    i = 0
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += b'%07d %s\\n' % (i, h.hex().encode())
        i += 1
    return bytes(out[:n])
"""

OUT_BYTES = 5 * 1024 * 1024 + 12345     # ends in the middle of a line
ERR_BYTES = 300 * 1024 + 7

# Writes stdout and stderr interleaved, in pieces of uneven sizes.
BIG = GEN + """\
import sys
out = gen('stdout', %d)
err = gen('stderr', %d)
sizes = [1, 100, 4096, 65536, 70001, 333, 131072, 7]
o = e = k = 0
while o < len(out) or e < len(err):
    n = sizes[k %% len(sizes)]
    k += 1
    if o < len(out):
        sys.stdout.buffer.write(out[o:o + n])
        sys.stdout.buffer.flush()
        o += n
    if e < len(err) and k %% 3 == 0:
        sys.stderr.buffer.write(err[e:e + n // 2 + 1])
        sys.stderr.buffer.flush()
        e += n // 2 + 1
""" % (OUT_BYTES, ERR_BYTES)


def gen(seed, n):
    ns = {}
    exec(GEN, ns)      # noqa: S102 - our own constant
    return ns["gen"](seed, n)


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def cl(run_daemon, ws):
    return make_cluster(run_daemon, ws, "c1")


def test_big_output_byte_for_byte(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    want_out = gen("stdout", OUT_BYTES)
    want_err = gen("stderr", ERR_BYTES)
    jd = make_jobdef(d, ws, "big", code=BIG)
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)

    got_out = w.log_bytes(run.uuid, 1, pb.STDOUT, timeout=60)
    got_err = w.log_bytes(run.uuid, 1, pb.STDERR, timeout=60)
    assert len(got_out) == len(want_out)
    assert sha(got_out) == sha(want_out)
    assert len(got_err) == len(want_err)
    assert sha(got_err) == sha(want_err)
    assert w.log_subjects[run.uuid] == {"batchd.v1.%s.logs.%s"
                                        % (ws, run.uuid)}
    r = wait_run(d, ws, run.uuid, timeout=60)
    assert r.status == pb.SUCCEEDED, r

    # run.logs: default pages (64 KiB) and an odd size; stdout and stderr
    # apart.
    for max_bytes, min_pages in ((0, OUT_BYTES // 65536),
                                 (99999, OUT_BYTES // 99999)):
        data, pages = read_logs(d, ws, run.uuid, pb.STDOUT,
                                max_bytes=max_bytes)
        assert sha(data) == sha(want_out), max_bytes
        assert pages >= min_pages
    data, _ = read_logs(d, ws, run.uuid, pb.STDERR, attempt=1)
    assert sha(data) == sha(want_err)
    # The log files are the same bytes.
    with open(os.path.join(d.data_dir, "logs", run.uuid, "1.stdout"),
              "rb") as f:
        assert sha(f.read()) == sha(want_out)


def test_logs_largest_page(run_daemon, ws, cl):
    """max_bytes may be up to 1 MiB: such a page must still reach the
    client (NATS refuses messages over max_payload, 1 MiB by default)."""
    d = run_daemon
    n = 3 * 1024 * 1024
    jd = make_jobdef(d, ws, "big3", code=GEN + """\
import sys
sys.stdout.buffer.write(gen('stdout', %d))
""" % n)
    r = wait_run(d, ws, submit_ok(d, ws, jd.uuid, cl.uuid).uuid)
    assert r.status == pb.SUCCEEDED
    want = gen("stdout", n)
    for max_bytes in (1000000, (1 << 20) - 1, 1 << 20):
        try:
            data, pages = read_logs(d, ws, r.uuid, max_bytes=max_bytes)
        except AssertionError as exc:
            raise AssertionError("run.logs max_bytes=%d: %s"
                                 % (max_bytes, exc)) from None
        assert sha(data) == sha(want), max_bytes
        assert pages >= 3


def test_log_chunks_and_pages(run_daemon, ws, cl, bus_watch):
    """Every chunk names its run, attempt and stream; chunks are at most
    log_chunk_bytes; one eof per stream, at its end; run.logs pages
    tell next_offset and eof."""
    d = run_daemon
    jd = make_jobdef(d, ws, "some", code=GEN + """\
import sys
sys.stdout.buffer.write(gen('x', 200000))
sys.stderr.write('oops\\n')
""")
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    want = gen("x", 200000)
    assert w.log_bytes(run.uuid, 1, pb.STDOUT) == want
    assert w.log_bytes(run.uuid, 1, pb.STDERR) == b"oops\n"
    for (u, a, s), st in w.streams.items():
        assert (u, a) == (run.uuid, 1) and s in (pb.STDOUT, pb.STDERR)
        assert st.eof_at == len(st.data)
    r = wait_run(d, ws, run.uuid)
    assert r.status == pb.SUCCEEDED

    def page(**kw):
        rep = d.call("run.logs", pb.GetJobRunLogsRequest(uuid=run.uuid, **kw),
                     pb.JobRunLogsReply, ws=ws)
        assert_ok(rep)
        return rep

    p = page(offset=1000, max_bytes=5000)
    assert p.next_offset == 6000 and not p.eof
    assert b"".join(c.data for c in p.chunks) == want[1000:6000]
    assert p.chunks[0].offset == 1000
    assert all(c.run_uuid == run.uuid and c.attempt == 1 and
               c.stream == pb.STDOUT for c in p.chunks)
    p = page(offset=len(want) - 10)
    assert b"".join(c.data for c in p.chunks) == want[-10:]
    assert p.eof and p.next_offset == len(want)
    assert p.chunks[-1].eof
    p = page(offset=len(want))
    assert p.eof and p.next_offset == len(want)
    assert b"".join(c.data for c in p.chunks) == b""
    # Unspecified stream is stdout.
    p = page(stream=pb.LOG_STREAM_UNSPECIFIED, max_bytes=10)
    assert b"".join(c.data for c in p.chunks) == want[:10]
    p = page(stream=pb.STDERR)
    assert b"".join(c.data for c in p.chunks) == b"oops\n" and p.eof
    rep = d.call("run.logs", pb.GetJobRunLogsRequest(
        uuid=run.uuid, max_bytes=(1 << 20) + 1), pb.JobRunLogsReply, ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, "max_bytes")


LINES = """\
import os, sys
for i in range(40000):
    sys.stdout.write("%06d level=info step=%d status=ok\\n" % (i, i % 7))
sys.stdout.flush()
sys.stderr.buffer.write(os.urandom(300000) + b"bye\\n")
"""


def test_log_chunks_compressed(run_daemon_factory, ws, bus_watch):
    """Output that compresses goes on the bus as ZSTD chunks, each a
    sixteenth smaller at least, that decode to exactly the bytes of the
    log file; incompressible output, a small piece and an eof go as they
    are (IDENTITY); run.logs replies are IDENTITY; log_zstd_level = 0
    turns compression off."""
    for level in ("1", "0"):
        d = run_daemon_factory(env={"BATCHD_LOG_ZSTD_LEVEL": level}).start()
        c = make_cluster(d, ws, "z" + level)
        w = bus_watch(d, ws)
        runs = {}
        for name, code in (("lines", LINES), ("hi", "print('hi')\n")):
            jd = make_jobdef(d, ws, name + level, code=code)
            runs[name] = submit_ok(d, ws, jd.uuid, c.uuid).uuid
        for name, run in runs.items():
            assert wait_run(d, ws, run).status == pb.SUCCEEDED
            for stream, fname in ((pb.STDOUT, "1.stdout"),
                                  (pb.STDERR, "1.stderr")):
                got = w.log_bytes(run, 1, stream)
                with open(os.path.join(d.data_dir, "logs", run, fname),
                          "rb") as f:
                    assert got == f.read(), (level, name, fname)
        out = w.streams[(runs["lines"], 1, pb.STDOUT)].encoded
        err = w.streams[(runs["lines"], 1, pb.STDERR)].encoded
        hi = w.streams[(runs["hi"], 1, pb.STDOUT)].encoded
        assert all(e == pb.IDENTITY for e, _, _ in err + hi), (err, hi)
        assert all(e == pb.IDENTITY for e, _, n in out if n < 512), out
        zs = [(wire, n) for e, wire, n in out if e == pb.ZSTD]
        if level == "0":
            assert zs == [], out
            d.stop()
            continue
        assert zs and all(wire < n - n // 16 for wire, n in zs), out
        wire = sum(wire for _, wire, _ in out)
        size = sum(n for _, _, n in out)
        assert wire * 4 < size, (wire, size)
        rep = d.call("run.logs", pb.GetJobRunLogsRequest(
            uuid=runs["lines"], max_bytes=1 << 20), pb.JobRunLogsReply,
            ws=ws)
        assert_ok(rep)
        assert all(ch.encoding == pb.IDENTITY for ch in rep.chunks)
        page = b"".join(ch.data for ch in rep.chunks)
        assert page and page == w.log_bytes(runs["lines"], 1,
                                            pb.STDOUT)[:len(page)]
        # A frame that would not save enough is no error worth a line.
        assert "zstd" not in d.log_text()
        d.stop()    # the next one answers on the same subjects


BURST_MIB = 64


def test_a_log_burst_is_streamed_not_buffered(run_daemon_factory, ws,
                                              bus_watch):
    """A job writes 64 MiB as fast as it can, far faster than the bus takes
    it. Every byte reaches a subscriber, in order, with its eof; batchd
    reads the file only as fast as its connection sends (it used to read
    the whole burst at once into cnats's buffer: its peak RSS grew by the
    burst). ASan's quarantine of freed chunks is kept small here so the
    peak RSS says what batchd holds."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    d = run_daemon_factory(env={"ASAN_OPTIONS": (asan + ":" if asan else "")
                                + "quarantine_size_mb=8"}).start()
    c = make_cluster(d, ws, "burst")
    jd = make_jobdef(d, ws, "burst", code="""\
import sys
for i in range(%d):
    sys.stdout.buffer.write(b'%%08d' %% i * 131072)
""" % BURST_MIB)
    w = bus_watch(d, ws)
    before = harness.vm_hwm_kib(d.proc.pid)
    run = submit_ok(d, ws, jd.uuid, c.uuid)
    want = b"".join(b"%08d" % i * 131072 for i in range(BURST_MIB))
    got = w.log_bytes(run.uuid, 1, pb.STDOUT, timeout=120)
    assert len(got) == len(want) and got == want
    assert wait_run(d, ws, run.uuid).status == pb.SUCCEEDED
    grew = (harness.vm_hwm_kib(d.proc.pid) - before) // 1024
    assert grew < BURST_MIB // 2, (
        "batchd's peak RSS grew by %d MiB while a %d MiB burst streamed"
        % (grew, BURST_MIB))


def test_a_full_log_disk_drops_output_and_the_job_goes_on(
        run_daemon_factory, ws, tmp_path):
    """The log's disk fills while the job writes: what does not fit is
    dropped, the job is never held up, and once there is room again its
    output is stored again. The logs have a 3 MiB file system of their
    own, a 1 MiB filler on it; the job writes 4 MiB, then waits until the
    test has removed the filler, then writes a last line."""
    d = run_daemon_factory()
    logs = os.path.join(d.data_dir, "logs")
    os.makedirs(logs)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", logs],
                   check=True)
    try:
        d.start()
        filler = os.path.join(logs, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (1 << 20))
        wrote, go = str(tmp_path / "wrote"), str(tmp_path / "go")
        jd = make_jobdef(d, ws, "full", env={"WROTE": wrote, "GO": go},
                         code=GEN + """\
import os, sys, time
sys.stdout.buffer.write(gen('stdout', 4 << 20))
sys.stdout.buffer.flush()
open(os.environ['WROTE'], 'w').close()
while not os.path.exists(os.environ['GO']):
    time.sleep(0.02)
sys.stdout.buffer.write(b'tail\\n')
""")
        run = submit_ok(d, ws, jd.uuid, make_cluster(d, ws, "full").uuid)
        harness.wait_until(lambda: os.path.exists(wrote), 30,
                           what="the job wrote its 4 MiB")
        time.sleep(0.5)        # the shim drains in a few ms
        os.unlink(filler)
        open(go, "w").close()
        r = wait_run(d, ws, run.uuid, timeout=30)
        assert r.status == pb.SUCCEEDED, r
        with open(os.path.join(logs, run.uuid, "1.stdout"), "rb") as f:
            data = f.read()
        assert data.endswith(b"tail\n"), data[-100:]
        body = data[:-5]
        # What fitted, then nothing until the tail: the disk had about
        # 2 MiB.
        assert (1 << 20) < len(body) < (3 << 20), len(body)
        assert body == gen("stdout", 4 << 20)[:len(body)]
        assert read_logs(d, ws, run.uuid)[0] == data
    finally:
        subprocess.run(["umount", "-l", logs], check=False)


def preloaded_shim(tmp_path, name, env):
    """A BATCHD_SHIM: the shim with tests/integration/plugins/{name}.c
    built and preloaded, and env exported."""
    so = str(tmp_path / (name + ".so"))
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC",
                    "-shared", "-o", so,
                    os.path.join(harness.REPO_ROOT, "tests", "integration",
                                 "plugins", name + ".c"), "-ldl"],
                   check=True)
    shim = os.path.join(os.path.dirname(os.path.abspath(harness.BATCHD_BIN)),
                        "batchd-shim")
    wrapper = tmp_path / (name + "-shim")
    # A sanitized shim's runtime is then not the first library: say so.
    wrapper.write_text(
        "#!/bin/sh\nexport LD_PRELOAD=%s %s\n"
        "export ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}"
        "verify_asan_link_order=0\"\nexec %s \"$@\"\n"
        % (so, " ".join("%s=%s" % kv for kv in env.items()), shim))
    wrapper.chmod(0o755)
    return wrapper


def test_a_refused_splice_falls_back_to_reading(run_daemon_factory, ws,
                                                tmp_path):
    """Where splice(2) cannot move the job pipe's pages into the shim's
    relay (nosplice.c, preloaded into the shim, refuses every splice from
    one pipe into another), the shim reads the output and writes it to the
    log itself: every byte is stored in order and served."""
    mark = str(tmp_path / "refused")
    wrapper = preloaded_shim(tmp_path, "nosplice", {"NOSPLICE_MARK": mark})
    d = run_daemon_factory(env={"BATCHD_SHIM": str(wrapper)}).start()
    jd = make_jobdef(d, ws, "nosplice", code=BIG)
    run = submit_ok(d, ws, jd.uuid, make_cluster(d, ws, "nosplice").uuid)
    r = wait_run(d, ws, run.uuid, timeout=60)
    assert r.status == pb.SUCCEEDED, r
    assert os.path.exists(mark), "the shim never met a refused splice"
    for stream, name, n in ((pb.STDOUT, "stdout", OUT_BYTES),
                            (pb.STDERR, "stderr", ERR_BYTES)):
        want = gen(name, n)
        with open(os.path.join(d.data_dir, "logs", run.uuid, "1." + name),
                  "rb") as f:
            assert sha(f.read()) == sha(want), name
        assert sha(read_logs(d, ws, run.uuid, stream)[0]) == sha(want), name


def test_a_job_that_cannot_be_started_fails_its_run(run_daemon_factory,
                                                     ws, tmp_path):
    """The local backend starts the job with clone(2); where that fails
    (noclone.c, preloaded into the shim: EAGAIN, as when out of processes)
    the attempt fails as SPAWN_FAILED saying why, and batchd goes on."""
    mark = str(tmp_path / "refused")
    wrapper = preloaded_shim(tmp_path, "noclone", {"NOCLONE_MARK": mark})
    d = run_daemon_factory(env={"BATCHD_SHIM": str(wrapper)}).start()
    jd = make_jobdef(d, ws, "noclone", code="print('never')\n")
    run = submit_ok(d, ws, jd.uuid, make_cluster(d, ws, "noclone").uuid)
    r = wait_run(d, ws, run.uuid, timeout=60)
    assert (r.status, r.reason) == (pb.FAILED, pb.SPAWN_FAILED), r
    assert os.path.exists(mark), "the shim never called clone"
    assert "clone: Resource temporarily unavailable" in r.reason_text, (
        r.reason_text)
    assert read_logs(d, ws, run.uuid)[0] == b""
    assert_ok(d.call("run.get", pb.GetJobRunRequest(uuid=run.uuid),
                     pb.JobRunReply, ws=ws))


def test_logs_of_a_running_run_are_not_eof(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    gate = os.path.join(d.tmpdir, "gate-" + ws)
    jd = make_jobdef(d, ws, "gated", env={"GATE": gate}, code="""\
import os, sys, time
print('first', flush=True)
deadline = time.time() + 25
while not os.path.exists(os.environ['GATE']) and time.time() < deadline:
    time.sleep(0.02)
print('second')
""")
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    # Wait for "first" over the bus, then ask run.logs.
    while True:
        w._take_log(20)
        s = w.streams.get((run.uuid, 1, pb.STDOUT))
        if s is not None and bytes(s.data) == b"first\n":
            break
    rep = d.call("run.logs", pb.GetJobRunLogsRequest(uuid=run.uuid),
                 pb.JobRunLogsReply, ws=ws)
    assert_ok(rep)
    assert b"".join(c.data for c in rep.chunks) == b"first\n"
    assert rep.next_offset == 6 and not rep.eof
    assert not any(c.eof for c in rep.chunks)
    open(gate, "w").close()
    assert w.log_bytes(run.uuid, 1, pb.STDOUT) == b"first\nsecond\n"
    assert wait_run(d, ws, run.uuid).status == pb.SUCCEEDED
    assert read_logs(d, ws, run.uuid)[0] == b"first\nsecond\n"


# ---------------------------------------------------------------- fds

FDS = """\
import json, os
fds = {}
with os.scandir('/proc/self/fd') as it:
    for e in it:
        try:
            fds[int(e.name)] = os.readlink('/proc/self/fd/' + e.name)
        except OSError:
            pass
me = '/proc/%d/fd' % os.getpid()
print(json.dumps({str(k): v for k, v in fds.items()
                  if v not in (me, '/proc/self/fd')}))
"""


def test_only_stdio_descriptors(run_daemon, ws, cl):
    d = run_daemon
    jd = make_jobdef(d, ws, "fds", code=FDS)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    r = wait_run(d, ws, run.uuid)
    assert r.status == pb.SUCCEEDED, read_logs(d, ws, run.uuid, pb.STDERR)
    fds = json.loads(read_logs(d, ws, run.uuid)[0])
    assert set(fds) == {"0", "1", "2"}, fds
    assert fds["0"] == "/dev/null"
    assert fds["1"].startswith("pipe:") and fds["2"].startswith("pipe:")


POLICY = """\
import json, os
pids = [os.getpid(), os.getppid()]
comm = open('/proc/%d/comm' % pids[1]).read().strip()
print(json.dumps([comm] + [os.sched_getscheduler(p) for p in pids]))
"""


def test_the_shim_waits_without_preempting_the_job(run_daemon, ws, cl):
    """Once the job has started, its shim runs SCHED_BATCH (its wakeups do
    not preempt the job on the job's core); the job keeps SCHED_OTHER."""
    d = run_daemon
    jd = make_jobdef(d, ws, "policy", code=POLICY)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    r = wait_run(d, ws, run.uuid)
    assert r.status == pb.SUCCEEDED, read_logs(d, ws, run.uuid, pb.STDERR)
    comm, job, shim = json.loads(read_logs(d, ws, run.uuid)[0])
    assert comm == "batchd-shim"
    assert (job, shim) == (os.SCHED_OTHER, os.SCHED_BATCH)


# ---------------------------------------------------------------- env, args

SHOW = """\
import json, os, sys
raw = open('/proc/self/environ', 'rb').read().split(b'\\0')
print(json.dumps({
    'argv': sys.argv[1:],
    'env': dict(os.environ),
    'names': [e.split(b'=', 1)[0].decode() for e in raw if e],
    'cwd': os.getcwd(),
    'files': sorted(os.listdir('.')),
}))
"""

BASE_ENV = {"PATH", "HOME", "LANG", "BATCHD_RUN_UUID", "BATCHD_ATTEMPT",
            "BATCHD_CLUSTER_UUID", "BATCHD_WORKSPACE"}


def shown(d, ws, run):
    r = wait_run(d, ws, run.uuid)
    assert r.status == pb.SUCCEEDED, read_logs(d, ws, run.uuid, pb.STDERR)
    return r, json.loads(read_logs(d, ws, run.uuid)[0])


def test_env_and_args(run_daemon, ws, cl):
    d = run_daemon
    jd = make_jobdef(d, ws, "show", code=SHOW, args="--def-arg 1",
                     env={"A": "def-a", "B": "def-b"})

    # Overridden per run: args replace, env merges over.
    args = "--name 'a b' \"c \\\"d\\\"\" e\\ f '' x=\"$HOME\""
    run = submit_ok(d, ws, jd.uuid, cl.uuid, args=args,
                    env={"B": "run-b", "C": "run-c"})
    assert run.HasField("args") and run.args == args
    assert dict(run.env) == {"B": "run-b", "C": "run-c"}
    assert run.config.args == args
    assert dict(run.config.env) == {"A": "def-a", "B": "run-b",
                                    "C": "run-c"}
    r, got = shown(d, ws, run)
    assert got["argv"] == ["--name", "a b", 'c "d"', "e f", "",
                           "x=$HOME"]
    env = got["env"]
    assert set(env) == BASE_ENV | {"A", "B", "C"}, env
    assert (env["A"], env["B"], env["C"]) == ("def-a", "run-b", "run-c")
    assert env["BATCHD_RUN_UUID"] == run.uuid
    assert env["BATCHD_ATTEMPT"] == "1"
    assert env["BATCHD_CLUSTER_UUID"] == cl.uuid
    assert env["BATCHD_WORKSPACE"] == ws
    assert env["LANG"] and env["PATH"]
    assert env["HOME"] == got["cwd"]
    assert "show.py" in got["files"]
    assert sorted(got["names"]) == sorted(env), "duplicate names"

    # Without args: the definition's.
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    assert not run.HasField("args") and dict(run.env) == {}
    r, got = shown(d, ws, run)
    assert got["argv"] == ["--def-arg", "1"]
    assert set(got["env"]) == BASE_ENV | {"A", "B"}
    assert got["env"]["B"] == "def-b"

    # Empty args (present): no arguments at all.
    run = submit_ok(d, ws, jd.uuid, cl.uuid, args="")
    assert run.HasField("args") and run.args == ""
    r, got = shown(d, ws, run)
    assert got["argv"] == []
    assert get_run(d, ws, run.uuid).HasField("args")

    # The definition keeps its own.
    jd2 = assert_ok(d.call("jobdef.get", pb.GetJobDefinitionRequest(
        uuid=jd.uuid), pb.JobDefinitionReply, ws=ws)).job_definition
    assert jd2.config.args == "--def-arg 1"
    assert dict(jd2.config.env) == {"A": "def-a", "B": "def-b"}


def test_env_names_are_unique(run_daemon, ws, cl):
    """A job's environment never holds one name twice, even when the
    definition or the run names a variable batchd sets itself; and
    BATCHD_RUN_UUID is the run's."""
    d = run_daemon
    jd = make_jobdef(d, ws, "show", code=SHOW,
                     env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
    run = submit_ok(d, ws, jd.uuid, cl.uuid,
                    env={"BATCHD_RUN_UUID": "spoofed", "LANG": "C"})
    r, got = shown(d, ws, run)
    names = got["names"]
    dups = sorted({n for n in names if names.count(n) > 1})
    assert dups == [], ("the job's environment holds %s twice: %s"
                        % (dups, names))
    assert got["env"]["BATCHD_RUN_UUID"] == run.uuid


# ---------------------------------------------------------------- sources

def test_source_in_subdirectory_and_symlink_inside(run_daemon, ws, cl):
    d = run_daemon
    real = write_job(d, ws, "lib/real.py", "print('real')\n", path=".")
    link = os.path.join(d.ws_root, ws, "jobs", "link.py")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(os.path.relpath(real, os.path.dirname(link)), link)
    write_job(d, ws, "deep/er/x.py", "print('deep')\n")
    for name, loc, out in (("link", "link.py", b"real\n"),
                           ("deep", "deep/er/x.py", b"deep\n")):
        jd = make_jobdef(d, ws, name, location=loc)
        r = wait_run(d, ws, submit_ok(d, ws, jd.uuid, cl.uuid).uuid)
        assert r.status == pb.SUCCEEDED, (name, r)
        assert read_logs(d, ws, r.uuid)[0] == out


def test_source_escapes_fail(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    other = ws + "-other"
    write_job(d, other, "x.py", "print('other workspace')\n", path=".")
    secret = os.path.join(d.tmpdir, "secret.py")
    with open(secret, "w") as f:
        f.write("print('outside')\n")
    jobs = os.path.join(d.ws_root, ws, "jobs")
    os.makedirs(jobs, exist_ok=True)
    os.symlink("/etc/passwd", os.path.join(jobs, "abs.py"))
    os.symlink("../../%s/x.py" % other, os.path.join(jobs, "rel.py"))
    os.symlink(secret, os.path.join(jobs, "secret.py"))
    # A directory symlink out of the workspace.
    os.makedirs(os.path.join(d.tmpdir, "outdir"), exist_ok=True)
    with open(os.path.join(d.tmpdir, "outdir", "y.py"), "w") as f:
        f.write("print('outside dir')\n")
    os.symlink(os.path.join(d.tmpdir, "outdir"),
               os.path.join(d.ws_root, ws, "outlink"))
    os.symlink("../" + other, os.path.join(d.ws_root, ws, "otherlink"))

    w = bus_watch(d, ws)
    cases = [("abs", "jobs", "abs.py"), ("rel", "jobs", "rel.py"),
             ("secret", "jobs", "secret.py"), ("dir", "outlink", "y.py"),
             ("otherws", "otherlink", "x.py"),
             ("missing", "jobs", "missing.py")]
    for name, path, loc in cases:
        jd = make_jobdef(d, ws, name, path=path, location=loc)
        run = submit_ok(d, ws, jd.uuid, cl.uuid)
        r = wait_run(d, ws, run.uuid)
        assert (r.status, r.reason) == (pb.FAILED, pb.SOURCE_FETCH_FAILED), (
            name, r.reason_text)
        assert r.reason_text.startswith("SourceFetchFailed"), r.reason_text
        assert len(r.attempts) == 1
        a = r.attempts[0]
        assert (a.status, a.reason) == (pb.FAILED, pb.SOURCE_FETCH_FAILED)
        assert not a.HasField("exit_code")
        evs = w.events_terminal(run.uuid)
        assert [(e.status, e.reason) for e in evs] == [
            (pb.PENDING, pb.RECENTLY_SUBMITTED),
            (pb.RUNNING, pb.RUNNING_ATTEMPT),
            (pb.FAILED, pb.SOURCE_FETCH_FAILED)], name
        out, _ = read_logs(d, ws, run.uuid)
        assert b"outside" not in out and b"other workspace" not in out
        assert b"root:" not in out
    c = get_cluster(d, ws, cl.uuid).cluster
    assert c.active_run_uuid == "" and c.queued == 0


def test_missing_workspace_directory(run_daemon, ws, cl):
    d = run_daemon
    jd = make_jobdef(d, ws, "nows")          # no file, no workspace dir
    r = wait_run(d, ws, submit_ok(d, ws, jd.uuid, cl.uuid).uuid)
    assert (r.status, r.reason) == (pb.FAILED, pb.SOURCE_FETCH_FAILED)


def test_source_fetch_failure_is_retried(run_daemon, ws, cl):
    """A failed fetch is a failed attempt: the retry strategy applies, and
    a file that appears meanwhile is fetched by the next attempt."""
    d = run_daemon
    jd = make_jobdef(d, ws, "late", num_retries=1, retry_delay_seconds=1)
    os.makedirs(os.path.join(d.ws_root, ws, "jobs"), exist_ok=True)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    wait_run(d, ws, run.uuid, lambda r: r.reason == pb.RETRY_PENDING,
             what="RETRY_PENDING")
    write_job(d, ws, "late.py", "print('now here')\n")
    r = wait_run(d, ws, run.uuid)
    assert r.status == pb.SUCCEEDED and r.attempt == 2
    assert r.attempts[0].reason == pb.SOURCE_FETCH_FAILED
    assert read_logs(d, ws, r.uuid)[0] == b"now here\n"


# ---------------------------------------------------------------- SQL

def submit_sql(d, ws, sql, cluster_uuid="", config=None, **kw):
    req = pb.SubmitSqlJobRunRequest(sql_query=sql, cluster_uuid=cluster_uuid,
                                    **kw)
    if config is not None:
        req.cluster_config.CopyFrom(config)
    return d.call("run.submit_sql", req, pb.JobRunReply, ws=ws)


def sql_run(d, ws, sql, **kw):
    rep = submit_sql(d, ws, sql, **kw)
    assert_ok(rep)
    return rep.job_run, wait_run(d, ws, rep.job_run.uuid)


def test_sql_ephemeral_success(run_daemon, ws, bus_watch):
    d = run_daemon
    w = bus_watch(d, ws)
    q = "CREATE TABLE t(x); INSERT INTO t VALUES(42); SELECT x FROM t;"
    run, r = sql_run(d, ws, q, config=cluster_config())
    assert run.type == pb.SQL and run.job_definition_uuid == ""
    assert run.sql_query == q and run.ephemeral_cluster is True
    assert r.status == pb.SUCCEEDED, read_logs(d, ws, r.uuid, pb.STDERR)
    out, _ = read_logs(d, ws, r.uuid)
    assert out.split() == [b"42"]
    assert w.log_bytes(r.uuid, 1, pb.STDOUT) == out
    evs = w.events_terminal(r.uuid)
    assert [e.status for e in evs] == [pb.PENDING, pb.RUNNING, pb.SUCCEEDED]
    assert all(e.job_definition_uuid == "" for e in evs)
    assert_error(get_cluster(d, ws, r.cluster_uuid), pb.NOT_FOUND, "uuid")
    # The database is the workspace's: the table is there next time...
    cl = make_cluster(d, ws, "c1")
    _, r2 = sql_run(d, ws, "SELECT count(*), sum(x) FROM t;",
                    cluster_uuid=cl.uuid)
    assert r2.status == pb.SUCCEEDED
    assert read_logs(d, ws, r2.uuid)[0].strip() == b"1|42"
    # ...and not in another workspace.
    _, r3 = sql_run(d, ws + "o", "SELECT x FROM t;", config=cluster_config())
    assert r3.status == pb.FAILED


def test_sql_failure_bails(run_daemon, ws):
    d = run_daemon
    cl = make_cluster(d, ws, "c1")
    run, r = sql_run(d, ws, "SELECT * FROM no_such_table; "
                     "CREATE TABLE after_error(x);", cluster_uuid=cl.uuid)
    assert (r.status, r.reason) == (pb.FAILED, pb.NON_ZERO_EXIT_CODE), r
    assert r.HasField("exit_code") and r.exit_code != 0
    err, _ = read_logs(d, ws, r.uuid, pb.STDERR)
    assert b"no such table" in err
    # -bail: nothing after the error ran.
    _, r2 = sql_run(d, ws, "SELECT count(*) FROM sqlite_master "
                    "WHERE name = 'after_error';", cluster_uuid=cl.uuid)
    assert r2.status == pb.SUCCEEDED
    assert read_logs(d, ws, r2.uuid)[0].strip() == b"0"


def test_sql_refusals(run_daemon, ws):
    d = run_daemon
    assert_error(submit_sql(d, ws, "SELECT 1;"), pb.INVALID_ARGUMENT,
                 "cluster_uuid")
    assert_error(submit_sql(d, ws, "", config=cluster_config()),
                 pb.INVALID_ARGUMENT, "sql_query")
    assert_error(submit_sql(d, ws, "SELECT 1;",
                            cluster_uuid="00000000-0000-4000-8000-"
                            "000000000000"), pb.NOT_FOUND, "cluster_uuid")
    rep = d.call("run.list", pb.ListJobRunsRequest(), pb.ListJobRunsReply,
                 ws=ws)
    assert_ok(rep)
    assert list(rep.job_runs) == []
    assert list(d.call("cluster.list", pb.ListClustersRequest(),
                       pb.ListClustersReply, ws=ws).clusters) == []
