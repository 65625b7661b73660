"""make bench, the fleet figures (SPEC "A fleet of nodes"): a redis-server on
a free loopback port and nginx nodes (bench/fleet.conf.in) that issue JWTs
signed by one shared key, all but one naming that Redis in oauth_fleet_redis.

- figures 9a/9b: the gate and issuance on a fleet node / on the same node
  without a fleet; the two nodes share the server's core and run in turn in
  bench.py's rounds like every other pair of variants;
- figures 9c/9d: revocation propagation, p50 and p99: a JWT revoked on one of
  three fleet nodes, the time from the revocation's answer until each of the
  two others refuses it (polled on kept-alive connections).

Redis and the two extra fleet nodes run on the client's core: only the
measured node shares the server's.
"""

import http.client
import os
import shutil
import signal
import statistics
import subprocess
import time

PROPAGATION_SAMPLES = 200
PROPAGATION_BOUND = 5.0  # seconds: a revocation not seen by then counts as this


class Redis:
    def __init__(self, workdir, port, cpu):
        self.dir, self.port, self.cpu = os.path.join(workdir, "redis"), port, cpu
        self.proc = None

    def start(self, wait_port):
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(self.cpu), "redis-server", "--bind", "127.0.0.1", "--port",
             str(self.port), "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--logfile", os.path.join(self.dir, "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port, time.time() + 10):
            raise RuntimeError("redis-server does not answer on port %d" % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Poller:
    """One kept-alive connection to a node, asking GET /protected with a token."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

    def status(self, token):
        try:
            self.conn.request("GET", "/protected", headers={"Authorization": "Bearer " + token})
            r = self.conn.getresponse()
            r.read()
            return r.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            return None


def propagation(issue, revoke, ports, samples, log):
    """Seconds from each revocation's answer on ports[k % n] until each other
    node refuses the token: a list of 2 * samples delays."""
    pollers = {p: Poller(p) for p in ports}
    delays = []
    for k in range(samples):
        origin = ports[k % len(ports)]
        others = [p for p in ports if p != origin]
        token = issue(origin)
        for p in others:
            if pollers[p].status(token) != 200:
                raise RuntimeError("a fresh JWT of node %d does not pass on node %d" % (origin, p))
        revoke(origin, token)
        t0 = time.monotonic()
        waiting = set(others)
        while waiting:
            for p in list(waiting):
                if pollers[p].status(token) == 401:
                    delays.append(time.monotonic() - t0)
                    waiting.discard(p)
            if time.monotonic() - t0 > PROPAGATION_BOUND:
                delays += [PROPAGATION_BOUND] * len(waiting)
                log("propagation: a revocation on node %d not seen in %g s" % (origin, PROPAGATION_BOUND))
                break
    return delays


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def summary(delays):
    return {"samples": len(delays), "p50_ms": 1000 * statistics.median(delays),
            "p99_ms": 1000 * percentile(delays, 0.99), "max_ms": 1000 * max(delays)}
