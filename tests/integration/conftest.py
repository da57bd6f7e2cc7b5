"""Fixtures for the batchd integration tests.

  nats_server      module scope: a nats-server on 127.0.0.1:<free port>
  daemon_factory   function scope: make(**kw) -> Daemon (not started);
                   kw: nats_url, prefix, env, tmpdir. Every Daemon made is
                   stopped (SIGTERM, exit 0 required) and checked for
                   sanitizer reports at teardown.
  daemon           function scope: a started Daemon on nats_server
  ws               function scope: a workspace name unique to the test
  make_nats        function scope: make(port=None, ws_port=None,
                   ws_conf="") -> NatsServer (not started; ws_port: a
                   WebSocket listener too, ws_conf lines in its block),
                   stopped at teardown

On a test failure the tail of every batchd stderr log the test used is
attached to the report.
"""

import glob
import os
import re
import shutil
import sys
import tempfile

import pytest

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import harness  # noqa: E402

harness.setup_pb_path()

from batchd.v1 import batchd_pb2 as pb  # noqa: E402,F401  (fail early)


def pytest_configure(config):
    """As root, batchd runs jobs as their workspace's uid, which must pass
    through the directories above each test's data_dir. pytest keeps
    /tmp/pytest-of-root at 0700 and puts it back so whenever any pytest
    session starts; so the tests' temporary directories go to one of this
    session's own instead (the three newest are kept, as pytest does)."""
    if os.geteuid() != 0 or config.option.basetemp:
        return
    tmp = tempfile.gettempdir()
    old = sorted(glob.glob(os.path.join(tmp, "batchd-pytest-*")),
                 key=os.path.getmtime)
    for d in old[:-2]:
        shutil.rmtree(d, ignore_errors=True)
    top = tempfile.mkdtemp(prefix="batchd-pytest-", dir=tmp)
    os.chmod(top, 0o711)
    config.option.basetemp = os.path.join(top, "t")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    # Teardown failures already carry the tail in their message.
    if rep.failed and rep.when != "teardown":
        for d in getattr(item, "_batchd_daemons", ()):
            if not os.path.exists(d.stderr_path):
                continue
            rep.sections.append(("batchd stderr %s" % d.tmpdir,
                                 d.log_tail(80)))


@pytest.fixture(autouse=True)
def jobs_write_tmp_path(request):
    """As root, batchd runs jobs as their workspace's uid: tests whose jobs
    leave marks in tmp_path (gates, order files) need it open to them, as
    /tmp is (1777), and passable on the way."""
    if os.geteuid() == 0 and "tmp_path" in request.fixturenames:
        tmp = request.getfixturevalue("tmp_path")
        os.chmod(str(tmp), 0o1777)
        harness.passable(str(tmp / "x"))


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory):
    srv = harness.NatsServer(str(tmp_path_factory.mktemp("nats")))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def make_nats(tmp_path):
    servers = []

    def make(port=None, ws_port=None, ws_conf=""):
        srv = harness.NatsServer(str(tmp_path / "nats"), port=port,
                                 ws_port=ws_port, ws_conf=ws_conf)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def daemon_factory(request, tmp_path):
    daemons = []
    request.node._batchd_daemons = daemons

    def make(nats_url=None, prefix="batchd", env=None, tmpdir=None):
        if nats_url is None:
            nats_url = request.getfixturevalue("nats_server").url
        if tmpdir is None:
            tmpdir = tmp_path / ("batchd%d" % len(daemons))
        os.makedirs(str(tmpdir), exist_ok=True)
        d = harness.Daemon(str(tmpdir), nats_url, prefix=prefix, env=env)
        daemons.append(d)
        return d

    yield make
    errors = []
    for d in daemons:
        try:
            d.close()
        except AssertionError as exc:
            errors.append(str(exc))
    if errors:
        pytest.fail("batchd teardown:\n" + "\n\n".join(errors),
                    pytrace=False)


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory().start()


@pytest.fixture
def ws(request):
    """A workspace name unique to this test: [A-Za-z0-9_-]{1,64}."""
    base = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)
    return "%s-%s" % (base[:50], os.urandom(4).hex())


@pytest.fixture
def run_daemon_factory(daemon_factory):
    """make(env=None, nats_url=None) -> Daemon (not started) for the
    job-run tests: kill grace 1 s and the python of the tests as the jobs'
    interpreter (not a PATH lookup that may find a pyenv shim), env added.
    At teardown the attempts' shims still running are stopped (SIGTERM, as
    a cancel does): attempts outlive batchd, and tests leave no jobs
    behind."""
    made = []

    def make(env=None, nats_url=None):
        e = {"BATCHD_KILL_GRACE_S": "1", "BATCHD_PYTHON": sys.executable}
        e.update(env or {})
        d = daemon_factory(env=e, nats_url=nats_url)
        made.append(d)
        return d

    yield make
    for d in made:
        harness.stop_shims(d)


@pytest.fixture
def run_daemon(run_daemon_factory):
    """A started Daemon of run_daemon_factory."""
    return run_daemon_factory().start()


@pytest.fixture
def bus_watch():
    """watch(daemon, ws) -> harness.BusWatch subscribed now; closed at
    teardown."""
    watches = []

    def make(d, ws):
        w = harness.BusWatch(d, ws)
        watches.append(w)
        return w

    yield make
    for w in watches:
        w.close()
