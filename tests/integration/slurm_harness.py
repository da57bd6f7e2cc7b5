"""A private single-node Slurm for the slurm backend's tests, and a batchd
started with a configuration file.

    s = Slurm(folder); s.start()       munged, slurmctld, slurmd as root on
                                       127.0.0.1, everything under folder
    s.tool("squeue", "-h")             a client tool with SLURM_CONF set
    s.stop()                           cancel every job, then stop the three
                                       daemons in parallel

The daemons come from Debian's packages (slurmctld, slurmd, slurm-client,
munge) and run without systemd: munged -F with its own key, socket, log,
pid and seed files; slurmctld -D and slurmd -D with the slurm.conf made
from slurm/slurm.conf.in (AuthInfo names munged's socket). Only root can
run them (SlurmUser=root); available() says whether this host can.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "slurm", "slurm.conf.in")
PARTITION = "batchd"
NODE = "batchd1"

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue",
           "scontrol", "scancel", "srun")


def _which(prog):
    return shutil.which(prog, path=os.environ.get("PATH", "") +
                        ":/usr/sbin:/sbin")


def available():
    """None if a private Slurm can run here, else why not."""
    if os.geteuid() != 0:
        return "the Slurm daemons run as root (SlurmUser=root)"
    missing = [p for p in DAEMONS if _which(p) is None]
    if missing:
        return ("missing %s (Debian packages slurmctld slurmd slurm-client "
                "munge)" % " ".join(missing))
    return None


class Slurm:
    """munged + slurmctld + slurmd under one folder; see the module text."""

    def __init__(self, folder):
        self.root = os.path.abspath(str(folder))
        self.conf = os.path.join(self.root, "slurm.conf")
        self.munge_dir = os.path.join(self.root, "munge")
        self.munge_socket = os.path.join(self.munge_dir, "munge.socket")
        self.host = socket.gethostname().split(".")[0]
        self.partition = PARTITION
        self.node = NODE
        self.procs = {}         # name -> Popen
        self._logs = []

    # --------------------------------------------------- lifecycle

    def env(self):
        """Environment for a client tool (or anything reaching Slurm)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLURM_", "SBATCH_", "SQUEUE_",
                                    "SCANCEL_", "SRUN_", "SALLOC_"))}
        env["SLURM_CONF"] = self.conf
        return env

    def _spawn(self, name, argv):
        log = open(os.path.join(self.root, name + ".out"), "ab")
        self._logs.append(log)
        self.procs[name] = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env=self.env(), cwd=self.root, start_new_session=True)

    def _write_conf(self):
        with open(TEMPLATE) as f:
            text = f.read()
        for k, v in {"ROOT": self.root, "HOST": self.host,
                     "CTLD_PORT": str(harness.free_port()),
                     "SLURMD_PORT": str(harness.free_port()),
                     "MUNGE_SOCKET": self.munge_socket,
                     "NODE": self.node,
                     "PARTITION": self.partition}.items():
            text = text.replace("@%s@" % k, v)
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, timeout=30.0):
        for d in (self.root, os.path.join(self.root, "state"),
                  os.path.join(self.root, "spool")):
            os.makedirs(d, exist_ok=True)
        os.makedirs(self.munge_dir, mode=0o700, exist_ok=True)
        os.chmod(self.munge_dir, 0o755)     # munged wants 0755 or tighter
        self._write_conf()
        key = os.path.join(self.munge_dir, "munge.key")
        if not os.path.exists(key):
            subprocess.run([_which("mungekey"), "-c", "-k", key],
                           check=True, capture_output=True)
        self._spawn("munged", [
            _which("munged"), "-F", "--force",
            "--socket=" + self.munge_socket, "--key-file=" + key,
            "--log-file=" + os.path.join(self.munge_dir, "munged.log"),
            "--pid-file=" + os.path.join(self.munge_dir, "munged.pid"),
            "--seed-file=" + os.path.join(self.munge_dir, "munged.seed")])
        try:
            harness.wait_until(lambda: self._check("munged") and
                               os.path.exists(self.munge_socket), timeout,
                               what="munged's socket")
            self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i",
                                      "-f", self.conf])
            self._spawn("slurmd", [_which("slurmd"), "-D", "-N", self.node,
                                   "-f", self.conf])
            harness.wait_until(self._idle, timeout, interval=0.1,
                               what="the Slurm node to be idle\n" +
                               self.log_tail())
        except BaseException:
            self.stop()
            raise
        return self

    def _check(self, name):
        p = self.procs.get(name)
        if p is not None and p.poll() is not None:
            raise AssertionError("%s exited with %s\n%s" % (
                name, p.returncode, self.log_tail()))
        return True

    def _idle(self):
        for name in self.procs:
            self._check(name)
        r = self.tool("sinfo", "-h", "-n", self.node, "-o", "%T",
                      check=False)
        return r.returncode == 0 and r.stdout.strip() == "idle"

    def tool(self, prog, *args, check=True, timeout=30):
        """Run a client tool; the CompletedProcess (text)."""
        r = subprocess.run([_which(prog)] + list(args), env=self.env(),
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("%s %s: exit %d: %s" % (
                prog, " ".join(args), r.returncode, r.stderr.strip()))
        return r

    def jobs(self):
        """{job id: state} of every job slurmctld knows."""
        r = self.tool("squeue", "-h", "-t", "all", "-o", "%i %T",
                      check=False)
        out = {}
        for line in r.stdout.splitlines():
            f = line.split()
            if len(f) == 2:
                out[f[0]] = f[1]
        return out

    def cancel_all(self, timeout=20.0):
        """Cancel every job and wait until none is left running."""
        live = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING",
                "SUSPENDED", "REQUEUED", "SIGNALING", "STOPPED")
        ids = [j for j, st in self.jobs().items() if st in live]
        if not ids:
            return
        self.tool("scancel", *ids, check=False)
        harness.wait_until(lambda: not any(
            st in live for st in self.jobs().values()), timeout,
            interval=0.1, what="Slurm's jobs to end")

    def stop(self, timeout=20.0):
        """Cancel every job, then SIGTERM the daemons together and wait."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() \
                is None:
            try:
                self.cancel_all()
            except AssertionError:
                pass
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = {}
        for log in self._logs:
            log.close()
        self._logs = []

    # --------------------------------------------------- diagnostics

    def log_tail(self, lines=30):
        out = []
        for name in ("slurmctld.log", "slurmd.log", "munge/munged.log",
                     "munged.out", "slurmctld.out", "slurmd.out"):
            path = os.path.join(self.root, name)
            if os.path.exists(path):
                out.append("---- %s ----\n%s" % (path,
                                                  harness.tail(path, lines)))
        return "\n".join(out)


class ConfDaemon(harness.Daemon):
    """A harness.Daemon started with -c CONF (the harness passes only
    environment variables, and [instance.TYPE] sections need a file)."""

    def __init__(self, tmpdir, nats_url, conf_text, **kw):
        super().__init__(tmpdir, nats_url, **kw)
        self.conf_path = os.path.join(self.tmpdir, "batchd.conf")
        with open(self.conf_path, "w") as f:
            f.write(conf_text)
        self._real_binary = self.binary
        # harness.Daemon runs [self.binary]: a wrapper adds -c.
        self.binary = os.path.join(self.tmpdir, "batchd-with-conf")
        with open(self.binary, "w") as f:
            f.write("#!/bin/sh\nexec '%s' -c '%s' \"$@\"\n" % (
                self._real_binary.replace("'", "'\\''"),
                self.conf_path.replace("'", "'\\''")))
        os.chmod(self.binary, 0o755)
