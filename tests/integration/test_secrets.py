"""Secrets never leave: values of environment variables whose names match
secret_env are '****' in replies, never in batchd's log, and are masked in
the job's own output before it reaches disk or the bus, also when split
across two writes and in base64. Data directories are 0700."""

import base64
import os
import stat
import time

import harness
from harness import _pb, assert_ok

pb = _pb()

SECRET = "hunter2-Sup3rSecret"
RUN_SECRET = "run-only-s3cr3t-value"

SCRIPT = r"""
import base64, os, sys, time
s = os.environ["API_TOKEN"]
print("whole:", s, flush=True)
sys.stdout.write("split:" + s[:7]); sys.stdout.flush()
time.sleep(0.3)
sys.stdout.write(s[7:] + "\n"); sys.stdout.flush()
print("b64:", base64.b64encode(s.encode()).decode(), flush=True)
print("run:", os.environ["DB_PASSWORD"], flush=True)
print("plain:", os.environ["PLAIN"], flush=True)
print("err:", s, file=sys.stderr, flush=True)
print("stdin:", len(sys.stdin.buffer.read()), flush=True)
"""


def all_logs(d, ws, run, stream):
    return harness.read_logs(d, ws, run, stream)[0]


def test_secret_env_masked_everywhere(daemon, ws):
    d = daemon
    harness.write_job(d, ws, "leak.py", SCRIPT)
    nc = d.nc()
    sub = nc.subscribe("batchd.v1.%s.logs.>" % ws)
    nc.flush()
    r = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name="leak", config=pb.JobConfig(
            source=pb.JobSource(type=pb.WORKSPACE,
                                workspace=pb.WorkspaceSource(path="jobs")),
            type=pb.PYTHON, source_location="leak.py",
            env={"API_TOKEN": SECRET, "PLAIN": "visible-value"}),
        cluster_config=pb.ClusterConfig(instance_type="local",
                                        workers_quantity=1, version="3")),
        pb.JobDefinitionReply, ws=ws)
    assert_ok(r)
    env = r.job_definition.config.env
    assert env["API_TOKEN"] == "****" and env["PLAIN"] == "visible-value"
    g = d.call("jobdef.get", pb.GetJobDefinitionRequest(
        uuid=r.job_definition.uuid), pb.JobDefinitionReply, ws=ws)
    assert g.job_definition.config.env["API_TOKEN"] == "****"

    s = d.call("run.submit", pb.SubmitJobRunRequest(
        job_definition_uuid=r.job_definition.uuid,
        env={"DB_PASSWORD": RUN_SECRET}), pb.JobRunReply, ws=ws)
    assert_ok(s)
    run = s.job_run.uuid
    assert s.job_run.env["DB_PASSWORD"] == "****"
    assert s.job_run.config.env["API_TOKEN"] == "****"

    g = harness.wait_run(d, ws, run)
    assert g.status == pb.SUCCEEDED, g.reason_text

    out = all_logs(d, ws, run, pb.STDOUT)
    err = all_logs(d, ws, run, pb.STDERR)
    b64 = base64.b64encode(SECRET.encode()).rstrip(b"=")
    for blob in (out, err):
        assert SECRET.encode() not in blob
        assert RUN_SECRET.encode() not in blob
        assert b64 not in blob
    assert b"whole: ****\n" in out
    assert b"split:****\n" in out
    assert b"run: ****\n" in out
    assert b"plain: visible-value\n" in out
    assert b"err: ****\n" in err
    # The shim's description (with the secrets) came on its stdin, which
    # is /dev/null again before anything starts: the job reads nothing.
    assert b"stdin: 0\n" in out

    # What went over the bus is what is on disk.
    chunks = b""
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            _, data = sub.next(0.2)
        except Exception:
            break
        chunks += harness.chunk_data(pb.LogChunk.FromString(data))
    assert SECRET.encode() not in chunks and b64 not in chunks

    # Nowhere on disk either (the shim's description is a memfd).
    for root, _, files in os.walk(d.data_dir):
        for name in files:
            path = os.path.join(root, name)
            if "lmdb" in path:
                continue
            data = open(path, "rb").read()
            assert SECRET.encode() not in data, path
            assert RUN_SECRET.encode() not in data, path
    assert SECRET not in open(d.stderr_path).read()

    # As root, jobs run as their workspace's uid and pass through data_dir
    # and runs/ (x, not r) to their own attempt directory.
    through = 0o711 if os.geteuid() == 0 else 0o700
    for sub_dir, want in (("", through), ("lmdb", 0o700), ("logs", 0o700),
                          ("runs", through)):
        mode = stat.S_IMODE(os.stat(os.path.join(d.data_dir, sub_dir)).st_mode)
        assert mode == want, (sub_dir, oct(mode))


BURST = r"""
import os, sys
s = os.environ["API_TOKEN"].encode()
# One 1 MiB write: the shim takes it from the pipe in 64 KiB pieces, and
# a secret sits across every piece boundary (and one at each end).
buf = bytearray(b"." * (1 << 20))
for edge in range(0, len(buf) + 1, 64 << 10):
    at = min(max(edge - 5, 0), len(buf) - len(s))
    buf[at:at + len(s)] = s
sys.stdout.buffer.write(bytes(buf))
sys.stdout.buffer.flush()
"""


def test_secret_masked_across_read_pieces(daemon, ws):
    d = daemon
    jd = harness.make_jobdef(d, ws, "burst", code=BURST,
                             env={"API_TOKEN": SECRET},
                             cluster=harness.cluster_config())
    run = harness.submit_ok(d, ws, jd.uuid).uuid
    g = harness.wait_run(d, ws, run)
    assert g.status == pb.SUCCEEDED, g.reason_text

    buf = bytearray(b"." * (1 << 20))
    edges = range(0, len(buf) + 1, 64 << 10)
    for edge in edges:
        at = min(max(edge - 5, 0), len(buf) - len(SECRET))
        buf[at:at + len(SECRET)] = SECRET.encode()
    want = bytes(buf).replace(SECRET.encode(), b"****")
    out = all_logs(d, ws, run, pb.STDOUT)
    assert SECRET.encode() not in out
    assert out.count(b"****") == len(edges)
    assert out == want
