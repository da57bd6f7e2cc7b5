"""As whom jobs run. batchd as root (these tests): each workspace's jobs as
a uid of its own from job_uid_range, allocated by its first job and kept
in storage across restarts; job_user = root and job_user = NAME as the
operator's explicit choices; a used-up range fails the attempt, saying
so. The job itself reports os.getuid()."""

import json
import os
import pwd
import subprocess

import pytest

import harness
from harness import (make_cluster, make_jobdef, read_logs, submit_ok,
                     wait_run)

pb = harness._pb()
pytestmark = [
    pytest.mark.usefixtures("nats_server"),
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="a uid per workspace needs batchd as root"),
]

LO, HI = 2000000000, 2000065535     # job_uid_range's default

# What the job is, and whether it can list batchd's data directory.
WHOAMI = """\
import json, os, sys
def can_list(p):
    try:
        return sorted(os.listdir(p))
    except OSError:
        return False
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(),
                  "groups": os.getgroups(),
                  "data_dir": can_list(os.environ["DATA_DIR"]),
                  "lmdb": can_list(os.path.join(os.environ["DATA_DIR"],
                                                "lmdb"))}), flush=True)
"""


def whoami(d, ws, jd=None, cluster=None):
    """Run WHOAMI in workspace ws; return (what it printed, jd, cluster)."""
    if jd is None:
        jd = make_jobdef(d, ws, "who", code=WHOAMI,
                         env={"DATA_DIR": d.data_dir})
        cluster = make_cluster(d, ws, "c")
    run = submit_ok(d, ws, jd.uuid, cluster.uuid)
    r = wait_run(d, ws, run.uuid, timeout=30)
    assert r.status == pb.SUCCEEDED, (harness.run_str(r), d.log_tail())
    out, _ = read_logs(d, ws, run.uuid)
    return json.loads(out), jd, cluster


def allocations(d, ws):
    return d.log_text().count("ws=%s uid=" % ws)


def test_a_uid_per_workspace_kept_across_restart(run_daemon_factory, ws):
    d = run_daemon_factory().start()
    a, b = ws + "-a", ws + "-b"
    ja, jda, ca = whoami(d, a)
    jb, jdb, cb = whoami(d, b)
    for j in (ja, jb):
        assert j["uid"] != 0 and LO <= j["uid"] <= HI, j
        assert j["gid"] == j["uid"] and j["groups"] == [], j
        # data_dir holds nothing of batchd's where the job can see it:
        # at most the path down to its own attempt (its sandbox's root)
        assert not j["lmdb"], j
        assert j["data_dir"] in (False, ["runs"]), j
        with pytest.raises(KeyError):
            pwd.getpwuid(j["uid"])          # no account has it
    assert ja["uid"] != jb["uid"], (ja, jb)
    assert allocations(d, a) == 1 and allocations(d, b) == 1, d.log_tail()
    # A's next job, before and after a restart: the same uid, not allocated
    # again.
    assert whoami(d, a, jda, ca)[0]["uid"] == ja["uid"]
    d.restart()
    assert whoami(d, a, jda, ca)[0]["uid"] == ja["uid"]
    assert whoami(d, b, jdb, cb)[0]["uid"] == jb["uid"]
    assert allocations(d, a) == 1 and allocations(d, b) == 1, d.log_tail()


def test_job_user_root_is_batchds_own(run_daemon_factory, ws):
    d = run_daemon_factory(env={"BATCHD_JOB_USER": "root"}).start()
    j, _, _ = whoami(d, ws)
    assert j["uid"] == 0 and j["gid"] == 0, j
    assert "uid=" not in d.log_text()


def test_job_user_name_is_one_identity_for_all(run_daemon_factory, ws):
    nobody = pwd.getpwnam("nobody")
    d = run_daemon_factory(env={"BATCHD_JOB_USER": "nobody"}).start()
    for w in (ws + "-a", ws + "-b"):
        j, _, _ = whoami(d, w)
        assert (j["uid"], j["gid"]) == (nobody.pw_uid, nobody.pw_gid), j


def test_used_up_range_fails_the_attempt(run_daemon_factory, ws):
    d = run_daemon_factory(env={
        "BATCHD_JOB_UID_RANGE": "2000070000-2000070000"}).start()
    a, b = ws + "-a", ws + "-b"
    j, jda, ca = whoami(d, a)
    assert j["uid"] == 2000070000, j
    jd = make_jobdef(d, b, "who", code=WHOAMI, env={"DATA_DIR": d.data_dir})
    run = submit_ok(d, b, jd.uuid, make_cluster(d, b, "c").uuid)
    r = wait_run(d, b, run.uuid, timeout=30)
    assert r.status == pb.FAILED and r.reason == pb.SPAWN_FAILED, \
        harness.run_str(r)
    assert "job_uid_range" in r.reason_text, r.reason_text
    # the workspace that has its uid goes on with it
    assert whoami(d, a, jda, ca)[0]["uid"] == 2000070000


@pytest.mark.parametrize("env, message", [
    ({"BATCHD_JOB_USER": "no-such-user-here"}, "no user"),
    ({"BATCHD_JOB_UID_RANGE": "5-4"}, "job_uid_range"),
    ({"BATCHD_JOB_UID_RANGE": "0-10"}, "job_uid_range"),
    ({"BATCHD_JOB_UID_RANGE": "1-4294967295"}, "job_uid_range"),
    ({"BATCHD_JOB_UID_RANGE": "12"}, "job_uid_range"),
])
def test_bad_identity_settings_stop_batchd(tmp_path, env, message):
    e = {k: v for k, v in os.environ.items() if not k.startswith("BATCHD_")}
    e.update(env)
    e["BATCHD_DATA_DIR"] = str(tmp_path / "var")
    p = subprocess.run([harness.BATCHD_BIN], env=e, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 78, (p.returncode, p.stderr)
    assert message in p.stderr, p.stderr
    assert not os.path.exists(tmp_path / "var")    # stopped before it


def sql(d, ws, query):
    rep = d.call("run.submit_sql", pb.SubmitSqlJobRunRequest(
        sql_query=query, cluster_config=harness.cluster_config()),
        pb.JobRunReply, ws=ws)
    harness.assert_ok(rep)
    r = wait_run(d, ws, rep.job_run.uuid, timeout=30)
    return r, read_logs(d, ws, r.uuid)[0], read_logs(d, ws, r.uuid,
                                                      pb.STDERR)[0]


def test_sql_database_is_the_workspaces_own(run_daemon_factory, ws):
    """A workspace's SQLite database is its uid's: written (journal
    included) by its jobs, out of another workspace's reach; one made while
    jobs ran as root moves in."""
    d = run_daemon_factory(env={"BATCHD_JOB_USER": "root"}).start()
    a, b = ws + "-a", ws + "-b"
    r, _, err = sql(d, a, "CREATE TABLE t(x); INSERT INTO t VALUES(1);")
    assert r.status == pb.SUCCEEDED, err
    d.extra_env.pop("BATCHD_JOB_USER")
    d.restart()
    r, out, err = sql(d, a, "BEGIN; INSERT INTO t VALUES(2); COMMIT; "
                      "SELECT sum(x) FROM t;")
    assert r.status == pb.SUCCEEDED and out.strip() == b"3", (out, err)
    r, out, err = sql(d, b, "CREATE TABLE u(y); SELECT 7;")
    assert r.status == pb.SUCCEEDED and out.strip() == b"7", (out, err)
    for q in ("ATTACH '%s/sql/%s.db' AS o; SELECT * FROM o.t;"
              % (d.data_dir, a),
              "ATTACH '%s/sql/%s/%s.db' AS o; SELECT * FROM o.t;"
              % (d.data_dir, a, a)):
        r, out, err = sql(d, b, q)
        assert r.status == pb.FAILED and b"1" not in out, (out, err)
