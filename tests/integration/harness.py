"""Process management for the batchd integration tests: nats-server, batchd,
the generated protobuf module, and small assertion helpers."""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from natsclient import NatsClient, NatsError, NatsTimeout

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
PROTO_DIR = os.path.join(REPO_ROOT, "proto")
PROTO_FILE = os.path.join(PROTO_DIR, "batchd", "v1", "batchd.proto")

BATCHD_BIN = os.environ.get("BATCHD_BIN") or os.path.join(REPO_ROOT, "build",
                                                          "batchd")
NATS_SERVER_BIN = (os.environ.get("NATS_SERVER")
                   or shutil.which("nats-server") or "/usr/sbin/nats-server")

HOST = "127.0.0.1"

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:",
                     "LeakSanitizer")

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                     r"[0-9a-f]{12}$")


# ---------------------------------------------------------------- protobuf

def setup_pb_path():
    """Put the directory holding batchd/v1/batchd_pb2.py on sys.path.

    BATCHD_PY_DIR (set by the Makefile) wins; otherwise generate the module
    with protoc into a temporary directory removed at exit.
    """
    d = os.environ.get("BATCHD_PY_DIR")
    if d:
        d = os.path.abspath(d)
        if not os.path.isfile(os.path.join(d, "batchd", "v1",
                                           "batchd_pb2.py")):
            raise RuntimeError("BATCHD_PY_DIR=%s has no batchd/v1/"
                               "batchd_pb2.py" % d)
    else:
        d = tempfile.mkdtemp(prefix="batchd-py-")
        atexit.register(shutil.rmtree, d, True)
        subprocess.run(["protoc", "--python_out=" + d, "-I" + PROTO_DIR,
                        PROTO_FILE], check=True)
    if d not in sys.path:
        sys.path.insert(0, d)
    return d


# ---------------------------------------------------------------- helpers

def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORTS_HELD = {}        # port -> descriptor of its lock file, until exit


def free_port():
    """A port no one listens on, for a server this test starts later.

    A port the kernel hands out for bind(0) lies in its ephemeral range, from
    which every outgoing connection also takes its source port: one of the
    many connections a test makes could take it before the server binds it
    ("address already in use"). So ports come from below that range, where
    only a listener can sit, and each is reserved against other test
    processes on this machine by a lock on /tmp/batchd-ports/PORT, held until
    this process exits. A port is not handed out twice in one process.

    The directory is in /tmp whatever TMPDIR says: test runs with TMPDIRs
    of their own (one per work tree) share the machine's ports all the
    same. It is open to every user (1777); a lock file another user made
    and this one cannot open counts as taken. If the directory exists and
    does not let this user in (an older harness made it), this user's own
    in TMPDIR serves instead."""
    import fcntl
    import random
    hi = _ephemeral_low()
    lo = max(1024, hi - 12000)
    lockdir = "/tmp/batchd-ports"
    try:
        os.mkdir(lockdir)
        os.chmod(lockdir, 0o1777)
    except FileExistsError:
        pass
    if not os.access(lockdir, os.W_OK | os.X_OK):
        lockdir = os.path.join(tempfile.gettempdir(),
                               "batchd-ports-%d" % os.getuid())
        os.makedirs(lockdir, exist_ok=True)
    for _ in range(4 * (hi - lo)):
        port = random.randrange(lo, hi)
        if port in _PORTS_HELD:
            continue
        try:
            fd = os.open(os.path.join(lockdir, str(port)),
                         os.O_CREAT | os.O_RDONLY | os.O_CLOEXEC, 0o644)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((HOST, port))
        except OSError:
            os.close(fd)
            continue
        _PORTS_HELD[port] = fd
        return port
    raise RuntimeError("no free port in %d-%d" % (lo, hi - 1))


def read_text(path):
    """A log file's text so far, or "" if there is none."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def tail(path, lines=60):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return "(cannot read %s: %s)" % (path, exc)
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def http_get(port, path):
    """GET http://127.0.0.1:port/path: (status, body)."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


# ---------------------------------------------------------------- nats-server

class NatsServer:
    """A nats-server on 127.0.0.1; port chosen at construction."""

    def __init__(self, workdir, port=None, ws_port=None, ws_conf=""):
        self.workdir = workdir
        self.port = port or free_port()
        self.url = "nats://%s:%d" % (HOST, self.port)
        self.log_path = os.path.join(workdir, "nats-server.%d.log" % self.port)
        self.ws_port = ws_port      # a WebSocket listener (no TLS) too,
        self.ws_conf = ws_conf      # with these lines in its block
        self.ws_url = ws_port and "ws://%s:%d" % (HOST, ws_port)
        self.proc = None

    def _argv(self):
        argv = [NATS_SERVER_BIN, "-a", HOST, "-p", str(self.port)]
        if self.ws_port:
            conf = os.path.join(self.workdir, "nats-ws.%d.conf" % self.port)
            with open(conf, "w") as f:
                f.write('websocket {\n  listen: "%s:%d"\n  no_tls: true\n'
                        '%s}\n' % (HOST, self.ws_port, self.ws_conf))
            argv[1:1] = ["-c", conf]
        return argv

    def _probe(self):
        """Raises OSError or NatsError until the server answers."""
        NatsClient(HOST, self.port, connect_timeout=1.0).close()

    def start(self, timeout=10.0):
        assert self.proc is None, "nats-server already started"
        os.makedirs(self.workdir, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self._argv(), stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s:\n%s"
                                   % (" ".join(self._argv()),
                                      self.proc.returncode,
                                      tail(self.log_path)))
            try:
                self._probe()
                return self
            except (OSError, NatsError):
                if time.monotonic() >= deadline:
                    self.stop()
                    raise RuntimeError("nats-server on port %d not ready:"
                                       "\n%s" % (self.port,
                                                 tail(self.log_path)))
                time.sleep(0.05)

    def log_text(self):
        return read_text(self.log_path)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self._log.close()

    def client(self):
        return NatsClient(HOST, self.port)


# ---------------------------------------------------------------- batchd

# A request to a subject no one subscribes to yet goes unanswered (the
# client asks for no "no responders" status): a readiness poll waits out
# its whole timeout. batchd subscribes some 30 ms after its start, so the
# polls wait 20 ms first, doubling up to 0.25 s for a slow answer; a fixed
# 0.25 s made every start of batchd take a quarter of a second.
READY_POLL_S = 0.02


def passable(path):
    """As root, batchd runs jobs as the uid of their workspace: they pass
    through the directories above data_dir (pytest makes its own 0700) to
    reach their attempt directory. Adds x (not r) for others to each
    directory of the temporary tree above path."""
    if os.geteuid() != 0:
        return
    tmp = os.path.realpath(tempfile.gettempdir())
    p = os.path.dirname(os.path.realpath(path))
    while p.startswith(tmp + "/"):
        mode = os.stat(p).st_mode
        if not mode & 0o001:
            os.chmod(p, (mode & 0o7777) | 0o011)
        p = os.path.dirname(p)


class Daemon:
    """One batchd process (restartable) with its data and workspace dirs.

    d = Daemon(tmpdir, nats_url); d.start()
    reply = d.call("jobdef.create", req, pb.JobDefinitionReply, ws="w1")
    d.restart(); d.kill9(); d.start(); d.stop()
    """

    def __init__(self, tmpdir, nats_url, prefix="batchd", env=None,
                 binary=None):
        self.tmpdir = str(tmpdir)
        self.nats_url = nats_url
        m = re.match(r"^nats://([^:/]+):(\d+)$", nats_url)
        assert m, nats_url
        self.nats_host, self.nats_port = m.group(1), int(m.group(2))
        self.prefix = prefix
        self.extra_env = dict(env or {})
        self.binary = binary or BATCHD_BIN
        self.data_dir = os.path.join(self.tmpdir, "var")
        self.ws_root = os.path.join(self.tmpdir, "ws")
        self.stderr_path = os.path.join(self.tmpdir, "batchd.stderr")
        self.proc = None
        self.exit_codes = []        # of every stop()/kill9(), in order
        self.starts = 0
        self.wrap = []          # argv before the binary (e.g. unshare)
        self._nc = None
        self._log = None

    # --------------------------------------------------- lifecycle

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("BATCHD_")}
        env.update({
            "BATCHD_NATS_URL": self.nats_url,
            "BATCHD_DATA_DIR": self.data_dir,
            "BATCHD_WORKSPACE_ROOT": self.ws_root,
            "BATCHD_LOG_LEVEL": "debug",
        })
        if self.prefix != "batchd":
            env["BATCHD_SUBJECT_PREFIX"] = self.prefix
        env.update(self.extra_env)
        # LeakSanitizer finds the bounds of a dynamic TLS block (p11-kit's,
        # through the s3 plugin's libcurl) by a glibc 2.19 heuristic, and
        # its tracer dies at exit ("Tracer caught signal 11") whenever the
        # heap's layout happens to fit it. The blocks are heap chunks the
        # DTV points to, scanned all the same without the interception.
        asan = env.get("ASAN_OPTIONS", "")
        if "intercept_tls_get_addr" not in asan:
            env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
                "intercept_tls_get_addr=0"
        return env

    def start(self, wait=True, timeout=10.0):
        assert self.proc is None, "batchd already running"
        if not os.access(self.binary, os.X_OK):
            raise AssertionError("batchd binary %s not found or not "
                                 "executable (build it, or set BATCHD_BIN)"
                                 % self.binary)
        os.makedirs(self.data_dir, exist_ok=True)
        os.makedirs(self.ws_root, exist_ok=True)
        passable(self.data_dir)
        if os.geteuid() == 0:   # tests' jobs leave marks here (as in /tmp)
            os.chmod(self.tmpdir, 0o1777)
        self._log = open(self.stderr_path, "ab")
        self._log.write(b"==== harness: start #%d at %.3f ====\n"
                        % (self.starts + 1, time.time()))
        self._log.flush()
        self.proc = subprocess.Popen(self.wrap + [self.binary],
                                     env=self.env(), cwd=self.tmpdir,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        self.starts += 1
        if wait:
            self.wait_ready(timeout)
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=10.0):
        """Poll cluster.list until batchd answers."""
        deadline = time.monotonic() + timeout
        req = _pb().ListClustersRequest(page_size=1).SerializeToString()
        subject = "%s.v1.default.cluster.list" % self.prefix
        last = None
        wait = READY_POLL_S
        while True:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(
                    "batchd exited (status %s) before it was ready\n%s"
                    % (self.proc and self.proc.returncode, self.log_tail()))
            try:
                data = self.nc().request(subject, req, timeout=wait)
                _pb().ListClustersReply.FromString(data)
                return
            except NatsTimeout as exc:      # connected, no answer yet
                last = exc
                wait = min(2 * wait, 0.25)
            except (OSError, NatsError) as exc:  # NATS down or hung up
                last = exc
                self._drop_nc()
                time.sleep(0.1)
            if time.monotonic() >= deadline:
                raise AssertionError("batchd not ready after %.1fs (%s)\n%s"
                                     % (timeout, last, self.log_tail()))

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self, timeout=30.0):
        """SIGTERM, wait, and require exit status 0 and a clean stderr."""
        assert self.proc is not None, "batchd not running"
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.proc = None
            self._close_log()
            self.exit_codes.append(None)
            raise AssertionError("batchd did not exit within %.0fs of SIGTERM"
                                 "\n%s" % (timeout, self.log_tail()))
        self.proc = None
        self._close_log()
        self.exit_codes.append(rc)
        assert rc == 0, ("batchd exited with status %s after SIGTERM\n%s"
                         % (rc, self.log_tail()))
        self.check_sanitizers()

    def kill9(self):
        assert self.proc is not None, "batchd not running"
        proc = self.proc
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        rc = proc.wait(timeout=10)
        self.proc = None
        self._close_log()
        self.exit_codes.append(rc)
        return rc

    def restart(self, timeout=10.0):
        self.stop()
        self.start(timeout=timeout)

    def close(self):
        """Teardown: stop if running (checked), close the NATS client."""
        try:
            if self.proc is not None:
                self.stop()
        finally:
            self._drop_nc()
        self.check_sanitizers()

    # --------------------------------------------------- diagnostics

    def log_text(self):
        return read_text(self.stderr_path)

    def log_tail(self, lines=60):
        return ("---- batchd stderr (%s), last %d lines ----\n%s"
                % (self.stderr_path, lines, tail(self.stderr_path, lines)))

    def check_sanitizers(self):
        text = self.log_text()
        hits = [m for m in SANITIZER_MARKERS if m in text]
        assert not hits, ("sanitizer report in batchd stderr (%s)\n%s"
                          % (", ".join(hits), self.log_tail(200)))

    # --------------------------------------------------- requests

    def nc(self):
        if self._nc is None or self._nc.is_closed:
            self._nc = NatsClient(self.nats_host, self.nats_port)
        return self._nc

    def _drop_nc(self):
        if self._nc is not None:
            try:
                self._nc.close()
            except Exception:       # noqa: BLE001
                pass
            self._nc = None

    def subject(self, suffix, ws="default"):
        return "%s.v1.%s.%s" % (self.prefix, ws, suffix)

    def request_raw(self, suffix, payload, ws="default", timeout=5.0):
        return self.nc().request(self.subject(suffix, ws), payload,
                                 timeout=timeout)

    def call(self, suffix, request_msg, reply_cls, ws="default", timeout=5.0):
        """Send request_msg (a message or raw bytes) to
        {prefix}.v1.{ws}.{suffix} and parse the reply as reply_cls."""
        if isinstance(request_msg, (bytes, bytearray)):
            payload = bytes(request_msg)
        else:
            payload = request_msg.SerializeToString()
        try:
            data = self.request_raw(suffix, payload, ws=ws, timeout=timeout)
        except NatsTimeout:
            raise AssertionError("no reply to %s within %.1fs (batchd %s)\n%s"
                                 % (self.subject(suffix, ws), timeout,
                                    "running" if self.running() else
                                    "NOT running", self.log_tail())) from None
        return reply_cls.FromString(data)


def _pb():
    from batchd.v1 import batchd_pb2
    return batchd_pb2


def chunk_data(c):
    """The output a LogChunk carries: its data, decoded if encoded (a
    ZSTD chunk's data must be one frame of exactly c.size bytes)."""
    pb = _pb()
    if c.encoding == pb.IDENTITY:
        return bytes(c.data)
    assert c.encoding == pb.ZSTD, "log chunk encoding %d" % c.encoding
    import zstd
    out = zstd.decompress(bytes(c.data))
    assert len(out) == c.size, ("ZSTD log chunk at offset %d decodes to %d "
                                "bytes, its size says %d"
                                % (c.offset, len(out), c.size))
    return out


# ---------------------------------------------------------------- assertions

def assert_ok(reply):
    """The reply carries no error."""
    if reply.HasField("error"):
        e = reply.error
        raise AssertionError("expected success, got error %s field=%r: %s"
                             % (_pb().ErrorCode.Name(e.code)
                                if e.code in _pb().ErrorCode.values()
                                else e.code, e.field, e.message))
    return reply


def assert_error(reply, code, field=None, fields=None):
    """The reply carries an error with this code (and field, if given; or
    one of `fields`) and a non-empty message."""
    pb = _pb()
    assert reply.HasField("error"), ("expected %s, got success: %s"
                                     % (pb.ErrorCode.Name(code), reply))
    e = reply.error
    assert e.code == code, ("expected %s, got %s field=%r: %s"
                            % (pb.ErrorCode.Name(code),
                               pb.ErrorCode.Name(e.code)
                               if e.code in pb.ErrorCode.values() else e.code,
                               e.field, e.message))
    if field is not None:
        assert e.field == field, ("expected field %r, got %r (%s)"
                                  % (field, e.field, e.message))
    if fields is not None:
        assert e.field in fields, ("expected field in %r, got %r (%s)"
                                   % (fields, e.field, e.message))
    assert e.message, "error message is empty"
    return e


# ---------------------------------------------------------------- job runs
#
# Helpers for the job-run tests (test_run_*.py): definitions whose script is
# written into the workspace, clusters, submitting, waiting for a run, and a
# watcher of the status and log subjects of a workspace.

RUN_TERMINAL = (3, 4, 5)        # SUCCEEDED, FAILED, CANCELLED


def write_job(d, ws, location, code, path="jobs"):
    """Write code to {ws_root}/{ws}/{path}/{location}; return the path."""
    full = os.path.join(d.ws_root, ws, path, location)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(code)
    return full


def cluster_config(workers=1, instance_type="local", version="3"):
    return _pb().ClusterConfig(instance_type=instance_type,
                               workers_quantity=workers, version=version)


def make_jobdef(d, ws, name, code=None, location=None, path="jobs",
                job_type=None, args=None, env=None, num_retries=None,
                retry_delay_seconds=None, auto_retry_on_timeout=None,
                timeout_seconds=None, cluster=None):
    """Create a WORKSPACE definition (writing code as its file, if given);
    return the JobDefinition. cluster: a ClusterConfig for its default."""
    pb = _pb()
    if location is None:
        location = name + ".py"
    if code is not None:
        write_job(d, ws, location, code, path)
    c = pb.JobConfig(type=job_type or pb.PYTHON, source_location=location)
    c.source.type = pb.WORKSPACE
    c.source.workspace.path = path
    if args is not None:
        c.args = args
    for k, v in (env or {}).items():
        c.env[k] = v
    if num_retries is not None:
        c.retry_strategy.num_retries = num_retries
    if retry_delay_seconds is not None:
        c.retry_strategy.retry_delay_seconds = retry_delay_seconds
    if auto_retry_on_timeout is not None:
        c.retry_strategy.auto_retry_on_timeout = auto_retry_on_timeout
    if timeout_seconds is not None:
        c.timeout_seconds = timeout_seconds
    req = pb.CreateJobDefinitionRequest(name=name, config=c)
    if cluster is not None:
        req.cluster_config.CopyFrom(cluster)
    rep = d.call("jobdef.create", req, pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    return rep.job_definition


def make_cluster(d, ws, name, auto_resume=None, config=None):
    pb = _pb()
    req = pb.CreateClusterRequest(name=name)
    req.config.CopyFrom(config if config is not None else cluster_config())
    if auto_resume is not None:
        req.auto_resume = auto_resume
    rep = d.call("cluster.create", req, pb.ClusterReply, ws=ws)
    assert_ok(rep)
    return rep.cluster


def get_cluster(d, ws, uuid):
    return d.call("cluster.get", _pb().GetClusterRequest(uuid=uuid),
                  _pb().ClusterReply, ws=ws)


def submit_run(d, ws, def_uuid, cluster_uuid="", args=None, env=None,
               idempotency_key="", nc=None):
    """run.submit; return the JobRunReply (not checked)."""
    pb = _pb()
    req = pb.SubmitJobRunRequest(job_definition_uuid=def_uuid,
                                 cluster_uuid=cluster_uuid,
                                 idempotency_key=idempotency_key)
    if args is not None:
        req.args = args
    for k, v in (env or {}).items():
        req.env[k] = v
    if nc is not None:
        return pb.JobRunReply.FromString(nc.request(
            d.subject("run.submit", ws), req.SerializeToString(),
            timeout=10.0))
    return d.call("run.submit", req, pb.JobRunReply, ws=ws)


def submit_ok(d, ws, def_uuid, cluster_uuid="", **kw):
    """run.submit that must succeed; return the JobRun."""
    rep = submit_run(d, ws, def_uuid, cluster_uuid, **kw)
    assert_ok(rep)
    return rep.job_run


def get_run(d, ws, uuid):
    rep = d.call("run.get", _pb().GetJobRunRequest(uuid=uuid),
                 _pb().JobRunReply, ws=ws)
    assert_ok(rep)
    return rep.job_run


def run_str(r):
    pb = _pb()
    return "run %s %s/%s %r attempt=%d" % (
        r.uuid, pb.JobRunStatus.Name(r.status),
        pb.StatusReason.Name(r.reason), r.reason_text, r.attempt)


def wait_run(d, ws, uuid, pred=None, timeout=20.0, what="a terminal status"):
    """Poll run.get until pred(run) (default: the run is terminal)."""
    if pred is None:
        pred = lambda r: r.status in RUN_TERMINAL  # noqa: E731
    deadline = time.monotonic() + timeout
    while True:
        r = get_run(d, ws, uuid)
        if pred(r):
            return r
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0fs waiting for %s of "
                                 "%s" % (timeout, what, run_str(r)))
        time.sleep(0.05)


def wait_status(d, ws, uuid, status, timeout=20.0):
    return wait_run(d, ws, uuid, lambda r: r.status == status, timeout,
                    "status %s" % _pb().JobRunStatus.Name(status))


def run_events(d, ws, uuid):
    rep = d.call("run.events", _pb().GetJobRunRequest(uuid=uuid),
                 _pb().JobRunEventsReply, ws=ws)
    assert_ok(rep)
    return list(rep.events)


def read_logs(d, ws, uuid, stream=None, attempt=0, max_bytes=0):
    """Page through run.logs until eof; return (bytes, pages)."""
    pb = _pb()
    stream = pb.STDOUT if stream is None else stream
    out = bytearray()
    off, pages = 0, 0
    deadline = time.monotonic() + 30.0
    while True:
        rep = d.call("run.logs", pb.GetJobRunLogsRequest(
            uuid=uuid, attempt=attempt, stream=stream, offset=off,
            max_bytes=max_bytes), pb.JobRunLogsReply, ws=ws)
        assert_ok(rep)
        pages += 1
        for c in rep.chunks:
            assert c.run_uuid == uuid and c.stream == stream, c
            assert c.offset == len(out), (c.offset, len(out))
            out += c.data
        assert rep.next_offset == len(out), (rep.next_offset, len(out))
        if rep.eof:
            return bytes(out), pages
        if rep.next_offset == off:  # the stream is not complete yet
            assert time.monotonic() < deadline, "run.logs never reached eof"
            time.sleep(0.05)
        off = rep.next_offset


class _Stream:
    """One (run, attempt, stream) rebuilt from LogChunks by offset."""

    def __init__(self):
        self.data = bytearray()
        self.pending = {}      # offset -> data, ahead of what we have
        self.eof_at = None
        self.chunks = 0
        self.encoded = []      # (encoding, len(data), bytes carried) each
        self.offsets = []      # the offset of each chunk, as it came

    def add(self, c):
        self.chunks += 1
        if c.eof:
            assert self.eof_at in (None, c.offset), (
                "two eof chunks for one stream, at offsets %d and %d"
                % (self.eof_at, c.offset))
            self.eof_at = c.offset
        data = chunk_data(c)
        self.encoded.append((c.encoding, len(c.data), len(data)))
        self.offsets.append(c.offset)
        if self.eof_at is not None:
            end = c.offset + len(data)
            assert end <= self.eof_at, (
                "log chunk [%d, %d) beyond the eof at offset %d"
                % (c.offset, end, self.eof_at))
        if data:
            self.pending.setdefault(c.offset, []).append(data)
        progress = True
        while progress:
            progress = False
            for off in sorted(self.pending):
                if off > len(self.data):
                    break
                for data in self.pending.pop(off):
                    have = self.data[off:off + len(data)]
                    assert bytes(have) == data[:len(have)], (
                        "log chunk at offset %d differs from bytes "
                        "received before" % off)
                    self.data += data[len(have):]
                progress = True
                break

    def complete(self):
        return self.eof_at is not None and len(self.data) >= self.eof_at


class BusWatch:
    """Status events and log chunks of one workspace, subscribed at once
    (before any submit). Duplicates (redeliveries) are allowed only if
    equal to the first copy."""

    def __init__(self, d, ws):
        pb = _pb()
        self.pb = pb
        self.d = d
        self.ws = ws
        self.nc = NatsClient(d.nats_host, d.nats_port)
        self.st = self.nc.subscribe("%s.v1.%s.status.>" % (d.prefix, ws))
        self.lg = self.nc.subscribe("%s.v1.%s.logs.>" % (d.prefix, ws))
        self.nc.flush()
        self.events = {}        # run uuid -> {seq: event}
        self.subjects = {}      # run uuid -> set of subjects seen
        self.arrival = []       # (run uuid, seq) in arrival order, first copy
        self.streams = {}       # (run, attempt, stream) -> _Stream
        self.log_subjects = {}  # run uuid -> set of subjects

    def _take_status(self, timeout):
        subject, data = self.st.next(timeout)
        ev = self.pb.JobRunStatusEvent.FromString(data)
        self.subjects.setdefault(ev.run_uuid, set()).add(subject)
        seen = self.events.setdefault(ev.run_uuid, {})
        if ev.seq in seen:
            assert seen[ev.seq] == ev, ("event %d of run %s delivered twice "
                                        "with different contents:\n%s\n%s"
                                        % (ev.seq, ev.run_uuid, seen[ev.seq],
                                           ev))
        else:
            seen[ev.seq] = ev
            self.arrival.append((ev.run_uuid, ev.seq))
        return ev

    def _take_log(self, timeout):
        subject, data = self.lg.next(timeout)
        c = self.pb.LogChunk.FromString(data)
        self.log_subjects.setdefault(c.run_uuid, set()).add(subject)
        self.streams.setdefault((c.run_uuid, c.attempt, c.stream),
                                _Stream()).add(c)
        return c

    def ordered(self, run_uuid):
        evs = self.events.get(run_uuid, {})
        return [evs[s] for s in sorted(evs)]

    def events_until(self, run_uuid, pred, timeout=20.0):
        """Events of run_uuid in seq order once pred(events) holds."""
        deadline = time.monotonic() + timeout
        while True:
            evs = self.ordered(run_uuid)
            if evs and pred(evs):
                return evs
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "timed out waiting for events of run %s; have %s"
                    % (run_uuid, [(e.seq, self.pb.JobRunStatus.Name(e.status),
                                   self.pb.StatusReason.Name(e.reason))
                                  for e in evs]))
            try:
                self._take_status(min(left, 0.5))
            except NatsTimeout:
                pass

    def events_terminal(self, run_uuid, timeout=20.0):
        """Events of run_uuid up to and including a terminal one, with no
        gap in seq."""
        def done(evs):
            return (evs[-1].status in RUN_TERMINAL
                    and [e.seq for e in evs] == list(range(1, len(evs) + 1)))
        return self.events_until(run_uuid, done, timeout)

    def drain_status(self, quiet=0.3):
        """Take status events until none arrives for `quiet` seconds."""
        while True:
            try:
                self._take_status(quiet)
            except NatsTimeout:
                return

    def log_bytes(self, run_uuid, attempt, stream, timeout=20.0):
        """The whole stream, once its eof chunk and every byte before it
        arrived."""
        key = (run_uuid, attempt, stream)
        deadline = time.monotonic() + timeout
        while True:
            s = self.streams.get(key)
            if s is not None and s.complete():
                assert len(s.data) == s.eof_at, (
                    "bytes beyond the eof offset %d: %d" % (s.eof_at,
                                                            len(s.data)))
                assert not s.pending, "chunks beyond eof"
                return bytes(s.data)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "timed out waiting for log %s: %s bytes, eof at %s"
                    % (key, s and len(s.data), s and s.eof_at))
            try:
                self._take_log(min(left, 0.5))
            except NatsTimeout:
                pass

    def drain_logs(self, quiet=0.3):
        """Take log chunks until none arrives for `quiet` seconds."""
        while True:
            try:
                self._take_log(quiet)
            except NatsTimeout:
                return

    def close(self):
        self.nc.close()


def proc_start_time(pid):
    """Start time of pid (clock ticks since boot, /proc/PID/stat field 22)
    and its state letter; (0, None) if there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return 0, None
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[19]), fields[0]


def pid_alive(pid):
    """Is pid a live process (not gone, not a zombie)?"""
    start, state = proc_start_time(pid)
    return start != 0 and state not in ("Z", "X")


def vm_hwm_kib(pid):
    """The peak RSS of process pid, in KiB."""
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def shim_of(adir):
    """(pid, start time) the shim of attempt directory adir wrote into its
    DIR/lock, or (None, None) before it has (or with no shim)."""
    try:
        with open(os.path.join(adir, "lock")) as f:
            pid, start = (int(x) for x in f.read().split()[:2])
        return pid, start
    except (OSError, ValueError):
        return None, None


def shim_pid(adir, timeout=20):
    """The pid of the shim of attempt directory adir, once it wrote it."""
    wait_until(lambda: shim_of(adir)[0] is not None, timeout,
               what="the shim's pid in %s/lock" % adir)
    return shim_of(adir)[0]


def live_shims(d):
    """[(pid, attempt dir)] of the attempts' shims of d still alive (pid
    and start time as the shim recorded them in DIR/lock)."""
    out = []
    runs = os.path.join(d.data_dir, "runs")
    for dirpath, _dirs, files in os.walk(runs):
        if "lock" not in files:
            continue
        pid, start = shim_of(dirpath)
        if pid is not None and proc_start_time(pid)[0] == start and \
                pid_alive(pid):
            out.append((pid, dirpath))
    return out


def stop_shims(d, timeout=15.0):
    """SIGTERM every live shim of d (each stops its job as for a cancel)
    and wait for them to go."""
    shims = live_shims(d)
    for pid, _ in shims:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid, _ in shims):
        if time.monotonic() > deadline:
            raise AssertionError("shims did not stop: %s" % shims)
        time.sleep(0.05)


def wait_output(d, ws, uuid, prefix, stream=None, attempt=0, timeout=20.0):
    """Poll run.logs until the stream starts with prefix (bytes): the job
    itself is running."""
    pb = _pb()
    req = pb.GetJobRunLogsRequest(uuid=uuid, attempt=attempt,
                                  stream=stream or pb.STDOUT,
                                  max_bytes=max(len(prefix), 1))

    def have():
        rep = d.call("run.logs", req, pb.JobRunLogsReply, ws=ws)
        return (not rep.HasField("error") and
                b"".join(c.data for c in rep.chunks) == prefix)
    wait_until(have, timeout, what="output %r of run %s" % (prefix, uuid))
