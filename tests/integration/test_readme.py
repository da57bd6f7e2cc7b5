"""The README's "First run, step by step" block, run as written, against
batchd started as a newcomer starts it: `make run`'s own command (`make -s
run-command`: relative ./var, configs/batchd.conf) in a directory laid
out as a clone (configs/, build/ with the binaries under test), as root
when the tests are. Only the ports differ (RUN_NATS_PORT, RUN_HTTP and
the metrics address in the block), and RUN_UUID is the run the block
submitted last."""

import os
import re
import shlex
import shutil
import subprocess

import pytest

import harness

pytestmark = pytest.mark.usefixtures("nats_server")

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
README = os.path.join(REPO, "README.md")
BIN = os.path.dirname(os.path.abspath(harness.BATCHD_BIN))
BATCHCTL = os.environ.get("BATCHCTL_BIN") or os.path.join(BIN, "batchctl")


def walkthrough():
    text = open(README).read()
    m = re.search(r"## First run, step by step\n.*?```sh\n(.*?)```", text,
                  re.S)
    assert m, "README has no 'First run, step by step' shell block"
    return m.group(1)


def clone(root):
    """A directory as make run sees it: configs/batchd.conf and build/
    holding the binaries under test (the shim and plugins beside
    batchd's real path)."""
    os.makedirs(os.path.join(root, "configs"))
    shutil.copy(os.path.join(REPO, "configs", "batchd.conf"),
                os.path.join(root, "configs"))
    os.makedirs(os.path.join(root, "build"))
    os.symlink(harness.BATCHD_BIN, os.path.join(root, "build", "batchd"))
    os.symlink(BATCHCTL, os.path.join(root, "build", "batchctl"))


def run_command(nats_port, http):
    p = subprocess.run(["make", "-s", "--no-print-directory", "-C", REPO,
                        "run-command", "RUN_NATS_PORT=%d" % nats_port,
                        "RUN_HTTP=%s" % http],
                       capture_output=True, text=True, check=True)
    cmd = p.stdout.strip()
    assert "BATCHD_DATA_DIR=./var" in cmd and "./build/batchd" in cmd, cmd
    return cmd


class MakeRunDaemon(harness.Daemon):
    """batchd started by make run's command line in root."""

    def __init__(self, root, nats_url, command):
        super().__init__(root, nats_url)
        self.command = command

    def env(self):
        return {k: v for k, v in os.environ.items()
                if not k.startswith("BATCHD_")}

    def start(self, wait=True, timeout=10.0):
        harness.passable(self.data_dir)
        # VAR=value ... ./build/batchd ARGS, as the shell runs it
        words, env = shlex.split(self.command), self.env()
        while re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            k, v = words.pop(0).split("=", 1)
            env[k] = v
        self._log = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(words, env=env, cwd=self.tmpdir,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        self.starts += 1
        if wait:
            self.wait_ready(timeout)
        return self


def test_readme_walkthrough(nats_server, tmp_path):
    root = tmp_path / "clone"
    clone(str(root))
    port = harness.free_port()
    http = "127.0.0.1:%d" % port
    d = MakeRunDaemon(str(root), nats_server.url,
                      run_command(nats_server.port, http))
    try:
        d.start()
        last_run = ("$(build/batchctl -o json run list | python3 -c 'import "
                    "json, sys; print(json.load(sys.stdin)[0][\"uuid\"])')")
        script = (walkthrough().replace("127.0.0.1:9464", http)
                  .replace("RUN_UUID", last_run))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("BATCHD_")}
        env["NATS_URL"] = d.nats_url
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script],
                           cwd=str(root), env=env, capture_output=True,
                           text=True, timeout=180)
        out = p.stdout
        assert p.returncode == 0, "stdout:\n%s\nstderr:\n%s\n%s" % (
            out, p.stderr, d.log_tail())
        # the job's output: --follow on main (once), --follow on pair (two
        # ranks), run logs of pair's run (two ranks)
        for i in range(3):
            ln = "step %d ['--day', '2026-11-24']" % i
            assert out.count(ln) == 5, out
        assert "RUNNING -> SUCCEEDED" in out, out
        assert len(re.findall(r"^[0-9a-f-]{36}\s+SUCCEEDED", out,
                              re.M)) == 2, out
        assert re.search(r'^batchd_run_transitions_total\{.*status='
                         r'"SUCCEEDED"', out, re.M), out
        # status changes of --follow on stderr, and no sanitizer report
        assert "SUCCEEDED" in p.stderr, p.stderr
        assert "Sanitizer" not in p.stderr, p.stderr
        # the paths were resolved once, at start: the job's file was found
        # under an absolute data_dir
        log = d.log_text()
        assert "data_dir=%s/var " % os.path.realpath(str(root)) in log, log
    finally:
        try:
            if d.proc is not None:
                d.stop()
        finally:
            harness.stop_shims(d)
            d._drop_nc()


def test_make_run_check_config_prints_absolute_paths(tmp_path):
    """make run's relative ./var (and every other path) is absolute from
    the start: --check-config prints what batchd will use."""
    root = tmp_path / "clone"
    clone(str(root))
    words = shlex.split(run_command(4222, "127.0.0.1:9464"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BATCHD_")}
    while re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    env["BATCHD_SHIM"] = "build/../build/batchd-shim"
    p = subprocess.run(words + ["--check-config"], cwd=str(root), env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    conf = dict(line.split(" = ", 1) for line in p.stdout.splitlines()
                if " = " in line and not line.startswith("#"))
    here = os.path.realpath(str(root))
    assert conf["data_dir"] == here + "/var", conf
    assert conf["workspace_root"] == here + "/var/workspaces", conf
    assert conf["shim"] == here + "/build/batchd-shim", conf
    assert not os.path.exists(str(root / "var"))    # nothing made


def workflow_block():
    text = open(README).read()
    m = re.search(r"## Workflows\n.*?```sh\n(.*?)```", text, re.S)
    assert m, "README has no 'Workflows' shell block"
    return m.group(1)


def test_readme_workflow_pipeline(daemon, ws, tmp_path):
    """The README's pipeline, run as written (batchctl under build/):
    four runs made at once, each after what it names, all SUCCEEDED."""
    root = tmp_path / "clone"
    os.makedirs(str(root / "build"))
    os.symlink(BATCHCTL, str(root / "build" / "batchctl"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BATCHD_")}
    env.update(NATS_URL=daemon.nats_url, BATCHD_WORKSPACE=ws)
    p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c",
                        workflow_block()], cwd=str(root), env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "stdout:\n%s\nstderr:\n%s" % (p.stdout,
                                                            p.stderr)
    uuids = re.findall(r"^([0-9a-f-]{36})\s+PENDING", p.stdout, re.M)
    assert len(uuids) == 4, p.stdout
    runs = [harness.wait_run(daemon, ws, u, timeout=60) for u in uuids]
    pb = harness._pb()
    assert [r.status for r in runs] == [pb.SUCCEEDED] * 4, runs
    orders, customers, load, report = runs
    assert [d.run_uuid for d in load.depends_on] == [orders.uuid,
                                                     customers.uuid]
    assert report.depends_on[0].condition == pb.AFTER_ENDED
    assert load.started_at_ms >= max(orders.finished_at_ms,
                                     customers.finished_at_ms)
    assert report.started_at_ms >= load.finished_at_ms
    out = harness.read_logs(daemon, ws, orders.uuid)[0].decode()
    assert "extract ['--table', 'orders']" in out, out
