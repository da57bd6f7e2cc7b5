"""Storage limits: a full disk fails requests with UNAVAILABLE and a clear
log line (once the redo log's allocated blocks are used up) while batchd
stays up and loses nothing it acknowledged; log
retention (age, size) removes old finished runs and their files, never a
live run."""

import os
import subprocess
import time

import pytest

import harness
from harness import _pb, assert_ok, assert_error

pb = _pb()


def jobdef_req(name, script="ok.py"):
    return pb.CreateJobDefinitionRequest(
        name=name, config=pb.JobConfig(
            source=pb.JobSource(type=pb.WORKSPACE,
                                workspace=pb.WorkspaceSource(path="jobs")),
            type=pb.PYTHON, source_location=script),
        cluster_config=pb.ClusterConfig(instance_type="local",
                                        workers_quantity=1, version="3"))


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs",
                    str(mnt)], check=True)
    yield str(mnt)
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_answers_unavailable_and_recovers(daemon_factory,
                                                    small_disk, ws):
    d = daemon_factory(env={"BATCHD_DATA_DIR": small_disk + "/var",
                            "BATCHD_LMDB_MAP_SIZE": "64M"})
    d.data_dir = small_disk + "/var"
    d.start()
    assert_ok(d.call("jobdef.create", jobdef_req("before"),
                     pb.JobDefinitionReply, ws=ws))
    filler = os.path.join(small_disk, "filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    # The redo log's blocks are allocated ahead (1 MiB at a time): it
    # takes writes while the disk is full (they are durable) until they
    # are used up; then LMDB's own commit is tried and fails.
    refused = 0
    for i in range(400):
        req = jobdef_req("full-%d" % i)
        req.description = "x" * 4000
        r = d.call("jobdef.create", req, pb.JobDefinitionReply, ws=ws)
        if r.HasField("error"):
            assert_error(r, pb.UNAVAILABLE)
            refused += 1
            if refused == 5:
                break
    assert refused > 0, "the disk never filled"
    assert d.running()
    assert "storage" in open(d.stderr_path).read()
    os.unlink(filler)
    assert_ok(d.call("jobdef.create", jobdef_req("after"),
                     pb.JobDefinitionReply, ws=ws))
    names = [j.name for j in d.call(
        "jobdef.list", pb.ListJobDefinitionsRequest(page_size=100),
        pb.ListJobDefinitionsReply, ws=ws).job_definitions]
    assert "before" in names and "after" in names
    # Every acknowledged create is there after a restart.
    acked = set(names)
    d.kill9()
    d.start()
    again = {j.name for j in d.call(
        "jobdef.list", pb.ListJobDefinitionsRequest(page_size=100),
        pb.ListJobDefinitionsReply, ws=ws).job_definitions}
    assert again == acked


def write_job(d, ws, name, body):
    harness.write_job(d, ws, name, body)


def run_to_end(d, ws, jd):
    run = harness.submit_ok(d, ws, jd).uuid
    harness.wait_run(d, ws, run)
    return run


def gone(d, ws, run):
    r = d.call("run.get", pb.GetJobRunRequest(uuid=run), pb.JobRunReply,
               ws=ws)
    return r.HasField("error") and r.error.code == pb.NOT_FOUND


def test_retention_by_age_spares_live_runs(daemon_factory, ws):
    d = daemon_factory(env={"BATCHD_RETENTION_AGE_S": "2",
                            "BATCHD_RETENTION_INTERVAL_S": "1"}).start()
    write_job(d, ws, "ok.py", "print('x' * 100)\n")
    write_job(d, ws, "slow.py", "import time\ntime.sleep(6)\n")
    jd = d.call("jobdef.create", jobdef_req("ok"), pb.JobDefinitionReply,
                ws=ws).job_definition.uuid
    slow = d.call("jobdef.create", jobdef_req("slow", "slow.py"),
                  pb.JobDefinitionReply, ws=ws).job_definition.uuid
    live = d.call("run.submit", pb.SubmitJobRunRequest(
        job_definition_uuid=slow), pb.JobRunReply, ws=ws).job_run.uuid
    run = run_to_end(d, ws, jd)
    logs = os.path.join(d.data_dir, "logs", run)
    assert os.path.isdir(logs)
    harness.wait_until(lambda: gone(d, ws, run), 10, what="run purged")
    # rm(1) removes the files after the purge's commit, without the loop
    # waiting for it.
    harness.wait_until(lambda: not os.path.exists(logs) and not
                       os.path.exists(os.path.join(d.data_dir, "runs", run)),
                       10, what="files of the purged run removed")
    ev = d.call("run.events", pb.GetJobRunRequest(uuid=run),
                pb.JobRunEventsReply, ws=ws)
    assert_error(ev, pb.NOT_FOUND)
    # The live run, submitted earlier, is untouched.
    r = d.call("run.get", pb.GetJobRunRequest(uuid=live), pb.JobRunReply,
               ws=ws)
    assert_ok(r)
    assert r.job_run.status in (pb.RUNNING, pb.PENDING)


def test_retention_by_log_size_purges_oldest(daemon_factory, ws):
    d = daemon_factory(env={"BATCHD_RETENTION_LOG_BYTES": "2500",
                            "BATCHD_RETENTION_INTERVAL_S": "1"}).start()
    write_job(d, ws, "ok.py", "print('y' * 999)\n")     # 1000 bytes
    jd = d.call("jobdef.create", jobdef_req("ok"), pb.JobDefinitionReply,
                ws=ws).job_definition.uuid
    runs = [run_to_end(d, ws, jd) for _ in range(4)]
    harness.wait_until(lambda: gone(d, ws, runs[0]) and
                       gone(d, ws, runs[1]), 10, what="oldest purged")
    time.sleep(1.5)
    for run in runs[2:]:
        r = d.call("run.get", pb.GetJobRunRequest(uuid=run),
                   pb.JobRunReply, ws=ws)
        assert_ok(r)
        assert r.job_run.log_bytes == 1000


def test_a_purged_runs_files_go_even_if_rm_failed_or_batchd_died(
        daemon_factory, ws):
    """The purge's commit remembers the run's files until rm(1) has
    removed them. Here rm fails on a file made immutable, and batchd is
    killed; the next start removes the files, and once they are gone the
    start after it has nothing left to remove."""
    d = daemon_factory(env={"BATCHD_RETENTION_AGE_S": "1",
                            "BATCHD_RETENTION_INTERVAL_S": "1"}).start()
    write_job(d, ws, "ok.py", "print('x' * 100)\n")
    jd = d.call("jobdef.create", jobdef_req("ok"), pb.JobDefinitionReply,
                ws=ws).job_definition.uuid
    run = run_to_end(d, ws, jd)
    logs = os.path.join(d.data_dir, "logs", run)
    runs = os.path.join(d.data_dir, "runs", run)
    pinned = os.path.join(logs, "pinned")
    open(pinned, "w").close()
    if subprocess.run(["chattr", "+i", pinned],
                      stderr=subprocess.DEVNULL).returncode != 0:
        pytest.skip("chattr +i is not supported here")
    try:
        harness.wait_until(lambda: gone(d, ws, run), 10, what="run purged")
        harness.wait_until(lambda: "failed (status" in d.log_text(), 10,
                           what="rm's failure logged")
        assert os.path.exists(pinned) and not os.path.exists(runs)
        d.kill9()
    finally:
        subprocess.run(["chattr", "-i", pinned], check=False)
    d.start()
    harness.wait_until(lambda: not os.path.exists(logs), 10,
                       what="the purged run's files removed at start")
    said = "1 purged runs may have files left"
    assert d.log_text().count(said) == 1
    # Their key went with them (a lazy commit, 100 ms at most).
    time.sleep(0.5)
    d.stop()
    d.start()
    time.sleep(0.5)
    assert d.log_text().count(said) == 1
