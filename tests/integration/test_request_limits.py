"""What a request must not be able to do (issue 23):

- destroy a secret by saving back what it read: jobdef.get shows '****'
  for the Git token and secret_env values; an update that sends '****'
  back keeps the stored value (the Git token only for the same repo_url),
  and '****' with nothing stored to keep (every create) is refused;
- get no answer: every reply fits the server's max_payload. A list page is
  cut short to fit, with a next_page_token that goes on after the last
  item included; an object too large to send alone is an error reply
  saying so (FAILED_PRECONDITION), not a timeout;
- aim replies at wildcards: a request whose reply subject is not one
  literal subject ('_INBOX.*', '_INBOX.>', empty tokens) gets no reply at
  all, while a normal request is still answered;
- pass garbage page tokens: jobdef.list, cluster.list and run.list refuse
  alike what they did not return (INVALID_ARGUMENT, page_token)."""

import hashlib
import os
import sys
import time

import pytest

import harness
from harness import (NatsClient, NatsTimeout, _pb, assert_error, assert_ok,
                     cluster_config, make_cluster, make_jobdef, submit_run,
                     wait_run)

pb = _pb()

SMALL = 64 * 1024           # max_payload of the small nats-server

# Prints digests, not the values: the job's output masks secrets.
DIGEST = r"""
import hashlib, os
for k in ("DB_PASSWORD", "API_TOKEN", "PLAIN"):
    v = os.environ.get(k)
    print(k, "absent" if v is None else
          hashlib.sha256(v.encode()).hexdigest(), flush=True)
"""


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def digests(d, ws, run_uuid):
    r = wait_run(d, ws, run_uuid)
    out, _ = harness.read_logs(d, ws, run_uuid, pb.STDOUT)
    err, _ = harness.read_logs(d, ws, run_uuid, pb.STDERR)
    assert r.status == pb.SUCCEEDED, (harness.run_str(r), err)
    return dict(line.split(" ", 1) for line in out.decode().splitlines())


def get_def(d, ws, uuid):
    rep = d.call("jobdef.get", pb.GetJobDefinitionRequest(uuid=uuid),
                 pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    return rep.job_definition


def update(d, ws, uuid, config):
    return d.call("jobdef.update", pb.UpdateJobDefinitionRequest(
        uuid=uuid, config=config), pb.JobDefinitionReply, ws=ws)


class SmallNats(harness.NatsServer):
    """A nats-server whose max_payload is `max_payload` bytes."""

    def __init__(self, workdir, max_payload):
        super().__init__(workdir)
        self.max_payload = max_payload
        self.conf = os.path.join(workdir, "nats-%d.conf" % self.port)

    def _argv(self):
        os.makedirs(self.workdir, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write("max_payload: %d\n" % self.max_payload)
        return super()._argv() + ["-c", self.conf]


@pytest.fixture(scope="module")
def small_nats(tmp_path_factory):
    """Shared by the module's tests (each has its own workspace), and so
    stopped after their batchds: one draining to a server gone would wait
    out its drain timeout (10 s)."""
    srv = SmallNats(str(tmp_path_factory.mktemp("nats-small")), SMALL)
    srv.start()
    yield srv
    srv.stop()


def job_env():
    return {"BATCHD_KILL_GRACE_S": "1", "BATCHD_PYTHON": sys.executable}


@pytest.fixture
def started(daemon_factory):
    """start(nats_url=None, tmpdir=None, env=None) -> a started batchd
    that can run jobs; its attempts are stopped at teardown."""
    made = []

    def start(nats_url=None, tmpdir=None, env=None):
        e = job_env()
        e.update(env or {})
        d = daemon_factory(nats_url=nats_url, env=e, tmpdir=tmpdir)
        made.append(d)
        return d.start()

    yield start
    for d in made:
        harness.stop_shims(d)


# ---------------------------------------------------------------- secrets

REAL_PASSWORD = "pw-" + os.urandom(10).hex()
REAL_API = "api-" + os.urandom(10).hex()


def test_masked_env_saved_back_keeps_the_secret(started, ws):
    d = started()
    jd = make_jobdef(d, ws, "digest", code=DIGEST,
                     env={"DB_PASSWORD": REAL_PASSWORD, "PLAIN": "plain"},
                     cluster=cluster_config())
    got = get_def(d, ws, jd.uuid)
    assert got.config.env["DB_PASSWORD"] == "****"

    # Save back exactly what was read, plus a new secret with its value.
    cfg = pb.JobConfig()
    cfg.CopyFrom(got.config)
    cfg.env["API_TOKEN"] = REAL_API
    rep = update(d, ws, jd.uuid, cfg)
    assert_ok(rep)
    assert rep.job_definition.config.env["DB_PASSWORD"] == "****"

    # The run sees the real values, not the mask.
    run = harness.submit_ok(d, ws, jd.uuid)
    seen = digests(d, ws, run.uuid)
    assert seen["DB_PASSWORD"] == sha(REAL_PASSWORD), seen
    assert seen["DB_PASSWORD"] != sha("****")
    assert seen["API_TOKEN"] == sha(REAL_API), seen
    assert seen["PLAIN"] == sha("plain"), seen

    # A second round trip, changing a plain value only: still kept.
    cfg.CopyFrom(get_def(d, ws, jd.uuid).config)
    assert cfg.env["API_TOKEN"] == "****"
    cfg.env["PLAIN"] = "other"
    assert_ok(update(d, ws, jd.uuid, cfg))
    seen = digests(d, ws, harness.submit_ok(d, ws, jd.uuid).uuid)
    assert seen["DB_PASSWORD"] == sha(REAL_PASSWORD), seen
    assert seen["API_TOKEN"] == sha(REAL_API), seen
    assert seen["PLAIN"] == sha("other"), seen

    # The mask for a secret with no stored value is refused, naming it,
    # and changes nothing.
    before = get_def(d, ws, jd.uuid)
    cfg.env["NEW_SECRET"] = "****"
    assert_error(update(d, ws, jd.uuid, cfg), pb.INVALID_ARGUMENT,
                 "config.env[NEW_SECRET]")
    assert get_def(d, ws, jd.uuid) == before
    # A name secret_env does not match may hold '****' as a plain value.
    del cfg.env["NEW_SECRET"]
    cfg.env["PLAIN"] = "****"
    assert_ok(update(d, ws, jd.uuid, cfg))
    seen = digests(d, ws, harness.submit_ok(d, ws, jd.uuid).uuid)
    assert seen["PLAIN"] == sha("****") and \
        seen["DB_PASSWORD"] == sha(REAL_PASSWORD), seen


def test_mask_refused_on_create(daemon, ws):
    d = daemon
    c = pb.JobConfig(type=pb.PYTHON, source_location="x.py")
    c.source.type = pb.GIT
    c.source.git.repo_url = "https://git.example.org/r.git"
    c.source.git.username = "u"
    c.source.git.token = "****"
    rep = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name="git", config=c), pb.JobDefinitionReply, ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, "config.source.git.token")

    w = pb.JobConfig(type=pb.PYTHON, source_location="x.py")
    w.source.type = pb.WORKSPACE
    w.source.workspace.path = "jobs"
    w.env["DB_PASSWORD"] = "****"
    rep = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name="env", config=w), pb.JobDefinitionReply, ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, "config.env[DB_PASSWORD]")

    lst = d.call("jobdef.list", pb.ListJobDefinitionsRequest(),
                 pb.ListJobDefinitionsReply, ws=ws)
    assert_ok(lst)
    assert len(lst.job_definitions) == 0

    # A WORKSPACE definition turned GIT with the mask: no token to keep.
    w.env["DB_PASSWORD"] = "real"
    rep = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name="env", config=w), pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    assert_error(update(d, ws, rep.job_definition.uuid, c),
                 pb.INVALID_ARGUMENT, "config.source.git.token")


@pytest.fixture(scope="module")
def git_server(tmp_path_factory):
    from test_source_git import LIGHTTPD, GitServer
    if not os.access(LIGHTTPD, os.X_OK):
        pytest.skip("lighttpd is not installed (Debian package lighttpd)")
    srv = GitServer(str(tmp_path_factory.mktemp("gitsrv")))
    srv.start()
    yield srv
    srv.stop()


def test_masked_git_token_saved_back_keeps_it(git_server, started, ws):
    from test_source_git import PLUGINS, TOKEN, USER
    d = started(env={"BATCHD_PLUGINS": PLUGINS})
    c = pb.JobConfig(type=pb.PYTHON, source_location="jobs/hello.py")
    c.source.type = pb.GIT
    c.source.git.repo_url = git_server.url()
    c.source.git.username = USER
    c.source.git.token = TOKEN
    rep = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name="g", config=c, cluster_config=cluster_config()),
        pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    uuid = rep.job_definition.uuid

    got = get_def(d, ws, uuid)
    assert got.config.source.git.token == "****"
    cfg = pb.JobConfig()
    cfg.CopyFrom(got.config)
    cfg.source.git.reference = "legacy"     # a real change, token as read
    assert_ok(update(d, ws, uuid, cfg))

    # The clone authenticates with the stored token: v2 is on 'legacy'.
    run = harness.submit_ok(d, ws, uuid)
    r = wait_run(d, ws, run.uuid)
    out, _ = harness.read_logs(d, ws, run.uuid, pb.STDOUT)
    err, _ = harness.read_logs(d, ws, run.uuid, pb.STDERR)
    assert r.status == pb.SUCCEEDED, (harness.run_str(r), err)
    assert out == b"v2\n", (out, err)

    # The stored token does not follow the job to another repo_url.
    before = get_def(d, ws, uuid)
    cfg.source.git.repo_url = git_server.url("v0")
    assert_error(update(d, ws, uuid, cfg), pb.INVALID_ARGUMENT,
                 "config.source.git.token")
    assert get_def(d, ws, uuid) == before
    cfg.source.git.token = TOKEN            # sent again: fine
    assert_ok(update(d, ws, uuid, cfg))
    run = harness.submit_ok(d, ws, uuid)
    r = wait_run(d, ws, run.uuid)
    assert r.status == pb.SUCCEEDED, harness.run_str(r)


# ---------------------------------------------------------------- reply size

BIG = 30000                 # near ENV_VAL_MAX (32768) per value


def big_env(tag, total):
    """Environment values of `total` bytes, none over BIG."""
    env, i = {}, 0
    while total > 0:
        n = min(total, BIG)
        env["V%02d" % i] = (tag + "-" + "x" * n)[:n]
        total -= n
        i += 1
    return env


def list_pages(d, verb, req_cls, rep_cls, field, ws, max_payload,
               page_size=0, **kw):
    """Every page of a list verb, each asked for with a 1 s timeout and
    checked to fit max_payload; returns (items, pages)."""
    items, pages, token = [], 0, ""
    for _ in range(1000):
        req = req_cls(page_size=page_size, page_token=token, **kw)
        try:
            raw = d.request_raw(verb, req.SerializeToString(), ws=ws,
                                timeout=1.0)
        except NatsTimeout:
            raise AssertionError("no reply to %s page %d within 1 s"
                                 % (verb, pages + 1)) from None
        assert len(raw) <= max_payload, (len(raw), max_payload)
        rep = rep_cls.FromString(raw)
        assert_ok(rep)
        page = list(getattr(rep, field))
        assert page or not rep.next_page_token, "an empty page goes on"
        if page_size:
            assert len(page) <= page_size
        items.extend(page)
        pages += 1
        token = rep.next_page_token
        if not token:
            return items, pages
    raise AssertionError("%s never ended" % verb)


def make_big_defs(d, ws, n):
    """n definitions of 40 KB each: 20 KB of environment, 20 KB of args."""
    names = []
    for i in range(n):
        name = "big-%02d" % i
        make_jobdef(d, ws, name, location="x.py", args="w" * 20000,
                    env=big_env(name, 20000))
        names.append(name)
    return names


@pytest.mark.parametrize("server", ["default", "small"])
def test_jobdef_list_of_large_definitions_fits(server, started, ws,
                                               nats_server, small_nats):
    """40 definitions of 40 KB: 1.6 MB in all, more than a default
    max_payload (1 MiB) holds; two of them are more than 64 KiB."""
    srv = nats_server if server == "default" else small_nats
    d = started(nats_url=srv.url)
    mp = d.nc().max_payload
    names = make_big_defs(d, ws, 40)
    for page_size in (0, 2, 1000):
        defs, pages = list_pages(d, "jobdef.list",
                                 pb.ListJobDefinitionsRequest,
                                 pb.ListJobDefinitionsReply,
                                 "job_definitions", ws, mp, page_size)
        got = [x.name for x in defs]
        assert got == names, (page_size, got)       # each once, by name
        assert all(len(x.config.args) == 20000 for x in defs)
        assert pages > 1, page_size


def test_run_list_of_large_runs_fits(started, ws, small_nats):
    d = started(nats_url=small_nats.url)
    mp = d.nc().max_payload
    jd = make_jobdef(d, ws, "j", code="pass\n", env=big_env("def", 20000),
                     cluster=cluster_config())
    cl = make_cluster(d, ws, "c")
    uuids = []
    for i in range(12):
        rep = submit_run(d, ws, jd.uuid, cl.uuid,
                         args="a%02d%s" % (i, "y" * 10000),
                         env=big_env("run%d" % i, 20000))
        assert_ok(rep)
        uuids.append(rep.job_run.uuid)
    for u in uuids:
        wait_run(d, ws, u)
    for page_size in (0, 2, 5):
        runs, pages = list_pages(d, "run.list", pb.ListJobRunsRequest,
                                 pb.ListJobRunsReply, "job_runs", ws, mp,
                                 page_size)
        assert [r.uuid for r in runs] == uuids[::-1], page_size
        assert pages > 1
        # Filtered lists page the same way.
        runs, _ = list_pages(d, "run.list", pb.ListJobRunsRequest,
                             pb.ListJobRunsReply, "job_runs", ws, mp,
                             page_size, job_definition_uuid=jd.uuid)
        assert [r.uuid for r in runs] == uuids[::-1], page_size


def too_large(rep, field, max_payload):
    e = assert_error(rep, pb.FAILED_PRECONDITION, field)
    assert "exceeds the server's max_payload %d" % max_payload in \
        e.message, e.message
    return e


def test_object_too_large_for_the_server_is_an_error(started, ws,
                                                     nats_server,
                                                     small_nats, tmp_path):
    """Objects stored under a 1 MiB max_payload, then served by a batchd
    on a server whose max_payload is 64 KiB: an error, not a timeout."""
    tmp = tmp_path / "b"
    d = started(nats_url=nats_server.url, tmpdir=tmp)
    jd = make_jobdef(d, ws, "huge", code="pass\n", env=big_env("h", 30000),
                     args="w" * 40000, cluster=cluster_config())
    cl = make_cluster(d, ws, "c")
    run = harness.submit_ok(d, ws, jd.uuid, cl.uuid)
    assert wait_run(d, ws, run.uuid).status == pb.SUCCEEDED
    d.stop()

    d = started(nats_url=small_nats.url, tmpdir=tmp)
    t = 2.0
    too_large(d.call("jobdef.get", pb.GetJobDefinitionRequest(uuid=jd.uuid),
                     pb.JobDefinitionReply, ws=ws, timeout=t), "uuid", SMALL)
    too_large(d.call("jobdef.get", pb.GetJobDefinitionRequest(name="huge"),
                     pb.JobDefinitionReply, ws=ws, timeout=t), "name", SMALL)
    too_large(d.call("jobdef.list", pb.ListJobDefinitionsRequest(),
                     pb.ListJobDefinitionsReply, ws=ws, timeout=t),
              "page_token", SMALL)
    too_large(d.call("run.get", pb.GetJobRunRequest(uuid=run.uuid),
                     pb.JobRunReply, ws=ws, timeout=t), "uuid", SMALL)
    too_large(d.call("run.list", pb.ListJobRunsRequest(),
                     pb.ListJobRunsReply, ws=ws, timeout=t), "page_token",
              SMALL)
    # A submit whose run could not be sent back is refused, and nothing
    # is queued.
    too_large(d.call("run.submit", pb.SubmitJobRunRequest(
        job_definition_uuid=jd.uuid, cluster_uuid=cl.uuid),
        pb.JobRunReply, ws=ws, timeout=t), "job_definition_uuid", SMALL)
    c = harness.get_cluster(d, ws, cl.uuid)
    assert_ok(c)
    assert c.cluster.queued == 0 and c.cluster.active_run_uuid == ""
    # What fits is still served.
    ev = d.call("run.events", pb.GetJobRunRequest(uuid=run.uuid),
                pb.JobRunEventsReply, ws=ws, timeout=t)
    assert_ok(ev)
    assert ev.events[-1].status == pb.SUCCEEDED
    out, _ = harness.read_logs(d, ws, run.uuid, pb.STDOUT, max_bytes=1 << 20)
    assert out == b""
    assert "exceeds the server's max_payload" in d.log_text()


def test_create_too_large_to_send_back_is_refused(started, ws, small_nats):
    """A definition whose request fits but whose reply (uuid, times and
    defaults added) would not is refused, and not stored."""
    d = started(nats_url=small_nats.url)
    c = pb.JobConfig(type=pb.PYTHON, source_location="x.py")
    c.source.type = pb.WORKSPACE
    c.source.workspace.path = "jobs"
    c.env["E"] = "z" * 20000
    req = pb.CreateJobDefinitionRequest(name="edge", config=c)
    target = SMALL - 32
    for _ in range(5):      # args to bring the request to target bytes
        left = target - len(req.SerializeToString())
        req.config.args = "w" * max(0, len(req.config.args) + left)
    assert len(req.SerializeToString()) == target
    rep = d.call("jobdef.create", req, pb.JobDefinitionReply, ws=ws,
                 timeout=2.0)
    too_large(rep, "config", SMALL)
    assert_error(d.call("jobdef.get", pb.GetJobDefinitionRequest(
        name="edge"), pb.JobDefinitionReply, ws=ws), pb.NOT_FOUND, "name")


# ---------------------------------------------------------------- replies

def test_wildcard_reply_subjects_get_no_reply(daemon, ws):
    d = daemon
    spy = NatsClient(d.nats_host, d.nats_port)
    try:
        sub = spy.subscribe("_INBOX.>")
        spy.flush()
        nc = d.nc()
        payload = pb.ListClustersRequest().SerializeToString()
        subject = d.subject("cluster.list", ws)
        for reply in ("_INBOX.*", "_INBOX.>", "_INBOX.a.*.b", "_INBOX.a.>",
                      "_INBOX..a"):
            nc._send(("PUB %s %s %d\r\n" % (subject, reply, len(payload)))
                     .encode() + payload + b"\r\n")
        nc.flush()
        # A normal request after them is answered (so they were handled).
        rep = d.call("cluster.list", pb.ListClustersRequest(),
                     pb.ListClustersReply, ws=ws)
        assert_ok(rep)
        spy.flush()
        time.sleep(0.3)
        seen = []
        while True:
            try:
                seen.append(sub.next(0.1)[0])
            except NatsTimeout:
                break
        # The spy sees the normal reply, on a literal inbox, and no other.
        assert len(seen) == 1, seen
        assert "*" not in seen[0] and ">" not in seen[0], seen
    finally:
        spy.close()
    log = d.log_text()
    for reply in ("_INBOX.*", "_INBOX.>", "_INBOX.a.*.b"):
        assert "reply subject %s that is not one literal subject" % reply \
            in log, reply


# ---------------------------------------------------------------- page tokens

def lists(d, ws, token):
    return [
        d.call("jobdef.list", pb.ListJobDefinitionsRequest(
            page_size=1, page_token=token), pb.ListJobDefinitionsReply,
            ws=ws),
        d.call("cluster.list", pb.ListClustersRequest(
            page_size=1, page_token=token), pb.ListClustersReply, ws=ws),
        d.call("run.list", pb.ListJobRunsRequest(
            page_size=1, page_token=token), pb.ListJobRunsReply, ws=ws),
    ]


def test_garbage_page_tokens_refused_alike(started, ws):
    d = started()
    other = ws[:50] + "-o"
    jd = make_jobdef(d, ws, "a", code="pass\n", cluster=cluster_config())
    make_jobdef(d, ws, "b", location="a.py")
    make_jobdef(d, other, "a", location="a.py")
    cl = make_cluster(d, ws, "ca")
    make_cluster(d, ws, "cb")
    make_cluster(d, other, "ca")
    for _ in range(2):
        wait_run(d, ws, harness.submit_ok(d, ws, jd.uuid, cl.uuid).uuid)
    ojd = make_jobdef(d, other, "r", code="pass\n")
    ocl = make_cluster(d, other, "cr")
    for _ in range(2):
        wait_run(d, other, harness.submit_ok(d, other, ojd.uuid,
                                             ocl.uuid).uuid)

    good = [r.next_page_token for r in lists(d, ws, "")]
    for r, t in zip(lists(d, ws, ""), good):
        assert_ok(r)
        assert t, r
    # Each list's own token works, and only there.
    for i, r in enumerate(lists(d, ws, good[0])):
        (assert_ok if i == 0 else assert_bad)(r)
    for i, r in enumerate(lists(d, ws, good[1])):
        (assert_ok if i == 1 else assert_bad)(r)
    for i, r in enumerate(lists(d, ws, good[2])):
        (assert_ok if i == 2 else assert_bad)(r)
    # Another workspace's tokens are not this one's.
    theirs = [r.next_page_token for r in lists(d, other, "")]
    for t in theirs:
        for r in lists(d, ws, t):
            assert_bad(r)

    flipped = [t[:-1] + ("0" if t[-1] != "0" else "1") for t in good]
    garbage = ["garbage", "a", "b", "ca", "zz.zz", "d.00000000", "d",
               "r" + "0" * 88 + ".00000000", good[0].upper(),
               good[0] + "00", "x" * 600, "d\u00e9.12345678"] + flipped
    for t in garbage:
        for r in lists(d, ws, t):
            assert_bad(r)


def assert_bad(rep):
    assert_error(rep, pb.INVALID_ARGUMENT, "page_token")
