"""The s3 source plugin against a real S3-compatible server on loopback
(s3rver behind a SigV4 check, s3_store.py), batchd configured with
s3_endpoint (path-style) and credentials in its own AWS_* environment:
an uploaded script runs; a missing key, a missing bucket, a wrong secret,
a wrong session token and no credentials fail the run with
SOURCE_FETCH_FAILED and a clear reason; no credential ever shows, neither in
the job's environment, logs, replies, batchd's log nor its data files."""

import hashlib
import os

import pytest

import harness
import s3_store
from harness import _pb, assert_ok

pb = _pb()

REGION = "eu-west-3"
BUCKET = "jobs"
KEY_ID = "AKIABATCHDTEST00001"
SECRET = "s3Secret/Key+Value0123456789abcdefXYZ"
TOK_ID = "ASIABATCHDTEST00002"
TOK_SECRET = "t0kenSecret/Key+Value9876543210fedcba"
TOKEN = "IQoJb3JpZ2luX2VjEBatchdTestSessionToken/abc+def=="
WRONG = "wrongSecret/Key+Value0000000000000000"

# bucket_path "jobs/team a//" and source_location "dir//hello+1.py": the key
# is "team a/dir/hello+1.py" (single slashes; a space and a '+' to encode).
PREFIX = "team a//"
LOCATION = "dir//hello+1.py"
OBJECT_KEY = "team a/dir/hello+1.py"

# 1 MiB of padding makes the download take many writes.
SCRIPT = ("""import hashlib, os, sys
print("hello from s3", sys.argv[1:], os.path.basename(__file__))
print("aws env:", sorted(k for k in os.environ if "AWS" in k or "S3" in k))
print("sha256", hashlib.sha256(open(__file__, "rb").read()).hexdigest())
print("to stderr", file=sys.stderr)
""" + "#" + "x" * (1 << 20) + "\n").encode()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    why = s3_store.missing()
    if why:
        pytest.fail(why, pytrace=False)
    store = s3_store.S3Store(tmp_path_factory.mktemp("s3"), REGION, [
        {"id": KEY_ID, "secret": SECRET},
        {"id": TOK_ID, "secret": TOK_SECRET, "token": TOKEN}]).start()
    try:
        store.make_bucket(BUCKET)
        store.put(BUCKET, OBJECT_KEY, SCRIPT)
        yield store
    finally:
        store.stop()


def daemon(run_daemon_factory, s3, key_id=KEY_ID, secret=SECRET, token=""):
    return run_daemon_factory(env={
        "BATCHD_PLUGINS": "workspace,s3,python,sql,local",
        "BATCHD_S3_ENDPOINT": s3.endpoint,
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": token}).start()


def s3_run(d, ws, name, bucket_path=BUCKET + "/" + PREFIX,
           location=LOCATION):
    """Define an S3 job, submit it, wait for its end; return (run, replies:
    the serialized replies seen on the way)."""
    r = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name=name, config=pb.JobConfig(
            source=pb.JobSource(type=pb.S3, s3=pb.S3Source(
                bucket_path=bucket_path, region=REGION)),
            type=pb.PYTHON, source_location=location, args="a b"),
        cluster_config=harness.cluster_config()), pb.JobDefinitionReply,
        ws=ws)
    assert_ok(r)
    s = harness.submit_ok(d, ws, r.job_definition.uuid)
    run = harness.wait_run(d, ws, s.uuid)
    return run, [r.SerializeToString(), s.SerializeToString(),
                 run.SerializeToString()]


def logs(d, ws, run):
    return (harness.read_logs(d, ws, run.uuid, pb.STDOUT)[0],
            harness.read_logs(d, ws, run.uuid, pb.STDERR)[0])


def assert_fetch_failed(run, *words):
    assert run.status == pb.FAILED, harness.run_str(run)
    assert run.reason == pb.SOURCE_FETCH_FAILED, harness.run_str(run)
    for w in words:
        assert w in run.reason_text, harness.run_str(run)


def assert_nowhere(d, blobs, *secrets):
    """None of secrets in blobs, batchd's stderr or any file of its data
    directory (LMDB included: no credential is ever stored)."""
    for s in secrets:
        b = s.encode()
        for blob in blobs:
            assert b not in blob, blob[:300]
        assert s not in d.log_text(), "in batchd's stderr"
        for root, _, files in os.walk(d.data_dir):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    assert b not in f.read(), path


def test_s3_script_runs_missing_key_and_bucket_fail(run_daemon_factory, s3,
                                                    ws):
    d = daemon(run_daemon_factory, s3)
    run, replies = s3_run(d, ws, "hello")
    out, err = logs(d, ws, run)
    assert run.status == pb.SUCCEEDED, (harness.run_str(run), out, err)
    assert out == ("hello from s3 ['a', 'b'] hello+1.py\n"
                   "aws env: []\n"
                   "sha256 %s\n" % hashlib.sha256(SCRIPT).hexdigest()
                   ).encode(), out
    assert err == b"to stderr\n"
    blobs = replies + [out, err]

    # A missing key: the reason names the object.
    run, replies = s3_run(d, ws, "missing", location="nope/missing.py")
    assert_fetch_failed(run, "s3://jobs/team a/nope/missing.py: no such key")
    out, err = logs(d, ws, run)
    assert b"s3://jobs/team a/nope/missing.py: no such key" in err, err
    blobs += replies + [out, err]

    # A missing bucket.
    run, replies = s3_run(d, ws, "nobucket", bucket_path="nobucket/x")
    assert_fetch_failed(run, "s3://nobucket/x/dir/hello+1.py: no such bucket")
    blobs += replies + list(logs(d, ws, run))

    # Nothing was masked, for nothing printed a credential.
    for blob in blobs:
        assert b"****" not in blob, blob[:300]
    assert_nowhere(d, blobs, SECRET)


def test_s3_wrong_secret_is_access_denied(run_daemon_factory, s3, ws):
    d = daemon(run_daemon_factory, s3, secret=WRONG)
    run, replies = s3_run(d, ws, "denied")
    assert_fetch_failed(run, "s3://jobs/team a/dir/hello+1.py: access denied",
                        "SignatureDoesNotMatch")
    out, err = logs(d, ws, run)
    assert b"access denied" in err, err
    assert_nowhere(d, replies + [out, err], WRONG)
    assert "403 SignatureDoesNotMatch" in s3.log()


def test_s3_session_token(run_daemon_factory, s3, ws):
    d = daemon(run_daemon_factory, s3, TOK_ID, TOK_SECRET, TOKEN)
    run, replies = s3_run(d, ws, "token")
    out, err = logs(d, ws, run)
    assert run.status == pb.SUCCEEDED, (harness.run_str(run), out, err)
    assert b"aws env: []\n" in out
    assert_nowhere(d, replies + [out, err], TOK_SECRET, TOKEN)
    d.stop()

    # The same key with a token other than the one it was issued with.
    d = daemon(run_daemon_factory, s3, TOK_ID, TOK_SECRET, TOKEN[:-6] + "x==")
    run, _ = s3_run(d, ws, "badtoken")
    assert_fetch_failed(run, "access denied", "InvalidToken")


def test_s3_without_credentials(run_daemon_factory, s3, ws):
    d = daemon(run_daemon_factory, s3, key_id="", secret="")
    run, _ = s3_run(d, ws, "anonymous")
    assert_fetch_failed(run, "no S3 credentials (s3_access_key_id / "
                        "AWS_ACCESS_KEY_ID)")
