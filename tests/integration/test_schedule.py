"""Schedules, with real time and seconds-level cron expressions: fires on
the second with the right scheduled_for_ms, pause and resume, trigger,
max_concurrent_runs skipping while a run is active, kill -9 around fires
never duplicating one, misfire_policy SKIP and RUN_ONCE after downtime,
bad expressions and zones, a definition in use, the metrics, a cluster
paused when its run finishes, and the time zone of next_fire_at_ms."""

import datetime
import random
import re
import time
import urllib.request
from zoneinfo import ZoneInfo

import pytest

import harness
from harness import _pb, assert_error, assert_ok

pb = _pb()

QUICK = "print('fired')\n"
SLEEPY = "import time\ntime.sleep(60)\n"


def create(d, ws, name, cron, def_uuid, **kw):
    req = pb.CreateScheduleRequest(name=name, cron=cron,
                                   job_definition_uuid=def_uuid, **kw)
    return d.call("schedule.create", req, pb.ScheduleReply, ws=ws)


def create_ok(d, ws, name, cron, def_uuid, **kw):
    return assert_ok(create(d, ws, name, cron, def_uuid, **kw)).schedule


def get(d, ws, uuid):
    rep = d.call("schedule.get", pb.GetScheduleRequest(uuid=uuid),
                 pb.ScheduleReply, ws=ws)
    return assert_ok(rep).schedule


def verb(d, ws, name, uuid, reply=pb.ScheduleReply):
    return d.call("schedule." + name, pb.GetScheduleRequest(uuid=uuid),
                  reply, ws=ws)


def history(d, ws, uuid):
    """Every run the schedule started, oldest first."""
    runs, token = [], ""
    while True:
        rep = assert_ok(d.call("run.list", pb.ListJobRunsRequest(
            schedule_uuid=uuid, page_size=1000, page_token=token),
            pb.ListJobRunsReply, ws=ws))
        runs.extend(rep.job_runs)
        token = rep.next_page_token
        if not token:
            return sorted(runs, key=lambda r: r.scheduled_for_ms)


class Fires:
    """The ScheduleFireEvents of a workspace, as they come."""

    def __init__(self, d, ws):
        self.sub = d.nc().subscribe("%s.v1.%s.schedule_fires.>"
                                    % (d.prefix, ws))
        d.nc().flush()
        self.seen = []

    def take(self, n, timeout=20.0, pred=lambda e: True):
        """Wait for n more events matching pred; return them."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            left = deadline - time.monotonic()
            assert left > 0, "%d of %d fire events in %.0f s: %s" % (
                len(got), n, timeout, got)
            try:
                subject, data = self.sub.next(timeout=left)
            except harness.NatsTimeout:
                continue
            ev = pb.ScheduleFireEvent.FromString(data)
            assert subject.endswith("." + ev.schedule_uuid)
            self.seen.append(ev)
            if pred(ev):
                got.append(ev)
        return got


@pytest.fixture
def jobs(daemon, ws):
    """A quick definition, a slow one and a cluster that takes both."""
    class J:
        quick = harness.make_jobdef(daemon, ws, "quick", QUICK).uuid
        sleepy = harness.make_jobdef(daemon, ws, "sleepy", SLEEPY).uuid
        cluster = harness.make_cluster(daemon, ws, "sched").uuid
    return J


# ---------------------------------------------------------------- firing

def test_fires_every_two_seconds(daemon, ws, jobs):
    fires = Fires(daemon, ws)
    before = int(time.time() * 1000)
    s = create_ok(daemon, ws, "every-2s", "*/2 * * * * *", jobs.quick,
                  cluster_uuid=jobs.cluster, max_concurrent_runs=0)
    after = int(time.time() * 1000)
    assert s.timezone == "Etc/UTC" and s.max_concurrent_runs == 0
    assert s.misfire_policy == pb.SKIP and not s.paused
    assert s.next_fire_at_ms % 2000 == 0
    # the next even second after the create, made between before and after
    assert before < s.next_fire_at_ms <= after + 2000, (before, s, after)
    evs = fires.take(4, pred=lambda e: e.schedule_uuid == s.uuid)
    t = [e.scheduled_for_ms for e in evs]
    assert t[0] == s.next_fire_at_ms
    assert [b - a for a, b in zip(t, t[1:])] == [2000, 2000, 2000]
    for e in evs:
        assert e.run_uuid and not e.skipped_reason and not e.triggered
        assert e.workspace == ws and e.missed == 0
        # on time: well within a second even under the sanitizers
        assert 0 <= e.at_ms - e.scheduled_for_ms < 1000, e
    runs = {r.uuid: r for r in history(daemon, ws, s.uuid)}
    for e in evs:
        r = runs[e.run_uuid]
        assert r.schedule_uuid == s.uuid
        assert r.scheduled_for_ms == e.scheduled_for_ms
        assert r.job_definition_uuid == jobs.quick
        assert r.cluster_uuid == jobs.cluster
    got = get(daemon, ws, s.uuid)
    assert got.fires >= 4 and got.last_run_uuid in runs
    assert got.next_fire_at_ms == got.last_fire_at_ms + 2000
    # the history is only this schedule's
    other = create_ok(daemon, ws, "other", "0 0 1 1 *", jobs.quick)
    assert history(daemon, ws, other.uuid) == []
    harness.wait_run(daemon, ws, evs[-1].run_uuid)


def test_pause_and_resume(daemon, ws, jobs):
    s = create_ok(daemon, ws, "every-1s", "* * * * * *", jobs.quick,
                  cluster_uuid=jobs.cluster, max_concurrent_runs=0)
    fires = Fires(daemon, ws)
    fires.take(2)
    rep = assert_ok(verb(daemon, ws, "pause", s.uuid)).schedule
    assert rep.paused and rep.next_fire_at_ms == 0
    n = len(history(daemon, ws, s.uuid))
    time.sleep(2.5)
    assert len(history(daemon, ws, s.uuid)) == n, "a paused schedule fired"
    paused = get(daemon, ws, s.uuid)
    assert paused.paused and paused.fires == n and paused.skipped == 0
    # pausing twice changes nothing
    assert assert_ok(verb(daemon, ws, "pause", s.uuid)).schedule == paused
    now = int(time.time() * 1000)
    rep = assert_ok(verb(daemon, ws, "resume", s.uuid)).schedule
    after = int(time.time() * 1000)
    assert not rep.paused and now < rep.next_fire_at_ms <= after + 1000, (
        now, rep, after)
    ev = fires.take(1, pred=lambda e: e.scheduled_for_ms >=
                    rep.next_fire_at_ms)[0]
    # nothing was made up for the pause: the first fire is the next one
    assert ev.scheduled_for_ms == rep.next_fire_at_ms and ev.missed == 0
    assert ev.run_uuid
    assert get(daemon, ws, s.uuid).skipped == 0


def test_trigger(daemon, ws, jobs):
    s = create_ok(daemon, ws, "yearly", "@yearly", jobs.quick,
                  cluster_uuid=jobs.cluster, paused=True,
                  args="--day today")
    assert s.paused and s.next_fire_at_ms == 0
    fires = Fires(daemon, ws)
    before = int(time.time() * 1000)
    rep = assert_ok(verb(daemon, ws, "trigger", s.uuid, pb.JobRunReply))
    r = rep.job_run
    assert r.schedule_uuid == s.uuid and r.job_definition_uuid == jobs.quick
    assert before <= r.scheduled_for_ms <= int(time.time() * 1000)
    assert r.args == "--day today" and r.config.args == "--day today"
    ev = fires.take(1)[0]
    assert ev.triggered and ev.run_uuid == r.uuid
    assert ev.scheduled_for_ms == r.scheduled_for_ms
    got = get(daemon, ws, s.uuid)
    assert got.fires == 1 and got.last_run_uuid == r.uuid and got.paused
    assert got.last_fire_at_ms == 0     # the cron has not fired
    assert harness.wait_run(daemon, ws, r.uuid).status == pb.SUCCEEDED
    # by name too
    rep = daemon.call("schedule.trigger", pb.GetScheduleRequest(
        name="yearly"), pb.JobRunReply, ws=ws)
    assert assert_ok(rep).job_run.schedule_uuid == s.uuid
    assert [x.uuid for x in history(daemon, ws, s.uuid)] == [
        r.uuid, rep.job_run.uuid]


def test_runs_take_the_schedules_timeout_and_retry_overrides(daemon, ws,
                                                              jobs):
    """A schedule's timeout_seconds and retry_strategy override the
    definition's for every run it starts, as run.submit's do: the run's
    config shows them. Out of range is INVALID_ARGUMENT naming the field,
    and creates nothing; an update replaces or clears them."""
    rep = create(daemon, ws, "bad", "@yearly", jobs.quick, timeout_seconds=0)
    assert_error(rep, pb.INVALID_ARGUMENT, "timeout_seconds")
    rep = create(daemon, ws, "bad", "@yearly", jobs.quick,
                 retry_strategy=pb.RetryStrategy(backoff_multiplier=0.5))
    assert_error(rep, pb.INVALID_ARGUMENT,
                 "retry_strategy.backoff_multiplier")
    rep = daemon.call("schedule.list", pb.ListSchedulesRequest(),
                      pb.ListSchedulesReply, ws=ws)
    assert [x.name for x in assert_ok(rep).schedules] == []
    s = create_ok(daemon, ws, "ov", "@yearly", jobs.quick, paused=True,
                  cluster_uuid=jobs.cluster, timeout_seconds=7,
                  retry_strategy=pb.RetryStrategy(num_retries=2,
                                                  retry_delay_seconds=3))
    assert s.timeout_seconds == 7 and s.retry_strategy.num_retries == 2
    r = assert_ok(verb(daemon, ws, "trigger", s.uuid, pb.JobRunReply)).job_run
    assert r.config.timeout_seconds == 7
    assert r.config.retry_strategy.num_retries == 2
    assert r.config.retry_strategy.retry_delay_seconds == 3
    assert harness.wait_run(daemon, ws, r.uuid).status == pb.SUCCEEDED
    rep = daemon.call("schedule.update", pb.UpdateScheduleRequest(
        uuid=s.uuid, timeout_seconds=9, clear_retry_strategy=True),
        pb.ScheduleReply, ws=ws)
    s = assert_ok(rep).schedule
    assert s.timeout_seconds == 9 and not s.HasField("retry_strategy")
    r = assert_ok(verb(daemon, ws, "trigger", s.uuid, pb.JobRunReply)).job_run
    assert r.config.timeout_seconds == 9
    assert r.config.retry_strategy.num_retries == 0     # the definition's
    rep = daemon.call("schedule.update", pb.UpdateScheduleRequest(
        uuid=s.uuid, timeout_seconds=5, clear_timeout_seconds=True),
        pb.ScheduleReply, ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, "clear_timeout_seconds")
    assert harness.wait_run(daemon, ws, r.uuid).status == pb.SUCCEEDED


def test_max_concurrent_runs_skips(daemon, ws, jobs):
    s = create_ok(daemon, ws, "overlap", "* * * * * *", jobs.sleepy,
                  cluster_uuid=jobs.cluster)
    assert s.max_concurrent_runs == 1
    fires = Fires(daemon, ws)
    first = fires.take(1, pred=lambda e: e.run_uuid)[0]
    skipped = fires.take(3, pred=lambda e: e.skipped_reason)
    for e in skipped:
        assert not e.run_uuid
        assert "max_concurrent_runs" in e.skipped_reason, e
    assert len(history(daemon, ws, s.uuid)) == 1
    got = get(daemon, ws, s.uuid)
    assert got.fires == 1 and got.skipped >= 3
    # a trigger counts against the limit too
    rep = verb(daemon, ws, "trigger", s.uuid, pb.JobRunReply)
    assert_error(rep, pb.FAILED_PRECONDITION, field="max_concurrent_runs")
    # the run ends: the next fire starts one
    assert_ok(daemon.call("run.cancel", pb.CancelJobRunRequest(
        uuid=first.run_uuid), pb.JobRunReply, ws=ws))
    again = fires.take(1, pred=lambda e: e.run_uuid)[0]
    assert again.run_uuid != first.run_uuid
    assert_ok(verb(daemon, ws, "pause", s.uuid))
    assert_ok(daemon.call("run.cancel", pb.CancelJobRunRequest(
        uuid=again.run_uuid), pb.JobRunReply, ws=ws))


def test_skip_reasons_queue_full_and_paused_cluster(daemon_factory, ws):
    d = daemon_factory(env={"BATCHD_QUEUE_CAP": "1"})
    d.start()
    sleepy = harness.make_jobdef(d, ws, "sleepy", SLEEPY).uuid
    busy = harness.make_cluster(d, ws, "busy").uuid
    held = harness.submit_ok(d, ws, sleepy, busy)
    harness.submit_ok(d, ws, sleepy, busy)          # the queue is full
    off = harness.make_cluster(d, ws, "off", auto_resume=False).uuid
    assert_ok(d.call("cluster.pause", pb.GetClusterRequest(uuid=off),
                     pb.ClusterReply, ws=ws))
    fires = Fires(d, ws)
    a = create_ok(d, ws, "to-full", "* * * * * *", sleepy,
                  cluster_uuid=busy, max_concurrent_runs=0)
    b = create_ok(d, ws, "to-paused", "* * * * * *", sleepy,
                  cluster_uuid=off, max_concurrent_runs=0)
    ea = fires.take(1, pred=lambda e: e.schedule_uuid == a.uuid)[0]
    eb = fires.take(1, pred=lambda e: e.schedule_uuid == b.uuid)[0]
    assert "queued" in ea.skipped_reason and not ea.run_uuid, ea
    assert "paused" in eb.skipped_reason and not eb.run_uuid, eb
    for s in (a, b):
        assert_ok(verb(d, ws, "pause", s.uuid))
    assert_ok(d.call("run.cancel_all", pb.CancelJobRunsRequest(
        cluster_uuids=[busy]), pb.CancelJobRunsReply, ws=ws))
    harness.wait_run(d, ws, held.uuid)


# ---------------------------------------------------------------- restarts

def test_kill9_around_fires_never_duplicates(daemon, ws, jobs):
    s = create_ok(daemon, ws, "every-second", "* * * * * *", jobs.quick,
                  cluster_uuid=jobs.cluster, max_concurrent_runs=0)
    rng = random.Random(24)
    for i in range(8):
        time.sleep(rng.uniform(0.3, 1.6))
        daemon.kill9()
        # one downtime surely holds a fire
        time.sleep(1.2 if i == 3 else rng.uniform(0.0, 0.3))
        daemon.start()
    time.sleep(1.5)
    assert_ok(verb(daemon, ws, "pause", s.uuid))
    got = get(daemon, ws, s.uuid)
    runs = history(daemon, ws, s.uuid)
    times = [r.scheduled_for_ms for r in runs]
    assert len(times) == len(set(times)), "a fire started two runs"
    assert all(t % 1000 == 0 for t in times)
    assert len(runs) == got.fires
    # none lost: every second from the first fire to the last is a run
    # or a skip (missed while batchd was down, misfire_policy SKIP)
    first = min(times)
    assert got.fires + got.skipped == (got.last_fire_at_ms - first) // 1000 \
        + 1, (got, times)
    assert got.skipped > 0, "no fire came while batchd was down"
    for r in runs:
        harness.wait_run(daemon, ws, r.uuid)


def test_misfire_policies_after_downtime(daemon, ws, jobs):
    skip = create_ok(daemon, ws, "skip", "* * * * * *", jobs.quick,
                     cluster_uuid=jobs.cluster, max_concurrent_runs=0)
    once = create_ok(daemon, ws, "once", "* * * * * *", jobs.quick,
                     cluster_uuid=jobs.cluster, max_concurrent_runs=0,
                     misfire_policy=pb.RUN_ONCE)
    fires = Fires(daemon, ws)
    fires.take(2)
    daemon.stop()
    down = int(time.time() * 1000)
    time.sleep(3.5)
    daemon.start()
    up = int(time.time() * 1000)
    evs = {}
    for e in fires.take(2, pred=lambda e: e.missed > 0, timeout=20):
        evs[e.schedule_uuid] = e
    es, eo = evs[skip.uuid], evs[once.uuid]
    # the SKIP schedule skipped every fire of the downtime
    assert not es.run_uuid and "down" in es.skipped_reason
    assert down < es.scheduled_for_ms < up and es.missed >= 2
    missed_runs = [r for r in history(daemon, ws, skip.uuid)
                   if down < r.scheduled_for_ms < up]
    assert missed_runs == []
    # the RUN_ONCE schedule ran once, for the latest of them
    assert eo.run_uuid and not eo.skipped_reason
    assert down < eo.scheduled_for_ms < up and eo.missed >= 2
    once_runs = [r for r in history(daemon, ws, once.uuid)
                 if down < r.scheduled_for_ms < up]
    assert [r.uuid for r in once_runs] == [eo.run_uuid]
    assert once_runs[0].scheduled_for_ms == eo.scheduled_for_ms
    # both fire on time again after that
    nxt = fires.take(2, pred=lambda e: e.scheduled_for_ms > up and
                     e.run_uuid)
    assert {e.schedule_uuid for e in nxt} <= {skip.uuid, once.uuid}
    for s in (skip, once):
        assert_ok(verb(daemon, ws, "pause", s.uuid))


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("cron,message", [
    ("0 0 * * 8", "day-of-week: 8 is out of range 0-7"),
    ("*/0 * * * *", "minute: step '0' is not from 1 to 60"),
    ("0 0 30 2 *", "never fires"),
    ("1 2 3", "3 fields: expected 5"),
    ("@every 5m", "is not one of @yearly"),
])
def test_bad_cron(daemon, ws, jobs, cron, message):
    rep = create(daemon, ws, "bad", cron, jobs.quick)
    e = assert_error(rep, pb.INVALID_ARGUMENT, field="cron")
    assert message in e.message and e.message.startswith("cron"), e.message
    assert_nothing(daemon, ws)


def test_bad_timezone(daemon, ws, jobs):
    for tz, message in (("Mars/Olympus", "is not a time zone"),
                        ("../../etc/passwd", "is not a time zone name"),
                        ("Europe", "is not a time zone")):
        rep = create(daemon, ws, "bad", "0 2 * * *", jobs.quick, timezone=tz)
        e = assert_error(rep, pb.INVALID_ARGUMENT, field="timezone")
        assert message in e.message and e.message.startswith("timezone"), \
            e.message
    assert_nothing(daemon, ws)


def test_bad_requests_change_nothing(daemon, ws, jobs):
    s = create_ok(daemon, ws, "good", "0 2 * * *", jobs.quick,
                  timezone="Europe/Berlin")
    cases = [
        (pb.CreateScheduleRequest(cron="* * * * *",
                                  job_definition_uuid=jobs.quick),
         pb.INVALID_ARGUMENT, "name"),
        (pb.CreateScheduleRequest(name="x", job_definition_uuid=jobs.quick),
         pb.INVALID_ARGUMENT, "cron"),
        (pb.CreateScheduleRequest(name="x", cron="* * * * *"),
         pb.INVALID_ARGUMENT, "job_definition_uuid"),
        (pb.CreateScheduleRequest(name="x", cron="* * * * *",
                                  job_definition_uuid=s.uuid),
         pb.NOT_FOUND, "job_definition_uuid"),
        (pb.CreateScheduleRequest(name="x", cron="* * * * *",
                                  job_definition_uuid=jobs.quick,
                                  cluster_uuid=s.uuid),
         pb.NOT_FOUND, "cluster_uuid"),
        (pb.CreateScheduleRequest(name="x", cron="* * * * *",
                                  job_definition_uuid=jobs.quick,
                                  max_concurrent_runs=5000),
         pb.INVALID_ARGUMENT, "max_concurrent_runs"),
        (pb.CreateScheduleRequest(name="good", cron="* * * * *",
                                  job_definition_uuid=jobs.quick),
         pb.ALREADY_EXISTS, "name"),
        (pb.CreateScheduleRequest(name="x", cron="* * * * *",
                                  job_definition_uuid=jobs.quick,
                                  cluster_config=pb.ClusterConfig()),
         pb.INVALID_ARGUMENT, "cluster_config.instance_type"),
        (pb.CreateScheduleRequest(name="x", cron="* * * * *",
                                  job_definition_uuid=jobs.quick,
                                  misfire_policy=7),
         pb.INVALID_ARGUMENT, "misfire_policy"),
    ]
    for req, code, field in cases:
        rep = daemon.call("schedule.create", req, pb.ScheduleReply, ws=ws)
        assert_error(rep, code, field=field)
    for req, code, field in (
            (pb.UpdateScheduleRequest(uuid=s.uuid, cron="61 * * * *"),
             pb.INVALID_ARGUMENT, "cron"),
            (pb.UpdateScheduleRequest(uuid=s.uuid, timezone="Nowhere"),
             pb.INVALID_ARGUMENT, "timezone"),
            (pb.UpdateScheduleRequest(uuid=s.uuid, args="x",
                                      clear_args=True),
             pb.INVALID_ARGUMENT, "clear_args"),
            (pb.UpdateScheduleRequest(uuid=jobs.quick, cron="* * * * *"),
             pb.NOT_FOUND, "uuid"),
            (pb.UpdateScheduleRequest(cron="* * * * *"),
             pb.INVALID_ARGUMENT, "uuid")):
        rep = daemon.call("schedule.update", req, pb.ScheduleReply, ws=ws)
        assert_error(rep, code, field=field)
    assert get(daemon, ws, s.uuid) == s
    for name in ("get", "pause", "resume", "trigger", "delete"):
        rep = daemon.call("schedule." + name, pb.GetScheduleRequest(),
                          pb.ScheduleReply, ws=ws)
        assert_error(rep, pb.INVALID_ARGUMENT, field="uuid")
        rep = daemon.call("schedule." + name, pb.GetScheduleRequest(
            name="nope"), pb.ScheduleReply, ws=ws)
        assert_error(rep, pb.NOT_FOUND, field="name")
    # another workspace sees nothing
    rep = daemon.call("schedule.get", pb.GetScheduleRequest(uuid=s.uuid),
                      pb.ScheduleReply, ws=ws + "-other")
    assert_error(rep, pb.NOT_FOUND, field="uuid")
    assert get(daemon, ws, s.uuid) == s


def assert_nothing(d, ws):
    rep = assert_ok(d.call("schedule.list", pb.ListSchedulesRequest(),
                           pb.ListSchedulesReply, ws=ws))
    assert list(rep.schedules) == []


# ---------------------------------------------------------------- the rest

def test_crud_list_and_update(daemon, ws, jobs):
    made = [create_ok(daemon, ws, "s%d" % i, "0 %d * * *" % i, jobs.quick,
                      description="no. %d" % i) for i in range(5)]
    names, token = [], ""
    while True:
        rep = assert_ok(daemon.call("schedule.list", pb.ListSchedulesRequest(
            page_size=2, page_token=token), pb.ListSchedulesReply, ws=ws))
        assert len(rep.schedules) <= 2
        names += [s.name for s in rep.schedules]
        token = rep.next_page_token
        if not token:
            break
    assert names == ["s0", "s1", "s2", "s3", "s4"]
    rep = daemon.call("schedule.list", pb.ListSchedulesRequest(
        page_token="rnonsense.00000000"), pb.ListSchedulesReply, ws=ws)
    assert_error(rep, pb.INVALID_ARGUMENT, field="page_token")
    got = assert_ok(daemon.call("schedule.get", pb.GetScheduleRequest(
        name="s3"), pb.ScheduleReply, ws=ws)).schedule
    assert got == made[3]
    # update: set fields replace, the rest stays; a new cron replans
    s = made[1]
    up = pb.UpdateScheduleRequest(uuid=s.uuid, cron="30 4 * * *",
                                  timezone="America/New_York",
                                  max_concurrent_runs=3, args="-v")
    up.env["STAGE"] = "prod"
    new = assert_ok(daemon.call("schedule.update", up, pb.ScheduleReply,
                                ws=ws)).schedule
    assert new.cron == "30 4 * * *" and new.timezone == "America/New_York"
    assert new.max_concurrent_runs == 3 and new.args == "-v"
    assert dict(new.env) == {"STAGE": "prod"}
    assert new.description == "no. 1" and new.created_at_ms == s.created_at_ms
    wall = datetime.datetime.fromtimestamp(new.next_fire_at_ms / 1000,
                                           ZoneInfo("America/New_York"))
    assert (wall.hour, wall.minute, wall.second) == (4, 30, 0)
    new2 = assert_ok(daemon.call("schedule.update", pb.UpdateScheduleRequest(
        uuid=s.uuid, clear_args=True, clear_env=True, description=""),
        pb.ScheduleReply, ws=ws)).schedule
    assert not new2.HasField("args") and not new2.env
    assert new2.description == ""
    assert new2.next_fire_at_ms == new.next_fire_at_ms  # cron kept
    assert_ok(daemon.call("schedule.delete", pb.GetScheduleRequest(
        uuid=made[0].uuid), pb.DeleteReply, ws=ws))
    assert_error(verb(daemon, ws, "get", made[0].uuid), pb.NOT_FOUND)
    # the name is free again, with a new uuid
    again = create_ok(daemon, ws, "s0", "@daily", jobs.quick)
    assert again.uuid != made[0].uuid


def test_time_zones_and_dst(daemon, ws, jobs):
    """next_fire_at_ms of a nightly schedule in a zone, across DST."""
    for zone in ("America/New_York", "Australia/Lord_Howe", "Pacific/Apia",
                 "Europe/Berlin"):
        s = create_ok(daemon, ws, "nightly-" + zone.replace("/", "-"),
                      "30 2 * * *", jobs.quick, timezone=zone)
        z = ZoneInfo(zone)
        now = datetime.datetime.now(z)
        want = now.replace(hour=2, minute=30, second=0, microsecond=0)
        if want <= now:
            want = (want + datetime.timedelta(days=1)).replace(
                hour=2, minute=30)
        # on a day when 02:30 does not exist it fires at the gap's end
        first = int(want.timestamp())
        assert abs(s.next_fire_at_ms // 1000 - first) <= 3600, (zone, s)
        wall = datetime.datetime.fromtimestamp(s.next_fire_at_ms / 1000, z)
        assert (wall.hour, wall.minute) in ((2, 30), (3, 0), (3, 30)), wall


def test_definition_in_use_cannot_be_deleted(daemon, ws, jobs):
    s = create_ok(daemon, ws, "uses-quick", "@hourly", jobs.quick,
                  cluster_uuid=jobs.cluster)
    run = assert_ok(verb(daemon, ws, "trigger", s.uuid,
                         pb.JobRunReply)).job_run
    rep = daemon.call("jobdef.delete", pb.DeleteJobDefinitionRequest(
        uuid=jobs.quick), pb.DeleteReply, ws=ws)
    e = assert_error(rep, pb.FAILED_PRECONDITION, field="uuid")
    assert "uses-quick" in e.message and s.uuid in e.message
    # another definition: the first is free after the update
    assert_ok(daemon.call("schedule.update", pb.UpdateScheduleRequest(
        uuid=s.uuid, job_definition_uuid=jobs.sleepy), pb.ScheduleReply,
        ws=ws))
    harness.wait_run(daemon, ws, run.uuid)
    assert_ok(daemon.call("jobdef.delete", pb.DeleteJobDefinitionRequest(
        uuid=jobs.quick), pb.DeleteReply, ws=ws))
    # deleting the schedule leaves its runs
    assert_ok(daemon.call("schedule.delete", pb.GetScheduleRequest(
        uuid=s.uuid), pb.DeleteReply, ws=ws))
    assert harness.get_run(daemon, ws, run.uuid).schedule_uuid == s.uuid
    assert [r.uuid for r in history(daemon, ws, s.uuid)] == [run.uuid]
    assert_ok(daemon.call("jobdef.delete", pb.DeleteJobDefinitionRequest(
        uuid=jobs.sleepy), pb.DeleteReply, ws=ws))


def test_pause_cluster_when_finished(daemon, ws, jobs):
    s = create_ok(daemon, ws, "pauser", "@daily", jobs.quick,
                  cluster_uuid=jobs.cluster,
                  pause_cluster_when_finished=True)
    r = assert_ok(verb(daemon, ws, "trigger", s.uuid, pb.JobRunReply)).job_run
    assert r.pause_cluster_when_finished
    assert harness.wait_run(daemon, ws, r.uuid).status == pb.SUCCEEDED
    harness.wait_until(lambda: harness.get_cluster(
        daemon, ws, jobs.cluster).cluster.state == pb.Cluster.PAUSED, 10,
        what="the cluster paused")
    # a schedule with a new cluster per run pauses nothing
    s2 = create_ok(daemon, ws, "own-cluster", "@daily", jobs.quick,
                   cluster_config=harness.cluster_config(),
                   pause_cluster_when_finished=True)
    r2 = assert_ok(verb(daemon, ws, "trigger", s2.uuid,
                        pb.JobRunReply)).job_run
    assert r2.ephemeral_cluster and not r2.pause_cluster_when_finished
    assert harness.wait_run(daemon, ws, r2.uuid).status == pb.SUCCEEDED


def test_quota_schedules(daemon_factory, ws):
    d = daemon_factory(env={"BATCHD_QUOTA_SCHEDULES": "2"})
    d.start()
    q = harness.make_jobdef(d, ws, "quick", QUICK).uuid
    create_ok(d, ws, "a", "@daily", q)
    b = create_ok(d, ws, "b", "@daily", q)
    e = assert_error(create(d, ws, "c", "@daily", q), pb.RESOURCE_EXHAUSTED)
    assert "quota_schedules" in e.message
    assert_ok(d.call("schedule.delete", pb.GetScheduleRequest(uuid=b.uuid),
                     pb.DeleteReply, ws=ws))
    create_ok(d, ws, "c", "@daily", q)


def test_metrics(daemon_factory, ws):
    port = harness.free_port()
    d = daemon_factory(env={"BATCHD_HTTP_LISTEN": "127.0.0.1:%d" % port})
    d.start()
    q = harness.make_jobdef(d, ws, "quick", QUICK).uuid
    c = harness.make_cluster(d, ws, "m").uuid
    s = create_ok(d, ws, "m", "* * * * * *", q, cluster_uuid=c,
                  max_concurrent_runs=0)
    Fires(d, ws).take(2)
    assert_ok(verb(d, ws, "trigger", s.uuid, pb.JobRunReply))
    assert_ok(verb(d, ws, "pause", s.uuid))
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                  timeout=5).read().decode()

    def value(name):
        m = re.search(r"^%s (\d+(\.\d+)?)$" % re.escape(name), body, re.M)
        assert m, name
        return float(m.group(1))
    assert value('batchd_schedule_fires_total{outcome="run"}') >= 2
    assert value('batchd_schedule_fires_total{outcome="trigger"}') == 1
    assert value("batchd_schedule_fire_lag_seconds_count") >= 2
    assert value('batchd_schedule_fire_lag_seconds_bucket{le="+Inf"}') >= 2
    assert value("batchd_schedules") == 1
    for r in history(d, ws, s.uuid):
        harness.wait_run(d, ws, r.uuid)
