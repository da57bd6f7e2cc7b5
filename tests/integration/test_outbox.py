"""Nothing lost across a bus outage: status events committed while NATS is
away reach subscribers when it is back (the LMDB outbox), in seq order,
also after batchd was killed meanwhile; log bytes written meanwhile are read
back from the log files and published too."""

import os
import signal
import time

import pytest

import harness
from harness import _pb, assert_ok

pb = _pb()

SCRIPT = r"""
import os, sys, time
def gate(name):                     # the test opens it
    while not os.path.exists(name):
        time.sleep(0.02)
for i in range(3):
    print("before %d" % i, flush=True)
open("started", "w").close()
gate("go")
for i in range(2000):
    print("after %d" % i)
sys.stdout.flush()
gate("go2")
for i in range(500):
    print("last %d" % i)
print("err line", file=sys.stderr)
"""


def expected_stdout(upto="last"):
    """The job's stdout: all of it, or up to the gate "go2" ("after")."""
    out = ("".join("before %d\n" % i for i in range(3)) +
           "".join("after %d\n" % i for i in range(2000)))
    if upto == "last":
        out += "".join("last %d\n" % i for i in range(500))
    return out.encode()


def setup_run(d, ws):
    jobs = os.path.join(d.ws_root, ws, "jobs")
    os.makedirs(jobs, exist_ok=True)
    with open(os.path.join(jobs, "outage.py"), "w") as f:
        f.write(SCRIPT)
    r = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name="outage", config=pb.JobConfig(
            source=pb.JobSource(type=pb.WORKSPACE,
                                workspace=pb.WorkspaceSource(path="jobs")),
            type=pb.PYTHON, source_location="outage.py")),
        pb.JobDefinitionReply, ws=ws)
    assert_ok(r)
    c = d.call("cluster.create", pb.CreateClusterRequest(
        name="c", config=pb.ClusterConfig(instance_type="local",
                                          workers_quantity=1, version="3")),
        pb.ClusterReply, ws=ws)
    assert_ok(c)
    return r.job_definition.uuid, c.cluster.uuid


class Collector:
    """Events and stdout chunks of one run from a subscription."""

    def __init__(self, srv, ws):
        self.nc = srv.client()
        self.st = self.nc.subscribe("batchd.v1.%s.status.>" % ws)
        self.lg = self.nc.subscribe("batchd.v1.%s.logs.>" % ws)
        self.nc.flush()
        self.events = {}
        self.out = {}
        self.eof = False

    def pump(self, run, timeout, done=None):
        """Take what comes until done() (default: self.done) holds and
        nothing more is waiting, or for timeout seconds."""
        done = done or self.done
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = False
            for sub, kind in ((self.st, "s"), (self.lg, "l")):
                try:
                    _, data = sub.next(0.05)
                except Exception:
                    continue
                got = True
                if kind == "s":
                    ev = pb.JobRunStatusEvent.FromString(data)
                    if ev.run_uuid == run:
                        self.events[ev.seq] = ev
                else:
                    ch = pb.LogChunk.FromString(data)
                    if ch.run_uuid == run and ch.stream == pb.STDOUT:
                        if ch.eof:
                            self.eof = True
                        elif ch.data:
                            self.out[ch.offset] = harness.chunk_data(ch)
            if not got and done():
                return

    def done(self):
        return (self.eof and any(e.status == pb.SUCCEEDED
                                 for e in self.events.values()))

    def stdout(self):
        buf = b""
        for off in sorted(self.out):
            data = self.out[off]
            if off > len(buf):
                break
            buf = buf[:off] + data
        return buf


def wait_file(path, timeout=20):
    harness.wait_until(lambda: os.path.exists(path), timeout,
                       what="job started (%s)" % path)


def open_gate(d, run, *names):
    for name in names or ("go", "go2"):
        open(os.path.join(run_dir(d, run), name), "w").close()


def wait_ended_while_away(d, run):
    """The job ended and batchd applied SUCCEEDED with NATS away (its log
    says so); the commit follows in that loop turn (a lazy op waits at
    most 100 ms for one), so half a second more has it on disk."""
    line = "run=%s " % run
    harness.wait_until(
        lambda: any(ln.startswith("<6>batchd info: " + line) and
                    "RUNNING -> SUCCEEDED" in ln
                    for ln in d.log_text().splitlines()), 20,
        what="run %s SUCCEEDED in batchd's log" % run)
    time.sleep(0.5)


def nats_back(srv, d, subscribe):
    """Start NATS again and return subscribe(), a subscriber of the new
    server: batchd is held still until it is in place, so that its
    republication on reconnecting cannot come first."""
    d.proc.send_signal(signal.SIGSTOP)
    try:
        srv.start()
        return subscribe()
    finally:
        d.proc.send_signal(signal.SIGCONT)


def run_dir(d, run):
    return os.path.join(d.data_dir, "runs", run, "1", "work")


def check_history(d, ws, run, col):
    ev = d.call("run.events", pb.GetJobRunRequest(uuid=run),
                pb.JobRunEventsReply, ws=ws)
    assert_ok(ev)
    seqs = [e.seq for e in ev.events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [e.status for e in ev.events] == \
        [pb.PENDING, pb.RUNNING, pb.SUCCEEDED]
    # The subscriber saw every event (duplicates collapse by seq).
    assert sorted(col.events) == seqs
    assert [col.events[s].status for s in seqs] == \
        [e.status for e in ev.events]


def test_events_and_logs_survive_nats_outage(make_nats, daemon_factory, ws):
    srv = make_nats()
    srv.start()
    d = daemon_factory(nats_url=srv.url)
    d.start()
    jd, cl = setup_run(d, ws)
    col = Collector(srv, ws)
    r = d.call("run.submit", pb.SubmitJobRunRequest(
        job_definition_uuid=jd, cluster_uuid=cl), pb.JobRunReply, ws=ws)
    assert_ok(r)
    run = r.job_run.uuid
    wait_file(os.path.join(run_dir(d, run), "started"))
    before = len(expected_stdout().split(b"after")[0])
    harness.wait_until(lambda: (col.pump(run, 0.2),
                                len(col.stdout()) >= before)[1], 10,
                       what="output before the outage")
    srv.stop()
    open_gate(d, run)                # the job finishes while NATS is away
    wait_ended_while_away(d, run)
    col2 = nats_back(srv, d, lambda: Collector(srv, ws))
    col2.pump(run, 20)
    assert col2.done(), "events %r eof %r" % (sorted(col2.events),
                                              col2.eof)
    # Every byte reached one subscriber or the other, none was lost.
    col2.out.update({o: dt for o, dt in col.out.items()
                     if o not in col2.out})
    col2.events.update({s: e for s, e in col.events.items()
                        if s not in col2.events})
    col = col2
    assert col.stdout() == expected_stdout()
    d.wait_ready(10)
    check_history(d, ws, run, col)


def log_file(d, run):
    return os.path.join(d.data_dir, "logs", run, "1.stdout")


def wait_log(d, run, want):
    """The job's stdout file holds want (the shim copied it there)."""
    path = log_file(d, run)
    harness.wait_until(lambda: os.path.exists(path) and
                       open(path, "rb").read() == want, 20,
                       what="%d bytes of output on disk" % len(want))


def start_watched(srv, d, ws):
    """Submit the run with a subscriber in place; once that subscriber has
    the output written before the gate, stop NATS. Returns (run, watcher)."""
    jd, cl = setup_run(d, ws)
    w = harness.BusWatch(d, ws)
    run = harness.submit_ok(d, ws, jd, cl).uuid
    wait_file(os.path.join(run_dir(d, run), "started"))
    before = len(expected_stdout().split(b"after")[0])
    key = (run, 1, pb.STDOUT)

    def have():
        w.drain_logs(0.1)
        return key in w.streams and len(w.streams[key].data) >= before
    harness.wait_until(have, 10, what="output before the outage")
    w.close()
    srv.stop()
    return run, w


def check_logs_after(run, w, w2):
    """Every byte of both streams reached the bus: w2 (on the new server)
    goes on from what w had before the outage; batchd publishes again from
    the offset its last barrier confirmed, which w had."""
    key = (run, 1, pb.STDOUT)
    w2.streams[key] = w.streams[key]
    try:
        assert w2.log_bytes(run, 1, pb.STDOUT, timeout=20) == \
            expected_stdout()
        assert w2.log_bytes(run, 1, pb.STDERR, timeout=20) == b"err line\n"
        w2.events_until(run, lambda evs: evs[-1].status == pb.SUCCEEDED)
    finally:
        w2.close()


def test_logs_of_a_running_job_survive_nats_outage(make_nats, daemon_factory,
                                                   ws):
    """NATS is away while the job writes and back while it still runs:
    what it wrote meanwhile is read back from the file and published, and
    the rest follows."""
    srv = make_nats()
    srv.start()
    d = daemon_factory(nats_url=srv.url)
    d.start()
    run, w = start_watched(srv, d, ws)
    open_gate(d, run, "go")
    wait_log(d, run, expected_stdout("after"))
    w2 = nats_back(srv, d, lambda: harness.BusWatch(d, ws))
    open_gate(d, run, "go2")
    check_logs_after(run, w, w2)
    assert harness.wait_run(d, ws, run).status == pb.SUCCEEDED


@pytest.mark.parametrize("job", ["running", "ended", "ended_while_down"])
def test_outbox_survives_kill9_while_nats_away(make_nats, daemon_factory, ws,
                                              job):
    """NATS goes away, the job writes (batchd up, reading its output into
    nothing), batchd is killed -9 while NATS is still away; then NATS and
    batchd come back. The job is still running then, or it ended before
    the kill (batchd committed SUCCEEDED), or it ended while batchd was
    down. Every status event and every byte of output reaches the bus."""
    srv = make_nats()
    srv.start()
    d = daemon_factory(nats_url=srv.url)
    d.start()
    run, w = start_watched(srv, d, ws)
    adir = os.path.dirname(run_dir(d, run))
    open_gate(d, run, "go")
    wait_log(d, run, expected_stdout("after"))
    if job == "ended":
        open_gate(d, run, "go2")
        wait_log(d, run, expected_stdout())
        wait_ended_while_away(d, run)
    shim, _ = harness.shim_of(adir)
    d.kill9()
    if job == "ended_while_down":
        open_gate(d, run, "go2")
        harness.wait_until(lambda: not harness.pid_alive(shim), 20,
                           what="the shim gone")
        wait_log(d, run, expected_stdout())
    srv.start()
    w2 = harness.BusWatch(d, ws)
    d.start()
    if job == "running":
        open_gate(d, run, "go2")
    check_logs_after(run, w, w2)
    check = d.call("run.get", pb.GetJobRunRequest(uuid=run), pb.JobRunReply,
                   ws=ws)
    assert check.job_run.status == pb.SUCCEEDED


BACKLOG_MIB = 48
BACKLOG = r"""
import os, sys, time
open("started", "w").close()
while not os.path.exists("go"):
    time.sleep(0.05)
for i in range(%d):
    sys.stdout.buffer.write(b"%%08d" %% i * 131072)
""" % BACKLOG_MIB


def test_a_large_backlog_is_published_after_an_outage(make_nats,
                                                      daemon_factory, ws):
    """A job writes 48 MiB while NATS is away. When it is back, batchd
    publishes the backlog from the log file as fast as the connection takes
    it (holding back while cnats's buffer is full, going on as it empties):
    every byte reaches a subscriber, and batchd never holds the backlog in
    memory (ASan's quarantine kept small, so the peak RSS says so)."""
    srv = make_nats()
    srv.start()
    asan = os.environ.get("ASAN_OPTIONS", "")
    d = daemon_factory(nats_url=srv.url, env={
        "ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=8"})
    d.start()
    jd = harness.make_jobdef(d, ws, "backlog", code=BACKLOG)
    c = harness.make_cluster(d, ws, "c")
    run = harness.submit_ok(d, ws, jd.uuid, c.uuid).uuid
    wait_file(os.path.join(run_dir(d, run), "started"))
    srv.stop()
    before = harness.vm_hwm_kib(d.proc.pid)
    open(os.path.join(run_dir(d, run), "go"), "w").close()
    out = os.path.join(d.data_dir, "logs", run, "1.stdout")
    want = b"".join(b"%08d" % i * 131072 for i in range(BACKLOG_MIB))
    harness.wait_until(lambda: os.path.exists(out) and
                       os.path.getsize(out) == len(want), 60,
                       what="the job's output on disk")
    w = nats_back(srv, d, lambda: harness.BusWatch(d, ws))
    try:
        got = w.log_bytes(run, 1, pb.STDOUT, timeout=120)
    finally:
        w.close()
    assert len(got) == len(want) and got == want
    assert harness.wait_run(d, ws, run).status == pb.SUCCEEDED
    grew = (harness.vm_hwm_kib(d.proc.pid) - before) // 1024
    assert grew < BACKLOG_MIB // 2, (
        "batchd's peak RSS grew by %d MiB publishing a %d MiB backlog"
        % (grew, BACKLOG_MIB))


BIG = r"""
import sys
for i in range(4000):
    sys.stdout.write("line %05d %s\n" % (i, "x" * 40))
"""


def test_chunks_fit_a_small_max_payload(run_daemon_factory, tmp_path, ws):
    """A server whose max_payload is below log_chunk_bytes: batchd sizes
    its chunks and run.logs replies by the server's INFO, so every byte
    still reaches the bus and run.logs (a publication the server refuses
    would be lost to subscribers)."""
    import sec_nats
    conf = tmp_path / "small.conf"
    conf.write_text("max_payload: 8192\n")
    srv = sec_nats.ConfNatsServer(str(tmp_path / "nats"), str(conf))
    srv.start()
    try:
        d = run_daemon_factory(env={"BATCHD_NATS_URL": srv.url})
        d.nats_url = srv.url
        d.nats_port = srv.port
        d.start()
        w = harness.BusWatch(d, ws)
        try:
            jd = harness.make_jobdef(d, ws, "big", BIG)
            c = harness.make_cluster(d, ws, "c")
            run = harness.submit_ok(d, ws, jd.uuid, c.uuid).uuid
            r = harness.wait_run(d, ws, run)
            assert r.status == pb.SUCCEEDED, harness.run_str(r)
            want = "".join("line %05d %s\n" % (i, "x" * 40)
                           for i in range(4000)).encode()
            assert w.log_bytes(run, 1, pb.STDOUT) == want
            out, _ = harness.read_logs(d, ws, run, attempt=1)
            assert out == want
            assert "nats publish" not in d.log_text()
        finally:
            w.close()
        # Stopped before its server: batchd draining to a server gone
        # waits out its drain timeout (10 s).
        d.stop()
    finally:
        srv.stop()
