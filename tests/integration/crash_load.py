"""Load, bookkeeping and invariant checks for test_crash_trials.py.

  JOB_SCRIPT / Defn / expected_stdout   jobs with deterministic output
  Book                                  what clients were told (thread-safe)
  Worker                                a client thread: submit, re-submit an
                                        idempotency key, cancel, cancel_all,
                                        submit after other runs, submit a
                                        pipeline (run.submit_batch)
  Sampler                               samples cluster.list (queue cap)
  EventSink                             a status subscriber that reconnects
  GateProxy                             TCP proxy batchd reaches NATS through;
                                        closed, batchd cannot reconnect
  check_*                               the invariants, returning violations

Every request a client sends either gets a reply (then the reply is
"acknowledged" and binds the daemon) or not (timeout, connection lost):
then it may or may not have happened. The checks only hold the daemon to
what it acknowledged, and bound what it did without saying.
"""

import os
import random
import socket
import threading
import time

import harness
from harness import HOST, NatsClient, NatsError, NatsTimeout, _pb

pb = _pb()

TERMINAL = (pb.SUCCEEDED, pb.FAILED, pb.CANCELLED)

# args: N PAUSE MODE. Writes N deterministic lines (pausing PAUSE seconds
# half way), then: ok -> exit 0; fail -> exit 3; flaky -> exit 3 on attempt
# 1, else 0; timeout -> sleep past the attempt's timeout.
JOB_SCRIPT = r"""
import os, sys, time
run = os.environ["BATCHD_RUN_UUID"]
att = os.environ["BATCHD_ATTEMPT"]
n, pause, mode = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
out = sys.stdout
for i in range(n):
    if i == n // 2 and pause > 0:
        out.flush()
        time.sleep(pause)
    out.write("run %s attempt %s line %d\n" % (run, att, i))
out.flush()
if mode == "timeout":
    time.sleep(60)
if mode == "fail" or (mode == "flaky" and att == "1"):
    sys.exit(3)
"""


def expected_stdout(n, run, attempt):
    return "".join("run %s attempt %d line %d\n" % (run, attempt, i)
                   for i in range(n)).encode()


class Defn:
    """A job definition of the load; uuid set once created."""

    def __init__(self, name, mode, n, pause, weight, retries=None,
                 delay=None, timeout=None, ephemeral=False):
        self.name, self.mode, self.n, self.pause = name, mode, n, pause
        self.weight = weight
        self.retries, self.delay, self.timeout = retries, delay, timeout
        self.ephemeral = ephemeral
        self.uuid = None

    def args(self):
        return "%d %.2f %s" % (self.n, self.pause, self.mode)

    def __repr__(self):
        return "Defn(%s %s n=%d pause=%.2f)" % (self.name, self.mode, self.n,
                                               self.pause)


def make_defns(rng):
    """The definitions of one test, their sizes drawn from rng."""
    return [
        Defn("quick", "ok", rng.randint(1, 200), 0.0, 5),
        Defn("sleepy", "ok", rng.randint(20, 300),
             round(rng.uniform(0.2, 1.0), 2), 4),
        Defn("failing", "fail", rng.randint(1, 100),
             round(rng.uniform(0.0, 0.4), 2), 2, retries=1, delay=1),
        Defn("flaky", "flaky", rng.randint(1, 100),
             round(rng.uniform(0.0, 0.4), 2), 2, retries=1, delay=0),
        Defn("timeout", "timeout", rng.randint(1, 50), 0.0, 1, timeout=2),
        Defn("ephemeral", "ok", rng.randint(1, 100),
             round(rng.uniform(0.0, 0.5), 2), 1, ephemeral=True),
    ]


def create_defns(d, ws, defns):
    harness.write_job(d, ws, "crash_job.py", JOB_SCRIPT)
    for df in defns:
        jd = harness.make_jobdef(
            d, ws, df.name, location="crash_job.py", args=df.args(),
            num_retries=df.retries, retry_delay_seconds=df.delay,
            timeout_seconds=df.timeout,
            cluster=harness.cluster_config() if df.ephemeral else None)
        df.uuid = jd.uuid
    return {df.uuid: df for df in defns}


# ---------------------------------------------------------------- book

class Sub:
    """An acknowledged submission (the first reply naming its run)."""

    __slots__ = ("uuid", "cluster", "defn", "key", "send_t", "recv_t",
                 "queue_seq", "order_known", "worker")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


class Book:
    """What the daemon acknowledged, and what it was asked without
    answering. Violations seen live are recorded here too."""

    def __init__(self, cap):
        self.cap = cap
        self.lock = threading.Lock()
        self.subs = []              # Sub, in acknowledgment order
        self.by_uuid = {}
        self.keys = {}              # idempotency key -> run uuid
        self.key_params = {}        # key -> (defn, cluster uuid)
        self.unacked = {}           # cluster uuid ("" ephemeral) -> count
        self.cancel_acked = {}      # run uuid -> monotonic time of the ack
        self.queued_max = {}        # cluster uuid -> largest queued seen
        self.deps = {}              # run uuid -> [(upstream, condition)]
        self.batches = {}           # tag -> [items, acknowledged]
        self.violations = []
        self.n = dict(submissions=0, acknowledged=0, queue_full=0,
                      resubmits=0, cancels=0, cancels_acked=0,
                      cancel_alls=0, no_reply=0, samples=0, restarts=0,
                      outages=0, afters=0, afters_refused=0, batches=0,
                      batches_acked=0)

    def count(self, what, k=1):
        with self.lock:
            self.n[what] += k

    def violation(self, text, run=None):
        with self.lock:
            self.violations.append((text, run))

    def ack_submit(self, sub):
        """A successful run.submit reply. Returns the known Sub."""
        with self.lock:
            self.n["acknowledged"] += 1
            have = self.by_uuid.get(sub.uuid)
            if have is not None:
                if sub.key and have.key != sub.key:
                    self.violations.append((
                        "run.submit with key %r returned run %s, which was "
                        "acknowledged for key %r" % (sub.key, sub.uuid,
                                                     have.key), sub.uuid))
                return have
            if sub.key:
                first = self.keys.get(sub.key)
                if first is not None and first != sub.uuid:
                    self.violations.append((
                        "idempotency key %r returned run %s, but first run "
                        "%s" % (sub.key, sub.uuid, first), sub.uuid))
                    return sub
                self.keys[sub.key] = sub.uuid
            self.subs.append(sub)
            self.by_uuid[sub.uuid] = sub
            return sub

    def no_reply(self, cluster):
        with self.lock:
            self.n["no_reply"] += 1
            self.unacked[cluster] = self.unacked.get(cluster, 0) + 1

    def sample_queued(self, cluster, queued):
        with self.lock:
            self.n["samples"] += 1
            if queued > self.queued_max.get(cluster, -1):
                self.queued_max[cluster] = queued
            if queued > self.cap:
                self.violations.append((
                    "cluster %s has %d runs queued, more than the cap %d"
                    % (cluster, queued, self.cap), None))

    def acked_since(self, i):
        with self.lock:
            return list(self.subs[i:]), len(self.subs)

    def summary(self):
        with self.lock:
            return " ".join("%s=%d" % kv for kv in self.n.items())


# ---------------------------------------------------------------- clients

class Client:
    """A NatsClient that reconnects when its connection is gone."""

    def __init__(self, host, port, prefix, ws, timeout=1.5):
        self.host, self.port = host, port
        self.prefix, self.ws = prefix, ws
        self.timeout = timeout
        self.nc = None

    def request(self, suffix, msg, reply_cls):
        """The parsed reply, or None when none came (timeout, no
        connection)."""
        if self.nc is None or self.nc.is_closed:
            try:
                self.nc = NatsClient(self.host, self.port,
                                     connect_timeout=1.0)
            except (OSError, NatsError):
                self.nc = None
                time.sleep(0.1)
                return None
        subject = "%s.v1.%s.%s" % (self.prefix, self.ws, suffix)
        try:
            data = self.nc.request(subject, msg.SerializeToString(),
                                   timeout=self.timeout)
        except NatsTimeout:
            return None
        except (NatsError, OSError):
            self.close()
            return None
        return reply_cls.FromString(data)

    def close(self):
        if self.nc is not None:
            try:
                self.nc.close()
            except Exception:       # noqa: BLE001
                pass
            self.nc = None


def ecode(rep):
    return rep.error.code if rep.HasField("error") else pb.OK


def ename(code):
    return (pb.ErrorCode.Name(code) if code in pb.ErrorCode.values()
            else str(code))


class Worker(threading.Thread):
    """Submits (sometimes with an idempotency key), re-submits keys,
    cancels runs it knows and now and then cancels a whole cluster."""

    def __init__(self, idx, book, client, defns, clusters, seed, stop):
        super().__init__(name="crash-worker-%d" % idx, daemon=True)
        self.idx = idx
        self.book = book
        self.c = client
        self.defns = defns
        self.weights = [df.weight for df in defns]
        self.clusters = clusters
        self.rng = random.Random(seed)
        self.stop = stop
        self.nkeys = 0
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                x = self.rng.random()
                if x < 0.50:
                    self.submit()
                elif x < 0.58:
                    self.submit_after()
                elif x < 0.62:
                    self.submit_batch()
                elif x < 0.74:
                    self.resubmit()
                elif x < 0.97:
                    self.cancel()
                else:
                    self.cancel_all()
                time.sleep(self.rng.uniform(0.01, 0.08))
        except Exception as exc:    # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.c.close()

    def _send_submit(self, defn, cluster, key, order_known):
        b = self.book
        req = pb.SubmitJobRunRequest(job_definition_uuid=defn.uuid,
                                     cluster_uuid=cluster,
                                     idempotency_key=key)
        t0 = time.monotonic()
        rep = self.c.request("run.submit", req, pb.JobRunReply)
        t1 = time.monotonic()
        if rep is None:
            b.no_reply(cluster)
            return
        code = ecode(rep)
        if code == pb.QUEUE_FULL:
            b.count("queue_full")
            if defn.ephemeral:
                b.violation("QUEUE_FULL for a submission with a new "
                            "ephemeral cluster: %s" % rep.error.message)
            return
        if code != pb.OK:
            b.violation("run.submit (%s, cluster %r, key %r) refused: %s "
                        "field=%r: %s" % (defn.name, cluster, key,
                                          ename(code), rep.error.field,
                                          rep.error.message))
            return
        r = rep.job_run
        want_cluster = cluster or r.cluster_uuid
        if (r.job_definition_uuid != defn.uuid or
                r.cluster_uuid != want_cluster or r.workspace != self.c.ws or
                not harness.UUID_RE.match(r.uuid)):
            b.violation("run.submit (%s, cluster %r) acknowledged run %s of "
                        "definition %s, cluster %s, workspace %s"
                        % (defn.name, cluster, r.uuid, r.job_definition_uuid,
                           r.cluster_uuid, r.workspace), r.uuid)
        if order_known and (r.status != pb.PENDING or r.queue_seq == 0):
            b.violation("a new run %s is %s with queue_seq %d in its "
                        "submit reply" % (r.uuid,
                                          pb.JobRunStatus.Name(r.status),
                                          r.queue_seq), r.uuid)
        if key and r.idempotency_key != key:
            b.violation("run %s submitted with key %r carries key %r"
                        % (r.uuid, key, r.idempotency_key), r.uuid)
        b.ack_submit(Sub(uuid=r.uuid, cluster=r.cluster_uuid, defn=defn,
                         key=key, send_t=t0, recv_t=t1,
                         queue_seq=r.queue_seq if order_known else 0,
                         order_known=order_known and not defn.ephemeral,
                         worker=self.idx))

    def submit(self):
        defn = self.rng.choices(self.defns, self.weights)[0]
        cluster = "" if defn.ephemeral else self.rng.choice(self.clusters)
        key = ""
        if self.rng.random() < 0.3:
            self.nkeys += 1
            key = "w%d-k%d" % (self.idx, self.nkeys)
            with self.book.lock:
                self.book.key_params[key] = (defn, cluster)
        self.book.count("submissions")
        # A key's first submission may be answered by the run an earlier,
        # unanswered one made: the order is known only without a key.
        self._send_submit(defn, cluster, key, order_known=not key)

    def resubmit(self):
        with self.book.lock:
            keys = sorted(self.book.key_params)
            if not keys:
                return
            key = self.rng.choice(keys)
            defn, cluster = self.book.key_params[key]
        self.book.count("resubmits")
        self._send_submit(defn, cluster, key, order_known=False)

    def _pick(self):
        defn = self.rng.choices(self.defns, self.weights)[0]
        return defn, "" if defn.ephemeral else self.rng.choice(self.clusters)

    def _ack_dependent(self, defn, cluster, r, deps, t0, t1):
        """An acknowledged run with dependencies: its order in its queue
        is not known (it enters when they are met)."""
        b = self.book
        if r.job_definition_uuid != defn.uuid or \
                r.cluster_uuid != (cluster or r.cluster_uuid) or \
                [(x.run_uuid, x.condition) for x in r.depends_on] != deps:
            b.violation("run %s acknowledged as %s %s with depends_on %s, "
                        "asked %s %r %s" % (
                            r.uuid, r.job_definition_uuid, r.cluster_uuid,
                            [(x.run_uuid, x.condition)
                             for x in r.depends_on], defn.uuid, cluster,
                            deps), r.uuid)
        with b.lock:
            b.deps[r.uuid] = deps
        b.ack_submit(Sub(uuid=r.uuid, cluster=r.cluster_uuid, defn=defn,
                         key="", send_t=t0, recv_t=t1, queue_seq=0,
                         order_known=False, worker=self.idx))

    def submit_after(self):
        """A run that waits for a recent run to end as a condition says."""
        with self.book.lock:
            if not self.book.subs:
                return
            up = self.rng.choice(self.book.subs[-40:]).uuid
        defn, cluster = self._pick()
        cond = self.rng.choice((pb.AFTER_SUCCEEDED, pb.AFTER_FAILED,
                                pb.AFTER_ENDED))
        req = pb.SubmitJobRunRequest(job_definition_uuid=defn.uuid,
                                     cluster_uuid=cluster, depends_on=[
                                         pb.Dependency(run_uuid=up,
                                                       condition=cond)])
        self.book.count("afters")
        t0 = time.monotonic()
        rep = self.c.request("run.submit", req, pb.JobRunReply)
        t1 = time.monotonic()
        if rep is None:
            self.book.no_reply(cluster)
            return
        code = ecode(rep)
        if code in (pb.FAILED_PRECONDITION, pb.QUEUE_FULL) and \
                (code == pb.QUEUE_FULL or
                 rep.error.field == "depends_on[0].run_uuid"):
            self.book.count("afters_refused")   # ended: can never be met
            return
        if code != pb.OK:
            self.book.violation("run.submit after %s refused: %s field=%r: "
                                "%s" % (up, ename(code), rep.error.field,
                                        rep.error.message))
            return
        self._ack_dependent(defn, cluster, rep.job_run, [(up, cond)], t0,
                            t1)

    def submit_batch(self):
        """A pipeline of 2-4 runs, each after one or two earlier ones,
        tagged (env BATCH) so that the check finds all of it or none."""
        n = self.rng.randint(2, 4)
        tag = "w%d-b%d" % (self.idx, self.rng.randrange(1 << 30))
        items, picks, deps = [], [], []
        for i in range(n):
            defn, cluster = self._pick()
            item = pb.SubmitJobRunRequest(job_definition_uuid=defn.uuid,
                                          cluster_uuid=cluster,
                                          env={"BATCH": tag})
            ups = sorted(set(self.rng.choice(range(i))
                             for _ in range(self.rng.randint(1, 2)))) \
                if i else []
            conds = [self.rng.choice((pb.AFTER_SUCCEEDED, pb.AFTER_ENDED))
                     for _ in ups]
            item.depends_on.extend(pb.Dependency(index=j, condition=c)
                                   for j, c in zip(ups, conds))
            items.append(item)
            picks.append((defn, cluster))
            deps.append(list(zip(ups, conds)))
        with self.book.lock:
            self.book.batches[tag] = [n, False]
        self.book.count("batches")
        t0 = time.monotonic()
        rep = self.c.request("run.submit_batch", pb.SubmitJobRunsRequest(
            runs=items), pb.SubmitJobRunsReply)
        t1 = time.monotonic()
        if rep is None:
            for _, cluster in picks:
                self.book.no_reply(cluster)
            return
        code = ecode(rep)
        if code == pb.QUEUE_FULL:
            self.book.count("queue_full")
            return
        if code != pb.OK or len(rep.job_runs) != n:
            self.book.violation("run.submit_batch of %d refused: %s "
                                "field=%r: %s (%d runs)" % (
                                    n, ename(code), rep.error.field,
                                    rep.error.message, len(rep.job_runs)))
            return
        self.book.count("batches_acked")
        with self.book.lock:
            self.book.batches[tag][1] = True
        runs = rep.job_runs
        for (defn, cluster), r, d in zip(picks, runs, deps):
            self._ack_dependent(defn, cluster, r, [(runs[j].uuid, c)
                                                   for j, c in d], t0, t1)

    def cancel(self):
        with self.book.lock:
            if not self.book.subs:
                return
            recent = self.book.subs[-40:]
            uuid = self.rng.choice(recent).uuid
        self.book.count("cancels")
        rep = self.c.request("run.cancel", pb.CancelJobRunRequest(uuid=uuid),
                             pb.JobRunReply)
        if rep is None:
            return
        code = ecode(rep)
        if code == pb.FAILED_PRECONDITION:
            return
        if code != pb.OK:
            self.book.violation("run.cancel of acknowledged run %s: %s "
                                "field=%r: %s" % (uuid, ename(code),
                                                  rep.error.field,
                                                  rep.error.message), uuid)
            return
        if rep.job_run.status != pb.CANCELLED or rep.job_run.uuid != uuid:
            self.book.violation("run.cancel of %s answered run %s %s"
                                % (uuid, rep.job_run.uuid,
                                   pb.JobRunStatus.Name(rep.job_run.status)),
                                uuid)
        with self.book.lock:
            self.book.n["cancels_acked"] += 1
            self.book.cancel_acked.setdefault(uuid, time.monotonic())

    def cancel_all(self):
        cluster = self.rng.choice(self.clusters)
        self.book.count("cancel_alls")
        rep = self.c.request("run.cancel_all", pb.CancelJobRunsRequest(
            cluster_uuids=[cluster]), pb.CancelJobRunsReply)
        if rep is None:
            return
        if ecode(rep) != pb.OK:
            self.book.violation("run.cancel_all of cluster %s: %s: %s"
                                % (cluster, ename(ecode(rep)),
                                   rep.error.message))
            return
        if rep.cancelled != len(rep.run_uuids):
            self.book.violation("run.cancel_all says cancelled=%d but lists "
                                "%d runs" % (rep.cancelled,
                                             len(rep.run_uuids)))
        now = time.monotonic()
        with self.book.lock:
            for u in rep.run_uuids:
                self.book.cancel_acked.setdefault(u, now)


class Sampler(threading.Thread):
    """cluster.list every 50-150 ms: no cluster over the cap."""

    def __init__(self, book, client, seed, stop):
        super().__init__(name="crash-sampler", daemon=True)
        self.book = book
        self.c = client
        self.rng = random.Random(seed)
        self.stop = stop
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                rep = self.c.request("cluster.list",
                                     pb.ListClustersRequest(page_size=1000),
                                     pb.ListClustersReply)
                if rep is not None and ecode(rep) == pb.OK:
                    for cl in rep.clusters:
                        self.book.sample_queued(cl.uuid, cl.queued)
                time.sleep(self.rng.uniform(0.05, 0.15))
        except Exception as exc:    # noqa: BLE001
            self.error = exc
        finally:
            self.c.close()


# ---------------------------------------------------------------- events

class EventSink(threading.Thread):
    """Subscribed to {prefix}.v1.{ws}.status.> from the start; after a lost
    connection it connects and subscribes again (generation counts the
    subscriptions made). Keeps the first copy of every (run, seq), the
    order first copies arrived in, and redeliveries that differ."""

    def __init__(self, host, port, subject):
        super().__init__(name="crash-sink", daemon=True)
        self.host, self.port, self.subject = host, port, subject
        self.lock = threading.Lock()
        self.events = {}        # run -> {seq: JobRunStatusEvent}
        self.arrival = {}       # run -> [seq of first copies, in order]
        self.conflicts = []     # (run, seq) delivered twice, differently
        self.copies = 0
        self.generation = 0
        self.stop = threading.Event()
        self.cond = threading.Condition(self.lock)
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                try:
                    nc = NatsClient(self.host, self.port,
                                    connect_timeout=1.0)
                except (OSError, NatsError):
                    time.sleep(0.005)
                    continue
                try:
                    sub = nc.subscribe(self.subject)
                except NatsError:
                    nc.close()
                    continue
                with self.cond:
                    self.generation += 1
                    self.cond.notify_all()
                try:
                    while not self.stop.is_set():
                        try:
                            _subj, data = sub.next(0.1)
                        except NatsTimeout:
                            continue
                        self._take(pb.JobRunStatusEvent.FromString(data))
                except NatsError:
                    pass
                finally:
                    nc.close()
        except Exception as exc:    # noqa: BLE001
            self.error = exc

    def _take(self, ev):
        with self.lock:
            self.copies += 1
            have = self.events.setdefault(ev.run_uuid, {})
            if ev.seq in have:
                if have[ev.seq] != ev:
                    self.conflicts.append((ev.run_uuid, ev.seq))
                return
            have[ev.seq] = ev
            self.arrival.setdefault(ev.run_uuid, []).append(ev.seq)

    def wait_generation(self, gen, timeout):
        """Wait until subscribed for the gen-th time or later."""
        with self.cond:
            ok = self.cond.wait_for(lambda: self.generation >= gen, timeout)
        assert ok, "the status subscriber did not subscribe again in time"

    def quiet(self, for_s=0.5, timeout=15.0):
        """Wait until no event arrived for for_s seconds."""
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            with self.lock:
                n = self.copies
            if n == last:
                return
            last = n
            time.sleep(for_s)

    def close(self):
        self.stop.set()
        self.join(timeout=5)


# ---------------------------------------------------------------- proxy

class GateProxy:
    """127.0.0.1:port -> 127.0.0.1:upstream. close_gate() stops listening
    (connections are refused, as if NATS were down) and drops what is
    connected; open_gate() listens again on the same port."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.lock = threading.Lock()
        self.conns = set()
        self.lsock = None
        self.port = harness.free_port()
        self.url = "nats://%s:%d" % (HOST, self.port)
        self.open_gate()

    def open_gate(self):
        with self.lock:
            if self.lsock is not None:
                return
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((HOST, self.port))
            s.listen(16)
            s.settimeout(0.05)
            self.lsock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True,
                         name="crash-proxy-accept").start()

    def close_gate(self):
        with self.lock:
            s, self.lsock = self.lsock, None
            conns, self.conns = self.conns, set()
        if s is not None:
            s.close()
        for c in conns:
            self._kill(c)

    def _accept(self, s):
        while True:
            with self.lock:
                if self.lsock is not s:
                    return
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(None)
            try:
                u = socket.create_connection((HOST, self.upstream),
                                             timeout=1.0)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                if self.lsock is not s:
                    c.close()
                    u.close()
                    return
                self.conns.add(c)
                self.conns.add(u)
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b),
                                 daemon=True, name="crash-proxy").start()

    def _pump(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            self._kill(a)
            self._kill(b)

    @staticmethod
    def _kill(s):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def close(self):
        self.close_gate()


# ---------------------------------------------------------------- checks

def shim_state(d, run, attempt):
    """('alive', pid) if the attempt's shim runs, ('exit', None) if it
    left its result, ('none', detail) otherwise."""
    adir = os.path.join(d.data_dir, "runs", run, str(attempt))
    pid, start = harness.shim_of(adir)
    if pid is not None and harness.proc_start_time(pid)[0] == start and \
            harness.pid_alive(pid):
        return "alive", pid
    if os.path.exists(os.path.join(adir, "exit")):
        return "exit", None
    return "none", ("pid in DIR/lock %s" % (pid if pid is not None else
                                           "missing"))


def list_runs(call, **kw):
    """Every page of run.list, through call(suffix, request, reply_cls)."""
    out, token = [], ""
    page_size = kw.pop("page_size", 0) or 1000
    for _ in range(1000):
        rep = call("run.list", pb.ListJobRunsRequest(
            page_size=page_size, page_token=token, **kw), pb.ListJobRunsReply)
        harness.assert_ok(rep)
        out.extend(rep.job_runs)
        token = rep.next_page_token
        if not token:
            return out
    raise AssertionError("run.list never ended")


def check_running_have_shims(d, ws, book, timeout=4.0):
    """Every run RUNNING now has a live shim for its attempt (or one that
    just left its result). A run may have been made RUNNING a moment
    before its shim starts: it must be true within timeout."""
    call = lambda s, m, c: d.call(s, m, c, ws=ws)  # noqa: E731
    running = list_runs(call, status=pb.RUNNING)
    for r in running:
        deadline = time.monotonic() + timeout
        while True:
            state, detail = shim_state(d, r.uuid, r.attempt)
            if state != "none":
                break
            now = harness.get_run(d, ws, r.uuid)
            if now.status != pb.RUNNING or now.attempt != r.attempt:
                break
            if time.monotonic() >= deadline:
                book.violation("run %s is RUNNING (attempt %d) without a "
                               "live process: %s, no exit file, for %.0f s"
                               % (r.uuid, r.attempt, detail, timeout),
                               r.uuid)
                break
            time.sleep(0.05)
    return len(running)


def cond_met(cond, status):
    if cond == pb.AFTER_FAILED:
        return status == pb.FAILED
    if cond == pb.AFTER_ENDED:
        return status in TERMINAL
    return status == pb.SUCCEEDED


def check_waits(d, ws, book):
    """No run waits for a run that has ended: each dependency of a run
    still waiting is met, or its upstream is not ended. The upstream is
    read first: its end and its dependents' resolution are one commit."""
    call = lambda s, m, c: d.call(s, m, c, ws=ws)  # noqa: E731
    waiting = [r for r in list_runs(call, status=pb.PENDING)
               if r.reason == pb.WAITING_FOR_DEPENDENCIES]
    for r in waiting:
        for i, dep in enumerate(r.depends_on):
            if r.depends_met >> i & 1:
                continue
            up = d.call("run.get", pb.GetJobRunRequest(uuid=dep.run_uuid),
                        pb.JobRunReply, ws=ws)
            if ecode(up) != pb.OK or up.job_run.status not in TERMINAL:
                continue
            now = harness.get_run(d, ws, r.uuid)
            if now.reason == pb.WAITING_FOR_DEPENDENCIES and \
                    not now.depends_met >> i & 1:
                book.violation("run %s waits for run %s, which ended %s: "
                               "its end was never resolved" % (
                                   r.uuid, dep.run_uuid, pb.JobRunStatus.Name(
                                       up.job_run.status)), r.uuid)
    return len(waiting)


def check_workflows(book, by_uuid):
    """Settled: a run that started had every upstream ended as its
    condition asks, before it; one cancelled UPSTREAM_FAILED names an
    upstream that ended otherwise; a pipeline exists whole or not at
    all, whole if acknowledged."""
    v = book.violation
    for u, deps in book.deps.items():
        r = by_uuid.get(u)
        if r is None:
            continue
        ups = [(by_uuid.get(up), cond) for up, cond in deps]
        if r.attempts:
            for up, cond in ups:
                if up is None or not cond_met(cond, up.status) or \
                        up.finished_at_ms > r.attempts[0].started_at_ms:
                    v("run %s started (at %d) though upstream %s is %s "
                      "(finished %d), condition %s" % (
                          u, r.attempts[0].started_at_ms,
                          up and up.uuid, up and pb.JobRunStatus.Name(
                              up.status), up and up.finished_at_ms,
                          pb.DependencyCondition.Name(cond)), u)
        if r.reason == pb.UPSTREAM_FAILED:
            named = [up for up, cond in ups if up is not None and
                     up.uuid in r.reason_text]
            if not named or any(cond_met(c, up.status) for up, c in ups
                                if up is not None and up.uuid in
                                r.reason_text):
                v("run %s cancelled %r, but its upstreams are %s" % (
                    u, r.reason_text, [(up and up.uuid, up and
                                        pb.JobRunStatus.Name(up.status))
                                       for up, _ in ups]), u)
    tags = {}
    for r in by_uuid.values():
        tag = r.env.get("BATCH")
        if tag:
            tags[tag] = tags.get(tag, 0) + 1
    for tag, (n, acked) in book.batches.items():
        have = tags.get(tag, 0)
        if have not in (0, n) or (acked and have != n):
            v("pipeline %s of %d runs (%s) has %d of them" % (
                tag, n, "acknowledged" if acked else "unanswered", have))


def check_acked_exist(d, ws, book, subs):
    for s in subs:
        rep = d.call("run.get", pb.GetJobRunRequest(uuid=s.uuid),
                     pb.JobRunReply, ws=ws)
        if ecode(rep) != pb.OK:
            book.violation("acknowledged run %s (%s, cluster %s) is gone "
                           "after a restart: %s %s" % (
                               s.uuid, s.defn.name, s.cluster,
                               ename(ecode(rep)), rep.error.message), s.uuid)
            continue
        r = rep.job_run
        if r.cluster_uuid != s.cluster or r.job_definition_uuid != \
                s.defn.uuid or r.workspace != ws:
            book.violation("run %s changed after a restart: cluster %s "
                           "definition %s workspace %s" % (
                               s.uuid, r.cluster_uuid, r.job_definition_uuid,
                               r.workspace), s.uuid)


def drain(d, ws, clusters, defns, settle_s=6.0, timeout=60.0):
    """Let the queues run for settle_s, then cancel what is left; wait
    until no run is PENDING or RUNNING and every cluster is idle."""
    call = lambda s, m, c: d.call(s, m, c, ws=ws)  # noqa: E731

    def live():
        return (list_runs(call, status=pb.PENDING) +
                list_runs(call, status=pb.RUNNING))
    deadline = time.monotonic() + settle_s
    while live() and time.monotonic() < deadline:
        time.sleep(0.2)
    cancelled = 0
    if live():
        rep = d.call("run.cancel_all", pb.CancelJobRunsRequest(
            cluster_uuids=clusters), pb.CancelJobRunsReply, ws=ws)
        harness.assert_ok(rep)
        cancelled += rep.cancelled
        for df in defns:
            if df.ephemeral:
                rep = d.call("run.cancel_all", pb.CancelJobRunsRequest(
                    job_definition_uuid=df.uuid), pb.CancelJobRunsReply,
                    ws=ws)
                harness.assert_ok(rep)
                cancelled += rep.cancelled
    harness.wait_until(lambda: not live(), timeout, interval=0.2,
                       what="no run PENDING or RUNNING")

    def idle():
        for cu in clusters:
            c = harness.get_cluster(d, ws, cu).cluster
            if c.queued or c.active_run_uuid:
                return False
        return True
    harness.wait_until(idle, timeout, interval=0.2, what="clusters idle")
    return cancelled


LEGAL = {
    pb.JOB_RUN_STATUS_UNSPECIFIED: (pb.PENDING,),
    pb.PENDING: (pb.RUNNING, pb.CANCELLED, pb.FAILED),
    pb.RUNNING: (pb.PENDING, pb.SUCCEEDED, pb.FAILED, pb.CANCELLED),
}


def read_stdout(d, ws, run, attempt, max_bytes):
    """(bytes, problem) of run.logs paged until eof."""
    out, off = bytearray(), 0
    for _ in range(100000):
        rep = d.call("run.logs", pb.GetJobRunLogsRequest(
            uuid=run, attempt=attempt, stream=pb.STDOUT, offset=off,
            max_bytes=max_bytes), pb.JobRunLogsReply, ws=ws)
        if ecode(rep) != pb.OK:
            return bytes(out), "run.logs: %s %s" % (ename(ecode(rep)),
                                                   rep.error.message)
        for c in rep.chunks:
            if c.offset != len(out) or c.attempt != attempt:
                return bytes(out), ("chunk at offset %d attempt %d, "
                                    "expected offset %d" % (
                                        c.offset, c.attempt, len(out)))
            out += c.data
        if rep.next_offset != len(out):
            return bytes(out), "next_offset %d after %d bytes" % (
                rep.next_offset, len(out))
        if rep.eof:
            return bytes(out), None
        if rep.next_offset == off:
            return bytes(out), ("no eof at offset %d of a finished "
                                "attempt" % off)
        off = rep.next_offset
    return bytes(out), "run.logs never reached eof"


def first_diff(a, b):
    n = min(len(a), len(b))
    i = next((i for i in range(n) if a[i] != b[i]), n)
    return "first difference at byte %d: got %r, expected %r" % (
        i, a[i:i + 60], b[i:i + 60])


def check_run(d, ws, r, defn, book, max_bytes):
    """The run's history, attempts and output. Returns its events."""
    v = lambda text: book.violation(text, r.uuid)  # noqa: E731
    rep = d.call("run.events", pb.GetJobRunRequest(uuid=r.uuid),
                 pb.JobRunEventsReply, ws=ws)
    if ecode(rep) != pb.OK:
        v("run.events of %s: %s" % (r.uuid, rep.error.message))
        return []
    evs = list(rep.events)
    seqs = [e.seq for e in evs]
    if seqs != list(range(1, len(evs) + 1)):
        v("run %s events have seq %s, not 1..%d" % (r.uuid, seqs, len(evs)))
    if r.event_seq != len(evs):
        v("run %s has event_seq %d and %d events" % (r.uuid, r.event_seq,
                                                      len(evs)))
    prev, nrun = pb.JOB_RUN_STATUS_UNSPECIFIED, 0
    for e in evs:
        if e.previous_status != prev or e.status not in LEGAL.get(prev, ()):
            v("run %s event %d: %s -> %s (previous_status %s) is not a "
              "legal step" % (r.uuid, e.seq, pb.JobRunStatus.Name(prev),
                              pb.JobRunStatus.Name(e.status),
                              pb.JobRunStatus.Name(e.previous_status)))
        if e.run_uuid != r.uuid or e.cluster_uuid != r.cluster_uuid or \
                e.workspace != ws:
            v("run %s event %d names run %s cluster %s workspace %s"
              % (r.uuid, e.seq, e.run_uuid, e.cluster_uuid, e.workspace))
        if e.status == pb.RUNNING:
            nrun += 1
            if e.attempt != nrun:
                v("run %s event %d: RUNNING attempt %d, expected %d"
                  % (r.uuid, e.seq, e.attempt, nrun))
        prev = e.status
    if evs and (evs[-1].status != r.status or evs[-1].reason != r.reason):
        v("run %s is %s/%s but its last event says %s/%s" % (
            r.uuid, pb.JobRunStatus.Name(r.status),
            pb.StatusReason.Name(r.reason),
            pb.JobRunStatus.Name(evs[-1].status),
            pb.StatusReason.Name(evs[-1].reason)))
    if r.status not in TERMINAL:
        v("run %s is %s after the drain" % (r.uuid,
                                           pb.JobRunStatus.Name(r.status)))
    if nrun != len(r.attempts) or r.attempt != len(r.attempts):
        v("run %s: %d RUNNING events, %d attempts, attempt=%d"
          % (r.uuid, nrun, len(r.attempts), r.attempt))
    if defn is None:
        v("run %s of unknown definition %s" % (r.uuid,
                                               r.job_definition_uuid))
        return evs
    max_attempts = 1 + (defn.retries or 0)
    if len(r.attempts) > max_attempts:
        v("run %s of %s has %d attempts, at most %d allowed"
          % (r.uuid, defn.name, len(r.attempts), max_attempts))
    for i, a in enumerate(r.attempts):
        n = i + 1
        if a.attempt != n:
            v("run %s attempt #%d numbered %d" % (r.uuid, n, a.attempt))
        if a.finished_at_ms == 0 or a.started_at_ms == 0:
            v("run %s attempt %d not finished (started %d finished %d)"
              % (r.uuid, n, a.started_at_ms, a.finished_at_ms))
        out, problem = read_stdout(d, ws, r.uuid, n, max_bytes)
        if problem:
            v("run %s attempt %d stdout: %s" % (r.uuid, n, problem))
            continue
        exp = expected_stdout(defn.n, r.uuid, n)
        st, why = a.status, a.reason
        what = "run %s (%s) attempt %d %s/%s" % (
            r.uuid, defn.name, n, pb.JobRunStatus.Name(st),
            pb.StatusReason.Name(why))
        exact = prefix = False
        if st == pb.SUCCEEDED:
            exact = True
            if defn.mode in ("fail", "timeout") or \
                    (defn.mode == "flaky" and n == 1) or \
                    not a.HasField("exit_code") or a.exit_code != 0:
                v("%s: the job cannot succeed so (exit code %s)"
                  % (what, a.exit_code if a.HasField("exit_code") else "-"))
        elif st == pb.FAILED and why == pb.NON_ZERO_EXIT_CODE:
            exact = True
            if defn.mode not in ("fail", "flaky") or \
                    a.exit_code != 3:
                v("%s: the job does not exit %d" % (what, a.exit_code))
        elif st == pb.FAILED and why == pb.TIMEOUT:
            exact = True
            if defn.mode != "timeout":
                v("%s: the job has no reason to time out" % what)
        elif st == pb.FAILED and why == pb.SUPERVISOR_LOST:
            prefix = True
            state, _ = shim_state(d, r.uuid, n)
            if state != "none":
                v("%s, but its shim %s: the attempt went on after batchd "
                  "gave it up" % (what, "is alive" if state == "alive" else
                                  "left its result in DIR/exit"))
        elif st == pb.CANCELLED:
            prefix = True
        else:
            v("%s: not an expected ending" % what)
        if exact and out != exp:
            v("%s: stdout (%d bytes) is not the %d bytes the job wrote; %s"
              % (what, len(out), len(exp), first_diff(out, exp)))
        if prefix and not exp.startswith(out):
            v("%s: stdout (%d bytes) is not a prefix of the job's output; "
              "%s" % (what, len(out), first_diff(out, exp)))
    last = r.attempts[-1] if r.attempts else None
    if r.status == pb.SUCCEEDED and (last is None or
                                     last.status != pb.SUCCEEDED):
        v("run %s SUCCEEDED but its last attempt did not" % r.uuid)
    if r.status == pb.FAILED and last is not None and \
            last.reason == pb.NON_ZERO_EXIT_CODE and \
            len(r.attempts) < max_attempts:
        v("run %s FAILED after %d of %d attempts" % (
            r.uuid, len(r.attempts), max_attempts))
    return evs


def check_final(d, ws, book, defs_by_uuid, clusters, sink, max_bytes,
                lost_ok=None):
    """Every invariant over the settled state. lost_ok(event) -> True for
    events the subscriber may have missed (published just before a NATS
    outage). Returns (runs by uuid, statistics)."""
    call = lambda s, m, c: d.call(s, m, c, ws=ws)  # noqa: E731
    v = book.violation
    all_runs = list_runs(call)
    by_uuid = {}
    for r in all_runs:
        if r.uuid in by_uuid:
            v("run.list of the workspace lists run %s twice" % r.uuid,
              r.uuid)
        by_uuid[r.uuid] = r
    subs = list(book.subs)
    unacked_total = sum(book.unacked.values())
    # 1. Every acknowledged run exists once, as acknowledged.
    for s in subs:
        rep = d.call("run.get", pb.GetJobRunRequest(uuid=s.uuid),
                     pb.JobRunReply, ws=ws)
        if ecode(rep) != pb.OK:
            v("acknowledged run %s (%s) not found: %s" % (
                s.uuid, s.defn.name, rep.error.message), s.uuid)
            continue
        r = rep.job_run
        if (r.cluster_uuid, r.job_definition_uuid, r.workspace) != \
                (s.cluster, s.defn.uuid, ws):
            v("acknowledged run %s is on cluster %s of definition %s in "
              "workspace %s, acknowledged as %s %s %s" % (
                  s.uuid, r.cluster_uuid, r.job_definition_uuid,
                  r.workspace, s.cluster, s.defn.uuid, ws), s.uuid)
        if s.key and r.idempotency_key != s.key:
            v("run %s has key %r, acknowledged with %r" % (
                s.uuid, r.idempotency_key, s.key), s.uuid)
        if s.uuid not in by_uuid:
            v("acknowledged run %s is missing from run.list" % s.uuid,
              s.uuid)
    extras = [u for u in by_uuid if u not in book.by_uuid]
    if len(extras) > unacked_total:
        v("%d runs nobody was told of, but only %d submissions went "
          "unanswered: %s" % (len(extras), unacked_total, extras[:5]))
    # 2. Per cluster: listed once each, FIFO, one run at a time.
    for cu in clusters:
        listed = list_runs(call, cluster_uuid=cu)
        seen = set()
        for r in listed:
            if r.uuid in seen:
                v("run.list of cluster %s lists run %s twice" % (cu, r.uuid),
                  r.uuid)
            seen.add(r.uuid)
        mine = [s for s in subs if s.cluster == cu]
        for s in mine:
            if s.uuid not in seen:
                v("acknowledged run %s missing from run.list of its "
                  "cluster %s" % (s.uuid, cu), s.uuid)
        x = [u for u in seen if u not in book.by_uuid]
        if len(x) > book.unacked.get(cu, 0):
            v("cluster %s has %d runs nobody was told of, %d submissions "
              "to it unanswered" % (cu, len(x), book.unacked.get(cu, 0)))
        ordered = sorted((s for s in mine if s.order_known),
                         key=lambda s: s.send_t)
        seqs = [s.queue_seq for s in ordered]
        if len(set(seqs)) != len(seqs):
            v("cluster %s gave two acknowledged runs one queue_seq" % cu)
        # Real time: answered before the other was asked -> ahead of it.
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                if a.recv_t < b.send_t and a.queue_seq >= b.queue_seq:
                    v("cluster %s: run %s (queue_seq %d) was acknowledged "
                      "before run %s (queue_seq %d) was submitted" % (
                          cu, a.uuid, a.queue_seq, b.uuid, b.queue_seq),
                      b.uuid)
        started = []
        for s in ordered:
            r = by_uuid.get(s.uuid)
            if r is not None and r.attempts:
                started.append((s.queue_seq, r))
        started.sort(key=lambda x: x[0])
        for (qa, ra), (qb, rb) in zip(started, started[1:]):
            if rb.attempts[0].started_at_ms < ra.attempts[0].started_at_ms:
                v("cluster %s not FIFO: run %s (queue_seq %d) started at %d "
                  "before run %s (queue_seq %d) at %d" % (
                      cu, rb.uuid, qb, rb.attempts[0].started_at_ms,
                      ra.uuid, qa, ra.attempts[0].started_at_ms), rb.uuid)
        every = sorted((r for r in by_uuid.values()
                        if r.cluster_uuid == cu and r.attempts),
                       key=lambda r: r.attempts[0].started_at_ms)
        for ra, rb in zip(every, every[1:]):
            end = ra.attempts[-1].finished_at_ms
            if rb.attempts[0].started_at_ms < end:
                v("cluster %s ran two runs at once: %s until %d, %s from %d"
                  % (cu, ra.uuid, end, rb.uuid,
                     rb.attempts[0].started_at_ms), rb.uuid)
        c = harness.get_cluster(d, ws, cu).cluster
        if c.queued != 0 or c.active_run_uuid:
            v("cluster %s idle yet queued=%d active=%r" % (
                cu, c.queued, c.active_run_uuid))
    # 3. Acknowledged cancels hold.
    for u in book.cancel_acked:
        r = by_uuid.get(u)
        if r is not None and r.status != pb.CANCELLED:
            v("run %s was acknowledged as cancelled but ended %s/%s" % (
                u, pb.JobRunStatus.Name(r.status),
                pb.StatusReason.Name(r.reason)), u)
    # 4. Every run: history, attempts, output; ephemeral clusters gone.
    stats = {"acknowledged_runs": len(subs), "unacknowledged_runs": 0,
             "SUCCEEDED": 0, "FAILED": 0, "CANCELLED": 0, "attempts": 0,
             "supervisor_lost": 0, "log_bytes": 0}
    stats["unacknowledged_runs"] = len(extras)
    events = {}
    for r in by_uuid.values():
        defn = defs_by_uuid.get(r.job_definition_uuid)
        events[r.uuid] = check_run(d, ws, r, defn, book, max_bytes)
        if r.status in TERMINAL:
            stats[pb.JobRunStatus.Name(r.status)] += 1
        stats["attempts"] += len(r.attempts)
        stats["supervisor_lost"] += sum(a.reason == pb.SUPERVISOR_LOST
                                        for a in r.attempts)
        stats["log_bytes"] += r.log_bytes
        if r.ephemeral_cluster:
            rep = harness.get_cluster(d, ws, r.cluster_uuid)
            if ecode(rep) != pb.NOT_FOUND:
                v("ephemeral cluster %s of finished run %s still exists"
                  % (r.cluster_uuid, r.uuid), r.uuid)
    # 5. The subscriber got every event (duplicates equal), in seq order.
    if sink is not None:
        sink.quiet()
        with sink.lock:
            got = {k: dict(x) for k, x in sink.events.items()}
            arrival = {k: list(x) for k, x in sink.arrival.items()}
            conflicts = list(sink.conflicts)
        for run, seq in conflicts:
            v("event %d of run %s delivered twice with different contents"
              % (seq, run), run)
        missed = 0
        for u, evs in events.items():
            have = got.get(u, {})
            for e in evs:
                if e.seq not in have:
                    if lost_ok is not None and lost_ok(e):
                        continue
                    missed += 1
                    if missed <= 10:
                        v("event %d (%s) of run %s never reached the "
                          "subscriber" % (e.seq,
                                          pb.JobRunStatus.Name(e.status),
                                          u), u)
                elif have[e.seq] != e:
                    v("event %d of run %s on the bus differs from run.events"
                      % (e.seq, u), u)
            seqs = arrival.get(u, [])
            if seqs != sorted(seqs):
                v("events of run %s first arrived in seq order %s" % (
                    u, seqs), u)
            extra = set(have) - {e.seq for e in evs}
            if extra:
                v("the subscriber got events %s of run %s that run.events "
                  "does not have" % (sorted(extra), u), u)
        if missed > 10:
            v("... %d events in all never reached the subscriber" % missed)
    # 6. Workflows: conditions held, pipelines whole or absent.
    check_workflows(book, by_uuid)
    # 7. No shim outlives its run.
    left = harness.live_shims(d)
    if left:
        v("shims still running after every run ended: %s" % left)
    return by_uuid, stats


def report(d, book, seed, limit=15):
    """The violations, each with batchd's log lines naming its run."""
    log = d.log_text().splitlines()
    out = ["%d invariant violations (CRASH_SEED=%d to reproduce):"
           % (len(book.violations), seed)]
    for text, run in book.violations[:limit]:
        out.append("- " + text)
        if run:
            lines = [ln for ln in log if run in ln or ln.startswith(
                "==== harness")]
            # The harness markers only between lines about the run.
            keep, pending = [], None
            for ln in lines:
                if ln.startswith("===="):
                    pending = ln
                else:
                    if pending:
                        keep.append(pending)
                        pending = None
                    keep.append(ln)
            out.extend("      " + ln for ln in keep[-25:])
    if len(book.violations) > limit:
        out.append("... and %d more" % (len(book.violations) - limit))
    return "\n".join(out)


# ---------------------------------------------------------------- the load

class Load:
    """Definitions, clusters and the client threads of one test. Clients
    talk to NATS at (host, port) directly, whatever batchd's URL is."""

    def __init__(self, d, ws, seed, host, port, clusters=3, workers=4):
        self.d, self.ws = d, ws
        rng = random.Random(seed)
        self.defns = make_defns(rng)
        self.defs_by_uuid = create_defns(d, ws, self.defns)
        self.clusters = [harness.make_cluster(d, ws, "crash-%d" % i).uuid
                         for i in range(clusters)]
        self.book = None
        self.stop_ev = threading.Event()
        self.host, self.port = host, port
        self.nworkers = workers
        self.seed = seed
        self.max_bytes = rng.choice((1000, 4096, 65536, 0))
        self.threads = []
        self.sink = None

    def start(self, cap):
        self.book = Book(cap)
        self.sink = EventSink(self.host, self.port,
                              "%s.v1.%s.status.>" % (self.d.prefix, self.ws))
        self.sink.start()
        self.sink.wait_generation(1, 10)

        def client():
            return Client(self.host, self.port, self.d.prefix, self.ws)
        self.threads = [Worker(i, self.book, client(), self.defns,
                               self.clusters, self.seed * 1000 + i,
                               self.stop_ev)
                        for i in range(self.nworkers)]
        self.threads.append(Sampler(self.book, client(), self.seed * 1000 +
                                    999, self.stop_ev))
        for t in self.threads:
            t.start()
        return self.book

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=30)
        errors = ["%s: %r" % (t.name, t.error) for t in self.threads
                  if t.error is not None]
        assert not errors, "client threads failed: %s" % errors

    def close(self):
        self.stop_ev.set()
        if self.sink is not None:
            self.sink.close()
