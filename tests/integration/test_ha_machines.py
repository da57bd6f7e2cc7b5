"""High availability across machines: a node whose processes live in a PID
namespace of their own, with its own /proc, sees no process of the other
nodes, as on another machine; the runs_dir, logs_dir and workspaces they
share behave as a shared file system whose locks work (flock across the
namespaces is the kernel's own). The other HA tests run every node in one
namespace, where a new leader finds a former leader's shims by their pids;
here it cannot, and a job that outlives its leader must still end in its
first attempt with all its output, published as it comes."""

import os
import signal
import time

import pytest

from harness import BusWatch, assert_ok, wait_until
from ha_harness import HaDaemon, HaNodes, NatsCluster
from natsclient import NatsTimeout
from test_ha import WS, Client, check_gap_free, cluster, get_run, pb, \
    submit, text_jobdef, wait_terminal

N = 24          # lines, one each half second
LINES = ("import sys, time\n"
         "for i in range(%d):\n"
         "    print('line', i, flush=True)\n"
         "    time.sleep(0.5)\n" % N)


class OtherMachine(HaDaemon):
    """An HaDaemon run as PID 1 of a PID namespace of its own (unshare
    --fork waits for it and exits with its status). It is signalled
    directly: unshare forwards no signal."""

    def __init__(self, *a, **kw):
        HaDaemon.__init__(self, *a, **kw)
        self.wrap = ["unshare", "--pid", "--fork", "--mount-proc"]

    def inner(self):
        """batchd's pid (as this namespace sees it), or None."""
        pid = self.proc.pid
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = f.read().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    def stop(self, timeout=30.0):
        if self.proc is not None and self.proc.poll() is None:
            pid = wait_until(self.inner, 10, what="batchd under unshare")
            os.kill(pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        return HaDaemon.stop(self, timeout)


@pytest.fixture
def cl(tmp_path):
    c = NatsCluster(tmp_path / "nats").start()
    yield c
    c.close()


def test_a_job_outlives_its_leader_and_ends_on_another_machine(cl,
                                                               tmp_path):
    nodes = HaNodes(tmp_path, cl, names=("a", "b"), lease_s=2, grace_s=60)
    b = nodes["b"]
    nodes.nodes["b"] = OtherMachine(b.tmpdir, cl, "b", nodes.runs_dir,
                                    lease_s=2, grace_s=60)
    nodes.nodes["b"].ws_root = b.ws_root
    nodes["a"].start()
    c = Client(cl)
    watch = None
    try:
        old = nodes.wait_leader()
        assert old.node == "a"
        nodes["b"].start()
        jd = text_jobdef(c, "lines", LINES)
        cu = cluster(c, "main").uuid
        watch = BusWatch(nodes["a"], WS)
        r = submit(c, jd.uuid, cu, "k1")
        wait_until(lambda: get_run(c, r.uuid).status == pb.RUNNING, 30,
                   what="the job to run")
        time.sleep(1.5)
        old.kill9()                     # its machine lives: the job goes on
        new = nodes.wait_leader(other_than="a")
        assert new.node == "b"
        # Its output goes on being published while it runs (by b, which
        # reads the files the shim on a's machine writes), not at its end.
        late = b"line %d\n" % (N - 4)

        def live():
            try:
                watch._take_log(0.2)
            except NatsTimeout:
                pass
            got = watch.streams.get((r.uuid, 1, pb.STDOUT))
            return got is not None and late in bytes(got.data)
        wait_until(live, 30, interval=0, what="line %d on the bus" % (N - 4))
        assert get_run(c, r.uuid).status == pb.RUNNING
        done = wait_terminal(c, r.uuid)
        assert done.status == pb.SUCCEEDED, done
        assert done.attempt == 1 and len(done.attempts) == 1
        want = b"".join(b"line %d\n" % i for i in range(N))
        logs = assert_ok(c.call("run.logs", pb.GetJobRunLogsRequest(
            uuid=r.uuid, attempt=1), pb.JobRunLogsReply))
        assert b"".join(ch.data for ch in logs.chunks) == want
        assert watch.log_bytes(r.uuid, 1, pb.STDOUT) == want
        check_gap_free(watch, c, [r.uuid])
        assert "re-attached" not in new.log_text()
        assert "its shim holds its lock on another machine" in new.log_text()
    finally:
        if watch is not None:
            watch.close()
        c.close()
        nodes.close()
