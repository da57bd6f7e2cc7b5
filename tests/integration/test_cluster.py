"""cluster.{create,get,list,pause,resume,delete} against the contract in
proto/batchd/v1/batchd.proto."""

import time
import uuid as uuidlib

import pytest

from batchd.v1 import batchd_pb2 as pb
from harness import UUID_RE, assert_error, assert_ok

pytestmark = pytest.mark.usefixtures("nats_server")

RUNNING = pb.Cluster.RUNNING
PAUSED = pb.Cluster.PAUSED


def cluster_req(name, workers=2, instance_type="m5.large", version="3.5",
                **kw):
    r = pb.CreateClusterRequest(name=name, **kw)
    r.config.instance_type = instance_type
    r.config.workers_quantity = workers
    r.config.version = version
    return r


def create(daemon, ws, name, **kw):
    rep = daemon.call("cluster.create", cluster_req(name, **kw),
                      pb.ClusterReply, ws=ws)
    assert_ok(rep)
    return rep.cluster


def verb(daemon, ws, v, uuid="", name=""):
    return daemon.call("cluster." + v, pb.GetClusterRequest(
        uuid=uuid, name=name), pb.ClusterReply, ws=ws)


def list_all(daemon, ws):
    out, token = [], ""
    for _ in range(1000):
        rep = daemon.call("cluster.list", pb.ListClustersRequest(
            page_size=1000, page_token=token), pb.ListClustersReply, ws=ws)
        assert_ok(rep)
        out.extend(rep.clusters)
        token = rep.next_page_token
        if not token:
            return out
    raise AssertionError("list never ended")


def test_create_defaults(daemon, ws):
    before = int(time.time() * 1000)
    c = create(daemon, ws, "etl")
    after = int(time.time() * 1000)
    assert UUID_RE.match(c.uuid), c.uuid
    assert c.name == "etl"
    assert c.workspace == ws
    assert c.config.instance_type == "m5.large"
    assert c.config.workers_quantity == 2
    assert c.config.version == "3.5"
    assert c.state == RUNNING
    assert c.auto_resume is True
    assert c.ephemeral is False
    assert c.queued == 0
    assert c.active_run_uuid == ""
    assert before - 1000 <= c.created_at_ms <= after + 1000
    rep = verb(daemon, ws, "get", uuid=c.uuid)
    assert_ok(rep)
    assert rep.cluster == c


def test_create_auto_resume_false(daemon, ws):
    c = create(daemon, ws, "manual", auto_resume=False)
    assert c.auto_resume is False
    assert verb(daemon, ws, "get", uuid=c.uuid).cluster.auto_resume is False
    c2 = create(daemon, ws, "auto", auto_resume=True)
    assert c2.auto_resume is True


def test_create_workers_zero(daemon, ws):
    existing = create(daemon, ws, "existing")
    rep = daemon.call("cluster.create", cluster_req("zero", workers=0),
                      pb.ClusterReply, ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, "config.workers_quantity")
    assert list_all(daemon, ws) == [existing]


def test_create_missing_name(daemon, ws):
    existing = create(daemon, ws, "existing")
    rep = daemon.call("cluster.create", cluster_req(""), pb.ClusterReply,
                      ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, "name")
    assert list_all(daemon, ws) == [existing]


def test_create_duplicate_name(daemon, ws):
    existing = create(daemon, ws, "dup")
    rep = daemon.call("cluster.create", cluster_req("dup", workers=5),
                      pb.ClusterReply, ws=ws)
    assert_error(rep, pb.ALREADY_EXISTS, "name")
    assert list_all(daemon, ws) == [existing]


def test_get_by_uuid_and_name(daemon, ws):
    c = create(daemon, ws, "findme")
    create(daemon, ws, "other")
    rep = verb(daemon, ws, "get", uuid=c.uuid)
    assert_ok(rep)
    assert rep.cluster == c
    rep = verb(daemon, ws, "get", name="findme")
    assert_ok(rep)
    assert rep.cluster == c
    assert_error(verb(daemon, ws, "get", uuid=str(uuidlib.uuid4())),
                 pb.NOT_FOUND)
    assert_error(verb(daemon, ws, "get", name="nope"), pb.NOT_FOUND)
    rep = verb(daemon, ws, "get")
    assert_error(rep, pb.INVALID_ARGUMENT, "uuid")
    assert "uuid or name" in rep.error.message


def test_list_paging(daemon, ws):
    made = {}
    for n in ["c-3", "c-5", "c-1", "c-4", "c-2"]:
        made[n] = create(daemon, ws, n)
    pages, token = [], ""
    for _ in range(10):
        rep = daemon.call("cluster.list", pb.ListClustersRequest(
            page_size=2, page_token=token), pb.ListClustersReply, ws=ws)
        assert_ok(rep)
        pages.append([c.name for c in rep.clusters])
        token = rep.next_page_token
        if not token:
            break
    assert pages == [["c-1", "c-2"], ["c-3", "c-4"], ["c-5"]]
    listed = list_all(daemon, ws)
    assert [c.name for c in listed] == sorted(made)
    for c in listed:
        assert c == made[c.name]


def test_pause_resume(daemon, ws):
    c = create(daemon, ws, "pr")
    rep = verb(daemon, ws, "pause", uuid=c.uuid)
    assert_ok(rep)
    assert rep.cluster.uuid == c.uuid
    assert rep.cluster.state == PAUSED
    assert verb(daemon, ws, "get", uuid=c.uuid).cluster.state == PAUSED

    # Pausing a paused cluster is fine.
    rep = verb(daemon, ws, "pause", uuid=c.uuid)
    assert_ok(rep)
    assert rep.cluster.state == PAUSED
    assert verb(daemon, ws, "get", uuid=c.uuid).cluster.state == PAUSED

    rep = verb(daemon, ws, "resume", uuid=c.uuid)
    assert_ok(rep)
    assert rep.cluster.state == RUNNING
    got = verb(daemon, ws, "get", uuid=c.uuid).cluster
    assert got.state == RUNNING
    # Nothing else moved.
    assert got == c


def test_pause_resume_unknown(daemon, ws):
    for v in ("pause", "resume"):
        assert_error(verb(daemon, ws, v, uuid=str(uuidlib.uuid4())),
                     pb.NOT_FOUND)


def test_delete(daemon, ws):
    c = create(daemon, ws, "doomed")
    keep = create(daemon, ws, "keeper")
    rep = daemon.call("cluster.delete", pb.GetClusterRequest(uuid=c.uuid),
                      pb.DeleteReply, ws=ws)
    assert_ok(rep)
    assert_error(verb(daemon, ws, "get", uuid=c.uuid), pb.NOT_FOUND)
    assert_error(verb(daemon, ws, "get", name="doomed"), pb.NOT_FOUND)
    assert list_all(daemon, ws) == [keep]


def test_delete_unknown(daemon, ws):
    keep = create(daemon, ws, "keeper")
    rep = daemon.call("cluster.delete", pb.GetClusterRequest(
        uuid=str(uuidlib.uuid4())), pb.DeleteReply, ws=ws)
    assert_error(rep, pb.NOT_FOUND)
    assert list_all(daemon, ws) == [keep]
