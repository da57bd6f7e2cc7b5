"""High availability (ha = on): the failure paths. A running standby left
behind a compaction; a commit larger than a message, and its leader killed
between the parts; snapshots a deposed writer leaves broken or stale; the
leader's own storage failing after the stream took its commit. After each,
every node that leads must hold exactly the state acknowledged: what the
API lists is compared, node after node, through failovers.

One NATS cluster serves the module, with a small max_payload (64 KiB) so
that commits and snapshots come in parts; each test has streams and a
bucket of its own (ha_stream)."""

import contextlib
import os
import re
import signal
import subprocess
import time

import pytest

from harness import _pb, assert_ok, wait_until
from ha_harness import NatsCluster, HaNodes
from natsclient import NatsError
from test_ha import Client, text_jobdef, cluster, all_runs, get_run, \
    check_exactly_once

pb = _pb()
MAX_PAYLOAD = 64 * 1024
ENV = {"BATCHD_QUEUE_CAP": "100000", "BATCHD_HA_SNAPSHOT_EVERY": "10",
       "BATCHD_SHIM": "/bin/false"}


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    c = NatsCluster(tmp_path_factory.mktemp("nats"),
                    conf="max_payload: %d\n" % MAX_PAYLOAD).start()
    yield c
    c.close()


def nodes_of(cl, tmp_path, stream, names=("a", "b", "c"), standbys=True):
    """Nodes with lease 2 s on streams of their own; the first started
    alone, so that it leads, then (standbys) the others."""
    nodes = HaNodes(tmp_path, cl, names=names, lease_s=2, ha_stream=stream,
                    env=ENV)
    first = nodes[names[0]]
    first.start(wait=False)
    first.wait_ready()
    assert nodes.wait_leader().node == names[0]
    for n in names[1:] if standbys else ():
        nodes[n].start(wait=False)
    for n in names[1:] if standbys else ():
        nodes[n].wait_ready()
    return nodes


@contextlib.contextmanager
def ha(cl, tmp_path, stream, **kw):
    """nodes_of(), a client and JetStream, and the log's name."""
    nodes = nodes_of(cl, tmp_path, stream, **kw)
    c = Client(cl)
    try:
        yield nodes, c, cl.js(), stream + "_0"
    finally:
        c.close()
        nodes.close()


def held(c):
    """A definition, a cluster, and a run whose attempt fails at once (the
    shim is /bin/false) and that waits a day for its retry: runs that
    depend on it wait too, and the state holds still. (jd, cu, its uuid)"""
    jd = text_jobdef(c, "j", "print(1)").uuid
    cu = cluster(c, "main").uuid
    hold = cluster(c, "hold").uuid
    cfg = pb.JobConfig(type=pb.PYTHON, source_location="main.py")
    cfg.source.type = pb.TEXT
    cfg.source.text.text = "print(1)"
    cfg.retry_strategy.num_retries = 1
    cfg.retry_strategy.retry_delay_seconds = 86400
    root = assert_ok(c.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name="root", config=cfg), pb.JobDefinitionReply)).job_definition
    r = assert_ok(c.call("run.submit", pb.SubmitJobRunRequest(
        job_definition_uuid=root.uuid, cluster_uuid=hold),
        pb.JobRunReply)).job_run
    wait_until(lambda: get_run(c, r.uuid).reason == pb.RETRY_PENDING, 30,
               what="the first run to wait for its retry")
    return jd, cu, r.uuid


def run_req(req, jd, cu, root, tag, pad):
    req.job_definition_uuid = jd
    req.cluster_uuid = cu
    req.env["BATCH"] = tag
    req.env["PAD"] = "x" * pad
    req.depends_on.add(run_uuid=root)
    return req


def submit_one(c, jd, cu, root, key):
    req = run_req(pb.SubmitJobRunRequest(idempotency_key=key), jd, cu, root,
                  key, 10)
    return assert_ok(c.call("run.submit", req, pb.JobRunReply)).job_run.uuid


def batch_req(h, n, tag, pad=200):
    """n runs waiting for h's (held()); 80 with 200 bytes of env each make
    a reply (the runs) that fits max_payload."""
    req = pb.SubmitJobRunsRequest()
    for _ in range(n):
        run_req(req.runs.add(), *h, tag, pad)
    return req


def submit_batch(c, h, n, tag, pad=200):
    return [r.uuid for r in assert_ok(c.call(
        "run.submit_batch", batch_req(h, n, tag, pad),
        pb.SubmitJobRunsReply)).job_runs]


def cancel_req(cu):
    return pb.CancelJobRunsRequest(cluster_uuids=[cu])


def state(c):
    """What the leader answers: every run, definition and cluster."""
    runs = {r.uuid: r.SerializeToString(deterministic=True)
            for r in all_runs(c)}
    jds = assert_ok(c.call("jobdef.list", pb.ListJobDefinitionsRequest(
        page_size=1000), pb.ListJobDefinitionsReply)).job_definitions
    cus = assert_ok(c.call("cluster.list", pb.ListClustersRequest(
        page_size=1000), pb.ListClustersReply)).clusters
    return (runs, [j.SerializeToString(deterministic=True) for j in jds],
            [u.SerializeToString(deterministic=True) for u in cus])


def same_state(got, want):
    assert got[0].keys() == want[0].keys(), (
        "%d runs missing, %d more" % (len(want[0].keys() - got[0].keys()),
                                      len(got[0].keys() - want[0].keys())))
    diff = [u for u in want[0] if got[0][u] != want[0][u]]
    assert not diff, "%d runs differ, e.g. %s" % (len(diff), diff[0])
    assert got[1:] == want[1:]


def applied(d):
    rec = d.record() or {}
    return (rec.get("partitions") or [{}])[0].get("applied", 0)


def last_seq(js, stream):
    return js.stream_info(stream)["state"]["last_seq"]


def wait_caught_up(nodes, names, js, stream):
    """Until each of names has applied the log to its end, and the log
    holds still."""
    def done():
        last = last_seq(js, stream)
        return all(applied(nodes[n]) >= last for n in names) and \
            last_seq(js, stream) == last
    wait_until(done, 30, interval=0.2, what="%s to catch up" % (names,))


def wait_quiet(js, stream, quiet=0.6):
    """Until the log takes nothing for quiet seconds (the outbox's lazy
    deletions are in): its last sequence."""
    last, since = last_seq(js, stream), time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.1)
        now = last_seq(js, stream)
        if now != last:
            last, since = now, time.monotonic()
    return last


def fail_over_through(nodes, c, want, order):
    """Kill the leader, and each next one, in turn: every one that takes
    over must answer exactly want."""
    leader = nodes.wait_leader()
    for _ in order:
        leader.kill9()
        leader = nodes.wait_leader(other_than=leader.node)
        assert leader.node in order
        same_state(state(c), want)
    return leader


# ---------------------------------------------------------------- 1

def test_a_standby_left_behind_a_compaction_starts_over_from_a_snapshot(
        cl, tmp_path):
    with ha(cl, tmp_path, "HAF1") as (nodes, c, js, log):
        h = held(c)
        acked = {"root": h[2]}
        for i in range(5):
            acked["k%d" % i] = submit_one(c, *h, "k%d" % i)
        wait_caught_up(nodes, ("b", "c"), js, log)
        # b stops where it is, running, and its consumer is lost (as with
        # its server): what follows never reaches it before the log is
        # compacted. c is stopped.
        os.kill(nodes["b"].pid, signal.SIGSTOP)
        nodes["c"].stop()
        for x in js.api("CONSUMER.LIST." + log)["consumers"]:
            js.api("CONSUMER.DELETE.%s.%s" % (log, x["name"]))
        behind = last_seq(js, log)
        i = len(acked)
        deadline = time.monotonic() + 60
        while js.stream_info(log)["state"]["first_seq"] <= behind + 1:
            assert time.monotonic() < deadline, "the log was not compacted"
            acked["k%d" % i] = submit_one(c, *h, "k%d" % i)
            i += 1
        os.kill(nodes["b"].pid, signal.SIGCONT)
        nodes["c"].start(wait=False)
        for n in ("b", "c"):
            wait_until(lambda: re.search(
                r"snapshot at \d+ read", nodes[n].log_text().split(
                    "compacted past")[-1]), 30, what="%s to start over" % n)
        wait_caught_up(nodes, ("b", "c"), js, log)
        want = state(c)
        check_exactly_once(c, acked)
        fail_over_through(nodes, c, want, ("b", "c"))


# ---------------------------------------------------------------- 2

def part_of(m):
    """A log message's Batchd-Part header as (i, n); (1, 1) if none."""
    v = m[1].get("Batchd-Part", "1/1")
    i, n = v.split("/")
    return int(i), int(n)


def test_a_commit_in_parts_is_applied_whole_or_not_at_all(cl, tmp_path):
    stream = "HAF2"
    with ha(cl, tmp_path, stream) as (nodes, c, js, log):
        jd, one, root = held(c)
        cus = [one, cluster(c, "two").uuid]
        for k in range(4):
            for cu in cus:
                submit_batch(c, (jd, cu, root), 80, "%s%d" % (cu, k))
        # Cancelling 320 runs, with their env, takes parts; its reply
        # (their uuids) is small.
        before = wait_quiet(js, log)
        rep = assert_ok(c.call("run.cancel_all", cancel_req(cus[0]),
                               pb.CancelJobRunsReply))
        assert rep.cancelled == 320
        parts = [part_of(m) for m in js.messages(log) if m[0] > before]
        assert max(n for _, n in parts) >= 3, parts
        wait_caught_up(nodes, ("b", "c"), js, log)
        want = state(c)

        # The stream takes two more messages, no more: the leader is held
        # between the parts of its next commit, and killed there.
        wait_quiet(js, log)
        room = js.stream_info(log)["state"]["messages"] + 2
        js.stream_update(log, max_msgs=room, discard="new")
        c.nc.publish("batchd.v1.ha.run.cancel_all",
                     cancel_req(cus[1]).SerializeToString(),
                     reply=c.nc.new_inbox())
        wait_until(lambda: js.stream_info(log)["state"]["messages"] == room,
                   30, what="the first parts in the log")
        time.sleep(0.3)                 # the leader tries the third
        last = js.msg_get(log, last_by_subj="batchd.ha.%s.0.log" % stream)
        i, n = part_of(last)
        assert 1 < i < n, (i, n)
        nodes["a"].kill9()
        js.stream_update(log, max_msgs=-1, discard="old")
        leader = nodes.wait_leader(other_than="a")
        same_state(state(c), want)      # not one of them cancelled
        # The others apply what follows the half.
        rep = assert_ok(c.call("run.cancel_all", cancel_req(cus[1]),
                               pb.CancelJobRunsReply))
        assert rep.cancelled == 320
        want = state(c)
        nodes["a"].start(wait=False)
        others = [n for n in ("a", "b", "c") if n != leader.node]
        wait_caught_up(nodes, others, js, log)
        fail_over_through(nodes, c, want, others)


# ---------------------------------------------------------------- 3

SNAP_ID = "Batchd-Snap"
SNAP_END = "Batchd-Snap-End"


def snapshots(js, snap_stream):
    """The whole snapshots in the stream, as written (contiguous): a list
    of (position, [messages])."""
    out, cur = [], []
    for m in js.messages(snap_stream):
        if cur and cur[0][1].get(SNAP_ID) != m[1].get(SNAP_ID):
            cur = []
        cur.append(m)
        if SNAP_END in m[1]:
            out.append((int(m[1][SNAP_END]), cur))
            cur = []
    return out


def test_a_node_never_loads_a_broken_or_stale_snapshot(cl, tmp_path):
    stream = "HAF3"
    snap, subj = stream + "_0_SNAP", "batchd.ha.%s.0.snap" % stream
    with ha(cl, tmp_path, stream, names=("a", "b"), standbys=False) as \
            (nodes, c, js, log):
        b = nodes["b"]
        h = held(c)
        n = [0]

        def more():
            submit_batch(c, h, 80, "b%d" % n[0])
            n[0] += 1
            return True
        # Enough state for snapshots of several parts.
        for _ in range(3):
            more()
        old_pos, old = wait_until(
            lambda: more() and [x for x in snapshots(js, snap)
                                if len(x[1]) > 2], 60,
            what="a snapshot of several parts")[-1]
        # Newer ones, until the log no longer holds what follows the old
        # one: it is stale.
        wait_until(lambda: more() and js.stream_info(log)["state"]
                   ["first_seq"] > old_pos + 1, 60,
                   what="the log to be compacted past %d" % old_pos)
        new_pos, new = wait_until(
            lambda: more() and (lambda l: l and l[-1][0] > old_pos and
                                l[-1])(snapshots(js, snap)), 60,
            what="a newer snapshot")

        # What a writer deposed mid-snapshot can leave: its late parts
        # among a newer writer's, and a whole but stale one written last.
        wait_quiet(js, log)
        wait_quiet(js, snap)            # no snapshot being written

        def copy(m, **hdrs):
            h = {k: v for k, v in m[1].items() if not k.startswith("Nats-")}
            h.update(hdrs)
            js.publish_msg(subj, m[2], h)
        js.stream_purge(snap)
        for j, m in enumerate(new):
            copy(m)
            if j == 0:
                copy(old[1], **{SNAP_ID: "00000000deadbeef"})
        for m in old:
            copy(m)
        b.start(wait=False)             # empty
        b.wait_ready()
        wait_until(lambda: re.search(r"snapshot at \d+ (read|passed over)",
                                     b.log_text()), 30,
                   what="b to read the snapshots")
        time.sleep(1)
        loaded = re.findall(r"snapshot at (\d+) read", b.log_text())
        assert not loaded, "b loaded a broken or stale snapshot: %s (the " \
            "whole one is at %d, the stale at %d)" % (loaded, new_pos,
                                                      old_pos)
        # The leader's next snapshot is whole: b starts from it.
        wait_until(lambda: more() and re.search(r"snapshot at \d+ read",
                                                b.log_text()), 60,
                   what="b to load a snapshot")
        wait_caught_up(nodes, ("b",), js, log)
        want = state(c)
        fail_over_through(nodes, c, want, ("b",))


# ---------------------------------------------------------------- 4

def test_a_leader_whose_storage_fails_after_the_stream_steps_down(
        cl, tmp_path):
    stream = "HAF4"
    log = stream + "_0"
    nodes = HaNodes(tmp_path, cl, names=("a", "b"), lease_s=2,
                    ha_stream=stream, env=ENV)
    a = nodes["a"]
    os.makedirs(a.data_dir, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs",
                       a.data_dir], stderr=subprocess.DEVNULL).returncode:
        pytest.skip("its data_dir is a tmpfs of its own: needs root")
    filler = os.path.join(a.data_dir, "filler")
    c = Client(cl)
    js = cl.js()
    try:
        a.start(wait=False)
        a.wait_ready()
        assert nodes.wait_leader().node == "a"
        nodes["b"].start(wait=False)
        nodes["b"].wait_ready()
        h = held(c)
        acked = set(submit_batch(c, h, 80, "first"))
        # The disk fills up.
        subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=64k"],
                       stderr=subprocess.DEVNULL)
        answered, unanswered, failed = {}, [], []
        for k in range(100):
            tag = "t%d" % k
            try:
                rep = c.nc.request("batchd.v1.ha.run.submit_batch",
                                   batch_req(h, 80, tag)
                                   .SerializeToString(), timeout=3.0)
            except NatsError:           # no answer
                unanswered.append(tag)
                break
            rep = pb.SubmitJobRunsReply.FromString(rep)
            if rep.HasField("error"):
                failed.append(tag)
                break
            answered[tag] = [r.uuid for r in rep.job_runs]
        assert unanswered or failed, "the disk never filled"
        os.unlink(filler)
        assert not failed, "a commit the stream took answered as failed"
        wait_until(lambda: "starting again as a standby" in a.log_text(),
                   30, what="a to step down")
        nodes.wait_leader(other_than="a")
        for uuids in answered.values():
            acked |= set(uuids)
        runs = all_runs(c)
        have = {r.uuid for r in runs}
        assert acked <= have, "%d acknowledged runs lost" % len(
            acked - have)
        tags = {}
        for r in runs:
            tag = r.env.get("BATCH")
            tags[tag] = tags.get(tag, 0) + 1
        for tag in unanswered:
            assert tags.get(tag, 0) in (0, 80), (tag, tags[tag])
        want = state(c)
        # a follows again, with all of it: it leads with the same state.
        wait_caught_up(nodes, ("a",), js, log)
        fail_over_through(nodes, c, want, ("a",))
    finally:
        c.close()
        try:
            nodes.close()
        finally:
            subprocess.run(["umount", "-l", a.data_dir])
