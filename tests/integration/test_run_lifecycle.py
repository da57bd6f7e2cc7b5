"""Job runs: statuses and their events, retries, timeouts, cancel, and
run.events, against proto/batchd/v1/batchd.proto and the README."""

import time

import pytest

from batchd.v1 import batchd_pb2 as pb
from harness import (UUID_RE, assert_error, assert_ok, get_cluster, get_run,
                     make_cluster, make_jobdef, read_logs, run_events,
                     submit_ok, submit_run, wait_output, wait_run,
                     wait_status, wait_until)

pytestmark = pytest.mark.usefixtures("nats_server")

OK = "print('hello')\n"

FAIL = """\
import sys
print('about to fail')
print('bad thing', file=sys.stderr)
sys.exit(3)
"""

# Sleeps argv[1] seconds (30 by default).
SLEEP = """\
import sys, time
print('sleeping', flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 30)
"""

# Fails until attempt OK_AT (default 2), then succeeds.
FLAKY = """\
import os, sys
a = os.environ['BATCHD_ATTEMPT']
print('attempt', a)
sys.exit(0 if a == os.environ.get('OK_AT', '2') else 1)
"""

# Hangs on attempt 1, succeeds on the next.
HANG_ONCE = """\
import os, time
if os.environ['BATCHD_ATTEMPT'] == '1':
    time.sleep(30)
print('done')
"""

TERM_PROOF = """\
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print('ready', flush=True)
time.sleep(30)
"""

SELF_KILL = """\
import os, signal
os.kill(os.getpid(), signal.SIGKILL)
"""

S = pb.JobRunStatus.Name
R = pb.StatusReason.Name


def shape(evs):
    """(status, reason, attempt) of each event, for readable asserts."""
    return [(S(e.status), R(e.reason), e.attempt) for e in evs]


def check_event_stream(watch, run, evs):
    """What every status event must carry, compared with the run, and the
    same history from run.events."""
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    prev = pb.JOB_RUN_STATUS_UNSPECIFIED
    at = 0
    for e in evs:
        assert e.run_uuid == run.uuid
        assert e.job_definition_uuid == run.job_definition_uuid
        assert e.cluster_uuid == run.cluster_uuid
        assert e.workspace == run.workspace
        assert e.previous_status == prev, shape(evs)
        if e.reason != pb.STATUS_REASON_UNSPECIFIED:
            assert e.reason_text, "event %d has no reason_text" % e.seq
        assert e.at_ms >= at
        prev, at = e.status, e.at_ms
    assert watch.subjects[run.uuid] == {
        "batchd.v1.%s.status.%s.%s" % (run.workspace, run.cluster_uuid,
                                       run.uuid)}
    assert run_events(watch.d, run.workspace, run.uuid) == evs
    assert run.event_seq == len(evs)


@pytest.fixture
def cl(run_daemon, ws):
    return make_cluster(run_daemon, ws, "c1")


# ---------------------------------------------------------------- success

def test_success(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    jd = make_jobdef(d, ws, "ok", code=OK)
    w = bus_watch(d, ws)
    before = int(time.time() * 1000)
    r0 = submit_ok(d, ws, jd.uuid, cl.uuid)

    assert UUID_RE.match(r0.uuid)
    assert r0.job_definition_uuid == jd.uuid
    assert r0.cluster_uuid == cl.uuid
    assert r0.workspace == ws
    assert r0.type == pb.PYTHON
    assert r0.status == pb.PENDING
    assert r0.reason == pb.RECENTLY_SUBMITTED
    assert r0.reason_text == "Recently submitted"
    assert r0.attempt == 0 and not r0.attempts
    assert not r0.HasField("exit_code")
    assert not r0.HasField("args")
    assert r0.ephemeral_cluster is False
    assert r0.workers == 1 and r0.version == "3"
    assert r0.config == jd.config
    assert before - 1000 <= r0.submitted_at_ms <= time.time() * 1000 + 1000

    evs = w.events_terminal(r0.uuid)
    assert shape(evs) == [("PENDING", "RECENTLY_SUBMITTED", 0),
                          ("RUNNING", "RUNNING_ATTEMPT", 1),
                          ("SUCCEEDED", R(evs[2].reason), 1)]
    assert evs[0].reason_text == "Recently submitted"
    assert evs[1].reason_text == "Running"
    assert not evs[1].HasField("exit_code")
    assert evs[2].HasField("exit_code") and evs[2].exit_code == 0
    assert evs[2].HasField("usage") and evs[2].usage.wall_ms > 0

    r = wait_run(d, ws, r0.uuid)
    assert r.status == pb.SUCCEEDED
    assert r.attempt == 1
    assert r.HasField("exit_code") and r.exit_code == 0
    assert r.submitted_at_ms <= r.started_at_ms <= r.finished_at_ms
    assert r.queue_position == 0
    assert len(r.attempts) == 1
    a = r.attempts[0]
    assert a.attempt == 1 and a.status == pb.SUCCEEDED
    assert a.HasField("exit_code") and a.exit_code == 0 and a.signal == 0
    assert a.started_at_ms == r.started_at_ms
    assert a.started_at_ms <= a.finished_at_ms
    assert a.usage.wall_ms > 0 and a.usage.max_rss_kb > 0
    assert a.usage.user_cpu_us + a.usage.system_cpu_us > 0
    assert r.usage == a.usage
    assert evs[2].usage == a.usage
    check_event_stream(w, r, evs)
    out, _ = read_logs(d, ws, r.uuid)
    assert out == b"hello\n"

    c = assert_ok(get_cluster(d, ws, cl.uuid)).cluster
    assert c.active_run_uuid == "" and c.queued == 0
    w.drain_status(0.3)
    assert len(w.ordered(r.uuid)) == 3, "events after the terminal one"


def test_non_zero_exit(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    jd = make_jobdef(d, ws, "fail", code=FAIL)
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    evs = w.events_terminal(run.uuid)
    assert shape(evs) == [("PENDING", "RECENTLY_SUBMITTED", 0),
                          ("RUNNING", "RUNNING_ATTEMPT", 1),
                          ("FAILED", "NON_ZERO_EXIT_CODE", 1)]
    assert evs[2].exit_code == 3 and evs[2].HasField("exit_code")
    assert evs[2].reason_text == "NonZeroExitCode"
    r = get_run(d, ws, run.uuid)
    assert (r.status, r.reason, r.exit_code) == (pb.FAILED,
                                                 pb.NON_ZERO_EXIT_CODE, 3)
    assert r.reason_text == "NonZeroExitCode"
    assert len(r.attempts) == 1
    a = r.attempts[0]
    assert (a.status, a.reason, a.exit_code, a.signal) == (
        pb.FAILED, pb.NON_ZERO_EXIT_CODE, 3, 0)
    assert a.usage.wall_ms > 0 and a.usage.max_rss_kb > 0
    check_event_stream(w, r, evs)
    assert read_logs(d, ws, r.uuid)[0] == b"about to fail\n"
    assert read_logs(d, ws, r.uuid, pb.STDERR)[0] == b"bad thing\n"


def test_killed_by_signal(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    jd = make_jobdef(d, ws, "selfkill", code=SELF_KILL)
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    evs = w.events_terminal(run.uuid)
    assert shape(evs)[-1] == ("FAILED", "KILLED_BY_SIGNAL", 1)
    r = get_run(d, ws, run.uuid)
    assert r.reason == pb.KILLED_BY_SIGNAL
    assert r.reason_text.startswith("KilledBySignal")
    assert not r.HasField("exit_code")
    assert not r.attempts[0].HasField("exit_code")
    assert r.attempts[0].signal == 9
    check_event_stream(w, r, evs)


# ---------------------------------------------------------------- timeouts

def test_timeout_not_retried_without_auto_retry(run_daemon, ws, cl,
                                                bus_watch):
    d = run_daemon
    jd = make_jobdef(d, ws, "slow", code=SLEEP, timeout_seconds=1,
                     num_retries=2, retry_delay_seconds=0)
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    evs = w.events_terminal(run.uuid)
    assert shape(evs) == [("PENDING", "RECENTLY_SUBMITTED", 0),
                          ("RUNNING", "RUNNING_ATTEMPT", 1),
                          ("FAILED", "TIMEOUT", 1)]
    assert evs[2].reason_text == "Timeout"
    r = get_run(d, ws, run.uuid)
    assert (r.status, r.reason, r.attempt) == (pb.FAILED, pb.TIMEOUT, 1)
    assert len(r.attempts) == 1
    assert r.attempts[0].reason == pb.TIMEOUT
    assert r.attempts[0].signal == 15        # SIGTERM was enough
    assert r.attempts[0].usage.wall_ms >= 900
    check_event_stream(w, r, evs)
    assert read_logs(d, ws, r.uuid)[0] == b"sleeping\n"


def test_timeout_sigkill_after_grace(run_daemon, ws, cl):
    d = run_daemon
    jd = make_jobdef(d, ws, "stubborn", code=TERM_PROOF, timeout_seconds=1)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    r = wait_run(d, ws, run.uuid)
    assert (r.status, r.reason) == (pb.FAILED, pb.TIMEOUT), r
    assert r.attempts[0].signal == 9
    assert not r.attempts[0].HasField("exit_code")


def test_timeout_auto_retry(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    jd = make_jobdef(d, ws, "hang1", code=HANG_ONCE, timeout_seconds=1,
                     num_retries=1, retry_delay_seconds=0,
                     auto_retry_on_timeout=True)
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    evs = w.events_terminal(run.uuid)
    assert shape(evs) == [("PENDING", "RECENTLY_SUBMITTED", 0),
                          ("RUNNING", "RUNNING_ATTEMPT", 1),
                          ("PENDING", "RETRY_PENDING", 1),
                          ("RUNNING", "RUNNING_ATTEMPT", 2),
                          ("SUCCEEDED", R(evs[4].reason), 2)]
    r = get_run(d, ws, run.uuid)
    assert [(a.attempt, a.status, a.reason) for a in r.attempts] == [
        (1, pb.FAILED, pb.TIMEOUT), (2, pb.SUCCEEDED, r.attempts[1].reason)]
    check_event_stream(w, r, evs)


# ---------------------------------------------------------------- retries

def test_retry_then_success(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    jd = make_jobdef(d, ws, "flaky", code=FLAKY, num_retries=2,
                     retry_delay_seconds=0)
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    evs = w.events_terminal(run.uuid)
    assert shape(evs) == [("PENDING", "RECENTLY_SUBMITTED", 0),
                          ("RUNNING", "RUNNING_ATTEMPT", 1),
                          ("PENDING", "RETRY_PENDING", 1),
                          ("RUNNING", "RUNNING_ATTEMPT", 2),
                          ("SUCCEEDED", R(evs[4].reason), 2)]
    assert "Waiting to retry" in evs[2].reason_text
    assert evs[2].HasField("exit_code") and evs[2].exit_code == 1
    assert evs[2].usage.wall_ms > 0
    assert evs[4].exit_code == 0
    r = get_run(d, ws, run.uuid)
    assert (r.status, r.attempt, r.exit_code) == (pb.SUCCEEDED, 2, 0)
    assert [(a.attempt, a.status, a.reason, a.exit_code)
            for a in r.attempts] == [
        (1, pb.FAILED, pb.NON_ZERO_EXIT_CODE, 1),
        (2, pb.SUCCEEDED, r.attempts[1].reason, 0)]
    assert r.started_at_ms == r.attempts[0].started_at_ms
    assert r.attempts[0].finished_at_ms <= r.attempts[1].started_at_ms
    assert r.usage == r.attempts[1].usage
    check_event_stream(w, r, evs)

    # Each attempt has its own logs, over the bus and from run.logs.
    for n in (1, 2):
        want = b"attempt %d\n" % n
        assert w.log_bytes(r.uuid, n, pb.STDOUT) == want
        assert w.log_bytes(r.uuid, n, pb.STDERR) == b""
        assert read_logs(d, ws, r.uuid, attempt=n)[0] == want
    assert read_logs(d, ws, r.uuid)[0] == b"attempt 2\n"   # latest
    assert_error(d.call("run.logs", pb.GetJobRunLogsRequest(
        uuid=r.uuid, attempt=3), pb.JobRunLogsReply, ws=ws),
        pb.INVALID_ARGUMENT, "attempt")


def test_retries_exhausted(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    jd = make_jobdef(d, ws, "never", code=FLAKY, num_retries=2,
                     retry_delay_seconds=0, env={"OK_AT": "never"})
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    evs = w.events_terminal(run.uuid)
    assert shape(evs) == [("PENDING", "RECENTLY_SUBMITTED", 0),
                          ("RUNNING", "RUNNING_ATTEMPT", 1),
                          ("PENDING", "RETRY_PENDING", 1),
                          ("RUNNING", "RUNNING_ATTEMPT", 2),
                          ("PENDING", "RETRY_PENDING", 2),
                          ("RUNNING", "RUNNING_ATTEMPT", 3),
                          ("FAILED", "NON_ZERO_EXIT_CODE", 3)]
    r = get_run(d, ws, run.uuid)
    assert (r.status, r.reason, r.attempt, r.exit_code) == (
        pb.FAILED, pb.NON_ZERO_EXIT_CODE, 3, 1)
    assert [a.attempt for a in r.attempts] == [1, 2, 3]
    assert all(a.status == pb.FAILED and a.exit_code == 1
               for a in r.attempts)
    check_event_stream(w, r, evs)


def test_retry_delay_holds_the_cluster(run_daemon, ws, cl):
    """Between attempts the run is PENDING (RETRY_PENDING) with retry_at_ms
    set, keeps its cluster, and the next queued run waits."""
    d = run_daemon
    jd = make_jobdef(d, ws, "flaky", code=FLAKY, num_retries=1,
                     retry_delay_seconds=1)
    other = make_jobdef(d, ws, "ok", code=OK)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    mid = wait_run(d, ws, run.uuid, lambda r: r.reason == pb.RETRY_PENDING,
                   what="RETRY_PENDING")
    nxt = submit_ok(d, ws, other.uuid, cl.uuid)
    assert nxt.status == pb.PENDING and nxt.reason == pb.IN_QUEUE
    assert mid.status == pb.PENDING and mid.retry_at_ms > 0
    assert mid.attempts[0].finished_at_ms > 0
    c = assert_ok(get_cluster(d, ws, cl.uuid)).cluster
    assert c.active_run_uuid == run.uuid and c.queued == 1
    r = wait_run(d, ws, run.uuid)
    assert r.status == pb.SUCCEEDED and r.attempt == 2
    # The delay is a lower bound.
    assert r.attempts[1].started_at_ms - r.attempts[0].finished_at_ms >= 900
    n = wait_run(d, ws, nxt.uuid)
    assert n.status == pb.SUCCEEDED
    assert n.started_at_ms >= r.finished_at_ms


# ---------------------------------------------------------------- cancel

def test_cancel_running(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    slow = make_jobdef(d, ws, "slow", code=SLEEP)
    ok = make_jobdef(d, ws, "ok", code=OK)
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, slow.uuid, cl.uuid)
    wait_output(d, ws, run.uuid, b"sleeping\n")      # the job itself runs
    rep = d.call("run.cancel", pb.CancelJobRunRequest(uuid=run.uuid),
                 pb.JobRunReply, ws=ws)
    assert_ok(rep)
    assert rep.job_run.status == pb.CANCELLED
    assert rep.job_run.reason == pb.CANCELLED_BY_USER
    assert rep.job_run.reason_text == "Cancelled by user"
    evs = w.events_terminal(run.uuid)
    assert shape(evs) == [("PENDING", "RECENTLY_SUBMITTED", 0),
                          ("RUNNING", "RUNNING_ATTEMPT", 1),
                          ("CANCELLED", "CANCELLED_BY_USER", 1)]
    # The process goes, the attempt is recorded, the cluster is freed.
    r = wait_run(d, ws, run.uuid,
                 lambda r: r.attempts and r.attempts[0].finished_at_ms,
                 what="the attempt's end")
    assert r.status == pb.CANCELLED and r.reason == pb.CANCELLED_BY_USER
    assert r.attempts[0].status == pb.CANCELLED
    assert r.attempts[0].signal == 15
    wait_until(lambda: get_cluster(d, ws, cl.uuid).cluster.active_run_uuid
               == "", 10, what="cluster freed")
    nxt = submit_ok(d, ws, ok.uuid, cl.uuid)
    assert wait_run(d, ws, nxt.uuid).status == pb.SUCCEEDED

    # Cancelling again: the run is finished.
    assert_error(d.call("run.cancel", pb.CancelJobRunRequest(uuid=run.uuid),
                        pb.JobRunReply, ws=ws), pb.FAILED_PRECONDITION,
                 "uuid")
    w.drain_status(0.3)
    r = get_run(d, ws, run.uuid)
    assert r.status == pb.CANCELLED
    check_event_stream(w, r, w.ordered(run.uuid))


def test_cancel_queued_never_runs(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    slow = make_jobdef(d, ws, "slow", code=SLEEP)
    ok = make_jobdef(d, ws, "ok", code=OK)
    w = bus_watch(d, ws)
    blocker = submit_ok(d, ws, slow.uuid, cl.uuid)
    wait_status(d, ws, blocker.uuid, pb.RUNNING)
    q1 = submit_ok(d, ws, ok.uuid, cl.uuid)
    q2 = submit_ok(d, ws, ok.uuid, cl.uuid)
    assert (q1.reason, q1.queue_position) == (pb.IN_QUEUE, 1)
    assert (q2.reason, q2.queue_position) == (pb.IN_QUEUE, 2)
    assert q1.reason_text == "In queue"

    rep = d.call("run.cancel", pb.CancelJobRunRequest(uuid=q1.uuid),
                 pb.JobRunReply, ws=ws)
    assert_ok(rep)
    assert rep.job_run.status == pb.CANCELLED
    assert rep.job_run.queue_position == 0
    assert get_run(d, ws, q2.uuid).queue_position == 1
    c = get_cluster(d, ws, cl.uuid).cluster
    assert c.queued == 1 and c.active_run_uuid == blocker.uuid

    # Free the cluster: q2 runs, q1 never does.
    assert_ok(d.call("run.cancel", pb.CancelJobRunRequest(uuid=blocker.uuid),
                     pb.JobRunReply, ws=ws))
    assert wait_run(d, ws, q2.uuid).status == pb.SUCCEEDED
    r1 = get_run(d, ws, q1.uuid)
    assert r1.status == pb.CANCELLED and r1.attempt == 0
    assert not r1.attempts and r1.started_at_ms == 0
    evs = w.events_terminal(q1.uuid)
    assert shape(evs) == [("PENDING", "IN_QUEUE", 0),
                          ("CANCELLED", "CANCELLED_BY_USER", 0)]
    w.drain_status(0.3)
    check_event_stream(w, r1, w.ordered(q1.uuid))
    c = get_cluster(d, ws, cl.uuid).cluster
    assert c.queued == 0 and c.active_run_uuid == ""


def test_cancel_finished_and_unknown(run_daemon, ws, cl):
    d = run_daemon
    jd = make_jobdef(d, ws, "ok", code=OK)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    r = wait_run(d, ws, run.uuid)
    assert r.status == pb.SUCCEEDED
    assert_error(d.call("run.cancel", pb.CancelJobRunRequest(uuid=run.uuid),
                        pb.JobRunReply, ws=ws), pb.FAILED_PRECONDITION,
                 "uuid")
    assert get_run(d, ws, run.uuid) == r
    assert len(run_events(d, ws, run.uuid)) == 3
    # Another workspace does not see the run.
    assert_error(d.call("run.cancel", pb.CancelJobRunRequest(uuid=run.uuid),
                        pb.JobRunReply, ws=ws + "x"), pb.NOT_FOUND, "uuid")
    assert_error(d.call("run.get", pb.GetJobRunRequest(uuid=run.uuid),
                        pb.JobRunReply, ws=ws + "x"), pb.NOT_FOUND, "uuid")
    assert_error(d.call("run.events", pb.GetJobRunRequest(uuid=run.uuid),
                        pb.JobRunEventsReply, ws=ws + "x"), pb.NOT_FOUND,
                 "uuid")
    unknown = "00000000-0000-4000-8000-000000000000"
    for verb, cls in (("run.cancel", pb.JobRunReply),
                      ("run.get", pb.JobRunReply),
                      ("run.events", pb.JobRunEventsReply),
                      ("run.logs", pb.JobRunLogsReply)):
        req = (pb.GetJobRunLogsRequest(uuid=unknown) if verb == "run.logs"
               else pb.GetJobRunRequest(uuid=unknown))
        assert_error(d.call(verb, req, cls, ws=ws), pb.NOT_FOUND, "uuid")


def test_cancel_during_retry_delay(run_daemon, ws, cl, bus_watch):
    d = run_daemon
    jd = make_jobdef(d, ws, "never", code=FLAKY, num_retries=1,
                     retry_delay_seconds=60, env={"OK_AT": "never"})
    ok = make_jobdef(d, ws, "ok", code=OK)
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    wait_run(d, ws, run.uuid, lambda r: r.reason == pb.RETRY_PENDING,
             what="RETRY_PENDING")
    nxt = submit_ok(d, ws, ok.uuid, cl.uuid)
    rep = d.call("run.cancel", pb.CancelJobRunRequest(uuid=run.uuid),
                 pb.JobRunReply, ws=ws)
    assert_ok(rep)
    assert rep.job_run.status == pb.CANCELLED
    # The cluster it held is free at once: the queued run goes.
    assert wait_run(d, ws, nxt.uuid).status == pb.SUCCEEDED
    evs = w.events_terminal(run.uuid)
    assert shape(evs) == [("PENDING", "RECENTLY_SUBMITTED", 0),
                          ("RUNNING", "RUNNING_ATTEMPT", 1),
                          ("PENDING", "RETRY_PENDING", 1),
                          ("CANCELLED", "CANCELLED_BY_USER", 1)]
    r = get_run(d, ws, run.uuid)
    assert r.attempt == 1 and len(r.attempts) == 1
    check_event_stream(w, r, evs)


def test_cancel_all(run_daemon, ws):
    d = run_daemon
    slow = make_jobdef(d, ws, "slow", code=SLEEP)
    ok = make_jobdef(d, ws, "ok", code=OK)
    ca = make_cluster(d, ws, "a")
    cb = make_cluster(d, ws, "b")
    cc = make_cluster(d, ws, "c")
    done = submit_ok(d, ws, ok.uuid, cc.uuid)
    assert wait_run(d, ws, done.uuid).status == pb.SUCCEEDED
    a_run = submit_ok(d, ws, slow.uuid, ca.uuid)
    a_q1 = submit_ok(d, ws, ok.uuid, ca.uuid)
    a_q2 = submit_ok(d, ws, slow.uuid, ca.uuid)
    b_run = submit_ok(d, ws, slow.uuid, cb.uuid)
    b_q1 = submit_ok(d, ws, ok.uuid, cb.uuid)
    c_run = submit_ok(d, ws, slow.uuid, cc.uuid)
    for r in (a_run, b_run, c_run):
        wait_status(d, ws, r.uuid, pb.RUNNING)

    def cancel_all(**kw):
        rep = d.call("run.cancel_all", pb.CancelJobRunsRequest(**kw),
                     pb.CancelJobRunsReply, ws=ws)
        assert_ok(rep)
        assert rep.cancelled == len(rep.run_uuids)
        assert len(set(rep.run_uuids)) == len(rep.run_uuids)
        return set(rep.run_uuids)

    assert_error(d.call("run.cancel_all", pb.CancelJobRunsRequest(),
                        pb.CancelJobRunsReply, ws=ws), pb.INVALID_ARGUMENT,
                 "cluster_uuids")
    # Both filters: the runs of definition ok on cluster a or b.
    got = cancel_all(cluster_uuids=[ca.uuid, cb.uuid],
                     job_definition_uuid=ok.uuid)
    assert got == {a_q1.uuid, b_q1.uuid}
    # Cluster a: its running and its remaining queued run.
    assert cancel_all(cluster_uuids=[ca.uuid]) == {a_run.uuid, a_q2.uuid}
    assert cancel_all(cluster_uuids=[ca.uuid]) == set()
    # Definition slow: what is left of it, on b and c; not the finished run.
    assert cancel_all(job_definition_uuid=slow.uuid) == {b_run.uuid,
                                                         c_run.uuid}
    for r in (a_run, a_q1, a_q2, b_run, b_q1, c_run):
        got = get_run(d, ws, r.uuid)
        assert got.status == pb.CANCELLED, got
        assert got.reason == pb.CANCELLED_BY_USER
    for r in (a_q1, a_q2, b_q1):
        assert not get_run(d, ws, r.uuid).attempts
    assert get_run(d, ws, done.uuid).status == pb.SUCCEEDED
    for c in (ca, cb, cc):
        wait_until(lambda: (lambda x: x.queued == 0 and
                            x.active_run_uuid == "")(
                                get_cluster(d, ws, c.uuid).cluster),
                   10, what="cluster %s idle" % c.name)
    # Other workspaces are not touched by a name-less filter.
    other = ws + "o"
    oc = make_cluster(d, other, "a")
    oslow = make_jobdef(d, other, "slow", code=SLEEP)
    orun = submit_ok(d, other, oslow.uuid, oc.uuid)
    rep = d.call("run.cancel_all", pb.CancelJobRunsRequest(
        cluster_uuids=[oc.uuid]), pb.CancelJobRunsReply, ws=ws)
    assert_ok(rep)
    assert rep.cancelled == 0
    assert get_run(d, other, orun.uuid).status in (pb.PENDING, pb.RUNNING)


# ---------------------------------------------------------------- refusals

def test_submit_refusals_store_nothing(run_daemon, ws, cl):
    d = run_daemon
    jd = make_jobdef(d, ws, "ok", code=OK)          # no cluster_config
    unknown = "00000000-0000-4000-8000-000000000000"

    def refused(code, field, **kw):
        req = pb.SubmitJobRunRequest(**kw)
        assert_error(d.call("run.submit", req, pb.JobRunReply, ws=ws),
                     code, field)

    refused(pb.INVALID_ARGUMENT, "cluster_uuid", job_definition_uuid=jd.uuid)
    refused(pb.INVALID_ARGUMENT, "job_definition_uuid",
            cluster_uuid=cl.uuid)
    refused(pb.NOT_FOUND, "job_definition_uuid", job_definition_uuid=unknown,
            cluster_uuid=cl.uuid)
    refused(pb.NOT_FOUND, "cluster_uuid", job_definition_uuid=jd.uuid,
            cluster_uuid=unknown)
    refused(pb.INVALID_ARGUMENT, "args", job_definition_uuid=jd.uuid,
            cluster_uuid=cl.uuid, args="--name 'unbalanced")
    # A definition of another workspace is not found.
    other = make_jobdef(d, ws + "o", "ok", code=OK)
    refused(pb.NOT_FOUND, "job_definition_uuid",
            job_definition_uuid=other.uuid, cluster_uuid=cl.uuid)
    rep = d.call("run.list", pb.ListJobRunsRequest(), pb.ListJobRunsReply,
                 ws=ws)
    assert_ok(rep)
    assert list(rep.job_runs) == []
    c = get_cluster(d, ws, cl.uuid).cluster
    assert c.queued == 0 and c.active_run_uuid == ""
    assert assert_ok(d.call("cluster.list", pb.ListClustersRequest(),
                            pb.ListClustersReply, ws=ws)).clusters[0] == c
    assert len(d.call("cluster.list", pb.ListClustersRequest(),
                      pb.ListClustersReply, ws=ws).clusters) == 1
    # And the refused submits did not block a good one.
    run = submit_ok(d, ws, jd.uuid, cl.uuid)
    assert run.reason == pb.RECENTLY_SUBMITTED
    assert wait_run(d, ws, run.uuid).status == pb.SUCCEEDED


def test_submit_run_reply_is_run_get(run_daemon, ws, cl):
    """The submit reply and run.get describe the same run."""
    d = run_daemon
    slow = make_jobdef(d, ws, "slow", code=SLEEP)
    blocker = submit_ok(d, ws, slow.uuid, cl.uuid)
    wait_status(d, ws, blocker.uuid, pb.RUNNING)
    rep = submit_run(d, ws, slow.uuid, cl.uuid, args="5", env={"X": "1"})
    assert_ok(rep)
    assert get_run(d, ws, rep.job_run.uuid) == rep.job_run
