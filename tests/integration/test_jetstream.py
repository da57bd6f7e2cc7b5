"""jetstream = on: batchd makes its streams and publishes status events and
log chunks with Nats-Msg-Id, so the stream holds each event exactly once
even when batchd publishes again (after kill -9 and restart, or a NATS
restart)."""

import json
import os
import subprocess
import time

import pytest

import harness
from harness import _pb, assert_ok

pb = _pb()


@pytest.fixture
def js_server(tmp_path):
    port = harness.free_port()
    store = tmp_path / "js"
    cmd = [harness.NATS_SERVER_BIN, "-a", "127.0.0.1", "-p", str(port),
           "-js", "-sd", str(store)]
    log = open(str(tmp_path / "nats.log"), "ab")
    state = {"proc": None}

    def start():
        state["proc"] = subprocess.Popen(cmd, stdout=log, stderr=log)
        harness.wait_until(lambda: _connects(port), 10, what="nats -js up")

    def stop():
        if state["proc"] is not None:
            state["proc"].terminate()
            state["proc"].wait(10)
            state["proc"] = None

    start()
    yield type("JS", (), {"port": port, "url": "nats://127.0.0.1:%d" % port,
                          "start": staticmethod(start),
                          "stop": staticmethod(stop)})
    stop()


def _connects(port):
    try:
        harness.NatsClient(harness.HOST, port, connect_timeout=0.5).close()
        return True
    except Exception:
        return False


def js_api(port, subject, body=b""):
    nc = harness.NatsClient(harness.HOST, port)
    try:
        return json.loads(nc.request(subject, body, 5))
    finally:
        nc.close()


def stream_events(port, stream="BATCHD_EVENTS"):
    """Every message of the stream: (Nats-Msg-Id, JobRunStatusEvent)."""
    info = js_api(port, "$JS.API.STREAM.INFO." + stream)
    assert "error" not in info, info
    st = info["state"]
    out = []
    for seq in range(st["first_seq"], st["last_seq"] + 1):
        m = js_api(port, "$JS.API.STREAM.MSG.GET." + stream,
                   json.dumps({"seq": seq}).encode())
        if "message" not in m:
            continue
        import base64
        hdrs = base64.b64decode(m["message"].get("hdrs", "")).decode()
        mid = [h.split(":", 1)[1].strip() for h in hdrs.split("\r\n")
               if h.lower().startswith("nats-msg-id:")]
        ev = pb.JobRunStatusEvent.FromString(
            base64.b64decode(m["message"].get("data", "")))
        out.append((mid[0] if mid else None, ev))
    return out


def submit_all(d, ws, n):
    jobs = os.path.join(d.ws_root, ws, "jobs")
    os.makedirs(jobs, exist_ok=True)
    with open(os.path.join(jobs, "q.py"), "w") as f:
        f.write("print('hi')\n")
    jd = d.call("jobdef.create", pb.CreateJobDefinitionRequest(
        name="q", config=pb.JobConfig(
            source=pb.JobSource(type=pb.WORKSPACE,
                                workspace=pb.WorkspaceSource(path="jobs")),
            type=pb.PYTHON, source_location="q.py"),
        cluster_config=pb.ClusterConfig(instance_type="local",
                                        workers_quantity=1, version="3")),
        pb.JobDefinitionReply, ws=ws)
    assert_ok(jd)
    runs = []
    for _ in range(n):
        r = d.call("run.submit", pb.SubmitJobRunRequest(
            job_definition_uuid=jd.job_definition.uuid), pb.JobRunReply,
            ws=ws)
        assert_ok(r)
        runs.append(r.job_run.uuid)
    return runs


def finished(d, ws, runs):
    for u in runs:
        r = d.call("run.get", pb.GetJobRunRequest(uuid=u), pb.JobRunReply,
                   ws=ws)
        if r.job_run.status not in (pb.SUCCEEDED, pb.FAILED):
            return False
    return True


def test_events_exactly_once_in_stream(js_server, daemon_factory, ws):
    d = daemon_factory(nats_url=js_server.url,
                       env={"BATCHD_JETSTREAM": "on"}).start()
    harness.wait_until(lambda: "jetstream ready" in
                       open(d.stderr_path).read(), 15, what="streams made")
    runs = submit_all(d, ws, 6)
    # Kill batchd in the middle and start it again: it publishes again
    # whatever it had not seen acknowledged.
    time.sleep(0.3)
    d.kill9()
    d.start()
    harness.wait_until(lambda: finished(d, ws, runs), 30, what="runs done")
    # And the NATS server goes away and comes back (same store).
    js_server.stop()
    time.sleep(1)
    js_server.start()
    d.wait_ready(15)

    want = {}
    for u in runs:
        ev = d.call("run.events", pb.GetJobRunRequest(uuid=u),
                    pb.JobRunEventsReply, ws=ws)
        assert_ok(ev)
        want[u] = [e.seq for e in ev.events]

    def complete():
        got = stream_events(js_server.port)
        have = {}
        for mid, ev in got:
            if ev.run_uuid in want:
                have.setdefault(ev.run_uuid, []).append(ev.seq)
        return all(sorted(have.get(u, [])) == want[u] for u in want)
    harness.wait_until(complete, 20, what="every event in the stream")

    got = [(mid, ev) for mid, ev in stream_events(js_server.port)
           if ev.run_uuid in want]
    ids = [mid for mid, _ in got]
    assert len(ids) == len(set(ids)), "a duplicate reached the stream"
    for mid, ev in got:
        assert mid == "%s:%d" % (ev.run_uuid, ev.seq)
    assert len(got) == sum(len(v) for v in want.values())
    info = js_api(js_server.port, "$JS.API.STREAM.INFO.BATCHD_LOGS")
    assert info["state"]["messages"] > 0


def test_schedule_fires_in_stream(js_server, daemon_factory, ws):
    """Fire events go through JetStream too, with Nats-Msg-Id
    "{schedule_uuid}:{scheduled_for_ms}"; an events stream made before
    schedules existed (status subjects only) is given their subject."""
    rep = js_api(js_server.port, "$JS.API.STREAM.CREATE.BATCHD_EVENTS",
                 json.dumps({"name": "BATCHD_EVENTS", "storage": "file",
                             "subjects": ["batchd.v1.*.status.>"]})
                 .encode())
    assert "error" not in rep, rep
    d = daemon_factory(nats_url=js_server.url,
                       env={"BATCHD_JETSTREAM": "on"}).start()
    harness.wait_until(lambda: "jetstream ready" in
                       open(d.stderr_path).read(), 15, what="streams made")
    info = js_api(js_server.port, "$JS.API.STREAM.INFO.BATCHD_EVENTS")
    assert "batchd.v1.*.schedule_fires.>" in info["config"]["subjects"]
    jd = harness.make_jobdef(d, ws, "q", "print('hi')\n")
    c = harness.make_cluster(d, ws, "c")
    s = assert_ok(d.call("schedule.create", pb.CreateScheduleRequest(
        name="s", cron="* * * * * *", job_definition_uuid=jd.uuid,
        cluster_uuid=c.uuid, max_concurrent_runs=0), pb.ScheduleReply,
        ws=ws)).schedule
    subject = "batchd.v1.%s.schedule_fires.%s" % (ws, s.uuid)

    def fires():
        import base64
        st = js_api(js_server.port,
                    "$JS.API.STREAM.INFO.BATCHD_EVENTS")["state"]
        out = []
        for seq in range(st["first_seq"], st["last_seq"] + 1):
            m = js_api(js_server.port,
                       "$JS.API.STREAM.MSG.GET.BATCHD_EVENTS",
                       json.dumps({"seq": seq}).encode()).get("message")
            if m is None or m["subject"] != subject:
                continue
            hdrs = base64.b64decode(m.get("hdrs", "")).decode()
            mid = [h.split(":", 1)[1].strip() for h in hdrs.split("\r\n")
                   if h.lower().startswith("nats-msg-id:")]
            out.append((mid[0], pb.ScheduleFireEvent.FromString(
                base64.b64decode(m["data"]))))
        return out
    harness.wait_until(lambda: len(fires()) >= 2, 20,
                       what="two fires in the stream")
    assert_ok(d.call("schedule.pause", pb.GetScheduleRequest(uuid=s.uuid),
                     pb.ScheduleReply, ws=ws))
    for mid, ev in fires():
        assert mid == "%s:%d" % (s.uuid, ev.scheduled_for_ms)
        assert ev.run_uuid
