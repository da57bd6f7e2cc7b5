"""Run policies: retry rules by exit code and reason, back-off between
retries on real timers, a limit on time in queue (QUEUE_TIMEOUT, also
across a restart), TEXT sources for PYTHON and SQL and their bound,
per-run overrides of the timeout and retry strategy, and LogChunks a plain
subscriber reads as the output by default."""

import os
import re
import time

import pytest

from batchd.v1 import batchd_pb2 as pb
from harness import (NatsClient, assert_error, assert_ok, get_cluster,
                     get_run, make_cluster, read_logs, run_events,
                     submit_ok, wait_run, wait_status)

pytestmark = pytest.mark.usefixtures("nats_server")

# Exits with $CODE_<attempt> (default $CODE, default 1); 0 ends it well.
CODED = """\
import os, sys
a = os.environ['BATCHD_ATTEMPT']
print('attempt', a)
sys.exit(int(os.environ.get('CODE_' + a, os.environ.get('CODE', '1'))))
"""

# Hangs on attempt 1, succeeds on the next.
HANG_ONCE = """\
import os, time
if os.environ['BATCHD_ATTEMPT'] == '1':
    time.sleep(30)
print('done')
"""

SLEEP = "import time\ntime.sleep(%d)\n"


def S(v):
    return pb.JobRunStatus.Name(v)


def R(v):
    return pb.StatusReason.Name(v)


def attempts(r):
    return [(a.attempt, S(a.status), R(a.reason),
             a.exit_code if a.HasField("exit_code") else None)
            for a in r.attempts]


def rule(codes=(), reasons=(), action=pb.RETRY):
    return pb.RetryRule(on_exit_codes=list(codes), on_reasons=list(reasons),
                        action=action)


def create(d, ws, name, config):
    rep = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name=name, config=config), pb.JobDefinitionReply, ws=ws)
    assert_ok(rep)
    return rep.job_definition


def ws_config(d, ws, location, code, num_retries=0, delay=0, rules=(),
              env=None, **kw):
    """A WORKSPACE configuration of code, written as location."""
    path = os.path.join(d.ws_root, ws, "jobs", location)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(code)
    c = pb.JobConfig(type=pb.PYTHON, source_location=location, **kw)
    c.source.type = pb.WORKSPACE
    c.source.workspace.path = "jobs"
    c.retry_strategy.num_retries = num_retries
    c.retry_strategy.retry_delay_seconds = delay
    c.retry_strategy.rules.extend(rules)
    for k, v in (env or {}).items():
        c.env[k] = v
    return c


def text_config(text, job_type=pb.PYTHON, location=None):
    c = pb.JobConfig(type=job_type)
    c.source.type = pb.TEXT
    c.source.text.text = text
    if location is not None:
        c.source_location = location
    return c


@pytest.fixture
def cl(run_daemon, ws):
    return make_cluster(run_daemon, ws, "c1")


# ---------------------------------------------------------------- rules

def test_rule_exit_code_retry(run_daemon, ws, cl):
    """An exit code a RETRY rule names is retried; so is one no rule
    names (today's behaviour), until num_retries is spent."""
    d = run_daemon
    jd = create(d, ws, "coded", ws_config(
        d, ws, "coded.py", CODED, num_retries=3,
        rules=[rule(codes=[3, 4]), rule(codes=[9], action=pb.EXIT)],
        env={"CODE_1": "4", "CODE_2": "7", "CODE_3": "0"}))
    rs = jd.config.retry_strategy
    assert [(list(r.on_exit_codes), r.action) for r in rs.rules] == [
        ([3, 4], pb.RETRY), ([9], pb.EXIT)]
    r = wait_run(d, ws, submit_ok(d, ws, jd.uuid, cl.uuid).uuid)
    assert attempts(r) == [(1, "FAILED", "NON_ZERO_EXIT_CODE", 4),
                           (2, "FAILED", "NON_ZERO_EXIT_CODE", 7),
                           (3, "SUCCEEDED", R(r.attempts[2].reason), 0)]
    assert r.status == pb.SUCCEEDED


def test_rule_exit_code_exit(run_daemon, ws, cl):
    """An exit code an EXIT rule names ends the run at once, retries
    left or not, and the reason says which rule."""
    d = run_daemon
    jd = create(d, ws, "coded", ws_config(
        d, ws, "coded.py", CODED, num_retries=5,
        rules=[rule(codes=[3]), rule(codes=[2, 9], action=pb.EXIT)],
        env={"CODE": "9"}))
    r = wait_run(d, ws, submit_ok(d, ws, jd.uuid, cl.uuid).uuid)
    assert attempts(r) == [(1, "FAILED", "NON_ZERO_EXIT_CODE", 9)]
    assert (r.status, r.reason) == (pb.FAILED, pb.NON_ZERO_EXIT_CODE)
    assert "retry rule 2 says EXIT" in r.reason_text, r.reason_text


def test_rule_reason_match(run_daemon, ws, cl):
    """A TIMEOUT rule retries a timeout without auto_retry_on_timeout;
    a NON_ZERO_EXIT_CODE rule with EXIT ends a failed run at once."""
    d = run_daemon
    jd = create(d, ws, "hang", ws_config(
        d, ws, "hang.py", HANG_ONCE, num_retries=1, timeout_seconds=1,
        rules=[rule(reasons=[pb.TIMEOUT])]))
    assert not jd.config.retry_strategy.auto_retry_on_timeout
    r = wait_run(d, ws, submit_ok(d, ws, jd.uuid, cl.uuid).uuid)
    assert [a[:3] for a in attempts(r)] == [
        (1, "FAILED", "TIMEOUT"), (2, "SUCCEEDED", R(r.attempts[1].reason))]
    jd2 = create(d, ws, "fails", ws_config(
        d, ws, "fails.py", CODED, num_retries=4,
        rules=[rule(reasons=[pb.KILLED_BY_SIGNAL]),
               rule(reasons=[pb.NON_ZERO_EXIT_CODE], action=pb.EXIT)]))
    r = wait_run(d, ws, submit_ok(d, ws, jd2.uuid, cl.uuid).uuid)
    assert attempts(r) == [(1, "FAILED", "NON_ZERO_EXIT_CODE", 1)]
    assert "retry rule 2 says EXIT" in r.reason_text, r.reason_text


def test_rule_no_match(run_daemon, ws, cl):
    """No rule matching keeps today's behaviour: a failure is retried
    while num_retries allows, a timeout only with auto_retry_on_timeout."""
    d = run_daemon
    jd = create(d, ws, "coded", ws_config(
        d, ws, "coded.py", CODED, num_retries=1,
        rules=[rule(codes=[3], action=pb.EXIT)], env={"CODE": "5"}))
    r = wait_run(d, ws, submit_ok(d, ws, jd.uuid, cl.uuid).uuid)
    assert attempts(r) == [(1, "FAILED", "NON_ZERO_EXIT_CODE", 5),
                           (2, "FAILED", "NON_ZERO_EXIT_CODE", 5)]
    assert "says EXIT" not in r.reason_text
    jd2 = create(d, ws, "hang", ws_config(
        d, ws, "hang.py", HANG_ONCE, num_retries=2, timeout_seconds=1,
        rules=[rule(codes=[3])]))
    r = wait_run(d, ws, submit_ok(d, ws, jd2.uuid, cl.uuid).uuid)
    assert [a[:3] for a in attempts(r)] == [(1, "FAILED", "TIMEOUT")]


# ---------------------------------------------------------------- back-off

def chosen_delays(d, ws, uuid):
    """The delay each RETRY_PENDING event announced, in seconds."""
    out = []
    for e in run_events(d, ws, uuid):
        if e.reason == pb.RETRY_PENDING:
            m = re.search(r"attempt \d+ of \d+ in ([0-9.]+)s\)",
                          e.reason_text)
            assert m, e.reason_text
            out.append(float(m.group(1)))
    return out


def gaps(r):
    """Seconds from the end of each attempt to the start of the next."""
    return [(r.attempts[i + 1].started_at_ms - r.attempts[i].finished_at_ms)
            / 1000.0 for i in range(len(r.attempts) - 1)]


def test_backoff_delays_on_real_timers(run_daemon, ws, cl):
    """1 s, doubled, at most 3 s, up to 10 % jitter: the delays chosen are
    within [base, base * 1.1] and the timers wait them out; a fixed delay
    (no multiplier) gets no jitter."""
    d = run_daemon
    c = ws_config(d, ws, "fail.py", CODED, num_retries=3, delay=1)
    c.retry_strategy.backoff_multiplier = 2
    c.retry_strategy.max_retry_delay_seconds = 3
    jd = create(d, ws, "backoff", c)
    assert jd.config.retry_strategy.backoff_multiplier == 2
    fixed = create(d, ws, "fixed", ws_config(d, ws, "fail.py", CODED,
                                             num_retries=2, delay=1))
    assert fixed.config.retry_strategy.backoff_multiplier == 1
    r = wait_run(d, ws, submit_ok(d, ws, jd.uuid, cl.uuid).uuid,
                 timeout=40)
    assert len(r.attempts) == 4, attempts(r)
    want = [1.0, 2.0, 3.0]
    chosen = chosen_delays(d, ws, r.uuid)
    assert len(chosen) == 3
    for base, got, gap in zip(want, chosen, gaps(r)):
        assert base <= got <= base * 1.1 + 0.001, (want, chosen)
        # The timer fires no earlier, and not much later. The stamps are
        # wall-clock ms (the timer's clock is monotonic): a VM's clock
        # corrections move them by a few ms, so 20 ms of slack early.
        assert got - 0.020 <= gap <= got + 1.0, (chosen, gaps(r))
    r = wait_run(d, ws, submit_ok(d, ws, fixed.uuid, cl.uuid).uuid,
                 timeout=30)
    assert chosen_delays(d, ws, r.uuid) == [1.0, 1.0]
    for gap in gaps(r):
        assert 0.980 <= gap <= 2.0, gaps(r)


# ---------------------------------------------------------------- time in queue

def test_queue_timeout_next_run_starts(run_daemon, ws, cl, bus_watch):
    """While a long run holds the cluster, a run queued with
    max_queue_seconds = 1 ends CANCELLED with QUEUE_TIMEOUT after a
    second; its place goes to the next, which starts when the cluster is
    free. A run that starts in time is not touched by its deadline."""
    d = run_daemon
    w = bus_watch(d, ws)
    hold = create(d, ws, "hold", ws_config(d, ws, "hold.py", SLEEP % 3))
    quick = create(d, ws, "quick", ws_config(d, ws, "quick.py",
                                             "print('ok')\n",
                                             max_queue_seconds=2))
    assert quick.config.max_queue_seconds == 2
    a = submit_ok(d, ws, hold.uuid, cl.uuid)
    wait_status(d, ws, a.uuid, pb.RUNNING)
    t0 = time.monotonic()
    req = pb.SubmitJobRunRequest(job_definition_uuid=quick.uuid,
                                 cluster_uuid=cl.uuid, max_queue_seconds=1)
    rep = d.call("run.submit", req, pb.JobRunReply, ws=ws)
    assert_ok(rep)
    b = rep.job_run
    assert b.config.max_queue_seconds == 1
    assert b.queue_deadline_ms == b.submitted_at_ms + 1000
    c = submit_ok(d, ws, quick.uuid, cl.uuid)      # its own 2 s: too late
    e = submit_ok(d, ws, hold.uuid, cl.uuid)        # no limit
    assert c.queue_position == 2
    rb = wait_status(d, ws, b.uuid, pb.CANCELLED, timeout=10)
    waited = time.monotonic() - t0
    assert 0.9 <= waited <= 3.0, waited
    assert (rb.reason, rb.attempt, list(rb.attempts)) == (
        pb.QUEUE_TIMEOUT, 0, [])
    assert rb.reason_text.startswith("QueueTimeout"), rb.reason_text
    assert rb.queue_position == 0
    evs = w.events_terminal(b.uuid)
    assert [(S(x.status), R(x.reason)) for x in evs] == [
        ("PENDING", "IN_QUEUE"), ("CANCELLED", "QUEUE_TIMEOUT")]
    rc = wait_status(d, ws, c.uuid, pb.CANCELLED, timeout=10)
    assert rc.reason == pb.QUEUE_TIMEOUT
    # Only e waits now, first in line; the holder still runs.
    assert get_run(d, ws, e.uuid).queue_position == 1
    assert get_cluster(d, ws, cl.uuid).cluster.queued == 1
    assert get_run(d, ws, a.uuid).status == pb.RUNNING
    assert wait_run(d, ws, a.uuid).status == pb.SUCCEEDED
    re_ = wait_status(d, ws, e.uuid, pb.RUNNING, timeout=10)
    assert re_.attempt == 1
    # A run that starts at once keeps its deadline and is not touched.
    idle = make_cluster(d, ws, "idle")
    f = submit_ok(d, ws, quick.uuid, idle.uuid)
    assert wait_run(d, ws, f.uuid).status == pb.SUCCEEDED
    time.sleep(2.2)
    assert get_run(d, ws, f.uuid).status == pb.SUCCEEDED


def test_queue_timeout_survives_restart(run_daemon, ws, cl):
    """The queue deadline is kept: batchd restarted while a run waits
    still cancels it on time; one that ran out while batchd was down is
    cancelled as it comes back."""
    d = run_daemon
    hold = create(d, ws, "hold", ws_config(d, ws, "hold.py", SLEEP % 30))
    quick = create(d, ws, "quick", ws_config(d, ws, "quick.py",
                                             "print('ok')\n"))
    a = submit_ok(d, ws, hold.uuid, cl.uuid)
    wait_status(d, ws, a.uuid, pb.RUNNING)
    t0 = time.monotonic()
    reqs = [pb.SubmitJobRunRequest(job_definition_uuid=quick.uuid,
                                   cluster_uuid=cl.uuid,
                                   max_queue_seconds=s) for s in (1, 4)]
    runs = []
    for req in reqs:
        rep = d.call("run.submit", req, pb.JobRunReply, ws=ws)
        assert_ok(rep)
        runs.append(rep.job_run)
    d.stop()
    time.sleep(max(0.0, 1.5 - (time.monotonic() - t0)))
    d.start()
    r1 = wait_status(d, ws, runs[0].uuid, pb.CANCELLED, timeout=5)
    assert r1.reason == pb.QUEUE_TIMEOUT
    assert get_run(d, ws, runs[1].uuid).status == pb.PENDING
    r2 = wait_status(d, ws, runs[1].uuid, pb.CANCELLED, timeout=10)
    waited = time.monotonic() - t0
    assert r2.reason == pb.QUEUE_TIMEOUT
    assert 3.9 <= waited <= 7.0, waited
    assert get_run(d, ws, a.uuid).status == pb.RUNNING
    assert get_cluster(d, ws, cl.uuid).cluster.queued == 0


# ---------------------------------------------------------------- TEXT

def test_text_source_python_and_sql(run_daemon, ws, cl):
    """The code itself in the configuration: PYTHON in main.py (or the
    file named), SQL in main.sql, each run from the attempt's directory."""
    d = run_daemon
    py = create(d, ws, "py", text_config(
        "import os, sys\nprint('inline', sys.argv[1:], "
        "os.path.basename(__file__))\n"))
    assert py.config.source.type == pb.TEXT
    assert py.config.source_location == "main.py"
    named = create(d, ws, "named", text_config("print('named')\n",
                                               location="job.py"))
    sql = create(d, ws, "sql", text_config("select 6 * 7;\n", pb.SQL))
    assert sql.config.source_location == "main.sql"
    want = {py.uuid: b"inline ['a', 'b c'] main.py\n",
            named.uuid: b"named\n", sql.uuid: b"42\n"}
    for uuid, out in want.items():
        kw = {"args": "a 'b c'"} if uuid == py.uuid else {}
        r = wait_run(d, ws, submit_ok(d, ws, uuid, cl.uuid, **kw).uuid)
        assert r.status == pb.SUCCEEDED, (r.reason_text, r)
        assert r.config.source.text.text
        assert read_logs(d, ws, r.uuid)[0] == out


def test_text_source_bounds(daemon_factory, ws):
    """At most 256 KiB of text; required; its file a name without '/'."""
    d = daemon_factory().start()
    pad = "print('x')\n"
    big = pad + "#" * (256 * 1024 - len(pad) - 1) + "\n"
    assert len(big.encode()) == 256 * 1024
    jd = create(d, ws, "big", text_config(big))
    assert len(jd.config.source.text.text) == 256 * 1024
    cases = [(text_config(big + "#"), "config.source.text.text"),
             (text_config(""), "config.source.text.text"),
             (text_config(pad, location="sub/x.py"), "config.source_location"),
             (text_config(pad, location=".."), "config.source_location")]
    c = text_config(pad)
    c.source.ClearField("text")
    c.source.workspace.path = "jobs"
    cases.append((c, "config.source"))
    for config, field in cases:
        rep = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
            name="bad", config=config), pb.JobDefinitionReply, ws=ws)
        assert_error(rep, pb.INVALID_ARGUMENT, field)
        rep = d.call("jobdef.update", pb.UpdateJobDefinitionRequest(
            uuid=jd.uuid, config=config), pb.JobDefinitionReply, ws=ws)
        assert_error(rep, pb.INVALID_ARGUMENT, field)
    rep = d.call("jobdef.list", pb.ListJobDefinitionsRequest(),
                 pb.ListJobDefinitionsReply, ws=ws)
    assert [x.name for x in rep.job_definitions] == ["big"]
    got = d.call("jobdef.get", pb.GetJobDefinitionRequest(uuid=jd.uuid),
                 pb.JobDefinitionReply, ws=ws).job_definition
    assert got.config.source.text.text == big


# ---------------------------------------------------------------- overrides

def test_per_run_overrides(run_daemon, ws, cl):
    """timeout_seconds and retry_strategy of run.submit replace the
    definition's for that run only; its config shows them."""
    d = run_daemon
    jd = create(d, ws, "hang", ws_config(d, ws, "hang.py", HANG_ONCE))
    assert jd.config.timeout_seconds == 3600
    req = pb.SubmitJobRunRequest(job_definition_uuid=jd.uuid,
                                 cluster_uuid=cl.uuid, timeout_seconds=1)
    req.retry_strategy.num_retries = 1
    req.retry_strategy.auto_retry_on_timeout = True
    rep = d.call("run.submit", req, pb.JobRunReply, ws=ws)
    assert_ok(rep)
    run = rep.job_run
    assert run.config.timeout_seconds == 1
    rs = run.config.retry_strategy
    assert (rs.num_retries, rs.retry_delay_seconds,
            rs.auto_retry_on_timeout) == (1, 0, True)
    r = wait_run(d, ws, run.uuid)
    assert [a[:3] for a in attempts(r)] == [
        (1, "FAILED", "TIMEOUT"), (2, "SUCCEEDED", R(r.attempts[1].reason))]
    # Rules given per run replace the definition's.
    req = pb.SubmitJobRunRequest(job_definition_uuid=jd.uuid,
                                 cluster_uuid=cl.uuid, timeout_seconds=1)
    req.retry_strategy.num_retries = 3
    req.retry_strategy.rules.append(rule(reasons=[pb.TIMEOUT],
                                         action=pb.EXIT))
    r = wait_run(d, ws, submit_via(d, ws, req).uuid)
    assert [a[:3] for a in attempts(r)] == [(1, "FAILED", "TIMEOUT")]
    assert r.config.retry_strategy.num_retries == 3
    # The definition and another run of it are as they were.
    plain = submit_ok(d, ws, jd.uuid, cl.uuid)
    assert plain.config.timeout_seconds == 3600
    assert plain.config.retry_strategy.num_retries == 0
    assert not plain.config.retry_strategy.rules
    rep = d.call("run.cancel", pb.CancelJobRunRequest(uuid=plain.uuid),
                 pb.JobRunReply, ws=ws)
    assert_ok(rep)


def submit_via(d, ws, req):
    rep = d.call("run.submit", req, pb.JobRunReply, ws=ws)
    assert_ok(rep)
    return rep.job_run


def test_bad_overrides_change_nothing(daemon_factory, ws):
    d = daemon_factory().start()
    jd = create(d, ws, "x", ws_config(d, ws, "x.py", "print(1)\n"))
    c = make_cluster(d, ws, "c")
    nan = float("nan")

    def req(**kw):
        r = pb.SubmitJobRunRequest(job_definition_uuid=jd.uuid,
                                   cluster_uuid=c.uuid)
        rs = kw.pop("rs", {})
        rules = kw.pop("rules", None)
        for k, v in kw.items():
            setattr(r, k, v)
        for k, v in rs.items():
            setattr(r.retry_strategy, k, v)
        if rules is not None:
            r.retry_strategy.rules.extend(rules)
        return r

    cases = [
        (req(timeout_seconds=0), "timeout_seconds"),
        (req(timeout_seconds=7 * 86400 + 1), "timeout_seconds"),
        (req(max_queue_seconds=0), "max_queue_seconds"),
        (req(max_queue_seconds=30 * 86400 + 1), "max_queue_seconds"),
        (req(rs={"num_retries": 101}), "retry_strategy.num_retries"),
        (req(rs={"retry_delay_seconds": 7 * 86400 + 1}),
         "retry_strategy.retry_delay_seconds"),
        (req(rs={"backoff_multiplier": 0.99}),
         "retry_strategy.backoff_multiplier"),
        (req(rs={"backoff_multiplier": nan}),
         "retry_strategy.backoff_multiplier"),
        (req(rs={"backoff_multiplier": 101}),
         "retry_strategy.backoff_multiplier"),
        (req(rs={"max_retry_delay_seconds": 0}),
         "retry_strategy.max_retry_delay_seconds"),
        (req(rules=[rule(codes=[1])] * 9), "retry_strategy.rules"),
        (req(rules=[rule(codes=[1]), rule()]), "retry_strategy.rules[1]"),
        (req(rules=[rule(codes=[0])]),
         "retry_strategy.rules[0].on_exit_codes[0]"),
        (req(rules=[rule(codes=[2, 256])]),
         "retry_strategy.rules[0].on_exit_codes[1]"),
        (req(rules=[rule(codes=[-1])]),
         "retry_strategy.rules[0].on_exit_codes[0]"),
        (req(rules=[rule(codes=list(range(1, 256)) * 2)]),
         "retry_strategy.rules[0].on_exit_codes"),
        (req(rules=[rule(reasons=[pb.CANCELLED_BY_USER])]),
         "retry_strategy.rules[0].on_reasons"),
        (req(rules=[rule(reasons=[99])]),
         "retry_strategy.rules[0].on_reasons"),
        (req(rules=[rule(codes=[1], action=pb.RETRY_ACTION_UNSPECIFIED)]),
         "retry_strategy.rules[0].action"),
        (req(rules=[rule(codes=[1], action=7)]),
         "retry_strategy.rules[0].action"),
    ]
    for r, field in cases:
        assert_error(d.call("run.submit", r, pb.JobRunReply, ws=ws),
                     pb.INVALID_ARGUMENT, field)
    rep = d.call("run.list", pb.ListJobRunsRequest(), pb.ListJobRunsReply,
                 ws=ws)
    assert_ok(rep)
    assert list(rep.job_runs) == []
    # The same fields of a definition, named under config.
    cfg = ws_config(d, ws, "x.py", "print(1)\n")
    cfg.retry_strategy.backoff_multiplier = 0.5
    assert_error(d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name="y", config=cfg), pb.JobDefinitionReply, ws=ws),
        pb.INVALID_ARGUMENT, "config.retry_strategy.backoff_multiplier")
    cfg = ws_config(d, ws, "x.py", "print(1)\n", max_queue_seconds=0)
    assert_error(d.call("jobdef.update", pb.UpdateJobDefinitionRequest(
        uuid=jd.uuid, config=cfg), pb.JobDefinitionReply, ws=ws),
        pb.INVALID_ARGUMENT, "config.max_queue_seconds")
    cfg = ws_config(d, ws, "x.py", "print(1)\n",
                    rules=[rule(reasons=[pb.QUEUE_TIMEOUT])])
    assert_error(d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name="y", config=cfg), pb.JobDefinitionReply, ws=ws),
        pb.INVALID_ARGUMENT, "config.retry_strategy.rules[0].on_reasons")


# ---------------------------------------------------------------- log chunks

LINES = """\
import sys
for i in range(20000):
    sys.stdout.write('line %06d of a log that compresses well\\n' % i)
"""


def test_plain_subscriber_reads_data(run_daemon, ws, cl):
    """By default a subscriber that knows only LogChunk's data and offset
    rebuilds the output byte for byte: nothing is compressed."""
    d = run_daemon
    nc = NatsClient(d.nats_host, d.nats_port)
    try:
        sub = nc.subscribe("%s.v1.%s.logs.>" % (d.prefix, ws))
        nc.flush()
        jd = create(d, ws, "lines", ws_config(d, ws, "lines.py", LINES))
        r = wait_run(d, ws, submit_ok(d, ws, jd.uuid, cl.uuid).uuid)
        assert r.status == pb.SUCCEEDED
        got, eof = bytearray(), None
        deadline = time.monotonic() + 20
        while eof is None or len(got) < eof:
            assert time.monotonic() < deadline, (len(got), eof)
            _, data = sub.next(5.0)
            ch = pb.LogChunk.FromString(data)
            if ch.stream != pb.STDOUT:
                continue
            assert ch.encoding == pb.IDENTITY
            got[ch.offset:ch.offset + len(ch.data)] = ch.data
            if ch.eof:
                eof = ch.offset
        with open(os.path.join(d.data_dir, "logs", r.uuid, "1.stdout"),
                  "rb") as f:
            want = f.read()
        assert len(want) > 500000
        assert bytes(got) == want
    finally:
        nc.close()
