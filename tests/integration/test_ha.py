"""High availability (ha = on): batchd nodes, each its own data_dir, on a
three-server JetStream cluster on loopback; the leader is killed, paused,
its stream's server killed, its jobs' machine lost; a standby starts empty.
Every acknowledged command must exist once on the leader after, every run's
events must be gap-free, and a deposed leader must never act again."""

import glob
import os
import signal
import threading
import time
import uuid

import pytest

from harness import _pb, assert_ok, assert_error, BusWatch, free_port, \
    http_get, wait_until
from ha_harness import NatsCluster, HaNodes
from natsclient import NatsClient, NatsError, NatsTimeout

pb = _pb()
WS = "ha"
TERMINAL = (pb.SUCCEEDED, pb.FAILED, pb.CANCELLED)


@pytest.fixture
def cl(tmp_path):
    c = NatsCluster(tmp_path / "nats").start()
    yield c
    c.close()


def client(cl):
    for s in cl.servers:
        if s.running() and not s.paused:
            try:
                return NatsClient("127.0.0.1", s.port)
            except (OSError, NatsError):
                pass
    raise AssertionError("no nats-server answers")


class Client:
    """Requests as batchctl makes them during a failover: again after no
    answer (a submission with the same idempotency key), until one comes."""

    def __init__(self, cl, ws=WS):
        self.cl, self.ws, self.nc = cl, ws, None

    def call(self, suffix, req, reply_cls, timeout=90.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.nc is None:
                    self.nc = client(self.cl)
                data = self.nc.request("batchd.v1.%s.%s" % (self.ws, suffix),
                                       req.SerializeToString(), timeout=2.0)
                return reply_cls.FromString(data)
            except (NatsError, OSError) as e:
                if not isinstance(e, NatsTimeout) and self.nc is not None:
                    self.nc.close()
                    self.nc = None
                if time.monotonic() > deadline:
                    raise AssertionError("no answer to %s: %s" % (suffix, e))
                time.sleep(0.05)

    def close(self):
        if self.nc is not None:
            self.nc.close()


def text_jobdef(c, name, code, retries=0):
    cfg = pb.JobConfig(type=pb.PYTHON, source_location="main.py")
    cfg.source.type = pb.TEXT
    cfg.source.text.text = code
    cfg.retry_strategy.num_retries = retries
    cfg.retry_strategy.retry_delay_seconds = 0
    req = pb.CreateJobDefinitionRequest(name=name, config=cfg)
    return assert_ok(c.call("jobdef.create", req,
                            pb.JobDefinitionReply)).job_definition


def cluster(c, name):
    req = pb.CreateClusterRequest(name=name)
    req.config.instance_type = "local"
    req.config.workers_quantity = 1
    req.config.version = "3"
    return assert_ok(c.call("cluster.create", req, pb.ClusterReply)).cluster


def submit(c, jd, cu, key):
    req = pb.SubmitJobRunRequest(job_definition_uuid=jd, cluster_uuid=cu,
                                 idempotency_key=key)
    return assert_ok(c.call("run.submit", req, pb.JobRunReply)).job_run


def get_run(c, u):
    return assert_ok(c.call("run.get", pb.GetJobRunRequest(uuid=u),
                            pb.JobRunReply)).job_run


def all_runs(c):
    runs, token = [], ""
    while True:
        rep = assert_ok(c.call("run.list", pb.ListJobRunsRequest(
            page_size=1000, page_token=token), pb.ListJobRunsReply))
        runs += list(rep.job_runs)
        token = rep.next_page_token
        if not token:
            return runs


def wait_terminal(c, u, timeout=60.0):
    return wait_until(lambda: (lambda r: r if r.status in TERMINAL
                               else None)(get_run(c, u)), timeout,
                      interval=0.2, what="run %s to end" % u)


class Load(threading.Thread):
    """Submissions one after another, each with its own key, retried as
    batchctl does: what was acknowledged, by key."""

    def __init__(self, cl, jd, clusters):
        threading.Thread.__init__(self, daemon=True)
        self.c = Client(cl)
        self.jd, self.clusters = jd, clusters
        self.acked = {}
        self.stop = threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set():
            key = str(uuid.uuid4())
            r = submit(self.c, self.jd, self.clusters[i % len(self.clusters)],
                       key)
            self.acked[key] = r.uuid
            i += 1
            # Each run is started too: a few hundred keep the test short.
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        self.join(120)
        self.c.close()


def check_exactly_once(c, acked):
    runs = all_runs(c)
    ids = [r.uuid for r in runs]
    assert len(ids) == len(set(ids))
    missing = set(acked.values()) - set(ids)
    assert not missing, "%d acknowledged runs missing" % len(missing)
    assert len(ids) == len(acked), ("%d runs stored, %d submissions "
                                    "acknowledged" % (len(ids), len(acked)))


def check_gap_free(watch, c, uuids):
    for u in uuids:
        wait_terminal(c, u)

    def complete():
        watch.drain_status(quiet=0.2)
        return all(u in watch.events and
                   watch.events[u].get(max(watch.events[u]))
                   .status in TERMINAL for u in uuids)
    wait_until(complete, 60, interval=0.2, what="every run's last event")
    for u in uuids:
        seqs = sorted(watch.events[u])
        assert seqs == list(range(1, len(seqs) + 1)), (u, seqs)


def kill_attempts(runs_dir):
    """What a lost machine takes with it: the shims of this test's attempts
    (each holds its attempt's DIR/lock, under runs_dir) and every process
    below them. Only this test's: another test run on the machine has
    shims of its own."""
    parent, shims = {}, set()
    for p in glob.glob("/proc/[0-9]*"):
        pid = int(p.split("/")[2])
        try:
            with open(p + "/stat") as f:
                parent[pid] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(p + "/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
            if argv0.endswith(b"batchd-shim") and any(
                    os.readlink(fd).startswith(runs_dir)
                    for fd in glob.glob(p + "/fd/*")):
                shims.add(pid)
        except OSError:
            continue

    def below(pid):
        while pid > 1:
            if pid in shims:
                return True
            pid = parent.get(pid, 0)
        return False
    for pid in parent:
        if below(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_kill9_of_the_leader_under_load_loses_no_acknowledged_command(
        cl, tmp_path):
    # A run caught RUNNING by a kill has no shim to find (/bin/false):
    # its cluster waits out the grace, here short.
    nodes = HaNodes(tmp_path, cl, lease_s=2, grace_s=1,
                    env={"BATCHD_QUEUE_CAP": "100000",
                         "BATCHD_SHIM": "/bin/false"}).start()
    c = Client(cl)
    watch = None
    try:
        leader = nodes.wait_leader()
        jd = text_jobdef(c, "j", "print(1)")
        cus = [cluster(c, "c%d" % i).uuid for i in range(4)]
        watch = BusWatch(nodes["a"], WS)
        load = Load(cl, jd.uuid, cus)
        load.start()
        for _ in range(3):
            wait_until(lambda: len(load.acked) > 30, 60, what="submissions")
            time.sleep(0.5)
            leader.kill9()
            new = nodes.wait_leader(other_than=leader.node)
            n = len(load.acked)
            wait_until(lambda: len(load.acked) > n + 20, 60,
                       what="submissions on the new leader")
            leader.start(wait=False)        # back, as a standby
            leader = new
        load.finish()
        assert len(load.acked) > 90
        check_exactly_once(c, load.acked)
        check_gap_free(watch, c, list(load.acked.values()))
    finally:
        if watch is not None:
            watch.close()
        c.close()
        nodes.close()


def replies_to(cl, subject, req, wait=1.5):
    """Every reply one request gets within wait seconds."""
    nc = client(cl)
    try:
        inbox = nc.new_inbox()
        sub = nc.subscribe(inbox)
        nc.publish(subject, req.SerializeToString(), reply=inbox)
        got, deadline = [], time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                got.append(sub.next_msg(timeout=0.1))
            except NatsTimeout:
                pass
        return got
    finally:
        nc.close()


FAIL_FIRST = ("import os, sys\n"
              "sys.exit(1 if os.environ['BATCHD_ATTEMPT'] == '1' else 0)\n")


def test_a_leader_paused_past_its_lease_never_acts_again(cl, tmp_path):
    nodes = HaNodes(tmp_path, cl, names=("a", "b"), lease_s=2).start()
    c = Client(cl)
    watch = None
    try:
        old = nodes.wait_leader()
        jd = text_jobdef(c, "j", "print('hi')")
        cu = cluster(c, "main").uuid
        watch = BusWatch(nodes["a"], WS)
        # A retry due while the leader is stopped: its timer fires in
        # both; only the new leader may start attempt 2.
        cfg = pb.JobConfig(type=pb.PYTHON, source_location="main.py")
        cfg.source.type = pb.TEXT
        cfg.source.text.text = FAIL_FIRST
        cfg.retry_strategy.num_retries = 1
        cfg.retry_strategy.retry_delay_seconds = 4
        jr = assert_ok(c.call("jobdef.create", pb.CreateJobDefinitionRequest(
            name="retry", config=cfg), pb.JobDefinitionReply)).job_definition
        cr = cluster(c, "retry").uuid
        rr = submit(c, jr.uuid, cr, "retry")
        wait_until(lambda: get_run(c, rr.uuid).reason ==
                   pb.RETRY_PENDING, 30, what="attempt 1 to fail")
        os.kill(old.pid, signal.SIGSTOP)
        new = nodes.wait_leader(other_than=old.node)
        r = submit(c, jd.uuid, cu, "after-pause")
        time.sleep(3)                   # the retry is due in both
        os.kill(old.pid, signal.SIGCONT)
        # Both are subscribed for a moment: only the leader answers.
        for _ in range(5):
            got = replies_to(cl, "batchd.v1.%s.run.get" % WS,
                             pb.GetJobRunRequest(uuid=r.uuid))
            assert len(got) == 1, "%d replies" % len(got)
        wait_until(lambda: "starting again as a standby" in old.log_text(),
                   30, what="the old leader to step down")
        wait_until(lambda: (old.record() or {}).get("partitions", [{}])[0]
                   .get("role") == "standby", 30, what="it to rejoin")
        assert wait_terminal(c, r.uuid).status == pb.SUCCEEDED
        done = wait_terminal(c, rr.uuid)
        assert done.status == pb.SUCCEEDED and done.attempt == 2, done
        check_gap_free(watch, c, [rr.uuid, r.uuid])
        running = [e for e in watch.events[rr.uuid].values()
                   if e.status == pb.RUNNING]
        assert len(running) == 2, running     # attempts 1 and 2, once each
        tail = old.log_text().split("starting again as a standby")[0]
        assert "attempt=2 started" not in tail
        assert nodes.leader_name() == new.node
        # It follows the new leader: its position reaches the leader's.
        lead = new.record()["partitions"][0]["applied"]
        wait_until(lambda: old.record()["partitions"][0]["applied"] >= lead,
                   30, what="the old leader to catch up")
    finally:
        if watch is not None:
            watch.close()
        c.close()
        nodes.close()


def test_kill9_of_the_stream_leader_server_under_load(cl, tmp_path):
    nodes = HaNodes(tmp_path, cl, names=("a", "b"), lease_s=10, grace_s=1,
                    env={"BATCHD_QUEUE_CAP": "100000",
                         "BATCHD_SHIM": "/bin/false"}).start()
    c = Client(cl)
    try:
        nodes.wait_leader()
        jd = text_jobdef(c, "j", "print(1)")
        cus = [cluster(c, "c%d" % i).uuid for i in range(2)]
        load = Load(cl, jd.uuid, cus)
        load.start()
        wait_until(lambda: len(load.acked) > 30, 60, what="submissions")
        js = cl.js()
        name = js.stream_leader("BATCHD_HA_0")
        i = cl.index(name)
        cl.kill9(i)
        n = len(load.acked)
        wait_until(lambda: len(load.acked) > n + 30, 90,
                   what="commits after the stream's leader was lost")
        cl.restart(i)
        load.finish()
        check_exactly_once(c, load.acked)
    finally:
        c.close()
        nodes.close()


N_LINES = 24        # one each half second
LINES = ("import sys, time\n"
         "for i in range(%d):\n"
         "    print('line', i, flush=True)\n"
         "    time.sleep(0.5)\n" % N_LINES)


@pytest.mark.parametrize("apart", [False, True],
                         ids=["same_machine", "other_machine"])
def test_a_job_running_across_a_failover_succeeds_in_attempt_1(cl, tmp_path,
                                                               apart):
    """The leader's batchd dies, its machine lives: the job goes on under
    its shim, and the new leader takes it over: on the same machine by the
    shim's pid; on another (a PID namespace of its own, OtherMachine), by
    the lock the shim holds and the log files it writes. Either way its
    output is published while it runs, and it ends in attempt 1."""
    nodes = HaNodes(tmp_path, cl, names=("a", "b"), lease_s=2,
                    apart=("b",) if apart else ())
    nodes["a"].start()
    c = Client(cl)
    watch = None
    try:
        old = nodes.wait_leader()
        nodes["b"].start()
        jd = text_jobdef(c, "lines", LINES)
        cu = cluster(c, "main").uuid
        watch = BusWatch(nodes["a"], WS)
        r = submit(c, jd.uuid, cu, "k1")
        wait_until(lambda: get_run(c, r.uuid).status == pb.RUNNING, 30,
                   what="the job to run")
        time.sleep(1.5)
        old.kill9()                     # its machine lives: the job goes on
        new = nodes.wait_leader(other_than=old.node)
        late = b"line %d\n" % (N_LINES - 4)

        def live():
            try:
                watch._take_log(0.2)
            except NatsTimeout:
                pass
            got = watch.streams.get((r.uuid, 1, pb.STDOUT))
            return got is not None and late in bytes(got.data)
        wait_until(live, 30, interval=0, what="a late line on the bus")
        assert get_run(c, r.uuid).status == pb.RUNNING
        done = wait_terminal(c, r.uuid)
        assert done.status == pb.SUCCEEDED, done
        assert done.attempt == 1 and len(done.attempts) == 1
        want = b"".join(b"line %d\n" % i for i in range(N_LINES))
        logs = assert_ok(c.call("run.logs", pb.GetJobRunLogsRequest(
            uuid=r.uuid, attempt=1), pb.JobRunLogsReply))
        assert b"".join(ch.data for ch in logs.chunks) == want
        assert watch.log_bytes(r.uuid, 1, pb.STDOUT) == want
        check_gap_free(watch, c, [r.uuid])
        assert ("its shim holds its lock on another machine" in
                new.log_text()) == apart
        assert ("re-attached" in new.log_text()) != apart
    finally:
        if watch is not None:
            watch.close()
        c.close()
        nodes.close()


# The first attempt runs until its node is lost; the second succeeds.
RETRY_ONCE = ("import os, sys, time\n"
              "if os.environ['BATCHD_ATTEMPT'] != '1':\n"
              "    print('second'); sys.exit(0)\n"
              "print('first', flush=True)\n"
              "time.sleep(120)\n")


def test_attempts_lost_with_their_node_fail_after_the_grace_and_retry(
        cl, tmp_path):
    nodes = HaNodes(tmp_path, cl, names=("a", "b"), lease_s=2,
                    grace_s=3).start()
    c = Client(cl)
    try:
        old = nodes.wait_leader()
        jd = text_jobdef(c, "once", RETRY_ONCE, retries=1)
        cu = cluster(c, "main").uuid
        r = submit(c, jd.uuid, cu, "k1")
        out = os.path.join(nodes.runs_dir, "..", "logs", r.uuid, "1.stdout")
        wait_until(lambda: os.path.exists(out) and
                   open(out).read().startswith("first"), 30,
                   what="attempt 1 to run")
        # The machine is lost: batchd and the attempt's processes with it.
        old.kill9()
        kill_attempts(nodes.runs_dir)
        t0 = time.monotonic()
        new = nodes.wait_leader(other_than=old.node)
        done = wait_terminal(c, r.uuid, timeout=90)
        assert done.status == pb.SUCCEEDED, done
        assert [a.reason for a in done.attempts][0] == pb.SUPERVISOR_LOST
        assert done.attempt == 2
        assert time.monotonic() - t0 >= 3
        assert "lost unless it reports within" in new.log_text()
    finally:
        c.close()
        nodes.close()


def test_a_standby_started_empty_catches_up_after_compaction(cl, tmp_path):
    env = {"BATCHD_HA_SNAPSHOT_EVERY": "20", "BATCHD_SHIM": "/bin/false",
           "BATCHD_QUEUE_CAP": "100000"}
    nodes = HaNodes(tmp_path, cl, names=("a", "b", "c"), lease_s=2,
                    env=env)
    nodes["a"].start(wait=False)
    nodes["a"].wait_ready()
    c = Client(cl)
    try:
        nodes.wait_leader()
        jd = text_jobdef(c, "j", "print(1)")
        cu = cluster(c, "main").uuid
        acked = {}

        def more():
            k = "k%d" % len(acked)
            acked[k] = submit(c, jd.uuid, cu, k).uuid
            return True
        # Two snapshots of checkpoints (a second apart) compact the log.
        js = cl.js()
        wait_until(lambda: more() and js.stream_info("BATCHD_HA_0")["state"]
                   ["first_seq"] > 1, 30, interval=0.02,
                   what="the log to be compacted")
        nodes["b"].start(wait=False)    # empty: loads a snapshot
        nodes["b"].wait_ready()
        wait_until(lambda: "snapshot at" in nodes["b"].log_text(), 30,
                   what="b to read a snapshot")
        lead = nodes["a"].record()["partitions"][0]["applied"]
        wait_until(lambda: nodes["b"].record()["partitions"][0]["applied"]
                   >= lead, 30, what="b to catch up")
        nodes["a"].kill9()
        assert nodes.wait_leader(other_than="a").node == "b"
        check_exactly_once(c, acked)
        assert get_run(c, acked["k0"]).job_definition_uuid == jd.uuid
    finally:
        c.close()
        nodes.close()


PARTITION_MAP = "".join(
    '  "batchd.v1.*.%s.*": "batchd.p.{{partition(2,1)}}.v1.'
    '{{wildcard(1)}}.%s.{{wildcard(2)}}"\n' % (k, k)
    for k in ("jobdef", "cluster", "run", "schedule"))


def test_two_partitions_each_with_its_own_leader(tmp_path):
    cl = NatsCluster(tmp_path / "nats",
                     conf="mappings = {\n%s}\n" % PARTITION_MAP).start()
    try:
        p0 = HaNodes(tmp_path / "p0", cl, names=("a", "b"), lease_s=2,
                     partition=0, partitions=2).start()
        p1 = HaNodes(tmp_path / "p1", cl, names=("a", "b"), lease_s=2,
                     partition=1, partitions=2).start()
        try:
            leaders = [p0.wait_leader(0), p1.wait_leader(1)]
            served = {}
            for ws in ("alpha", "beta", "gamma", "delta", "eps", "zeta"):
                c = Client(cl, ws)
                text_jobdef(c, "j", "print(1)")
                c.close()
                served[ws] = [i for i, d in enumerate(leaders)
                              if "ws=%s " % ws in d.log_text()]
                assert len(served[ws]) == 1, served
            assert {tuple(v) for v in served.values()} == {(0,), (1,)}
            # Straight to the other partition's subject: refused.
            ws = next(w for w, v in served.items() if v == [0])
            nc = client(cl)
            req = pb.GetJobDefinitionRequest(uuid="j")
            rep = pb.JobDefinitionReply.FromString(nc.request(
                "batchd.p.1.v1.%s.jobdef.get" % ws,
                req.SerializeToString(), timeout=5))
            nc.close()
            assert_error(rep, pb.INVALID_ARGUMENT, "workspace")
            # A partition's failover leaves the other alone.
            leaders[1].kill9()
            p1.wait_leader(1, other_than=leaders[1].node)
            assert p0.leader_name(0) == leaders[0].node
        finally:
            p0.close()
            p1.close()
    finally:
        cl.close()


def test_metrics_and_readyz_show_each_node_s_role(cl, tmp_path):
    nodes = HaNodes(tmp_path, cl, names=("a", "b"), lease_s=2)
    ports = {}
    for n in ("a", "b"):
        ports[n] = free_port()
        nodes[n].extra_env["BATCHD_HTTP_LISTEN"] = "127.0.0.1:%d" % ports[n]
    nodes.start()
    try:
        leader = nodes.wait_leader()
        standby = nodes["b" if leader.node == "a" else "a"]
        wait_until(lambda: http_get(ports[leader.node], "/readyz")[0] == 200,
                   30, what="the leader to be ready")
        code, text = http_get(ports[standby.node], "/readyz")
        assert code == 503 and "standby" in text, (code, text)
        _, m = http_get(ports[leader.node], "/metrics")
        assert 'batchd_ha_leader{partition="0",node="%s",role="leader"} 1' \
            % leader.node in m, m
        _, m = http_get(ports[standby.node], "/metrics")
        assert 'role="standby"} 0' in m and "batchd_ha_lag" in m, m
        leader.kill9()
        nodes.wait_leader(other_than=leader.node)
        wait_until(lambda: http_get(ports[standby.node], "/readyz")[0] ==
                   200, 30, what="the new leader to be ready")
        _, m = http_get(ports[standby.node], "/metrics")
        assert 'batchd_ha_failovers_total{partition="0"} 1' in m, m
    finally:
        nodes.close()


def test_a_second_node_of_the_same_name_never_takes_the_lease(cl, tmp_path):
    first = HaNodes(tmp_path / "one", cl, names=("a",), lease_s=2).start()
    dup = HaNodes(tmp_path / "two", cl, names=("a",), lease_s=2)
    c = Client(cl)
    try:
        leader = first.wait_leader()
        jd = text_jobdef(c, "j", "print(1)")
        dup.start(wait=False)
        time.sleep(8)                   # several leases
        assert "ha: leading" not in dup["a"].log_text()
        assert "starting again" not in leader.log_text()
        assert assert_ok(c.call("jobdef.get", pb.GetJobDefinitionRequest(
            uuid=jd.uuid), pb.JobDefinitionReply)).job_definition.name == "j"
    finally:
        c.close()
        dup.close()
        first.close()
