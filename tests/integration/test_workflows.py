"""Workflows: runs that wait for other runs (depends_on and its three
conditions), pipelines submitted in one atomic request (run.submit_batch),
rerun and repair of what failed (run.rerun), cascades of UPSTREAM_FAILED,
cancellation of waiting runs and of their upstreams, a full queue when a
run is released, and the time in queue counted from the release."""

import os
import time

import pytest

from batchd.v1 import batchd_pb2 as pb
from harness import (BusWatch, assert_error, assert_ok, get_cluster, get_run,
                     make_cluster, make_jobdef, submit_ok, wait_run,
                     wait_status)

pytestmark = pytest.mark.usefixtures("nats_server")

OK = "print('ok')\n"
FAIL = "import sys\nsys.exit(3)\n"
# Fails while the file $FLAG is missing: fixed by creating it.
FLAGGED = """\
import os, sys
sys.exit(0 if os.path.exists(os.environ['FLAG']) else 3)
"""
# Runs until the file $GATE exists (at most 25 s, then fails).
GATED = """\
import os, sys, time
deadline = time.time() + 25
while not os.path.exists(os.environ['GATE']):
    if time.time() > deadline:
        sys.exit(99)
    time.sleep(0.02)
"""

AFTER = {"succeeded": pb.AFTER_SUCCEEDED, "failed": pb.AFTER_FAILED,
         "ended": pb.AFTER_ENDED}


def dep(uuid=None, index=None, cond=pb.DEPENDENCY_CONDITION_UNSPECIFIED):
    d = pb.Dependency(condition=cond)
    if uuid is not None:
        d.run_uuid = uuid
    if index is not None:
        d.index = index
    return d


def submit(d, ws, def_uuid, cluster="", deps=(), **kw):
    req = pb.SubmitJobRunRequest(job_definition_uuid=def_uuid,
                                 cluster_uuid=cluster, **kw)
    req.depends_on.extend(deps)
    return d.call("run.submit", req, pb.JobRunReply, ws=ws)


def after(d, ws, def_uuid, cluster="", deps=(), **kw):
    rep = submit(d, ws, def_uuid, cluster, deps, **kw)
    assert_ok(rep)
    return rep.job_run


def batch(d, ws, items):
    return d.call("run.submit_batch", pb.SubmitJobRunsRequest(runs=items),
                  pb.SubmitJobRunsReply, ws=ws)


def rerun(d, ws, uuid, repair=False):
    return d.call("run.rerun", pb.RerunJobRunRequest(
        uuid=uuid, repair_downstream=repair), pb.SubmitJobRunsReply, ws=ws)


def cancel(d, ws, uuid):
    rep = d.call("run.cancel", pb.CancelJobRunRequest(uuid=uuid),
                 pb.JobRunReply, ws=ws)
    assert_ok(rep)
    return rep.job_run


def list_runs(d, ws, **kw):
    rep = d.call("run.list", pb.ListJobRunsRequest(page_size=1000, **kw),
                 pb.ListJobRunsReply, ws=ws)
    assert_ok(rep)
    return list(rep.job_runs)


def writable(d, ws, name):
    """A path in ws's workspace its jobs may create, whatever their uid."""
    path = os.path.join(d.ws_root, ws, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.chmod(os.path.dirname(path), 0o777)
    return path


def waiting(r):
    return r.status == pb.PENDING and r.reason == pb.WAITING_FOR_DEPENDENCIES


def ended_ok(d, ws, uuid):
    r = wait_run(d, ws, uuid, timeout=30)
    assert r.status == pb.SUCCEEDED, r
    return r


@pytest.fixture
def defs(daemon, ws):
    """Definitions of jobs that succeed, fail, wait for a gate, or fail
    until a flag exists; each with an ephemeral cluster by default."""
    cc = pb.ClusterConfig(instance_type="local", workers_quantity=1,
                          version="3")
    return {
        "ok": make_jobdef(daemon, ws, "ok", OK, cluster=cc).uuid,
        "fail": make_jobdef(daemon, ws, "fail", FAIL, cluster=cc).uuid,
        "gated": make_jobdef(daemon, ws, "gated", GATED, cluster=cc).uuid,
        "flagged": make_jobdef(daemon, ws, "flagged", FLAGGED,
                               cluster=cc).uuid,
    }


# ---------------------------------------------------------------- shapes

def test_chain_waits_outside_the_queue(daemon, ws, defs, tmp_path):
    gate = writable(daemon, ws, "gates/gate")
    cl = make_cluster(daemon, ws, "chain")
    a = after(daemon, ws, defs["gated"], cl.uuid, env={"GATE": gate})
    b = after(daemon, ws, defs["ok"], cl.uuid, [dep(a.uuid)])
    c = after(daemon, ws, defs["ok"], cl.uuid, [dep(b.uuid)])
    wait_status(daemon, ws, a.uuid, pb.RUNNING)
    for r in (b, c):
        r = get_run(daemon, ws, r.uuid)
        assert waiting(r), r
        assert r.reason_text == "Waiting for dependencies"
        assert r.queue_position == 0 and r.queue_seq == 0
    # Waiting runs are not in the queue: it is empty.
    cluster = get_cluster(daemon, ws, cl.uuid).cluster
    assert cluster.queued == 0
    got = get_run(daemon, ws, b.uuid)
    assert [x.run_uuid for x in got.depends_on] == [a.uuid]
    assert got.depends_on[0].condition == pb.AFTER_SUCCEEDED
    assert list(get_run(daemon, ws, a.uuid).dependents) == [b.uuid]
    assert list(got.dependents) == [c.uuid]
    open(gate, "w").close()
    ra, rb, rc = (ended_ok(daemon, ws, x.uuid) for x in (a, b, c))
    assert ra.finished_at_ms <= rb.started_at_ms
    assert rb.finished_at_ms <= rc.started_at_ms


def test_fan_out_and_fan_in(daemon, ws, defs):
    a = after(daemon, ws, defs["ok"])
    mid = [after(daemon, ws, defs["ok"], deps=[dep(a.uuid)])
           for _ in range(5)]
    z = after(daemon, ws, defs["ok"], deps=[dep(m.uuid) for m in mid])
    assert waiting(z) or z.status == pb.PENDING
    rz = ended_ok(daemon, ws, z.uuid)
    ra = get_run(daemon, ws, a.uuid)
    assert sorted(ra.dependents) == sorted(m.uuid for m in mid)
    for m in mid:
        rm = ended_ok(daemon, ws, m.uuid)
        assert ra.finished_at_ms <= rm.started_at_ms
        assert rm.finished_at_ms <= rz.started_at_ms
    assert rz.depends_met == (1 << 5) - 1


def test_diamond_in_one_batch(daemon, ws, defs):
    item = lambda *deps: pb.SubmitJobRunRequest(  # noqa: E731
        job_definition_uuid=defs["ok"], depends_on=list(deps))
    rep = batch(daemon, ws, [item(), item(dep(index=0)), item(dep(index=0)),
                             item(dep(index=1), dep(index=2))])
    assert_ok(rep)
    a, b, c, z = rep.job_runs
    assert [x.run_uuid for x in z.depends_on] == [b.uuid, c.uuid]
    assert [x.run_uuid for x in b.depends_on] == [a.uuid]
    for r in (b, c, z):
        assert waiting(r), r
    rz = ended_ok(daemon, ws, z.uuid)
    for r in (a, b, c):
        assert ended_ok(daemon, ws, r.uuid).finished_at_ms <= rz.started_at_ms


# ---------------------------------------------------------------- conditions

@pytest.mark.parametrize("cond,outcome,met", [
    ("succeeded", "ok", True), ("succeeded", "fail", False),
    ("succeeded", "cancel", False),
    ("failed", "fail", True), ("failed", "ok", False),
    ("failed", "cancel", False),
    ("ended", "ok", True), ("ended", "fail", True), ("ended", "cancel", True),
])
def test_condition_when_the_upstream_ends(daemon, ws, defs, tmp_path, cond,
                                          outcome, met):
    gate = writable(daemon, ws, "gates/gate")
    up = after(daemon, ws, defs["gated"] if outcome == "cancel" else
               defs[outcome], env={"GATE": gate})
    down = after(daemon, ws, defs["ok"], deps=[dep(up.uuid, cond=AFTER[cond])])
    if outcome == "cancel":
        wait_status(daemon, ws, up.uuid, pb.RUNNING)
        cancel(daemon, ws, up.uuid)
    ru = wait_run(daemon, ws, up.uuid)
    rd = wait_run(daemon, ws, down.uuid, timeout=30)
    if met:
        assert rd.status == pb.SUCCEEDED, rd
    else:
        assert rd.status == pb.CANCELLED and rd.reason == pb.UPSTREAM_FAILED
        assert up.uuid in rd.reason_text
        assert pb.JobRunStatus.Name(ru.status) in rd.reason_text
        assert rd.attempt == 0


@pytest.mark.parametrize("cond,outcome,met", [
    ("succeeded", "ok", True), ("succeeded", "fail", False),
    ("failed", "fail", True), ("failed", "ok", False),
    ("ended", "fail", True),
])
def test_condition_of_an_upstream_already_ended(daemon, ws, defs, cond,
                                                outcome, met):
    up = after(daemon, ws, defs[outcome])
    wait_run(daemon, ws, up.uuid)
    rep = submit(daemon, ws, defs["ok"], deps=[
        dep(up.uuid, cond=AFTER[cond])])
    if met:
        assert_ok(rep)
        assert rep.job_run.reason != pb.WAITING_FOR_DEPENDENCIES
        assert rep.job_run.depends_met == 1
        ended_ok(daemon, ws, rep.job_run.uuid)
    else:
        assert_error(rep, pb.FAILED_PRECONDITION,
                     field="depends_on[0].run_uuid")
        assert up.uuid in rep.error.message


def test_sql_run_waits_too(daemon, ws, defs, tmp_path):
    gate = writable(daemon, ws, "gates/gate")
    up = after(daemon, ws, defs["gated"], env={"GATE": gate})
    req = pb.SubmitSqlJobRunRequest(
        sql_query="select 1;", cluster_config=pb.ClusterConfig(
            instance_type="local", workers_quantity=1, version="3"),
        depends_on=[dep(up.uuid, cond=pb.AFTER_ENDED)])
    rep = daemon.call("run.submit_sql", req, pb.JobRunReply, ws=ws)
    assert_ok(rep)
    assert waiting(rep.job_run)
    cancel(daemon, ws, up.uuid)
    r = wait_run(daemon, ws, rep.job_run.uuid,
                 lambda r: r.status != pb.PENDING or not waiting(r))
    assert not waiting(r), r


# ---------------------------------------------------------------- cascades

def test_cancel_cascades_down_a_chain_one_event_each(daemon, ws, defs,
                                                     tmp_path):
    gate = writable(daemon, ws, "gates/gate")
    watch = BusWatch(daemon, ws)
    try:
        cl = make_cluster(daemon, ws, "deep")
        first = after(daemon, ws, defs["gated"], cl.uuid, env={"GATE": gate})
        chain = [first]
        for _ in range(100):
            chain.append(after(daemon, ws, defs["ok"], cl.uuid,
                               [dep(chain[-1].uuid)]))
        wait_status(daemon, ws, first.uuid, pb.RUNNING)
        cancel(daemon, ws, first.uuid)
        # The reply follows the commit: one commit ended the whole chain.
        for r in chain[1:]:
            r = get_run(daemon, ws, r.uuid)
            assert r.status == pb.CANCELLED, r
        for i, r in enumerate(chain[1:], 1):
            evs = watch.events_terminal(r.uuid)
            assert [(e.seq, e.status) for e in evs] == [
                (1, pb.PENDING), (2, pb.CANCELLED)], (i, evs)
            assert evs[0].reason == pb.WAITING_FOR_DEPENDENCIES
            assert evs[1].reason == pb.UPSTREAM_FAILED
            assert chain[i - 1].uuid in evs[1].reason_text
        # The cascade's events were published in the order it went.
        ends = [u for u, s in watch.arrival if s == 2 and u != first.uuid]
        assert ends == [r.uuid for r in chain[1:]]
        assert get_cluster(daemon, ws, cl.uuid).cluster.queued == 0
    finally:
        watch.close()


def test_failure_cascades_through_levels(daemon, ws, defs):
    a = after(daemon, ws, defs["fail"])
    b = after(daemon, ws, defs["ok"], deps=[dep(a.uuid)])
    c = after(daemon, ws, defs["ok"], deps=[dep(b.uuid)])
    # c also waits for a run that succeeds: that one is left alone.
    e = after(daemon, ws, defs["ok"], deps=[dep(a.uuid, cond=pb.AFTER_FAILED)])
    z = after(daemon, ws, defs["ok"], deps=[dep(c.uuid), dep(e.uuid)])
    rz = wait_run(daemon, ws, z.uuid, timeout=30)
    assert rz.status == pb.CANCELLED and rz.reason == pb.UPSTREAM_FAILED
    assert c.uuid in rz.reason_text
    assert ended_ok(daemon, ws, e.uuid)
    for r in (b, c):
        r = get_run(daemon, ws, r.uuid)
        assert r.status == pb.CANCELLED and r.reason == pb.UPSTREAM_FAILED


def test_cancel_of_a_waiting_run_and_cancel_all(daemon, ws, defs, tmp_path):
    gate = writable(daemon, ws, "gates/gate")
    up = after(daemon, ws, defs["gated"], env={"GATE": gate})
    w = after(daemon, ws, defs["ok"], deps=[dep(up.uuid)])
    below = after(daemon, ws, defs["ok"], deps=[dep(w.uuid)])
    r = cancel(daemon, ws, w.uuid)
    assert r.status == pb.CANCELLED and r.reason == pb.CANCELLED_BY_USER
    rb = get_run(daemon, ws, below.uuid)
    assert rb.status == pb.CANCELLED and rb.reason == pb.UPSTREAM_FAILED
    # cancel_all of a definition takes its waiting runs too.
    w2 = after(daemon, ws, defs["flagged"], deps=[dep(up.uuid)])
    rep = daemon.call("run.cancel_all", pb.CancelJobRunsRequest(
        job_definition_uuid=defs["flagged"]), pb.CancelJobRunsReply, ws=ws)
    assert_ok(rep)
    assert list(rep.run_uuids) == [w2.uuid]
    open(gate, "w").close()
    ended_ok(daemon, ws, up.uuid)
    assert get_run(daemon, ws, w2.uuid).status == pb.CANCELLED


# ---------------------------------------------------------------- batches

def test_batch_with_a_bad_item_creates_nothing(daemon, ws, defs):
    before_runs = list_runs(daemon, ws)
    before_cl = daemon.call("cluster.list", pb.ListClustersRequest(
        page_size=1000), pb.ListClustersReply, ws=ws).clusters
    good = pb.SubmitJobRunRequest(job_definition_uuid=defs["ok"])
    cases = [
        ([good, good, good, pb.SubmitJobRunRequest(
            job_definition_uuid=defs["ok"], depends_on=[dep(index=3)])],
         pb.INVALID_ARGUMENT, "runs[3].depends_on[0].index"),
        ([good, pb.SubmitJobRunRequest(
            job_definition_uuid=defs["ok"], depends_on=[dep(index=7)])],
         pb.INVALID_ARGUMENT, "runs[1].depends_on[0].index"),
        ([good, good, pb.SubmitJobRunRequest(
            job_definition_uuid="00000000-0000-4000-8000-000000000000")],
         pb.NOT_FOUND, "runs[2].job_definition_uuid"),
        ([good, pb.SubmitJobRunRequest(
            job_definition_uuid=defs["ok"], depends_on=[
                dep("00000000-0000-4000-8000-000000000001")])],
         pb.NOT_FOUND, "runs[1].depends_on[0].run_uuid"),
        ([good, pb.SubmitJobRunRequest(job_definition_uuid=defs["ok"],
                                       timeout_seconds=0)],
         pb.INVALID_ARGUMENT, "runs[1].timeout_seconds"),
        ([], pb.INVALID_ARGUMENT, "runs"),
        ([good] * 1001, pb.INVALID_ARGUMENT, "runs"),
    ]
    for items, code, field in cases:
        assert_error(batch(daemon, ws, items), code, field=field)
    assert list_runs(daemon, ws) == before_runs
    after_cl = daemon.call("cluster.list", pb.ListClustersRequest(
        page_size=1000), pb.ListClustersReply, ws=ws).clusters
    assert list(after_cl) == list(before_cl)


def test_batch_idempotency_key_and_existing_upstreams(daemon, ws, defs):
    old = after(daemon, ws, defs["ok"])
    ended_ok(daemon, ws, old.uuid)
    items = [pb.SubmitJobRunRequest(job_definition_uuid=defs["ok"],
                                    idempotency_key="pipe-1-extract"),
             pb.SubmitJobRunRequest(job_definition_uuid=defs["ok"],
                                    depends_on=[dep(index=0),
                                                dep(old.uuid)])]
    rep = batch(daemon, ws, items)
    assert_ok(rep)
    x, y = rep.job_runs
    assert [d.run_uuid for d in y.depends_on] == [x.uuid, old.uuid]
    assert y.depends_met in (2, 3)
    ended_ok(daemon, ws, y.uuid)
    # The same key again: the first run, and a new dependent of it.
    rep = batch(daemon, ws, items)
    assert_ok(rep)
    assert rep.job_runs[0].uuid == x.uuid
    assert rep.job_runs[1].uuid != y.uuid
    ended_ok(daemon, ws, rep.job_runs[1].uuid)


# ---------------------------------------------------------------- rerun

def test_rerun_and_repair_of_a_failed_diamond(daemon, ws, defs, tmp_path):
    flag = writable(daemon, ws, "flags/fixed")
    item = lambda def_, *deps, **kw: pb.SubmitJobRunRequest(  # noqa: E731
        job_definition_uuid=def_, depends_on=list(deps), **kw)
    rep = batch(daemon, ws, [
        item(defs["flagged"], env={"FLAG": flag}, args="--step a"),
        item(defs["ok"], dep(index=0)),
        item(defs["ok"], dep(index=0)),
        item(defs["ok"], dep(index=1), dep(index=2)),
        item(defs["ok"], dep(index=0, cond=pb.AFTER_FAILED)),
    ])
    assert_ok(rep)
    a, b, c, z, on_fail = rep.job_runs
    assert wait_run(daemon, ws, a.uuid).status == pb.FAILED
    for r in (b, c, z):
        r = wait_run(daemon, ws, r.uuid)
        assert r.status == pb.CANCELLED and r.reason == pb.UPSTREAM_FAILED
    ended_ok(daemon, ws, on_fail.uuid)
    # A plain rerun: one new run, the same config, args and env.
    rep = rerun(daemon, ws, a.uuid)
    assert_ok(rep)
    assert len(rep.job_runs) == 1
    a1 = rep.job_runs[0]
    assert a1.rerun_of == a.uuid and a1.args == "--step a"
    assert dict(a1.env) == {"FLAG": flag}
    assert wait_run(daemon, ws, a1.uuid).status == pb.FAILED
    # Fixed, and repaired: the diamond again, rewired to the new runs.
    open(flag, "w").close()
    rep = rerun(daemon, ws, a.uuid, repair=True)
    assert_ok(rep)
    news = {r.rerun_of: r for r in rep.job_runs}
    assert set(news) == {a.uuid, b.uuid, c.uuid, z.uuid}
    assert rep.job_runs[0].rerun_of == a.uuid
    assert [d.run_uuid for d in news[b.uuid].depends_on] == [
        news[a.uuid].uuid]
    assert [d.run_uuid for d in news[z.uuid].depends_on] == [
        news[b.uuid].uuid, news[c.uuid].uuid]
    for r in news.values():
        ended_ok(daemon, ws, r.uuid)
    # The old runs are unchanged; run.list finds the reruns.
    assert get_run(daemon, ws, z.uuid).status == pb.CANCELLED
    assert sorted(r.uuid for r in list_runs(daemon, ws, rerun_of=a.uuid)) \
        == sorted([a1.uuid, news[a.uuid].uuid])
    # A run not ended is not run again.
    live = after(daemon, ws, defs["ok"], deps=[dep(news[z.uuid].uuid)])
    gate_live = after(daemon, ws, defs["gated"],
                      env={"GATE": writable(daemon, ws, "gates/g")})
    assert_error(rerun(daemon, ws, gate_live.uuid), pb.FAILED_PRECONDITION,
                 field="uuid")
    cancel(daemon, ws, gate_live.uuid)
    ended_ok(daemon, ws, live.uuid)


# ---------------------------------------------------------------- the queue

def test_queue_full_when_released(daemon_factory, nats_server, ws, tmp_path):
    d = daemon_factory(env={"BATCHD_QUEUE_CAP": "2"})
    d.start()
    gate = writable(d, ws, "gates/gate")
    gated = make_jobdef(d, ws, "gated", GATED).uuid
    ok = make_jobdef(d, ws, "ok", OK).uuid
    cl = make_cluster(d, ws, "small")
    other = make_cluster(d, ws, "other")
    busy = submit_ok(d, ws, gated, cl.uuid, env={"GATE": gate})
    wait_status(d, ws, busy.uuid, pb.RUNNING)
    q1 = submit_ok(d, ws, ok, cl.uuid)
    q2 = submit_ok(d, ws, ok, cl.uuid)
    up_gate = writable(d, ws, "gates/up")
    up = submit_ok(d, ws, gated, other.uuid, env={"GATE": up_gate})
    # Waiting runs are refused no place: the queue is full, they wait.
    w1 = after(d, ws, ok, cl.uuid, [dep(up.uuid)])
    w2 = after(d, ws, ok, cl.uuid, [dep(up.uuid)])
    assert get_cluster(d, ws, cl.uuid).cluster.queued == 2
    open(up_gate, "w").close()
    ended_ok(d, ws, up.uuid)
    for w in (w1, w2):
        r = wait_run(d, ws, w.uuid, lambda r: not waiting(r))
        assert r.status == pb.PENDING and r.reason == pb.IN_QUEUE, r
        assert r.queue_seq == 0 and r.queue_position == 0
        assert r.ready_seq != 0
    assert get_cluster(d, ws, cl.uuid).cluster.queued == 2
    # A place frees: the first ready enters, then the second.
    cancel(d, ws, q2.uuid)
    r1 = get_run(d, ws, w1.uuid)
    assert r1.queue_seq != 0 and r1.queue_position == 2, r1
    assert get_run(d, ws, w2.uuid).queue_seq == 0
    open(gate, "w").close()
    for r in (busy, q1, w1, w2):
        ended_ok(d, ws, r.uuid)
    assert get_run(d, ws, w1.uuid).started_at_ms <= \
        get_run(d, ws, w2.uuid).started_at_ms
    d.stop()


def test_time_in_queue_counts_from_release(daemon, ws, defs, tmp_path):
    gate = writable(daemon, ws, "gates/gate")
    up = after(daemon, ws, defs["gated"], env={"GATE": gate})
    wait_status(daemon, ws, up.uuid, pb.RUNNING)
    w = after(daemon, ws, defs["ok"], deps=[dep(up.uuid)],
              max_queue_seconds=1)
    assert w.queue_deadline_ms == 0
    time.sleep(1.5)         # longer than max_queue_seconds, waiting
    open(gate, "w").close()
    r = ended_ok(daemon, ws, w.uuid)
    assert r.queue_deadline_ms >= w.submitted_at_ms + 1500


# ---------------------------------------------------------------- restarts

def test_waiting_runs_survive_kill9(daemon, ws, defs):
    """Runs waiting (and in line for a queue) keep waiting across kill -9;
    an upstream that ends while batchd is down is resolved by the next
    one: nothing waits forever."""
    gate = writable(daemon, ws, "gates/gate")
    fast = writable(daemon, ws, "gates/fast")
    cl = make_cluster(daemon, ws, "keep")
    a = after(daemon, ws, defs["gated"], cl.uuid, env={"GATE": gate})
    b = after(daemon, ws, defs["ok"], cl.uuid, [dep(a.uuid)])
    c = after(daemon, ws, defs["ok"], cl.uuid, [dep(b.uuid)])
    # Its upstream ends while batchd is away: the job sees its gate then.
    d1 = after(daemon, ws, defs["gated"], env={"GATE": fast})
    d2 = after(daemon, ws, defs["ok"], deps=[dep(d1.uuid)])
    wait_status(daemon, ws, a.uuid, pb.RUNNING)
    wait_status(daemon, ws, d1.uuid, pb.RUNNING)
    daemon.kill9()
    open(fast, "w").close()
    time.sleep(1.0)
    daemon.start()
    for r in (b, c):
        assert waiting(get_run(daemon, ws, r.uuid))
    assert ended_ok(daemon, ws, d1.uuid) and ended_ok(daemon, ws, d2.uuid)
    open(gate, "w").close()
    for r in (a, b, c):
        ended_ok(daemon, ws, r.uuid)
    # And a cascade after the restart.
    gate2 = writable(daemon, ws, "gates/gate2")
    x = after(daemon, ws, defs["gated"], env={"GATE": gate2})
    y = after(daemon, ws, defs["ok"], deps=[dep(x.uuid)])
    daemon.kill9()
    daemon.start()
    cancel(daemon, ws, x.uuid)
    ry = get_run(daemon, ws, y.uuid)
    assert ry.status == pb.CANCELLED and ry.reason == pb.UPSTREAM_FAILED
