"""High availability (ha = on) test harness: a nats-server JetStream
cluster on loopback, a JetStream API client over natsclient, and batchd
nodes against that cluster. Extends harness.NatsServer and harness.Daemon.

    cl = NatsCluster(tmpdir).start()    # 3 servers; waits for a meta leader
    cl.url                     # "nats://127.0.0.1:P0,nats://...:P1,..."
    cl.kill9(i); cl.stop(i); cl.pause(i); cl.resume(i); cl.restart(i)
    cl.wait_meta_leader()      # -> the leader's server_name
    cl.index("n1")             # server_name -> index
    js = cl.js(avoid=(i,))     # a JetStream client on a running server
    js.stream_create("S", ["s.>"], replicas=3); js.publish("s.x", b"..")
    js.kv_create("BATCHD_HA", ttl_s=10); js.kv_put("BATCHD_HA", "k", b"v")
    js.messages("S")           # [(seq, headers, data)]; js.msg_get("S", 5)
    js.publish_msg("s.x", b"..", {"H": "v"})   # with headers
    js.stream_update("S", max_msgs=10, discard="new"); js.stream_purge("S")
    cl.close()

    nodes = HaNodes(tmpdir, cl, names=("a", "b", "c"), lease_s=3)
    nodes.start()              # each waits until its node.NAME record is up
    nodes.wait_leader()        # -> the HaDaemon leading partition 0
    nodes.close()

HaDaemon and HaNodes write batchd's HA settings (ha, ha_node, ha_stream,
ha_replicas, ha_lease_s, ha_grace_s, runs_dir) as BATCHD_* variables.
"""

import base64
import json
import os
import signal
import time
import urllib.request

import harness
from harness import HOST, NatsServer, Daemon, free_port, wait_until
from natsclient import NatsClient, NatsError, NatsTimeout

# JetStream API error codes the helpers look at.
JS_NO_MESSAGE = 10037          # stream msg get: no message found
JS_STREAM_NOT_FOUND = 10059


class JsError(Exception):
    """An error answer of the JetStream API: .code, .err_code, .text."""

    def __init__(self, err):
        self.code = err.get("code")
        self.err_code = err.get("err_code")
        self.text = err.get("description", "")
        Exception.__init__(self, "JetStream error %s (%s): %s"
                           % (self.err_code, self.code, self.text))


# ---------------------------------------------------------------- servers

class ClusterNatsServer(NatsServer):
    """One server of a NatsCluster: its own config file, JetStream store
    dir and monitoring port; routes to the others. Restartable on the same
    ports and store."""

    def __init__(self, workdir, name, port, cluster_port, http_port,
                 routes, cluster_name="batchd-ha", conf=""):
        NatsServer.__init__(self, workdir, port=port)
        self.name = name
        self.cluster_port = cluster_port
        self.http_port = http_port
        self.routes = routes            # cluster ports of the others
        self.cluster_name = cluster_name
        self.store_dir = os.path.join(workdir, "js-" + name)
        self.conf_path = os.path.join(workdir, name + ".conf")
        self.log_path = os.path.join(workdir, name + ".log")
        self.paused = False
        self.conf = conf                # more configuration (mappings)

    def _argv(self):
        routes = ",\n    ".join("nats-route://%s:%d" % (HOST, p)
                                for p in self.routes)
        with open(self.conf_path, "w") as f:
            f.write('server_name: "%s"\n'
                    'listen: "%s:%d"\n'
                    'http: "%s:%d"\n'
                    'jetstream {\n'
                    '  store_dir: "%s"\n'
                    '  max_mem: 64MB\n'
                    '  max_file: 1GB\n'
                    '}\n'
                    'cluster {\n'
                    '  name: "%s"\n'
                    '  listen: "%s:%d"\n'
                    '  routes: [\n    %s\n  ]\n'
                    '}\n%s'
                    % (self.name, HOST, self.port, HOST, self.http_port,
                       self.store_dir, self.cluster_name, HOST,
                       self.cluster_port, routes, self.conf))
        return [harness.NATS_SERVER_BIN, "-c", self.conf_path]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def monitor(self, path, timeout=2.0):
        """GET /path of the monitoring port, parsed (JSON)."""
        url = "http://%s:%d/%s" % (HOST, self.http_port, path)
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read().decode())

    def kill9(self):
        assert self.proc is not None, "%s not running" % self.name
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc = None
        self.paused = False
        self._log.close()

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def stop(self):
        if self.proc is not None and self.paused:
            self.resume()
        NatsServer.stop(self)


class NatsCluster:
    """size nats-servers with JetStream in one cluster on 127.0.0.1, each
    with its own store dir under workdir and server_name n0, n1, ..."""

    def __init__(self, workdir, size=3, conf=""):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        cports = [free_port() for _ in range(size)]
        self.servers = []
        for i in range(size):
            self.servers.append(ClusterNatsServer(
                self.workdir, "n%d" % i, free_port(), cports[i], free_port(),
                [p for j, p in enumerate(cports) if j != i], conf=conf))
        self._clients = []

    @property
    def urls(self):
        return [s.url for s in self.servers]

    @property
    def url(self):
        """Every client URL, comma-joined: batchd's nats_url, batchctl's
        --server."""
        return ",".join(self.urls)

    def index(self, name):
        for i, s in enumerate(self.servers):
            if s.name == name:
                return i
        raise KeyError(name)

    def start(self, timeout=30.0):
        for s in self.servers:
            s.start()
        self.wait_meta_leader(timeout)
        return self

    def stop(self, i):
        self.servers[i].stop()

    def kill9(self, i):
        self.servers[i].kill9()

    def pause(self, i):
        """SIGSTOP server i: its peers see it fall silent."""
        self.servers[i].pause()

    def resume(self, i):
        self.servers[i].resume()

    def restart(self, i, timeout=10.0):
        """Start server i again (after stop or kill9), on its ports and
        store dir."""
        s = self.servers[i]
        if s.proc is not None:
            s.stop()
        s.start(timeout)

    def live(self):
        """The servers running and not paused."""
        return [s for s in self.servers if s.running() and not s.paused]

    def meta_leader(self):
        """The server_name every live server sees as the JetStream meta
        leader, if they agree on one of them; else None."""
        names = {s.name for s in self.live()}
        seen = set()
        for s in self.live():
            try:
                mc = s.monitor("jsz").get("meta_cluster") or {}
            except (OSError, ValueError):
                return None
            seen.add(mc.get("leader") or "")
        if len(seen) == 1:
            leader = seen.pop()
            return leader if leader in names else None
        return None

    def wait_meta_leader(self, timeout=30.0):
        """Wait until the live servers agree on a live meta leader; its
        server_name."""
        return wait_until(self.meta_leader, timeout, interval=0.1,
                          what="a JetStream meta leader on %s" % self.url)

    def js(self, avoid=()):
        """A JetStream client connected to the first live server not in
        avoid (indexes); closed by close()."""
        for i, s in enumerate(self.servers):
            if i in avoid or not s.running() or s.paused:
                continue
            c = JetStream(NatsClient(HOST, s.port))
            self._clients.append(c)
            return c
        raise AssertionError("no live server outside %s" % (avoid,))

    def close(self):
        for c in self._clients:
            c.close()
        for s in self.servers:
            s.stop()


# ---------------------------------------------------------------- JetStream

class JetStream:
    """The JetStream API ($JS.API.*, JSON) and KV buckets as streams, over
    one NatsClient (no headers: no expected-sequence publishes)."""

    def __init__(self, nc):
        self.nc = nc

    def close(self):
        self.nc.close()

    def api(self, op, body=None, timeout=5.0):
        """Request $JS.API.{op}; the answer (a dict), or JsError."""
        data = b"" if body is None else json.dumps(body).encode()
        rep = json.loads(self.nc.request("$JS.API." + op, data,
                                         timeout=timeout))
        if "error" in rep:
            raise JsError(rep["error"])
        return rep

    def info(self):
        return self.api("INFO")

    def stream_create(self, name, subjects, replicas=3, **config):
        """A file stream; config adds its other fields (max_age in ns,
        max_msgs_per_subject, ...). Its StreamInfo."""
        cfg = {"name": name, "subjects": list(subjects),
               "num_replicas": replicas, "storage": "file",
               "retention": "limits", "discard": "old"}
        cfg.update(config)
        return self.api("STREAM.CREATE." + name, cfg, timeout=10.0)

    def stream_info(self, name):
        return self.api("STREAM.INFO." + name)

    def stream_delete(self, name):
        return self.api("STREAM.DELETE." + name)

    def stream_leader(self, name):
        """The server_name leading the stream's Raft group (or None)."""
        return (self.stream_info(name).get("cluster") or {}).get("leader")

    def publish(self, subject, data, timeout=5.0):
        """Publish to a stream's subject and wait for the ack: its
        {"stream", "seq"} (JsError if refused, NatsTimeout if none)."""
        rep = json.loads(self.nc.request(subject, bytes(data),
                                         timeout=timeout))
        if "error" in rep:
            raise JsError(rep["error"])
        return rep

    def stream_update(self, name, **changes):
        """Change a stream's configuration fields (max_msgs, discard,
        ...): its StreamInfo."""
        cfg = self.stream_info(name)["config"]
        cfg.update(changes)
        return self.api("STREAM.UPDATE." + name, cfg, timeout=10.0)

    def stream_purge(self, name):
        return self.api("STREAM.PURGE." + name, timeout=10.0)

    def msg_get(self, name, seq=None, last_by_subj=None):
        """One message of a stream: (seq, headers as a dict, data), or
        None if it has none there."""
        req = {"seq": seq} if seq is not None else \
            {"last_by_subj": last_by_subj}
        try:
            m = self.api("STREAM.MSG.GET." + name, req)["message"]
        except JsError as e:
            if e.err_code == JS_NO_MESSAGE:
                return None
            raise
        hdrs = {}
        for line in base64.b64decode(m.get("hdrs") or "").decode() \
                .split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip()] = v.strip()
        return m["seq"], hdrs, base64.b64decode(m.get("data") or "")

    def messages(self, name):
        """Every message a stream holds, in order: (seq, headers, data)."""
        st = self.stream_info(name)["state"]
        out = []
        for seq in range(st["first_seq"], st["last_seq"] + 1 if
                         st["messages"] else 0):
            m = self.msg_get(name, seq)
            if m is not None:
                out.append(m)
        return out

    def publish_msg(self, subject, data, headers, timeout=5.0):
        """Publish with headers (a connection of its own that declares
        them) and wait for the stream's ack."""
        nc = HeaderClient(self.nc.host, self.nc.port)
        try:
            rep = json.loads(nc.request(subject, bytes(data),
                                        timeout=timeout, headers=headers))
        finally:
            nc.close()
        if "error" in rep:
            raise JsError(rep["error"])
        return rep

    def kv_create(self, bucket, ttl_s=0, history=1, replicas=3):
        """A KV bucket as cnats' js_CreateKeyValue makes it: stream
        KV_{bucket} on $KV.{bucket}.>."""
        return self.stream_create(
            "KV_" + bucket, ["$KV.%s.>" % bucket], replicas=replicas,
            max_msgs_per_subject=history,
            max_age=int(ttl_s * 1e9), max_bytes=-1, max_msg_size=-1,
            allow_rollup_hdrs=True, deny_delete=True, allow_direct=True,
            discard="new")

    def kv_delete_bucket(self, bucket):
        return self.stream_delete("KV_" + bucket)

    def kv_put(self, bucket, key, value):
        """Put key; its revision."""
        if isinstance(value, (dict, list)):
            value = json.dumps(value).encode()
        elif isinstance(value, str):
            value = value.encode()
        return self.publish("$KV.%s.%s" % (bucket, key), value)["seq"]

    def kv_get(self, bucket, key, timeout=5.0):
        """The value of key (bytes), or None if it has none."""
        try:
            rep = self.api("STREAM.MSG.GET.KV_" + bucket,
                           {"last_by_subj": "$KV.%s.%s" % (bucket, key)},
                           timeout=timeout)
        except JsError as e:
            if e.err_code in (JS_NO_MESSAGE, JS_STREAM_NOT_FOUND):
                return None
            raise
        return base64.b64decode(rep["message"].get("data") or "")


class HeaderClient(NatsClient):
    """A NatsClient that declares headers, so that it may publish with
    them (publish(headers=...)); what it receives must carry none
    (replies of the JetStream API do not)."""

    def _connect_opts(self, info, name):
        opts = NatsClient._connect_opts(self, info, name)
        opts["headers"] = True
        return opts


def publish_until_acked(js, subject, data, timeout=30.0):
    """Publish until the stream acks it (through a leader election the
    request times out or is refused): the ack. A repeat after a lost ack
    may store the message twice; callers that count use distinct data and
    dedupe."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return js.publish(subject, data, timeout=2.0)
        except (NatsTimeout, JsError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


# ---------------------------------------------------------------- batchd

class HaDaemon(Daemon):
    """One batchd node with ha = on against a NatsCluster: its own
    data_dir (tmpdir/var), the shared runs_dir, node name `node`."""

    def __init__(self, tmpdir, cluster, node, runs_dir, lease_s=10,
                 grace_s=None, ha_stream="BATCHD_HA", replicas=3,
                 prefix="batchd", env=None, binary=None, partition=0,
                 partitions=1):
        Daemon.__init__(self, tmpdir, cluster.urls[0], prefix=prefix,
                        env=env, binary=binary)
        self.cluster = cluster
        self.nats_url = cluster.url
        self.node = node
        self.runs_dir = runs_dir
        self.lease_s = lease_s
        self.grace_s = grace_s
        self.ha_stream = ha_stream
        self.replicas = replicas
        self.partition = partition
        self.partitions = partitions

    def env(self):
        env = Daemon.env(self)
        env.update({
            "BATCHD_HA": "on",
            "BATCHD_HA_NODE": self.node,
            "BATCHD_HA_STREAM": self.ha_stream,
            "BATCHD_HA_REPLICAS": str(self.replicas),
            "BATCHD_HA_LEASE_S": str(self.lease_s),
            "BATCHD_RUNS_DIR": self.runs_dir,
            "BATCHD_LOGS_DIR": os.path.normpath(
                os.path.join(self.runs_dir, "..", "logs")),
            "BATCHD_PARTITIONS": str(self.partitions),
            "BATCHD_PARTITION": str(self.partition),
        })
        if self.grace_s is not None:
            env["BATCHD_HA_GRACE_S"] = str(self.grace_s)
        env.update(self.extra_env)
        return env

    def nc(self):
        """A client on the first live server of the cluster."""
        if self._nc is None or self._nc.is_closed:
            last = None
            for s in self.cluster.live():
                try:
                    self._nc = NatsClient(HOST, s.port)
                    break
                except (OSError, NatsError) as e:
                    last = e
            else:
                raise NatsError("no live nats-server: %s" % last)
        return self._nc

    def record(self, timeout=5.0):
        """This node's node.{name} record (a dict), or None."""
        js = JetStream(self.nc())
        v = js.kv_get(self.ha_stream, "node.%s.%d" % (self.node,
                                                      self.partition),
                      timeout=timeout)
        return json.loads(v) if v else None

    def wait_ready(self, timeout=30.0):
        """A standby never answers requests: wait until the node's record
        is in the bucket."""
        def up():
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(
                    "batchd %s exited (status %s) before it was ready\n%s"
                    % (self.node, self.proc and self.proc.returncode,
                       self.log_tail()))
            # A request made while the cluster makes the bucket may go
            # unanswered: ask again soon.
            try:
                return self.record(timeout=1.0)
            except (OSError, NatsError, JsError):
                self._drop_nc()
                return None
        try:
            wait_until(up, timeout, interval=0.1,
                       what="node.%s in KV %s" % (self.node, self.ha_stream))
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.log_tail())) from None


class OtherMachine(HaDaemon):
    """An HaDaemon as on a machine of its own: PID 1 of a PID namespace
    with its own /proc, it sees no process of the other nodes; the
    directories they share behave as a shared file system whose locks
    work (flock across namespaces is the kernel's own). unshare --fork
    waits for it and exits with its status, and forwards no signal: it is
    signalled directly."""

    def __init__(self, *a, **kw):
        HaDaemon.__init__(self, *a, **kw)
        self.wrap = ["unshare", "--pid", "--fork", "--mount-proc"]

    def inner(self):
        """batchd's pid (as this namespace sees it), or None."""
        pid = self.proc.pid
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = f.read().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None

    def stop(self, timeout=30.0):
        if self.proc is not None and self.proc.poll() is None:
            pid = wait_until(self.inner, 10, what="batchd under unshare")
            os.kill(pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        return HaDaemon.stop(self, timeout)


class HaNodes:
    """batchd nodes (HaDaemon) named `names`, each its own data_dir under
    tmpdir/NAME, sharing tmpdir/runs, against cluster; those named in
    `apart` each as on a machine of its own (OtherMachine)."""

    def __init__(self, tmpdir, cluster, names=("a", "b", "c"), lease_s=10,
                 grace_s=None, ha_stream="BATCHD_HA", env=None, apart=(),
                 **kw):
        self.tmpdir = str(tmpdir)
        self.cluster = cluster
        self.ha_stream = ha_stream
        self.runs_dir = os.path.join(self.tmpdir, "runs")
        os.makedirs(self.runs_dir, exist_ok=True)
        self.nodes = {}
        for n in names:
            d = os.path.join(self.tmpdir, n)
            os.makedirs(d, exist_ok=True)
            cls = OtherMachine if n in apart else HaDaemon
            self.nodes[n] = cls(d, cluster, n, self.runs_dir,
                                lease_s=lease_s, grace_s=grace_s,
                                ha_stream=ha_stream, env=env, **kw)
            # Shared storage: workspaces, attempts and logs (README).
            self.nodes[n].ws_root = os.path.join(self.tmpdir, "ws")

    def __getitem__(self, name):
        return self.nodes[name]

    def start(self, wait=True, timeout=30.0):
        for d in self.nodes.values():
            d.start(wait=False)
        if wait:
            for d in self.nodes.values():
                d.wait_ready(timeout)
        return self

    def leader_name(self, partition=0, timeout=5.0):
        """The leader.{partition} key's node name, or None."""
        js = self.cluster.js()
        try:
            v = js.kv_get(self.ha_stream, "leader.%d" % partition,
                          timeout=timeout)
        finally:
            js.close()
            self.cluster._clients.remove(js)
        return v.decode() if v else None

    def wait_leader(self, partition=0, other_than=None, timeout=60.0):
        """The running HaDaemon that leads partition (not other_than)."""
        def found():
            try:
                n = self.leader_name(partition, timeout=1.0)
            except (OSError, NatsError, JsError):
                return None
            if n is None or n == other_than or n not in self.nodes:
                return None
            return self.nodes[n] if self.nodes[n].running() else None
        return wait_until(found, timeout, interval=0.1,
                          what="a leader of partition %d" % partition)

    def close(self):
        errors = []
        for d in self.nodes.values():
            try:
                if d.proc is not None:
                    try:
                        os.kill(d.proc.pid, signal.SIGCONT)
                    except OSError:
                        pass
                d.close()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            raise AssertionError("\n\n".join(errors))
