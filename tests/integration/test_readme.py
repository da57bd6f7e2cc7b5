"""The README's "First run, step by step" block, run as written against a
real daemon: a person following it gets what it says. Only what cannot be
the same here is replaced: the binary's path, the metrics address, and
RUN_UUID (the run the block submitted)."""

import os
import re
import subprocess

import pytest

import harness

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "README.md")
BATCHCTL = os.environ.get("BATCHCTL_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(harness.BATCHD_BIN)), "batchctl")


def walkthrough():
    text = open(README).read()
    m = re.search(r"## First run, step by step\n.*?```sh\n(.*?)```", text,
                  re.S)
    assert m, "README has no 'First run, step by step' shell block"
    return m.group(1)


def test_readme_walkthrough(run_daemon_factory, tmp_path):
    port = harness.free_port()
    root = tmp_path / "clone"
    root.mkdir()
    d = run_daemon_factory(env={
        "BATCHD_WORKSPACE_ROOT": str(root / "var" / "workspaces"),
        "BATCHD_HTTP_LISTEN": "127.0.0.1:%d" % port})
    d.start()
    last_run = ("$(%s -o json run list | python3 -c 'import json, sys; "
                "print(json.load(sys.stdin)[0][\"uuid\"])')" % BATCHCTL)
    script = (walkthrough().replace("build/batchctl", BATCHCTL)
              .replace("127.0.0.1:9464", "127.0.0.1:%d" % port)
              .replace("RUN_UUID", last_run))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BATCHD_")}
    env["NATS_URL"] = d.nats_url
    p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script],
                       cwd=str(root), env=env, capture_output=True,
                       text=True, timeout=120)
    out = p.stdout
    assert p.returncode == 0, "stdout:\n%s\nstderr:\n%s" % (out, p.stderr)
    # the job's output, from --follow and again from run logs
    lines = ["step %d ['--day', '2026-11-24']" % i for i in range(3)]
    for ln in lines:
        assert out.count(ln) == 2, out
    assert "RUNNING -> SUCCEEDED" in out, out
    assert re.search(r"^[0-9a-f-]{36}\s+SUCCEEDED", out, re.M), out
    assert re.search(r'^batchd_run_transitions_total\{.*status="SUCCEEDED"',
                     out, re.M), out
    # status changes of --follow on stderr, and no sanitizer report
    assert "SUCCEEDED" in p.stderr, p.stderr
    assert "Sanitizer" not in p.stderr, p.stderr
