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

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tail(path, lines=60):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return "(cannot read %s: %s)" % (path, exc)
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


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

    def __init__(self, workdir, port=None):
        self.workdir = workdir
        self.port = port or free_port()
        self.url = "nats://%s:%d" % (HOST, self.port)
        self.log_path = os.path.join(workdir, "nats-server.%d.log" % self.port)
        self.proc = None

    def start(self, timeout=10.0):
        assert self.proc is None, "nats-server already started"
        os.makedirs(self.workdir, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [NATS_SERVER_BIN, "-a", HOST, "-p", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("nats-server exited with %s:\n%s"
                                   % (self.proc.returncode,
                                      tail(self.log_path)))
            try:
                NatsClient(HOST, self.port, connect_timeout=1.0).close()
                return self
            except (OSError, NatsError):
                if time.monotonic() >= deadline:
                    self.stop()
                    raise RuntimeError("nats-server on port %d not ready"
                                       % self.port)
                time.sleep(0.05)

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
        return env

    def start(self, wait=True, timeout=10.0):
        assert self.proc is None, "batchd already running"
        if not os.access(self.binary, os.X_OK):
            raise AssertionError("batchd binary %s not found or not "
                                 "executable (build it, or set BATCHD_BIN)"
                                 % self.binary)
        os.makedirs(self.data_dir, exist_ok=True)
        os.makedirs(self.ws_root, exist_ok=True)
        self._log = open(self.stderr_path, "ab")
        self._log.write(b"==== harness: start #%d at %.3f ====\n"
                        % (self.starts + 1, time.time()))
        self._log.flush()
        self.proc = subprocess.Popen([self.binary], env=self.env(),
                                     cwd=self.tmpdir,
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
        while True:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(
                    "batchd exited (status %s) before it was ready\n%s"
                    % (self.proc and self.proc.returncode, self.log_tail()))
            try:
                data = self.nc().request(subject, req, timeout=0.25)
                _pb().ListClustersReply.FromString(data)
                return
            except NatsTimeout as exc:      # connected, no answer yet
                last = exc
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
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

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
