"""NATS authentication, TLS and workspace isolation.

batchd authenticates to nats-server with a user and password, a token, an
NKey, a .creds file (user JWT + NKey seed) or a TLS client certificate;
secret files that others may read stop it with exit code 78; and
configs/nats-isolation.conf, loaded as shipped, confines each team to its
own workspace while batchd refuses reply subjects outside _INBOX. (the
confused deputy).

Every test starts its own nats-server with -c CONF (sec_nats.ConfNatsServer)
and its batchd with wait=False: the harness's readiness probe connects
without credentials, so readiness is polled here with an authenticated
client. NKeys and JWTs are made with python3-cryptography, certificates
with openssl.
"""

import os
import re
import sys
import time

import pytest

import harness
import sec_nats
from batchd.v1 import batchd_pb2 as pb
from harness import assert_ok
from natsclient import NatsError, NatsTimeout

ISOLATION_CONF = os.path.join(harness.REPO_ROOT, "configs",
                              "nats-isolation.conf")

# NKeys and JWTs (tests 3, 4 and two of 6) need python3-cryptography.
needs_crypto = pytest.mark.skipif(
    not sec_nats.have_crypto(), reason="python3-cryptography not installed")

HELLO = "print('hello from', __import__('os').environ.get('WS'))\n"


# ---------------------------------------------------------------- fixtures

class Sec:
    """Servers, daemons and clients of one test; torn down in the order
    clients, daemons, servers (batchd drains its connection on SIGTERM)."""

    def __init__(self, tmp_path, daemon_factory):
        self.tmp = str(tmp_path)
        self._daemon_factory = daemon_factory
        self.servers, self.daemons, self.clients = [], [], []

    def path(self, name):
        return os.path.join(self.tmp, name)

    def server(self, conf_text=None, conf_path=None):
        """Start nats-server -c on conf_path, or on conf_text written to a
        file."""
        if conf_path is None:
            conf_path = self.path("nats%d.conf" % len(self.servers))
            with open(conf_path, "w") as f:
                f.write(conf_text)
        srv = sec_nats.ConfNatsServer(self.path("nats"), conf_path)
        self.servers.append(srv)
        return srv.start()

    def daemon(self, srv, env, url=None):
        """A batchd on srv (not started). url: BATCHD_NATS_URL if not
        srv.url (the harness only parses nats:// URLs)."""
        env = dict(env)
        env.setdefault("BATCHD_KILL_GRACE_S", "1")
        env.setdefault("BATCHD_PYTHON", sys.executable)
        if url is not None:
            env["BATCHD_NATS_URL"] = url
        d = self._daemon_factory(nats_url=srv.url if srv else
                                 "nats://127.0.0.1:1", env=env)
        self.daemons.append(d)
        return d

    def client(self, srv, **kw):
        c = sec_nats.SecNatsClient(port=srv.port, **kw)
        self.clients.append(c)
        return c

    def close(self):
        errors = []
        for c in self.clients:
            c.close()
        for d in self.daemons:
            try:
                d.close()
            except AssertionError as exc:
                errors.append(str(exc))
        for srv in self.servers:
            srv.stop()
        return errors


@pytest.fixture
def sec(tmp_path, daemon_factory):
    s = Sec(tmp_path, daemon_factory)
    yield s
    errors = s.close()
    if errors:
        pytest.fail("batchd teardown:\n" + "\n\n".join(errors),
                    pytrace=False)


# ---------------------------------------------------------------- helpers

def rpc(nc, ws, suffix, msg, reply_cls, timeout=5.0):
    data = nc.request("batchd.v1.%s.%s" % (ws, suffix),
                      msg.SerializeToString(), timeout=timeout)
    return reply_cls.FromString(data)


def wait_ready(d, nc, ws="default", timeout=10.0):
    """Poll cluster.list with an authenticated client until batchd
    answers."""
    deadline = time.monotonic() + timeout
    req = pb.ListClustersRequest(page_size=1)
    wait = harness.READY_POLL_S
    while True:
        if not d.running():
            raise AssertionError("batchd exited (status %s) before it was "
                                 "ready\n%s" % (d.proc and d.proc.returncode,
                                                d.log_tail()))
        try:
            return assert_ok(rpc(nc, ws, "cluster.list", req,
                                 pb.ListClustersReply, timeout=wait))
        except NatsTimeout:
            wait = min(2 * wait, 0.25)
        if time.monotonic() >= deadline:
            raise AssertionError("batchd not answering on %s after %.0fs\n%s"
                                 % (ws, timeout, d.log_tail()))


def secret(sec, name, text, mode=0o600):
    return sec_nats.write_secret(sec.path(name), text + "\n", mode)


def create_and_run(d, nc, ws, name):
    """Create a definition in ws (its script in the workspace directory)
    and submit a run on a cluster made from the definition; return the
    JobRun."""
    jobs = os.path.join(d.ws_root, ws, "jobs")
    os.makedirs(jobs, exist_ok=True)
    with open(os.path.join(jobs, name + ".py"), "w") as f:
        f.write(HELLO)
    cfg = pb.JobConfig(type=pb.PYTHON, source_location=name + ".py",
                       env={"WS": ws})
    cfg.source.type = pb.WORKSPACE
    cfg.source.workspace.path = "jobs"
    jd = assert_ok(rpc(nc, ws, "jobdef.create", pb.CreateJobDefinitionRequest(
        name=name, config=cfg, cluster_config=harness.cluster_config()),
        pb.JobDefinitionReply)).job_definition
    assert jd.workspace == ws
    run = assert_ok(rpc(nc, ws, "run.submit", pb.SubmitJobRunRequest(
        job_definition_uuid=jd.uuid), pb.JobRunReply)).job_run
    assert run.workspace == ws
    return run


def events_until_terminal(sub, run_uuid, timeout=20.0):
    """JobRunStatusEvents of run_uuid from sub until a terminal one."""
    evs, subjects = [], set()
    deadline = time.monotonic() + timeout
    while not evs or evs[-1].status not in harness.RUN_TERMINAL:
        left = deadline - time.monotonic()
        assert left > 0, "no terminal event for %s: %s" % (
            run_uuid, [pb.JobRunStatus.Name(e.status) for e in evs])
        subject, data = sub.next(left)
        ev = pb.JobRunStatusEvent.FromString(data)
        if ev.run_uuid == run_uuid:
            evs.append(ev)
            subjects.add(subject)
    return evs, subjects


def assert_silent(sub, quiet=0.3):
    try:
        msg = sub.next_msg(quiet)
    except NatsTimeout:
        return
    raise AssertionError("%s received %r" % (sub.subject, msg[:2]))


# ---------------------------------------------------------------- 1. user

USERS_CONF = """\
authorization {
  users = [
    {user: batchd, password: s3cret},
    {user: client, password: c}
  ]
}
"""


def test_user_password(sec):
    srv = sec.server(USERS_CONF)
    d = sec.daemon(srv, {
        "BATCHD_NATS_USER": "batchd",
        "BATCHD_NATS_PASSWORD_FILE": secret(sec, "pw", "s3cret")})
    d.start(wait=False)
    c = sec.client(srv, user="client", password="c")
    wait_ready(d, c)
    with pytest.raises(NatsError, match="Authorization Violation"):
        sec_nats.SecNatsClient(port=srv.port)       # anonymous
    assert "s3cret" not in d.log_text()


def _refused_logins(srv, user):
    return sum('authentication error - User "%s"' % user in ln
               for ln in srv.log_text().splitlines())


def _wrong_password_daemon(sec):
    srv = sec.server(USERS_CONF)
    d = sec.daemon(srv, {
        "BATCHD_NATS_USER": "batchd",
        "BATCHD_NATS_PASSWORD_FILE": secret(sec, "pw", "wrong-password")})
    d.start(wait=False)
    harness.wait_until(lambda: _refused_logins(srv, "batchd") >= 1, 5.0,
                       what="a refused login of user batchd in %s"
                       % srv.log_path)
    return srv, d


def test_user_wrong_password_not_admitted(sec):
    srv, d = _wrong_password_daemon(sec)
    c = sec.client(srv, user="client", password="c")
    with pytest.raises(NatsTimeout):
        c.request("batchd.v1.default.cluster.list",
                  pb.ListClustersRequest().SerializeToString(), timeout=0.5)
    assert "wrong-password" not in d.log_text()
    if not d.running():     # see test_user_wrong_password_keeps_retrying
        d.kill9()


def test_user_wrong_password_keeps_retrying(sec):
    """A refused login is like NATS being down: batchd runs on and tries
    again (bus.c: "cnats retries forever; the daemon runs on"), so that a
    corrected password on the server side lets it in without a restart."""
    srv, d = _wrong_password_daemon(sec)
    # The second try comes a back-off (1 s, then 2 s) after the first.
    deadline = time.monotonic() + 10
    while d.running() and time.monotonic() < deadline and \
            _refused_logins(srv, "batchd") < 2:
        time.sleep(0.05)
    if not d.running():
        rc = d.kill9()      # reap it, so that teardown reports nothing else
        raise AssertionError(
            "batchd exited with status %s after %d refused login(s) instead "
            "of retrying\n%s" % (rc, _refused_logins(srv, "batchd"),
                                  d.log_tail(20)))
    assert _refused_logins(srv, "batchd") >= 2, srv.log_path


# ---------------------------------------------------------------- 2. token

def test_token(sec):
    srv = sec.server('authorization { token: "t0k" }\n')
    d = sec.daemon(srv, {"BATCHD_NATS_TOKEN_FILE": secret(sec, "tok", "t0k")})
    d.start(wait=False)
    wait_ready(d, sec.client(srv, token="t0k"))
    with pytest.raises(NatsError, match="Authorization Violation"):
        sec_nats.SecNatsClient(port=srv.port, token="nope")
    assert "t0k" not in d.log_text()


# ---------------------------------------------------------------- 3. nkey

@needs_crypto
def test_nkey(sec):
    bk = sec_nats.NKey(sec_nats.PREFIX_USER)     # batchd's
    ck = sec_nats.NKey(sec_nats.PREFIX_USER)     # the test client's
    assert bk.public.startswith("U") and bk.seed.startswith("SU")
    assert sec_nats.NKey.from_seed(bk.seed).public == bk.public
    srv = sec.server("authorization { users = [ {nkey: %s}, {nkey: %s} ] }\n"
                     % (bk.public, ck.public))
    d = sec.daemon(srv, {
        "BATCHD_NATS_NKEY": bk.public,
        "BATCHD_NATS_NKEY_SEED_FILE": secret(sec, "batchd.nk", bk.seed)})
    d.start(wait=False)
    wait_ready(d, sec.client(srv, nkey=ck))
    stranger = sec_nats.NKey(sec_nats.PREFIX_USER)
    with pytest.raises(NatsError, match="Authorization Violation"):
        sec_nats.SecNatsClient(port=srv.port, nkey=stranger)
    assert bk.seed not in d.log_text()


# ---------------------------------------------------------------- 4. creds

@needs_crypto
def test_creds_file(sec):
    """Operator mode: an operator JWT trusted by the server, an account JWT
    preloaded in the memory resolver, and user JWTs for batchd (its .creds
    file) and for the test client."""
    op = sec_nats.NKey(sec_nats.PREFIX_OPERATOR)
    acc = sec_nats.NKey(sec_nats.PREFIX_ACCOUNT)
    bu = sec_nats.NKey(sec_nats.PREFIX_USER)
    cu = sec_nats.NKey(sec_nats.PREFIX_USER)
    op_path = sec.path("operator.jwt")
    with open(op_path, "w") as f:
        f.write(sec_nats.operator_jwt(op))
    srv = sec.server('operator: "%s"\nresolver: MEMORY\n'
                     'resolver_preload: { %s: "%s" }\n'
                     % (op_path, acc.public, sec_nats.account_jwt(acc, op)))
    creds = sec_nats.write_secret(
        sec.path("batchd.creds"),
        sec_nats.creds_text(sec_nats.user_jwt(bu, acc, "batchd"), bu))
    d = sec.daemon(srv, {"BATCHD_NATS_CREDS_FILE": creds})
    d.start(wait=False)
    wait_ready(d, sec.client(srv, nkey=cu,
                             jwt=sec_nats.user_jwt(cu, acc, "client")))
    assert bu.seed not in d.log_text()


# ---------------------------------------------------------------- 5. TLS

def test_tls_client_certificate(sec):
    pki = sec_nats.make_pki(sec.path("pki"))
    srv = sec.server("tls {\n  cert_file: \"%s\"\n  key_file: \"%s\"\n"
                     "  ca_file: \"%s\"\n  verify: true\n  timeout: 2\n}\n"
                     % (pki["server"], pki["server_key"], pki["ca"]))
    d = sec.daemon(srv, {"BATCHD_NATS_TLS_CA": pki["ca"],
                         "BATCHD_NATS_TLS_CERT": pki["client"],
                         "BATCHD_NATS_TLS_KEY": pki["client_key"]},
                   url="tls://127.0.0.1:%d" % srv.port)
    d.start(wait=False)
    c = sec.client(srv, tls=sec_nats.tls_context(pki["ca"], pki["client"],
                                                 pki["client_key"]))
    assert c.server_info.get("tls_required") is True
    assert c.tls_version in ("TLSv1.2", "TLSv1.3")
    wait_ready(d, c)
    # verify: true: a client without a certificate does not get in.
    with pytest.raises((NatsError, OSError)):
        sec_nats.SecNatsClient(port=srv.port,
                               tls=sec_nats.tls_context(pki["ca"]))
    # And batchd's connection is the TLS one: the server knows a TLS client
    # named batchd (no plain connection is possible on this port).
    assert "nats connected url=tls://" in d.log_text()


# ---------------------------------------------------------------- 6. modes

def _mode_case(sec, key, mode):
    """Environment for batchd with the secret of key at this mode (others
    0600)."""
    pki = None
    env = {}
    if key == "nats_password_file":
        env = {"BATCHD_NATS_USER": "batchd",
               "BATCHD_NATS_PASSWORD_FILE": secret(sec, "pw", "x", mode)}
    elif key == "nats_token_file":
        env = {"BATCHD_NATS_TOKEN_FILE": secret(sec, "tok", "x", mode)}
    elif key == "nats_nkey_seed_file":
        k = sec_nats.NKey(sec_nats.PREFIX_USER)
        env = {"BATCHD_NATS_NKEY": k.public,
               "BATCHD_NATS_NKEY_SEED_FILE": secret(sec, "nk", k.seed, mode)}
    elif key == "nats_creds_file":
        op, acc, u = (sec_nats.NKey(p) for p in (sec_nats.PREFIX_OPERATOR,
                                                 sec_nats.PREFIX_ACCOUNT,
                                                 sec_nats.PREFIX_USER))
        env = {"BATCHD_NATS_CREDS_FILE": secret(
            sec, "u.creds", sec_nats.creds_text(
                sec_nats.user_jwt(u, acc, "u"), u), mode)}
    elif key == "nats_tls_key":
        pki = sec_nats.make_pki(sec.path("pki"))
        os.chmod(pki["client_key"], mode)
        env = {"BATCHD_NATS_TLS_CA": pki["ca"],
               "BATCHD_NATS_TLS_CERT": pki["client"],
               "BATCHD_NATS_TLS_KEY": pki["client_key"]}
    return env


@pytest.mark.parametrize("key,mode", [
    ("nats_password_file", 0o644),
    ("nats_password_file", 0o640),
    ("nats_token_file", 0o644),
    pytest.param("nats_nkey_seed_file", 0o644, marks=needs_crypto),
    pytest.param("nats_creds_file", 0o644, marks=needs_crypto),
    ("nats_tls_key", 0o644),
])
def test_secret_file_readable_by_others_is_refused(sec, key, mode):
    """(The same files at 0600 are accepted: tests 1 to 5.)"""
    env = _mode_case(sec, key, mode)
    # No server: batchd must refuse before it tries to connect.
    d = sec.daemon(None, env, url="nats://127.0.0.1:%d" % harness.free_port())
    d.start(wait=False)
    try:
        rc = d.proc.wait(timeout=10)
    except Exception:       # noqa: BLE001
        d.kill9()
        raise AssertionError("batchd kept running with %s mode %03o\n%s"
                             % (key, mode, d.log_tail()))
    d.kill9()               # reap; stop() would require exit status 0
    log = d.log_text()
    assert rc == 78, "exit %s, expected 78 (EX_CONFIG)\n%s" % (rc, log)
    line = [ln for ln in log.splitlines() if key in ln]
    assert line, "no message naming %s\n%s" % (key, log)
    assert "%03o" % mode in line[-1], line[-1]


# ---------------------------------------------------------------- 7. isolation

def _passwords(path):
    """user -> password, as written in the configuration file."""
    with open(path) as f:
        text = f.read()
    pw = dict(re.findall(r'\{\s*user:\s*(\w+),\s*password:\s*"([^"]+)"',
                         text))
    assert set(pw) == {"batchd", "teamA", "teamB"}, pw
    return pw


class Iso:
    pass


@pytest.fixture
def iso(sec):
    """nats-server on configs/nats-isolation.conf as shipped (port from the
    command line), batchd as user batchd, a client per team with its own
    inbox prefix."""
    pw = _passwords(ISOLATION_CONF)
    i = Iso()
    i.sec = sec
    i.srv = sec.server(conf_path=ISOLATION_CONF)
    i.d = sec.daemon(i.srv, {
        "BATCHD_NATS_USER": "batchd",
        "BATCHD_NATS_PASSWORD_FILE": secret(sec, "pw", pw["batchd"])})
    i.d.start(wait=False)
    i.a = sec.client(i.srv, user="teamA", password=pw["teamA"],
                     inbox_prefix="_INBOX.teamA")
    i.b = sec.client(i.srv, user="teamB", password=pw["teamB"],
                     inbox_prefix="_INBOX.teamB")
    i.pw = pw
    wait_ready(i.d, i.a, ws="teamA")
    wait_ready(i.d, i.b, ws="teamB")
    return i


def test_isolation_team_works_in_its_workspace(iso):
    a = iso.a
    st = a.subscribe("batchd.v1.teamA.status.>")
    lg = a.subscribe("batchd.v1.teamA.logs.>")
    run = create_and_run(iso.d, a, "teamA", "hello")
    evs, subjects = events_until_terminal(st, run.uuid)
    assert evs[-1].status == pb.SUCCEEDED, evs[-1]
    assert all(e.workspace == "teamA" for e in evs)
    assert all(s.startswith("batchd.v1.teamA.status.") for s in subjects)
    _subject, data = lg.next(5.0)
    assert pb.LogChunk.FromString(data).run_uuid == run.uuid
    lst = assert_ok(rpc(a, "teamA", "jobdef.list",
                        pb.ListJobDefinitionsRequest(),
                        pb.ListJobDefinitionsReply))
    assert [j.name for j in lst.job_definitions] == ["hello"]
    # A schedule's fire events reach the team too.
    fires = a.subscribe("batchd.v1.teamA.schedule_fires.>")
    s = assert_ok(rpc(a, "teamA", "schedule.create",
                      pb.CreateScheduleRequest(
                          name="yearly", cron="0 0 1 1 *",
                          job_definition_uuid=run.job_definition_uuid),
                      pb.ScheduleReply)).schedule
    t = assert_ok(rpc(a, "teamA", "schedule.trigger",
                      pb.GetScheduleRequest(uuid=s.uuid),
                      pb.JobRunReply)).job_run
    subject, data = fires.next(5.0)
    assert subject == "batchd.v1.teamA.schedule_fires." + s.uuid
    ev = pb.ScheduleFireEvent.FromString(data)
    assert (ev.run_uuid, ev.workspace) == (t.uuid, "teamA")
    assert a.errors == []


def test_isolation_no_requests_into_other_workspace(iso):
    a, b = iso.a, iso.b
    # teamB has a definition; teamA cannot see it, nor create or run
    # anything in teamB.
    run_b = create_and_run(iso.d, b, "teamB", "bdef")
    for suffix, msg in (
            ("jobdef.list", pb.ListJobDefinitionsRequest()),
            ("jobdef.get", pb.GetJobDefinitionRequest(name="bdef")),
            ("jobdef.create", pb.CreateJobDefinitionRequest(name="evil")),
            ("run.submit", pb.SubmitJobRunRequest(
                job_definition_uuid=run_b.job_definition_uuid)),
            ("run.list", pb.ListJobRunsRequest()),
            ("run.cancel_all", pb.CancelJobRunsRequest())):
        n = len(a.errors)
        with pytest.raises(NatsTimeout):
            a.request("batchd.v1.teamB." + suffix, msg.SerializeToString(),
                      timeout=0.3)
        assert len(a.errors) > n, suffix
        assert a.errors[-1] == ("'Permissions Violation for Publish to "
                                "\"batchd.v1.teamB.%s\"'" % suffix)
    assert a.errors, a.errors
    # Nothing happened in teamB: one definition, one run (teamB's own).
    defs = assert_ok(rpc(b, "teamB", "jobdef.list",
                         pb.ListJobDefinitionsRequest(),
                         pb.ListJobDefinitionsReply)).job_definitions
    assert [j.name for j in defs] == ["bdef"]
    runs = assert_ok(rpc(b, "teamB", "run.list", pb.ListJobRunsRequest(),
                         pb.ListJobRunsReply)).job_runs
    assert [r.uuid for r in runs] == [run_b.uuid]
    # The server refused them: batchd never saw a teamA request for teamB.
    assert "evil" not in iso.d.log_text()
    assert "Publish Violation - User \"teamA\"" in iso.srv.log_text()


def test_isolation_no_events_or_replies_of_other_team(iso):
    a, b = iso.a, iso.b
    for subj in ("batchd.v1.teamB.>", "batchd.v1.teamB.status.>",
                 "batchd.v1.teamB.logs.>",
                 "batchd.v1.teamB.schedule_fires.>", "batchd.v1.>", ">",
                 "batchd.ha.>", "$JS.API.>", "$KV.>",
                 "_INBOX.>", "_INBOX.teamB.>",
                 "batchd.v1.teamA.run.submit"):
        n = len(a.errors)
        a.subscribe(subj)
        a.wait_error("Permissions Violation for Subscription to \"%s\""
                     % subj)
        assert len(a.errors) == n + 1
    # What teamA may watch, to show nothing of teamB's ends up there.
    a_st = a.subscribe("batchd.v1.teamA.status.>")
    a_lg = a.subscribe("batchd.v1.teamA.logs.>")
    a_in = a.subscribe("_INBOX.teamA.>")
    b_st = b.subscribe("batchd.v1.teamB.status.>")
    run = create_and_run(iso.d, b, "teamB", "secret_job")
    evs, _ = events_until_terminal(b_st, run.uuid)
    assert evs[-1].status == pb.SUCCEEDED
    for s in (a_st, a_lg, a_in):
        assert_silent(s, 0.3)
    # Nor may a team forge events in its own workspace, or reach what
    # batchd keeps in JetStream (under ha = on, a frame appended to its
    # stream is applied by every standby).
    for subj in ("batchd.v1.teamA.status.c.r", "batchd.v1.teamA.logs.r",
                 "batchd.v1.teamA.schedule_fires.s", "batchd.ha.BATCHD.0.log",
                 "$JS.API.STREAM.LIST", "$KV.BATCHD.leader.0"):
        n = len(a.errors)
        a.publish(subj, b"forged")
        a.flush()
        a.wait_error("Permissions Violation for Publish to \"%s\"" % subj)
        assert len(a.errors) == n + 1


def test_isolation_reply_subject_outside_inbox_dropped(iso):
    """Confused deputy: teamA may not publish to teamB's subjects, but the
    reply subject is only a field of its request. batchd must not publish
    its reply there with its own rights."""
    a, b = iso.a, iso.b
    # Everything batchd could publish under teamB (seen with batchd's own
    # rights), and what teamB itself sees.
    watch = iso.sec.client(iso.srv, user="batchd",
                           password=iso.pw["batchd"])
    w_all = watch.subscribe("batchd.v1.teamB.>")
    b_st = b.subscribe("batchd.v1.teamB.status.>")
    evil = "batchd.v1.teamB.status.x.y"
    a.publish("batchd.v1.teamA.cluster.list",
              pb.ListClustersRequest().SerializeToString(), reply=evil)
    a.publish("batchd.v1.teamA.jobdef.create",
              pb.CreateJobDefinitionRequest(name="deputy").SerializeToString(),
              reply="batchd.v1.teamB.jobdef.create")
    a.flush()
    assert a.errors == [], "the server does not check reply subjects"
    # A normal request after them is answered: batchd has taken both.
    wait_ready(iso.d, a, ws="teamA", timeout=5.0)
    harness.wait_until(lambda: iso.d.log_text().count("outside _INBOX.")
                       >= 2, 5.0, what="batchd's warnings")
    log = iso.d.log_text()
    assert re.search(r"reply subject %s outside _INBOX\. dropped"
                     % re.escape(evil), log), iso.d.log_tail()
    assert "reply subject batchd.v1.teamB.jobdef.create outside _INBOX." \
        in log
    for s in (w_all, b_st):
        assert_silent(s, 0.3)
    # Dropped, not executed: no definition "deputy" in teamA.
    defs = assert_ok(rpc(a, "teamA", "jobdef.list",
                         pb.ListJobDefinitionsRequest(),
                         pb.ListJobDefinitionsReply)).job_definitions
    assert "deputy" not in [j.name for j in defs]


def test_reply_prefix_per_workspace(daemon_factory):
    """With reply_prefix "_INBOX.{ws}." a request of workspace a is answered
    only under _INBOX.a.: never into another workspace's inboxes."""
    from harness import _pb
    pbm = _pb()
    d = daemon_factory(env={"BATCHD_REPLY_PREFIX": "_INBOX.{ws}."})
    d.start(wait=False)
    nc = d.nc()
    mine = nc.subscribe("_INBOX.a.>")
    theirs = nc.subscribe("_INBOX.b.>")
    nc.flush()
    req = pbm.ListClustersRequest().SerializeToString()

    def answered(sub, reply, timeout):
        nc.publish("batchd.v1.a.cluster.list", req, reply=reply)
        nc.flush()
        try:
            sub.next(timeout)
            return True
        except Exception:
            return False

    harness.wait_until(lambda: answered(mine, "_INBOX.a.x1", 0.5), 10,
                       what="batchd answering under _INBOX.a.")
    assert not answered(theirs, "_INBOX.b.x2", 1.0)
    assert "outside _INBOX.{ws}. dropped" in open(d.stderr_path).read()
