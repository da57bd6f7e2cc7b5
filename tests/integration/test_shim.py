"""Runs outlive batchd: each attempt is owned by a batchd-shim, so killing
(or stopping) batchd does not kill the job; the next batchd re-attaches to
the shim, or reads the result it left, and the run ends in its first
attempt with all of its output. A shim that dies without a result fails the
attempt (SUPERVISOR_LOST) and the retry strategy decides."""

import os
import signal
import subprocess
import time

import harness
from harness import _pb, assert_ok

pb = _pb()

SCRIPT = r"""
import os, sys, time
print("attempt", os.environ["BATCHD_ATTEMPT"], flush=True)
open("started", "w").close()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
for i in range(500):
    print("line %d" % i)
"""


def expected(attempt=1):
    return ("attempt %d\n" % attempt +
            "".join("line %d\n" % i for i in range(500))).encode()


def submit_gated(d, ws, gate, retries=0):
    jobs = os.path.join(d.ws_root, ws, "jobs")
    os.makedirs(jobs, exist_ok=True)
    with open(os.path.join(jobs, "gated.py"), "w") as f:
        f.write(SCRIPT)
    r = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name="gated", config=pb.JobConfig(
            source=pb.JobSource(type=pb.WORKSPACE,
                                workspace=pb.WorkspaceSource(path="jobs")),
            type=pb.PYTHON, source_location="gated.py", args=gate,
            retry_strategy=pb.RetryStrategy(num_retries=retries,
                                            retry_delay_seconds=0))),
        pb.JobDefinitionReply, ws=ws)
    assert_ok(r)
    c = d.call("cluster.create", pb.CreateClusterRequest(
        name="c", config=pb.ClusterConfig(instance_type="local",
                                          workers_quantity=1, version="3")),
        pb.ClusterReply, ws=ws)
    assert_ok(c)
    s = d.call("run.submit", pb.SubmitJobRunRequest(
        job_definition_uuid=r.job_definition.uuid,
        cluster_uuid=c.cluster.uuid), pb.JobRunReply, ws=ws)
    assert_ok(s)
    return s.job_run.uuid


def started(d, run, attempt=1):
    path = os.path.join(d.data_dir, "runs", run, str(attempt), "work",
                        "started")
    harness.wait_until(lambda: os.path.exists(path), 20,
                       what="attempt %d started" % attempt)


def shim_pid(d, run, attempt=1):
    return harness.shim_pid(os.path.join(d.data_dir, "runs", run,
                                         str(attempt)))


def finish(d, ws, run):
    return harness.wait_run(d, ws, run)


def stdout_of(d, ws, run, attempt):
    return harness.read_logs(d, ws, run, pb.STDOUT, attempt)[0]


def history(d, ws, run):
    evs = harness.run_events(d, ws, run)
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    return [(e.status, e.attempt) for e in evs]


def test_kill9_reattaches_to_running_job(daemon_factory, ws, tmp_path):
    d = daemon_factory().start()
    gate = os.path.join(d.ws_root, ws, "gate")   # the job sees it
    run = submit_gated(d, ws, gate)
    started(d, run)
    d.kill9()
    d.start()                    # the job is still running: re-attach
    open(gate, "w").close()
    r = finish(d, ws, run)
    assert r.status == pb.SUCCEEDED and r.attempt == 1
    assert stdout_of(d, ws, run, 1) == expected()
    assert history(d, ws, run) == [(pb.PENDING, 0), (pb.RUNNING, 1),
                                   (pb.SUCCEEDED, 1)]


def test_job_finishes_while_batchd_is_down(daemon_factory, ws, tmp_path):
    d = daemon_factory().start()
    gate = os.path.join(d.ws_root, ws, "gate")   # the job sees it
    run = submit_gated(d, ws, gate)
    started(d, run)
    pid = shim_pid(d, run)
    d.kill9()
    open(gate, "w").close()
    harness.wait_until(lambda: not os.path.exists("/proc/%d" % pid), 20,
                       what="shim done")
    d.start()                    # the shim left its result in DIR/exit
    r = finish(d, ws, run)
    assert r.status == pb.SUCCEEDED and r.attempt == 1
    assert r.attempts[0].exit_code == 0
    assert stdout_of(d, ws, run, 1) == expected()


def test_graceful_stop_keeps_job(daemon_factory, ws, tmp_path):
    d = daemon_factory().start()
    gate = os.path.join(d.ws_root, ws, "gate")   # the job sees it
    run = submit_gated(d, ws, gate)
    started(d, run)
    pid = shim_pid(d, run)
    d.stop()                     # SIGTERM: exit 0, job untouched
    assert os.path.exists("/proc/%d" % pid)
    d.start()
    open(gate, "w").close()
    r = finish(d, ws, run)
    assert r.status == pb.SUCCEEDED and r.attempt == 1


def test_lost_shim_fails_attempt_and_retries(daemon_factory, ws, tmp_path):
    d = daemon_factory().start()
    gate = os.path.join(d.ws_root, ws, "gate")   # the job sees it
    run = submit_gated(d, ws, gate, retries=1)
    started(d, run)
    os.kill(shim_pid(d, run), signal.SIGKILL)
    started(d, run, attempt=2)
    open(gate, "w").close()
    r = finish(d, ws, run)
    assert r.status == pb.SUCCEEDED and r.attempt == 2
    assert r.attempts[0].reason == pb.SUPERVISOR_LOST
    assert history(d, ws, run) == [
        (pb.PENDING, 0), (pb.RUNNING, 1), (pb.PENDING, 1), (pb.RUNNING, 2),
        (pb.SUCCEEDED, 2)]


def test_cancel_while_batchd_down_is_finished_on_restart(daemon_factory,
                                                          ws, tmp_path):
    d = daemon_factory(env={"BATCHD_KILL_GRACE_S": "1"}).start()
    gate = os.path.join(d.ws_root, ws, "gate")   # the job sees it
    run = submit_gated(d, ws, gate)
    started(d, run)
    c = d.call("run.cancel", pb.CancelJobRunRequest(uuid=run),
               pb.JobRunReply, ws=ws)
    assert_ok(c)
    assert c.job_run.status == pb.CANCELLED
    r = finish(d, ws, run)
    assert r.status == pb.CANCELLED
    # The cluster is free again once the process is gone.
    harness.wait_until(lambda: d.call(
        "cluster.get", pb.GetClusterRequest(uuid=r.cluster_uuid),
        pb.ClusterReply, ws=ws).cluster.active_run_uuid == "", 20,
        what="cluster released")
    time.sleep(0.1)


def test_shim_without_a_description_refuses(tmp_path):
    """The shim takes the attempt's description on stdin (a memfd batchd
    writes). Started any other way, with nothing there, it says so and
    exits 111 without touching the attempt's directory."""
    shim = os.path.join(os.path.dirname(os.path.abspath(harness.BATCHD_BIN)),
                        "batchd-shim")
    adir = tmp_path / "attempt"
    adir.mkdir()
    p = subprocess.run([shim, str(adir)], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=10)
    assert p.returncode == 111, p
    assert b"job description (standard input)" in p.stderr, p.stderr
    assert list(adir.iterdir()) == []
