"""The slurm backend (plugins/backend_slurm.c): runs of clusters whose
instance type is a Slurm one, on a private single-node Slurm shared by this
module (slurm_harness.py), with the statuses, reasons, logs, cancels,
retries and restarts a local run has.

Slurm's rarer final states (TIMEOUT, NODE_FAIL, PREEMPTED, ...) are driven
through stand-in tools (slurm/fake_*), which need no Slurm."""

import os
import re
import signal
import time

import pytest

import harness
import slurm_harness
from ha_harness import HaNodes, NatsCluster
from batchd.v1 import batchd_pb2 as pb
from harness import (assert_ok, get_cluster, get_run, make_cluster,
                     make_jobdef, read_logs, submit_ok, wait_output,
                     wait_run, wait_status, wait_until)

pytestmark = pytest.mark.usefixtures("nats_server")

S = pb.JobRunStatus.Name
R = pb.StatusReason.Name
FAKE_DIR = os.path.join(slurm_harness.HERE, "slurm")

# One line per rank (ranks' output interleaves, but a short line written
# at once stays whole).
RANKS = """\
import os, resource, sys
rank = (os.environ.get('OMPI_COMM_WORLD_RANK') or os.environ.get('PMI_RANK')
        or os.environ.get('SLURM_PROCID'))
print('rank %s args %s greeting %r odd %s cwd %s pyenv %s job %s nofile %d'
      % (rank, sys.argv[1:], os.environ.get('GREETING'),
         os.environ.get('my.odd-name'), os.getcwd(),
         os.environ.get('PYENV_ROOT'), bool(os.environ.get('SLURM_JOB_ID')),
         resource.getrlimit(resource.RLIMIT_NOFILE)[0]), flush=True)
print('err of rank', rank, file=sys.stderr, flush=True)
"""

FAIL = """\
import sys
print('about to fail')
print('bad thing', file=sys.stderr)
sys.exit(3)
"""

# Prints "sleeping", then sleeps argv[1] seconds (30 by default).
SLEEP = """\
import sys, time
print('sleeping', flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 30)
"""

FLAKY = """\
import os, sys
a = os.environ['BATCHD_ATTEMPT']
print('attempt', a, 'slurm job', os.environ.get('SLURM_JOB_ID'))
sys.exit(0 if a == '2' else 1)
"""

# Ten lines over about 3 s.
TICKS = """\
import time
for i in range(10):
    print('tick', i, flush=True)
    time.sleep(0.3)
"""

# A line on each stream every 0.2 s, for about 6 s.
TICKS_BOTH = """\
import sys, time
for i in range(30):
    print('tick', i, flush=True)
    print('tock', i, file=sys.stderr, flush=True)
    time.sleep(0.2)
"""
TICKS_OUT = "".join("tick %d\n" % i for i in range(30))
TICKS_ERR = "".join("tock %d\n" % i for i in range(30))

# 4.8 MB on stdout and 48 KB on stderr as fast as they go, for about 5 s:
# the shim is killed with output in its pipes.
FLOOD = """\
import sys, time
print('tick 0\\ntick 1\\ntick 2', flush=True)
for i in range(400000):
    sys.stdout.write('line %06d\\n' % i)
    if i % 100 == 0:
        sys.stderr.write('err %06d\\n' % i)
    if i % 8000 == 0:
        sys.stdout.flush(); sys.stderr.flush(); time.sleep(0.1)
"""
FLOOD_OUT = "tick 0\ntick 1\ntick 2\n" + "".join(
    "line %06d\n" % i for i in range(400000))
FLOOD_ERR = "".join("err %06d\n" % i for i in range(0, 400000, 100))

# 2 MiB on stdout, 256 KiB on stderr: more than the pipes to the shim hold.
BIG = """\
import sys
line = ''.join(chr(48 + i % 43) for i in range(1023)) + '\\n'
for i in range(2048):
    sys.stdout.write(line)
sys.stderr.write(line * 256)
"""

MPI_ROOT = {"OMPI_ALLOW_RUN_AS_ROOT": "1",
            "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    why = slurm_harness.available()
    if why is not None:
        pytest.skip(why)
    s = slurm_harness.Slurm(tmp_path_factory.mktemp("slurm"))
    s.start()
    yield s
    s.stop()


def conf_text(slurm_conf, python_mpiexec=None):
    """batchd.conf: slurm-cpu on the real Slurm, slurm-fake on the
    stand-in tools."""
    text = ("plugins = workspace,python,sql,local,slurm\n"
            "kill_grace_s = 1\n"
            "job_limit_nofile = 512\n")
    if python_mpiexec is not None:
        text += "\n[plugin.python]\nmpiexec = %s\n" % python_mpiexec
    text += "\n[plugin.slurm]\n"
    if slurm_conf is not None:
        text += "conf = %s\n" % slurm_conf
    text += ("\n[instance.slurm-cpu]\nbackend = slurm\npartition = %s\n"
             % slurm_harness.PARTITION)
    return text


@pytest.fixture
def make_daemon(request, tmp_path, nats_server):
    """make(slurm=None, fake_dir=None, python_mpiexec=None) -> a started
    ConfDaemon. At teardown: shims stopped (a cancel each), batchd
    stopped and checked."""
    made = []
    request.node._batchd_daemons = made

    def make(slurm=None, fake_dir=None, python_mpiexec=None):
        text = conf_text(slurm.conf if slurm else None, python_mpiexec)
        if fake_dir is not None:
            text += ("\n[instance.slurm-fake]\nbackend = slurm\n"
                     "conf = %s\nsbatch = %s\nscontrol = %s\n"
                     "scancel = %s\n" % (
                         fake_dir, os.path.join(FAKE_DIR, "fake_sbatch"),
                         os.path.join(FAKE_DIR, "fake_scontrol"),
                         os.path.join(FAKE_DIR, "fake_scancel")))
        tmpdir = tmp_path / ("batchd%d" % len(made))
        os.makedirs(str(tmpdir))
        d = slurm_harness.ConfDaemon(
            str(tmpdir), nats_server.url, text,
            env={"BATCHD_PLUGINS": "workspace,python,sql,local,slurm"})
        made.append(d)
        return d.start()

    yield make
    errors = []
    for d in made:
        try:
            harness.stop_shims(d)
            d.close()
        except AssertionError as exc:
            errors.append(str(exc))
    if errors:
        pytest.fail("batchd teardown:\n" + "\n\n".join(errors),
                    pytrace=False)


def slurm_cluster(d, ws, name, workers=1):
    return make_cluster(d, ws, name, config=harness.cluster_config(
        workers=workers, instance_type="slurm-cpu"))


def slurm_id(d, run_uuid, attempt=1, runs_dir=None):
    """The Slurm job id of an attempt, once submitted."""
    path = os.path.join(runs_dir or os.path.join(d.data_dir, "runs"),
                        run_uuid, str(attempt), "slurm.jobid")

    def read():
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None
    return wait_until(read, 20, what="the Slurm job id of %s" % run_uuid)


def slurm_job(slurm, job_id):
    """scontrol's fields of a job, as a dict."""
    out = slurm.tool("scontrol", "-o", "show", "job", job_id).stdout
    return dict(f.split("=", 1) for f in out.split() if "=" in f)


def logs(d, ws, uuid, attempt=0):
    return (read_logs(d, ws, uuid, attempt=attempt)[0].decode(),
            read_logs(d, ws, uuid, stream=pb.STDERR,
                      attempt=attempt)[0].decode())


# ---------------------------------------------------------------- success

@pytest.mark.parametrize("launch", ["mpiexec", "srun"])
def test_two_ranks_succeed(slurm, make_daemon, ws, launch):
    # mpiexec: the python runner's argv starts with mpiexec -n 2, which
    # takes its ranks from Slurm's allocation; srun: the runner has no
    # launcher and the backend runs srun -n 2.
    d = make_daemon(slurm, python_mpiexec=None if launch == "mpiexec"
                    else "/nonexistent/mpiexec")
    cl = slurm_cluster(d, ws, "c2", workers=2)
    env = dict(MPI_ROOT, GREETING="it's $HOME `x` \"q\"\n2nd line")
    env["my.odd-name"] = "odd value"      # not a name sh can export
    jd = make_jobdef(d, ws, "ranks", code=RANKS, env=env,
                     args="one 'two words'")
    t0 = time.monotonic()
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    r = wait_run(d, ws, run.uuid, timeout=30)
    took = time.monotonic() - t0
    assert (S(r.status), r.attempt, r.exit_code) == ("SUCCEEDED", 1, 0), r
    out, err = logs(d, ws, run.uuid)
    work = os.path.join(d.data_dir, "runs", run.uuid, "1", "work")
    # Arguments and environment pass unchanged, and the environment is the
    # job's own (no login environment of root, as --export=NONE gives);
    # batchd's job limits hold.
    for rank in (0, 1):
        assert ("rank %d args ['one', 'two words'] greeting %r odd odd "
                "value cwd %s pyenv None job True nofile 512\n"
                % (rank, env["GREETING"], work)) in out, out
        assert "err of rank %d\n" % rank in err, err
    job = slurm_job(slurm, slurm_id(d, run.uuid))
    assert job["JobState"] == "COMPLETED" and job["NumTasks"] == "2", job
    assert job["Partition"] == slurm_harness.PARTITION
    assert job["JobName"] == "batchd-%s-1" % run.uuid
    # The script (it holds the environment) is gone once submitted.
    assert not os.path.exists(os.path.join(work, "..", "slurm", "job.sh"))
    assert took < 10, took


def test_fail_with_exit_code(slurm, make_daemon, ws):
    d = make_daemon(slurm)
    cl = slurm_cluster(d, ws, "c1")
    jd = make_jobdef(d, ws, "fail", code=FAIL)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    r = wait_run(d, ws, run.uuid, timeout=30)
    assert (S(r.status), R(r.reason), r.exit_code) == (
        "FAILED", "NON_ZERO_EXIT_CODE", 3), r
    assert r.attempts[0].exit_code == 3 and r.attempts[0].signal == 0
    assert logs(d, ws, run.uuid) == ("about to fail\n", "bad thing\n")
    job = slurm_job(slurm, slurm_id(d, run.uuid))
    assert (job["JobState"], job["ExitCode"]) == ("FAILED", "3:0"), job


def test_large_output_copied_whole(slurm, make_daemon, ws):
    d = make_daemon(slurm)
    cl = slurm_cluster(d, ws, "c1")
    jd = make_jobdef(d, ws, "big", code=BIG)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    r = wait_run(d, ws, run.uuid, timeout=30)
    assert (S(r.status), r.exit_code) == ("SUCCEEDED", 0), r
    line = "".join(chr(48 + i % 43) for i in range(1023)) + "\n"
    out, err = logs(d, ws, run.uuid)
    assert out == line * 2048
    assert err == line * 256


# ---------------------------------------------------------------- time

def test_timeout(slurm, make_daemon, ws):
    d = make_daemon(slurm)
    cl = slurm_cluster(d, ws, "c1")
    jd = make_jobdef(d, ws, "slow", code=SLEEP, timeout_seconds=2)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    job_id = slurm_id(d, run.uuid)
    # batchd's timeout is also the job's time limit, in whole minutes.
    assert slurm_job(slurm, job_id)["TimeLimit"] == "00:01:00"
    r = wait_run(d, ws, run.uuid, timeout=30)
    assert (S(r.status), R(r.reason)) == ("FAILED", "TIMEOUT"), r
    assert r.attempts[0].signal in (15, 9), r.attempts[0]
    assert logs(d, ws, run.uuid)[0] == "sleeping\n"
    # The Slurm job ended too.
    assert slurm_job(slurm, job_id)["JobState"] in ("CANCELLED", "FAILED")


# ---------------------------------------------------------------- cancel

def test_cancel_running_and_queued(slurm, make_daemon, ws):
    d = make_daemon(slurm)
    cl = slurm_cluster(d, ws, "c1")
    slow = make_jobdef(d, ws, "slow", code=SLEEP)
    running = submit_ok(d, ws, slow.uuid, cl.uuid)
    queued = submit_ok(d, ws, slow.uuid, cl.uuid)   # behind it in batchd
    assert R(queued.reason) == "IN_QUEUE"
    # Streamed while the job runs.
    wait_output(d, ws, running.uuid, b"sleeping\n")
    job_id = slurm_id(d, running.uuid)
    assert slurm_job(slurm, job_id)["JobState"] == "RUNNING"

    rep = d.call("run.cancel", pb.CancelJobRunRequest(uuid=queued.uuid),
                 pb.JobRunReply, ws=ws)
    assert_ok(rep)
    assert S(rep.job_run.status) == "CANCELLED"
    t0 = time.monotonic()
    assert_ok(d.call("run.cancel", pb.CancelJobRunRequest(uuid=running.uuid),
                     pb.JobRunReply, ws=ws))
    r = wait_run(d, ws, running.uuid,
                 lambda r: r.attempts and r.attempts[0].finished_at_ms,
                 timeout=30, what="the attempt's end")
    assert (S(r.status), R(r.reason)) == ("CANCELLED", "CANCELLED_BY_USER")
    assert r.attempts[0].signal in (15, 9), r.attempts[0]
    assert time.monotonic() - t0 < 10
    assert slurm_job(slurm, job_id)["JobState"] in ("CANCELLED", "FAILED")
    wait_until(lambda: get_cluster(d, ws, cl.uuid).cluster.active_run_uuid
               == "", 10, what="cluster freed")
    q = get_run(d, ws, queued.uuid)
    assert S(q.status) == "CANCELLED" and q.attempt == 0 and not q.attempts


def test_pending_in_slurm_then_cancelled(slurm, make_daemon, ws):
    # A 2-task job fills the node; a second cluster's job waits in Slurm
    # (batchd: RUNNING), says why on stderr, and is cancelled there.
    d = make_daemon(slurm)
    big = slurm_cluster(d, ws, "big", workers=2)
    small = slurm_cluster(d, ws, "small")
    slow = make_jobdef(d, ws, "slow", code=SLEEP, env=MPI_ROOT)
    blocker = submit_ok(d, ws, slow.uuid, big.uuid)
    wait_output(d, ws, blocker.uuid, b"sleeping\nsleeping\n")
    waiting = submit_ok(d, ws, slow.uuid, small.uuid)
    wait_status(d, ws, waiting.uuid, pb.RUNNING)
    job_id = slurm_id(d, waiting.uuid)
    wait_output(d, ws, waiting.uuid,
                b"slurm: job %s pending (Resources)\n" % job_id.encode(),
                stream=pb.STDERR)
    # ... and in its reason_text, while it waits there
    r = wait_run(d, ws, waiting.uuid,
                 lambda r: r.reason_text == "Pending in Slurm (Resources)",
                 timeout=10, what="the pending reason in reason_text")
    assert S(r.status) == "RUNNING", r
    assert slurm_job(slurm, job_id)["JobState"] == "PENDING"
    t0 = time.monotonic()
    assert_ok(d.call("run.cancel", pb.CancelJobRunRequest(uuid=waiting.uuid),
                     pb.JobRunReply, ws=ws))
    wait_run(d, ws, waiting.uuid,
             lambda r: r.attempts and r.attempts[0].finished_at_ms,
             timeout=10, what="the attempt's end")
    assert time.monotonic() - t0 < 3
    assert slurm_job(slurm, job_id)["JobState"] == "CANCELLED"
    assert_ok(d.call("run.cancel", pb.CancelJobRunRequest(uuid=blocker.uuid),
                     pb.JobRunReply, ws=ws))
    wait_run(d, ws, blocker.uuid,
             lambda r: r.attempts and r.attempts[0].finished_at_ms,
             timeout=30, what="the attempt's end")


# ---------------------------------------------------------------- retries

def test_retry(slurm, make_daemon, ws):
    d = make_daemon(slurm)
    cl = slurm_cluster(d, ws, "c1")
    jd = make_jobdef(d, ws, "flaky", code=FLAKY, num_retries=2,
                     retry_delay_seconds=0)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    r = wait_run(d, ws, run.uuid, timeout=30)
    assert (S(r.status), r.attempt) == ("SUCCEEDED", 2), r
    assert [(a.attempt, S(a.status), a.exit_code) for a in r.attempts] == [
        (1, "FAILED", 1), (2, "SUCCEEDED", 0)]
    ids = [slurm_id(d, run.uuid, a) for a in (1, 2)]
    assert ids[0] != ids[1]
    for a in (1, 2):
        out = read_logs(d, ws, run.uuid, attempt=a)[0].decode()
        assert out == "attempt %d slurm job %s\n" % (a, ids[a - 1]), out


# ---------------------------------------------------------------- restart

def test_batchd_killed_while_slurm_job_runs(slurm, make_daemon, ws):
    d = make_daemon(slurm)
    cl = slurm_cluster(d, ws, "c1")
    jd = make_jobdef(d, ws, "ticks", code=TICKS)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    wait_output(d, ws, run.uuid, b"tick 0\n")
    job_id = slurm_id(d, run.uuid)
    d.kill9()
    # The shim and the Slurm job carry on without batchd.
    time.sleep(1)
    assert slurm_job(slurm, job_id)["JobState"] in ("RUNNING", "COMPLETED")
    d.start()
    r = wait_run(d, ws, run.uuid, timeout=30)
    assert (S(r.status), r.attempt, len(r.attempts)) == ("SUCCEEDED", 1, 1), r
    assert logs(d, ws, run.uuid) == (
        "".join("tick %d\n" % i for i in range(10)), "")
    assert slurm_job(slurm, job_id)["JobState"] == "COMPLETED"


def kill_shim(runs_dir, run_uuid, attempt=1):
    """kill -9 the shim of an attempt (batchd-shim), as a lost machine
    would; the Slurm job goes on under slurmd."""
    adir = os.path.join(runs_dir, run_uuid, str(attempt))
    pid = harness.shim_pid(adir)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not harness.pid_alive(pid), 10, what="the shim's end")


def jobs_named(slurm, run_uuid, attempt=1):
    """The ids of the Slurm jobs of an attempt (by their name)."""
    out = slurm.tool("squeue", "-h", "-t", "all", "-n",
                     "batchd-%s-%d" % (run_uuid, attempt), "-o", "%i").stdout
    return out.split()


@pytest.mark.parametrize("code,out,err", [
    (TICKS_BOTH, TICKS_OUT, TICKS_ERR), (FLOOD, FLOOD_OUT, FLOOD_ERR)],
    ids=["ticks", "flood"])
def test_slurm_job_adopted_after_its_shim_was_killed(slurm, make_daemon,
                                                     ws, code, out, err):
    # batchd and the attempt's shim are killed (what a lost machine takes)
    # while the Slurm job runs; the next batchd adopts the job: it ends
    # SUCCEEDED in attempt 1, submitted once, every byte logged once.
    d = make_daemon(slurm)
    watch = harness.BusWatch(d, ws)
    try:
        cl = slurm_cluster(d, ws, "c1")
        jd = make_jobdef(d, ws, "ticks", code=code)
        run = submit_ok(d, ws, jd.uuid, cl.uuid)
        wait_output(d, ws, run.uuid, b"tick 0\ntick 1\ntick 2\n")
        job_id = slurm_id(d, run.uuid)
        d.kill9()
        kill_shim(os.path.join(d.data_dir, "runs"), run.uuid)
        time.sleep(1)       # the job writes on with no one copying
        assert slurm_job(slurm, job_id)["JobState"] == "RUNNING"
        d.start()
        r = wait_run(d, ws, run.uuid, timeout=30)
        assert (S(r.status), r.attempt, len(r.attempts)) == (
            "SUCCEEDED", 1, 1), r
        assert logs(d, ws, run.uuid) == (out, err)
        assert watch.log_bytes(run.uuid, 1, pb.STDOUT) == out.encode()
        assert watch.log_bytes(run.uuid, 1, pb.STDERR) == err.encode()
        assert jobs_named(slurm, run.uuid) == [job_id]
        assert slurm_job(slurm, job_id)["JobState"] == "COMPLETED"
        assert "adopted its job" in d.log_text()
    finally:
        watch.close()


def test_slurm_job_ended_while_unwatched_is_read_to_its_end(slurm,
                                                            make_daemon, ws):
    # The job ends in Slurm while neither batchd nor a shim watches it;
    # within MinJobAge, the adopter reads its end and the rest of its
    # output (here: an exit code).
    d = make_daemon(slurm)
    cl = slurm_cluster(d, ws, "c1")
    jd = make_jobdef(d, ws, "fail", code="import time\n"
                     "print('start', flush=True)\ntime.sleep(1)\n" + FAIL)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    wait_output(d, ws, run.uuid, b"start\n")
    job_id = slurm_id(d, run.uuid)
    d.kill9()
    kill_shim(os.path.join(d.data_dir, "runs"), run.uuid)
    wait_until(lambda: slurm_job(slurm, job_id)["JobState"] == "FAILED", 20,
               what="the Slurm job's end")
    d.start()
    r = wait_run(d, ws, run.uuid, timeout=30)
    assert (S(r.status), R(r.reason), r.exit_code, len(r.attempts)) == (
        "FAILED", "NON_ZERO_EXIT_CODE", 3, 1), r
    assert logs(d, ws, run.uuid) == ("start\nabout to fail\n",
                                     "bad thing\n")


def test_slurm_job_adopted_by_a_new_leader(slurm, tmp_path):
    # ha = on: the leader's machine is lost (its batchd and the attempt's
    # shim killed -9) while its Slurm job runs; after ha_grace_s the new
    # leader adopts the job, which ends SUCCEEDED in attempt 1.
    conf = tmp_path / "batchd.conf"
    conf.write_text(conf_text(slurm.conf))
    wrapper = tmp_path / "batchd-with-conf"
    wrapper.write_text("#!/bin/sh\nexec '%s' -c '%s' \"$@\"\n"
                       % (harness.BATCHD_BIN, conf))
    os.chmod(str(wrapper), 0o755)
    cl = NatsCluster(tmp_path / "nats").start()
    nodes = HaNodes(tmp_path, cl, names=("a", "b"), lease_s=2, grace_s=2,
                    binary=str(wrapper), env={
                        "BATCHD_PLUGINS": "workspace,python,sql,local,slurm"})
    ws = "slurmha"
    try:
        nodes.start()
        old = nodes.wait_leader()
        c = slurm_cluster(old, ws, "c1")
        jd = make_jobdef(old, ws, "ticks", code=TICKS_BOTH)
        run = submit_ok(old, ws, jd.uuid, c.uuid)
        wait_output(old, ws, run.uuid, b"tick 0\ntick 1\ntick 2\n")
        job_id = slurm_id(old, run.uuid, runs_dir=nodes.runs_dir)
        old.kill9()
        kill_shim(nodes.runs_dir, run.uuid)
        new = nodes.wait_leader(other_than=old.node)

        def ended():
            try:
                r = get_run(new, ws, run.uuid)
            except AssertionError:      # no answer yet: the switch
                return None
            return r if r.status in harness.RUN_TERMINAL else None
        r = wait_until(ended, 60, interval=0.2, what="the run's end")
        assert (S(r.status), r.attempt, len(r.attempts)) == (
            "SUCCEEDED", 1, 1), r
        assert logs(new, ws, run.uuid) == (TICKS_OUT, TICKS_ERR)
        assert jobs_named(slurm, run.uuid) == [job_id]
        assert "adopted its job" in new.log_text()
    finally:
        try:
            nodes.close()
        finally:
            cl.close()


def test_pending_job_adopted_keeps_its_lines_once(slurm, make_daemon, ws):
    # Our own line (the pending reason) sits between the job's bytes on
    # stderr: the adopter finds where the file goes on without repeating
    # or losing either.
    d = make_daemon(slurm)
    big = slurm_cluster(d, ws, "big", workers=2)
    small = slurm_cluster(d, ws, "small")
    slow = make_jobdef(d, ws, "slow", code=SLEEP, env=MPI_ROOT)
    ticks = make_jobdef(d, ws, "ticks", code=TICKS_BOTH)
    blocker = submit_ok(d, ws, slow.uuid, big.uuid)
    wait_output(d, ws, blocker.uuid, b"sleeping\nsleeping\n")
    waiting = submit_ok(d, ws, ticks.uuid, small.uuid)
    job_id = slurm_id(d, waiting.uuid)
    pending = "slurm: job %s pending (Resources)\n" % job_id
    wait_output(d, ws, waiting.uuid, pending.encode(), stream=pb.STDERR)
    d.kill9()
    runs = os.path.join(d.data_dir, "runs")
    kill_shim(runs, waiting.uuid)
    kill_shim(runs, blocker.uuid)       # the blocker is adopted too
    slurm.tool("scancel", slurm_id(d, blocker.uuid))
    wait_until(lambda: slurm_job(slurm, job_id)["JobState"] == "RUNNING",
               20, what="the waiting job to run")
    time.sleep(1)
    d.start()
    r = wait_run(d, ws, waiting.uuid, timeout=30)
    assert (S(r.status), r.attempt, len(r.attempts)) == ("SUCCEEDED", 1, 1)
    assert logs(d, ws, waiting.uuid) == (TICKS_OUT, pending + TICKS_ERR)
    assert r.reason_text != "Pending in Slurm (Resources)"
    b = wait_run(d, ws, blocker.uuid, timeout=30)
    assert len(b.attempts) == 1 and S(b.status) == "FAILED", b
    assert jobs_named(slurm, waiting.uuid) == [job_id]


# ---------------------------------------------------------------- states

# job args -> (status, reason, exit code or None, signal, stderr pattern)
FAKE_CASES = {
    "FAKE_COMPLETED": ("SUCCEEDED", None, 0, 0, r""),
    "FAKE_FAILED_7": ("FAILED", "NON_ZERO_EXIT_CODE", 7, 0, r""),
    "FAKE_TIMEOUT": ("FAILED", "TIMEOUT", None, 24,
                     r"slurm: job \d+ TIMEOUT: Slurm ended it at its time "
                     r"limit\n"),
    "FAKE_NODE_FAIL": ("FAILED", "KILLED_BY_SIGNAL", None, 9,
                       r"slurm: job \d+ NODE_FAIL\n"),
    "FAKE_PREEMPTED": ("FAILED", "KILLED_BY_SIGNAL", None, 9,
                       r"slurm: job \d+ PREEMPTED\n"),
    "FAKE_OUT_OF_MEMORY": ("FAILED", "KILLED_BY_SIGNAL", None, 9,
                           r"slurm: job \d+ OUT_OF_MEMORY\n"),
    "FAKE_CANCELLED": ("FAILED", "KILLED_BY_SIGNAL", None, 15,
                       r"slurm: job \d+ was CANCELLED outside batchd\n"),
    "FAKE_GONE": ("FAILED", "KILLED_BY_SIGNAL", None, 9,
                  r"slurm: job \d+ is no longer known to Slurm; its end "
                  r"was not seen\n"),
}


def test_slurm_states_map_onto_batchd(make_daemon, ws, tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    d = make_daemon(fake_dir=str(fake))
    jd = make_jobdef(d, ws, "any", code="print('never runs')\n")
    runs = {}
    for i, case in enumerate(FAKE_CASES):
        cl = make_cluster(d, ws, "f%d" % i, config=harness.cluster_config(
            instance_type="slurm-fake"))
        runs[case] = submit_ok(d, ws, jd.uuid, cl.uuid, args=case)
    for case, (st, why, code, sig, err_re) in FAKE_CASES.items():
        r = wait_run(d, ws, runs[case].uuid, timeout=20)
        a = r.attempts[0]
        got = (S(r.status), R(r.reason) if why else None,
               a.exit_code if a.HasField("exit_code") else None, a.signal)
        assert got == (st, why, code, sig), (case, r)
        job_id = slurm_id(d, r.uuid)
        out, err = logs(d, ws, r.uuid)
        assert out == "fake job %s\n" % job_id, (case, out)
        pending = "slurm: job %s pending (Priority)\n" % job_id
        assert err.startswith(pending), (case, err)
        assert re.fullmatch(err_re, err[len(pending):]), (case, err)
