"""One nginx of the benches, from a prefix of its own: how bench.py,
startup.py and state_load.py start it, wait for it, reload it and stop it.

The caller writes nginx.conf (and what it names) into the prefix; start()
returns once the master answers on every port with a worker up.
"""

import os
import signal
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


def wait_for(condition, what, seconds):
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            raise RuntimeError("nginx: %s did not happen within %d s" % (what, seconds))
        time.sleep(0.005)


class NginxInstance:
    """`binary` run as `binary -p PREFIX/ -c PREFIX/nginx.conf`, pinned to
    `cpu` when given; it answers on every port of `ports`. `wait_seconds`
    bounds each wait (a registry of 100k clients takes a while to parse)."""

    def __init__(self, binary, prefix, ports, cpu=None, wait_seconds=10):
        self.binary, self.prefix, self.ports, self.cpu = binary, prefix, ports, cpu
        self.wait_seconds = wait_seconds
        self.master = self.worker = None

    def make_dirs(self):
        for d in ("logs", "tmp", "modules"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)

    def command(self, *args):
        pin = ["taskset", "-c", str(self.cpu)] if self.cpu is not None else []
        return pin + [self.binary, "-p", self.prefix + "/",
                      "-c", os.path.join(self.prefix, "nginx.conf")] + list(args)

    def test_config(self):
        """`nginx -t`; its wall seconds."""
        started = time.time()
        r = subprocess.run(self.command("-t", "-q"), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nginx -t failed:\n" + r.stderr)
        return time.time() - started

    def start(self):
        """Starts nginx; the wall seconds until it answers with a worker up."""
        started = time.time()
        r = subprocess.run(self.command(), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nginx failed to start:\n%s%s" % (r.stdout, r.stderr))
        wait_for(self.read_pid, "writing its pid file", self.wait_seconds)
        wait_for(lambda: all(accepts(p) for p in self.ports) and children_of(self.master),
                 "answering on %s with a worker" % self.ports, self.wait_seconds)
        elapsed = time.time() - started
        self.worker = children_of(self.master)[0]
        return elapsed

    def read_pid(self):
        try:
            with open(os.path.join(self.prefix, "logs", "nginx.pid")) as f:
                self.master = int(f.read().strip())
            return True
        except (OSError, ValueError):
            return False

    def reload(self):
        """SIGHUP; the wall seconds until the master started a new worker."""
        old = set(children_of(self.master))
        started = time.time()
        os.kill(self.master, signal.SIGHUP)
        wait_for(lambda: set(children_of(self.master)) - old, "reload", self.wait_seconds)
        elapsed = time.time() - started
        wait_for(lambda: not set(children_of(self.master)) & old, "old worker exit",
                 self.wait_seconds)
        self.worker = children_of(self.master)[0]
        return elapsed

    def stop(self):
        """SIGTERM, then SIGKILL for whatever is left after 10 s."""
        if self.master is None:
            return
        pids = [self.master] + children_of(self.master)
        try:
            os.kill(self.master, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.time() + 10
        while time.time() < deadline and any(alive(p) for p in pids):
            time.sleep(0.02)
        for p in pids:
            if alive(p):
                os.kill(p, signal.SIGKILL)
        self.master = self.worker = None

    def error_log(self):
        try:
            with open(os.path.join(self.prefix, "logs", "error.log")) as f:
                return f.read()
        except OSError:
            return ""
