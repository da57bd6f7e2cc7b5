"""An S3-compatible store on 127.0.0.1 for the s3 source tests: s3rver (npm,
installed in tests/s3 by `npm ci --prefix tests/s3`) behind s3_server.js,
which checks AWS Signature V4 as S3 does. Buckets and objects are made with
curl's own SigV4 signer (curl --aws-sigv4), so uploads do not go through the
code under test."""

import hashlib
import json
import os
import shutil
import subprocess
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
S3RVER_DIR = os.path.join(REPO_ROOT, "tests", "s3", "node_modules", "s3rver")
SERVER_JS = os.path.join(HERE, "s3_server.js")
INSTALL = "npm ci --prefix tests/s3"


def missing():
    """Why the store cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs npm)"
    if shutil.which("curl") is None:
        return "curl is not installed"
    if not os.path.isdir(S3RVER_DIR):
        return "s3rver is not installed: run `%s`" % INSTALL
    return None


class S3Store:
    """s3 = S3Store(tmpdir, region, keys).start(); s3.put(...); s3.stop().
    keys: [{"id": ..., "secret": ..., "token": optional}]; the first signs
    the uploads."""

    def __init__(self, tmpdir, region, keys):
        self.tmpdir = str(tmpdir)
        self.region = region
        self.keys = keys
        self.log_path = os.path.join(self.tmpdir, "s3_server.log")
        self.proc = None
        self.endpoint = None

    def start(self, timeout=15.0):
        why = missing()
        if why:
            raise RuntimeError(why)
        data = os.path.join(self.tmpdir, "s3data")
        os.makedirs(data, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["node", SERVER_JS, data, self.region], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log)
        self.proc.stdin.write(json.dumps(self.keys).encode())
        self.proc.stdin.close()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout)
            raise RuntimeError("s3_server.js exited with %s:\n%s"
                               % (self.proc.returncode, self.log()))
        self.endpoint = "http://127.0.0.1:%d" % json.loads(line)["port"]
        return self

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self._log.close()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def url(self, bucket, key=""):
        return "%s/%s/%s" % (self.endpoint, bucket,
                             urllib.parse.quote(key, safe="/-_.~"))

    def request(self, method, url, body=None, key=None, extra=()):
        """curl --aws-sigv4 method url; return (status, body bytes)."""
        k = key or self.keys[0]
        body = body or b""
        argv = ["curl", "-sS", "--max-time", "10", "-X", method,
                "-o", "-", "-w", "\n%{http_code}",
                "--aws-sigv4", "aws:amz:%s:s3" % self.region,
                "--user", "%s:%s" % (k["id"], k["secret"]),
                "-H", "x-amz-content-sha256: "
                + hashlib.sha256(body).hexdigest()]
        if k.get("token"):
            argv += ["-H", "x-amz-security-token: " + k["token"]]
        if body:
            argv += ["-H", "Content-Type: application/octet-stream",
                     "--data-binary", "@-"]
        argv += list(extra) + [url]
        p = subprocess.run(argv, input=body, capture_output=True, timeout=20)
        assert p.returncode == 0, ("curl %s %s: %s" % (method, url,
                                   p.stderr.decode("utf-8", "replace")))
        out, _, code = p.stdout.rpartition(b"\n")
        return int(code), out

    def make_bucket(self, bucket):
        status, out = self.request("PUT", self.url(bucket))
        assert status == 200, (status, out)

    def put(self, bucket, key, data):
        status, out = self.request("PUT", self.url(bucket, key), data)
        assert status == 200, (status, out)
