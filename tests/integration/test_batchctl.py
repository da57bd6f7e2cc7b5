"""batchctl, the command-line client: the real binary (BATCHCTL_BIN, or
batchctl next to the batchd under test, so that `make test` runs
build/san/batchctl) driven against the real daemon. Every invocation's
stderr is checked for sanitizer reports (leaks included)."""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid as uuidlib

import pytest

import harness
from harness import UUID_RE, _pb, assert_ok

pb = _pb()
pytestmark = pytest.mark.usefixtures("nats_server")

BATCHCTL = os.environ.get("BATCHCTL_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(harness.BATCHD_BIN)), "batchctl")

STATUS_LINE = re.compile(r"^batchctl: run [0-9a-f-]{36}: .*$", re.M)

# The job of the product documentation, with its file name and units.
DOC_JOB = {
    "source": {"type": "WORKSPACE", "definition": {"path": "jobs"}},
    "type": "PYTHON",
    "sourceLocation": "etl.py",
    "args": {"args": "--day 2026-11-24"},
    "retryStrategy": {"numRetries": 2, "delayBetweenRetries": 1,
                      "retryOnTimeout": False},
    "timeout": 60,
    "envVars": {"STAGE": "prod"},
}
DOC_CLUSTER = {"instanceType": "local", "workersQuantity": 1, "version": "3"}

# Prints on both streams, in order, and its arguments and environment.
ETL = """\
import os, sys
print("out 1", flush=True)
print("err 1", file=sys.stderr, flush=True)
print("args", sys.argv[1:], flush=True)
print("stage", os.environ.get("STAGE"), os.environ.get("EXTRA"), flush=True)
print("err 2", file=sys.stderr, flush=True)
print("out end", flush=True)
"""

FAIL = """\
import os, sys
print("try", os.environ["BATCHD_ATTEMPT"], flush=True)
print("bad thing", file=sys.stderr, flush=True)
sys.exit(3)
"""

SLOW = """\
import time
for i in range(600):
    print("tick", i, flush=True)
    time.sleep(0.1)
"""

# 300 000 bytes on stdout in lines, some stderr: several chunks.
BIG = """\
import sys
for i in range(10000):
    sys.stdout.write("line %05d %s\\n" % (i, "x" * 18))
    if i % 1000 == 0:
        sys.stdout.flush()
        sys.stderr.write("progress %d\\n" % i)
        sys.stderr.flush()
"""
BIG_OUT = "".join("line %05d %s\n" % (i, "x" * 18) for i in range(10000))
BIG_ERR = "".join("progress %d\n" % i for i in range(0, 10000, 1000))


# ---------------------------------------------------------------- helpers

@pytest.fixture
def bd(request, daemon_factory):
    """A started daemon whose jobs run with this python and stop fast."""
    try:
        return request.getfixturevalue("run_daemon")
    except pytest.FixtureLookupError:
        return daemon_factory(env={"BATCHD_KILL_GRACE_S": "1",
                                   "BATCHD_PYTHON": sys.executable}).start()


def ctl_env(d, ws):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BATCHD_") and k != "NATS_URL"}
    if d is not None:
        env["NATS_URL"] = d.nats_url
    env["BATCHD_WORKSPACE"] = ws
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    return env


def check_clean(stderr):
    hits = [m for m in harness.SANITIZER_MARKERS if m in stderr]
    assert not hits, "sanitizer report in batchctl stderr:\n" + stderr


def ctl(d, ws, *args, cwd=None, timeout=60, stdin=None):
    """Run batchctl; return the CompletedProcess (text), stderr checked."""
    assert os.access(BATCHCTL, os.X_OK), (
        "%s not built (make build/batchctl, or set BATCHCTL_BIN)" % BATCHCTL)
    p = subprocess.run([BATCHCTL] + list(args), env=ctl_env(d, ws),
                       cwd=cwd, capture_output=True, text=True,
                       timeout=timeout, input=stdin)
    check_clean(p.stderr)
    return p


def ok(d, ws, *args, **kw):
    p = ctl(d, ws, *args, **kw)
    assert p.returncode == 0, ("batchctl %s: exit %d\nstdout:\n%s\nstderr:\n"
                               "%s" % (" ".join(args), p.returncode,
                                       p.stdout, p.stderr))
    return p


def js(d, ws, *args, **kw):
    return json.loads(ok(d, ws, "-o", "json", *args, **kw).stdout)


def popen(d, ws, *args):
    return subprocess.Popen([BATCHCTL] + list(args), env=ctl_env(d, ws),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(p, timeout=60):
    out, err = p.communicate(timeout=timeout)
    check_clean(err)
    return p.returncode, out, err


def first_line(p, timeout=30):
    """The first line p writes on stdout, read from the pipe byte by byte
    (finish() reads the rest: nothing may sit in a buffer of ours)."""
    fd = p.stdout.fileno()
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, "no line on stdout within %d s (%r)" % (timeout, line)
        c = os.read(fd, 1)
        assert c, "stdout closed after %r" % line
        line += c
    return line.decode()


def without_status(stderr):
    """stderr without batchctl's status lines: the job's own stderr."""
    return "".join(line for line in stderr.splitlines(keepends=True)
                   if not STATUS_LINE.match(line))


def write_json(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def write_job(d, ws, location, code):
    path = os.path.join(d.ws_root, ws, "jobs", location)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(code)


def jobdef(d, ws, tmp_path, name, location, code, **changes):
    """Create a definition (doc shape plus changes) with batchctl."""
    write_job(d, ws, location, code)
    job = json.loads(json.dumps(DOC_JOB))
    job["sourceLocation"] = location
    job.update(changes)
    cfg = write_json(tmp_path, name + ".json", job)
    cl = write_json(tmp_path, "cluster.json", DOC_CLUSTER)
    return js(d, ws, "jobdef", "create", name, "--config", cfg,
              "--cluster-config", cl)


def wait_status(d, ws, run, statuses, timeout=30):
    return harness.wait_until(
        lambda: (lambda r: r if r["status"] in statuses else None)(
            js(d, ws, "run", "get", run)),
        timeout, interval=0.1, what="run %s in %s" % (run, statuses))


# ---------------------------------------------------------------- usage

HELP = [
    [], ["jobdef"], ["jobdef", "create"], ["jobdef", "get"],
    ["jobdef", "list"], ["jobdef", "update"], ["jobdef", "delete"],
    ["cluster"], ["cluster", "create"], ["cluster", "get"],
    ["cluster", "list"], ["cluster", "pause"], ["cluster", "resume"],
    ["cluster", "delete"], ["run"], ["run", "submit"], ["run", "sql"],
    ["run", "get"], ["run", "list"], ["run", "cancel"],
    ["run", "submit-batch"], ["run", "rerun"],
    ["run", "cancel-all"], ["run", "logs"], ["run", "events"], ["events"],
    ["schedule"], ["schedule", "create"], ["schedule", "get"],
    ["schedule", "list"], ["schedule", "update"], ["schedule", "delete"],
    ["schedule", "pause"], ["schedule", "resume"], ["schedule", "trigger"],
    ["schedule", "history"],
]


@pytest.mark.parametrize("words", HELP, ids=lambda w: "-".join(w) or "top")
def test_help(words):
    # No server: --help never connects.
    p = ctl(None, "default", *(words + ["--help"]))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage: batchctl " + " ".join(words)), p.stdout
    assert p.stderr == ""


def test_help_documents_exit_codes_and_json_keys():
    top = ctl(None, "default", "--help").stdout
    for code in ["0  success", "1  the run FAILED", "2  the run was CANCELLED",
                 "3  batchd refused", "4  bad command line",
                 "5  NATS error"]:
        assert code in top, top
    create = ctl(None, "default", "jobdef", "create", "--help").stdout
    for key in ["timeoutSeconds", "delayBetweenRetriesSeconds", "repoUrl",
                "bucketPath", "workersQuantity"]:
        assert key in create, create


@pytest.mark.parametrize("args,message", [
    ([], "usage: batchctl"),
    (["nope"], "unknown command 'nope'"),
    (["run", "nope"], "unknown command 'run nope'"),
    (["run"], "usage: batchctl run"),
    (["run", "submit"], "run submit: missing argument"),
    (["run", "get", "a", "b"], "unexpected argument 'b'"),
    (["run", "list", "--bogus"], "unknown option '--bogus'"),
    (["run", "list", "--status", "DONE"], "--status: 'DONE'"),
    (["run", "list", "--limit", "-1"], "--limit: '-1'"),
    (["run", "submit", "x", "--env", "NOEQUALS"], "--env: 'NOEQUALS'"),
    (["jobdef", "create", "x"], "--config, --text or --code is required"),
    (["run", "submit", "x", "--retry-on", "soon"],
     "--retry-on: 'soon' is neither an exit code nor a reason"),
    (["run", "submit", "x", "--exit-on", ","], "--exit-on: give exit"),
    (["run", "submit", "x", "--backoff", "fast"], "--backoff: 'fast'"),
    (["run", "submit", "x", "--timeout", "-1"], "--timeout: '-1'"),
    (["jobdef", "create", "x", "--code", "1", "--type", "R"],
     "--type: 'R'"),
    (["jobdef", "create", "x", "--text", "/nonexistent/x.py"],
     "--text: /nonexistent/x.py: No such file"),
    (["jobdef", "update", "x"], "nothing to change"),
    (["jobdef", "update", "x", "--cluster-config", "c.json",
      "--no-cluster-config"], "exclude each other"),
    (["-o", "yaml", "jobdef", "list"], "-o: 'yaml'"),
    (["--timeout", "soon", "jobdef", "list"], "--timeout: 'soon'"),
    (["--workspace", "a.b", "jobdef", "list"], "workspace 'a.b'"),
    (["run", "logs", "x", "--attempt", "0"], "--attempt"),
    (["schedule", "create", "x", "--def", "d"], "--cron is required"),
    (["schedule", "create", "--cron", "@daily", "--def", "d"],
     "NAME is required"),
    (["schedule", "create", "x", "--cron", "@daily"], "--def is required"),
    (["schedule", "create", "x", "--misfire", "later"], "--misfire"),
    (["schedule", "update", "x"], "nothing to change"),
    (["schedule", "update", "x", "--max-concurrent", "-2"],
     "--max-concurrent"),
])
def test_usage_errors_exit_4(args, message):
    p = ctl(None, "default", *args)
    assert p.returncode == 4, (p.returncode, p.stderr)
    assert message in p.stderr, p.stderr
    assert p.stdout == ""


def test_nats_errors_exit_5(bd, ws):
    port = harness.free_port()
    p = ctl(None, ws, "--server", "nats://127.0.0.1:%d" % port, "jobdef",
            "list")
    assert p.returncode == 5, p.stderr
    assert "cannot connect to nats://127.0.0.1:%d" % port in p.stderr
    # Nobody serves this prefix.
    p = ctl(bd, ws, "--prefix", "nobody", "--timeout", "1", "jobdef", "list")
    assert p.returncode == 5, p.stderr
    assert "nobody.v1.%s.jobdef.list" % ws in p.stderr


# ---------------------------------------------------------------- jobdef

def test_jobdef_create_from_doc_json(bd, ws, tmp_path):
    write_job(bd, ws, "etl.py", ETL)
    cfg = write_json(tmp_path, "job.json", DOC_JOB)
    cl = write_json(tmp_path, "cluster.json", DOC_CLUSTER)
    jd = js(bd, ws, "jobdef", "create", "etl", "--config", cfg,
            "--cluster-config", cl, "--description", "nightly ETL")
    assert UUID_RE.match(jd["uuid"]), jd
    assert jd["name"] == "etl" and jd["workspace"] == ws
    assert jd["description"] == "nightly ETL"
    c = jd["config"]
    assert c["source"] == {"type": "WORKSPACE",
                           "workspace": {"path": "jobs"}}
    assert c["type"] == "PYTHON" and c["sourceLocation"] == "etl.py"
    assert c["args"] == "--day 2026-11-24"
    assert c["retryStrategy"] == {"numRetries": 2, "retryDelaySeconds": 60,
                                  "autoRetryOnTimeout": False,
                                  "backoffMultiplier": 1, "rules": []}
    assert c["timeoutSeconds"] == 3600
    assert c["env"] == {"STAGE": "prod"}
    assert jd["clusterConfig"] == {"instanceType": "local",
                                   "workersQuantity": 1, "version": "3"}
    # What batchd stored, read over the bus without batchctl.
    rep = bd.call("jobdef.get", pb.GetJobDefinitionRequest(uuid=jd["uuid"]),
                  pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    stored = rep.job_definition.config
    assert stored.retry_strategy.retry_delay_seconds == 60
    assert stored.timeout_seconds == 3600
    assert stored.args == "--day 2026-11-24"
    assert dict(stored.env) == {"STAGE": "prod"}
    # The table for people.
    out = ok(bd, ws, "jobdef", "get", "etl").stdout
    assert re.search(r"^Name:\s+etl$", out, re.M), out
    assert re.search(r"^UUID:\s+%s$" % jd["uuid"], out, re.M), out
    assert "Retries:      2, 60s apart" in out, out
    # Exact seconds, "args" as a string, stdin as the file.
    job = dict(DOC_JOB, args="-v", timeoutSeconds=5,
               retryStrategy={"delayBetweenRetriesSeconds": 3})
    del job["timeout"]
    jd2 = js(bd, ws, "jobdef", "create", "etl2", "--config", "-",
             stdin=json.dumps(job))
    assert jd2["config"]["timeoutSeconds"] == 5
    assert jd2["config"]["retryStrategy"]["retryDelaySeconds"] == 3
    assert jd2["config"]["args"] == "-v"
    assert "clusterConfig" not in jd2


JSON_ERRORS = [
    (dict(DOC_JOB, retryStrategy={"numRetries": "2"}),
     "job.json: $.retryStrategy.numRetries: expected an integer"),
    (dict(DOC_JOB, retryStrategy={"numRetries": 1.5}),
     "job.json: $.retryStrategy.numRetries: expected an integer"),
    (dict(DOC_JOB, retryStrategy={"retryOnTimeout": "yes"}),
     "job.json: $.retryStrategy.retryOnTimeout: expected true or false"),
    (dict(DOC_JOB, retryStrategy={"retries": 1}),
     "job.json: $.retryStrategy.retries: unknown key"),
    (dict(DOC_JOB, retryStrategy={"delayBetweenRetries": 1,
                                  "delayBetweenRetriesSeconds": 1}),
     "job.json: $.retryStrategy.delayBetweenRetriesSeconds: "
     "delayBetweenRetries is given already"),
    (dict(DOC_JOB, timeout=-1),
     "job.json: $.timeout: expected a non-negative integer"),
    (dict(DOC_JOB, timeout=10 ** 9), "job.json: $.timeout: 1000000000 is "
     "too large"),
    (dict(DOC_JOB, timeoutSeconds=5),
     "job.json: $.timeoutSeconds: timeout is given already"),
    (dict(DOC_JOB, bogus=1), "job.json: $.bogus: unknown key"),
    (dict(DOC_JOB, type="JAVA"), 'job.json: $.type: expected "PYTHON" or '
     '"SQL"'),
    (dict(DOC_JOB, sourceLocation=["etl.py"]),
     "job.json: $.sourceLocation: expected a string"),
    (dict(DOC_JOB, args=7),
     "job.json: $.args: expected a string or an object"),
    (dict(DOC_JOB, args={"argv": "x"}), "job.json: $.args.argv: unknown key"),
    (dict(DOC_JOB, envVars={"STAGE": 1}),
     "job.json: $.envVars.STAGE: expected a string"),
    (dict(DOC_JOB, envVars={"A B": True}),
     'job.json: $.envVars["A B"]: expected a string'),
    (dict(DOC_JOB, envVars=["A=1"]), "job.json: $.envVars: expected an "
     "object"),
    (dict(DOC_JOB, source={"type": "FTP"}),
     'job.json: $.source.type: expected "WORKSPACE", "GIT", "S3" or "TEXT"'),
    (dict(DOC_JOB, source={"definition": {"path": "jobs"}}),
     "job.json: $.source.type: missing"),
    (dict(DOC_JOB, source={"type": "WORKSPACE",
                           "definition": {"path": "jobs", "bucket": "b"}}),
     "job.json: $.source.definition.bucket: unknown key"),
    (dict(DOC_JOB, source={"type": "S3", "definition": {"path": "jobs"}}),
     "job.json: $.source.definition.path: unknown key"),
    (dict(DOC_JOB, source={"type": "GIT", "definition": {"repoUrl": 1}}),
     "job.json: $.source.definition.repoUrl: expected a string"),
    ([DOC_JOB], "job.json: $: expected an object"),
    ('{"type": "PYTHON",', "job.json:1:"),
    ('{"type": "PYTHON", "type": "SQL"}', "job.json:1:"),
]


@pytest.mark.parametrize("job,message", JSON_ERRORS,
                         ids=[str(i) for i in range(len(JSON_ERRORS))])
def test_jobdef_json_errors(bd, ws, tmp_path, job, message):
    write_json(tmp_path, "job.json", job)
    p = ctl(bd, ws, "jobdef", "create", "x", "--config", "job.json",
            cwd=str(tmp_path))
    assert p.returncode == 4, (p.returncode, p.stderr)
    assert p.stderr.startswith("batchctl: " + message), p.stderr
    assert js(bd, ws, "jobdef", "list") == []


@pytest.mark.parametrize("cluster,message", [
    ({"instanceType": "x", "workersQuantity": "2"},
     "c.json: $.workersQuantity: expected an integer"),
    ({"instanceType": "x", "workers": 2}, "c.json: $.workers: unknown key"),
    ({"instanceType": 5}, "c.json: $.instanceType: expected a string"),
])
def test_cluster_json_errors(bd, ws, tmp_path, cluster, message):
    write_json(tmp_path, "c.json", cluster)
    write_json(tmp_path, "job.json", DOC_JOB)
    for args in (["cluster", "create", "c", "--config", "c.json"],
                 ["jobdef", "create", "j", "--config", "job.json",
                  "--cluster-config", "c.json"],
                 ["run", "sql", "select 1;", "--cluster-config", "c.json"]):
        p = ctl(bd, ws, *args, cwd=str(tmp_path))
        assert p.returncode == 4, (args, p.returncode, p.stderr)
        assert p.stderr.startswith("batchctl: " + message), p.stderr
    p = ctl(bd, ws, "cluster", "create", "c", "--config", "missing.json",
            cwd=str(tmp_path))
    assert p.returncode == 4
    assert "missing.json: No such file or directory" in p.stderr


def test_jobdef_get_list_update_delete(bd, ws, tmp_path):
    b = jobdef(bd, ws, tmp_path, "beta", "etl.py", ETL)
    a = jobdef(bd, ws, tmp_path, "alpha", "etl.py", ETL)
    listed = js(bd, ws, "jobdef", "list")
    assert [j["name"] for j in listed] == ["alpha", "beta"]
    assert listed[0] == a and listed[1] == b
    table = ok(bd, ws, "jobdef", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "UUID", "TYPE", "SOURCE",
                                "LOCATION", "UPDATED"]
    assert table[1].startswith("alpha ") and a["uuid"] in table[1]
    assert table[2].startswith("beta ") and b["uuid"] in table[2]
    # Columns are aligned.
    assert table[1].index(a["uuid"]) == table[2].index(b["uuid"])
    assert js(bd, ws, "jobdef", "get", a["uuid"]) == a
    assert js(bd, ws, "jobdef", "get", "alpha") == a
    assert js(bd, ws, "jobdef", "get", a["uuid"].upper()) == a

    # Update: description only, then config, then the default cluster.
    u = js(bd, ws, "jobdef", "update", a["uuid"], "--description", "new")
    assert u["description"] == "new" and u["config"] == a["config"]
    assert u["clusterConfig"] == a["clusterConfig"]
    cfg = write_json(tmp_path, "upd.json", dict(DOC_JOB, timeoutSeconds=7,
                                                 timeout=None))
    u = js(bd, ws, "jobdef", "update", "alpha", "--config", cfg)
    assert u["config"]["timeoutSeconds"] == 7 and u["description"] == "new"
    cl = write_json(tmp_path, "big.json", {"instanceType": "big",
                                           "workersQuantity": 3})
    u = js(bd, ws, "jobdef", "update", a["uuid"], "--cluster-config", cl)
    assert u["clusterConfig"]["workersQuantity"] == 3
    u = js(bd, ws, "jobdef", "update", a["uuid"], "--no-cluster-config")
    assert "clusterConfig" not in u

    p = ok(bd, ws, "jobdef", "delete", a["uuid"])
    assert p.stdout == "deleted job definition %s\n" % a["uuid"]
    assert [j["name"] for j in js(bd, ws, "jobdef", "list")] == ["beta"]
    assert js(bd, ws, "jobdef", "delete", "beta") == {"uuid": b["uuid"],
                                                      "deleted": True}
    assert js(bd, ws, "jobdef", "list") == []
    assert ok(bd, ws, "jobdef", "list").stdout.split() == [
        "NAME", "UUID", "TYPE", "SOURCE", "LOCATION", "UPDATED"]


def test_server_errors_exit_3(bd, ws, tmp_path):
    unknown = str(uuidlib.uuid4())
    p = ctl(bd, ws, "jobdef", "get", unknown)
    assert p.returncode == 3
    assert re.fullmatch(r"batchctl: NOT_FOUND: .*%s.* \(field: uuid\)\n"
                        % unknown, p.stderr), p.stderr
    assert p.stdout == ""
    p = ctl(bd, ws, "jobdef", "get", "no-such-name")
    assert p.returncode == 3
    assert p.stderr.startswith("batchctl: NOT_FOUND: ")
    assert p.stderr.endswith("(field: name)\n")
    for args in (["run", "get", unknown], ["run", "cancel", unknown],
                 ["run", "logs", unknown], ["run", "events", unknown],
                 ["cluster", "get", unknown], ["jobdef", "delete", unknown],
                 ["run", "submit", unknown]):
        p = ctl(bd, ws, *args)
        assert p.returncode == 3, (args, p.stderr)
        assert p.stderr.startswith("batchctl: NOT_FOUND: "), (args, p.stderr)
    jobdef(bd, ws, tmp_path, "dup", "etl.py", ETL)
    cfg = write_json(tmp_path, "dup.json", DOC_JOB)
    p = ctl(bd, ws, "jobdef", "create", "dup", "--config", cfg)
    assert p.returncode == 3
    assert p.stderr.startswith("batchctl: ALREADY_EXISTS: ")
    assert p.stderr.endswith("(field: name)\n")
    # The server checks what the file cannot say alone, and names the field.
    cfg = write_json(tmp_path, "zero.json", dict(DOC_JOB, timeout=0))
    p = ctl(bd, ws, "jobdef", "create", "zero", "--config", cfg)
    assert p.returncode == 3
    assert p.stderr.startswith("batchctl: INVALID_ARGUMENT: ")
    assert "(field: config.timeout_seconds)" in p.stderr


def test_git_token_never_printed(bd, ws, tmp_path):
    job = dict(DOC_JOB, source={"type": "GIT", "definition": {
        "repoUrl": "https://example.com/r.git", "username": "bob",
        "token": "s3cr3t-t0ken", "reference": "main"}})
    cfg = write_json(tmp_path, "git.json", job)
    out = ok(bd, ws, "jobdef", "create", "git", "--config", cfg).stdout
    assert "s3cr3t" not in out and "****" in out
    jd = js(bd, ws, "jobdef", "get", "git")
    assert jd["config"]["source"]["git"] == {
        "repoUrl": "https://example.com/r.git", "username": "bob",
        "token": "****", "reference": "main"}
    assert "s3cr3t" not in ok(bd, ws, "-o", "json", "jobdef", "list").stdout


# ---------------------------------------------------------------- clusters

def test_cluster_lifecycle(bd, ws, tmp_path):
    # One worker: with more, PYTHON jobs run under mpiexec, which refuses
    # to run as root.
    cfg = write_json(tmp_path, "c.json", {"instanceType": "m5.large",
                                          "workersQuantity": 1,
                                          "version": "3.5"})
    c = js(bd, ws, "cluster", "create", "etl", "--config", cfg,
           "--no-auto-resume")
    assert UUID_RE.match(c["uuid"])
    assert c["state"] == "RUNNING" and c["autoResume"] is False
    assert c["config"] == {"instanceType": "m5.large", "workersQuantity": 1,
                           "version": "3.5"}
    d = js(bd, ws, "cluster", "create", "auto", "--config", cfg)
    assert d["autoResume"] is True
    assert js(bd, ws, "cluster", "get", "etl") == c
    assert js(bd, ws, "cluster", "pause", c["uuid"])["state"] == "PAUSED"
    out = ok(bd, ws, "cluster", "list").stdout.splitlines()
    assert out[0].split()[:3] == ["NAME", "UUID", "STATE"]
    assert out[1].split()[:3] == ["auto", d["uuid"], "RUNNING"]
    assert out[2].split()[:3] == ["etl", c["uuid"], "PAUSED"]
    assert [x["name"] for x in js(bd, ws, "cluster", "list")] == ["auto",
                                                                 "etl"]

    # A paused cluster without auto-resume refuses runs.
    jobdef(bd, ws, tmp_path, "etl", "etl.py", ETL)
    p = ctl(bd, ws, "run", "submit", "etl", "--cluster", "etl")
    assert p.returncode == 3
    assert p.stderr.startswith("batchctl: CLUSTER_PAUSED: ")
    assert "(field: cluster_uuid)" in p.stderr
    assert js(bd, ws, "cluster", "resume", "etl")["state"] == "RUNNING"
    run = js(bd, ws, "run", "submit", "etl", "--cluster", "etl", "--wait")
    assert run["status"] == "SUCCEEDED" and run["clusterUuid"] == c["uuid"]

    assert ok(bd, ws, "cluster", "delete", "etl").stdout == (
        "deleted cluster %s\n" % c["uuid"])
    p = ctl(bd, ws, "cluster", "get", c["uuid"])
    assert p.returncode == 3 and "NOT_FOUND" in p.stderr
    assert [x["name"] for x in js(bd, ws, "cluster", "list")] == ["auto"]


# ---------------------------------------------------------------- runs

def test_submit_follow_output_exact(bd, ws, tmp_path):
    jobdef(bd, ws, tmp_path, "etl", "etl.py", ETL)
    p = ctl(bd, ws, "run", "submit", "etl", "--follow", "--args",
            "--day 'two words'", "--env", "EXTRA=x=y")
    assert p.returncode == 0, p.stderr
    assert p.stdout == ("out 1\nargs ['--day', 'two words']\n"
                        "stage prod x=y\nout end\n")
    assert without_status(p.stderr) == "err 1\nerr 2\n", p.stderr
    status = STATUS_LINE.findall(p.stderr)
    assert "PENDING (Recently submitted)" in status[0]
    assert ": SUCCEEDED" in status[-1], status
    assert status[-1].endswith(", attempt 1, exit code 0"), status
    run = re.match(r"batchctl: run ([0-9a-f-]{36})", status[0]).group(1)
    # Stored output is the same, and run.get agrees.
    assert ok(bd, ws, "run", "logs", run).stdout == p.stdout
    assert ok(bd, ws, "run", "logs", run, "--stderr").stdout == \
        "err 1\nerr 2\n"
    r = js(bd, ws, "run", "get", run)
    assert r["status"] == "SUCCEEDED" and r["exitCode"] == 0
    assert r["args"] == "--day 'two words'" and r["env"] == {"EXTRA": "x=y"}


def test_submit_follow_big_output(bd, ws, tmp_path):
    jobdef(bd, ws, tmp_path, "big", "big.py", BIG)
    p = ctl(bd, ws, "run", "submit", "big", "--follow")
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout == BIG_OUT
    assert without_status(p.stderr) == BIG_ERR


def test_submit_follow_failure_with_retry(bd, ws, tmp_path):
    jobdef(bd, ws, tmp_path, "fail", "fail.py", FAIL,
           retryStrategy={"numRetries": 1, "delayBetweenRetriesSeconds": 0})
    p = ctl(bd, ws, "run", "submit", "fail", "--follow")
    assert p.returncode == 1, p.stderr
    assert p.stdout == "try 1\ntry 2\n"
    assert without_status(p.stderr) == "bad thing\nbad thing\n", p.stderr
    last = STATUS_LINE.findall(p.stderr)[-1]
    assert "FAILED (NonZeroExitCode), attempt 2, exit code 3" in last, last
    run = re.search(r"run ([0-9a-f-]{36})", last).group(1)
    assert ok(bd, ws, "run", "logs", run, "--attempt", "1").stdout == \
        "try 1\n"
    assert ok(bd, ws, "run", "logs", run).stdout == "try 2\n"
    p = ctl(bd, ws, "run", "logs", run, "--attempt", "3")
    assert p.returncode == 4 and "has 2 attempts" in p.stderr
    # --wait: the final run on stdout, the outcome as the exit status.
    p = ctl(bd, ws, "-o", "json", "run", "submit", "fail", "--wait")
    assert p.returncode == 1, p.stderr
    r = json.loads(p.stdout)
    assert r["status"] == "FAILED" and r["attempt"] == 2
    assert [a["exitCode"] for a in r["attempts"]] == [3, 3]


def test_submit_wait_and_idempotency(bd, ws, tmp_path):
    jd = jobdef(bd, ws, tmp_path, "etl", "etl.py", ETL)
    r = js(bd, ws, "run", "submit", jd["uuid"], "--wait",
           "--idempotency-key", "k1")
    assert r["status"] == "SUCCEEDED" and r["jobDefinitionUuid"] == jd["uuid"]
    again = js(bd, ws, "run", "submit", "etl", "--idempotency-key", "k1")
    assert again["uuid"] == r["uuid"]
    # Following a run that has already ended prints all of it.
    p = ctl(bd, ws, "run", "submit", "etl", "--idempotency-key", "k1",
            "--follow")
    assert p.returncode == 0
    assert p.stdout.startswith("out 1\n") and p.stdout.endswith("out end\n")
    out = ok(bd, ws, "run", "get", r["uuid"]).stdout
    assert re.search(r"^Status:\s+SUCCEEDED$", out, re.M), out
    assert re.search(r"^Attempts:$", out, re.M), out


def test_run_list_and_events(bd, ws, tmp_path):
    etl = jobdef(bd, ws, tmp_path, "etl", "etl.py", ETL)
    fail = jobdef(bd, ws, tmp_path, "fail", "fail.py", FAIL,
                  retryStrategy={"numRetries": 0})
    r1 = js(bd, ws, "run", "submit", "etl", "--wait")
    p = ctl(bd, ws, "-o", "json", "run", "submit", "fail", "--wait")
    assert p.returncode == 1
    r2 = json.loads(p.stdout)
    cfg = write_json(tmp_path, "c.json", DOC_CLUSTER)
    keep = js(bd, ws, "cluster", "create", "keep", "--config", cfg)
    r3 = js(bd, ws, "run", "submit", "etl", "--cluster", "keep", "--wait")
    runs = js(bd, ws, "run", "list")
    assert [r["uuid"] for r in runs] == [r3["uuid"], r2["uuid"], r1["uuid"]]
    assert [r["uuid"] for r in js(bd, ws, "run", "list", "--status",
                                  "failed")] == [r2["uuid"]]
    assert [r["uuid"] for r in js(bd, ws, "run", "list", "--jobdef",
                                  "etl")] == [r3["uuid"], r1["uuid"]]
    assert [r["uuid"] for r in js(bd, ws, "run", "list", "--jobdef",
                                  fail["uuid"])] == [r2["uuid"]]
    assert [r["uuid"] for r in js(bd, ws, "run", "list", "--limit",
                                  "2")] == [r3["uuid"], r2["uuid"]]
    assert [r["uuid"] for r in js(bd, ws, "run", "list", "--cluster",
                                  "keep")] == [r3["uuid"]]
    assert r3["clusterUuid"] == keep["uuid"]
    table = ok(bd, ws, "run", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["RUN", "STATUS", "REASON"]
    assert table[1].split()[:2] == [r3["uuid"], "SUCCEEDED"]
    assert table[2].split()[:3] == [r2["uuid"], "FAILED", "NonZeroExitCode"]
    assert re.search(r"(just now|\ds ago)", table[1]), table[1]
    assert etl["uuid"] == r1["jobDefinitionUuid"]

    ev = js(bd, ws, "run", "events", r1["uuid"])
    assert [e["seq"] for e in ev] == [1, 2, 3]
    assert [e["status"] for e in ev] == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert all(e["runUuid"] == r1["uuid"] for e in ev)
    out = ok(bd, ws, "run", "events", r1["uuid"]).stdout
    assert "RUNNING -> SUCCEEDED" in out and "Recently submitted" in out


def test_run_cancel(bd, ws, tmp_path):
    jobdef(bd, ws, tmp_path, "slow", "slow.py", SLOW)
    r = js(bd, ws, "run", "submit", "slow")
    wait_status(bd, ws, r["uuid"], ["RUNNING"])
    harness.wait_until(lambda: "tick 2" in ok(bd, ws, "run", "logs",
                                              r["uuid"]).stdout,
                       30, what="output")
    logs = popen(bd, ws, "run", "logs", r["uuid"], "-f")
    follow = popen(bd, ws, "run", "submit", "slow", "--follow")
    time.sleep(0.5)
    c = js(bd, ws, "run", "cancel", r["uuid"])
    assert c["uuid"] == r["uuid"]
    assert c["status"] == "CANCELLED" or c["status"] == "RUNNING"
    rc, out, err = finish(logs)
    assert rc == 0, err
    assert out.startswith("tick 0\ntick 1\ntick 2\n"), out
    assert out == ok(bd, ws, "run", "logs", r["uuid"]).stdout
    assert wait_status(bd, ws, r["uuid"], ["CANCELLED"])["reasonText"] == \
        "Cancelled by user"
    p = ctl(bd, ws, "run", "cancel", r["uuid"])
    assert p.returncode == 3
    assert p.stderr.startswith("batchctl: FAILED_PRECONDITION: ")

    # The follower of the other run ends with 2 when it is cancelled.
    other = harness.wait_until(
        lambda: [x for x in js(bd, ws, "run", "list", "--status", "running")
                 if x["uuid"] != r["uuid"]], 30, what="second run")
    ok(bd, ws, "run", "cancel", other[0]["uuid"])
    rc, out, err = finish(follow)
    assert rc == 2, err
    assert out.startswith("tick 0\n")
    assert "CANCELLED (Cancelled by user), attempt 1" in \
        STATUS_LINE.findall(err)[-1], err


def test_run_cancel_all(bd, ws, tmp_path):
    jobdef(bd, ws, tmp_path, "slow", "slow.py", SLOW)
    cfg = write_json(tmp_path, "c.json", DOC_CLUSTER)
    c = js(bd, ws, "cluster", "create", "q", "--config", cfg)
    runs = [js(bd, ws, "run", "submit", "slow", "--cluster", "q")["uuid"]
            for _ in range(3)]
    p = ok(bd, ws, "run", "cancel-all", "--cluster", "q")
    lines = p.stdout.splitlines()
    assert lines[0] == "cancelled 3 runs", p.stdout
    assert sorted(lines[1:]) == sorted(runs)
    for r in runs:
        wait_status(bd, ws, r, ["CANCELLED"])
    again = js(bd, ws, "run", "cancel-all", "--cluster", c["uuid"],
               "--jobdef", "slow")
    assert again.get("cancelled", 0) == 0
    p = ctl(bd, ws, "run", "cancel-all")
    assert p.returncode == 4


def test_logs_follow_until_eof(bd, ws, tmp_path):
    code = ("import sys, time\n"
            "for i in range(5):\n"
            "    print('line', i, flush=True)\n"
            "    print('e', i, file=sys.stderr, flush=True)\n"
            "    time.sleep(0.3)\n")
    jobdef(bd, ws, tmp_path, "five", "five.py", code)
    r = js(bd, ws, "run", "submit", "five")
    out = popen(bd, ws, "run", "logs", r["uuid"], "-f")
    err = popen(bd, ws, "run", "logs", r["uuid"], "-f", "--stderr",
                "--attempt", "1")
    rc, text, e = finish(out)
    assert rc == 0, e
    assert text == "".join("line %d\n" % i for i in range(5))
    rc, text, e = finish(err)
    assert rc == 0, e
    assert text == "".join("e %d\n" % i for i in range(5))


def test_logs_follow_skips_a_chunk_that_does_not_decode(bd, ws, tmp_path):
    """A LogChunk whose ZSTD data does not decode (not batchd's: published
    here) is said on stderr and skipped; the output printed is still
    exactly the run's."""
    code = ("import time\n"
            "for i in range(8):\n"
            "    print('line', i, flush=True)\n"
            "    time.sleep(0.2)\n")
    jobdef(bd, ws, tmp_path, "eight", "eight.py", code)
    r = js(bd, ws, "run", "submit", "eight")
    follow = popen(bd, ws, "run", "logs", r["uuid"], "-f")
    # It subscribes before its run.get: once it prints, it is subscribed.
    first = first_line(follow)
    nc = harness.NatsClient(bd.nats_host, bd.nats_port)
    try:
        nc.publish("batchd.v1.%s.logs.%s" % (ws, r["uuid"]), pb.LogChunk(
            run_uuid=r["uuid"], attempt=1, stream=pb.STDOUT, offset=0,
            data=b"not a zstd frame", encoding=pb.ZSTD,
            size=100).SerializeToString())
        nc.flush()
    finally:
        nc.close()
    rc, out, err = finish(follow)
    assert rc == 0, err
    assert first + out == "".join("line %d\n" % i for i in range(8))
    assert ("batchctl: log chunk at offset 0 of attempt 1 (encoding 1) "
            "does not decode; skipped\n") in err, err


def test_follow_decodes_compressed_chunks(daemon_factory, ws, tmp_path):
    """With log_zstd_level on, batchctl still prints the output exactly
    (it decodes ZSTD chunks as well as plain ones)."""
    d = daemon_factory(env={"BATCHD_KILL_GRACE_S": "1",
                            "BATCHD_PYTHON": sys.executable,
                            "BATCHD_LOG_ZSTD_LEVEL": "1"}).start()
    try:
        jobdef(d, ws, tmp_path, "big", "big.py", BIG)
        nc = harness.NatsClient(d.nats_host, d.nats_port)
        sub = nc.subscribe("batchd.v1.%s.logs.>" % ws)
        nc.flush()
        p = ctl(d, ws, "run", "submit", "big", "--follow")
        assert p.returncode == 0, p.stderr[-2000:]
        assert p.stdout == BIG_OUT
        assert without_status(p.stderr) == BIG_ERR
        encodings = set()
        while True:
            try:
                _, data = sub.next(0.5)
            except harness.NatsTimeout:
                break
            encodings.add(pb.LogChunk.FromString(data).encoding)
        nc.close()
        assert pb.ZSTD in encodings, encodings
    finally:
        harness.stop_shims(d)


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="no sqlite3")
def test_jobdef_text_and_code(bd, ws, tmp_path):
    """--code and --text FILE make a TEXT source (no workspace file):
    PYTHON as main.py or FILE's name, SQL for FILE.sql."""
    cl = write_json(tmp_path, "cluster.json", DOC_CLUSTER)
    jd = js(bd, ws, "jobdef", "create", "inline", "--code",
            "import sys\nprint('inline', sys.argv[1:])\n",
            "--cluster-config", cl, "--timeout", "30", "--retries", "2",
            "--max-queue", "600")
    c = jd["config"]
    assert c["source"]["type"] == "TEXT"
    assert c["sourceLocation"] == "main.py" and c["type"] == "PYTHON"
    assert c["timeoutSeconds"] == 30 and c["maxQueueSeconds"] == 600
    assert c["retryStrategy"]["numRetries"] == 2
    p = ok(bd, ws, "run", "submit", "inline", "--args", "a b", "--follow")
    assert p.stdout == "inline ['a', 'b']\n"
    sql = tmp_path / "answer.sql"
    sql.write_text("select 6 * 7;\n")
    jd = js(bd, ws, "jobdef", "create", "answer", "--text", str(sql),
            "--cluster-config", cl)
    assert jd["config"]["type"] == "SQL"
    assert jd["config"]["sourceLocation"] == "answer.sql"
    assert jd["config"]["source"]["text"]["text"] == "select 6 * 7;\n"
    assert ok(bd, ws, "run", "submit", "answer", "--follow").stdout == "42\n"
    out = ok(bd, ws, "jobdef", "get", "answer").stdout
    assert re.search(r"^Source:\s+TEXT \(14 bytes\)$", out, re.M), out
    # A JSON configuration may carry the text too.
    job = {"source": {"type": "TEXT", "definition": {"text": "print(7)\n"}},
           "type": "PYTHON", "maxQueueSeconds": 5,
           "retryStrategy": {"backoffMultiplier": 2.5,
                             "maxRetryDelaySeconds": 90,
                             "rules": [{"onExitCodes": [3, 4],
                                        "action": "RETRY"},
                                       {"onReasons": ["TIMEOUT"],
                                        "action": "EXIT"}]}}
    jd = js(bd, ws, "jobdef", "create", "json", "--config",
            write_json(tmp_path, "t.json", job))
    rs = jd["config"]["retryStrategy"]
    assert rs["backoffMultiplier"] == 2.5
    assert rs["maxRetryDelaySeconds"] == 90
    assert rs["rules"] == [
        {"onExitCodes": [3, 4], "onReasons": [], "action": "RETRY"},
        {"onExitCodes": [], "onReasons": ["TIMEOUT"], "action": "EXIT"}]
    out = ok(bd, ws, "jobdef", "get", "json").stdout
    assert "Back-off:     x2.5, at most 90s" in out, out
    assert "Retry rules:  exit 3,4: RETRY; TIMEOUT: EXIT" in out, out
    assert "Max queue:    5s" in out, out
    # An update changes those fields of the stored configuration.
    jd = js(bd, ws, "jobdef", "update", "json", "--retries", "4",
            "--exit-on", "9", "--code", "print(8)\n")
    c = jd["config"]
    assert c["retryStrategy"]["numRetries"] == 4
    assert c["retryStrategy"]["backoffMultiplier"] == 2.5
    assert c["retryStrategy"]["rules"] == [
        {"onExitCodes": [9], "onReasons": [], "action": "EXIT"}]
    assert c["source"]["text"]["text"] == "print(8)\n"
    assert c["maxQueueSeconds"] == 5


def test_submit_policy_options(bd, ws, tmp_path):
    """run submit's --timeout, --retries, --retry-delay, --backoff,
    --max-retry-delay, --retry-on, --exit-on and --max-queue are this
    run's; batchd names a field out of range."""
    jobdef(bd, ws, tmp_path, "fail", "fail.py", FAIL)
    p = ctl(bd, ws, "run", "submit", "fail", "--retries", "2",
            "--retry-delay", "0", "--retry-on", "3", "--follow")
    assert p.returncode == 1, p.stderr
    assert p.stdout == "try 1\ntry 2\ntry 3\n"
    p = ctl(bd, ws, "run", "submit", "fail", "--retries", "2",
            "--exit-on", "NON_ZERO_EXIT_CODE", "--follow")
    assert p.returncode == 1, p.stderr
    assert p.stdout == "try 1\n"
    assert "retry rule 1 says EXIT" in p.stderr, p.stderr
    p = ctl(bd, ws, "-o", "json", "run", "submit", "fail", "--timeout",
            "7", "--retries", "1", "--retry-delay", "1", "--backoff", "2",
            "--max-retry-delay", "5", "--retry-on", "3,TIMEOUT",
            "--max-queue", "60", "--wait")
    assert p.returncode == 1, p.stderr
    r = json.loads(p.stdout)
    c = r["config"]
    assert c["timeoutSeconds"] == 7 and c["maxQueueSeconds"] == 60
    rs = c["retryStrategy"]
    assert (rs["numRetries"], rs["retryDelaySeconds"],
            rs["backoffMultiplier"], rs["maxRetryDelaySeconds"]) == (
        1, 1, 2, 5)
    assert rs["rules"] == [{"onExitCodes": [3], "onReasons": ["TIMEOUT"],
                            "action": "RETRY"}]
    assert len(r["attempts"]) == 2
    p = ctl(bd, ws, "run", "submit", "fail", "--backoff", "0.5")
    assert p.returncode == 3, p.stderr
    assert "retry_strategy.backoff_multiplier" in p.stderr, p.stderr


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="no sqlite3")
def test_sql_run(bd, ws, tmp_path):
    cfg = write_json(tmp_path, "c.json", DOC_CLUSTER)
    p = ctl(bd, ws, "run", "sql", "select 6*7;", "--cluster-config", cfg,
            "--follow")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "42\n"
    r = js(bd, ws, "run", "sql", "select 1;", "--cluster-config", cfg,
           "--wait")
    assert r["type"] == "SQL" and r["status"] == "SUCCEEDED"
    assert r["sqlQuery"] == "select 1;"
    p = ctl(bd, ws, "run", "sql", "select nope from missing_table;",
            "--cluster-config", cfg, "--follow")
    assert p.returncode == 1
    assert "no such table" in p.stderr


def test_events_live(bd, ws, tmp_path):
    jobdef(bd, ws, tmp_path, "etl", "etl.py", ETL)
    p = popen(bd, ws, "events")
    # The header is printed once subscribed.
    ready, _, _ = select.select([p.stdout], [], [], 30)
    assert ready, "no header"
    header = p.stdout.readline()
    assert header.split() == ["TIME", "RUN", "STATUS", "REASON", "ATTEMPT",
                              "EXIT"]
    r = js(bd, ws, "run", "submit", "etl", "--wait")
    lines = [p.stdout.readline() for _ in range(3)]
    p.send_signal(signal.SIGINT)
    rc, rest, err = finish(p, timeout=10)
    assert rc == 0, err
    assert rest == ""
    assert all(r["uuid"] in x for x in lines), lines
    assert "PENDING" in lines[0] and "Recently submitted" in lines[0]
    assert "PENDING -> RUNNING" in lines[1]
    assert "RUNNING -> SUCCEEDED" in lines[2]
    # JSON lines, filtered by run, ended by --count.
    p = popen(bd, ws, "-o", "json", "events", "--run", r["uuid"],
              "--count", "1")
    time.sleep(0.5)
    r2 = js(bd, ws, "run", "submit", "etl", "--wait")
    assert r2["uuid"] != r["uuid"]
    p.send_signal(signal.SIGINT)
    rc, out, err = finish(p, timeout=10)
    assert rc == 0 and out == "", (out, err)


def test_events_count(bd, ws, tmp_path):
    jobdef(bd, ws, tmp_path, "etl", "etl.py", ETL)
    cfg = write_json(tmp_path, "c.json", DOC_CLUSTER)
    c = js(bd, ws, "cluster", "create", "keep", "--config", cfg)
    p = popen(bd, ws, "-o", "json", "events", "--cluster", "keep",
              "--count", "3")
    time.sleep(1.0)
    r = js(bd, ws, "run", "submit", "etl", "--cluster", c["uuid"], "--wait")
    rc, out, err = finish(p, timeout=30)
    assert rc == 0, err
    evs = [json.loads(x) for x in out.splitlines()]
    assert [e["seq"] for e in evs] == [1, 2, 3]
    assert {e["runUuid"] for e in evs} == {r["uuid"]}
    assert {e["clusterUuid"] for e in evs} == {c["uuid"]}
    assert evs[-1]["status"] == "SUCCEEDED" and evs[-1]["exitCode"] == 0


def test_workspace_and_prefix_options(daemon_factory, ws, tmp_path):
    d = daemon_factory(prefix="other", env={
        "BATCHD_PYTHON": sys.executable}).start()
    cfg = write_json(tmp_path, "c.json", DOC_CLUSTER)
    # Global options before or after the command; env defaults.
    p = ok(None, "default", "--server", d.nats_url, "--prefix", "other",
           "--workspace", ws, "cluster", "create", "x", "--config", cfg)
    assert "Workspace:    %s" % ws in p.stdout
    env_p = subprocess.run(
        [BATCHCTL, "cluster", "list", "-o", "json"],
        env=dict(ctl_env(d, ws), BATCHD_SUBJECT_PREFIX="other"),
        capture_output=True, text=True, timeout=30)
    check_clean(env_p.stderr)
    assert [c["name"] for c in json.loads(env_p.stdout)] == ["x"]
    p = ctl(d, ws, "--timeout", "0.5", "cluster", "list")
    assert p.returncode == 5


# ---------------------------------------------------------------- schedule

# The product's cron job, with names where it takes UUIDs.
DOC_CRON_JOB = {
    "name": "nightly-etl",
    "description": "the nightly ETL",
    "schedule": "0 2 * * *",
    "timezone": "Europe/Berlin",
    "jobDefinitionUUID": "etl",
    "clusterUUID": "etl-cluster",
    "maxConcurrentRuns": 1,
    "pauseClusterWhenFinished": False,
    "args": {"args": "--day today"},
    "envVars": {"STAGE": "nightly"},
    "misfirePolicy": "RUN_ONCE",
}


def test_schedule_from_cron_job_json(bd, ws, tmp_path):
    from zoneinfo import ZoneInfo
    import datetime
    d = jobdef(bd, ws, tmp_path, "etl", "etl.py", ETL)
    cl = js(bd, ws, "cluster", "create", "etl-cluster", "--config",
            write_json(tmp_path, "c.json", DOC_CLUSTER))
    cfg = write_json(tmp_path, "cron.json", DOC_CRON_JOB)
    s = js(bd, ws, "schedule", "create", "--config", cfg)
    assert s["name"] == "nightly-etl" and s["cron"] == "0 2 * * *"
    assert s["timezone"] == "Europe/Berlin"
    assert s["jobDefinitionUuid"] == d["uuid"]
    assert s["clusterUuid"] == cl["uuid"]
    assert s["args"] == "--day today" and s["env"] == {"STAGE": "nightly"}
    assert s["misfirePolicy"] == "RUN_ONCE" and s["maxConcurrentRuns"] == 1
    wall = datetime.datetime.fromtimestamp(int(s["nextFireAtMs"]) / 1000,
                                           ZoneInfo("Europe/Berlin"))
    assert (wall.hour, wall.minute) in ((2, 0), (3, 0))
    # options override the file
    s2 = js(bd, ws, "schedule", "create", "other", "--config", cfg,
            "--tz", "Asia/Kolkata", "--cron", "*/5 * * * * *",
            "--misfire", "skip", "--max-concurrent", "0", "--paused")
    assert s2["name"] == "other" and s2["timezone"] == "Asia/Kolkata"
    assert s2["misfirePolicy"] == "SKIP" and s2["paused"] is True
    # NEXT FIRE in the user's local time ($TZ)
    env_p = subprocess.run([BATCHCTL, "schedule", "list"],
                           env=dict(ctl_env(bd, ws), TZ="America/New_York"),
                           capture_output=True, text=True, timeout=30)
    check_clean(env_p.stderr)
    lines = env_p.stdout.splitlines()
    assert "NEXT FIRE" in lines[0], lines
    ny = datetime.datetime.fromtimestamp(int(s["nextFireAtMs"]) / 1000,
                                         ZoneInfo("America/New_York"))
    want = ny.strftime("%Y-%m-%d %H:%M:%S ") + ny.tzname()
    row = [x for x in lines if x.startswith("nightly-etl")][0]
    assert want in row, (want, row)
    assert [x for x in lines if x.startswith("other")][0].count("paused")
    out = ok(bd, ws, "schedule", "get", "nightly-etl").stdout
    assert "Cron:         0 2 * * *" in out
    assert "(Europe/Berlin)" in out and "Misfires:     RUN_ONCE" in out
    # trigger, history, pause, resume, update, delete
    r = js(bd, ws, "schedule", "trigger", "nightly-etl")
    assert r["scheduleUuid"] == s["uuid"] and r["args"] == "--day today"
    hist = js(bd, ws, "schedule", "history", "nightly-etl")
    assert [x["uuid"] for x in hist] == [r["uuid"]]
    assert js(bd, ws, "schedule", "pause", "nightly-etl")["paused"] is True
    assert js(bd, ws, "schedule", "resume", s["uuid"])["paused"] is False
    u = js(bd, ws, "schedule", "update", "nightly-etl", "--cron",
           "30 4 * * *", "--no-args", "--env", "A=1")
    assert u["cron"] == "30 4 * * *" and "args" not in u
    assert u["env"] == {"A": "1"}
    wait_status(bd, ws, r["uuid"], ("SUCCEEDED",))
    p = ok(bd, ws, "schedule", "delete", "nightly-etl")
    assert s["uuid"] in p.stdout
    assert ctl(bd, ws, "schedule", "get", "nightly-etl").returncode == 3


@pytest.mark.parametrize("job,message", [
    ({"schedule": 5}, "$.schedule: expected a string"),
    ({"timezone": ["x"]}, "$.timezone: expected a string"),
    ({"maxConcurrentRuns": -1}, "$.maxConcurrentRuns: expected a "
     "non-negative integer"),
    ({"misfirePolicy": "LATER"}, '$.misfirePolicy: expected "SKIP" or '
     '"RUN_ONCE"'),
    ({"clusterConfig": {"cpus": 2}}, "$.clusterConfig.cpus: unknown key"),
    ({"cronExpression": "* * * * *"}, "$.cronExpression: unknown key"),
])
def test_schedule_json_errors(bd, ws, tmp_path, job, message):
    cfg = write_json(tmp_path, "cron.json", dict(DOC_CRON_JOB, **job))
    p = ctl(bd, ws, "schedule", "create", "--config", cfg)
    assert p.returncode == 4, p.stderr
    assert message in p.stderr, p.stderr


def test_schedule_server_errors(bd, ws, tmp_path):
    jobdef(bd, ws, tmp_path, "etl", "etl.py", ETL)
    p = ctl(bd, ws, "schedule", "create", "bad", "--cron", "0 0 * * 8",
            "--def", "etl")
    assert p.returncode == 3
    assert "day-of-week: 8 is out of range 0-7" in p.stderr, p.stderr
    assert "INVALID_ARGUMENT" in p.stderr and "cron" in p.stderr
    p = ctl(bd, ws, "schedule", "create", "bad", "--cron", "@daily",
            "--def", "etl", "--tz", "Mars/Olympus")
    assert p.returncode == 3 and "timezone" in p.stderr, p.stderr


def test_workflow_commands(bd, ws, tmp_path):
    """run submit --after, run submit-batch FILE.json (items by name),
    run rerun --repair, and run get's upstream and downstream runs."""
    jobdef(bd, ws, tmp_path, "etl", "etl.py", ETL)
    jobdef(bd, ws, tmp_path, "fail", "fail.py", FAIL,
           retryStrategy={"numRetries": 0})
    first = js(bd, ws, "run", "submit", "etl")
    after = js(bd, ws, "run", "submit", "etl", "--after",
               first["uuid"] + ":ended", "--after", first["uuid"])
    assert [(d["runUuid"], d["condition"]) for d in after["dependsOn"]] == [
        (first["uuid"], "AFTER_ENDED"), (first["uuid"], "AFTER_SUCCEEDED")]
    wait_status(bd, ws, after["uuid"], ("SUCCEEDED",))
    out = ok(bd, ws, "run", "get", after["uuid"]).stdout
    assert re.search(r"^Upstream:\s+%s AFTER_ENDED \(met\)$" % first["uuid"],
                     out, re.M), out
    out = ok(bd, ws, "run", "get", first["uuid"]).stdout
    assert re.search(r"^Downstream:\s+%s$" % after["uuid"], out, re.M), out
    p = ctl(bd, ws, "run", "submit", "etl", "--after", "x:sometimes")
    assert p.returncode == 4 and "succeeded, failed or ended" in p.stderr

    pipe = write_json(tmp_path, "pipe.json", {"runs": [
        {"name": "a", "jobdef": "fail"},
        {"name": "b", "jobdef": "etl", "after": ["a"], "env": {"K": "v"}},
        {"name": "c", "jobdef": "etl", "after": ["a:failed", "b:ended"]}]})
    runs = js(bd, ws, "run", "submit-batch", pipe)
    assert [r["dependsOn"][0]["runUuid"] for r in runs[1:]] == [
        runs[0]["uuid"]] * 2
    assert runs[1]["env"] == {"K": "v"}
    c = wait_status(bd, ws, runs[2]["uuid"], ("SUCCEEDED",))
    b = js(bd, ws, "run", "get", runs[1]["uuid"])
    assert b["status"] == "CANCELLED" and b["reason"] == "UPSTREAM_FAILED"
    assert c["dependsOn"][1]["runUuid"] == b["uuid"]
    bad = write_json(tmp_path, "bad.json", {"runs": [
        {"name": "a", "jobdef": "etl", "after": ["z"]}]})
    p = ctl(bd, ws, "run", "submit-batch", bad)
    assert p.returncode == 4 and "runs[0].after[0]" in p.stderr, p.stderr

    again = js(bd, ws, "run", "rerun", runs[0]["uuid"], "--repair")
    assert [r["rerunOf"] for r in again] == [runs[0]["uuid"],
                                             runs[1]["uuid"]]
    assert again[1]["dependsOn"][0]["runUuid"] == again[0]["uuid"]
    table = ok(bd, ws, "run", "rerun", runs[2]["uuid"]).stdout
    assert table.splitlines()[0].split()[:2] == ["RUN", "STATUS"]
    listed = js(bd, ws, "run", "list", "--rerun-of", runs[0]["uuid"])
    assert [r["uuid"] for r in listed] == [again[0]["uuid"]]
