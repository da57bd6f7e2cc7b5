"""Bad input on every subject: garbage, an empty payload, a message of
another type, a payload over max_message_bytes, invalid UTF-8 in every
string field, unknown enum values, absurd page sizes and counts, unknown
verbs and bad workspace names.

Every request gets a reply; a refused one carries INVALID_ARGUMENT with a
message and the field at fault; a list verb may take an empty payload as
"all defaults" and then answers normally. Nothing changes: jobdef.list,
cluster.list, run.list and every run's history of two workspaces are the
same before and after, although each bad request is built on a valid
request that would change them (test_base_requests_are_valid proves that
on a scratch workspace). The daemons stay up and answer.

Two daemons share a nats-server: "small" with max_message_bytes 4096 (most
cases) and "big" (prefix bigd, the default 1 MiB) for counts of 100000.
"""

import os

import pytest

import harness
from harness import NatsTimeout, _pb

pb = _pb()

LIMIT = 4096

REPLY = {
    "jobdef.create": pb.JobDefinitionReply,
    "jobdef.get": pb.JobDefinitionReply,
    "jobdef.list": pb.ListJobDefinitionsReply,
    "jobdef.update": pb.JobDefinitionReply,
    "jobdef.delete": pb.DeleteReply,
    "cluster.create": pb.ClusterReply,
    "cluster.get": pb.ClusterReply,
    "cluster.list": pb.ListClustersReply,
    "cluster.pause": pb.ClusterReply,
    "cluster.resume": pb.ClusterReply,
    "cluster.delete": pb.DeleteReply,
    "run.submit": pb.JobRunReply,
    "run.submit_sql": pb.JobRunReply,
    "run.submit_batch": pb.SubmitJobRunsReply,
    "run.rerun": pb.SubmitJobRunsReply,
    "run.get": pb.JobRunReply,
    "run.cancel": pb.JobRunReply,
    "run.cancel_all": pb.CancelJobRunsReply,
    "run.list": pb.ListJobRunsReply,
    "run.logs": pb.JobRunLogsReply,
    "run.events": pb.JobRunEventsReply,
    "schedule.create": pb.ScheduleReply,
    "schedule.get": pb.ScheduleReply,
    "schedule.list": pb.ListSchedulesReply,
    "schedule.update": pb.ScheduleReply,
    "schedule.delete": pb.DeleteReply,
    "schedule.pause": pb.ScheduleReply,
    "schedule.resume": pb.ScheduleReply,
    "schedule.trigger": pb.JobRunReply,
}
VERBS = sorted(REPLY)
LIST_VERBS = ("jobdef.list", "cluster.list", "run.list", "schedule.list")
LIST_ITEMS = {"jobdef.list": "job_definitions", "cluster.list": "clusters",
              "run.list": "job_runs", "schedule.list": "schedules"}

SLEEP = "import time\ntime.sleep(120)\n"
HELLO = "print('hello')\n"


# ---------------------------------------------------------------- wire

def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def f_len(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def padded(msg, total):
    """msg serialized, then an unknown field 1000 making it total bytes."""
    data = msg.SerializeToString()
    for k in range(total - len(data), -1, -1):
        pad = f_len(1000, b"x" * k)
        if len(data) + len(pad) == total:
            return data + pad
    raise AssertionError("cannot pad to %d" % total)


PH = "QZQZ"     # placeholder of 4 bytes, swapped for bad bytes on the wire

BAD_UTF8 = (
    b"\xff\xfe\xfd\xfc",    # bytes that never occur in UTF-8
    b"ab\xc3\x28",          # a lead byte without its continuation
    b"a\x80bc",             # a continuation without a lead byte
    b"\xc0\xaf\xc0\xaf",    # overlong "/"
    b"\xed\xa0\x80a",       # a UTF-16 surrogate
    b"\xf4\x90\x80\x80",    # beyond U+10FFFF
    b"abc\xe2",             # truncated at the end
)


def swap(msg, bad):
    data = msg.SerializeToString()
    assert data.count(PH.encode()) == 1, (msg, data)
    assert len(bad) == len(PH)
    return data.replace(PH.encode(), bad)


def env_entries(n, field):
    """n map entries "k" -> "" of map field `field`, raw (duplicates)."""
    return f_len(field, f_len(1, b"k")) * n


# ---------------------------------------------------------------- world

def ws_config(location="hello.py"):
    c = pb.JobConfig(type=pb.PYTHON, source_location=location)
    c.source.type = pb.WORKSPACE
    c.source.workspace.path = "jobs"
    return c


class Targets:
    """Objects of one workspace the bad requests aim at."""


def populate(d, ws):
    """Definitions, clusters (busy, paused, spare) and runs (running,
    queued, done) that stay as they are for minutes."""
    t = Targets()
    t.ws = ws
    t.def_sleeper = harness.make_jobdef(d, ws, "sleeper", SLEEP).uuid
    t.def_hello = harness.make_jobdef(d, ws, "hello", HELLO).uuid
    t.def_spare = harness.make_jobdef(d, ws, "spare", location="hello.py",
                                      cluster=harness.cluster_config()).uuid
    t.cl_busy = harness.make_cluster(d, ws, "busy").uuid
    t.cl_idle = harness.make_cluster(d, ws, "idle", auto_resume=False).uuid
    t.cl_spare = harness.make_cluster(d, ws, "spare").uuid
    t.run_running = harness.submit_ok(d, ws, t.def_sleeper, t.cl_busy).uuid
    t.run_pending = harness.submit_ok(d, ws, t.def_hello, t.cl_busy).uuid
    t.run_done = harness.submit_ok(d, ws, t.def_hello, t.cl_idle).uuid
    t.run_cancelled = harness.submit_ok(d, ws, t.def_hello, t.cl_busy).uuid
    harness.assert_ok(d.call("run.cancel", pb.CancelJobRunRequest(
        uuid=t.run_cancelled), pb.JobRunReply, ws=ws))
    harness.wait_status(d, ws, t.run_running, pb.RUNNING)
    harness.wait_status(d, ws, t.run_done, pb.SUCCEEDED)
    harness.assert_ok(d.call("cluster.pause", pb.GetClusterRequest(
        uuid=t.cl_idle), pb.ClusterReply, ws=ws))
    # paused: they never fire during the tests
    for name in ("sched", "sched-spare"):
        setattr(t, name.replace("-", "_"), harness.assert_ok(d.call(
            "schedule.create", pb.CreateScheduleRequest(
                name=name, cron="@daily", job_definition_uuid=t.def_hello,
                cluster_uuid=t.cl_busy, paused=True), pb.ScheduleReply,
            ws=ws)).schedule.uuid)
    return t


def base_requests(t):
    """verb -> a valid request that changes the workspace (or reads it)."""
    return {
        "jobdef.create": pb.CreateJobDefinitionRequest(
            name="new-def", description="d", config=ws_config(),
            cluster_config=harness.cluster_config()),
        "jobdef.get": pb.GetJobDefinitionRequest(uuid=t.def_hello),
        "jobdef.list": pb.ListJobDefinitionsRequest(page_size=10),
        "jobdef.update": pb.UpdateJobDefinitionRequest(
            uuid=t.def_hello, description="changed", config=ws_config()),
        "jobdef.delete": pb.DeleteJobDefinitionRequest(uuid=t.def_spare),
        "cluster.create": pb.CreateClusterRequest(
            name="new-cluster", config=harness.cluster_config()),
        "cluster.get": pb.GetClusterRequest(uuid=t.cl_busy),
        "cluster.list": pb.ListClustersRequest(page_size=10),
        "cluster.pause": pb.GetClusterRequest(uuid=t.cl_busy),
        "cluster.resume": pb.GetClusterRequest(uuid=t.cl_idle),
        "cluster.delete": pb.GetClusterRequest(uuid=t.cl_spare),
        "run.submit": pb.SubmitJobRunRequest(
            job_definition_uuid=t.def_hello, cluster_uuid=t.cl_busy,
            idempotency_key="new-key"),
        "run.submit_sql": pb.SubmitSqlJobRunRequest(
            sql_query="select 1;", cluster_uuid=t.cl_busy),
        "run.submit_batch": pb.SubmitJobRunsRequest(runs=[
            pb.SubmitJobRunRequest(job_definition_uuid=t.def_hello,
                                   cluster_uuid=t.cl_busy),
            pb.SubmitJobRunRequest(job_definition_uuid=t.def_hello,
                                   cluster_uuid=t.cl_busy, depends_on=[
                                       pb.Dependency(index=0)])]),
        "run.rerun": pb.RerunJobRunRequest(uuid=t.run_cancelled,
                                           repair_downstream=True),
        "run.get": pb.GetJobRunRequest(uuid=t.run_done),
        "run.cancel": pb.CancelJobRunRequest(uuid=t.run_pending),
        "run.cancel_all": pb.CancelJobRunsRequest(cluster_uuids=[t.cl_busy]),
        "run.list": pb.ListJobRunsRequest(page_size=10),
        "run.logs": pb.GetJobRunLogsRequest(uuid=t.run_done, attempt=1),
        "run.events": pb.GetJobRunRequest(uuid=t.run_done),
        "schedule.create": pb.CreateScheduleRequest(
            name="new-sched", description="d", cron="0 2 * * *",
            timezone="Europe/Berlin", job_definition_uuid=t.def_hello,
            cluster_uuid=t.cl_busy, args="-v", paused=True),
        "schedule.get": pb.GetScheduleRequest(uuid=t.sched),
        "schedule.list": pb.ListSchedulesRequest(page_size=10),
        "schedule.update": pb.UpdateScheduleRequest(
            uuid=t.sched, description="changed", cron="0 3 * * *",
            timezone="Asia/Tokyo"),
        "schedule.delete": pb.GetScheduleRequest(uuid=t.sched_spare),
        "schedule.pause": pb.GetScheduleRequest(uuid=t.sched),
        "schedule.resume": pb.GetScheduleRequest(uuid=t.sched),
        "schedule.trigger": pb.GetScheduleRequest(uuid=t.sched),
    }


class World:
    def __init__(self, small, big):
        self.small, self.big = small, big
        tag = os.urandom(3).hex()
        self.ws1, self.ws2 = "bad-a-" + tag, "bad-b-" + tag
        self.scratch = "bad-scratch-" + tag
        self.t1 = populate(small, self.ws1)
        self.t2 = populate(small, self.ws2)
        self.big_t = populate(big, self.ws1)
        self.watched = ((small, self.ws1), (small, self.ws2),
                        (big, self.ws1))

    def snapshot(self, extra=()):
        snap = {}
        for d, ws in self.watched + tuple(extra):
            key = (d.prefix, ws)
            jl = d.call("jobdef.list", pb.ListJobDefinitionsRequest(
                page_size=1000), pb.ListJobDefinitionsReply, ws=ws)
            cl = d.call("cluster.list", pb.ListClustersRequest(
                page_size=1000), pb.ListClustersReply, ws=ws)
            rl = d.call("run.list", pb.ListJobRunsRequest(page_size=1000),
                        pb.ListJobRunsReply, ws=ws)
            sl = d.call("schedule.list", pb.ListSchedulesRequest(
                page_size=1000), pb.ListSchedulesReply, ws=ws)
            for rep in (jl, cl, rl, sl):
                harness.assert_ok(rep)
            events = {r.uuid: harness.run_events(d, ws, r.uuid)
                      for r in rl.job_runs}
            snap[key] = (jl, cl, rl, events, sl)
        return snap

    def changes(self, before, extra=()):
        """What differs from the snapshot before, one line per object."""
        after = self.snapshot(extra)
        out = []
        for key in before:
            for name, items, b, a in zip(
                    ("jobdef", "cluster", "run", "schedule"),
                    ("job_definitions", "clusters", "job_runs",
                     "schedules"),
                    before[key][:3] + before[key][4:],
                    after[key][:3] + after[key][4:]):
                bs = {x.uuid: x for x in getattr(b, items)}
                as_ = {x.uuid: x for x in getattr(a, items)}
                for u in sorted(set(bs) | set(as_)):
                    x, y = bs.get(u), as_.get(u)
                    if x == y:
                        continue
                    label = "%s %s %s %r" % (key, name, u,
                                             getattr(y or x, "name", ""))
                    if x is None:
                        out.append("%s appeared: %s" % (
                            label, str(y).replace("\n", " ")[:300]))
                    elif y is None:
                        out.append("%s disappeared" % label)
                    else:
                        fields = sorted(
                            f.name for f in x.DESCRIPTOR.fields
                            if getattr(x, f.name) != getattr(y, f.name))
                        out.append("%s changed: %s" % (label, ", ".join(
                            "%s %r -> %r" % (f, getattr(x, f),
                                             getattr(y, f))
                            if f not in ("config", "attempts", "env")
                            else f for f in fields)))
            if before[key][3] != after[key][3]:
                for u in sorted(set(before[key][3]) | set(after[key][3])):
                    if before[key][3].get(u) != after[key][3].get(u):
                        out.append("%s run %s: its events changed" % (key, u))
        for d in (self.small, self.big):
            if not d.running():
                out.append("batchd (%s) is gone" % d.prefix)
                continue
            rep = d.call("jobdef.get", pb.GetJobDefinitionRequest(
                name="hello"), pb.JobDefinitionReply, ws=self.ws1)
            if rep.HasField("error"):
                out.append("batchd (%s) does not answer a valid request: %s"
                           % (d.prefix, rep.error.message))
        return out


@pytest.fixture(scope="module")
def world(nats_server, tmp_path_factory):
    small = harness.Daemon(str(tmp_path_factory.mktemp("small")),
                           nats_server.url,
                           env={"BATCHD_MAX_MESSAGE_BYTES": str(LIMIT),
                                "BATCHD_KILL_GRACE_S": "1"})
    big = harness.Daemon(str(tmp_path_factory.mktemp("big")),
                         nats_server.url, prefix="bigd",
                         env={"BATCHD_KILL_GRACE_S": "1"})
    try:
        small.start()
        big.start()
        yield World(small, big)
    finally:
        errors = []
        for d in (small, big):
            try:
                harness.stop_shims(d)
            finally:
                try:
                    d.close()
                except AssertionError as exc:
                    errors.append(str(exc))
        assert not errors, "\n\n".join(errors)


@pytest.fixture(autouse=True)
def _logs_on_failure(request, world):
    request.node._batchd_daemons = [world.small, world.big]


# ---------------------------------------------------------------- checks

class Checker:
    """Sends requests and collects every wrong answer, so one run shows
    them all."""

    def __init__(self, world):
        self.w = world
        self.problems = []
        self.sent = 0

    def raw(self, d, subject, payload):
        self.sent += 1
        try:
            return d.nc().request(subject, payload, timeout=5.0)
        except NatsTimeout:
            self.problems.append("%s: no reply (batchd %s)" % (
                subject, "running" if d.running() else "NOT running"))
            return None

    def send(self, d, verb, payload, ws=None):
        ws = ws or self.w.ws1
        subject = d.subject(verb, ws)
        return subject, self.raw(d, subject, payload)

    def error(self, what, data, field=None, fields=None, prefix=None,
              code=pb.INVALID_ARGUMENT):
        """data is an error reply with code and the field named."""
        if data is None:
            return None
        rep = pb.DeleteReply.FromString(data)    # field 1 of every reply
        if not rep.HasField("error"):
            self.problems.append("%s: accepted, expected %s" % (
                what, pb.ErrorCode.Name(code)))
            return None
        e = rep.error
        bad = []
        if e.code != code:
            bad.append("code %s" % (pb.ErrorCode.Name(e.code)
                                    if e.code in pb.ErrorCode.values()
                                    else e.code))
        if not e.message:
            bad.append("an empty message")
        if not e.field:
            bad.append("no field")
        elif field is not None and e.field != field:
            bad.append("field %r, expected %r" % (e.field, field))
        elif fields is not None and e.field not in fields:
            bad.append("field %r, expected one of %r" % (e.field, fields))
        elif prefix is not None and not e.field.startswith(prefix):
            bad.append("field %r, expected %r..." % (e.field, prefix))
        if bad:
            self.problems.append("%s: %s (%s field=%r: %s)" % (
                what, ", ".join(bad), pb.ErrorCode.Name(e.code)
                if e.code in pb.ErrorCode.values() else e.code, e.field,
                e.message))
        return e

    def ok(self, what, data, cls):
        if data is None:
            return None
        rep = cls.FromString(data)
        if rep.HasField("error"):
            self.problems.append("%s: refused, expected a normal reply: "
                                 "%s field=%r: %s" % (
                                     what, pb.ErrorCode.Name(rep.error.code),
                                     rep.error.field, rep.error.message))
            return None
        return rep

    def done(self, before, extra=()):
        """Fail with every wrong answer and every change since before."""
        changed = self.w.changes(before, extra)
        msg = []
        if self.problems:
            msg.append("%d of %d requests answered wrongly:\n%s" % (
                len(self.problems), self.sent, "\n".join(self.problems)))
        if changed:
            msg.append("the state changed:\n" + "\n".join(changed))
        assert not msg, "\n\n".join(msg)


# ---------------------------------------------------------------- tests

GARBAGE = (
    b"\xff" * 16,                           # a tag longer than 10 bytes
    b"\x0a\xff\xff\xff\xff\x0fabc",         # a length far past the end
    b"\x0a\x05abc",                         # a string cut short
    b"\x08",                                # a varint cut short
    b"\x0b\x0c",                            # groups (proto2 only)
    b"\x07\x00",                            # field 0, wire type 7
    b"\x00\x00\x00\x00",                    # field 0
)


def test_garbage_payloads(world):
    ck = Checker(world)
    before = world.snapshot()
    for verb in VERBS:
        for g in GARBAGE:
            subject, data = ck.send(world.small, verb, g)
            ck.error("%s garbage %r" % (subject, g), data, field="payload")
    ck.done(before)


# The field named when the request is empty, for verbs that need one.
EMPTY_FIELD = {
    "jobdef.create": ("name",),
    "jobdef.get": ("uuid", "name"),
    "jobdef.update": ("uuid",),
    "jobdef.delete": ("uuid",),
    "cluster.create": ("name",),
    "cluster.get": ("uuid", "name"),
    "cluster.pause": ("uuid",),
    "cluster.resume": ("uuid",),
    "cluster.delete": ("uuid",),
    "run.submit": ("job_definition_uuid",),
    "run.submit_sql": ("sql_query",),
    "run.submit_batch": ("runs",),
    "run.rerun": ("uuid",),
    "run.get": ("uuid",),
    "run.cancel": ("uuid",),
    "run.cancel_all": ("cluster_uuids", "job_definition_uuid"),
    "run.logs": ("uuid",),
    "run.events": ("uuid",),
    "schedule.create": ("name",),
    "schedule.get": ("uuid", "name"),
    "schedule.update": ("uuid",),
    "schedule.delete": ("uuid", "name"),
    "schedule.pause": ("uuid", "name"),
    "schedule.resume": ("uuid", "name"),
    "schedule.trigger": ("uuid", "name"),
}


def test_empty_payload(world):
    ck = Checker(world)
    before = world.snapshot()
    for verb in VERBS:
        subject, data = ck.send(world.small, verb, b"")
        if verb in LIST_VERBS:
            rep = ck.ok(subject + " empty", data, REPLY[verb])
            if rep is not None and not getattr(rep, LIST_ITEMS[verb]):
                ck.problems.append("%s empty: lists nothing" % subject)
        else:
            ck.error(subject + " empty", data, fields=EMPTY_FIELD[verb])
    ck.done(before)


def other_types():
    """Messages of other types, fields set, their strings no UUIDs."""
    return (
        ("LogChunk", pb.LogChunk(
            run_uuid="run-of-another-type", attempt=7, stream=pb.STDERR,
            offset=12345, data=b"\x00\xffdata", eof=True)),
        ("JobRunStatusEvent", pb.JobRunStatusEvent(
            run_uuid="run-of-another-type", job_definition_uuid="def-x",
            cluster_uuid="cluster-x", status=pb.FAILED,
            previous_status=pb.RUNNING, reason=pb.TIMEOUT,
            reason_text="Timeout", attempt=2, seq=9, at_ms=1700000000000,
            exit_code=1, workspace="elsewhere")),
        ("JobRun", pb.JobRun(
            uuid="run-of-another-type", job_definition_uuid="def-x",
            cluster_uuid="cluster-x", type=pb.SQL, status=pb.RUNNING,
            attempt=3, sql_query="select 1;")),
        ("Cluster", pb.Cluster(
            uuid="cluster-x", name="other", state=pb.Cluster.PAUSED,
            queued=3, active_run_uuid="run-x")),
    )


def test_message_of_another_type(world):
    ck = Checker(world)
    before = world.snapshot()
    for verb in VERBS:
        for name, msg in other_types():
            subject, data = ck.send(world.small, verb,
                                    msg.SerializeToString())
            what = "%s %s" % (subject, name)
            if data is None:
                continue
            if verb in LIST_VERBS:
                rep = REPLY[verb].FromString(data)
                if rep.HasField("error"):
                    ck.error(what, data)
            else:
                ck.error(what, data)
    ck.done(before)


def test_over_size_limit(world):
    """8 KiB (and one byte over the limit): valid requests that would
    change the workspace, grown by an unknown field."""
    ck = Checker(world)
    before = world.snapshot()
    base = base_requests(world.t1)
    for verb in VERBS:
        for total in (8192, LIMIT + 1, 512 * 1024):
            payload = padded(base[verb], total)
            assert len(payload) == total
            subject, data = ck.send(world.small, verb, payload)
            ck.error("%s %d bytes" % (subject, total), data, field="payload")
    # At the limit exactly, a request is taken.
    for verb in LIST_VERBS:
        subject, data = ck.send(world.small, verb, padded(base[verb], LIMIT))
        ck.ok("%s %d bytes" % (subject, LIMIT), data, REPLY[verb])
    ck.done(before)


def utf8_cases(t):
    """(verb, message with PH in one string field, field named)."""
    b = base_requests(t)

    def m(verb, fn):
        msg = type(b[verb])()
        msg.CopyFrom(b[verb])
        fn(msg)
        return msg

    def env_key(c):
        c.env[PH] = "v"

    def env_val(c):
        c.env["K"] = PH
    cases = [
        ("jobdef.create", lambda x: setattr(x, "name", PH), "name"),
        ("jobdef.create", lambda x: setattr(x, "description", PH),
         "description"),
        ("jobdef.create", lambda x: setattr(x.config.source.workspace,
                                            "path", PH),
         "config.source.workspace.path"),
        ("jobdef.create", lambda x: setattr(x.config, "source_location",
                                            PH), "config.source_location"),
        ("jobdef.create", lambda x: setattr(x.config, "args", PH),
         "config.args"),
        ("jobdef.create", lambda x: env_key(x.config), "config.env.key"),
        ("jobdef.create", lambda x: env_val(x.config), "config.env[K]"),
        ("jobdef.create", lambda x: setattr(x.cluster_config,
                                            "instance_type", PH),
         "cluster_config.instance_type"),
        ("jobdef.create", lambda x: setattr(x.cluster_config, "version", PH),
         "cluster_config.version"),
        ("jobdef.create", lambda x: x.config.source.git.MergeFrom(
            pb.GitSource(repo_url=PH)), "config.source.git.repo_url"),
        ("jobdef.create", lambda x: x.config.source.git.MergeFrom(
            pb.GitSource(repo_url="https://x/y", token=PH)),
         "config.source.git.token"),
        ("jobdef.create", lambda x: x.config.source.s3.MergeFrom(
            pb.S3Source(bucket_path="b/k", region=PH)),
         "config.source.s3.region"),
        ("jobdef.create", lambda x: x.config.source.text.MergeFrom(
            pb.TextSource(text=PH)), "config.source.text.text"),
        ("jobdef.get", lambda x: (x.ClearField("uuid"),
                                  setattr(x, "name", PH)), "name"),
        ("jobdef.get", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("jobdef.list", lambda x: setattr(x, "page_token", PH),
         "page_token"),
        ("jobdef.update", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("jobdef.update", lambda x: setattr(x, "description", PH),
         "description"),
        ("jobdef.update", lambda x: setattr(x.config, "args", PH),
         "config.args"),
        ("jobdef.update", lambda x: env_val(x.config), "config.env[K]"),
        ("jobdef.update", lambda x: setattr(x.cluster_config, "version",
                                            PH), "cluster_config.version"),
        ("jobdef.delete", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("cluster.create", lambda x: setattr(x, "name", PH), "name"),
        ("cluster.create", lambda x: setattr(x.config, "instance_type", PH),
         "config.instance_type"),
        ("cluster.create", lambda x: setattr(x.config, "version", PH),
         "config.version"),
        ("cluster.get", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("cluster.get", lambda x: (x.ClearField("uuid"),
                                   setattr(x, "name", PH)), "name"),
        ("cluster.list", lambda x: setattr(x, "page_token", PH),
         "page_token"),
        ("cluster.pause", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("cluster.pause", lambda x: setattr(x, "name", PH), "name"),
        ("cluster.resume", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("cluster.delete", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("cluster.delete", lambda x: setattr(x, "name", PH), "name"),
        ("run.submit", lambda x: setattr(x, "job_definition_uuid", PH),
         "job_definition_uuid"),
        ("run.submit", lambda x: setattr(x, "cluster_uuid", PH),
         "cluster_uuid"),
        ("run.submit", lambda x: setattr(x, "args", PH), "args"),
        ("run.submit", lambda x: setattr(x, "idempotency_key", PH),
         "idempotency_key"),
        ("run.submit", lambda x: env_key(x), "env.key"),
        ("run.submit", lambda x: env_val(x), "env[K]"),
        ("run.submit_sql", lambda x: setattr(x, "sql_query", PH),
         "sql_query"),
        ("run.submit_sql", lambda x: setattr(x, "cluster_uuid", PH),
         "cluster_uuid"),
        ("run.submit_sql", lambda x: setattr(x, "idempotency_key", PH),
         "idempotency_key"),
        ("run.submit_sql", lambda x: env_val(x), "env[K]"),
        ("run.submit_sql", lambda x: (x.ClearField("cluster_uuid"),
                                      x.cluster_config.MergeFrom(
                                          pb.ClusterConfig(
                                              instance_type=PH,
                                              workers_quantity=1))),
         "cluster_config.instance_type"),
        ("run.submit", lambda x: x.depends_on.add(run_uuid=PH),
         "depends_on[0].run_uuid"),
        ("run.submit_sql", lambda x: x.depends_on.add(run_uuid=PH),
         "depends_on[0].run_uuid"),
        ("run.submit_batch", lambda x: setattr(
            x.runs[1], "job_definition_uuid", PH),
         "runs[1].job_definition_uuid"),
        ("run.submit_batch", lambda x: env_key(x.runs[0]), "runs[0].env.key"),
        ("run.submit_batch", lambda x: setattr(x.runs[1], "args", PH),
         "runs[1].args"),
        ("run.submit_batch", lambda x: x.runs[1].depends_on.add(
            run_uuid=PH), "runs[1].depends_on[1].run_uuid"),
        ("run.rerun", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("run.list", lambda x: setattr(x, "rerun_of", PH), "rerun_of"),
        ("run.get", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("run.cancel", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("run.cancel_all", lambda x: x.cluster_uuids.append(PH),
         "cluster_uuids"),
        ("run.cancel_all", lambda x: setattr(x, "job_definition_uuid", PH),
         "job_definition_uuid"),
        ("run.list", lambda x: setattr(x, "job_definition_uuid", PH),
         "job_definition_uuid"),
        ("run.list", lambda x: setattr(x, "cluster_uuid", PH),
         "cluster_uuid"),
        ("run.list", lambda x: setattr(x, "page_token", PH), "page_token"),
        ("run.logs", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("run.events", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("schedule.create", lambda x: setattr(x, "name", PH), "name"),
        ("schedule.create", lambda x: setattr(x, "description", PH),
         "description"),
        ("schedule.create", lambda x: setattr(x, "cron", PH), "cron"),
        ("schedule.create", lambda x: setattr(x, "timezone", PH),
         "timezone"),
        ("schedule.create", lambda x: setattr(x, "job_definition_uuid",
                                              PH), "job_definition_uuid"),
        ("schedule.create", lambda x: setattr(x, "cluster_uuid", PH),
         "cluster_uuid"),
        ("schedule.create", lambda x: setattr(x, "args", PH), "args"),
        ("schedule.create", lambda x: env_key(x), "env.key"),
        ("schedule.create", lambda x: env_val(x), "env[K]"),
        ("schedule.create", lambda x: x.cluster_config.MergeFrom(
            pb.ClusterConfig(instance_type=PH, workers_quantity=1)),
         "cluster_config.instance_type"),
        ("schedule.get", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("schedule.get", lambda x: (x.ClearField("uuid"),
                                    setattr(x, "name", PH)), "name"),
        ("schedule.list", lambda x: setattr(x, "page_token", PH),
         "page_token"),
        ("schedule.update", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("schedule.update", lambda x: setattr(x, "cron", PH), "cron"),
        ("schedule.update", lambda x: setattr(x, "timezone", PH),
         "timezone"),
        ("schedule.update", lambda x: setattr(x, "description", PH),
         "description"),
        ("schedule.update", lambda x: setattr(x, "cluster_uuid", PH),
         "cluster_uuid"),
        ("schedule.update", lambda x: env_val(x), "env[K]"),
        ("schedule.delete", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("schedule.pause", lambda x: setattr(x, "uuid", PH), "uuid"),
        ("schedule.resume", lambda x: setattr(x, "name", PH), "name"),
        ("schedule.trigger", lambda x: setattr(x, "uuid", PH), "uuid"),
    ]
    return [(verb, m(verb, fn), field) for verb, fn, field in cases]


def test_invalid_utf8(world):
    ck = Checker(world)
    before = world.snapshot()
    cases = utf8_cases(world.t1)
    assert {v for v, _, _ in cases} == set(VERBS)
    for verb, msg, field in cases:
        for bad in BAD_UTF8:
            subject, data = ck.send(world.small, verb, swap(msg, bad))
            ck.error("%s %s=%r" % (subject, field, bad), data, field=field)
    ck.done(before)


def test_unknown_enum_values(world):
    ck = Checker(world)
    before = world.snapshot()
    b = base_requests(world.t1)
    cases = []
    for v in (99, 3, -1, 2 ** 31 - 1):
        m = pb.CreateJobDefinitionRequest()
        m.CopyFrom(b["jobdef.create"])
        m.config.type = v
        cases.append(("jobdef.create", m, "config.type", v))
        m = pb.UpdateJobDefinitionRequest()
        m.CopyFrom(b["jobdef.update"])
        m.config.type = v
        cases.append(("jobdef.update", m, "config.type", v))
    for v in (7, 5, -2):
        m = pb.CreateJobDefinitionRequest()
        m.CopyFrom(b["jobdef.create"])
        m.config.source.type = v
        cases.append(("jobdef.create", m, "config.source.type", v))
        m = pb.UpdateJobDefinitionRequest()
        m.CopyFrom(b["jobdef.update"])
        m.config.source.type = v
        cases.append(("jobdef.update", m, "config.source.type", v))
    for v in (77, 6, -1):
        cases.append(("run.list", pb.ListJobRunsRequest(status=v), "status",
                      v))
    for v in (16, 99, -1):
        m = pb.SubmitJobRunRequest()
        m.CopyFrom(b["run.submit"])
        m.retry_strategy.rules.add(on_reasons=[v], action=pb.RETRY)
        cases.append(("run.submit", m, "retry_strategy.rules[0].on_reasons",
                      v))
        m = pb.CreateJobDefinitionRequest()
        m.CopyFrom(b["jobdef.create"])
        m.config.retry_strategy.rules.add(on_exit_codes=[1], action=v)
        cases.append(("jobdef.create", m,
                      "config.retry_strategy.rules[0].action", v))
    for v in (3, 99, -1):
        for verb in ("schedule.create", "schedule.update"):
            m = type(b[verb])()
            m.CopyFrom(b[verb])
            m.misfire_policy = v
            cases.append((verb, m, "misfire_policy", v))
    for v in (4, 99, -1):
        m = pb.SubmitJobRunRequest()
        m.CopyFrom(b["run.submit"])
        m.depends_on.add(run_uuid=world.t1.run_done, condition=v)
        cases.append(("run.submit", m, "depends_on[0].condition", v))
        m = pb.SubmitJobRunsRequest()
        m.CopyFrom(b["run.submit_batch"])
        m.runs[1].depends_on[0].condition = v
        cases.append(("run.submit_batch", m,
                      "runs[1].depends_on[0].condition", v))
    for v in (9, 3, -5):
        m = pb.GetJobRunLogsRequest()
        m.CopyFrom(b["run.logs"])
        m.stream = v
        cases.append(("run.logs", m, "stream", v))
    for verb, msg, field, v in cases:
        subject, data = ck.send(world.small, verb, msg.SerializeToString())
        ck.error("%s %s=%d" % (subject, field, v), data, field=field)
    ck.done(before)


def test_absurd_sizes_and_counts(world):
    ck = Checker(world)
    before = world.snapshot()
    small, big = world.small, world.big
    b = base_requests(world.t1)
    bb = base_requests(world.big_t)

    def bad(d, verb, payload, field=None, prefix=None, what=""):
        if not isinstance(payload, bytes):
            payload = payload.SerializeToString()
        subject, data = ck.send(d, verb, payload)
        ck.error("%s %s (%d bytes)" % (subject, what, len(payload)), data,
                 field=field, prefix=prefix)

    def copy(base, **kw):
        m = type(base)()
        m.CopyFrom(base)
        for k, v in kw.items():
            setattr(m, k, v)
        return m

    # Page sizes and byte counts.
    for n in (1001, 10 ** 9, 2 ** 32 - 1):
        for verb in LIST_VERBS:
            bad(small, verb, copy(b[verb], page_size=n), "page_size",
                what="page_size=%d" % n)
    for verb in LIST_VERBS:
        subject, data = ck.send(small, verb,
                                copy(b[verb], page_size=1000)
                                .SerializeToString())
        ck.ok(subject + " page_size=1000", data, REPLY[verb])
    for n in (2 ** 20 + 1, 10 ** 9, 2 ** 32 - 1):
        bad(small, "run.logs", copy(b["run.logs"], max_bytes=n),
            "max_bytes", what="max_bytes=%d" % n)
    for n in (2, 10 ** 6, 2 ** 32 - 1):
        bad(small, "run.logs", copy(b["run.logs"], attempt=n), "attempt",
            what="attempt=%d" % n)
    subject, data = ck.send(small, "run.logs", copy(
        b["run.logs"], offset=2 ** 64 - 1).SerializeToString())
    rep = ck.ok(subject + " offset=2^64-1", data, pb.JobRunLogsReply)
    if rep is not None and (rep.chunks or not rep.eof):
        ck.problems.append("%s offset=2^64-1: %d chunks, eof=%s" % (
            subject, len(rep.chunks), rep.eof))
    for f in ("submitted_after_ms", "submitted_before_ms"):
        bad(small, "run.list", copy(b["run.list"], **{f: -1}), f,
            what="%s=-1" % f)
    # Counts within the 4 KiB limit: one over the maximum.
    bad(small, "run.submit", b["run.submit"].SerializeToString() +
        env_entries(257, 4), "env", what="257 env entries")
    bad(small, "run.submit_sql", b["run.submit_sql"].SerializeToString() +
        env_entries(257, 4), "env", what="257 env entries")
    cfg = b["jobdef.create"].config.SerializeToString() + env_entries(257, 7)
    m = copy(b["jobdef.create"])
    m.ClearField("config")
    bad(small, "jobdef.create", m.SerializeToString() + f_len(3, cfg),
        "config.env", what="257 config.env entries")
    m = copy(b["jobdef.update"])
    m.ClearField("config")
    bad(small, "jobdef.update", m.SerializeToString() + f_len(3, cfg),
        "config.env", what="257 config.env entries")
    bad(small, "run.cancel_all", b["run.cancel_all"].SerializeToString() +
        f_len(1, b"") * 1000, "cluster_uuids", what="1001 cluster_uuids")
    deps = pb.SubmitJobRunRequest(depends_on=[pb.Dependency(index=0)] * 65)
    bad(small, "run.submit", b["run.submit"].SerializeToString() +
        deps.SerializeToString(), "depends_on", what="65 depends_on")
    m = copy(b["run.submit_batch"])
    m.runs[1].depends_on.extend([pb.Dependency(index=0)] * 64)
    bad(small, "run.submit_batch", m, "runs[1].depends_on",
        what="65 depends_on of an item")
    # Strings over their maximum, numbers out of range.
    bad(small, "jobdef.create", copy(b["jobdef.create"], name="n" * 256),
        "name", what="a name of 256 bytes")
    bad(small, "cluster.create", copy(b["cluster.create"], name="n" * 256),
        "name", what="a name of 256 bytes")
    bad(small, "run.submit", copy(b["run.submit"],
                                  idempotency_key="k" * 129),
        "idempotency_key", what="a key of 129 bytes")
    for n in (101, 10 ** 9):
        m = copy(b["jobdef.create"])
        m.config.retry_strategy.num_retries = n
        bad(small, "jobdef.create", m, "config.retry_strategy.num_retries",
            what="num_retries=%d" % n)
    for n in (0, 10 ** 9):
        m = copy(b["jobdef.update"])
        m.config.timeout_seconds = n
        bad(small, "jobdef.update", m, "config.timeout_seconds",
            what="timeout_seconds=%d" % n)
    for n in (0, 4097, 10 ** 9):
        m = copy(b["cluster.create"])
        m.config.workers_quantity = n
        bad(small, "cluster.create", m, "config.workers_quantity",
            what="workers_quantity=%d" % n)
        m = copy(b["jobdef.create"])
        m.cluster_config.workers_quantity = n
        bad(small, "jobdef.create", m, "cluster_config.workers_quantity",
            what="cluster_config.workers_quantity=%d" % n)
    for n in (1001, 10 ** 9):
        bad(small, "schedule.create", copy(b["schedule.create"],
                                           max_concurrent_runs=n),
            "max_concurrent_runs", what="max_concurrent_runs=%d" % n)
    bad(small, "schedule.create", copy(b["schedule.create"],
                                       cron="* " * 200), "cron",
        what="a cron of 400 bytes")
    # Counts of 100000 (the big daemon takes 1 MiB).
    bad(big, "run.submit", bb["run.submit"].SerializeToString() +
        env_entries(100000, 4), "env", what="100000 env entries")
    bad(big, "run.submit_sql", bb["run.submit_sql"].SerializeToString() +
        env_entries(100000, 4), "env", what="100000 env entries")
    cfg = bb["jobdef.create"].config.SerializeToString() + \
        env_entries(100000, 7)
    m = copy(bb["jobdef.create"])
    m.ClearField("config")
    bad(big, "jobdef.create", m.SerializeToString() + f_len(3, cfg),
        "config.env", what="100000 config.env entries")
    m = copy(bb["jobdef.update"])
    m.ClearField("config")
    bad(big, "jobdef.update", m.SerializeToString() + f_len(3, cfg),
        "config.env", what="100000 config.env entries")
    bad(big, "run.cancel_all", bb["run.cancel_all"].SerializeToString() +
        f_len(1, b"") * 99999, "cluster_uuids",
        what="100000 cluster_uuids")
    bad(big, "run.cancel_all", bb["run.cancel_all"].SerializeToString() +
        f_len(1, b"00000000-0000-4000-8000-000000000000") * 1000,
        "cluster_uuids", what="1001 cluster_uuids")
    bad(big, "jobdef.create", copy(bb["jobdef.create"],
                                   description="d" * 4097),
        "description", what="a description of 4097 bytes")
    m = copy(bb["jobdef.create"])
    m.config.args = "a" * 65537
    bad(big, "jobdef.create", m, "config.args", what="args of 65537 bytes")
    bad(big, "run.submit_batch", pb.SubmitJobRunsRequest(
        runs=[bb["run.submit"]] * 1001), "runs", what="1001 runs")
    bad(big, "run.submit", pb.SubmitJobRunRequest(
        job_definition_uuid=world.big_t.def_hello,
        depends_on=[pb.Dependency(index=0)] * 100000), "depends_on",
        what="100000 depends_on")
    # 1000 cluster UUIDs are fine: none of them has runs.
    subject, data = ck.send(big, "run.cancel_all", pb.CancelJobRunsRequest(
        cluster_uuids=["00000000-0000-4000-8000-%012d" % i
                       for i in range(1000)]).SerializeToString())
    rep = ck.ok(subject + " 1000 cluster_uuids", data, pb.CancelJobRunsReply)
    if rep is not None and rep.cancelled:
        ck.problems.append("%s cancelled %d runs of no cluster" % (
            subject, rep.cancelled))
    ck.done(before)


def test_run_policy_fields(world):
    """The fields of run policies out of range: per-run overrides, retry
    rules, back-off, time in queue, a TEXT source over 256 KiB."""
    ck = Checker(world)
    before = world.snapshot()
    small, big = world.small, world.big
    b = base_requests(world.t1)
    bb = base_requests(world.big_t)

    def bad(d, verb, m, field):
        subject, data = ck.send(d, verb, m.SerializeToString())
        ck.error("%s %s" % (subject, field), data, field=field)

    def submit(**kw):
        m = pb.SubmitJobRunRequest()
        m.CopyFrom(b["run.submit"])
        for k, v in kw.items():
            setattr(m, k, v)
        return m

    for n in (0, 7 * 86400 + 1):
        bad(small, "run.submit", submit(timeout_seconds=n), "timeout_seconds")
    for n in (0, 30 * 86400 + 1):
        bad(small, "run.submit", submit(max_queue_seconds=n),
            "max_queue_seconds")
    for f, v in (("num_retries", 101), ("retry_delay_seconds", 10 ** 9),
                 ("backoff_multiplier", 0.0),
                 ("backoff_multiplier", float("inf")),
                 ("max_retry_delay_seconds", 0),
                 ("max_retry_delay_seconds", 10 ** 9)):
        m = submit()
        setattr(m.retry_strategy, f, v)
        bad(small, "run.submit", m, "retry_strategy." + f)
        for verb in ("jobdef.create", "jobdef.update"):
            m = type(b[verb])()
            m.CopyFrom(b[verb])
            setattr(m.config.retry_strategy, f, v)
            bad(small, verb, m, "config.retry_strategy." + f)
    m = submit()
    for _ in range(9):
        m.retry_strategy.rules.add(on_exit_codes=[1], action=pb.EXIT)
    bad(small, "run.submit", m, "retry_strategy.rules")
    for codes, field in (([0], "on_exit_codes[0]"),
                         ([1, 256], "on_exit_codes[1]"),
                         ([1] * 257, "on_exit_codes")):
        m = submit()
        m.retry_strategy.rules.add(on_exit_codes=codes, action=pb.RETRY)
        bad(small, "run.submit", m, "retry_strategy.rules[0]." + field)
    m = submit()
    m.retry_strategy.rules.add(action=pb.RETRY)
    bad(small, "run.submit", m, "retry_strategy.rules[0]")
    m = submit()
    m.retry_strategy.rules.add(on_reasons=[pb.IN_QUEUE], action=pb.RETRY)
    bad(small, "run.submit", m, "retry_strategy.rules[0].on_reasons")
    m = submit()
    m.retry_strategy.rules.add(on_exit_codes=[2])
    bad(small, "run.submit", m, "retry_strategy.rules[0].action")
    for verb in ("jobdef.create", "jobdef.update"):
        m = type(b[verb])()
        m.CopyFrom(b[verb])
        m.config.max_queue_seconds = 0
        bad(small, verb, m, "config.max_queue_seconds")
        m = type(bb[verb])()
        m.CopyFrom(bb[verb])
        m.config.source.type = pb.TEXT
        m.config.source.text.text = "#" * (256 * 1024 + 1)
        bad(big, verb, m, "config.source.text.text")
        m.config.source.text.text = "print(1)\n"
        m.config.source_location = "a/b.py"
        bad(big, verb, m, "config.source_location")
    ck.done(before)


def test_unknown_verbs_and_bad_workspaces(world):
    ck = Checker(world)
    before = world.snapshot()
    d = world.small
    create = base_requests(world.t1)["cluster.create"].SerializeToString()
    submit = base_requests(world.t1)["run.submit"].SerializeToString()
    for verb in ("run.frobnicate", "jobdef.destroy", "cluster.restart",
                 "run.submit_sql_and_more_words", "run.SUBMIT",
                 "cluster.Create", "run.submit-sql"):
        for payload in (create, submit, b"", b"\xff\xff"):
            subject = d.subject(verb, world.ws1)
            ck.error("%s %d bytes" % (subject, len(payload)),
                     ck.raw(d, subject, payload), field="subject")
    for ws in ("bad!ws", "w" * 65, "w\u015b", "ws$", "a+b", "x~y",
               "-" * 65):
        for verb, payload in (("cluster.create", create),
                              ("run.submit", submit),
                              ("cluster.list", b"")):
            subject = "%s.v1.%s.%s" % (d.prefix, ws, verb)
            ck.error("%s" % subject, ck.raw(d, subject, payload),
                     field="workspace")
    ck.done(before)


def test_base_requests_are_valid(world):
    """The requests the bad ones are made from are taken as they are: so
    the bad ones would have changed something. On a scratch workspace."""
    d = world.small
    t = populate(d, world.scratch)
    base = base_requests(t)
    problems = []
    for verb in VERBS:
        rep = d.call(verb, base[verb], REPLY[verb], ws=world.scratch)
        if rep.HasField("error"):
            problems.append("%s: %s field=%r: %s" % (
                verb, pb.ErrorCode.Name(rep.error.code), rep.error.field,
                rep.error.message))
    assert not problems, "\n".join(problems)
    # Leave nothing running there: the sleeper and what was queued.
    harness.assert_ok(d.call("run.cancel_all", pb.CancelJobRunsRequest(
        cluster_uuids=[t.cl_busy, t.cl_idle, t.cl_spare]),
        pb.CancelJobRunsReply, ws=world.scratch))
    assert d.running()


def test_nul_in_strings(world):
    """A NUL byte is valid UTF-8 but ends a C string: "a\\0bc" must be
    refused, not taken as "a". On a workspace of its own."""
    d = world.small
    ws = "bad-nul-" + os.urandom(3).hex()
    t = populate(d, ws)
    ck = Checker(world)
    before = world.snapshot([(d, ws)])
    for verb, msg, field in utf8_cases(t):
        subject, data = ck.send(d, verb, swap(msg, b"a\x00bc"), ws=ws)
        ck.error("%s %s='a\\x00bc'" % (subject, field), data, field=field)
    ck.done(before, [(d, ws)])



def test_workflow_fields(world):
    """depends_on, run.submit_batch and run.rerun refused for what they
    mean: unknown runs, runs of another workspace, conditions that can
    never be met, indexes that name no earlier item, a run not ended.
    Nothing changes: a batch refused at its last item made none before."""
    ck = Checker(world)
    before = world.snapshot()
    small, t1, t2 = world.small, world.t1, world.t2
    b = base_requests(t1)
    unknown = "00000000-0000-4000-8000-000000000000"

    def bad(verb, m, field, code):
        subject, data = ck.send(small, verb, m.SerializeToString())
        ck.error("%s %s" % (subject, field), data, field=field, code=code)

    def submit(*deps):
        m = pb.SubmitJobRunRequest()
        m.CopyFrom(b["run.submit"])
        m.ClearField("idempotency_key")
        m.depends_on.extend(deps)
        return m

    def sql(*deps):
        m = pb.SubmitSqlJobRunRequest()
        m.CopyFrom(b["run.submit_sql"])
        m.depends_on.extend(deps)
        return m

    for mk, verb in ((submit, "run.submit"), (sql, "run.submit_sql")):
        bad(verb, mk(pb.Dependency(index=0)), "depends_on[0].index",
            pb.INVALID_ARGUMENT)
        bad(verb, mk(pb.Dependency()), "depends_on[0]",
            pb.INVALID_ARGUMENT)
        bad(verb, mk(pb.Dependency(run_uuid="not-a-uuid")),
            "depends_on[0].run_uuid", pb.INVALID_ARGUMENT)
        bad(verb, mk(pb.Dependency(run_uuid=t1.run_done),
                     pb.Dependency(run_uuid=unknown)),
            "depends_on[1].run_uuid", pb.NOT_FOUND)
        bad(verb, mk(pb.Dependency(run_uuid=t2.run_done)),
            "depends_on[0].run_uuid", pb.NOT_FOUND)
        bad(verb, mk(pb.Dependency(run_uuid=t1.run_done,
                                   condition=pb.AFTER_FAILED)),
            "depends_on[0].run_uuid", pb.FAILED_PRECONDITION)
        bad(verb, mk(pb.Dependency(run_uuid=t1.run_cancelled)),
            "depends_on[0].run_uuid", pb.FAILED_PRECONDITION)
    item = b["run.submit_batch"].runs[0]
    for deps, field in (([pb.Dependency(index=1)],
                         "runs[1].depends_on[0].index"),
                        ([pb.Dependency(index=0), pb.Dependency(index=7)],
                         "runs[1].depends_on[1].index")):
        m = pb.SubmitJobRunsRequest(runs=[item, item])
        m.runs[1].depends_on.extend(deps)
        bad("run.submit_batch", m, field, pb.INVALID_ARGUMENT)
    m = pb.SubmitJobRunsRequest(runs=[item, item, item])
    m.runs[2].job_definition_uuid = unknown
    bad("run.submit_batch", m, "runs[2].job_definition_uuid", pb.NOT_FOUND)
    m = pb.SubmitJobRunsRequest(runs=[item, item])
    m.runs[1].depends_on.add(run_uuid=t2.run_done)
    bad("run.submit_batch", m, "runs[1].depends_on[0].run_uuid",
        pb.NOT_FOUND)
    m = pb.SubmitJobRunsRequest(runs=[item, item])
    m.runs[1].cluster_uuid = t1.cl_idle     # paused, no auto-resume
    bad("run.submit_batch", m, "runs[1].cluster_uuid", pb.CLUSTER_PAUSED)
    for uuid, code in ((t1.run_running, pb.FAILED_PRECONDITION),
                       (t1.run_pending, pb.FAILED_PRECONDITION),
                       (unknown, pb.NOT_FOUND), (t2.run_done, pb.NOT_FOUND)):
        bad("run.rerun", pb.RerunJobRunRequest(uuid=uuid), "uuid", code)
    bad("run.rerun", pb.RerunJobRunRequest(uuid=t1.run_done), "uuid",
        pb.CLUSTER_PAUSED)
    ck.done(before)
