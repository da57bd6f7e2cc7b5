"""The web console in a real headless Chromium (Debian's /usr/bin/chromium,
driven by puppeteer-core from tests/console/console.mjs) against a real
nats-server with a WebSocket listener and the real batchd serving the
console: definitions through the form (and batchd's field error), a
cluster, a run watched to SUCCEEDED with its output while it runs, a
queued run cancelled, statuses changing live, pages of runs. Screenshots go
to build/console-shots/. Also: what batchd serves and refuses over HTTP."""

import http.client
import json
import os
import re
import subprocess

import pytest

import harness
import sec_nats
from batchd.v1 import batchd_pb2 as pb
from harness import make_cluster, make_jobdef, submit_ok

REPO = harness.REPO_ROOT
CONSOLE = os.path.join(REPO, "build", "console")
DRIVER = os.path.join(REPO, "tests", "console", "console.mjs")
SHOTS = os.path.join(REPO, "build", "console-shots")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="no Chromium at %s (Debian package chromium)" % CHROMIUM)

ETL = """\
import sys, time
for i in range(12):
    print("step", i, sys.argv[1:], flush=True)
    time.sleep(0.4)
print("oops", file=sys.stderr, flush=True)
"""
SLEEP = "import time\ntime.sleep(120)\n"
# BIG_MIB MiB of numbered 80-byte lines, then "END\n".
BIG_MIB = int(os.environ.get("CONSOLE_BIG_MIB", "256"))
BIG = """\
import sys
w = sys.stdout.buffer.write
pad = b"x" * 69
for i in range(%d):
    w(b"".join(b"%%09d %%s\\n" %% (i * 13108 + j, pad) for j in range(13107))
      + b"y" * 16)
w(b"END\\n")
""" % BIG_MIB


@pytest.fixture
def console(make_nats, run_daemon_factory, tmp_path):
    """nats-server with a WebSocket listener, batchd serving the console."""
    assert os.path.isfile(os.path.join(CONSOLE, "console.js")), (
        "no build/console/console.js: make console")
    srv = make_nats(ws_port=harness.free_port()).start()
    port = harness.free_port()
    d = run_daemon_factory(nats_url=srv.url, env={
        "BATCHD_HTTP_LISTEN": "127.0.0.1:%d" % port,
        "BATCHD_CONSOLE_DIR": CONSOLE,
        "BATCHD_CONSOLE_NATS_WS": srv.ws_url}).start()
    d.http_port = port
    return d


def get(d, path):
    c = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=5)
    c.putrequest("GET", path, skip_host=False, skip_accept_encoding=True)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict(r.getheaders()), body


def browser(script, env, timeout=120):
    """Run tests/console/SCRIPT in Node; its output if it passed."""
    os.makedirs(SHOTS, exist_ok=True)
    p = subprocess.run(["node", os.path.join(REPO, "tests", "console",
                                             script)],
                       env=dict(os.environ, SHOTS=SHOTS, CHROMIUM=CHROMIUM,
                                **env),
                       capture_output=True, text=True, timeout=timeout)
    print(p.stdout)
    assert p.returncode == 0 and "console: all steps passed" in p.stdout, (
        "%s failed\nstdout:\n%s\nstderr:\n%s"
        % (script, p.stdout[-6000:], p.stderr[-6000:]))
    return p.stdout


def ready(d):
    try:
        return get(d, "/readyz")[0] == 200
    except OSError:
        return False


def test_console_files_only(console, tmp_path):
    d = console
    st, h, body = get(d, "/")
    assert st == 200 and b"console.js" in body, (st, body)
    assert h["Content-Type"].startswith("text/html"), h
    csp = h["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp, csp
    assert "connect-src 'self' ws://127.0.0.1:" in csp, csp
    st, h, _ = get(d, "/console.js")
    assert st == 200 and h["Content-Type"].startswith("text/javascript"), h
    st, h, _ = get(d, "/console.css")
    assert st == 200 and h["Content-Type"].startswith("text/css"), h
    st, h, body = get(d, "/console-config.json")
    conf = json.loads(body)
    assert conf["nats_ws"].startswith("ws://127.0.0.1:"), conf
    assert conf["prefix"] == "batchd", conf
    # nothing outside the directory, no dot files, no subdirectories
    for p in ("/../Makefile", "/%2e%2e/Makefile", "/..%2fMakefile",
              "/./index.html", "//etc/passwd", "/.hidden.js",
              "/sub/index.html", "/index.html/", "/nope.js", "/%00.js",
              "/x.exe"):
        st, _, body = get(d, p)
        assert st == 404, (p, st, body)
    assert get(d, "/metrics")[0] == 200


def test_console_symlink_refused(make_nats, run_daemon_factory, tmp_path):
    """A symlink in console_dir is not followed out of it."""
    cdir = tmp_path / "console"
    cdir.mkdir()
    (cdir / "index.html").write_text("<p>console</p>")
    secret = tmp_path / "secret.js"
    secret.write_text("secret")
    os.symlink(str(secret), str(cdir / "link.js"))
    srv = make_nats().start()
    port = harness.free_port()
    d = run_daemon_factory(nats_url=srv.url, env={
        "BATCHD_HTTP_LISTEN": "127.0.0.1:%d" % port,
        "BATCHD_CONSOLE_DIR": str(cdir)}).start()
    d.http_port = port
    st, h, body = get(d, "/")
    assert st == 200 and body == b"<p>console</p>"
    # unset console_nats_ws: the page asks, and may reach loopback only
    assert ("connect-src 'self' ws://127.0.0.1:* ws://localhost:*"
            in h["Content-Security-Policy"]), h
    st, _, body = get(d, "/link.js")
    assert st == 404 and b"secret" not in body


def test_console_bad_nats_ws_refused(run_daemon_factory):
    d = run_daemon_factory(env={"BATCHD_CONSOLE_NATS_WS":
                                "ws://x; script-src *"})
    p = subprocess.run([d.binary, "--check-config"], env=d.env(),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 78, p
    assert "console_nats_ws" in p.stderr, p.stderr


@needs_chromium
def test_console_in_chromium(console, tmp_path):
    d = console
    ws = "default"
    # the page's jobs: one that writes slowly, one that sleeps
    harness.write_job(d, ws, "etl.py", ETL)
    sleeper = make_jobdef(d, ws, "sleeper", code=SLEEP)
    busy = make_cluster(d, ws, "busy")
    runs = [submit_ok(d, ws, sleeper.uuid, busy.uuid) for _ in range(60)]
    big = make_jobdef(d, ws, "big", code=BIG)
    bigc = make_cluster(d, ws, "bigc")
    harness.wait_run(d, ws, runs[0].uuid,
                     lambda r: r.status == pb.RUNNING, what="RUNNING")
    browser("console.mjs", {
        "CONSOLE_URL": "http://127.0.0.1:%d/" % d.http_port,
        "PROFILE": str(tmp_path / "chromium"),
        "BUSY": busy.uuid, "RUNS": str(len(runs)), "BIG_DEF": big.uuid,
        "BIG_CLUSTER": bigc.uuid, "BIG_MIB": str(BIG_MIB),
        "DOWNLOADS": str(tmp_path / "downloads")}, timeout=400)
    for name in ("jobs.png", "job-error.png", "clusters.png", "run.png",
                 "runs.png", "cancelled.png"):
        assert os.path.getsize(os.path.join(SHOTS, name)) > 1000, name


@needs_chromium
def test_console_credentials(make_nats, run_daemon_factory, tmp_path):
    """A WebSocket listener that wants a user and password: the page asks
    for them and keeps them for the browser session only."""
    srv = make_nats(ws_port=harness.free_port(), ws_conf=(
        '  authorization {\n    username: "ana"\n'
        '    password: "s3cret"\n  }\n')).start()
    port = harness.free_port()
    run_daemon_factory(nats_url=srv.url, env={
        "BATCHD_HTTP_LISTEN": "127.0.0.1:%d" % port,
        "BATCHD_CONSOLE_DIR": CONSOLE,
        "BATCHD_CONSOLE_NATS_WS": srv.ws_url}).start()
    browser("login.mjs", {
        "CONSOLE_URL": "http://127.0.0.1:%d/" % port,
        "PROFILE": str(tmp_path / "chromium"),
        "NATS_USER": "ana", "NATS_PASS": "s3cret"})



@needs_chromium
def test_console_as_team_of_isolation_conf(run_daemon_factory, tmp_path):
    """configs/nats-isolation.conf as shipped, plus a WebSocket listener:
    its team user has what the console needs (README: Console)."""
    shipped = open(os.path.join(REPO, "configs", "nats-isolation.conf")).read()
    pw = dict(re.findall(r'\{\s*user:\s*(\w+),\s*password:\s*"([^"]+)"',
                         shipped))
    ws_port = harness.free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text(shipped + '\nwebsocket {\n  listen: "127.0.0.1:%d"\n'
                    '  no_tls: true\n}\n' % ws_port)
    srv = sec_nats.ConfNatsServer(str(tmp_path / "nats"), str(conf))
    srv.start()
    try:
        port = harness.free_port()
        pwfile = sec_nats.write_secret(str(tmp_path / "pw"),
                                       pw["batchd"] + "\n", 0o600)
        d = run_daemon_factory(nats_url=srv.url, env={
            "BATCHD_NATS_USER": "batchd",
            "BATCHD_NATS_PASSWORD_FILE": pwfile,
            "BATCHD_REPLY_PREFIX": "_INBOX.{ws}.",
            "BATCHD_HTTP_LISTEN": "127.0.0.1:%d" % port,
            "BATCHD_CONSOLE_DIR": CONSOLE,
            "BATCHD_CONSOLE_NATS_WS": "ws://127.0.0.1:%d" % ws_port})
        d.start(wait=False)
        d.http_port = port
        harness.wait_until(lambda: ready(d), 10,
                           what="batchd connected to NATS")
        harness.write_job(d, "teamA", "hello.py",
                          "print('hello from the console')\n")
        browser("team.mjs", {
            "CONSOLE_URL": "http://127.0.0.1:%d/" % port,
            "PROFILE": str(tmp_path / "chromium"),
            "TEAM": "teamA", "TEAM_PASS": pw["teamA"]})
        d.stop()
    finally:
        srv.stop()
