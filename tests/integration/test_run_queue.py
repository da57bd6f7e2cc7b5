"""Job runs on clusters: one at a time, FIFO queues and their cap (also
under concurrent submits), paused clusters, idempotency keys, ephemeral
clusters, and run.list."""

import os
import threading

import pytest

from batchd.v1 import batchd_pb2 as pb
from harness import (NatsClient, assert_error, assert_ok, cluster_config,
                     get_cluster, get_run, make_cluster, make_jobdef,
                     submit_ok, submit_run, wait_run, wait_status,
                     wait_until)

pytestmark = pytest.mark.usefixtures("nats_server")

OK = "print('hello')\n"

SLEEP = """\
import time
time.sleep(30)
"""

# Appends $TAG to the file $ORDER: the order runs really ran in.
TAGGED = """\
import os
with open(os.environ['ORDER'], 'a') as f:
    f.write(os.environ['TAG'] + '\\n')
"""

# Runs until the file $GATE exists (at most 25 s, then fails).
GATED = """\
import os, sys, time
deadline = time.time() + 25
while not os.path.exists(os.environ['GATE']):
    if time.time() > deadline:
        sys.exit(99)
    time.sleep(0.02)
print('through the gate')
"""


def job_writable(d, ws, name):
    """An empty file in ws's workspace, the one host directory its jobs
    see, that they may append to whatever uid they run as."""
    path = os.path.join(d.ws_root, ws, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()
    os.chmod(path, 0o666)
    return path


def order_of(path):
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def cancel(d, ws, uuid):
    rep = d.call("run.cancel", pb.CancelJobRunRequest(uuid=uuid),
                 pb.JobRunReply, ws=ws)
    assert_ok(rep)
    return rep.job_run


def list_runs(d, ws, page_size=0, **kw):
    """Every page of run.list; returns (runs, pages)."""
    out, token, pages = [], "", 0
    while True:
        rep = d.call("run.list", pb.ListJobRunsRequest(
            page_size=page_size, page_token=token, **kw),
            pb.ListJobRunsReply, ws=ws)
        assert_ok(rep)
        pages += 1
        out.extend(rep.job_runs)
        token = rep.next_page_token
        if not token:
            return out, pages
        assert pages < 1000


def idle(d, ws, cluster_uuid):
    c = get_cluster(d, ws, cluster_uuid).cluster
    return c.queued == 0 and c.active_run_uuid == ""


# ---------------------------------------------------------------- FIFO

def test_fifo_one_at_a_time(run_daemon, ws, bus_watch):
    d = run_daemon
    cl = make_cluster(d, ws, "c1")
    gate = os.path.join(d.ws_root, ws, "gate")   # the job sees it
    order = job_writable(d, ws, "order")
    gated = make_jobdef(d, ws, "gated", code=GATED, env={"GATE": gate})
    tagged = make_jobdef(d, ws, "tagged", code=TAGGED, env={"ORDER": order})
    w = bus_watch(d, ws)

    blocker = submit_ok(d, ws, gated.uuid, cl.uuid)
    assert blocker.reason == pb.RECENTLY_SUBMITTED
    wait_status(d, ws, blocker.uuid, pb.RUNNING)
    queued = []
    for i in range(8):
        r = submit_ok(d, ws, tagged.uuid, cl.uuid, env={"TAG": "t%d" % i})
        assert (r.status, r.reason, r.queue_position) == (
            pb.PENDING, pb.IN_QUEUE, i + 1), r
        assert r.reason_text == "In queue"
        queued.append(r)
    for i, r in enumerate(queued):
        assert get_run(d, ws, r.uuid).queue_position == i + 1
    c = get_cluster(d, ws, cl.uuid).cluster
    assert c.active_run_uuid == blocker.uuid and c.queued == 8
    assert order_of(order) == []                  # nothing ran meanwhile

    open(gate, "w").close()
    assert wait_run(d, ws, blocker.uuid).status == pb.SUCCEEDED
    runs = [wait_run(d, ws, r.uuid) for r in queued]
    assert all(r.status == pb.SUCCEEDED for r in runs)
    assert order_of(order) == ["t%d" % i for i in range(8)]
    # One at a time: each started once the one before had finished.
    prev = get_run(d, ws, blocker.uuid)
    for r in runs:
        assert r.started_at_ms >= prev.finished_at_ms
        prev = r
    # And the RUNNING events were published in the same order.
    for r in runs:
        w.events_terminal(r.uuid)
    running = [u for u, s in w.arrival
               if w.events[u][s].status == pb.RUNNING
               and u != blocker.uuid]
    assert running == [r.uuid for r in runs]
    assert idle(d, ws, cl.uuid)


def test_clusters_run_in_parallel(run_daemon, ws):
    """Two clusters: a busy one does not hold up the other."""
    d = run_daemon
    busy = make_cluster(d, ws, "busy")
    free = make_cluster(d, ws, "free")
    slow = make_jobdef(d, ws, "slow", code=SLEEP)
    ok = make_jobdef(d, ws, "ok", code=OK)
    b = submit_ok(d, ws, slow.uuid, busy.uuid)
    wait_status(d, ws, b.uuid, pb.RUNNING)
    r = submit_ok(d, ws, ok.uuid, free.uuid)
    assert r.reason == pb.RECENTLY_SUBMITTED
    assert wait_run(d, ws, r.uuid).status == pb.SUCCEEDED
    assert get_run(d, ws, b.uuid).status == pb.RUNNING


# ---------------------------------------------------------------- the cap

def test_queue_cap_default_100(run_daemon, ws):
    d = run_daemon
    cl = make_cluster(d, ws, "c1")
    slow = make_jobdef(d, ws, "slow", code=SLEEP)
    ok = make_jobdef(d, ws, "ok", code=OK)
    blocker = submit_ok(d, ws, slow.uuid, cl.uuid)
    wait_status(d, ws, blocker.uuid, pb.RUNNING)
    queued = []
    for i in range(100):
        r = submit_ok(d, ws, ok.uuid, cl.uuid)
        assert (r.status, r.reason, r.queue_position) == (
            pb.PENDING, pb.IN_QUEUE, i + 1)
        queued.append(r)
    rep = submit_run(d, ws, ok.uuid, cl.uuid)
    assert_error(rep, pb.QUEUE_FULL, "cluster_uuid")
    assert not rep.HasField("job_run")
    c = get_cluster(d, ws, cl.uuid).cluster
    assert c.queued == 100 and c.active_run_uuid == blocker.uuid
    runs, _ = list_runs(d, ws, cluster_uuid=cl.uuid, page_size=1000)
    assert len(runs) == 101                       # nothing of the refused
    for i, r in enumerate(queued):
        assert get_run(d, ws, r.uuid).queue_position == i + 1

    # One leaves the middle: the ones behind move up, and there is room.
    cancel(d, ws, queued[49].uuid)
    assert get_run(d, ws, queued[48].uuid).queue_position == 49
    assert get_run(d, ws, queued[50].uuid).queue_position == 50
    assert get_run(d, ws, queued[99].uuid).queue_position == 99
    last = submit_ok(d, ws, ok.uuid, cl.uuid)
    assert last.queue_position == 100
    assert_error(submit_run(d, ws, ok.uuid, cl.uuid), pb.QUEUE_FULL,
                 "cluster_uuid")

    rep = d.call("run.cancel_all", pb.CancelJobRunsRequest(
        cluster_uuids=[cl.uuid]), pb.CancelJobRunsReply, ws=ws)
    assert_ok(rep)
    want = ({r.uuid for r in queued} - {queued[49].uuid}
            | {last.uuid, blocker.uuid})
    assert rep.cancelled == 101 and set(rep.run_uuids) == want
    wait_until(lambda: idle(d, ws, cl.uuid), 10, what="cluster idle")
    runs, _ = list_runs(d, ws, cluster_uuid=cl.uuid, page_size=1000)
    assert len(runs) == 102
    assert all(r.status == pb.CANCELLED for r in runs)
    assert all(not r.attempts for r in runs if r.uuid != blocker.uuid)


def test_queue_cap_concurrent_submitters(run_daemon_factory, ws):
    cap, submitters = 10, 40
    d = run_daemon_factory(env={"BATCHD_QUEUE_CAP": str(cap)}).start()
    cl = make_cluster(d, ws, "c1")
    gate = os.path.join(d.ws_root, ws, "gate")   # the job sees it
    order = job_writable(d, ws, "order")
    gated = make_jobdef(d, ws, "gated", code=GATED, env={"GATE": gate})
    tagged = make_jobdef(d, ws, "tagged", code=TAGGED, env={"ORDER": order})
    blocker = submit_ok(d, ws, gated.uuid, cl.uuid)
    wait_status(d, ws, blocker.uuid, pb.RUNNING)

    clients = [NatsClient(d.nats_host, d.nats_port)
               for _ in range(submitters)]
    barrier = threading.Barrier(submitters)
    replies = [None] * submitters

    def submit(i):
        barrier.wait()
        replies[i] = submit_run(d, ws, tagged.uuid, cl.uuid,
                                env={"TAG": "s%d" % i}, nc=clients[i])

    threads = [threading.Thread(target=submit, args=(i,))
               for i in range(submitters)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        for c in clients:
            c.close()
    assert all(r is not None for r in replies), "a submitter got no reply"
    ok = [(i, r.job_run) for i, r in enumerate(replies)
          if not r.HasField("error")]
    full = [r for r in replies if r.HasField("error")]
    assert len(ok) == cap, [r.error for r in full if
                            r.error.code != pb.QUEUE_FULL]
    for r in full:
        assert_error(r, pb.QUEUE_FULL, "cluster_uuid")
    c = get_cluster(d, ws, cl.uuid).cluster
    assert c.queued == cap
    runs, _ = list_runs(d, ws, cluster_uuid=cl.uuid)
    assert len(runs) == cap + 1
    positions = sorted((get_run(d, ws, r.uuid).queue_position, i)
                       for i, r in ok)
    assert [p for p, _ in positions] == list(range(1, cap + 1))

    # They run in their queue order.
    open(gate, "w").close()
    for _, r in ok:
        assert wait_run(d, ws, r.uuid).status == pb.SUCCEEDED
    assert order_of(order) == ["s%d" % i for _, i in positions]


# ---------------------------------------------------------------- paused

def test_paused_cluster_auto_resume(run_daemon, ws):
    d = run_daemon
    cl = make_cluster(d, ws, "c1")
    assert cl.auto_resume is True
    rep = d.call("cluster.pause", pb.GetClusterRequest(uuid=cl.uuid),
                 pb.ClusterReply, ws=ws)
    assert_ok(rep)
    assert rep.cluster.state == pb.Cluster.PAUSED
    ok = make_jobdef(d, ws, "ok", code=OK)
    run = submit_ok(d, ws, ok.uuid, cl.uuid)
    assert get_cluster(d, ws, cl.uuid).cluster.state == pb.Cluster.RUNNING
    assert wait_run(d, ws, run.uuid).status == pb.SUCCEEDED


def test_paused_cluster_without_auto_resume(run_daemon, ws):
    d = run_daemon
    cl = make_cluster(d, ws, "c1", auto_resume=False)
    assert cl.auto_resume is False
    assert_ok(d.call("cluster.pause", pb.GetClusterRequest(uuid=cl.uuid),
                     pb.ClusterReply, ws=ws))
    ok = make_jobdef(d, ws, "ok", code=OK)
    rep = submit_run(d, ws, ok.uuid, cl.uuid, idempotency_key="k1")
    assert_error(rep, pb.CLUSTER_PAUSED, "cluster_uuid")
    runs, _ = list_runs(d, ws)
    assert runs == []
    c = get_cluster(d, ws, cl.uuid).cluster
    assert c.state == pb.Cluster.PAUSED and c.queued == 0

    # Resumed, it takes runs; the refused key was not remembered.
    assert_ok(d.call("cluster.resume", pb.GetClusterRequest(uuid=cl.uuid),
                     pb.ClusterReply, ws=ws))
    run = submit_ok(d, ws, ok.uuid, cl.uuid, idempotency_key="k1")
    assert wait_run(d, ws, run.uuid).status == pb.SUCCEEDED
    runs, _ = list_runs(d, ws)
    assert [r.uuid for r in runs] == [run.uuid]


def test_paused_cluster_holds_its_queue(run_daemon, ws):
    """Pausing does not stop the running run; the queued ones wait until
    the cluster is resumed."""
    d = run_daemon
    cl = make_cluster(d, ws, "c1", auto_resume=False)
    gate = os.path.join(d.ws_root, ws, "gate")   # the job sees it
    gated = make_jobdef(d, ws, "gated", code=GATED, env={"GATE": gate})
    ok = make_jobdef(d, ws, "ok", code=OK)
    blocker = submit_ok(d, ws, gated.uuid, cl.uuid)
    wait_status(d, ws, blocker.uuid, pb.RUNNING)
    q = submit_ok(d, ws, ok.uuid, cl.uuid)
    assert_ok(d.call("cluster.pause", pb.GetClusterRequest(uuid=cl.uuid),
                     pb.ClusterReply, ws=ws))
    open(gate, "w").close()
    assert wait_run(d, ws, blocker.uuid).status == pb.SUCCEEDED
    wait_until(lambda: get_cluster(d, ws, cl.uuid).cluster.active_run_uuid
               == "", 10, what="cluster freed")
    r = get_run(d, ws, q.uuid)
    assert r.status == pb.PENDING and r.queue_position == 1
    assert_ok(d.call("cluster.resume", pb.GetClusterRequest(uuid=cl.uuid),
                     pb.ClusterReply, ws=ws))
    assert wait_run(d, ws, q.uuid).status == pb.SUCCEEDED


# ---------------------------------------------------------------- idempotency

def test_idempotency_key(run_daemon, ws):
    d = run_daemon
    cl = make_cluster(d, ws, "c1")
    slow = make_jobdef(d, ws, "slow", code=SLEEP)
    ok = make_jobdef(d, ws, "ok", code=OK)
    blocker = submit_ok(d, ws, slow.uuid, cl.uuid)
    wait_status(d, ws, blocker.uuid, pb.RUNNING)

    first = submit_ok(d, ws, ok.uuid, cl.uuid, idempotency_key="key-1",
                      args="a")
    assert first.idempotency_key == "key-1"
    again = submit_ok(d, ws, ok.uuid, cl.uuid, idempotency_key="key-1",
                      args="a")
    assert again.uuid == first.uuid
    assert again == get_run(d, ws, first.uuid)
    c = get_cluster(d, ws, cl.uuid).cluster
    assert c.queued == 1
    other = submit_ok(d, ws, ok.uuid, cl.uuid, idempotency_key="key-2")
    assert other.uuid != first.uuid and other.queue_position == 2
    runs, _ = list_runs(d, ws)
    assert len(runs) == 3

    cancel(d, ws, blocker.uuid)
    assert wait_run(d, ws, first.uuid).status == pb.SUCCEEDED
    assert wait_run(d, ws, other.uuid).status == pb.SUCCEEDED
    # Still the same run once it has finished: nothing new is queued.
    late = submit_ok(d, ws, ok.uuid, cl.uuid, idempotency_key="key-1")
    assert late.uuid == first.uuid and late.status == pb.SUCCEEDED
    assert len(list_runs(d, ws)[0]) == 3
    assert idle(d, ws, cl.uuid)
    assert len(get_run(d, ws, first.uuid).attempts) == 1


# ---------------------------------------------------------------- ephemeral

def test_ephemeral_cluster(run_daemon, ws, bus_watch):
    d = run_daemon
    gate = os.path.join(d.ws_root, ws, "gate")   # the job sees it
    cc = cluster_config(workers=1, instance_type="m5.large", version="3.1")
    gated = make_jobdef(d, ws, "gated", code=GATED, env={"GATE": gate},
                        cluster=cc)
    w = bus_watch(d, ws)
    run = submit_ok(d, ws, gated.uuid)
    assert run.ephemeral_cluster is True
    assert run.workers == 1 and run.version == "3.1"
    assert run.reason == pb.RECENTLY_SUBMITTED
    wait_status(d, ws, run.uuid, pb.RUNNING)
    rep = get_cluster(d, ws, run.cluster_uuid)
    assert_ok(rep)
    c = rep.cluster
    assert c.ephemeral is True and c.config == cc and c.workspace == ws
    assert c.active_run_uuid == run.uuid and c.queued == 0
    assert c.state == pb.Cluster.RUNNING
    listed = assert_ok(d.call("cluster.list", pb.ListClustersRequest(),
                              pb.ListClustersReply, ws=ws)).clusters
    assert [x.uuid for x in listed] == [c.uuid]

    open(gate, "w").close()
    r = wait_run(d, ws, run.uuid)
    assert r.status == pb.SUCCEEDED and r.cluster_uuid == c.uuid
    assert_error(get_cluster(d, ws, c.uuid), pb.NOT_FOUND, "uuid")
    listed = assert_ok(d.call("cluster.list", pb.ListClustersRequest(),
                              pb.ListClustersReply, ws=ws)).clusters
    assert list(listed) == []
    evs = w.events_terminal(run.uuid)
    assert {e.cluster_uuid for e in evs} == {c.uuid}
    # The run keeps naming the cluster it ran on.
    assert get_run(d, ws, run.uuid).ephemeral_cluster is True


def test_ephemeral_cluster_each_run_its_own(run_daemon, ws):
    """Runs without cluster_uuid do not queue behind each other, keep their
    cluster across retries, and leave no cluster behind however they end."""
    d = run_daemon
    cc = cluster_config()
    slow = make_jobdef(d, ws, "slow", code=SLEEP, cluster=cc)
    flaky = make_jobdef(d, ws, "flaky", cluster=cc, num_retries=1,
                        retry_delay_seconds=0, code="""\
import os, sys
sys.exit(0 if os.environ['BATCHD_ATTEMPT'] == '2' else 1)
""")
    fail = make_jobdef(d, ws, "fail", cluster=cc,
                       code="import sys\nsys.exit(2)\n")
    s = submit_ok(d, ws, slow.uuid)
    f = submit_ok(d, ws, flaky.uuid)
    x = submit_ok(d, ws, fail.uuid)
    assert len({s.cluster_uuid, f.cluster_uuid, x.cluster_uuid}) == 3
    rf = wait_run(d, ws, f.uuid)
    assert rf.status == pb.SUCCEEDED and rf.attempt == 2
    assert wait_run(d, ws, x.uuid).status == pb.FAILED
    assert get_run(d, ws, s.uuid).status == pb.RUNNING
    for u in (f.cluster_uuid, x.cluster_uuid):
        assert_error(get_cluster(d, ws, u), pb.NOT_FOUND, "uuid")
    assert_ok(get_cluster(d, ws, s.cluster_uuid))
    # A cancelled run's cluster goes once its process has.
    cancel(d, ws, s.uuid)
    wait_until(lambda: get_cluster(d, ws, s.cluster_uuid).HasField("error"),
               10, what="ephemeral cluster deleted")
    assert_error(get_cluster(d, ws, s.cluster_uuid), pb.NOT_FOUND, "uuid")
    assert list(d.call("cluster.list", pb.ListClustersRequest(),
                       pb.ListClustersReply, ws=ws).clusters) == []


# ---------------------------------------------------------------- run.list

def test_list_filters_and_paging(run_daemon, ws):
    d = run_daemon
    ca = make_cluster(d, ws, "a")
    cb = make_cluster(d, ws, "b")
    ok = make_jobdef(d, ws, "ok", code=OK)
    bad = make_jobdef(d, ws, "bad", code="import sys\nsys.exit(1)\n")
    plan = [(ok, ca), (bad, ca), (ok, cb), (ok, ca), (bad, cb), (ok, cb),
            (bad, ca), (ok, ca)]
    runs = []
    for jd, c in plan:
        r = submit_ok(d, ws, jd.uuid, c.uuid)
        runs.append((jd, c, wait_run(d, ws, r.uuid)))
    # One still pending behind a running one on cluster b.
    slow = make_jobdef(d, ws, "slow", code=SLEEP)
    blocker = submit_ok(d, ws, slow.uuid, cb.uuid)
    wait_status(d, ws, blocker.uuid, pb.RUNNING)
    pend = submit_ok(d, ws, ok.uuid, cb.uuid)
    runs.append((slow, cb, get_run(d, ws, blocker.uuid)))
    runs.append((ok, cb, get_run(d, ws, pend.uuid)))

    def check(got, pred):
        want = {r.uuid for jd, c, r in runs if pred(jd, c, r)}
        assert {r.uuid for r in got} == want
        assert len(got) == len(want), "duplicates in run.list"
        ts = [r.submitted_at_ms for r in got]
        assert ts == sorted(ts, reverse=True), "not newest first"

    everything, pages = list_runs(d, ws)
    assert pages == 1
    check(everything, lambda jd, c, r: True)
    check(list_runs(d, ws, job_definition_uuid=ok.uuid)[0],
          lambda jd, c, r: jd is ok)
    check(list_runs(d, ws, cluster_uuid=cb.uuid)[0],
          lambda jd, c, r: c is cb)
    check(list_runs(d, ws, status=pb.FAILED)[0],
          lambda jd, c, r: jd is bad)
    check(list_runs(d, ws, status=pb.SUCCEEDED, cluster_uuid=ca.uuid)[0],
          lambda jd, c, r: jd is ok and c is ca)
    check(list_runs(d, ws, job_definition_uuid=ok.uuid,
                    cluster_uuid=cb.uuid)[0],
          lambda jd, c, r: jd is ok and c is cb)
    check(list_runs(d, ws, status=pb.PENDING)[0],
          lambda jd, c, r: r.uuid == pend.uuid)
    check(list_runs(d, ws, status=pb.RUNNING)[0],
          lambda jd, c, r: r.uuid == blocker.uuid)
    pending = list_runs(d, ws, status=pb.PENDING)[0]
    assert pending[0].queue_position == 1

    # Paging: pages of 3 (and of 1) give the same runs in the same order.
    for size in (1, 3):
        paged, pages = list_runs(d, ws, page_size=size)
        assert [r.uuid for r in paged] == [r.uuid for r in everything]
        assert pages >= len(everything) // size
    paged, _ = list_runs(d, ws, page_size=2, job_definition_uuid=ok.uuid)
    check(paged, lambda jd, c, r: jd is ok)

    # Time bounds: after is inclusive, before exclusive.
    t = sorted(r.submitted_at_ms for _, _, r in runs)[len(runs) // 2]
    check(list_runs(d, ws, submitted_after_ms=t)[0],
          lambda jd, c, r: r.submitted_at_ms >= t)
    check(list_runs(d, ws, submitted_before_ms=t)[0],
          lambda jd, c, r: r.submitted_at_ms < t)

    assert_error(d.call("run.list", pb.ListJobRunsRequest(
        page_token="garbage"), pb.ListJobRunsReply, ws=ws),
        pb.INVALID_ARGUMENT, "page_token")
    assert list_runs(d, ws + "x")[0] == []
    cancel(d, ws, blocker.uuid)
