"""High availability, the client side and the test harness: the
nats-server JetStream cluster of ha_harness.py, `batchctl status` over a
KV bucket and log stream written here with batchd's HA schema, and
batchctl's retries (a request nothing answers, an idempotency key on
submissions, no repeat of an unsafe request that timed out) against a
responder written here, not batchd."""

import base64
import json
import os
import subprocess
import threading
import time

import pytest

import harness
from harness import HOST, UUID_RE, _pb
from ha_harness import NatsCluster, publish_until_acked
from natsclient import NatsClient, NatsTimeout, NatsClosed

pb = _pb()

BATCHCTL = os.environ.get("BATCHCTL_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(harness.BATCHD_BIN)), "batchctl")
SANITIZER = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


def batchctl(server, *args, timeout=60):
    """Run batchctl against server (URLs); stderr checked for sanitizer
    reports."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BATCHD_") and k != "NATS_URL"}
    env["NATS_URL"] = server
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    p = subprocess.run([BATCHCTL] + list(args), env=env, text=True,
                       capture_output=True, timeout=timeout)
    hits = [m for m in SANITIZER if m in p.stderr]
    assert not hits, "sanitizer report in batchctl stderr:\n" + p.stderr
    return p


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cl = NatsCluster(tmp_path_factory.mktemp("ha-nats")).start()
    yield cl
    cl.close()


@pytest.fixture
def own_cluster(tmp_path):
    """A cluster of this test's alone (it kills servers)."""
    cl = NatsCluster(tmp_path / "nats").start()
    yield cl
    cl.close()


# ---------------------------------------------------------------- cluster

def test_cluster_survives_kill9_of_the_stream_leader(own_cluster):
    cl = own_cluster
    assert len(cl.servers) == 3 and cl.url.count(",") == 2
    js = cl.js()
    si = js.stream_create("HA_T", ["hat.>"], replicas=3)
    assert si["config"]["num_replicas"] == 3
    acks = [publish_until_acked(js, "hat.x", b"m%d" % i)["seq"]
            for i in range(10)]
    assert acks == list(range(1, 11))
    # Kill -9 the stream's leader, publish through another server.
    leader = harness.wait_until(lambda: js.stream_leader("HA_T"), 20,
                                what="a leader of stream HA_T")
    victim = cl.index(leader)
    js = cl.js(avoid=(victim,))
    cl.kill9(victim)
    assert cl.wait_meta_leader() != leader
    for i in range(10, 20):
        publish_until_acked(js, "hat.x", b"m%d" % i)
    new = harness.wait_until(lambda: js.stream_leader("HA_T"), 30,
                             what="a new leader of stream HA_T")
    assert new != leader
    # Every message is there once (a retried publish may add a copy: the
    # test publishes without a message id, so count distinct payloads).
    got = set()
    last = js.stream_info("HA_T")["state"]["last_seq"]
    for seq in range(1, last + 1):
        m = js.api("STREAM.MSG.GET.HA_T", {"seq": seq})["message"]
        got.add(base64.b64decode(m["data"]))
    assert got == {b"m%d" % i for i in range(20)}
    # The killed server comes back and catches up.
    cl.restart(victim)
    cl.wait_meta_leader()

    def caught_up():
        info = js.stream_info("HA_T")
        reps = info["cluster"].get("replicas") or []
        return any(r["name"] == cl.servers[victim].name and r.get("current")
                   for r in reps) or info["cluster"].get("leader") == \
            cl.servers[victim].name
    harness.wait_until(caught_up, 30, what="%s current again"
                       % cl.servers[victim].name)


def test_cluster_takes_publishes_with_one_server_paused(own_cluster):
    cl = own_cluster
    js = cl.js(avoid=(2,))
    js.stream_create("HA_P", ["hap.>"], replicas=3)
    cl.pause(2)
    assert cl.wait_meta_leader() != "n2"
    acks = {publish_until_acked(js, "hap.x", b"p%d" % i)["seq"]
            for i in range(5)}
    assert len(acks) >= 5
    cl.resume(2)
    assert cl.wait_meta_leader() in ("n0", "n1", "n2")


# ---------------------------------------------------------------- status

def ha_schema(js, bucket, node_recs, leaders, log_msgs):
    """Write what batchd's HA nodes keep: the KV bucket (leader.{p},
    node.{name}) and partition logs {bucket}_{p} with log_msgs[p]
    messages."""
    js.kv_create(bucket, ttl_s=600)
    for p, n in log_msgs.items():
        js.stream_create("%s_%d" % (bucket, p), ["batchd.ha.%s.%d.log"
                                                  % (bucket, p)])
        for i in range(n):
            publish_until_acked(js, "batchd.ha.%s.%d.log" % (bucket, p),
                                b"commit %d" % i)
    for p, name in leaders.items():
        js.kv_put(bucket, "leader.%d" % p, name)
    now = int(time.time() * 1000)
    for name, (parts, failovers) in node_recs.items():
        js.kv_put(bucket, "node." + name, {
            "node": name, "failovers": failovers, "updated_ms": now,
            "partitions": [{"partition": p, "role": r, "applied": a}
                           for p, r, a in parts]})


def table_rows(text):
    lines = text.strip().splitlines()
    head = lines[0].split()
    return head, [dict(zip(head, ln.split())) for ln in lines[1:]]


def test_status_shows_leaders_roles_and_lag(cluster):
    js = cluster.js()
    ha_schema(js, "HA_S1", {
        "a": ([(0, "leader", 7), (1, "standby", 2)], 1),
        "b": ([(0, "standby", 4), (1, "leader", 3)], 0),
        "c": ([(0, "standby", 7)], 2),
    }, {0: "a", 1: "b"}, {0: 7})      # partition 1 has no log stream
    p = batchctl(cluster.url, "status", "--ha-stream", "HA_S1")
    assert p.returncode == 0, p.stderr
    head, rows = table_rows(p.stdout)
    assert head == ["PARTITION", "LEADER", "NODE", "ROLE", "APPLIED",
                    "LAG", "FAILOVERS", "SEEN"], p.stdout
    got = {(r["PARTITION"], r["NODE"]): (r["LEADER"], r["ROLE"],
                                          r["APPLIED"], r["LAG"],
                                          r["FAILOVERS"]) for r in rows}
    assert got == {
        ("0", "a"): ("a", "leader", "7", "0", "1"),
        ("0", "b"): ("a", "standby", "4", "3", "0"),
        ("0", "c"): ("a", "standby", "7", "0", "2"),
        ("1", "a"): ("b", "standby", "2", "-", "1"),
        ("1", "b"): ("b", "leader", "3", "-", "0"),
    }, p.stdout
    # Partition 0 first, then 1.
    assert [r["PARTITION"] for r in rows] == ["0", "0", "0", "1", "1"]

    p = batchctl(cluster.url, "status", "--ha-stream", "HA_S1", "-o", "json")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["bucket"] == "HA_S1"
    p0, p1 = j["partitions"]
    assert (p0["partition"], p0["leader"], p0["lastSeq"]) == (0, "a", 7)
    assert {n["node"]: (n["role"], n["applied"], n["lag"])
            for n in p0["nodes"]} == {"a": ("leader", 7, 0),
                                      "b": ("standby", 4, 3),
                                      "c": ("standby", 7, 0)}
    assert (p1["partition"], p1["leader"], p1["lastSeq"]) == (1, "b", None)
    assert all(n["lag"] is None for n in p1["nodes"])


def test_status_lag_follows_the_log_and_a_lost_leader(cluster):
    """The log grows: the lag with it; the leader key expires (a
    failover under way): LEADER shows (none)."""
    js = cluster.js()
    ha_schema(js, "HA_S2", {"a": ([(0, "leader", 3)], 0),
                            "b": ([(0, "standby", 3)], 0)},
              {0: "a"}, {0: 3})
    for i in range(5):
        publish_until_acked(js, "batchd.ha.HA_S2.0.log", b"more %d" % i)
    js.api("STREAM.PURGE.KV_HA_S2", {"filter": "$KV.HA_S2.leader.0"})
    p = batchctl(cluster.url, "status", "--ha-stream", "HA_S2")
    assert p.returncode == 0, p.stderr
    _, rows = table_rows(p.stdout)
    assert {r["NODE"]: (r["LEADER"], r["LAG"]) for r in rows} == {
        "a": ("(none)", "5"), "b": ("(none)", "5")}, p.stdout


def test_status_without_ha_says_so(cluster, nats_server):
    p = batchctl(cluster.url, "status", "--ha-stream", "NO_SUCH_BUCKET")
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "not in high availability mode" in p.stderr
    assert "NO_SUCH_BUCKET" in p.stderr and p.stdout == ""
    # A server without JetStream at all.
    p = batchctl(nats_server.url, "status", "--timeout", "5")
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "not in high availability mode" in p.stderr
    assert "BATCHD_HA" in p.stderr
    # A bad bucket name is a usage error.
    p = batchctl(cluster.url, "status", "--ha-stream", "a.b")
    assert p.returncode == 4 and "--ha-stream" in p.stderr


# ---------------------------------------------------------------- retries

class Responder:
    """A stand-in for batchd's leader on one subject: records each request
    and answers with answer(n, data) (n from 0; None: no answer)."""

    def __init__(self, server, subject, answer):
        self.nc = NatsClient(HOST, server.port)
        self.sub = self.nc.subscribe(subject)
        self.answer = answer
        self.requests = []
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while True:
            try:
                _subject, reply, data = self.sub.next_msg(timeout=30)
            except (NatsTimeout, NatsClosed):
                return
            n = len(self.requests)
            self.requests.append(data)
            out = self.answer(n, data)
            if out is not None and reply:
                self.nc.publish(reply, out)

    def close(self):
        self.nc.close()
        self._t.join(5)


@pytest.fixture
def responders():
    made = []
    yield made
    for r in made:
        r.close()


def run_reply(uuid="7f0c8a52-0000-4000-8000-000000000001"):
    rep = pb.JobRunReply()
    rep.job_run.uuid = uuid
    rep.job_run.status = pb.PENDING
    return rep.SerializeToString()


def subject(ws, verb):
    return "batchd.v1.%s.%s" % (ws, verb)


def test_no_responders_is_retried_until_one_answers(nats_server, ws,
                                                    responders):
    """Nothing subscribed (a failover): batchctl sends again until a
    responder appears 1 s later; the answer is printed."""
    run = "7f0c8a52-0000-4000-8000-0000000000aa"
    p = subprocess.Popen(
        [BATCHCTL, "--server", nats_server.url, "--workspace", ws,
         "--timeout", "20", "-o", "json", "run", "get", run],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
    time.sleep(1.0)
    r = Responder(nats_server, subject(ws, "run.get"),
                  lambda n, d: run_reply(pb.GetJobRunRequest.FromString(
                      d).uuid))
    responders.append(r)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert json.loads(out)["uuid"] == run
    # Tries before the subscription reached nobody: one request arrived.
    assert len(r.requests) == 1


def test_no_responders_until_the_timeout_fails(nats_server, ws):
    p = batchctl(nats_server.url, "--workspace", ws, "--timeout", "1",
                 "cluster", "list")
    assert p.returncode == 5, p.stderr
    assert ("nothing answers on batchd.v1.%s.cluster.list within 1s"
            % ws) in p.stderr, p.stderr


def test_submissions_carry_an_idempotency_key(nats_server, ws, responders):
    r = Responder(nats_server, subject(ws, "run.submit"),
                  lambda n, d: run_reply())
    s = Responder(nats_server, subject(ws, "run.submit_sql"),
                  lambda n, d: run_reply())
    responders += [r, s]
    jd = "7f0c8a52-0000-4000-8000-0000000000d1"
    for _ in range(2):
        p = batchctl(nats_server.url, "--workspace", ws, "run", "submit", jd)
        assert p.returncode == 0, p.stderr
    p = batchctl(nats_server.url, "--workspace", ws, "run", "submit", jd,
                 "--idempotency-key", "mine-1")
    assert p.returncode == 0, p.stderr
    p = batchctl(nats_server.url, "--workspace", ws, "run", "sql",
                 "SELECT 1")
    assert p.returncode == 0, p.stderr
    keys = [pb.SubmitJobRunRequest.FromString(d).idempotency_key
            for d in r.requests]
    assert len(keys) == 3
    assert UUID_RE.match(keys[0]) and UUID_RE.match(keys[1]), keys
    assert keys[0] != keys[1] and keys[2] == "mine-1"
    assert keys[0][14] == "4", keys[0]           # a random (v4) uuid
    assert pb.SubmitJobRunRequest.FromString(
        r.requests[0]).job_definition_uuid == jd
    sql = pb.SubmitSqlJobRunRequest.FromString(s.requests[0])
    assert UUID_RE.match(sql.idempotency_key) and sql.sql_query == "SELECT 1"


@pytest.mark.parametrize("given", [[], ["--idempotency-key", "k-1"]])
def test_a_timed_out_submission_is_repeated_with_its_key(nats_server, ws,
                                                         responders, given):
    """The first try is not answered (a leader that died after taking
    it): the repeat carries the same key (made or given), so batchd
    answers the first run, not a second one."""
    r = Responder(nats_server, subject(ws, "run.submit"),
                  lambda n, d: None if n == 0 else run_reply())
    responders.append(r)
    p = batchctl(nats_server.url, "--workspace", ws, "--timeout", "6",
                 "-o", "json", "run", "submit",
                 "7f0c8a52-0000-4000-8000-0000000000d2", *given)
    assert p.returncode == 0, p.stderr
    assert len(r.requests) == 2
    a, b = (pb.SubmitJobRunRequest.FromString(d) for d in r.requests)
    assert a.idempotency_key == b.idempotency_key != ""
    assert r.requests[0] == r.requests[1]
    if given:
        assert a.idempotency_key == "k-1"


def test_a_submission_never_answered_gives_its_key(nats_server, ws,
                                                   responders):
    r = Responder(nats_server, subject(ws, "run.submit"), lambda n, d: None)
    responders.append(r)
    p = batchctl(nats_server.url, "--workspace", ws, "--timeout", "3",
                 "run", "submit", "7f0c8a52-0000-4000-8000-0000000000d3")
    assert p.returncode == 5, p.stderr
    time.sleep(0.2)
    keys = {pb.SubmitJobRunRequest.FromString(d).idempotency_key
            for d in r.requests}
    assert len(r.requests) >= 2 and len(keys) == 1, r.requests
    assert "repeated with --idempotency-key %s it is done once" \
        % keys.pop() in p.stderr, p.stderr


@pytest.mark.parametrize("argv,verb", [
    (["run", "cancel-all", "--cluster",
      "7f0c8a52-0000-4000-8000-0000000000c1"], "run.cancel_all"),
    (["schedule", "trigger", "7f0c8a52-0000-4000-8000-0000000000e1"],
     "schedule.trigger"),
])
def test_a_timed_out_unsafe_request_is_not_repeated(nats_server, ws,
                                                    responders, argv, verb):
    """cancel-all (it would cancel runs submitted meanwhile) and trigger
    (a second run) get one try: no reply is an error saying it may have
    been done."""
    r = Responder(nats_server, subject(ws, verb), lambda n, d: None)
    responders.append(r)
    p = batchctl(nats_server.url, "--workspace", ws, "--timeout", "3",
                 *argv)
    assert p.returncode == 5, p.stderr
    assert "no reply on %s within 3s" % subject(ws, verb) in p.stderr
    assert "may have been done" in p.stderr
    time.sleep(0.2)
    assert len(r.requests) == 1


def test_a_repeated_create_refused_as_existing_says_why(nats_server, ws,
                                                        responders,
                                                        tmp_path):
    """cluster create's first try timed out (it was done), the repeat is
    refused ALREADY_EXISTS: the error says an earlier try may have done
    it."""
    def answer(n, d):
        if n == 0:
            return None
        rep = pb.ClusterReply()
        rep.error.code = pb.ALREADY_EXISTS
        rep.error.message = "cluster 'c1' exists"
        rep.error.field = "name"
        return rep.SerializeToString()
    r = Responder(nats_server, subject(ws, "cluster.create"), answer)
    responders.append(r)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"instanceType": "local",
                               "workersQuantity": 1, "version": "3"}))
    p = batchctl(nats_server.url, "--workspace", ws, "--timeout", "6",
                 "cluster", "create", "c1", "--config", str(cfg))
    assert p.returncode == 3, p.stderr
    assert "ALREADY_EXISTS" in p.stderr
    assert "an earlier try of this request got no reply" in p.stderr
    assert len(r.requests) == 2


def test_a_timed_out_read_is_repeated(nats_server, ws, responders):
    """A leader paused with its subscription (no answer, no "no
    responders"): a read is sent again after a third of the timeout."""
    run = "7f0c8a52-0000-4000-8000-0000000000bb"
    r = Responder(nats_server, subject(ws, "run.get"),
                  lambda n, d: None if n == 0 else run_reply(run))
    responders.append(r)
    p = batchctl(nats_server.url, "--workspace", ws, "--timeout", "6",
                 "-o", "json", "run", "get", run)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["uuid"] == run
    assert len(r.requests) == 2 and "may have" not in p.stderr


def test_server_list_skips_a_dead_server(nats_server, ws, responders):
    """--server (and NATS_URL) take several URLs separated by commas, as
    batchd's nats_url: the first that answers is used."""
    r = Responder(nats_server, subject(ws, "cluster.list"),
                  lambda n, d: pb.ListClustersReply().SerializeToString())
    responders.append(r)
    dead = "nats://127.0.0.1:%d" % harness.free_port()
    p = batchctl(dead + ", " + nats_server.url, "--workspace", ws,
                 "cluster", "list")
    assert p.returncode == 0, p.stderr
    assert len(r.requests) == 1
