"""No request that amplifies (issue 23): a run's storage costs what its own
request carried, not its definition's size (runs share one stored
configuration snapshot); an env map is bounded in all; per-workspace
quotas (definitions, stored runs, log bytes per run) refuse with
RESOURCE_EXHAUSTED naming the quota and change nothing; a purge gives
back the quota and the snapshot; retention is on by default."""

import os
import subprocess
import time
import urllib.request

import harness
from harness import _pb, assert_ok, assert_error

pb = _pb()

# A definition's env of ~63 KiB (under the 64 KiB bound of an env map).
BIG_ENV = {"V%02d" % i: chr(ord("A") + i) * 7900 for i in range(8)}
RUNS = 500


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=5) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


def lmdb_used(port):
    """Bytes of the LMDB map in use as of the last checkpoint (one a
    second at most, store.c): waited for."""
    time.sleep(1.5)
    return metrics(port)["batchd_lmdb_map_used_bytes"]


def snapshots(port):
    return metrics(port)["batchd_config_snapshots"]


def count_runs(d, ws):
    rep = d.call("run.list", pb.ListJobRunsRequest(page_size=1000),
                 pb.ListJobRunsReply, ws=ws)
    assert_ok(rep)
    return len(rep.job_runs)


def count_defs(d, ws):
    rep = d.call("jobdef.list", pb.ListJobDefinitionsRequest(page_size=1000),
                 pb.ListJobDefinitionsReply, ws=ws)
    assert_ok(rep)
    return len(rep.job_definitions)


def http_daemon(run_daemon_factory, env=None):
    port = harness.free_port()
    e = {"BATCHD_HTTP_LISTEN": "127.0.0.1:%d" % port}
    e.update(env or {})
    return run_daemon_factory(env=e), port


def test_submit_costs_what_its_request_carried(run_daemon_factory, ws):
    d, port = http_daemon(run_daemon_factory, {"BATCHD_QUEUE_CAP": "1000"})
    d.start()
    # One run holds the cluster; the others wait in its queue, as
    # submitted (what the finding measured: submissions, not runs).
    cl = harness.make_cluster(d, ws, "one")
    block = harness.make_jobdef(d, ws, "block",
                                code="import time\ntime.sleep(300)\n")
    big = harness.make_jobdef(d, ws, "big", code="pass\n", env=BIG_ENV)
    first = harness.submit_ok(d, ws, block.uuid, cl.uuid)
    harness.wait_status(d, ws, first.uuid, pb.RUNNING)
    before = lmdb_used(port)
    sent = 0
    for i in range(RUNS):
        req = pb.SubmitJobRunRequest(job_definition_uuid=big.uuid,
                                     cluster_uuid=cl.uuid)
        sent += len(req.SerializeToString())
        assert_ok(d.call("run.submit", req, pb.JobRunReply, ws=ws))
    growth = lmdb_used(port) - before
    per_run = growth / RUNS
    print("\n%d submissions (%d bytes of requests) of a definition with a "
          "%d-byte env: the store grew %d bytes, %.0f per run"
          % (RUNS, sent, sum(len(k) + len(v) for k, v in BIG_ENV.items()),
             growth, per_run))
    assert per_run < 4096, (
        "the store grew %.0f bytes per run (%d in all) for %d-byte "
        "requests" % (per_run, growth, sent // RUNS))
    # One snapshot per definition, however many runs.
    assert snapshots(port) == 2

    # A run's own args and env go over the shared snapshot: what it
    # executes is what it was given, and the snapshot is still shared.
    own = harness.submit_ok(d, ws, big.uuid, cl.uuid, args="--own",
                            env={"V00": "mine", "EXTRA": "1"})
    r = harness.get_run(d, ws, own.uuid)
    want = dict(BIG_ENV, V00="mine", EXTRA="1")
    assert dict(r.config.env) == want
    assert r.config.args == "--own"
    assert dict(r.env) == {"V00": "mine", "EXTRA": "1"}
    assert snapshots(port) == 2
    plain = harness.get_run(d, ws, first.uuid)
    listed = d.call("run.list", pb.ListJobRunsRequest(
        job_definition_uuid=big.uuid, page_size=3), pb.ListJobRunsReply,
        ws=ws)
    assert_ok(listed)
    for lr in listed.job_runs:
        if lr.uuid != own.uuid:
            assert dict(lr.config.env) == BIG_ENV
            assert lr.config.source_location == "big.py"
    assert plain.config.source_location == "block.py"
    # The same after a restart (the snapshot is read back from storage).
    d.kill9()
    d.start()
    r = harness.get_run(d, ws, own.uuid)
    assert dict(r.config.env) == want and r.config.args == "--own"
    rep = d.call("run.cancel_all", pb.CancelJobRunsRequest(
        cluster_uuids=[cl.uuid]), pb.CancelJobRunsReply, ws=ws)
    assert_ok(rep)


def big_env(n_bytes):
    """An env of n_bytes of names and values, each value under 32 KiB."""
    env, i = {}, 0
    while n_bytes > 0:
        k = "K%03d" % i
        v = "x" * min(20000, max(n_bytes - len(k), 0))
        env[k] = v
        n_bytes -= len(k) + len(v)
        i += 1
    return env


def test_env_is_bounded_in_all(daemon, ws):
    d = daemon
    too_big = big_env(65537)
    fits = big_env(65536)
    c = pb.JobConfig(type=pb.PYTHON, source_location="a.py")
    c.source.type = pb.WORKSPACE
    c.source.workspace.path = "jobs"
    for k, v in too_big.items():
        c.env[k] = v
    req = pb.CreateJobDefinitionRequest(
        name="big", config=c, cluster_config=harness.cluster_config())
    e = assert_error(d.call("jobdef.create", req, pb.JobDefinitionReply,
                            ws=ws), pb.INVALID_ARGUMENT, field="config.env")
    assert "65536" in e.message, e.message
    assert count_defs(d, ws) == 0

    req.config.env.clear()
    for k, v in fits.items():
        req.config.env[k] = v
    c = req.config
    jd = assert_ok(d.call("jobdef.create", req, pb.JobDefinitionReply,
                          ws=ws)).job_definition
    upd = pb.UpdateJobDefinitionRequest(uuid=jd.uuid, config=c)
    upd.config.env["ONE_MORE"] = "y"
    e = assert_error(d.call("jobdef.update", upd, pb.JobDefinitionReply,
                            ws=ws), pb.INVALID_ARGUMENT, field="config.env")
    assert "65536" in e.message, e.message
    got = d.call("jobdef.get", pb.GetJobDefinitionRequest(uuid=jd.uuid),
                 pb.JobDefinitionReply, ws=ws)
    assert dict(got.job_definition.config.env) == fits

    sub = pb.SubmitJobRunRequest(job_definition_uuid=jd.uuid)
    for k, v in too_big.items():
        sub.env[k] = v
    e = assert_error(d.call("run.submit", sub, pb.JobRunReply, ws=ws),
                     pb.INVALID_ARGUMENT, field="env")
    assert "65536" in e.message, e.message
    sql = pb.SubmitSqlJobRunRequest(sql_query="select 1",
                                    cluster_config=harness.cluster_config())
    for k, v in too_big.items():
        sql.env[k] = v
    assert_error(d.call("run.submit_sql", sql, pb.JobRunReply, ws=ws),
                 pb.INVALID_ARGUMENT, field="env")
    assert count_runs(d, ws) == 0


def test_quota_jobdefs(daemon_factory, ws):
    d = daemon_factory(env={"BATCHD_QUOTA_JOBDEFS": "3"}).start()
    for i in range(3):
        harness.make_jobdef(d, ws, "d%d" % i)
    req = pb.CreateJobDefinitionRequest(name="d3", config=pb.JobConfig(
        type=pb.PYTHON, source_location="a.py",
        source=pb.JobSource(type=pb.WORKSPACE,
                            workspace=pb.WorkspaceSource(path="jobs"))))
    e = assert_error(d.call("jobdef.create", req, pb.JobDefinitionReply,
                            ws=ws), pb.RESOURCE_EXHAUSTED)
    assert "quota_jobdefs" in e.message and "3" in e.message, e.message
    assert count_defs(d, ws) == 3
    # Per workspace: another one has its own.
    harness.make_jobdef(d, ws + "-other", "d0")
    # Kept across a restart.
    d.kill9()
    d.start()
    assert_error(d.call("jobdef.create", req, pb.JobDefinitionReply, ws=ws),
                 pb.RESOURCE_EXHAUSTED)
    # A deletion gives its place back.
    victim = d.call("jobdef.get", pb.GetJobDefinitionRequest(name="d0"),
                    pb.JobDefinitionReply, ws=ws).job_definition.uuid
    assert_ok(d.call("jobdef.delete", pb.DeleteJobDefinitionRequest(
        uuid=victim), pb.DeleteReply, ws=ws))
    assert_ok(d.call("jobdef.create", req, pb.JobDefinitionReply, ws=ws))
    assert count_defs(d, ws) == 3


def test_quota_runs_and_purge_gives_back(run_daemon_factory, ws):
    d, port = http_daemon(run_daemon_factory, {
        "BATCHD_QUOTA_RUNS": "3", "BATCHD_RETENTION_AGE_S": "0",
        "BATCHD_RETENTION_LOG_BYTES": "0"})
    d.start()
    jd = harness.make_jobdef(d, ws, "quick", code="print('hi')\n",
                             env=BIG_ENV, cluster=harness.cluster_config())
    other = harness.make_jobdef(d, ws, "other", code="print('ho')\n",
                                cluster=harness.cluster_config())
    runs = [harness.submit_ok(d, ws, jd.uuid, idempotency_key="k%d" % i).uuid
            for i in range(2)]
    runs.append(harness.submit_ok(d, ws, other.uuid).uuid)
    for r in runs:
        assert harness.wait_run(d, ws, r).status == pb.SUCCEEDED
    assert snapshots(port) == 2
    for sub in (lambda: harness.submit_run(d, ws, jd.uuid),
                lambda: d.call("run.submit_sql", pb.SubmitSqlJobRunRequest(
                    sql_query="select 1",
                    cluster_config=harness.cluster_config()),
                    pb.JobRunReply, ws=ws)):
        e = assert_error(sub(), pb.RESOURCE_EXHAUSTED)
        assert "quota_runs" in e.message and "3" in e.message, e.message
    assert count_runs(d, ws) == 3
    assert snapshots(port) == 2
    # A repeat of a stored run's idempotency key is not a new run.
    again = harness.submit_ok(d, ws, jd.uuid, idempotency_key="k0")
    assert again.uuid == runs[0]
    # Another workspace is not held by this one's quota.
    harness.submit_ok(d, ws + "-other", harness.make_jobdef(
        d, ws + "-other", "x", code="pass\n",
        cluster=harness.cluster_config()).uuid)

    # Retention purges the finished runs: their places and their
    # snapshots are given back, the last run of one taking it along.
    d.stop()
    d.extra_env.update({"BATCHD_RETENTION_AGE_S": "1",
                        "BATCHD_RETENTION_INTERVAL_S": "1"})
    d.start()
    harness.wait_until(lambda: count_runs(d, ws) == 0, 15,
                       what="finished runs purged")
    harness.wait_until(lambda: snapshots(port) == 0, 5,
                       what="snapshots of purged runs deleted")
    # (Runs that outlast the refusal below: retention purges finished ones
    # within a second or two now.)
    slow = harness.make_jobdef(d, ws, "slow", code="import time\n"
                               "time.sleep(30)\n",
                               cluster=harness.cluster_config())
    live = [harness.submit_ok(d, ws, slow.uuid).uuid for _ in range(3)]
    assert_error(harness.submit_run(d, ws, jd.uuid), pb.RESOURCE_EXHAUSTED)
    for r in live:
        assert_ok(d.call("run.cancel", pb.CancelJobRunRequest(uuid=r),
                         pb.JobRunReply, ws=ws))


def log_job(d, ws, name, code, env=None, **kw):
    return harness.make_jobdef(d, ws, name, code=code, env=env,
                               cluster=harness.cluster_config(), **kw)


WRITE_10M = ("import sys\nfor i in range(160):\n"
             "    sys.stdout.write('x' * 65535 + '\\n')\n")


def test_log_quota_per_run(run_daemon_factory, ws):
    d = run_daemon_factory(env={"BATCHD_QUOTA_LOG_BYTES_PER_RUN": "1M"})
    d.start()
    plain = log_job(d, ws, "plain", WRITE_10M)
    # With a secret to mask, output goes through the shim's masking path.
    masked = log_job(d, ws, "masked", WRITE_10M,
                     env={"API_TOKEN": "s3cr3t-value"})
    for jd in (plain, masked):
        run = harness.submit_ok(d, ws, jd.uuid).uuid
        r = harness.wait_run(d, ws, run, timeout=60)
        assert r.status == pb.SUCCEEDED, harness.run_str(r)
        out, _ = harness.read_logs(d, ws, run)
        err, _ = harness.read_logs(d, ws, run, stream=pb.STDERR)
        assert out == (b"x" * 65535 + b"\n") * 16, (len(out), out[-100:])
        assert b"quota_log_bytes_per_run" in err, err
        assert err.count(b"\n") <= 2, err
        assert r.log_bytes == (1 << 20) + len(err)
        files = os.path.join(d.data_dir, "logs", run)
        total = sum(os.path.getsize(os.path.join(dp, f))
                    for dp, _, fs in os.walk(files) for f in fs)
        assert total < (1 << 20) + 4096, total


def test_log_quota_spans_attempts(run_daemon_factory, ws):
    d = run_daemon_factory(env={"BATCHD_QUOTA_LOG_BYTES_PER_RUN": "1M"})
    d.start()
    code = ("import sys\nsys.stdout.write('y' * 700000)\nsys.exit(1)\n")
    jd = log_job(d, ws, "twice", code, num_retries=1, retry_delay_seconds=0)
    run = harness.submit_ok(d, ws, jd.uuid).uuid
    r = harness.wait_run(d, ws, run, timeout=60)
    assert r.status == pb.FAILED and r.attempt == 2, harness.run_str(r)
    one, _ = harness.read_logs(d, ws, run, attempt=1)
    two, _ = harness.read_logs(d, ws, run, attempt=2)
    assert len(one) == 700000
    assert len(two) == (1 << 20) - 700000
    err, _ = harness.read_logs(d, ws, run, stream=pb.STDERR, attempt=2)
    assert b"quota_log_bytes_per_run" in err


def test_retention_and_quotas_on_by_default(tmp_path):
    out = subprocess.run([harness.BATCHD_BIN, "--check-config"],
                         env={"PATH": os.environ.get("PATH", "")},
                         cwd=str(tmp_path), capture_output=True, text=True,
                         check=True).stdout
    conf = dict(line.split(" = ", 1) for line in out.splitlines()
                if " = " in line and not line.startswith("#"))
    assert int(conf["retention_age_s"]) > 0
    assert int(conf["retention_log_bytes"]) > 0
    assert int(conf["quota_jobdefs"]) > 0
    assert int(conf["quota_runs"]) > 0
    assert int(conf["quota_log_bytes_per_run"]) > 0
