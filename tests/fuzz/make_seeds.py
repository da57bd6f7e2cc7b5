#!/usr/bin/python3
"""Write the seed corpus of every fuzz target into tests/fuzz/corpus/.

A seed is one request as the harness (tests/fuzz/fuzz.c) reads it: byte 0
chooses the subject (low nibble: 0 workspace "w", 11 workspace "o", 10 and
12-15 bad subjects) and the verb (high nibble, for cluster_get, run_get and
schedule_get),
the rest is the serialized request. UUIDs are those the harness gives the
objects it seeds (seed_uuid(n) in seed.c).

Run from the top of the tree after `make build/py/batchd/v1/batchd_pb2.py`:
    /usr/bin/python3 tests/fuzz/make_seeds.py
The seeds are committed; this script is only needed to change them. Files
named seed-* are rewritten; others (regression inputs) are left alone.
"""
import os
import struct
import sys
import zlib

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(top, "build", "py"))
from batchd.v1 import batchd_pb2 as pb  # noqa: E402


def uuid(n):
    return "00000000-0000-4000-8000-%012x" % n


# The seeded objects (seed.c, seed()).
PY, GIT, SLOW = uuid(1), uuid(2), uuid(3)
C1, PAUSED, RESUMABLE, BUSY = uuid(4), uuid(5), uuid(6), uuid(7)
RUN_RETRY, RUN_QUEUED_K1, RUN_QUEUED = uuid(8), uuid(9), uuid(10)
RUN_FAILED_LOGS, RUN_SQL, RUN_GIT = uuid(11), uuid(13), uuid(14)
HOLD, RUN_HOLD, RUN_CANCELLED = uuid(15), uuid(16), uuid(17)
O_PY, O_C1, O_RUN = uuid(18), uuid(19), uuid(20)
NIGHTLY, OFTEN = uuid(21), uuid(22)

W, EXTRA_TOKEN, O, UNKNOWN_VERB, BAD_WS, LONG_WS, BAD_VERSION = \
    0, 10, 11, 12, 13, 14, 15


def page_token(letter, payload, ws="w"):
    """A next_page_token as wire_page_token() (daemon/wire.c) makes it."""
    crc = zlib.crc32(payload, zlib.crc32(ws.encode() + b"\0",
                                         zlib.crc32(letter.encode())))
    return "%s%s.%08x" % (letter, payload.hex(), crc)


def sel(subject=W, verb=0):
    return bytes([(verb << 4) | subject])


def jobconfig(**kw):
    c = pb.JobConfig(type=pb.PYTHON, source_location="main.py")
    c.source.type = pb.WORKSPACE
    c.source.workspace.path = "jobs"
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def seeds():
    s = {}

    # jobdef.create
    t = s.setdefault("jobdef_create", {})
    m = pb.CreateJobDefinitionRequest(name="new", description="d",
                                      config=jobconfig(args="-v 'a b'"))
    m.config.env["K"] = "v"
    m.config.retry_strategy.num_retries = 3
    m.config.retry_strategy.retry_delay_seconds = 5
    m.config.timeout_seconds = 30
    m.cluster_config.instance_type = "small"
    m.cluster_config.workers_quantity = 2
    t["full"] = sel() + m.SerializeToString()
    m = pb.CreateJobDefinitionRequest(name="g", config=jobconfig())
    m.config.source.type = pb.GIT
    m.config.source.git.repo_url = "https://example.com/r.git"
    m.config.source.git.token = "tok"
    t["git"] = sel() + m.SerializeToString()
    m = pb.CreateJobDefinitionRequest(name="s", config=jobconfig(type=pb.SQL))
    m.config.source.type = pb.S3
    m.config.source.s3.bucket_path = "bucket/key"
    m.config.source.s3.region = "eu-west-1"
    t["s3-sql"] = sel() + m.SerializeToString()
    t["exists"] = sel() + pb.CreateJobDefinitionRequest(
        name="py", config=jobconfig()).SerializeToString()
    t["other-ws"] = sel(O) + pb.CreateJobDefinitionRequest(
        name="py", config=jobconfig()).SerializeToString()
    t["no-config"] = sel() + pb.CreateJobDefinitionRequest(
        name="x").SerializeToString()
    m = pb.CreateJobDefinitionRequest(name="x", config=jobconfig())
    m.config.source.type = pb.GIT  # but the workspace member is set
    t["source-mismatch"] = sel() + m.SerializeToString()
    t["dotdot"] = sel() + pb.CreateJobDefinitionRequest(
        name="x", config=jobconfig(source_location="../x.py")).SerializeToString()
    raw = pb.CreateJobDefinitionRequest(name="AAAA", config=jobconfig())
    t["bad-utf8"] = sel() + raw.SerializeToString().replace(b"AAAA", b"A\xc0\xafA")
    raw = pb.CreateJobDefinitionRequest(name="x", config=jobconfig())
    raw.config.type = 7  # proto3 enums are open: any value goes on the wire
    t["bad-enum"] = sel() + raw.SerializeToString()
    t["bad-subject"] = sel(UNKNOWN_VERB) + pb.CreateJobDefinitionRequest(
        name="x", config=jobconfig()).SerializeToString()

    # jobdef.get
    t = s.setdefault("jobdef_get", {})
    t["uuid"] = sel() + pb.GetJobDefinitionRequest(uuid=PY).SerializeToString()
    t["name"] = sel() + pb.GetJobDefinitionRequest(name="git").SerializeToString()
    t["other-ws"] = sel() + pb.GetJobDefinitionRequest(uuid=O_PY).SerializeToString()
    t["o-by-name"] = sel(O) + pb.GetJobDefinitionRequest(name="py").SerializeToString()
    t["upper-uuid"] = sel() + pb.GetJobDefinitionRequest(
        uuid=PY.upper()).SerializeToString()
    t["empty"] = sel()

    # jobdef.list
    t = s.setdefault("jobdef_list", {})
    t["all"] = sel()
    t["page"] = sel() + pb.ListJobDefinitionsRequest(page_size=1).SerializeToString()
    t["token"] = sel() + pb.ListJobDefinitionsRequest(
        page_size=1, page_token=page_token("d", b"git")).SerializeToString()
    t["token-raw-name"] = sel() + pb.ListJobDefinitionsRequest(
        page_size=1, page_token="git").SerializeToString()
    t["too-big"] = sel() + pb.ListJobDefinitionsRequest(
        page_size=1001).SerializeToString()
    t["o"] = sel(O) + pb.ListJobDefinitionsRequest().SerializeToString()

    # jobdef.update
    t = s.setdefault("jobdef_update", {})
    t["description"] = sel() + pb.UpdateJobDefinitionRequest(
        uuid=PY, description="new").SerializeToString()
    t["config"] = sel() + pb.UpdateJobDefinitionRequest(
        uuid=SLOW, config=jobconfig(args="--fast")).SerializeToString()
    m = pb.UpdateJobDefinitionRequest(uuid=GIT)
    m.cluster_config.instance_type = "big"
    m.cluster_config.workers_quantity = 8
    t["cluster"] = sel() + m.SerializeToString()
    t["clear-cluster"] = sel() + pb.UpdateJobDefinitionRequest(
        uuid=PY, clear_cluster_config=True).SerializeToString()
    m.clear_cluster_config = True
    t["both"] = sel() + m.SerializeToString()
    t["other-ws"] = sel(O) + pb.UpdateJobDefinitionRequest(
        uuid=PY, description="x").SerializeToString()

    # jobdef.delete
    t = s.setdefault("jobdef_delete", {})
    t["py"] = sel() + pb.DeleteJobDefinitionRequest(uuid=PY).SerializeToString()
    t["git"] = sel() + pb.DeleteJobDefinitionRequest(uuid=GIT).SerializeToString()
    t["other-ws"] = sel() + pb.DeleteJobDefinitionRequest(uuid=O_PY).SerializeToString()
    t["o"] = sel(O) + pb.DeleteJobDefinitionRequest(uuid=O_PY).SerializeToString()
    t["no-uuid"] = sel()

    # cluster.create
    t = s.setdefault("cluster_create", {})
    m = pb.CreateClusterRequest(name="new", auto_resume=False)
    m.config.instance_type = "small"
    m.config.workers_quantity = 3
    m.config.version = "2"
    t["new"] = sel() + m.SerializeToString()
    m.name = "c1"
    t["exists"] = sel() + m.SerializeToString()
    t["o"] = sel(O) + m.SerializeToString()
    m.config.workers_quantity = 5000
    t["workers"] = sel() + m.SerializeToString()

    # cluster.get, .pause, .resume, .delete (verb in the high nibble)
    t = s.setdefault("cluster_get", {})
    t["get"] = sel(W, 0) + pb.GetClusterRequest(uuid=BUSY).SerializeToString()
    t["get-name"] = sel(W, 0) + pb.GetClusterRequest(name="paused").SerializeToString()
    t["pause"] = sel(W, 1) + pb.GetClusterRequest(uuid=C1).SerializeToString()
    t["resume"] = sel(W, 2) + pb.GetClusterRequest(uuid=PAUSED).SerializeToString()
    t["resume-busy"] = sel(W, 2) + pb.GetClusterRequest(uuid=RESUMABLE).SerializeToString()
    t["delete"] = sel(W, 3) + pb.GetClusterRequest(uuid=C1).SerializeToString()
    t["delete-busy"] = sel(W, 3) + pb.GetClusterRequest(uuid=BUSY).SerializeToString()
    t["o"] = sel(O, 0) + pb.GetClusterRequest(uuid=C1).SerializeToString()

    # cluster.list
    t = s.setdefault("cluster_list", {})
    t["all"] = sel()
    t["page"] = sel() + pb.ListClustersRequest(page_size=2).SerializeToString()
    t["token"] = sel() + pb.ListClustersRequest(
        page_size=2, page_token=page_token("c", b"busy")).SerializeToString()
    t["token-other-list"] = sel() + pb.ListClustersRequest(
        page_size=2, page_token=page_token("d", b"busy")).SerializeToString()
    t["o"] = sel(O)

    # run.submit
    t = s.setdefault("run_submit", {})
    t["c1"] = sel() + pb.SubmitJobRunRequest(
        job_definition_uuid=PY, cluster_uuid=C1).SerializeToString()
    t["ephemeral"] = sel() + pb.SubmitJobRunRequest(
        job_definition_uuid=SLOW).SerializeToString()
    t["no-cluster"] = sel() + pb.SubmitJobRunRequest(
        job_definition_uuid=GIT).SerializeToString()
    t["queue-full"] = sel() + pb.SubmitJobRunRequest(
        job_definition_uuid=PY, cluster_uuid=BUSY).SerializeToString()
    t["paused"] = sel() + pb.SubmitJobRunRequest(
        job_definition_uuid=PY, cluster_uuid=PAUSED).SerializeToString()
    t["resumes"] = sel() + pb.SubmitJobRunRequest(
        job_definition_uuid=PY, cluster_uuid=RESUMABLE).SerializeToString()
    t["queued"] = sel() + pb.SubmitJobRunRequest(
        job_definition_uuid=PY, cluster_uuid=HOLD).SerializeToString()
    t["idem-repeat"] = sel() + pb.SubmitJobRunRequest(
        job_definition_uuid=PY, cluster_uuid=BUSY,
        idempotency_key="k1").SerializeToString()
    m = pb.SubmitJobRunRequest(job_definition_uuid=PY, cluster_uuid=C1,
                               args="--x 'y z'", idempotency_key="k3")
    m.env["A"] = "b"
    t["args-env"] = sel() + m.SerializeToString()
    t["bad-args"] = sel() + pb.SubmitJobRunRequest(
        job_definition_uuid=PY, cluster_uuid=C1, args="'open").SerializeToString()
    t["other-ws"] = sel(O) + pb.SubmitJobRunRequest(
        job_definition_uuid=PY, cluster_uuid=C1).SerializeToString()
    t["o"] = sel(O) + pb.SubmitJobRunRequest(
        job_definition_uuid=O_PY, cluster_uuid=O_C1).SerializeToString()

    # run.submit_sql
    t = s.setdefault("run_submit_sql", {})
    t["c1"] = sel() + pb.SubmitSqlJobRunRequest(
        sql_query="select 1;", cluster_uuid=C1).SerializeToString()
    m = pb.SubmitSqlJobRunRequest(sql_query="select 2;", idempotency_key="q")
    m.cluster_config.instance_type = "small"
    m.cluster_config.workers_quantity = 1
    m.env["DB"] = "x"
    t["ephemeral"] = sel() + m.SerializeToString()
    t["no-sql"] = sel() + pb.SubmitSqlJobRunRequest(cluster_uuid=C1).SerializeToString()
    t["no-cluster"] = sel() + pb.SubmitSqlJobRunRequest(
        sql_query="select 3;").SerializeToString()
    t["oversize"] = sel() + pb.SubmitSqlJobRunRequest(
        sql_query="x" * 5000, cluster_uuid=C1).SerializeToString()

    # run.submit_batch: a pipeline, items depending on earlier ones
    t = s.setdefault("run_submit_batch", {})
    m = pb.SubmitJobRunsRequest()
    for i in range(3):
        it = m.runs.add(job_definition_uuid=PY, cluster_uuid=C1)
        if i > 0:
            it.depends_on.add(index=i - 1)
    t["chain"] = sel() + m.SerializeToString()
    m = pb.SubmitJobRunsRequest()
    m.runs.add(job_definition_uuid=PY, cluster_uuid=C1).depends_on.add(
        run_uuid=RUN_FAILED_LOGS, condition=pb.AFTER_FAILED)
    t["after-run"] = sel() + m.SerializeToString()
    m = pb.SubmitJobRunsRequest()
    m.runs.add(job_definition_uuid=PY, cluster_uuid=C1).depends_on.add(
        index=0)
    t["self-index"] = sel() + m.SerializeToString()

    # run.rerun
    t = s.setdefault("run_rerun", {})
    t["failed"] = sel() + pb.RerunJobRunRequest(
        uuid=RUN_FAILED_LOGS).SerializeToString()
    t["repair"] = sel() + pb.RerunJobRunRequest(
        uuid=RUN_CANCELLED, repair_downstream=True).SerializeToString()
    t["running"] = sel() + pb.RerunJobRunRequest(
        uuid=RUN_QUEUED).SerializeToString()

    # run.get, .cancel, .events (verb in the high nibble)
    t = s.setdefault("run_get", {})
    t["get"] = sel(W, 0) + pb.GetJobRunRequest(uuid=RUN_FAILED_LOGS).SerializeToString()
    t["get-queued"] = sel(W, 0) + pb.GetJobRunRequest(uuid=RUN_QUEUED).SerializeToString()
    t["cancel-holder"] = sel(W, 1) + pb.GetJobRunRequest(uuid=RUN_RETRY).SerializeToString()
    t["cancel-queued"] = sel(W, 1) + pb.GetJobRunRequest(uuid=RUN_QUEUED_K1).SerializeToString()
    t["cancel-done"] = sel(W, 1) + pb.GetJobRunRequest(uuid=RUN_SQL).SerializeToString()
    t["events"] = sel(W, 2) + pb.GetJobRunRequest(uuid=RUN_FAILED_LOGS).SerializeToString()
    t["events-cancelled"] = sel(W, 2) + pb.GetJobRunRequest(
        uuid=RUN_CANCELLED).SerializeToString()
    t["o"] = sel(O, 0) + pb.GetJobRunRequest(uuid=O_RUN).SerializeToString()
    t["other-ws"] = sel(W, 0) + pb.GetJobRunRequest(uuid=O_RUN).SerializeToString()

    # run.cancel_all
    t = s.setdefault("run_cancel_all", {})
    t["cluster"] = sel() + pb.CancelJobRunsRequest(
        cluster_uuids=[BUSY]).SerializeToString()
    t["def"] = sel() + pb.CancelJobRunsRequest(
        job_definition_uuid=PY).SerializeToString()
    t["both"] = sel() + pb.CancelJobRunsRequest(
        cluster_uuids=[BUSY, HOLD], job_definition_uuid=SLOW).SerializeToString()
    t["none"] = sel()
    t["empty-entry"] = sel() + pb.CancelJobRunsRequest(
        cluster_uuids=[BUSY, ""]).SerializeToString()
    t["o"] = sel(O) + pb.CancelJobRunsRequest(
        cluster_uuids=[O_C1, BUSY]).SerializeToString()

    # run.list
    t = s.setdefault("run_list", {})
    t["all"] = sel()
    t["pending"] = sel() + pb.ListJobRunsRequest(status=pb.PENDING).SerializeToString()
    t["def"] = sel() + pb.ListJobRunsRequest(
        job_definition_uuid=PY, page_size=2).SerializeToString()
    t["cluster"] = sel() + pb.ListJobRunsRequest(cluster_uuid=BUSY).SerializeToString()
    t["token"] = sel() + pb.ListJobRunsRequest(
        page_size=1, page_token=page_token(
            "r", struct.pack(">Q", 1) + RUN_QUEUED.encode())
    ).SerializeToString()
    t["token-other-ws"] = sel(O) + pb.ListJobRunsRequest(
        page_size=1, page_token=page_token(
            "r", struct.pack(">Q", 1) + RUN_QUEUED.encode())
    ).SerializeToString()
    t["bounds"] = sel() + pb.ListJobRunsRequest(
        submitted_after_ms=1, submitted_before_ms=1 << 62).SerializeToString()
    t["negative"] = sel() + pb.ListJobRunsRequest(
        submitted_after_ms=-1).SerializeToString()
    t["o"] = sel(O) + pb.ListJobRunsRequest(status=pb.FAILED).SerializeToString()

    # run.logs
    t = s.setdefault("run_logs", {})
    t["stdout"] = sel() + pb.GetJobRunLogsRequest(
        uuid=RUN_FAILED_LOGS, attempt=1).SerializeToString()
    t["stderr"] = sel() + pb.GetJobRunLogsRequest(
        uuid=RUN_FAILED_LOGS, attempt=1, stream=pb.STDERR).SerializeToString()
    t["latest"] = sel() + pb.GetJobRunLogsRequest(uuid=RUN_FAILED_LOGS).SerializeToString()
    t["paged"] = sel() + pb.GetJobRunLogsRequest(
        uuid=RUN_FAILED_LOGS, attempt=1, offset=5, max_bytes=3).SerializeToString()
    t["past-end"] = sel() + pb.GetJobRunLogsRequest(
        uuid=RUN_FAILED_LOGS, attempt=1, offset=1 << 40).SerializeToString()
    t["no-attempt"] = sel() + pb.GetJobRunLogsRequest(
        uuid=RUN_FAILED_LOGS, attempt=9).SerializeToString()
    t["queued"] = sel() + pb.GetJobRunLogsRequest(uuid=RUN_QUEUED).SerializeToString()
    t["max-bytes"] = sel() + pb.GetJobRunLogsRequest(
        uuid=RUN_FAILED_LOGS, max_bytes=(1 << 20) + 1).SerializeToString()

    # schedule.create
    t = s.setdefault("schedule_create", {})
    m = pb.CreateScheduleRequest(name="new", description="d",
                                 cron="*/15 9-17 * jan-jun mon-fri",
                                 timezone="America/New_York",
                                 job_definition_uuid=PY, cluster_uuid=C1,
                                 args="-v", max_concurrent_runs=2,
                                 misfire_policy=pb.RUN_ONCE,
                                 pause_cluster_when_finished=True)
    m.env["K"] = "v"
    t["full"] = sel() + m.SerializeToString()
    m = pb.CreateScheduleRequest(name="eph", cron="@daily",
                                 job_definition_uuid=SLOW, paused=True)
    m.cluster_config.instance_type = "small"
    m.cluster_config.workers_quantity = 1
    t["ephemeral"] = sel() + m.SerializeToString()
    t["seconds"] = sel() + pb.CreateScheduleRequest(
        name="s", cron="*/5 * * * * *", job_definition_uuid=PY,
        timezone="Australia/Lord_Howe").SerializeToString()
    t["exists"] = sel() + pb.CreateScheduleRequest(
        name="nightly", cron="@daily",
        job_definition_uuid=PY).SerializeToString()
    t["bad-cron"] = sel() + pb.CreateScheduleRequest(
        name="x", cron="0 0 * * 8", job_definition_uuid=PY).SerializeToString()
    t["never"] = sel() + pb.CreateScheduleRequest(
        name="x", cron="0 0 30 2 *", job_definition_uuid=PY).SerializeToString()
    t["bad-tz"] = sel() + pb.CreateScheduleRequest(
        name="x", cron="@daily", timezone="../../etc/passwd",
        job_definition_uuid=PY).SerializeToString()
    t["no-def"] = sel() + pb.CreateScheduleRequest(
        name="x", cron="@daily", job_definition_uuid=C1).SerializeToString()
    t["o"] = sel(O) + pb.CreateScheduleRequest(
        name="x", cron="@daily", job_definition_uuid=O_PY,
        cluster_uuid=O_C1).SerializeToString()

    # schedule.get, .pause, .resume, .trigger, .delete (high nibble)
    t = s.setdefault("schedule_get", {})
    t["get"] = sel(W, 0) + pb.GetScheduleRequest(uuid=NIGHTLY).SerializeToString()
    t["get-name"] = sel(W, 0) + pb.GetScheduleRequest(name="often").SerializeToString()
    t["pause"] = sel(W, 1) + pb.GetScheduleRequest(uuid=OFTEN).SerializeToString()
    t["resume"] = sel(W, 2) + pb.GetScheduleRequest(uuid=NIGHTLY).SerializeToString()
    t["trigger"] = sel(W, 3) + pb.GetScheduleRequest(uuid=NIGHTLY).SerializeToString()
    t["trigger-full"] = sel(W, 3) + pb.GetScheduleRequest(uuid=OFTEN).SerializeToString()
    t["delete"] = sel(W, 4) + pb.GetScheduleRequest(uuid=OFTEN).SerializeToString()
    t["o"] = sel(O, 0) + pb.GetScheduleRequest(uuid=NIGHTLY).SerializeToString()

    # schedule.list
    t = s.setdefault("schedule_list", {})
    t["all"] = sel()
    t["page"] = sel() + pb.ListSchedulesRequest(page_size=1).SerializeToString()
    t["token"] = sel() + pb.ListSchedulesRequest(
        page_size=1, page_token=page_token("s", b"nightly")).SerializeToString()
    t["o"] = sel(O)

    # schedule.update
    t = s.setdefault("schedule_update", {})
    m = pb.UpdateScheduleRequest(uuid=NIGHTLY, cron="0 4 * * *",
                                 timezone="Asia/Kolkata", description="x",
                                 cluster_uuid="", clear_args=True,
                                 max_concurrent_runs=0,
                                 misfire_policy=pb.SKIP,
                                 pause_cluster_when_finished=False)
    m.env["A"] = "b"
    t["full"] = sel() + m.SerializeToString()
    t["def"] = sel() + pb.UpdateScheduleRequest(
        uuid=OFTEN, job_definition_uuid=GIT).SerializeToString()
    t["both"] = sel() + pb.UpdateScheduleRequest(
        uuid=OFTEN, args="x", clear_args=True).SerializeToString()
    t["bad-cron"] = sel() + pb.UpdateScheduleRequest(
        uuid=OFTEN, cron="61 * * * *").SerializeToString()
    t["o"] = sel(O) + pb.UpdateScheduleRequest(
        uuid=NIGHTLY, description="x").SerializeToString()

    # run.list by schedule
    s["run_list"]["schedule"] = sel() + pb.ListJobRunsRequest(
        schedule_uuid=NIGHTLY).SerializeToString()

    # Every target: the bad subjects and an empty input.
    for t in s.values():
        first = next(iter(t.values()))
        t["bad-ws"] = bytes([BAD_WS]) + first[1:]
        t["long-ws"] = bytes([LONG_WS]) + first[1:]
        t["extra-token"] = bytes([EXTRA_TOKEN]) + first[1:]
        t["v2"] = bytes([BAD_VERSION]) + first[1:]
        t["no-input"] = b""
    return s


def main():
    for target, files in seeds().items():
        d = os.path.join(top, "tests", "fuzz", "corpus", target)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            if f.startswith("seed-"):
                os.remove(os.path.join(d, f))
        for name, data in files.items():
            with open(os.path.join(d, "seed-" + name), "wb") as f:
                f.write(data)
        print("%s: %d seeds" % (target, len(files)))


if __name__ == "__main__":
    main()
