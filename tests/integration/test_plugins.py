"""Plugins: a third-party plugin built out of tree against the installed
header is loaded and used; batchd refuses to start with a missing plugin or
one of another ABI version; runners: interpreter per cluster version, MPI
ranks, SQL engine and a failing query."""

import os
import shutil
import subprocess
import time

import pytest

import harness
from harness import _pb, assert_ok

pb = _pb()


def make_vars():
    b = os.path.relpath(os.path.dirname(os.path.abspath(harness.BATCHD_BIN)),
                        harness.REPO_ROOT)
    v = ["B=" + b]
    if b.endswith("san"):
        v.append("SANITIZE=address,undefined")
    return v, b


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = str(tmp_path_factory.mktemp("dest"))
    mv, _ = make_vars()
    subprocess.run(["make", "-s", "--no-print-directory", "install",
                    "DESTDIR=" + dest] + mv, cwd=harness.REPO_ROOT,
                   check=True)
    return dest


def build_example(installed, out_dir, extra=""):
    src = os.path.join(harness.REPO_ROOT, "plugins", "examples")
    work = os.path.join(out_dir, "example")
    shutil.copytree(src, work)
    subprocess.run(["make", "-s", "BATCHD_INCLUDE=" +
                    os.path.join(installed, "usr/local/include"),
                    "CFLAGS=-O2 -Wall -Wextra -Werror " + extra], cwd=work,
                   check=True)
    return os.path.join(work, "unbuffered.so")


def plugin_dir_with(tmp_path, extra_so):
    _, b = make_vars()
    d = tmp_path / "plugins"
    shutil.copytree(os.path.join(harness.REPO_ROOT, b, "plugins"), str(d))
    shutil.copy(extra_so, str(d / os.path.basename(extra_so)))
    return str(d)


def write_job(d, ws, name, body):
    harness.write_job(d, ws, name, body)


def run(d, ws, script, cluster_config=None, type_=pb.PYTHON, env=None):
    r = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name=script + "-" + os.urandom(3).hex(), config=pb.JobConfig(
            source=pb.JobSource(type=pb.WORKSPACE,
                                workspace=pb.WorkspaceSource(path="jobs")),
            type=type_, source_location=script, env=env or {}),
        cluster_config=cluster_config or pb.ClusterConfig(
            instance_type="local", workers_quantity=1, version="3")),
        pb.JobDefinitionReply, ws=ws)
    assert_ok(r)
    s = d.call("run.submit", pb.SubmitJobRunRequest(
        job_definition_uuid=r.job_definition.uuid), pb.JobRunReply, ws=ws)
    assert_ok(s)
    return harness.wait_run(d, ws, s.job_run.uuid, timeout=60)


def logs(d, ws, uuid, stream=pb.STDOUT):
    return harness.read_logs(d, ws, uuid, stream)[0]


def test_out_of_tree_plugin_is_loaded_and_used(installed, daemon_factory,
                                                tmp_path, ws):
    so = build_example(installed, str(tmp_path))
    d = daemon_factory(env={
        "BATCHD_PLUGIN_DIR": plugin_dir_with(tmp_path, so),
        "BATCHD_PLUGINS": "workspace,unbuffered,sql,local"}).start()
    write_job(d, ws, "u.py", "import sys\nprint('-u' in sys.orig_argv)\n")
    r = run(d, ws, "u.py")
    assert r.status == pb.SUCCEEDED, r.reason_text
    assert logs(d, ws, r.uuid) == b"True\n"
    assert "plugin unbuffered kind=runner" in open(d.stderr_path).read()


HOLD_JOB = """import os, time
open(os.environ["MARK"], "w").close()
time.sleep(3)
"""


def holdfetch_daemon(installed, daemon_factory, tmp_path):
    """A started batchd whose WORKSPACE source is holdfetch.c."""
    so = str(tmp_path / "holdfetch.so")
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC",
                    "-shared", "-I" + os.path.join(installed,
                                                   "usr/local/include"),
                    "-o", so, os.path.join(harness.REPO_ROOT, "tests",
                                           "integration", "plugins",
                                           "holdfetch.c")], check=True)
    return daemon_factory(env={
        "BATCHD_PLUGIN_DIR": plugin_dir_with(tmp_path, so),
        "BATCHD_PLUGINS": "holdfetch,python,sql,local"}).start()


def cancel_at(d, ws, tmp_path, name, marker):
    """Submit job name (HOLD_JOB), cancel it once the attempt's directory
    has marker, and check that the attempt ends CANCELLED without the job
    ever starting. Returns the marker's path and the seconds from the
    cancel to the attempt's end."""
    mark = str(tmp_path / ("ran-" + name))
    jd = harness.make_jobdef(d, ws, name, code=HOLD_JOB,
                             env={"MARK": mark},
                             cluster=harness.cluster_config())
    uuid = harness.submit_ok(d, ws, jd.uuid).uuid
    path = os.path.join(d.data_dir, "runs", uuid, "1", marker)
    harness.wait_until(lambda: os.path.exists(path), 20,
                       what="%s of the fetch" % marker)
    t0 = time.monotonic()
    rep = d.call("run.cancel", pb.CancelJobRunRequest(uuid=uuid),
                 pb.JobRunReply, ws=ws)
    assert_ok(rep)
    assert rep.job_run.status == pb.CANCELLED
    g = harness.wait_run(d, ws, uuid,
                         lambda r: r.attempts and r.attempts[0].finished_at_ms,
                         timeout=20, what="the attempt's end")
    took = time.monotonic() - t0
    assert g.attempts[0].status == pb.CANCELLED
    time.sleep(0.5)     # a job started now would have made its mark
    assert not os.path.exists(mark), "the job ran after its cancel"
    return path, took


def test_cancel_as_the_fetch_ends_is_not_lost(installed, daemon_factory,
                                              tmp_path, ws):
    """A cancel that reaches the shim after it reaped the fetch, while the
    fetch's output still drains (a process the fetch left holds it), stops
    the attempt there: the job never starts."""
    d = holdfetch_daemon(installed, daemon_factory, tmp_path)
    cancel_at(d, ws, tmp_path, "hold", "fetch-over")


def test_cancel_while_fetching_stops_the_fetch(installed, daemon_factory,
                                               tmp_path, ws):
    """A cancel while the fetch still runs (it would take 60 s) ends the
    attempt at once, CANCELLED: the fetch is killed and the job never
    starts."""
    d = holdfetch_daemon(installed, daemon_factory, tmp_path)
    path, took = cancel_at(d, ws, tmp_path, "slow", "fetching")
    assert took < 15, "the attempt ended %.1f s after its cancel" % took
    pid = int(open(path).read())
    harness.wait_until(lambda: not os.path.exists("/proc/%d" % pid), 10,
                       what="the fetch's exit")


def start_fails(tmp_path, env):
    e = {k: v for k, v in os.environ.items() if not k.startswith("BATCHD_")}
    e.update({"BATCHD_DATA_DIR": str(tmp_path / "var"),
              "BATCHD_NATS_URL": "nats://127.0.0.1:1"})
    e.update(env)
    return subprocess.run([harness.BATCHD_BIN], env=e, capture_output=True,
                          text=True, timeout=20)


def test_missing_plugin_refused(tmp_path):
    out = start_fails(tmp_path, {"BATCHD_PLUGINS": "workspace,nosuch,local"})
    assert out.returncode == 78
    assert "plugin 'nosuch'" in out.stderr


def test_other_abi_refused(installed, tmp_path):
    so = build_example(installed, str(tmp_path), "-DABI_FOR_TESTS=999")
    out = start_fails(tmp_path, {
        "BATCHD_PLUGIN_DIR": plugin_dir_with(tmp_path, so),
        "BATCHD_PLUGINS": "workspace,unbuffered,sql,local"})
    assert out.returncode == 78
    assert "ABI version 999" in out.stderr


def test_interpreter_per_cluster_version(daemon_factory, tmp_path, ws):
    conf = tmp_path / "b.conf"
    wrapper = tmp_path / "py-special"
    wrapper.write_text("#!/bin/sh\necho interpreter=special\n"
                       "exec python3 \"$@\"\n")
    wrapper.chmod(0o755)
    conf.write_text("[plugin.python]\ninterpreter.9.9 = %s\n" % wrapper)
    d = daemon_factory()
    d.binary_args = ["-c", str(conf)]
    start_with_args(d)
    write_job(d, ws, "v.py", "print('ran')\n")
    r = run(d, ws, "v.py", pb.ClusterConfig(instance_type="local",
                                            workers_quantity=1,
                                            version="9.9"))
    assert r.status == pb.SUCCEEDED
    assert logs(d, ws, r.uuid) == b"interpreter=special\nran\n"
    r = run(d, ws, "v.py")          # version 3: the default interpreter
    assert logs(d, ws, r.uuid) == b"ran\n"


def start_with_args(d):
    """Start d with the extra command-line arguments in d.binary_args."""
    real = d.binary
    wrapper = os.path.join(d.tmpdir, "batchd-with-args")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec %s %s \"$@\"\n" % (
            real, " ".join(d.binary_args)))
    os.chmod(wrapper, 0o755)
    # The wrapper execs batchd: plugins and the shim are still found
    # beside the real binary (/proc/self/exe).
    d.binary = wrapper
    d.start()


@pytest.mark.skipif(shutil.which("mpiexec") is None,
                    reason="Open MPI (openmpi-bin) is not installed")
def test_mpi_ranks(daemon_factory, tmp_path, ws):
    conf = tmp_path / "b.conf"
    conf.write_text("[plugin.python]\nmpiexec_args = --oversubscribe\n")
    d = daemon_factory()
    d.binary_args = ["-c", str(conf)]
    start_with_args(d)
    write_job(d, ws, "rank.py",
              "import os\nprint('rank', os.environ['OMPI_COMM_WORLD_RANK'],"
              " flush=True)\n")
    r = run(d, ws, "rank.py", pb.ClusterConfig(
        instance_type="local", workers_quantity=2, version="3"),
        env={"OMPI_ALLOW_RUN_AS_ROOT": "1",
             "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
             "OMPI_MCA_plm": "isolated", "OMPI_MCA_btl": "self,vader"})
    out = logs(d, ws, r.uuid)
    assert r.status == pb.SUCCEEDED, (r.reason_text, out,
                                      logs(d, ws, r.uuid, pb.STDERR))
    assert sorted(out.decode().split("\n")[:2]) == ["rank 0", "rank 1"]


def test_sql_engine_and_failing_query(daemon, ws):
    d = daemon
    write_job(d, ws, "ok.sql", "CREATE TABLE t(x); INSERT INTO t VALUES(7);"
              " SELECT x * 6 FROM t;\n")
    write_job(d, ws, "bad.sql", "SELECT * FROM nowhere;\n")
    r = run(d, ws, "ok.sql", type_=pb.SQL)
    assert r.status == pb.SUCCEEDED
    assert logs(d, ws, r.uuid) == b"42\n"
    r = run(d, ws, "bad.sql", type_=pb.SQL)
    assert r.status == pb.FAILED and r.reason == pb.NON_ZERO_EXIT_CODE
    assert b"no such table" in logs(d, ws, r.uuid, pb.STDERR)
