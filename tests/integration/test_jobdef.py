"""jobdef.{create,get,list,update,delete} against the contract in
proto/batchd/v1/batchd.proto."""

import os
import time
import uuid as uuidlib

import pytest

from batchd.v1 import batchd_pb2 as pb
from harness import UUID_RE, assert_error, assert_ok

pytestmark = pytest.mark.usefixtures("nats_server")


# ---------------------------------------------------------------- helpers

def ws_config(path="jobs", location="main.py"):
    c = pb.JobConfig()
    c.source.type = pb.WORKSPACE
    c.source.workspace.path = path
    c.type = pb.PYTHON
    c.source_location = location
    return c


def make_ws_files(daemon, ws, path="jobs", location="main.py"):
    d = os.path.join(daemon.ws_root, ws, path)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, location), "w") as f:
        f.write("print('hello')\n")


def create_req(name, description="", config=None):
    r = pb.CreateJobDefinitionRequest(name=name, description=description)
    r.config.CopyFrom(config if config is not None else ws_config())
    return r


def create(daemon, ws, name, **kw):
    rep = daemon.call("jobdef.create", create_req(name, **kw),
                      pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    return rep.job_definition


def get(daemon, ws, uuid="", name=""):
    return daemon.call("jobdef.get", pb.GetJobDefinitionRequest(
        uuid=uuid, name=name), pb.JobDefinitionReply, ws=ws)


def list_all(daemon, ws, page_size=1000):
    out = []
    token = ""
    for _ in range(1000):
        rep = daemon.call("jobdef.list", pb.ListJobDefinitionsRequest(
            page_size=page_size, page_token=token),
            pb.ListJobDefinitionsReply, ws=ws)
        assert_ok(rep)
        out.extend(rep.job_definitions)
        token = rep.next_page_token
        if not token:
            return out
    raise AssertionError("list never ended")


def assert_defaults(cfg):
    rs = cfg.retry_strategy
    assert cfg.HasField("retry_strategy")
    assert rs.HasField("num_retries") and rs.num_retries == 0
    assert rs.HasField("retry_delay_seconds") and rs.retry_delay_seconds == 60
    assert rs.HasField("auto_retry_on_timeout")
    assert rs.auto_retry_on_timeout is False
    assert cfg.HasField("timeout_seconds") and cfg.timeout_seconds == 3600


# ---------------------------------------------------------------- create / get

def test_create_fills_defaults(daemon, ws):
    make_ws_files(daemon, ws)
    before = int(time.time() * 1000)
    jd = create(daemon, ws, "etl-daily", description="nightly ETL")
    after = int(time.time() * 1000)

    assert UUID_RE.match(jd.uuid), jd.uuid
    assert str(uuidlib.UUID(jd.uuid)) == jd.uuid
    assert jd.name == "etl-daily"
    assert jd.description == "nightly ETL"
    assert jd.workspace == ws
    assert jd.config.source.type == pb.WORKSPACE
    assert jd.config.source.WhichOneof("definition") == "workspace"
    assert jd.config.source.workspace.path == "jobs"
    assert jd.config.type == pb.PYTHON
    assert jd.config.source_location == "main.py"
    assert_defaults(jd.config)
    assert not jd.HasField("cluster_config")
    assert before - 1000 <= jd.created_at_ms <= after + 1000
    assert jd.updated_at_ms >= jd.created_at_ms


def test_create_keeps_explicit_values(daemon, ws):
    make_ws_files(daemon, ws)
    cfg = ws_config()
    cfg.args = "--day 'two words'"
    cfg.retry_strategy.num_retries = 3
    cfg.retry_strategy.retry_delay_seconds = 0
    cfg.retry_strategy.auto_retry_on_timeout = True
    cfg.timeout_seconds = 5
    cfg.env["A"] = "1"
    cfg.env["EMPTY"] = ""
    req = create_req("explicit", config=cfg)
    req.cluster_config.instance_type = "m5.large"
    req.cluster_config.workers_quantity = 4
    req.cluster_config.version = "3.5"
    rep = daemon.call("jobdef.create", req, pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    jd = rep.job_definition
    c = jd.config
    assert c.args == "--day 'two words'"
    assert c.retry_strategy.num_retries == 3
    assert c.retry_strategy.HasField("retry_delay_seconds")
    assert c.retry_strategy.retry_delay_seconds == 0
    assert c.retry_strategy.auto_retry_on_timeout is True
    assert c.timeout_seconds == 5
    assert dict(c.env) == {"A": "1", "EMPTY": ""}
    assert jd.cluster_config == req.cluster_config
    assert_ok(get(daemon, ws, uuid=jd.uuid))
    assert get(daemon, ws, uuid=jd.uuid).job_definition == jd


def test_create_duplicate_name(daemon, ws):
    make_ws_files(daemon, ws)
    first = create(daemon, ws, "dup")
    rep = daemon.call("jobdef.create", create_req("dup", description="x"),
                      pb.JobDefinitionReply, ws=ws)
    assert_error(rep, pb.ALREADY_EXISTS, "name")
    assert list_all(daemon, ws) == [first]


def test_same_name_other_workspace(daemon, ws):
    ws2 = ws[:55] + "-other"
    make_ws_files(daemon, ws)
    make_ws_files(daemon, ws2)
    a = create(daemon, ws, "shared")
    b = create(daemon, ws2, "shared")
    assert a.uuid != b.uuid
    assert a.workspace == ws and b.workspace == ws2
    assert list_all(daemon, ws) == [a]
    assert list_all(daemon, ws2) == [b]
    # Names and uuids are per workspace.
    assert get(daemon, ws, name="shared").job_definition == a
    assert get(daemon, ws2, name="shared").job_definition == b
    assert_error(get(daemon, ws2, uuid=a.uuid), pb.NOT_FOUND)


def test_get_by_uuid_and_name(daemon, ws):
    make_ws_files(daemon, ws)
    jd = create(daemon, ws, "lookup")
    create(daemon, ws, "other")
    rep = get(daemon, ws, uuid=jd.uuid)
    assert_ok(rep)
    assert rep.job_definition == jd
    rep = get(daemon, ws, name="lookup")
    assert_ok(rep)
    assert rep.job_definition == jd


def test_get_unknown(daemon, ws):
    make_ws_files(daemon, ws)
    create(daemon, ws, "exists")
    assert_error(get(daemon, ws, uuid=str(uuidlib.uuid4())), pb.NOT_FOUND)
    assert_error(get(daemon, ws, name="does-not-exist"), pb.NOT_FOUND)


def test_list_paging(daemon, ws):
    make_ws_files(daemon, ws)
    made = {}
    for n in ["def-e", "def-c", "def-a", "def-d", "def-b"]:
        made[n] = create(daemon, ws, n)
    pages = []
    token = ""
    for _ in range(10):
        rep = daemon.call("jobdef.list", pb.ListJobDefinitionsRequest(
            page_size=2, page_token=token), pb.ListJobDefinitionsReply, ws=ws)
        assert_ok(rep)
        pages.append([j.name for j in rep.job_definitions])
        token = rep.next_page_token
        if not token:
            break
        assert len(rep.job_definitions) == 2
    assert pages == [["def-a", "def-b"], ["def-c", "def-d"], ["def-e"]]
    everything = list_all(daemon, ws)
    assert [j.name for j in everything] == sorted(made)
    for j in everything:
        assert j == made[j.name]
    # Default page size covers all five.
    rep = daemon.call("jobdef.list", pb.ListJobDefinitionsRequest(),
                      pb.ListJobDefinitionsReply, ws=ws)
    assert_ok(rep)
    assert [j.name for j in rep.job_definitions] == sorted(made)
    assert rep.next_page_token == ""


def test_list_empty_workspace(daemon, ws):
    rep = daemon.call("jobdef.list", pb.ListJobDefinitionsRequest(),
                      pb.ListJobDefinitionsReply, ws=ws)
    assert_ok(rep)
    assert len(rep.job_definitions) == 0
    assert rep.next_page_token == ""


# ---------------------------------------------------------------- update

def test_update_description_then_config(daemon, ws):
    make_ws_files(daemon, ws)
    make_ws_files(daemon, ws, path="jobs2", location="other.py")
    jd = create(daemon, ws, "upd", description="old")
    time.sleep(0.01)

    # Description only: config kept.
    req = pb.UpdateJobDefinitionRequest(uuid=jd.uuid, description="new")
    rep = daemon.call("jobdef.update", req, pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    j1 = rep.job_definition
    assert j1.uuid == jd.uuid and j1.name == "upd"
    assert j1.description == "new"
    assert j1.config == jd.config
    assert j1.created_at_ms == jd.created_at_ms
    assert j1.updated_at_ms >= jd.updated_at_ms
    assert get(daemon, ws, uuid=jd.uuid).job_definition == j1

    # Config only: description kept, config replaced, defaults filled.
    cfg = ws_config(path="jobs2", location="other.py")
    cfg.retry_strategy.num_retries = 2
    cfg.timeout_seconds = 10
    req = pb.UpdateJobDefinitionRequest(uuid=jd.uuid)
    req.config.CopyFrom(cfg)
    rep = daemon.call("jobdef.update", req, pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    j2 = rep.job_definition
    assert j2.description == "new"
    assert j2.config.source.workspace.path == "jobs2"
    assert j2.config.source_location == "other.py"
    assert j2.config.retry_strategy.num_retries == 2
    assert j2.config.retry_strategy.HasField("retry_delay_seconds")
    assert j2.config.retry_strategy.retry_delay_seconds == 60
    assert j2.config.HasField("timeout_seconds")
    assert j2.config.timeout_seconds == 10
    assert j2.created_at_ms == jd.created_at_ms
    assert j2.updated_at_ms >= j1.updated_at_ms
    assert get(daemon, ws, uuid=jd.uuid).job_definition == j2
    assert list_all(daemon, ws) == [j2]

    # Empty description is a value, not "unset".
    req = pb.UpdateJobDefinitionRequest(uuid=jd.uuid, description="")
    rep = daemon.call("jobdef.update", req, pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    assert rep.job_definition.description == ""
    assert rep.job_definition.config == j2.config


def test_update_cluster_config_and_clear(daemon, ws):
    make_ws_files(daemon, ws)
    jd = create(daemon, ws, "cc")
    req = pb.UpdateJobDefinitionRequest(uuid=jd.uuid)
    req.cluster_config.instance_type = "m5.xlarge"
    req.cluster_config.workers_quantity = 2
    rep = daemon.call("jobdef.update", req, pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    assert rep.job_definition.cluster_config.workers_quantity == 2
    assert rep.job_definition.config == jd.config
    req = pb.UpdateJobDefinitionRequest(uuid=jd.uuid,
                                        clear_cluster_config=True)
    rep = daemon.call("jobdef.update", req, pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    assert not rep.job_definition.HasField("cluster_config")
    assert not get(daemon, ws, uuid=jd.uuid).job_definition.HasField(
        "cluster_config")


def test_update_unknown(daemon, ws):
    make_ws_files(daemon, ws)
    jd = create(daemon, ws, "present")
    req = pb.UpdateJobDefinitionRequest(uuid=str(uuidlib.uuid4()),
                                        description="x")
    rep = daemon.call("jobdef.update", req, pb.JobDefinitionReply, ws=ws)
    assert_error(rep, pb.NOT_FOUND)
    assert list_all(daemon, ws) == [jd]


def test_update_invalid_changes_nothing(daemon, ws):
    make_ws_files(daemon, ws)
    jd = create(daemon, ws, "keep")
    req = pb.UpdateJobDefinitionRequest(uuid=jd.uuid, description="changed")
    req.config.CopyFrom(ws_config(path="../escape"))
    rep = daemon.call("jobdef.update", req, pb.JobDefinitionReply, ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, "config.source.workspace.path")
    assert list_all(daemon, ws) == [jd]


# ---------------------------------------------------------------- delete

def test_delete(daemon, ws):
    make_ws_files(daemon, ws)
    jd = create(daemon, ws, "gone")
    keep = create(daemon, ws, "kept")
    rep = daemon.call("jobdef.delete", pb.DeleteJobDefinitionRequest(
        uuid=jd.uuid), pb.DeleteReply, ws=ws)
    assert_ok(rep)
    assert_error(get(daemon, ws, uuid=jd.uuid), pb.NOT_FOUND)
    assert_error(get(daemon, ws, name="gone"), pb.NOT_FOUND)
    assert list_all(daemon, ws) == [keep]
    # Deleting again: it does not exist any more.
    rep = daemon.call("jobdef.delete", pb.DeleteJobDefinitionRequest(
        uuid=jd.uuid), pb.DeleteReply, ws=ws)
    assert_error(rep, pb.NOT_FOUND)
    # The name is free again, with a new uuid.
    again = create(daemon, ws, "gone")
    assert again.uuid != jd.uuid
    assert get(daemon, ws, name="gone").job_definition == again
    assert [j.name for j in list_all(daemon, ws)] == ["gone", "kept"]


def test_delete_unknown(daemon, ws):
    rep = daemon.call("jobdef.delete", pb.DeleteJobDefinitionRequest(
        uuid=str(uuidlib.uuid4())), pb.DeleteReply, ws=ws)
    assert_error(rep, pb.NOT_FOUND)


# ---------------------------------------------------------------- validation

def _no_name(r):
    r.name = ""


def _no_config(r):
    r.ClearField("config")


def _no_source_type(r):
    r.config.source.type = pb.SOURCE_TYPE_UNSPECIFIED


def _source_mismatch(r):
    r.config.source.type = pb.WORKSPACE
    r.config.source.git.repo_url = "https://example.com/r.git"


def _no_type(r):
    r.config.type = pb.JOB_TYPE_UNSPECIFIED


def _no_location(r):
    r.config.source_location = ""


def _escape(r):
    r.config.source.workspace.path = "../x"


def _absolute(r):
    r.config.source.workspace.path = "/etc"


def _git_no_url(r):
    r.config.source.type = pb.GIT
    r.config.source.git.reference = "main"


def _s3_no_bucket(r):
    r.config.source.type = pb.S3
    r.config.source.s3.region = "eu-west-1"


def _workers_zero(r):
    r.cluster_config.instance_type = "m5.large"
    r.cluster_config.workers_quantity = 0


def _timeout_zero(r):
    r.config.timeout_seconds = 0


def _long_name(r):
    r.name = "n" * 256


def _long_name_utf8(r):
    r.name = "\u00e9" * 128     # 128 characters, 256 bytes


INVALID_CREATES = [
    ("missing-name", _no_name, "name"),
    ("missing-config", _no_config, "config"),
    ("missing-source-type", _no_source_type, "config.source.type"),
    ("source-mismatch", _source_mismatch, "config.source"),
    ("missing-type", _no_type, "config.type"),
    ("empty-source-location", _no_location, "config.source_location"),
    ("path-escapes", _escape, "config.source.workspace.path"),
    ("path-absolute", _absolute, "config.source.workspace.path"),
    ("git-no-repo-url", _git_no_url, "config.source.git.repo_url"),
    ("s3-no-bucket", _s3_no_bucket, "config.source.s3.bucket_path"),
    ("workers-zero", _workers_zero, "cluster_config.workers_quantity"),
    ("timeout-zero", _timeout_zero, "config.timeout_seconds"),
    ("name-256-bytes", _long_name, "name"),
    ("name-256-utf8-bytes", _long_name_utf8, "name"),
]


@pytest.mark.parametrize("mutate,field",
                         [(m, f) for _, m, f in INVALID_CREATES],
                         ids=[i for i, _, _ in INVALID_CREATES])
def test_create_invalid(daemon, ws, mutate, field):
    make_ws_files(daemon, ws)
    existing = create(daemon, ws, "existing")
    req = create_req("candidate")
    mutate(req)
    rep = daemon.call("jobdef.create", req, pb.JobDefinitionReply, ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, field)
    assert list_all(daemon, ws) == [existing]


def test_name_255_bytes_accepted(daemon, ws):
    make_ws_files(daemon, ws)
    jd = create(daemon, ws, "n" * 255)
    assert jd.name == "n" * 255
    assert get(daemon, ws, name="n" * 255).job_definition == jd


def test_bad_workspace(daemon, ws):
    make_ws_files(daemon, ws)
    existing = create(daemon, ws, "existing")
    for bad in ["bad$ws", "w" * 65]:
        rep = daemon.call("jobdef.create", create_req("x"),
                          pb.JobDefinitionReply, ws=bad)
        assert_error(rep, pb.INVALID_ARGUMENT, "workspace")
        rep = daemon.call("jobdef.list", pb.ListJobDefinitionsRequest(),
                          pb.ListJobDefinitionsReply, ws=bad)
        assert_error(rep, pb.INVALID_ARGUMENT, "workspace")
    assert list_all(daemon, ws) == [existing]


def test_garbage_payload(daemon, ws):
    make_ws_files(daemon, ws)
    existing = create(daemon, ws, "existing")
    rep = daemon.call("jobdef.create", b"\xff\xff\xff",
                      pb.JobDefinitionReply, ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, fields=("", "payload"))
    assert list_all(daemon, ws) == [existing]


def test_empty_payload(daemon, ws):
    make_ws_files(daemon, ws)
    existing = create(daemon, ws, "existing")
    rep = daemon.call("jobdef.create", b"", pb.JobDefinitionReply, ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, "name")
    assert list_all(daemon, ws) == [existing]


def test_unknown_verb(daemon, ws):
    make_ws_files(daemon, ws)
    existing = create(daemon, ws, "existing")
    rep = daemon.call("jobdef.frobnicate", create_req("x"), pb.DeleteReply,
                      ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, "subject")
    assert list_all(daemon, ws) == [existing]


# ---------------------------------------------------------------- secrets

def test_git_token_masked(daemon, ws):
    cfg = pb.JobConfig()
    cfg.source.type = pb.GIT
    cfg.source.git.repo_url = "https://git.example.com/team/jobs.git"
    cfg.source.git.username = "bot"
    cfg.source.git.token = "s3cr3t-t0ken"
    cfg.source.git.reference = "main"
    cfg.type = pb.PYTHON
    cfg.source_location = "etl/main.py"
    rep = daemon.call("jobdef.create", create_req("from-git", config=cfg),
                      pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    jd = rep.job_definition
    g = jd.config.source.git
    assert jd.config.source.type == pb.GIT
    assert g.token == "****"
    assert g.repo_url == "https://git.example.com/team/jobs.git"
    assert g.username == "bot"
    assert g.reference == "main"

    got = get(daemon, ws, uuid=jd.uuid)
    assert_ok(got)
    assert got.job_definition.config.source.git.token == "****"
    assert got.job_definition == jd
    listed = list_all(daemon, ws)
    assert [j.config.source.git.token for j in listed] == ["****"]
    # A description-only update does not expose it either.
    rep = daemon.call("jobdef.update", pb.UpdateJobDefinitionRequest(
        uuid=jd.uuid, description="d"), pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    assert rep.job_definition.config.source.git.token == "****"
    for r in [rep, got]:
        assert b"s3cr3t-t0ken" not in r.SerializeToString()
