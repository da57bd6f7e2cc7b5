"""GIT sources (plugins/source_git.c) against a real Git server on loopback:
lighttpd (mod_cgi, mod_alias, mod_auth with a plain user file) in front of
`git http-backend`, speaking smart HTTP with basic auth. The repository has
three commits on main (jobs/hello.py prints v1, v2, v3), no ref to the
first, a branch and a tag at the second. The token must never show: not
in replies, logs, log chunks, events, batchd's log, files of the data
directory (but LMDB) or any process's argv. Needs lighttpd (Debian package
lighttpd); skipped without it.

The server has four entries to the same repositories: /git/ (plain),
/slow/ (each request 0.3 s late, so the clone can be watched in /proc),
/stall/ (4 s late, beyond the fetch timeout) and /v0/ (protocol v0 only,
where a commit cannot be fetched by SHA unless a ref points to it: the
plugin falls back to a full fetch)."""

import base64
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

import harness
from harness import _pb, assert_ok

pb = _pb()

PLUGINS = "workspace,git,python,sql,local"
USER = "alice"
TOKEN = "gt-" + os.urandom(12).hex()
WRONG = "gt-wrong-" + os.urandom(6).hex()
LIGHTTPD = shutil.which("lighttpd") or "/usr/sbin/lighttpd"


def secret_forms(token=TOKEN):
    """The token as given and in base64, alone and as user:token."""
    forms = [token.encode()]
    for s in (token, "%s:%s" % (USER, token)):
        forms.append(base64.b64encode(s.encode()).rstrip(b"="))
    return forms


def assert_no_secret(blob, what, token=TOKEN):
    if isinstance(blob, str):
        blob = blob.encode()
    for s in secret_forms(token):
        assert s not in blob, "secret %r in %s" % (s, what)


# ---------------------------------------------------------------- the server

def git(*args, cwd=None):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent",
           "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git"] + list(args), cwd=cwd, env=env,
                          check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE).stdout.decode().strip()


def make_repo(root):
    """srv/repo.git; return {name: sha} of its commits."""
    bare = os.path.join(root, "srv", "repo.git")
    work = os.path.join(root, "work")
    git("init", "-q", "--bare", "-b", "main", bare)
    git("init", "-q", "-b", "main", work)
    jobs = os.path.join(work, "jobs")
    os.makedirs(jobs)
    shas = {}
    for v in ("v1", "v2", "v3"):
        with open(os.path.join(jobs, "hello.py"), "w") as f:
            f.write('print("%s")\n' % v)
        if v == "v3":
            # A symlink inside the repository (fine) and one out of it.
            os.symlink("hello.py", os.path.join(jobs, "alias.py"))
            os.symlink("/etc/passwd", os.path.join(work, "evil.py"))
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", v, cwd=work)
        shas[v] = git("rev-parse", "HEAD", cwd=work)
        if v == "v2":
            git("branch", "legacy", cwd=work)
            git("tag", "-a", "-m", "release 2", "rel-2", cwd=work)
    git("push", "-q", bare, "main", "legacy", "--tags", cwd=work)
    return shas


CGI = """#!/bin/sh
%s
GIT_PROJECT_ROOT=%s GIT_HTTP_EXPORT_ALL=1 exec %s
"""

CONF = """
server.modules = ("mod_alias", "mod_auth", "mod_authn_file", "mod_cgi")
server.bind = "127.0.0.1"
server.port = %(port)d
server.document-root = "%(root)s/www"
server.errorlog = "%(root)s/lighttpd.error.log"
auth.backend = "plain"
auth.backend.plain.userfile = "%(root)s/users"
auth.require = ( "/" => ( "method" => "basic", "realm" => "git",
                          "require" => "valid-user" ) )
alias.url = ( "/git" => "%(root)s/cgi/git", "/slow" => "%(root)s/cgi/slow",
              "/stall" => "%(root)s/cgi/stall", "/v0" => "%(root)s/cgi/v0" )
cgi.assign = ( "" => "" )
"""


class GitServer:
    def __init__(self, root):
        self.root = root
        self.port = harness.free_port()
        self.shas = make_repo(root)
        self.proc = None

    def url(self, entry="git"):
        return "http://127.0.0.1:%d/%s/repo.git" % (self.port, entry)

    def start(self):
        root = self.root
        os.makedirs(os.path.join(root, "www"))
        os.makedirs(os.path.join(root, "cgi"))
        backend = os.path.join(git("--exec-path"), "git-http-backend")
        srv = os.path.join(root, "srv")
        for name, pre in (("git", ""), ("slow", "sleep 0.3"),
                          ("stall", "sleep 4"),
                          ("v0", "unset HTTP_GIT_PROTOCOL GIT_PROTOCOL")):
            path = os.path.join(root, "cgi", name)
            with open(path, "w") as f:
                f.write(CGI % (pre, srv, backend))
            os.chmod(path, 0o755)
        with open(os.path.join(root, "users"), "w") as f:
            f.write("%s:%s\n" % (USER, TOKEN))
        conf = os.path.join(root, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(CONF % {"port": self.port, "root": root})
        self.log = open(os.path.join(root, "lighttpd.out"), "wb")
        self.proc = subprocess.Popen([LIGHTTPD, "-D", "-f", conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("lighttpd exited: %s\n%s" % (
                    self.proc.returncode,
                    harness.tail(os.path.join(root, "lighttpd.out"))))
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         0.2).close()
                return True
            except OSError:
                return False
        harness.wait_until(up, 10, what="lighttpd listening")
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.log.close()


@pytest.fixture(scope="module")
def git_server(tmp_path_factory):
    if not os.access(LIGHTTPD, os.X_OK):
        pytest.skip("lighttpd is not installed (Debian package lighttpd)")
    srv = GitServer(str(tmp_path_factory.mktemp("gitsrv")))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def gd(run_daemon_factory):
    """A started batchd with the git plugin loaded."""
    return run_daemon_factory(env={"BATCHD_PLUGINS": PLUGINS}).start()


# ---------------------------------------------------------------- helpers

def git_jobdef(d, ws, name, url, ref="", token=TOKEN,
               location="jobs/hello.py"):
    c = pb.JobConfig(type=pb.PYTHON, source_location=location)
    c.source.type = pb.GIT
    c.source.git.repo_url = url
    c.source.git.username = USER
    c.source.git.token = token
    c.source.git.reference = ref
    rep = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name=name, config=c, cluster_config=harness.cluster_config()),
        pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    g = rep.job_definition.config.source.git
    assert g.token == ("****" if token else ""), g
    assert g.repo_url == url and g.reference == ref
    return rep.job_definition


def submit(d, ws, name, url, **kw):
    jd = git_jobdef(d, ws, name, url, **kw)
    run = harness.submit_ok(d, ws, jd.uuid)
    assert run.config.source.git.token in ("****", ""), run
    return run.uuid


def outcome(d, ws, uuid, timeout=20.0):
    """(run, stdout, stderr) once the run is over."""
    r = harness.wait_run(d, ws, uuid, timeout=timeout)
    out, _ = harness.read_logs(d, ws, uuid, pb.STDOUT)
    err, _ = harness.read_logs(d, ws, uuid, pb.STDERR)
    return r, out, err


def succeeded(d, ws, uuid, expect):
    r, out, err = outcome(d, ws, uuid)
    assert r.status == pb.SUCCEEDED, (harness.run_str(r), err)
    assert out == expect, (out, err)
    return r, out, err


def failed_fetch(d, ws, uuid, *phrases):
    r, out, err = outcome(d, ws, uuid)
    assert r.status == pb.FAILED, harness.run_str(r)
    assert r.reason == pb.SOURCE_FETCH_FAILED, harness.run_str(r)
    for p in phrases:
        assert p in r.reason_text, (p, r.reason_text, err)
    assert out == b""
    return r, out, err


class CmdlineWatch(threading.Thread):
    """Read /proc/*/cmdline of every process until stopped: the git
    commands seen, and any cmdline holding a secret."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop_ = threading.Event()
        self.git_cmds = set()
        self.leaks = []

    def run(self):
        forms = secret_forms()
        while not self.stop_.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                if any(s in cmd for s in forms):
                    self.leaks.append(cmd)
                argv = cmd.split(b"\0")
                if argv and os.path.basename(argv[0]).startswith(b"git") \
                        and b"http-backend" not in cmd:
                    self.git_cmds.add(cmd.replace(b"\0", b" "))
            time.sleep(0.01)

    def stop(self):
        self.stop_.set()
        self.join(5)


# ---------------------------------------------------------------- tests

def test_default_branch_and_the_token_never_shows(git_server, gd, ws,
                                                  bus_watch):
    d = gd
    watch = bus_watch(d, ws)
    ps = CmdlineWatch()
    ps.start()
    try:
        uuid = submit(d, ws, "default", git_server.url("slow"))
        r, out, err = succeeded(d, ws, uuid, b"v3\n")
    finally:
        ps.stop()
    assert not ps.leaks, ps.leaks
    assert any(b" clone " in c for c in ps.git_cmds), ps.git_cmds
    assert b"git: cloning " + git_server.url("slow").encode() in err, err
    assert b"git: checked out " + git_server.shas["v3"].encode() in err, err

    # Replies: the definition, the run, its events.
    g = d.call("jobdef.get", pb.GetJobDefinitionRequest(
        uuid=r.job_definition_uuid), pb.JobDefinitionReply, ws=ws)
    assert_ok(g)
    assert g.job_definition.config.source.git.token == "****"
    assert r.config.source.git.token == "****"
    for blob, what in ((r.SerializeToString(), "run.get"),
                       (g.SerializeToString(), "jobdef.get"),
                       (out + err, "run.logs")):
        assert_no_secret(blob, what)
    for e in harness.run_events(d, ws, uuid):
        assert_no_secret(e.SerializeToString(), "run.events")
    # Log chunks and status events as published.
    chunks = watch.log_bytes(uuid, 1, pb.STDOUT) + \
        watch.log_bytes(uuid, 1, pb.STDERR)
    assert b"v3\n" in chunks
    assert_no_secret(chunks, "log chunks")
    watch.events_terminal(uuid)
    for e in watch.ordered(uuid):
        assert_no_secret(e.SerializeToString(), "status events")
    # batchd's log and the data directory (LMDB holds the definition).
    assert_no_secret(d.log_text(), "batchd's log")
    for root, _, files in os.walk(d.data_dir):
        for name in files:
            path = os.path.join(root, name)
            if os.path.relpath(path, d.data_dir).startswith("lmdb"):
                continue
            if os.path.islink(path):
                continue
            with open(path, "rb") as f:
                assert_no_secret(f.read(), path)


def test_references(git_server, gd, ws):
    d = gd
    shas = git_server.shas
    url = git_server.url()
    runs = [
        (submit(d, ws, "sha", url, ref=shas["v1"]), b"v1\n"),
        (submit(d, ws, "tag", url, ref="rel-2"), b"v2\n"),
        (submit(d, ws, "branch", url, ref="legacy"), b"v2\n"),
        (submit(d, ws, "short", url, ref=shas["v2"][:10]), b"v2\n"),
        (submit(d, ws, "v0", git_server.url("v0"), ref=shas["v1"]),
         b"v1\n"),
        (submit(d, ws, "alias", url, location="jobs/alias.py"), b"v3\n"),
    ]
    errs = {}
    for uuid, expect in runs:
        _, _, errs[uuid] = succeeded(d, ws, uuid, expect)
    sha_err, short_err, v0_err = (errs[runs[i][0]] for i in (0, 3, 4))
    # A full SHA is fetched alone where the server allows it (protocol
    # v2), else the whole history is.
    assert b"git: checked out " + shas["v1"].encode() in sha_err, sha_err
    assert b"whole history" not in sha_err, sha_err
    assert b"whole history" in v0_err, v0_err
    assert b"abbreviated" in short_err, short_err


def test_wrong_or_no_token_fails_clearly(git_server, gd, ws):
    d = gd
    url = git_server.url()
    wrong = submit(d, ws, "wrong", url, token=WRONG)
    none = submit(d, ws, "none", url, token="")
    r, _, err = failed_fetch(d, ws, wrong, "authentication failed for " +
                             url, "refused the username and token")
    assert b"authentication failed" in err, err
    for blob in (r.SerializeToString(), err, d.log_text().encode()):
        assert_no_secret(blob, "wrong-token run", token=WRONG)
        assert_no_secret(blob, "wrong-token run")
    failed_fetch(d, ws, none, "authentication failed for " + url,
                 "no token")


def test_refused_sources(git_server, gd, ws):
    d = gd
    url = git_server.url()
    port = harness.free_port()
    cases = [
        # A symlink out of the checkout.
        (submit(d, ws, "evil", url, location="evil.py"),
         ["evil.py: resolves outside the repository"]),
        (submit(d, ws, "missing", url, location="jobs/etl.py"),
         ["jobs/etl.py: not in the repository at the default branch"]),
        (submit(d, ws, "missing-at", url, ref="legacy",
                location="jobs/alias.py"),
         ["jobs/alias.py: not in the repository at legacy"]),
        (submit(d, ws, "dir", url, location="jobs"),
         ["jobs: not a file in the repository"]),
        (submit(d, ws, "no-branch", url, ref="nope"),
         ["unknown reference 'nope' in " + url]),
        (submit(d, ws, "no-commit", url, ref="0" * 40),
         ["unknown reference '" + "0" * 40 + "'"]),
        (submit(d, ws, "no-server", "http://127.0.0.1:%d/r.git" % port),
         ["cannot fetch http://127.0.0.1:%d/r.git" % port]),
        (submit(d, ws, "file-url", "file://" + git_server.root +
                "/srv/repo.git"),
         ["cannot fetch file://", "not allowed", "protocols"]),
    ]
    for uuid, phrases in cases:
        r, _, err = failed_fetch(d, ws, uuid, *phrases)
        # The credentials in the URL are not echoed.
        assert_no_secret(r.reason_text + err.decode(), r.reason_text)
    # Credentials in repo_url are refused when the definition is made,
    # and not echoed.
    req = pb.CreateJobDefinitionRequest(
        name="creds-in-url", config=pb.JobConfig(
            source=pb.JobSource(type=pb.GIT, git=pb.GitSource(
                repo_url="http://%s:%s@127.0.0.1:%d/git/repo.git" % (
                    USER, TOKEN, git_server.port))),
            type=pb.PYTHON, source_location="jobs/job.py"))
    r = d.call("jobdef.create", req, pb.JobDefinitionReply, ws=ws)
    assert r.HasField("error") and r.error.code == pb.INVALID_ARGUMENT
    assert r.error.field == "config.source.git.repo_url"
    assert TOKEN not in r.error.message


def git_procs(*needles):
    """Pids of processes whose cmdline holds one of needles (bytes)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if any(n in cmd for n in needles):
            out.append(int(pid))
    return out


def test_fetch_timeout_stops_git(git_server, run_daemon_factory, ws):
    d = run_daemon_factory(env={"BATCHD_PLUGINS": PLUGINS,
                                "BATCHD_FETCH_TIMEOUT_S": "1"}).start()
    url = git_server.url("stall")
    uuid = submit(d, ws, "stall", url)
    rundir = os.path.join(d.data_dir, "runs", uuid).encode()
    needles = (url.encode(), rundir)
    harness.wait_until(lambda: git_procs(*needles), 5, interval=0.01,
                       what="git cloning")
    failed_fetch(d, ws, uuid, "fetching took more than 1 s")
    harness.wait_until(lambda: not git_procs(*needles), 5,
                       what="no git left: %s" % git_procs(*needles))
