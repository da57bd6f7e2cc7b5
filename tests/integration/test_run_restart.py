"""Job runs across batchd restarts (kill -9 and SIGTERM): queued runs keep
their order; attempts outlive batchd (each under its batchd-shim, see the
proto's SUPERVISOR_LOST) so a run that was RUNNING goes on and ends with
its real result, also when it ended while batchd was away; retry delays,
cancels, timeouts and ephemeral clusters carry over."""

import os
import signal
import time

import pytest

from batchd.v1 import batchd_pb2 as pb
from harness import (assert_error, assert_ok, cluster_config, get_cluster,
                     get_run, make_cluster, make_jobdef, pid_alive,
                     read_logs, run_events, submit_ok, wait_run,
                     wait_until)
import harness

pytestmark = pytest.mark.usefixtures("nats_server")

# Prints its pid, marks itself started, runs until $GATE exists (at most
# 25 s), then prints more and exits $EXIT (default 0).
GATED = """\
import os, sys, time
print('pid', os.getpid(), flush=True)
open('started', 'w').close()
deadline = time.time() + 25
while not os.path.exists(os.environ['GATE']):
    if time.time() > deadline:
        sys.exit(99)
    time.sleep(0.02)
for i in range(300):
    print('line', i)
print('to stderr', file=sys.stderr)
sys.exit(int(os.environ.get('EXIT', '0')))
"""

TAGGED = """\
import os
with open(os.environ['ORDER'], 'a') as f:
    f.write(os.environ['TAG'] + '\\n')
"""


def expected_out(pid):
    """What GATED prints: its pid as it sees it, 2 in its sandbox (pid,
    its host pid, is not what it sees)."""
    return ("pid 2\n" +
            "".join("line %d\n" % i for i in range(300))).encode()


def attempt_dir(d, run, attempt=1):
    return os.path.join(d.data_dir, "runs", run, str(attempt))


def wait_started(d, run, attempt=1):
    """The job's own process is running; return its host pid. (It sees
    itself as pid 2 of its sandbox's PID namespace: it is the child of the
    sandbox's init, whose host pid DIR/job.pid names.)"""
    adir = attempt_dir(d, run, attempt)
    path = os.path.join(adir, "work", "started")
    wait_until(lambda: os.path.exists(path), 20,
               what="attempt %d of %s started" % (attempt, run))
    log = os.path.join(d.data_dir, "logs", run, "%d.stdout" % attempt)
    wait_until(lambda: os.path.exists(log) and
               open(log).read().startswith("pid "), 20, what="pid line")
    assert int(open(log).read().split()[1]) == 2
    with open(os.path.join(adir, "job.pid")) as f:
        init = int(f.read().split()[0])
    with open("/proc/%d/task/%d/children" % (init, init)) as f:
        return int(f.read().split()[0])


def shim_pid(d, run, attempt=1):
    return harness.shim_pid(attempt_dir(d, run, attempt))


def order_of(path):
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def statuses(evs):
    return [(e.status, e.attempt) for e in evs]


@pytest.fixture
def setup(run_daemon_factory, ws, tmp_path):
    """A started daemon, a cluster, a gated and a tagged definition."""
    class S:
        pass
    s = S()
    s.d = run_daemon_factory().start()
    # In the workspace: the only host directory its jobs see.
    os.makedirs(os.path.join(s.d.ws_root, ws), exist_ok=True)
    s.gate = os.path.join(s.d.ws_root, ws, "gate")
    s.order = os.path.join(s.d.ws_root, ws, "order")
    s.cl = make_cluster(s.d, ws, "c1")
    s.gated = make_jobdef(s.d, ws, "gated", code=GATED,
                          env={"GATE": s.gate})
    s.tagged = make_jobdef(s.d, ws, "tagged", code=TAGGED,
                           env={"ORDER": s.order})
    return s


def queue_behind_gated(s, ws, n):
    blocker = submit_ok(s.d, ws, s.gated.uuid, s.cl.uuid)
    pid = wait_started(s.d, blocker.uuid)
    queued = [submit_ok(s.d, ws, s.tagged.uuid, s.cl.uuid,
                        env={"TAG": "t%d" % i}) for i in range(n)]
    assert [q.queue_position for q in queued] == list(range(1, n + 1))
    return blocker, pid, queued


@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_running_and_queued_survive(setup, ws, bus_watch, how):
    s = setup
    d = s.d
    w = bus_watch(d, ws)
    blocker, pid, queued = queue_behind_gated(s, ws, 5)
    if how == "kill9":
        d.kill9()
    else:
        d.stop()
    assert pid_alive(pid), "the job died with batchd"
    d.start()
    # Nothing moved: the job still runs its first attempt, the queue waits.
    r = get_run(d, ws, blocker.uuid)
    assert (r.status, r.attempt) == (pb.RUNNING, 1), r
    for i, q in enumerate(queued):
        g = get_run(d, ws, q.uuid)
        assert (g.status, g.queue_position) == (pb.PENDING, i + 1)
    c = get_cluster(d, ws, s.cl.uuid).cluster
    assert c.active_run_uuid == blocker.uuid and c.queued == 5
    assert order_of(s.order) == []

    open(s.gate, "w").close()
    r = wait_run(d, ws, blocker.uuid)
    assert (r.status, r.attempt, r.exit_code) == (pb.SUCCEEDED, 1, 0), r
    assert len(r.attempts) == 1 and r.attempts[0].usage.wall_ms > 0
    for q in queued:
        assert wait_run(d, ws, q.uuid).status == pb.SUCCEEDED
    assert order_of(s.order) == ["t%d" % i for i in range(5)]

    # Every byte of the job's output, from run.logs and over the bus
    # (perhaps partly twice, the same bytes at the same offsets), and one
    # eof per stream, at its end: no eof while the job still ran.
    assert read_logs(d, ws, r.uuid)[0] == expected_out(pid)
    w.drain_logs(0.3)
    assert read_logs(d, ws, r.uuid, pb.STDERR)[0] == b"to stderr\n"
    assert w.log_bytes(r.uuid, 1, pb.STDOUT) == expected_out(pid)
    assert w.log_bytes(r.uuid, 1, pb.STDERR) == b"to stderr\n"
    # Every event, once each in seq order, the same as run.events.
    for run in [blocker] + queued:
        evs = w.events_terminal(run.uuid)
        assert run_events(d, ws, run.uuid) == evs
    assert statuses(run_events(d, ws, blocker.uuid)) == [
        (pb.PENDING, 0), (pb.RUNNING, 1), (pb.SUCCEEDED, 1)]
    assert statuses(run_events(d, ws, queued[0].uuid)) == [
        (pb.PENDING, 0), (pb.RUNNING, 1), (pb.SUCCEEDED, 1)]


# Writes CHATTY_BYTES in lines, then waits for $GATE, then one line more.
CHATTY_LINES = 200000
CHATTY_BYTES = CHATTY_LINES * len(b"0000000 chatty\n")
CHATTY = """\
import os, sys, time
sys.stdout.write(''.join('%%07d chatty\\n' %% i for i in range(%d)))
sys.stdout.flush()
while not os.path.exists(os.environ['GATE']):
    time.sleep(0.02)
print('tail')
""" % CHATTY_LINES


@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_reattached_logs_go_on_from_what_was_confirmed(setup, ws, bus_watch,
                                                       how):
    """A restart does not publish a running job's output again from its
    start: the offset a barrier confirmed is kept in storage, and the
    re-attached stream goes on from there. The subscriber still gets every
    byte, and one eof."""
    s = setup
    d = s.d
    jd = make_jobdef(d, ws, "chatty", code=CHATTY, env={"GATE": s.gate})
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, s.cl.uuid)
    key = (run.uuid, 1, pb.STDOUT)
    wait_until(lambda: (w.drain_logs(0.05) or True) and key in w.streams
               and len(w.streams[key].data) >= CHATTY_BYTES, 30,
               what="the first %d bytes on the bus" % CHATTY_BYTES)
    time.sleep(0.5)         # the barrier is back and its offset stored
    before = len(w.streams[key].offsets)
    if how == "kill9":
        d.kill9()
    else:
        d.stop()
    d.start()
    open(s.gate, "w").close()
    r = wait_run(d, ws, run.uuid)
    assert r.status == pb.SUCCEEDED, r
    want = read_logs(d, ws, run.uuid)[0]
    assert len(want) == CHATTY_BYTES + len(b"tail\n")
    assert w.log_bytes(run.uuid, 1, pb.STDOUT) == want
    after = w.streams[key].offsets[before:]
    assert after and min(after) >= CHATTY_BYTES, (
        "published again from offset %d after the restart" % min(after))


def test_job_ends_while_batchd_is_down(setup, ws, bus_watch):
    """A failure while batchd is away is seen on restart with its exit
    code, and the retry strategy runs the next attempt."""
    s = setup
    d = s.d
    jd = make_jobdef(d, ws, "gated-fail", code=GATED, num_retries=1,
                     retry_delay_seconds=0, env={"GATE": s.gate,
                                                 "EXIT": "7"})
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, s.cl.uuid)
    pid = wait_started(d, run.uuid)
    shim = shim_pid(d, run.uuid)
    d.kill9()
    open(s.gate, "w").close()
    wait_until(lambda: not pid_alive(shim), 20, what="shim done")
    os.unlink(s.gate)           # attempt 2 waits for the gate again
    d.start()
    wait_started(d, run.uuid, attempt=2)
    r = get_run(d, ws, run.uuid)
    assert r.attempts[0].status == pb.FAILED
    assert r.attempts[0].reason == pb.NON_ZERO_EXIT_CODE
    assert r.attempts[0].exit_code == 7
    open(s.gate, "w").close()
    r = wait_run(d, ws, run.uuid)
    assert (r.status, r.reason, r.attempt, r.exit_code) == (
        pb.FAILED, pb.NON_ZERO_EXIT_CODE, 2, 7)
    assert read_logs(d, ws, r.uuid, attempt=1)[0] == expected_out(pid)
    evs = w.events_terminal(run.uuid)
    assert [(e.status, e.reason, e.attempt) for e in evs] == [
        (pb.PENDING, pb.RECENTLY_SUBMITTED, 0),
        (pb.RUNNING, pb.RUNNING_ATTEMPT, 1),
        (pb.PENDING, pb.RETRY_PENDING, 1),
        (pb.RUNNING, pb.RUNNING_ATTEMPT, 2),
        (pb.FAILED, pb.NON_ZERO_EXIT_CODE, 2)]
    assert evs[2].exit_code == 7
    assert run_events(d, ws, run.uuid) == evs


def test_timeout_while_batchd_is_down(run_daemon_factory, ws):
    d = run_daemon_factory().start()
    cl = make_cluster(d, ws, "c1")
    jd = make_jobdef(d, ws, "slow", timeout_seconds=1, code="""\
import time
open('started', 'w').close()
time.sleep(30)
""")
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    wait_until(lambda: os.path.exists(os.path.join(
        attempt_dir(d, run.uuid), "work", "started")), 20, what="started")
    shim = shim_pid(d, run.uuid)
    d.kill9()
    wait_until(lambda: not pid_alive(shim), 20, what="shim done")
    d.start()
    r = wait_run(d, ws, run.uuid)
    assert (r.status, r.reason, r.attempt) == (pb.FAILED, pb.TIMEOUT, 1), r


def test_retry_delay_survives_kill9(run_daemon_factory, ws):
    d = run_daemon_factory().start()
    cl = make_cluster(d, ws, "c1")
    jd = make_jobdef(d, ws, "flaky", num_retries=1, retry_delay_seconds=2,
                     code="""\
import os, sys
sys.exit(0 if os.environ['BATCHD_ATTEMPT'] == '2' else 1)
""")
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    mid = wait_run(d, ws, run.uuid, lambda r: r.reason == pb.RETRY_PENDING,
                   what="RETRY_PENDING")
    assert mid.retry_at_ms > 0
    d.kill9()
    d.start()
    r = wait_run(d, ws, run.uuid)
    assert (r.status, r.attempt) == (pb.SUCCEEDED, 2), r
    assert r.attempts[1].started_at_ms >= mid.retry_at_ms - 50
    assert statuses(run_events(d, ws, run.uuid)) == [
        (pb.PENDING, 0), (pb.RUNNING, 1), (pb.PENDING, 1), (pb.RUNNING, 2),
        (pb.SUCCEEDED, 2)]


def test_cancelled_while_stopping_then_kill9(run_daemon_factory, ws):
    """A run cancelled whose job is still in its grace period when batchd
    dies stays CANCELLED; after the restart the job is stopped, the cluster
    freed and the queue goes on."""
    d = run_daemon_factory(env={"BATCHD_KILL_GRACE_S": "3"}).start()
    cl = make_cluster(d, ws, "c1")
    stubborn = make_jobdef(d, ws, "stubborn", code="""\
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print('pid', os.getpid(), flush=True)
open('started', 'w').close()
time.sleep(30)
""")
    ok = make_jobdef(d, ws, "ok", code="print('ok')\n")
    run = submit_ok(d, ws, stubborn.uuid, cl.uuid)
    pid = wait_started(d, run.uuid)
    nxt = submit_ok(d, ws, ok.uuid, cl.uuid)
    rep = d.call("run.cancel", pb.CancelJobRunRequest(uuid=run.uuid),
                 pb.JobRunReply, ws=ws)
    assert_ok(rep)
    assert rep.job_run.status == pb.CANCELLED
    d.kill9()
    d.start()
    assert wait_run(d, ws, nxt.uuid).status == pb.SUCCEEDED
    assert not pid_alive(pid)
    r = get_run(d, ws, run.uuid)
    assert (r.status, r.reason) == (pb.CANCELLED, pb.CANCELLED_BY_USER)
    assert r.attempts[0].finished_at_ms > 0
    assert statuses(run_events(d, ws, run.uuid)) == [
        (pb.PENDING, 0), (pb.RUNNING, 1), (pb.CANCELLED, 1)]


def test_ephemeral_cluster_survives_kill9(setup, ws):
    s = setup
    d = s.d
    jd = make_jobdef(d, ws, "eph", code=GATED, env={"GATE": s.gate},
                     cluster=cluster_config())
    run = submit_ok(d, ws, jd.uuid)
    wait_started(d, run.uuid)
    d.kill9()
    d.start()
    c = assert_ok(get_cluster(d, ws, run.cluster_uuid)).cluster
    assert c.ephemeral and c.active_run_uuid == run.uuid
    open(s.gate, "w").close()
    assert wait_run(d, ws, run.uuid).status == pb.SUCCEEDED
    assert_error(get_cluster(d, ws, run.cluster_uuid), pb.NOT_FOUND, "uuid")


def test_lost_supervisor(setup, ws):
    """The shim dies without a result (kill -9): the attempt fails with
    SUPERVISOR_LOST. Its job must not live on: the cluster runs one run at
    a time, and the next run starts at once."""
    s = setup
    d = s.d
    run = submit_ok(d, ws, s.gated.uuid, s.cl.uuid)
    pid = wait_started(d, run.uuid)
    nxt = submit_ok(d, ws, s.tagged.uuid, s.cl.uuid, env={"TAG": "next"})
    os.kill(shim_pid(d, run.uuid), signal.SIGKILL)
    r = wait_run(d, ws, run.uuid)
    assert (r.status, r.reason) == (pb.FAILED, pb.SUPERVISOR_LOST), r
    assert r.reason_text.startswith("SupervisorLost")
    assert wait_run(d, ws, nxt.uuid).status == pb.SUCCEEDED
    try:
        wait_until(lambda: not pid_alive(pid), 5,
                   what="the job of the lost shim to be gone")
    finally:
        if pid_alive(pid):      # ours to clean up: started by this test
            os.kill(pid, signal.SIGKILL)
