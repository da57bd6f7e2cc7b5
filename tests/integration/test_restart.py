"""State survives restarts (SIGTERM and kill -9), and batchd copes with NATS
being down at start."""

import os
import time

from batchd.v1 import batchd_pb2 as pb
from harness import assert_error, assert_ok


def _jobdef_req(name, i):
    r = pb.CreateJobDefinitionRequest(name=name, description="d%d" % i)
    c = r.config
    if i % 3 == 0:
        c.source.type = pb.GIT
        c.source.git.repo_url = "https://git.example.com/r%d.git" % i
        c.source.git.token = "tok%d" % i
        c.source.git.reference = "v%d" % i
    elif i % 3 == 1:
        c.source.type = pb.S3
        c.source.s3.bucket_path = "bucket/prefix%d" % i
        c.source.s3.region = "eu-west-1"
    else:
        c.source.type = pb.WORKSPACE
        c.source.workspace.path = "jobs"
    c.type = pb.PYTHON if i % 2 == 0 else pb.SQL
    c.source_location = "main%d.%s" % (i, "py" if i % 2 == 0 else "sql")
    c.args = "--n %d 'a b'" % i
    c.retry_strategy.num_retries = i % 4
    c.env["I"] = str(i)
    if i % 2:
        r.cluster_config.instance_type = "m5.large"
        r.cluster_config.workers_quantity = i
    return r


def _cluster_req(name, i):
    r = pb.CreateClusterRequest(name=name)
    r.config.instance_type = "t3.small"
    r.config.workers_quantity = i + 1
    r.config.version = "1.%d" % i
    if i % 2:
        r.auto_resume = False
    return r


def populate(daemon, workspaces, n_defs=3, n_clusters=3):
    """Create objects; return {(ws, kind, uuid): acknowledged object}."""
    acked = {}
    for w in workspaces:
        os.makedirs(os.path.join(daemon.ws_root, w, "jobs"), exist_ok=True)
        for i in range(n_defs):
            rep = daemon.call("jobdef.create", _jobdef_req("def-%02d" % i, i),
                              pb.JobDefinitionReply, ws=w)
            assert_ok(rep)
            acked[(w, "jobdef", rep.job_definition.uuid)] = rep.job_definition
        for i in range(n_clusters):
            rep = daemon.call("cluster.create", _cluster_req("cl-%02d" % i, i),
                              pb.ClusterReply, ws=w)
            assert_ok(rep)
            acked[(w, "cluster", rep.cluster.uuid)] = rep.cluster
    return acked


def pause_first_cluster(daemon, ws, acked):
    key = sorted(k for k in acked if k[0] == ws and k[1] == "cluster")[0]
    rep = daemon.call("cluster.pause", pb.GetClusterRequest(uuid=key[2]),
                      pb.ClusterReply, ws=ws)
    assert_ok(rep)
    assert rep.cluster.state == pb.Cluster.PAUSED
    acked[key] = rep.cluster


def snapshot(daemon, workspaces):
    """Everything observable through the read verbs."""
    snap = {}
    for w in workspaces:
        for kind, req_cls, rep_cls, attr in [
                ("jobdef", pb.ListJobDefinitionsRequest,
                 pb.ListJobDefinitionsReply, "job_definitions"),
                ("cluster", pb.ListClustersRequest, pb.ListClustersReply,
                 "clusters")]:
            items, token = [], ""
            while True:
                rep = daemon.call(kind + ".list", req_cls(
                    page_size=2, page_token=token), rep_cls, ws=w)
                assert_ok(rep)
                items.extend(getattr(rep, attr))
                token = rep.next_page_token
                if not token:
                    break
            snap[(w, kind, "list")] = items
            for obj in items:
                if kind == "jobdef":
                    rep = daemon.call("jobdef.get", pb.GetJobDefinitionRequest(
                        uuid=obj.uuid), pb.JobDefinitionReply, ws=w)
                    assert_ok(rep)
                    snap[(w, kind, obj.uuid)] = rep.job_definition
                else:
                    rep = daemon.call("cluster.get", pb.GetClusterRequest(
                        uuid=obj.uuid), pb.ClusterReply, ws=w)
                    assert_ok(rep)
                    snap[(w, kind, obj.uuid)] = rep.cluster
    return snap


def assert_still_usable(daemon, w, acked):
    """Name indexes survived: duplicates refused, lookups by name work."""
    rep = daemon.call("jobdef.create", _jobdef_req("def-00", 0),
                      pb.JobDefinitionReply, ws=w)
    assert_error(rep, pb.ALREADY_EXISTS, "name")
    rep = daemon.call("cluster.create", _cluster_req("cl-00", 0),
                      pb.ClusterReply, ws=w)
    assert_error(rep, pb.ALREADY_EXISTS, "name")
    rep = daemon.call("jobdef.get", pb.GetJobDefinitionRequest(name="def-01"),
                      pb.JobDefinitionReply, ws=w)
    assert_ok(rep)
    assert rep.job_definition == acked[(w, "jobdef", rep.job_definition.uuid)]
    rep = daemon.call("cluster.get", pb.GetClusterRequest(name="cl-01"),
                      pb.ClusterReply, ws=w)
    assert_ok(rep)
    assert rep.cluster == acked[(w, "cluster", rep.cluster.uuid)]
    rep = daemon.call("jobdef.create", _jobdef_req("after-restart", 4),
                      pb.JobDefinitionReply, ws=w)
    assert_ok(rep)


def test_sigterm_restart_keeps_state(daemon_factory, ws):
    workspaces = [ws, ws[:55] + "-two"]
    d = daemon_factory().start()
    acked = populate(d, workspaces)
    pause_first_cluster(d, ws, acked)
    before = snapshot(d, workspaces)
    # The snapshot is what was acknowledged.
    for key, obj in acked.items():
        assert before[key] == obj

    d.stop()                 # asserts exit status 0
    assert d.exit_codes == [0]
    d.start()
    after = snapshot(d, workspaces)
    assert after == before
    paused = [c for c in after[(ws, "cluster", "list")]
              if c.state == pb.Cluster.PAUSED]
    assert len(paused) == 1

    # And once more through restart().
    d.restart()
    assert snapshot(d, workspaces) == before
    assert_still_usable(d, ws, acked)


def test_kill9_keeps_acknowledged(daemon_factory, ws):
    workspaces = [ws, ws[:55] + "-two"]
    d = daemon_factory().start()
    acked = populate(d, workspaces, n_defs=10, n_clusters=5)
    pause_first_cluster(d, ws, acked)
    # Last acknowledged write just before the kill.
    rep = d.call("jobdef.create", _jobdef_req("last-one", 2),
                 pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    acked[(ws, "jobdef", rep.job_definition.uuid)] = rep.job_definition
    deleted = [k for k in acked if k[:2] == (ws, "cluster")][-1]
    rep = d.call("cluster.delete", pb.GetClusterRequest(uuid=deleted[2]),
                 pb.DeleteReply, ws=ws)
    assert_ok(rep)
    del acked[deleted]

    rc = d.kill9()
    assert rc == -9
    d.start()
    after = snapshot(d, workspaces)
    for key, obj in acked.items():
        assert key in after, "acknowledged %s %s lost" % (key[1], key[2])
        assert after[key] == obj
    assert deleted not in after
    for w in workspaces:
        for kind in ("jobdef", "cluster"):
            assert sorted(o.uuid for o in after[(w, kind, "list")]) == \
                sorted(k[2] for k in acked if k[:2] == (w, kind))
    assert_still_usable(d, ws, acked)


def test_starts_while_nats_down(make_nats, daemon_factory, ws):
    srv = make_nats()                     # port chosen, server not started
    d = daemon_factory(nats_url=srv.url)
    d.start(wait=False)
    time.sleep(1.5)
    assert d.running(), "batchd exited while NATS was down\n" + d.log_tail()
    srv.start()
    d.wait_ready(timeout=15.0)
    rep = d.call("cluster.create", _cluster_req("late", 0), pb.ClusterReply,
                 ws=ws)
    assert_ok(rep)
    rep = d.call("cluster.get", pb.GetClusterRequest(name="late"),
                 pb.ClusterReply, ws=ws)
    assert_ok(rep)
    d.stop()


def test_sigterm_answers_every_command_received(daemon_factory, ws):
    """SIGTERM with commands in flight: batchd drains its subscriptions
    (cnats unsubscribes and flushes; the loop takes what is left), so
    every command the server routed to it before the signal is applied,
    committed and answered before it exits."""
    n = 1000
    d = daemon_factory().start()
    nc = d.nc()
    inbox = nc.new_inbox()
    sub = nc.subscribe(inbox + ".*")
    for i in range(n):
        nc.publish(d.subject("cluster.create", ws),
                   _cluster_req("drain-%04d" % i, i).SerializeToString(),
                   reply="%s.%d" % (inbox, i))
    nc.flush()          # the server has routed all n to batchd
    d.stop()            # SIGTERM now; asserts exit status 0
    answered = {}
    while len(answered) < n:
        subject, _reply, data = sub.next_msg(timeout=5.0)
        rep = pb.ClusterReply.FromString(data)
        assert_ok(rep)
        answered[int(subject.rsplit(".", 1)[1])] = rep.cluster.uuid
    assert sorted(answered) == list(range(n))

    d.start()
    for i, uuid in answered.items():
        rep = d.call("cluster.get", pb.GetClusterRequest(uuid=uuid),
                     pb.ClusterReply, ws=ws)
        assert_ok(rep)
        assert rep.cluster.name == "drain-%04d" % i
