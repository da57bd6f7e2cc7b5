"""What operators touch: make install into a DESTDIR, the systemd unit
(verify, security exposure), sd_notify (READY, STATUS, WATCHDOG, STOPPING),
the HTTP endpoint (/metrics, /healthz, /readyz) and --check-config."""

import os
import re
import shutil
import socket
import subprocess

import pytest

import harness
from harness import _pb, assert_ok, http_get

pb = _pb()


def build_dir():
    return os.path.dirname(os.path.abspath(harness.BATCHD_BIN))


def make_vars():
    """The make variables that name the binaries under test."""
    b = os.path.relpath(build_dir(), harness.REPO_ROOT)
    v = ["B=" + b]
    if b.endswith("san"):
        v.append("SANITIZE=address,undefined")
    return v


@pytest.fixture(scope="module")
def destdir(tmp_path_factory):
    dest = str(tmp_path_factory.mktemp("destdir"))
    subprocess.run(["make", "-s", "--no-print-directory", "install",
                    "DESTDIR=" + dest, "PREFIX=/usr/local",
                    "SYSCONFDIR=/etc"] + make_vars(),
                   cwd=harness.REPO_ROOT, check=True)
    return dest


def test_install_layout(destdir):
    for rel in ["usr/local/sbin/batchd", "usr/local/bin/batchctl"]:
        assert os.access(os.path.join(destdir, rel), os.X_OK), rel
    for rel in ["usr/local/lib/systemd/system/batchd.service",
                "usr/local/lib/sysusers.d/batchd.conf",
                "usr/local/lib/tmpfiles.d/batchd.conf",
                "etc/batchd/batchd.conf",
                "usr/local/share/man/man8/batchd.8",
                "usr/local/share/batchd/console/index.html",
                "usr/local/share/batchd/console/console.js"]:
        assert os.path.isfile(os.path.join(destdir, rel)), rel
    unit = open(os.path.join(
        destdir, "usr/local/lib/systemd/system/batchd.service")).read()
    assert "ExecStart=/usr/local/sbin/batchd -c /etc/batchd/batchd.conf" \
        in unit
    assert "@PREFIX@" not in unit and "@SYSCONFDIR@" not in unit


def test_installed_config_checks(destdir):
    out = subprocess.run(
        [os.path.join(destdir, "usr/local/sbin/batchd"), "-c",
         os.path.join(destdir, "etc/batchd/batchd.conf"), "--check-config"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "queue_cap = 100" in out.stdout


def test_unit_verifies(destdir, tmp_path):
    # verify checks that ExecStart is executable: point it at the staged
    # binary, since the unit names its final place.
    unit = open(os.path.join(
        destdir, "usr/local/lib/systemd/system/batchd.service")).read()
    staged = unit.replace("/usr/local/sbin/batchd",
                          os.path.join(destdir, "usr/local/sbin/batchd"))
    path = tmp_path / "batchd.service"
    path.write_text(staged)
    out = subprocess.run(["systemd-analyze", "verify", "--man=no",
                          str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="no systemd-analyze")
def test_unit_security_exposure(destdir):
    """The unit delegates what the sandbox needs (user, mount and PID
    namespaces, the mount calls, a cgroup subtree) and scores at most
    2.0."""
    unit = os.path.join(destdir,
                        "usr/local/lib/systemd/system/batchd.service")
    out = subprocess.run(["systemd-analyze", "security", "--offline=true",
                          "--no-pager", "--threshold=20", unit],
                         capture_output=True, text=True)
    m = re.search(r"Overall exposure level for batchd\.service: ([0-9.]+)",
                  out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    assert float(m.group(1)) <= 2.0, out.stdout
    assert out.returncode == 0, out.stdout + out.stderr   # --threshold=20
    text = open(unit).read()
    settings = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            settings.setdefault(k, []).append(v)
    assert settings["RestrictNamespaces"] == ["user mnt pid"], settings
    assert settings["Delegate"] == ["yes"], settings
    assert "ProtectControlGroups" not in settings, settings
    denied = " ".join(v[1:] for v in settings["SystemCallFilter"]
                      if v.startswith("~")).split()
    for call in ("@mount", "@privileged", "mount", "umount2",
                 "pivot_root"):
        assert call not in denied, denied
    assert "@mount" in settings["SystemCallFilter"][0].split(), settings


def test_bad_config_exit_code(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("queue_cap = 3\nbogus = 1\n")
    out = subprocess.run([harness.BATCHD_BIN, "-c", str(conf)],
                         capture_output=True, text=True)
    assert out.returncode == 78
    assert "bad.conf:2" in out.stderr and "bogus" in out.stderr
    out = subprocess.run([harness.BATCHD_BIN, "--nope"],
                         capture_output=True, text=True)
    assert out.returncode == 64


def recv_all(sock, until, timeout=10.0):
    """Notifications until one contains `until`; returns all text."""
    sock.settimeout(timeout)
    got = []
    while True:
        msg = sock.recv(4096).decode()
        got.append(msg)
        if until in msg:
            return "\n".join(got)


def test_sd_notify_ready_watchdog_stopping(daemon_factory, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    d = daemon_factory(env={"NOTIFY_SOCKET": path,
                            "WATCHDOG_USEC": "200000"})
    d.start()
    text = recv_all(sock, "READY=1")
    text += recv_all(sock, "WATCHDOG=1")
    assert "STATUS=" in text
    d.stop()
    text += recv_all(sock, "STOPPING=1")
    sock.close()


def test_http_metrics_health_ready(daemon_factory, ws):
    port = harness.free_port()
    d = daemon_factory(env={"BATCHD_HTTP_LISTEN": "127.0.0.1:%d" % port})
    d.start()
    assert http_get(port, "/healthz")[0] == 200
    assert http_get(port, "/readyz")[0] == 200
    r = d.call("cluster.create", pb.CreateClusterRequest(
        name='we"ird\\name', config=pb.ClusterConfig(
            instance_type="local", workers_quantity=1, version="3")),
        pb.ClusterReply, ws=ws)
    assert_ok(r)
    d.call("cluster.create", pb.CreateClusterRequest(), pb.ClusterReply,
           ws=ws)
    code, body = http_get(port, "/metrics")
    assert code == 200
    assert re.search(r'batchd_requests_total\{verb="cluster.create",'
                     r'code="OK"\} [1-9]', body)
    assert re.search(r'batchd_requests_total\{verb="cluster.create",'
                     r'code="INVALID_ARGUMENT"\} [1-9]', body)
    assert 'batchd_request_duration_seconds_bucket{verb="cluster.create",' \
        'le="+Inf"}' in body
    assert 'name="we\\"ird\\\\name"' in body
    assert re.search(r"batchd_lmdb_map_used_bytes [1-9]", body)
    assert "batchd_nats_connected 1" in body
    assert http_get(port, "/nope")[0] == 404


def test_readyz_follows_nats(make_nats, daemon_factory):
    srv = make_nats()
    srv.start()
    port = harness.free_port()
    d = daemon_factory(nats_url=srv.url,
                       env={"BATCHD_HTTP_LISTEN": "127.0.0.1:%d" % port})
    d.start()
    assert http_get(port, "/readyz")[0] == 200
    srv.stop()
    harness.wait_until(lambda: http_get(port, "/readyz")[0] == 503, 10,
                       what="readyz 503 without NATS")
    assert http_get(port, "/healthz")[0] == 200
    code, body = http_get(port, "/metrics")
    assert "batchd_nats_connected 0" in body
    srv.start()
    harness.wait_until(lambda: http_get(port, "/readyz")[0] == 200, 15,
                       what="readyz 200 after NATS is back")
    d.wait_ready(15)
    code, body = http_get(port, "/metrics")
    assert re.search(r"batchd_nats_reconnects_total [1-9]", body)
