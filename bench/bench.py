#!/usr/bin/env python3
"""make bench: throughput figures of ngx_http_oauth_module, each a ratio.

Starts /usr/sbin/nginx with the built module on 127.0.0.1 (one worker pinned
to one core), drives it with wrk pinned to the other core, and measures every
figure as a ratio of two variants run side by side in the same run: each
round runs every variant once (forward in odd rounds, backward in even ones,
so a slow drift of the machine's load weighs on both variants of a figure
alike), and each figure is the median of its per-round ratios. Prints a table
and writes a JSON report. See bench/README.md.

Besides requests per second, each sample records the server's own CPU time
(from /proc/PID/task/*/schedstat), so a figure also has a "cpu ratio": the
ratio of CPU time per request, which holds better than throughput when other
work steals the server's core.

Standard library only. Usage (see the Makefile's bench target):
    bench.py --module build/ngx_http_oauth_module.so --out build/bench.json [--quick]
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

import fleet
from nginx_instance import NginxInstance, free_port
import startup
import state_load

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_DIR = os.path.join(HERE, "wrk")

SCOPE_LIST = "reports:read metrics:read"
SCOPE = "reports:read"
PBKDF2_ITERATIONS = 100000


FULL = dict(rounds=9, duration=1, warmup=1, fill_big=1000000, fill_zone_mb=16,
            connections=32)
QUICK = dict(rounds=3, duration=1, warmup=0, fill_big=100000, fill_zone_mb=2,
             connections=32)
SMALL_FILL = 1000
BEARER_SAMPLE = 65536  # at most this many distinct tokens per protected-location run
# The scale zones are sized for the big fill plus what the issuance runs add to
# it at up to this rate, at this many bytes a token (figure 5c measures ~76).
SCALE_HEADROOM_RATE = 60000
SIZING_BYTES_PER_TOKEN = 90

GOALS = {
    "1": (">=", 0.6), "2": (">=", 0.9), "3": (">=", 0.95), "4": (">=", 0.6),
    "5a": (">=", 0.9), "5b": (">=", 0.9), "5c": ("<=", 128.0), "6": (">=", 20.0),
    "7a": (">=", 0.97), "7b": (">=", 0.97),
    "8a": (">=", 0.95), "8b": (">=", 0.95),
    "J1": (">=", 0.3), "J2": (">=", 0.95), "J3": (">=", 0.85), "J4": None, "J4b": None,
    "J5": (">=", 0.98), "J6": (">=", 0.8), "J7": (">=", 0.98), "J8": (">=", 20.0),
    "J9": (">=", 0.75),
    "9a": (">=", 0.95), "9b": (">=", 0.95), "9c": ("<=", 1000.0), "9d": ("<=", 100.0),
    "K1": (">=", 0.7), "K2": (">=", 0.95), "K2b": (">=", 0.95), "K3": (">=", 0.8), "K4": None,
}
SCRAPE_INTERVAL = 1.0  # seconds between two GET /metrics while a "_scraped" variant runs
# Figure J3's tokens, each sent once: minted for this many per second of the
# gate's runs, above what one core verifies (openssl speed: ~13k/s here).
FRESH_JWT_RATE = 20000
NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"
JWK_KID = "bench-es256"
IDP_KID = "bench-rs256"
# Figure J6's RS256 tokens, cycled in order: more than a worker keeps parsed
# (4096) and than zone rsfresh's verdict table holds, so each is verified.
RS_FRESH_POOL = 8192
# Figure J8's peer: kjdev/nginx-auth-jwt's git mirror (bench/kjdev_build.sh)
KJDEV_SRC = os.environ.get("KJDEV_SRC", "/work/.mirror/kjdev+nginx-auth-jwt/repo")
KJDEV_SO = "ngx_http_auth_jwt_module.so"
# Figures K1, K3, K4: each request a JWS used once (an assertion, a DPoP
# proof), minted by bench/peer/jws_mint.mjs just before each sample, this many
# for a second of it: above what one core verifies (~13k/s here); a sample
# that runs out is discarded.
MINT_RATE = 20000
ASSERTION_LIFETIME = 60  # s: an assertion's exp after it is minted, as oauth4webapi's
# The jtis are spread over this many clients of each kind: a client may hold
# a quarter of its zone's replay cache.
KEY_CLIENTS = 4
# The replay cache is 1/32 of a zone, about 812 jtis a MiB (README, "Replay
# cache"); a jti stays some 90 s (an assertion's exp + 30 s; a proof's iat +
# 60 s + 30 s), and a variant runs at most 3 samples in 90 s (two back to back
# where a round turns, rounds of a minute or more).
REPLAY_JTIS_PER_MIB = 812
SAMPLES_PER_JTI_LIFE = 3
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def b64(data):
    return base64.b64encode(data).decode().rstrip("=")


def basic(client_id, secret):
    return "Basic " + base64.b64encode(("%s:%s" % (client_id, secret)).encode()).decode()


def wait_port(port, deadline):
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def http_request(port, method, path, body=None, headers=None, tls=None):
    """One request on a connection of its own; over TLS with the ssl context tls."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls) if tls else \
        http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def form_post(port, path, auth, body, headers=None, tls=None):
    return http_request(port, "POST", path, body, dict({
        "Content-Type": "application/x-www-form-urlencoded", "Authorization": auth}, **(headers or {})),
                        tls=tls)


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt_claims(token):
    claims = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))


class Scraper:
    """GET /metrics every SCRAPE_INTERVAL, as a Prometheus would, while a
    variant runs; the first scrape goes out at once."""

    def __init__(self, port):
        self.port, self.scrapes, self.failures = port, 0, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.done.is_set():
            try:
                status, _, body = http_request(self.port, "GET", "/metrics")
                ok = status == 200 and b"oauth_token_requests_total" in body
            except OSError:
                ok = False
            self.scrapes += 1
            self.failures += 0 if ok else 1
            self.done.wait(SCRAPE_INTERVAL)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.done.set()
        self.thread.join(timeout=15)


# ---- CPU accounting ----------------------------------------------------------

def cpu_ns(pid):
    """CPU time of every thread of pid, in nanoseconds (0 if it is gone)."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        pass
    return total


def core_busy_ns(cpu):
    """Time one core spent running tasks (user, nice, system) or stolen by the
    hypervisor, in nanoseconds. Interrupt time is left out: on loopback most
    of it is the benchmark's own traffic."""
    tick_ns = 1e9 / os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        for line in f:
            fields = line.split()
            if fields[0] == "cpu%d" % cpu:
                user, nice, system, _idle, _iowait, _irq, _softirq, steal = (
                    int(v) for v in fields[1:9])
                return (user + nice + system + steal) * tick_ns
    return 0.0


# ---- servers -------------------------------------------------------------------

class Nginx(NginxInstance):
    """/usr/sbin/nginx from a prefix of its own, its configuration the
    template (in bench/) with its @NAME@ fields filled, one worker pinned to
    `cpu`; it answers on every port of `ports`."""

    def __init__(self, binary, prefix, cpu, ports, template):
        super().__init__(binary, prefix, ports, cpu=cpu)
        self.template = template

    def write(self, fields, files=None):
        self.make_dirs()
        with open(os.path.join(HERE, self.template)) as f:
            conf = f.read()
        # worker_cpu_affinity's mask has CPU 0 rightmost
        for k, v in dict(fields, AFFINITY=format(1 << self.cpu, "b")).items():
            conf = conf.replace("@%s@" % k, v)
        with open(os.path.join(self.prefix, "nginx.conf"), "w") as f:
            f.write(conf)
        for name, text in (files or {}).items():
            with open(os.path.join(self.prefix, name), "w") as f:
                f.write(text)
        for root, dirs, _ in os.walk(self.prefix):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
        # zone kept's state file, written by the worker (nobody, when root starts nginx)
        os.makedirs(os.path.join(self.prefix, "state"), exist_ok=True)
        os.chmod(os.path.join(self.prefix, "state"), 0o777)


def es256_key(path):
    """A new P-256 key in PEM at path (openssl genpkey, as README says), and
    its public point's x and y, base64url, as its JWK has them."""
    old = os.umask(0o077)
    try:
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-out", path], check=True, capture_output=True)
    finally:
        os.umask(old)
    spki = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                          check=True, capture_output=True).stdout
    point = spki[-65:]  # the uncompressed point 04 || x || y ends the SPKI
    if point[0] != 4:
        raise RuntimeError("unexpected public key encoding from openssl pkey")
    return b64(point[1:33]).replace("+", "-").replace("/", "_"), \
        b64(point[33:]).replace("+", "-").replace("/", "_")


def rsa_key(path):
    """A new RSA 2048 key in PEM at path (openssl genpkey, as README says)."""
    old = os.umask(0o077)
    try:
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", path], check=True, capture_output=True)
    finally:
        os.umask(old)


def tls_certificate(path, cn):
    """A self-signed P-256 certificate path.pem and its key path.key
    (openssl req, as README says); returns their paths and the certificate's
    RFC 8705 thumbprint, base64url(SHA-256(DER))."""
    cert, key = path + ".pem", path + ".key"
    old = os.umask(0o077)
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-subj", "/CN=" + cn, "-days", "2", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
    finally:
        os.umask(old)
    os.chmod(cert, 0o644)
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return cert, key, b64url(hashlib.sha256(der).digest())


def tls_context(cert=None, key=None):
    """A client's TLS context for the bench's self-signed server, presenting
    cert when given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if cert:
        context.load_cert_chain(cert, key)
    return context


def token_response(token):
    """A token response as the module renders it, around token: the ceilings
    answer this, so that they send the same bytes as the endpoint."""
    return ('{"access_token":"%s","token_type":"Bearer","expires_in":3600,'
            '"scope":"%s"}' % (token, SCOPE))


class Peer:
    """node's oidc-provider (bench/peer/oidc_server.mjs) on 127.0.0.1."""

    def __init__(self, port, cpu, client_id, secret):
        self.port, self.cpu, self.client_id, self.secret = port, cpu, client_id, secret
        self.proc = None
        self.log_path = None

    @staticmethod
    def unavailable():
        if shutil.which("node") is None:
            return "node is not installed"
        if not os.path.isdir(os.path.join(HERE, "node_modules", "oidc-provider")):
            return "bench/node_modules/oidc-provider is missing (cd bench && npm ci)"
        return None

    def start(self, log_dir):
        self.log_path = os.path.join(log_dir, "peer.log")
        env = dict(os.environ, NODE_ENV="production")
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(self.cpu), "node", os.path.join(HERE, "peer", "oidc_server.mjs"),
             str(self.port), self.client_id, self.secret, SCOPE],
            cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=open(self.log_path, "w"), text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready" or not wait_port(self.port, time.time() + 10):
            self.stop()
            raise RuntimeError("oidc-provider did not start; see %s" % self.log_path)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Minter:
    """bench/peer/jws_mint.mjs, kept running on wrk's core: files of ES256
    JWSs (client assertions, DPoP proofs), each line used once."""

    def __init__(self, cpu):
        self.cpu, self.proc = cpu, None

    @staticmethod
    def unavailable():
        return "node is not installed" if shutil.which("node") is None else None

    def start(self, log_dir):
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(self.cpu), "node", os.path.join(HERE, "peer", "jws_mint.mjs")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(os.path.join(log_dir, "jws_mint.log"), "w"), text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError("bench/peer/jws_mint.mjs did not start")

    def mint(self, out, count, items, exp_in=None):
        """count lines into out, line i items[i % len(items)]'s prefix and JWS."""
        request = {"out": out, "count": count, "items": items}
        if exp_in:
            request["exp_in"] = exp_in
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "ok %d" % count:
            raise RuntimeError("jws_mint.mjs: %s" % (answer or "no answer"))
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# ---- wrk -----------------------------------------------------------------------

class Wrk:
    def __init__(self, cpu, connections):
        self.cpu, self.connections = cpu, connections

    def run(self, script, url, env, duration, server_pid, server_cpu, connections=None):
        cmd = ["taskset", "-c", str(self.cpu), "wrk", "-t1", "-c", str(connections or self.connections),
               "-d", "%ds" % duration, "--timeout", "10s", "-s", os.path.join(WRK_DIR, script), url]
        full_env = dict(os.environ, BENCH_WRK_DIR=WRK_DIR, **env)
        stop_file = env.get("BENCH_STOP_FILE")
        if stop_file and os.path.exists(stop_file):
            os.unlink(stop_file)
        cpu0, core0, t0 = cpu_ns(server_pid), core_busy_ns(server_cpu), time.time()
        proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        if stop_file:
            # the script asks to stop by creating the file; SIGINT makes wrk report at once
            while proc.poll() is None and not os.path.exists(stop_file):
                time.sleep(0.02)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.stdout.read(), proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu1, core1, t1 = cpu_ns(server_pid), core_busy_ns(server_cpu), time.time()
        m = re.search(r"^BENCH (\{.*\})$", stdout, re.M)
        if proc.returncode != 0 or not m:
            raise RuntimeError("wrk failed (%s):\n%s%s" % (" ".join(cmd), stdout, stderr))
        s = json.loads(m.group(1))
        refusal = re.search(r"^BENCH_REFUSAL (.*)$", stdout, re.M)
        if refusal:
            s["last_refusal"] = refusal.group(1)
        wall = t1 - t0
        server = cpu1 - cpu0
        s["rps"] = s["requests"] / (s["duration_us"] / 1e6) if s["duration_us"] else 0.0
        s["server_cpu_us_per_request"] = server / 1e3 / s["requests"] if s["requests"] else None
        s["server_busy"] = server / 1e9 / wall
        # wrk near 1.0 while the server is not: wrk, not the server, set the pace
        s["client_busy"] = (usage.ru_utime + usage.ru_stime) / wall
        # what else ran on the server's core meanwhile: the noise of this sample
        s["foreign_load"] = max(0.0, (core1 - core0 - server) / 1e9 / wall)
        errors = s["connect_errors"] + s["read_errors"] + s["write_errors"] + s["timeouts"]
        s["valid"] = s["requests"] > 0 and s["status_errors"] == 0 and errors == 0
        return s


# ---- the benchmark ---------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.cfg = dict(QUICK if args.quick else FULL)
        if args.rounds:
            self.cfg["rounds"] = args.rounds
        if args.duration:
            self.cfg["duration"] = args.duration
        if args.fill:
            self.cfg["fill_big"] = args.fill
        if args.connections:
            self.cfg["connections"] = args.connections
        self.server_cpu, self.client_cpu = args.server_cpu, args.client_cpu
        self.workdir = os.path.abspath(args.workdir)
        self.notes = []
        self.samples = {}
        self.variants = {}
        self.facts = {}
        self.peer = self.njs = self.idp = self.kjdev = self.front = self.minter = None
        self.nginx = None
        self.redis = None
        self.nodes = {}  # the fleet figures' nginx nodes, by name
        self.t_start = time.time()

    # -- setup --

    def clients(self):
        self.secrets = {k: secrets.token_urlsafe(32) for k in ("sha", "pbkdf2", "intro", "peer")}
        salt = secrets.token_bytes(16)
        pbkdf2 = hashlib.pbkdf2_hmac("sha256", self.secrets["pbkdf2"].encode(), salt, PBKDF2_ITERATIONS)
        sha = lambda s: "$sha256$" + b64(hashlib.sha256(s.encode()).digest())
        return [
            # fills the zones alone: its cap is above any zone's capacity
            {"client_id": "bench-sha", "client_secret_hash": sha(self.secrets["sha"]),
             "scope": SCOPE_LIST, "default_scope": SCOPE, "max_tokens": 100000000},
            {"client_id": "bench-pbkdf2",
             "client_secret_hash": "$pbkdf2-sha256$i=%d$%s$%s" % (PBKDF2_ITERATIONS, b64(salt), b64(pbkdf2)),
             "scope": SCOPE_LIST, "default_scope": SCOPE},
            {"client_id": "bench-introspect", "client_secret_hash": sha(self.secrets["intro"]),
             "scope": "", "introspection": True},
        ] + [
            # figure K1: private_key_jwt, each client a P-256 key of its own
            {"client_id": "bench-pkjwt-%d" % i, "token_endpoint_auth_method": "private_key_jwt",
             "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": "pkjwt-%d" % i,
                                "alg": "ES256", "use": "sig"}]},
             "scope": SCOPE_LIST, "default_scope": SCOPE}
            for i, (_, x, y) in enumerate(self.pkjwt_keys)
        ] + [
            # figures K3, K4: DPoP-bound tokens, a client (and a DPoP key) each
            {"client_id": "bench-dpop-%d" % i, "client_secret_hash": sha(self.secrets["sha"]),
             "scope": SCOPE_LIST, "default_scope": SCOPE}
            for i in range(KEY_CLIENTS)
        ]

    def tls_clients(self):
        """Figure K2's server's registry: a token of each client differs only
        by the bound one's cnf."""
        sha = "$sha256$" + b64(hashlib.sha256(self.secrets["sha"].encode()).digest())
        return [{"client_id": "bench-unbound", "client_secret_hash": sha, "scope": SCOPE_LIST,
                 "default_scope": SCOPE},
                {"client_id": "bench-bound", "client_secret_hash": sha, "scope": SCOPE_LIST,
                 "default_scope": SCOPE, "tls_client_certificate_bound_access_tokens": True}]

    def make_keys(self):
        """Figures K1-K4's keys and certificates, made for the run."""
        self.pkjwt_keys = []
        for i in range(KEY_CLIENTS):
            path = os.path.join(self.workdir, "pkjwt-%d.pem" % i)
            self.pkjwt_keys.append((path,) + es256_key(path))
        self.dpop_keys = [os.path.join(self.workdir, "dpop-%d.pem" % i) for i in range(KEY_CLIENTS)]
        for path in self.dpop_keys:
            es256_key(path)
        self.tls = {name: tls_certificate(os.path.join(self.workdir, "tls-" + name), cn)
                    for name, cn in (("server", "127.0.0.1"), ("front", "bench front"))}

    def key_zone_mib(self):
        """Zone keys holds the jtis of K1's and K3's samples of a jti's life,
        each of at most MINT_RATE a second, a quarter of them a client (see
        SAMPLES_PER_JTI_LIFE), with a quarter to spare."""
        jtis = 2 * SAMPLES_PER_JTI_LIFE * MINT_RATE * self.cfg["duration"]
        return -(-jtis * 5 // 4 // REPLAY_JTIS_PER_MIB)

    def start(self):
        # what an earlier run left here, and nothing else
        for name in ("prefix", "njs-prefix", "idp-prefix", "kjdev-prefix", "front-prefix"):
            shutil.rmtree(os.path.join(self.workdir, name), ignore_errors=True)
        for name in ("tokens-main.txt", "tokens-small.txt", "tokens-big.txt", "tokens-kept.txt",
                     "tokens-jwt.txt", "tokens-fresh.txt", "es256.pem", "fill.stop", "peer.log",
                     "rs256.pem", "idp-jwks.json", "tokens-idp.txt", "tokens-rs-fresh.txt",
                     "tokens-bound.txt", "tokens-unbound.txt", "dpop-open.txt", "jws_mint.log",
                     "mint-issue_pkjwt.txt", "mint-protected_dpop.txt", "mint-njs_dpop.txt", "mint-sanity.txt"):
            if os.path.exists(os.path.join(self.workdir, name)):
                os.unlink(os.path.join(self.workdir, name))
        os.makedirs(self.workdir, exist_ok=True)
        added = (self.cfg["rounds"] * self.cfg["duration"] + self.cfg["warmup"] + 1) * SCALE_HEADROOM_RATE
        scale_mb = -(-(self.cfg["fill_big"] + added) * SIZING_BYTES_PER_TOKEN // (1 << 20))
        self.zones = {"main": 128, "scale": scale_mb, "fill": self.cfg["fill_zone_mb"],
                      "keys": self.key_zone_mib()}
        self.port = free_port()
        key = os.path.join(self.workdir, "es256.pem")
        x, y = es256_key(key)
        self.jwt = {"port": free_port(), "x": x, "y": y}
        self.make_keys()
        self.mtls_port = free_port()
        prefix = os.path.join(self.workdir, "prefix")
        os.makedirs(os.path.join(prefix, "modules"))
        # A copy: a rebuild rewrites build/ngx_http_oauth_module.so in place,
        # which crashes every nginx that has it mapped.
        module = os.path.join(prefix, "modules", os.path.basename(self.args.module))
        shutil.copyfile(self.args.module, module)
        files = {"clients.json": json.dumps({"clients": self.clients()}, indent=2),
                 "clients-tls.json": json.dumps({"clients": self.tls_clients()}, indent=2)}
        self.start_idp(module, files)
        fields = {
            "MODULE": module, "PORT": str(self.port), "CEILING_BODY": token_response("A" * 43),
            "MAIN_ZONE": "%dm" % self.zones["main"], "SCALE_ZONE": "%dm" % self.zones["scale"],
            "FILL_ZONE": "%dm" % self.zones["fill"], "JWT_PORT": str(self.jwt["port"]),
            "ES256_KEY": key, "JWK_KID": JWK_KID, "JWT_CEILING_BODY": token_response(""),
            "IDP_ISSUER": self.idp.issuer, "IDP_JWKS_FILE": self.idp.jwks_file,
            "KEY_ZONE": "%dm" % self.zones["keys"], "MTLS_PORT": str(self.mtls_port),
            "TLS_CERT": self.tls["server"][0], "TLS_KEY": self.tls["server"][1],
        }
        self.module_copy, self.clients_file = module, files
        self.nginx = Nginx(self.args.nginx, prefix, self.server_cpu,
                           [self.port, self.jwt["port"], self.mtls_port], "nginx.conf.in")
        self.nginx.write(fields, files)
        self.nginx.start()
        # J1's ceiling sends a JWT response's bytes: their length is known once one is issued.
        self.auth = {"sha": basic("bench-sha", self.secrets["sha"])}
        self.token_body = "grant_type=client_credentials&scope=" + SCOPE.replace(":", "%3A")
        jwt = self.issue(port=self.jwt["port"])["access_token"]
        fields["JWT_CEILING_BODY"] = token_response("A" * len(jwt))
        self.nginx.stop()
        self.nginx.write(fields, files)
        self.nginx.start()
        self.start_njs()
        self.start_kjdev()
        self.start_fleet()
        self.start_front()
        self.start_minter()
        log("nginx: master %d, worker %d on CPU %d, port %d; zones %s MiB" %
            (self.nginx.master, self.nginx.worker, self.server_cpu, self.port, self.zones))
        self.wrk = Wrk(self.client_cpu, self.cfg["connections"])
        self.auth = {k: basic(cid, self.secrets[k]) for k, cid in
                     (("sha", "bench-sha"), ("pbkdf2", "bench-pbkdf2"), ("intro", "bench-introspect"))}

        why = None if self.args.no_peer else Peer.unavailable()
        if self.args.no_peer:
            why = "--no-peer"
        if why:
            self.notes.append("figure 6 skipped: " + why)
        else:
            self.peer = Peer(free_port(), self.server_cpu, "bench-peer", self.secrets["peer"])
            self.auth["peer"] = basic("bench-peer", self.secrets["peer"])
            try:
                self.peer.start(self.workdir)
                log("oidc-provider: pid %d on CPU %d, port %d" % (self.peer.pid, self.server_cpu, self.peer.port))
            except (OSError, RuntimeError) as e:
                self.notes.append("figure 6 skipped: %s" % e)
                self.peer = None

    def start_njs(self):
        """Figure J4's peer: njs in an nginx of its own (bench/njs/nginx.conf.in)."""
        self.njs = None
        if not os.path.exists(NJS_MODULE):
            self.notes.append("figure J4 skipped: %s is missing (Debian's libnginx-mod-http-js)" % NJS_MODULE)
            return
        port = free_port()
        self.njs = Nginx(self.args.nginx, os.path.join(self.workdir, "njs-prefix"), self.server_cpu, [port],
                         os.path.join("njs", "nginx.conf.in"))
        self.njs.port = port
        self.njs.write({"PORT": str(port), "NJS_DIR": os.path.join(HERE, "njs"),
                        "ISSUER": "http://127.0.0.1:%d" % self.port, "JWK_KID": JWK_KID,
                        "JWK_X": self.jwt["x"], "JWK_Y": self.jwt["y"]})
        self.njs.start()
        log("njs peer: nginx worker %d on CPU %d, port %d" % (self.njs.worker, self.server_cpu, port))

    def start_idp(self, module, files):
        """Figures J5-J8's IdP (bench/idp.conf.in) on wrk's core: it mints the
        RS256 tokens and serves the JWK Set, saved to a file for /p-file."""
        key = os.path.join(self.workdir, "rs256.pem")
        rsa_key(key)
        port = free_port()
        self.idp = Nginx(self.args.nginx, os.path.join(self.workdir, "idp-prefix"), self.client_cpu, [port],
                         "idp.conf.in")
        self.idp.port, self.idp.issuer = port, "http://127.0.0.1:%d" % port
        self.idp.write({"MODULE": module, "PORT": str(port), "ISSUER": self.idp.issuer, "KEY": key,
                        "KID": IDP_KID}, files)
        self.idp.start()
        status, _, body = http_request(port, "GET", "/jwks")
        if status != 200:
            raise RuntimeError("the IdP's /jwks answered %d" % status)
        self.idp.jwks_file = self.write_lines("idp-jwks.json", [body.decode()])

    def start_kjdev(self):
        """Figure J8's peer: kjdev/nginx-auth-jwt in an nginx of its own,
        built once into build/bench/kjdev/ from KJDEV_SRC's git mirror."""
        self.kjdev = None
        if not os.path.isdir(KJDEV_SRC):
            self.notes.append("figure J8 skipped: no kjdev/nginx-auth-jwt mirror at %s (KJDEV_SRC)" % KJDEV_SRC)
            return
        out = os.path.join(self.workdir, "kjdev")
        if not os.path.exists(os.path.join(out, KJDEV_SO)):
            tree = os.path.join(os.path.dirname(os.path.abspath(self.args.module)), "nginx-src")
            log("building kjdev/nginx-auth-jwt into %s (a few minutes, once) ..." % out)
            os.makedirs(out, exist_ok=True)
            r = subprocess.run([os.path.join(HERE, "kjdev_build.sh"), KJDEV_SRC, tree, out],
                               capture_output=True, text=True)
            if r.returncode != 0:
                self.notes.append("figure J8 skipped: kjdev/nginx-auth-jwt did not build: %s (see %s)" % (
                    r.stderr.strip()[-200:], os.path.join(out, "build.log")))
                return
        port = free_port()
        self.kjdev = Nginx(self.args.nginx, os.path.join(self.workdir, "kjdev-prefix"), self.server_cpu, [port],
                           "kjdev.conf.in")
        self.kjdev.port = port
        self.kjdev.write({"KJDEV_MODULE": os.path.join(out, KJDEV_SO), "PORT": str(port),
                          "JWKS_FILE": self.idp.jwks_file})
        self.kjdev.start()
        log("kjdev peer: nginx worker %d on CPU %d, port %d" % (self.kjdev.worker, self.server_cpu, port))

    def start_fleet(self):
        """Figure 9: Redis and three fleet nodes (bench/fleet.conf.in), plus the
        same node without a fleet; "fleet" and "plain" share the server's core."""
        self.redis = fleet.Redis(self.workdir, free_port(), self.client_cpu)
        self.redis.start(wait_port)
        key = os.path.join(self.workdir, "fleet-es256.pem")
        es256_key(key)
        for name, cpu, on in (("fleet", self.server_cpu, True), ("plain", self.server_cpu, False),
                              ("fleet2", self.client_cpu, True), ("fleet3", self.client_cpu, True)):
            port = free_port()
            n = Nginx(self.args.nginx, os.path.join(self.workdir, "prefix", name), cpu, [port], "fleet.conf.in")
            n.port = port
            n.write({"MODULE": self.module_copy, "PORT": str(port), "KEY": key,
                     "FLEET": "oauth_fleet_redis 127.0.0.1:%d;" % self.redis.port if on else ""},
                    self.clients_file)
            n.start()
            self.nodes[name] = n
        log("fleet: redis on port %d, nodes %s" % (self.redis.port, ", ".join(
            "%s %d" % (k, n.port) for k, n in self.nodes.items())))

    def start_front(self):
        """Figure K2's front (bench/mtls_front.conf.in): plain HTTP from wrk,
        TLS with the front's certificate to the gate, connections kept alive."""
        port = free_port()
        self.front = Nginx(self.args.nginx, os.path.join(self.workdir, "front-prefix"), self.server_cpu, [port],
                           "mtls_front.conf.in")
        self.front.port = port
        self.front.write({"PORT": str(port), "GATE_PORT": str(self.mtls_port),
                          "CERT": self.tls["front"][0], "KEY": self.tls["front"][1]})
        self.front.start()
        log("mTLS front: nginx worker %d on CPU %d, port %d, to the gate's port %d" % (
            self.front.worker, self.server_cpu, port, self.mtls_port))

    def start_minter(self):
        """Figures K1, K3, K4's assertions and proofs (bench/peer/jws_mint.mjs)."""
        why = Minter.unavailable()
        if why:
            self.notes.append("figures K1, K3, K4 skipped: %s" % why)
            return
        self.minter = Minter(self.client_cpu)
        self.minter.start(self.workdir)

    def stop(self):
        if self.minter:
            self.minter.stop()
        if self.front:
            self.front.stop()
        for n in self.nodes.values():
            n.stop()
        if self.redis:
            self.redis.stop()
        if self.njs:
            self.njs.stop()
        if self.kjdev:
            self.kjdev.stop()
        if self.idp:
            self.idp.stop()
        if self.peer:
            self.peer.stop()
        if self.nginx:
            self.nginx.stop()

    def issue(self, path="/token", who="sha", port=None):
        status, _, body = form_post(port or self.port, path, self.auth[who], self.token_body)
        if status != 200:
            raise RuntimeError("token request to %s answered %d: %s" % (path, status, body[:200]))
        return json.loads(body)

    def sanity(self):
        """Every variant answers what it should before anything is timed."""
        token = self.issue()["access_token"]
        self.issue(who="pbkdf2")  # the first use of a PBKDF2 secret pays the KDF
        real = len(json.dumps(self.issue(), separators=(",", ":")))
        status, _, ceiling = http_request(self.port, "POST", "/ceiling", self.token_body)
        if status != 200 or abs(len(ceiling) - real) > 2:
            self.notes.append("the ceiling body (%d bytes) differs from a token response (%d)" %
                              (len(ceiling), real))
        status, _, body = form_post(self.port, "/introspect", self.auth["intro"], "token=" + token)
        if status != 200 or not json.loads(body).get("active"):
            raise RuntimeError("introspection failed: %d %s" % (status, body[:200]))
        bearer = {"Authorization": "Bearer " + token}
        for path, headers, want in (("/protected", bearer, 200), ("/protected", {}, 401),
                                    ("/open", {}, 200)):
            status, _, _ = http_request(self.port, "GET", path, headers=headers)
            if status != want:
                raise RuntimeError("GET %s answered %d, not %d" % (path, status, want))
        status, headers, body = http_request(self.port, "GET", "/metrics")
        if status != 200 or b"oauth_token_requests_total" not in body:
            raise RuntimeError("GET /metrics answered %d: %s" % (status, body[:200]))
        status, _, _ = http_request(self.port, "GET", "/return-protected")
        if status == 200:
            self.notes.append("`return` answers before oauth_require_scope runs (rewrite phase): "
                              "protected locations here use empty_gif as the content handler")
        if self.peer:
            try:
                r = self.issue(who="peer", port=self.peer.port)
                if r.get("token_type") != "Bearer" or len(r.get("access_token", "")) < 40:
                    raise RuntimeError("it answered %r" % r)
            except (OSError, RuntimeError, ValueError) as e:
                self.notes.append("figure 6 skipped: oidc-provider issues no token: %s" % e)
                self.peer.stop()
                self.peer = None
        self.jwt_sanity()
        self.idp_sanity()
        self.mtls_sanity()
        self.dpop_tokens = None
        if self.minter:
            self.pkjwt_sanity()
            if self.args.no_dpop:
                self.notes.append("figures K3, K4 skipped: --no-dpop")
            else:
                self.dpop_sanity()
        self.introspect_token = token
        tokens = [self.issue()["access_token"] for _ in range(64)]
        self.protected_tokens = self.write_lines("tokens-main.txt", tokens)
        kept = [self.issue("/token-kept")["access_token"] for _ in range(64)]
        self.kept_tokens = self.write_lines("tokens-kept.txt", kept)
        for name in ("fleet", "plain"):
            jwts = [self.issue(port=self.nodes[name].port)["access_token"] for _ in range(64)]
            status, _, _ = http_request(self.nodes[name].port, "GET", "/protected",
                                        headers={"Authorization": "Bearer " + jwts[0]})
            if status != 200:
                raise RuntimeError("node %s refuses its own JWT: %d" % (name, status))
            setattr(self, name + "_tokens", self.write_lines("tokens-%s.txt" % name, jwts))

    def jwt_sanity(self):
        """The JWT server: its JWK Set holds the key njs gets, the ceiling sends a
        JWT response's size, and both gates take a JWT and refuse a forged one."""
        port = self.jwt["port"]
        status, _, body = http_request(port, "GET", "/jwks")
        keys = json.loads(body)["keys"] if status == 200 else []
        if [(k.get("kid"), k.get("x"), k.get("y")) for k in keys] != [(JWK_KID, self.jwt["x"], self.jwt["y"])]:
            raise RuntimeError("the JWK Set is not the bench's key: %d %s" % (status, body[:300]))
        jwt = self.issue(port=port)["access_token"]
        real = len(json.dumps(self.issue(port=port), separators=(",", ":")))
        status, _, ceiling = http_request(port, "POST", "/ceiling", self.token_body)
        if status != 200 or abs(len(ceiling) - real) > 2:
            self.notes.append("the JWT ceiling body (%d bytes) differs from a JWT token response (%d)" %
                              (len(ceiling), real))
        head, claims, sig = jwt.split(".")
        forged = ".".join((head, claims, sig[:-2] + ("AA" if sig[-2:] != "AA" else "BA")))
        gates = [("our gate", port)] + ([("njs", self.njs.port)] if self.njs else [])
        for who, gate_port in gates:
            for token, want in ((jwt, 200), (forged, 401), (self.issue()["access_token"], 401)):
                status, _, _ = http_request(gate_port, "GET", "/protected",
                                            headers={"Authorization": "Bearer " + token})
                if status != want:
                    raise RuntimeError("GET /protected of %s answered %d, not %d" % (who, status, want))
        self.jwt_tokens = self.write_lines("tokens-jwt.txt", [
            self.issue(port=port)["access_token"] for _ in range(64)])

    def idp_sanity(self):
        """The gate takes the IdP's token through its fetched keys (once the
        workers have them) and through the file, and refuses a forged one;
        so does kjdev's module."""
        port = self.jwt["port"]
        token = self.issue(port=self.idp.port)["access_token"]
        head, claims, sig = token.split(".")
        forged = ".".join((head, claims, sig[:-2] + ("AA" if sig[-2:] != "AA" else "BA")))
        get = lambda p, path, t: http_request(p, "GET", path, headers={"Authorization": "Bearer " + t})[0]
        deadline = time.time() + 10
        while get(port, "/p-url", token) != 200 and time.time() < deadline:
            time.sleep(0.1)  # the workers' first fetch
        gates = [("/p-url", port), ("/p-file", port), ("/p-rs-fresh", port)] + (
            [("kjdev", self.kjdev.port)] if self.kjdev else [])
        for who, gate_port in gates:
            path = "/protected" if who == "kjdev" else who
            for t, want in ((token, 200), (forged, 401)):
                status = get(gate_port, path, t)
                if status != want:
                    raise RuntimeError("GET %s of %s with the IdP's token answered %d, not %d" % (
                        path, who, status, want))
        self.idp_token = token
        self.idp_tokens = self.write_lines("tokens-idp.txt", [
            self.issue(port=self.idp.port)["access_token"] for _ in range(64)])

    def mtls_sanity(self):
        """K2: over TLS with the front's certificate, client bench-bound gets a
        JWT bound to it (cnf x5t#S256) and bench-unbound one without cnf; both
        pass through the front, and the bound one fails straight to the gate
        without the certificate. K2b: the same with opaque tokens, whose
        thumbprint the zone keeps."""
        cert, key, thumbprint = self.tls["front"]
        tokens = {}
        for who in ("bound", "unbound", "bound-opaque", "unbound-opaque"):
            client, _, opaque = who.partition("-")
            status, _, body = form_post(self.mtls_port, "/token-opaque" if opaque else "/token",
                                        basic("bench-" + client, self.secrets["sha"]),
                                        self.token_body, tls=tls_context(cert, key))
            if status != 200:
                raise RuntimeError("K2's token request for bench-%s answered %d: %s" % (who, status, body[:200]))
            tokens[who] = json.loads(body)["access_token"]
        if jwt_claims(tokens["bound"]).get("cnf") != {"x5t#S256": thumbprint}:
            raise RuntimeError("K2's bound token is not bound to the front's certificate: cnf %r" %
                               jwt_claims(tokens["bound"]).get("cnf"))
        if "cnf" in jwt_claims(tokens["unbound"]):
            raise RuntimeError("K2's unbound token has a cnf")
        bearer = lambda t: {"Authorization": "Bearer " + t}
        for who, token in tokens.items():
            status, _, _ = http_request(self.front.port, "GET", "/protected", headers=bearer(token))
            if status != 200:
                raise RuntimeError("K2's %s token through the front answered %d" % (who, status))
        for who in ("bound", "bound-opaque"):
            status, _, _ = http_request(self.mtls_port, "GET", "/protected", headers=bearer(tokens[who]),
                                        tls=tls_context())
            if status != 401:
                raise RuntimeError("K2's %s token without the certificate answered %d, not 401" % (who, status))
        self.bound_tokens = self.write_lines("tokens-bound.txt", [tokens["bound"]])
        self.unbound_tokens = self.write_lines("tokens-unbound.txt", [tokens["unbound"]])
        self.bound_opaque_tokens = self.write_lines("tokens-bound-opaque.txt", [tokens["bound-opaque"]])
        self.unbound_opaque_tokens = self.write_lines("tokens-unbound-opaque.txt",
                                                      [tokens["unbound-opaque"]])

    def mint_one(self, item):
        with open(self.minter.mint(os.path.join(self.workdir, "mint-sanity.txt"), 1, [item],
                                   ASSERTION_LIFETIME)) as f:
            return f.read().rstrip("\n")

    def assertion_items(self):
        """K1's client assertions (RFC 7523 §3): a token request's body each,
        aud the issuer, spread over the KEY_CLIENTS clients."""
        prefix = "%s&client_assertion_type=%s&client_assertion=" % (
            self.token_body, urllib.parse.quote(ASSERTION_TYPE, safe=""))
        items = []
        for i, (key, _, _) in enumerate(self.pkjwt_keys):
            cid = "bench-pkjwt-%d" % i
            items.append({"key": key, "header": {"alg": "ES256", "typ": "JWT", "kid": "pkjwt-%d" % i},
                          "claims": {"iss": cid, "sub": cid, "aud": "http://127.0.0.1:%d" % self.port},
                          "prefix": prefix})
        return items

    def dpop_items(self, port, path, method="GET"):
        """DPoP proofs (RFC 9449 §4.2) for method and the URL of path on
        port, one per DPoP client; with its token (and ath) once there are
        tokens, the line "TOKEN PROOF"."""
        items = []
        for i, key in enumerate(self.dpop_keys):
            claims = {"htm": method, "htu": "http://127.0.0.1:%d%s" % (port, path)}
            token = self.dpop_tokens[i] if self.dpop_tokens else None
            if token:
                claims["ath"] = b64url(hashlib.sha256(token.encode()).digest())
            items.append({"key": key, "header": {"alg": "ES256", "typ": "dpop+jwt"}, "jwk_in_header": True,
                          "claims": claims, "prefix": token + " " if token else ""})
        return items

    def pkjwt_sanity(self):
        """K1: an assertion gets a JWT once, and is refused replayed."""
        body = self.mint_one(self.assertion_items()[0])
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for want in (200, 401):
            status, _, answer = http_request(self.jwt["port"], "POST", "/token-pkjwt", body, form)
            if status != want:
                raise RuntimeError("K1's assertion answered %d, not %d: %s" % (status, want, answer[:200]))

    def dpop_sanity(self):
        """K3, K4: each DPoP client gets a DPoP-bound JWT (else DPoP has not
        landed in this module: the figures are skipped); the gate takes it
        with a fresh proof, refuses the proof replayed and the token as
        Bearer; njs takes a proof of its URL and refuses one of another."""
        port = self.jwt["port"]
        tokens = []
        for i, item in enumerate(self.dpop_items(port, "/token-dpop", "POST")):
            status, _, body = form_post(port, "/token-dpop", basic("bench-dpop-%d" % i, self.secrets["sha"]),
                                        self.token_body, headers={"DPoP": self.mint_one(item)})
            answer = json.loads(body) if status == 200 else {}
            if answer.get("token_type") != "DPoP":
                self.notes.append("figures K3, K4 skipped: this module answers a token request with a DPoP "
                                  "proof %d, token_type %s: no DPoP (branch dpop21)" % (
                                      status, answer.get("token_type")))
                return
            tokens.append(answer["access_token"])
        self.dpop_tokens = tokens
        def dpop(line):
            token, proof = line.split(" ")
            return {"Authorization": "DPoP " + token, "DPoP": proof}

        ours = self.mint_one(self.dpop_items(port, "/protected-dpop")[0])
        checks = [(port, ours, 200), (port, ours, 401)]
        if self.njs:
            njs_line = self.mint_one(self.dpop_items(self.njs.port, "/protected-dpop")[0])
            checks += [(self.njs.port, njs_line, 200),
                       (self.njs.port, self.mint_one(self.dpop_items(port, "/protected-dpop")[0]), 401)]
        for gate_port, line, want in checks:
            status, _, _ = http_request(gate_port, "GET", "/protected-dpop", headers=dpop(line))
            if status != want:
                raise RuntimeError("GET /protected-dpop on port %d with a DPoP proof answered %d, not %d" % (
                    gate_port, status, want))
        status, _, _ = http_request(port, "GET", "/protected-dpop",
                                    headers={"Authorization": "Bearer " + tokens[0]})
        if status != 401:
            raise RuntimeError("a DPoP-bound token sent as Bearer answered %d, not 401" % status)
        # K3's "open": the same requests to a location that checks nothing, cycled
        self.dpop_open_lines = self.minter.mint(os.path.join(self.workdir, "dpop-open.txt"), 1024,
                                                self.dpop_items(port, "/open"))

    def write_lines(self, name, lines):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        return path

    def fill(self, path, target, sample_every=0, sample_file=None, stop_503=0, duration=600, port=None):
        env = {"BENCH_BODY": self.token_body, "BENCH_AUTH": self.auth["sha"],
               "BENCH_FILL_TARGET": str(target), "BENCH_FILL_STOP_503": str(stop_503),
               "BENCH_SAMPLE_EVERY": str(sample_every),
               "BENCH_STOP_FILE": os.path.join(self.workdir, "fill.stop")}
        if sample_file:
            env["BENCH_SAMPLE_FILE"] = sample_file
        t0 = time.time()
        s = self.wrk.run("fill.lua", self.url(path, port), env, duration, self.nginx.worker,
                         self.server_cpu, connections=64)
        s["seconds"] = time.time() - t0
        return s

    def fill_zones(self):
        n = self.cfg["fill_big"]
        small_file = os.path.join(self.workdir, "tokens-small.txt")
        big_file = os.path.join(self.workdir, "tokens-big.txt")
        s = self.fill("/token-small", SMALL_FILL, 1, small_file)
        self.facts["small_zone_tokens"] = s["issued"]
        log("filling zone big with %d tokens ..." % n)
        s = self.fill("/token-big", n, max(1, n // BEARER_SAMPLE), big_file)
        self.facts["big_zone_tokens"] = s["issued"]
        self.facts["big_fill_seconds"] = round(s["seconds"], 1)
        self.facts["big_fill_tokens_per_second"] = round(s["issued"] / s["seconds"])
        if s["issued"] < n:
            raise RuntimeError("zone big took %d tokens, not %d: %r" % (s["issued"], n, s))
        log("  %d tokens in %.1f s; filling zone fill (%d MiB) until 503 ..." %
            (s["issued"], s["seconds"], self.zones["fill"]))
        s = self.fill("/token-fill", 0, stop_503=200)
        status, headers, _ = form_post(self.port, "/token-fill", self.auth["sha"], self.token_body)
        if s["full"] == 0 or status != 503:
            raise RuntimeError("zone fill never answered 503: %r" % s)
        zone_bytes = self.zones["fill"] << 20
        self.facts["fill_zone_bytes"] = zone_bytes
        self.facts["fill_zone_tokens"] = s["issued"]
        self.facts["fill_zone_retry_after"] = headers.get("Retry-After")
        self.bytes_per_token = zone_bytes / s["issued"]
        self.small_tokens, self.big_tokens = small_file, big_file
        # J3: a JWT for every request its runs can make, each sent once
        n = (self.cfg["rounds"] * self.cfg["duration"] + self.cfg["warmup"] + 1) * FRESH_JWT_RATE
        self.fresh_tokens = os.path.join(self.workdir, "tokens-fresh.txt")
        log("minting %d JWTs for figure J3 ..." % n)
        s = self.fill("/token", n, 1, self.fresh_tokens, port=self.jwt["port"])
        if s["issued"] < n:
            raise RuntimeError("minted %d JWTs, not %d: %r" % (s["issued"], n, s))
        self.facts["fresh_jwts"] = s["issued"]
        self.facts["fresh_jwt_mint_per_second"] = round(s["issued"] / s["seconds"])
        self.fresh_offset = 0
        log("minting %d RS256 JWTs for figure J6 ..." % RS_FRESH_POOL)
        self.rs_fresh_tokens = os.path.join(self.workdir, "tokens-rs-fresh.txt")
        s = self.fill("/token", RS_FRESH_POOL, 1, self.rs_fresh_tokens, port=self.idp.port)
        if s["issued"] < RS_FRESH_POOL:
            raise RuntimeError("minted %d RS256 JWTs, not %d: %r" % (s["issued"], RS_FRESH_POOL, s))

    # -- variants --

    def url(self, path, port=None):
        return "http://127.0.0.1:%d%s" % (port or self.port, path)

    def define_variants(self):
        post = lambda path, who, body=None, port=None: ("post.lua", path, port, {
            "BENCH_BODY": body or self.token_body, "BENCH_AUTH": self.auth[who]})
        bearer = lambda path, tokens, port=None: ("bearer.lua", path, port, {"BENCH_TOKENS": tokens})
        jwt_port = self.jwt["port"]
        v = {
            "ceiling": post("/ceiling", "sha"),
            "issue_sha256": post("/token", "sha"),
            "issue_pbkdf2": post("/token", "pbkdf2"),
            "introspect": post("/introspect", "intro", "token=" + self.introspect_token),
            "open": bearer("/open", self.protected_tokens),
            "protected": bearer("/protected", self.protected_tokens),
            "issue_kept": post("/token-kept", "sha"),
            "protected_kept": bearer("/p-kept", self.kept_tokens),
            "issue_small_zone": post("/token-small", "sha"),
            "issue_big_zone": post("/token-big", "sha"),
            "protected_small_zone": bearer("/p-small", self.small_tokens),
            "protected_big_zone": bearer("/p-big", self.big_tokens),
        }
        v.update({
            "issue_jwt": post("/token", "sha", port=jwt_port),
            "ceiling_jwt": post("/ceiling", "sha", port=jwt_port),
            "open_jwt": bearer("/open", self.jwt_tokens, jwt_port),
            "protected_jwt": bearer("/protected", self.jwt_tokens, jwt_port),
            "protected_jwt_fresh": ("fresh.lua", "/protected", jwt_port, {"BENCH_TOKENS": self.fresh_tokens}),
            "openssl_verify": None,
            "openssl_sign": None,
            "protected_url": bearer("/p-url", self.idp_tokens, jwt_port),
            "protected_url_idp_down": bearer("/p-url", self.idp_tokens, jwt_port),
            "protected_file": bearer("/p-file", self.idp_tokens, jwt_port),
            "protected_rs_fresh": bearer("/p-rs-fresh", self.rs_fresh_tokens, jwt_port),
            "openssl_verify_rs256": None,
            "issue_fleet": post("/token", "sha", port=self.nodes["fleet"].port),
            "issue_plain": post("/token", "sha", port=self.nodes["plain"].port),
            "protected_fleet": bearer("/protected", self.fleet_tokens, self.nodes["fleet"].port),
            "protected_plain": bearer("/protected", self.plain_tokens, self.nodes["plain"].port),
        })
        if self.njs:
            v["njs_jwt"] = bearer("/protected", self.jwt_tokens, self.njs.port)
        v["protected_bound"] = bearer("/protected", self.bound_tokens, self.front.port)
        v["protected_unbound"] = bearer("/protected", self.unbound_tokens, self.front.port)
        v["protected_bound_opaque"] = bearer("/protected", self.bound_opaque_tokens, self.front.port)
        v["protected_unbound_opaque"] = bearer("/protected", self.unbound_opaque_tokens, self.front.port)
        # each request a line minted for the sample (run_variant): (items, exp_in)
        self.mint_items = {}
        if self.minter:
            v["issue_pkjwt"] = ("once.lua", "/token-pkjwt", jwt_port, {"BENCH_KIND": "form"})
            v["openssl_sign_verify"] = None
            self.mint_items["issue_pkjwt"] = (self.assertion_items(), ASSERTION_LIFETIME)
        if self.dpop_tokens:
            v["protected_dpop"] = ("once.lua", "/protected-dpop", jwt_port, {"BENCH_KIND": "dpop"})
            v["open_dpop"] = ("once.lua", "/open", jwt_port, {
                "BENCH_KIND": "dpop", "BENCH_LINES": self.dpop_open_lines, "BENCH_CYCLE": "1"})
            self.mint_items["protected_dpop"] = (self.dpop_items(jwt_port, "/protected-dpop"), None)
            if self.njs:
                v["njs_dpop"] = ("once.lua", "/protected-dpop", self.njs.port, {"BENCH_KIND": "dpop"})
                self.mint_items["njs_dpop"] = (self.dpop_items(self.njs.port, "/protected-dpop"), None)
        if self.kjdev:
            v["kjdev_jwt"] = bearer("/protected", self.idp_tokens, self.kjdev.port)
        for name in ("ceiling", "issue_sha256", "open", "protected"):
            v[name + "_scraped"] = v[name]  # the same, with /metrics scraped meanwhile
        if self.peer:
            v["peer_issue"] = post("/token", "peer", port=self.peer.port)
        self.variants = v

    # `openssl speed` algorithms by variant, the -mr line of their rates
    # (signatures, verifications per second), and which of the two it is;
    # None: a signature and a verification, 1/(1/sign + 1/verify) a second
    OPENSSL_SPEED = {"openssl_verify": ("ecdsap256", r"^\+F4:\d+:256:([0-9.]+):([0-9.]+)$", 2),
                     "openssl_verify_rs256": ("rsa2048", r"^\+F2:\d+:2048:([0-9.]+):([0-9.]+)$", 2),
                     "openssl_sign": ("ecdsap256", r"^\+F4:\d+:256:([0-9.]+):([0-9.]+)$", 1),
                     "openssl_sign_verify": ("ecdsap256", r"^\+F4:\d+:256:([0-9.]+):([0-9.]+)$", None)}

    def openssl_speed(self, duration, variant):
        """Verifications (or signatures) per second, ECDSA P-256 or RSA 2048,
        by `openssl speed` on the server's core: a sample like wrk's, an
        operation for a request. It signs for `duration` seconds, then
        verifies as long; -elapsed makes its rate per wall-clock second, like
        wrk's. Its CPU time per operation is the wall time of one scaled by
        how busy the process was overall."""
        algorithm, line, rate_group = self.OPENSSL_SPEED[variant]
        cmd = ["taskset", "-c", str(self.server_cpu), "openssl", "speed", "-elapsed", "-mr",
               "-seconds", str(duration), algorithm]
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        core0 = core_busy_ns(self.server_cpu)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - t0
        core1 = core_busy_ns(self.server_cpu)
        m = re.search(line, out, re.M)
        if os.waitstatus_to_exitcode(status) != 0 or not m:
            raise RuntimeError("openssl speed failed (%s):\n%s" % (" ".join(cmd), out))
        sign, verify = float(m.group(1)), float(m.group(2))
        per_s = (sign, verify)[rate_group - 1] if rate_group else 1 / (1 / sign + 1 / verify)
        busy = (usage.ru_utime + usage.ru_stime) / wall
        return {"requests": round(per_s * duration), "duration_us": duration * 1e6,
                "rps": per_s, "server_cpu_us_per_request": busy * 1e6 / per_s,
                "server_busy": busy, "client_busy": 0.0, "status_errors": 0,
                "foreign_load": max(0.0, (core1 - core0) / 1e9 / wall - busy), "valid": True}

    def run_variant(self, name, duration):
        if name in self.OPENSSL_SPEED:
            s = self.openssl_speed(duration, name)
            s["variant"] = name
            return s
        if name == "protected_url_idp_down":
            self.idp.stop()  # J7: its fetches fail meanwhile, the last good keys serve
            refetch = threading.Thread(target=self.ask_refetch, daemon=True)
            refetch.start()
            try:
                s = self.run_variant("protected_url", duration)
            finally:
                refetch.join(5)
                self.idp.start()
            s["variant"] = name
            return s
        script, path, port, env = self.variants[name]
        if script == "fresh.lua":
            env = dict(env, BENCH_OFFSET=str(self.fresh_offset))
        if name in self.mint_items:
            env = dict(env, BENCH_LINES=self.mint_for(name, duration))
        pid = self.peer.pid if name.startswith("peer") else \
            self.njs.worker if name.startswith("njs") else \
            self.kjdev.worker if name.startswith("kjdev") else self.nginx.worker
        pid = {n.port: n.worker for n in self.nodes.values()}.get(port, pid)
        if not name.endswith("_scraped"):
            s = self.wrk.run(script, self.url(path, port), env, duration, pid, self.server_cpu)
        else:
            with Scraper(self.port) as scraper:
                s = self.wrk.run(script, self.url(path, port), env, duration, pid, self.server_cpu)
            s["scrapes"] = scraper.scrapes
            if scraper.failures or not scraper.scrapes:
                s["valid"] = False
                self.notes.append("%s: %d of %d scrapes failed" % (name, scraper.failures, scraper.scrapes))
        if script == "fresh.lua":
            self.fresh_offset = s["next_offset"]
            if s["wrapped"]:
                s["valid"] = False
                self.notes.append("%s ran out of fresh JWTs: raise FRESH_JWT_RATE" % name)
        if script == "once.lua":
            self.check_once(name, s)
        s["variant"] = name
        return s

    def mint_for(self, name, duration):
        """A file of name's lines for a sample of duration, each a JWS made now."""
        items, exp_in = self.mint_items[name]
        return self.minter.mint(os.path.join(self.workdir, "mint-%s.txt" % name),
                                MINT_RATE * duration, items, exp_in)

    def check_once(self, name, s):
        """Every answer of K1's, K3's and K4's samples must be 200: a refused
        assertion or proof is a bench that measures refusals (a 429: a client's
        share of the replay cache is full, see KEY_CLIENTS and key_zone_mib).
        A sample that ran out of lines is discarded: it sent its first ones
        again, and they were refused as replays."""
        if s["wrapped"]:
            s["valid"] = False
            self.notes.append("%s ran out of minted lines (%d requests): raise MINT_RATE" % (name, s["requests"]))
        elif s["non200"]:
            raise RuntimeError("%s: %d of %d answers were not 200, the last: %s" % (
                name, s["non200"], s["requests"], s.get("last_refusal")))

    def measure(self, names):
        """Every round runs every variant once, forward in odd rounds and
        backward in even ones; the two variants of a figure sit side by side
        in the list, so each pair runs back to back, and every figure samples
        the machine over the whole run."""
        if self.cfg["warmup"]:
            for name in names:
                self.run_variant(name, self.cfg["warmup"])
        elif "peer_issue" in names:
            self.run_variant("peer_issue", 1)  # let its JIT settle
        rounds = []
        for i in range(self.cfg["rounds"]):
            order = names if i % 2 == 0 else list(reversed(names))
            r = {}
            for name in order:
                r[name] = self.run_variant(name, self.cfg["duration"])
                self.samples.setdefault(name, []).append(r[name])
            rounds.append(r)
            log("round %d/%d: %s" % (i + 1, self.cfg["rounds"], " ".join(
                "%s=%.0f" % (n, r[n]["rps"]) for n in names)))
        return rounds

    # -- figures --

    def figure(self, fid, title, a, b, rounds):
        """Median over rounds of a's throughput over b's (b: the reference)."""
        ratios, cpu_ratios, noise = [], [], []
        for r in rounds:
            sa, sb = r[a], r[b]
            noise += [sa["foreign_load"], sb["foreign_load"]]
            if not (sa["valid"] and sb["valid"]):
                continue
            ratios.append(sa["rps"] / sb["rps"])
            cpu_ratios.append(sb["server_cpu_us_per_request"] / sa["server_cpu_us_per_request"])
        med = lambda xs: statistics.median(xs) if xs else None
        rps = lambda n: med([r[n]["rps"] for r in rounds if r[n]["valid"]])
        value = med(ratios)
        return {
            "id": fid, "title": title, "a": a, "b": b, "value": value,
            "min": min(ratios) if ratios else None, "max": max(ratios) if ratios else None,
            "cpu_ratio": med(cpu_ratios), "a_rps": rps(a), "b_rps": rps(b),
            "a_cpu_us": med([r[a]["server_cpu_us_per_request"] for r in rounds if r[a]["valid"]]),
            "b_cpu_us": med([r[b]["server_cpu_us_per_request"] for r in rounds if r[b]["valid"]]),
            "valid_rounds": len(ratios), "rounds": len(rounds),
            "foreign_load_median": med(noise),
        }

    def figure_vs_limit(self, fid, title, a, plain, verify, rounds):
        """Median over rounds of a's throughput over the limit of a request
        that costs the plain one plus one verification: 1/(1/plain + 1/verify)
        in req/s, plain + verify in CPU time per request."""
        f = self.figure(fid, title, a, verify, rounds)
        plain_f = self.figure(fid, title, plain, verify, rounds)
        ratios, cpu_ratios = [], []
        for r in rounds:
            sa, sp, sv = r[a], r[plain], r[verify]
            if not (sa["valid"] and sp["valid"] and sv["valid"]):
                continue
            ratios.append(sa["rps"] * (1 / sp["rps"] + 1 / sv["rps"]))
            cpu_ratios.append((sp["server_cpu_us_per_request"] + sv["server_cpu_us_per_request"]) /
                              sa["server_cpu_us_per_request"])
        med = lambda xs: statistics.median(xs) if xs else None
        limit = lambda sp, sv: 1 / (1 / sp + 1 / sv) if sp and sv else None
        f.update(value=med(ratios), cpu_ratio=med(cpu_ratios), valid_rounds=len(ratios),
                 min=min(ratios) if ratios else None, max=max(ratios) if ratios else None,
                 b=plain + "+" + verify, verify_rps=f["b_rps"],
                 b_rps=limit(plain_f["a_rps"], f["b_rps"]),
                 b_cpu_us=None if plain_f["a_cpu_us"] is None or f["b_cpu_us"] is None else
                 plain_f["a_cpu_us"] + f["b_cpu_us"])
        return f

    def figure_of_figures(self, fid, title, scraped, plain, rounds):
        """Median over rounds of one figure's per-round ratio with /metrics
        scraped (A/B both scraped) over the same without (both not)."""
        per_round = lambda r, a, b, key: r[a][key] / r[b][key]
        ratios, cpu_ratios = [], []
        for r in rounds:
            if not all(r[n]["valid"] for n in scraped + plain):
                continue
            ratios.append(per_round(r, *scraped, "rps") / per_round(r, *plain, "rps"))
            cpu_ratios.append(per_round(r, plain[0], plain[1], "server_cpu_us_per_request") /
                              per_round(r, scraped[0], scraped[1], "server_cpu_us_per_request"))
        med = lambda xs: statistics.median(xs) if xs else None
        f = self.figure(fid, title, scraped[0], scraped[1], rounds)
        f.update(value=med(ratios), cpu_ratio=med(cpu_ratios), valid_rounds=len(ratios),
                 min=min(ratios) if ratios else None, max=max(ratios) if ratios else None,
                 unscraped=self.figure(fid, title, plain[0], plain[1], rounds)["value"])
        return f

    def judge(self, f):
        if GOALS.get(f["id"]) is None:
            f.update(goal="reported", met=None, cpu_met=None)
            return f
        op, goal = GOALS[f["id"]]
        f["goal"] = "%s %g" % (op, goal)
        check = lambda v: None if v is None else (v >= goal if op == ">=" else v <= goal)
        f["met"] = check(f["value"])
        f["cpu_met"] = check(f.get("cpu_ratio"))
        return f

    def run(self):
        try:
            self.start()
            self.sanity()
            self.fill_zones()
            self.define_variants()
            figures = []
            names = (["peer_issue"] if self.peer else []) + [
                "issue_pbkdf2", "issue_sha256", "issue_kept", "ceiling", "ceiling_scraped",
                "issue_sha256_scraped", "introspect", "open", "protected", "protected_kept",
                "protected_scraped", "open_scraped",
                "issue_small_zone", "issue_big_zone", "protected_small_zone", "protected_big_zone",
                "issue_jwt", "ceiling_jwt", "openssl_sign"] + (
                ["openssl_sign_verify", "issue_pkjwt"] if self.minter else []) + [
                "open_jwt", "protected_jwt"] + (
                ["njs_jwt"] if self.njs else []) + ["protected_jwt_fresh", "openssl_verify"] + (
                ["protected_dpop", "open_dpop"] + (["njs_dpop"] if self.njs else [])
                if self.dpop_tokens else []) + ["protected_bound", "protected_unbound",
                "protected_bound_opaque", "protected_unbound_opaque",
                "protected_rs_fresh", "openssl_verify_rs256", "protected_file", "protected_url",
                "protected_url_idp_down"] + (["kjdev_jwt"] if self.kjdev else []) + [
                "issue_fleet", "issue_plain", "protected_fleet", "protected_plain"]
            log("measuring %d variants, %d rounds of %d s each" % (
                len(names), self.cfg["rounds"], self.cfg["duration"]))
            ra = rb = rc = self.measure(names)
            big = "%dk" % (self.cfg["fill_big"] // 1000) if self.cfg["fill_big"] < 1000000 else \
                "%gM" % (self.cfg["fill_big"] / 1e6)
            figures.append(self.figure("1", "token issuance ($sha256$) / ceiling", "issue_sha256", "ceiling", ra))
            figures.append(self.figure("2", "issuance $pbkdf2-sha256$ i=100000 / $sha256$", "issue_pbkdf2", "issue_sha256", ra))
            figures.append(self.figure("3", "protected location / unprotected", "protected", "open", rb))
            figures.append(self.figure("4", "introspection / ceiling", "introspect", "ceiling", ra))
            figures.append(self.figure("5a", "issuance, zone at %s / at 1k tokens" % big, "issue_big_zone", "issue_small_zone", rc))
            figures.append(self.figure("5b", "protected location, zone at %s / at 1k tokens" % big, "protected_big_zone", "protected_small_zone", rc))
            figures.append({"id": "5c", "title": "zone bytes per live token (filled until 503)",
                            "value": self.bytes_per_token, "unit": "bytes"})
            figures.append(self.figure("8a", "issuance, zone with state= / without", "issue_kept", "issue_sha256", ra))
            figures.append(self.figure("8b", "protected location, zone with state= / without", "protected_kept", "protected", rb))
            figures.append(self.figure("9a", "protected location, fleet node / without fleet",
                                       "protected_fleet", "protected_plain", rb))
            figures.append(self.figure("9b", "JWT issuance, fleet node / without fleet",
                                       "issue_fleet", "issue_plain", ra))
            figures += self.propagation_figures()
            if self.peer:
                figures.append(self.figure("6", "issuance: this module / oidc-provider", "issue_sha256", "peer_issue", ra))
            else:
                figures.append({"id": "6", "title": "issuance: this module / oidc-provider", "value": None})
            figures.append(self.figure_of_figures(
                "7a", "fig. 3 with /metrics scraped 1/s / without",
                ["protected_scraped", "open_scraped"], ["protected", "open"], rb))
            figures.append(self.figure_of_figures(
                "7b", "fig. 1 with /metrics scraped 1/s / without",
                ["issue_sha256_scraped", "ceiling_scraped"], ["issue_sha256", "ceiling"], ra))
            figures.append(self.figure("J1", "ES256 JWT issuance / ceiling (JWT-sized)", "issue_jwt", "ceiling_jwt", ra))
            figures.append(self.figure_vs_limit("J9", "ES256 JWT issuance / ceiling + openssl sign",
                                                "issue_jwt", "ceiling_jwt", "openssl_sign", ra))
            figures.append(self.figure("J2", "protected location, a JWT seen / unprotected", "protected_jwt", "open_jwt", ra))
            figures.append(self.figure_vs_limit("J3", "JWTs never seen, ES256 / open + openssl verify",
                                                "protected_jwt_fresh", "open_jwt", "openssl_verify", ra))
            if self.njs:
                figures.append(self.figure("J4", "JWT gate (J2) / njs WebCrypto behind auth_request", "protected_jwt", "njs_jwt", ra))
                figures.append(self.figure("J4b", "JWT gate, never seen (J3) / njs", "protected_jwt_fresh", "njs_jwt", ra))
            else:
                figures.append({"id": "J4", "title": "JWT gate (J2) / njs WebCrypto behind auth_request", "value": None})
            figures.append(self.figure("J5", "IdP's token seen, keys from URL / from file", "protected_url", "protected_file", ra))
            figures.append(self.figure_vs_limit("J6", "IdP's tokens never seen, RS256 / open + openssl",
                                                "protected_rs_fresh", "open_jwt", "openssl_verify_rs256", ra))
            figures.append(self.figure("J7", "keys from URL, the IdP down / up", "protected_url_idp_down", "protected_url", ra))
            self.note_key_fetches()
            title = "gate, keys from URL / kjdev auth_jwt_key_request"
            figures.append(self.figure("J8", title, "protected_url", "kjdev_jwt", ra) if self.kjdev else
                           {"id": "J8", "title": title, "value": None})
            figures += self.key_figures(ra)
            self.figures = [self.judge(f) for f in figures]
            # zone "fill" is meant to fill up; anything else in the error log is news
            errors = [l for l in self.nginx.error_log().splitlines() + (
                self.njs.error_log().splitlines() if self.njs else []) + (
                self.kjdev.error_log().splitlines() if self.kjdev else []) + (
                self.front.error_log().splitlines() if self.front else [])
                      if l.strip() and 'zone is full of live tokens, zone "fill"' not in l]
            if errors:
                self.notes.append("nginx error log (%d lines), last: %s" % (len(errors), errors[-1][:300]))
        finally:
            self.stop()
        self.facts["seconds"] = round(time.time() - self.t_start, 1)
        if self.args.quick:
            self.notes.insert(0, "QUICK run: %d rounds of %d s, big zone filled with %d tokens (not 1M); "
                              "a smoke run, not figures to quote" % (self.cfg["rounds"], self.cfg["duration"],
                                                                     self.cfg["fill_big"]))
        self.report()

    def key_figures(self, rounds):
        """K1-K4: keys instead of secrets, sender-constrained tokens (issue 21)."""
        skipped = lambda fid, title: {"id": fid, "title": title, "value": None}
        titles = {"K1": "private_key_jwt issuance / ceil+verify+sign",
                  "K2": "mTLS gate, cert-bound token / unbound",
                  "K2b": "mTLS gate, cert-bound opaque token / unbound",
                  "K3": "DPoP gate, fresh proof / open + openssl verify",
                  "K4": "DPoP gate (K3) / njs WebCrypto, auth_request"}
        figures = [self.figure_vs_limit("K1", titles["K1"], "issue_pkjwt", "ceiling_jwt", "openssl_sign_verify",
                                        rounds) if self.minter else skipped("K1", titles["K1"]),
                   self.figure("K2", titles["K2"], "protected_bound", "protected_unbound", rounds),
                   self.figure("K2b", titles["K2b"], "protected_bound_opaque", "protected_unbound_opaque",
                               rounds)]
        if self.dpop_tokens:
            figures.append(self.figure_vs_limit("K3", titles["K3"], "protected_dpop", "open_dpop",
                                                "openssl_verify", rounds))
        else:
            figures.append(skipped("K3", titles["K3"]))
        figures.append(self.figure("K4", titles["K4"], "protected_dpop", "njs_dpop", rounds)
                       if self.dpop_tokens and self.njs else skipped("K4", titles["K4"]))
        return figures

    def ask_refetch(self):
        """A token of a kid the IdP never had: the gate fetches the IdP's keys
        at once (at most once per 30 s), so that a fetch meets the IdP down
        while J7 measures. The token is refused (its signature is not the
        kid's), on a connection of its own, off wrk's load."""
        head, claims, sig = self.idp_token.split(".")
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        header["kid"] = "bench-unknown"
        head = base64.urlsafe_b64encode(json.dumps(header).encode()).decode().rstrip("=")
        try:
            http_request(self.jwt["port"], "GET", "/p-url",
                         headers={"Authorization": "Bearer " + ".".join((head, claims, sig))})
        except OSError:
            pass

    def note_key_fetches(self):
        """J7's context: how often the gate fetched the IdP's keys during
        the run, and how many of those fetches met the IdP down."""
        _, _, body = http_request(self.port, "GET", "/metrics")
        fetches = {}
        for m in re.finditer(r'^oauth_trusted_key_fetches_total\{[^}]*result="(\w+)"[^}]*\} (\d+)$',
                             body.decode(), re.M):
            fetches[m.group(1)] = fetches.get(m.group(1), 0) + int(m.group(2))
        self.facts["idp_key_fetches"] = fetches
        self.notes.append("J7: the gate's fetches of the IdP's keys: %d, %d of them failed (the IdP down)" % (
            sum(fetches.values()), fetches.get("failed", 0)))

    def propagation_figures(self):
        ports = [self.nodes[n].port for n in ("fleet", "fleet2", "fleet3")]
        issue = lambda port: self.issue(port=port)["access_token"]

        def revoke(port, token):
            status, _, body = form_post(port, "/revoke", self.auth["sha"], "token=" + token)
            if status != 200:
                raise RuntimeError("revocation on port %d answered %d: %s" % (port, status, body[:200]))

        samples = fleet.PROPAGATION_SAMPLES // (4 if self.args.quick else 1)
        log("fleet: %d revocations across 3 nodes ..." % samples)
        s = fleet.summary(fleet.propagation(issue, revoke, ports, samples, log))
        self.facts["propagation"] = s
        return [{"id": fid, "title": title, "value": s[key], "unit": "ms", "samples": s["samples"]}
                for fid, title, key in (("9c", "revocation propagation to 2 nodes, p50", "p50_ms"),
                                        ("9d", "revocation propagation to 2 nodes, p99", "p99_ms"))]

    # -- output --

    def report(self):
        fmt = lambda x, d=2: "n/a" if x is None else ("%.*f" % (d, x))
        verdicts = {True: "met", False: "MISSED", None: "n/a"}
        row = "%-3s %-46s %17s %6s %6s %10s  %-7s %s"
        lines = [row % ("fig", "what (A / B)", "req/s A / B", "ratio", "cpu", "spread", "goal", "")]
        for f in self.figures:
            if f["id"] == "5c":
                meas = "%d in %d MiB" % (self.facts["fill_zone_tokens"], self.zones["fill"])
                val, cpu, spread = fmt(f["value"], 1), "", ""
            elif f.get("unit") == "ms":
                meas = "%d samples" % f["samples"]
                val, cpu, spread = "%.1f ms" % f["value"], "", ""
            elif f.get("a_rps") is not None:
                meas = "%.0f / %.0f" % (f["a_rps"], f["b_rps"])
                val, cpu = fmt(f["value"]), fmt(f["cpu_ratio"])
                spread = "%s-%s" % (fmt(f["min"]), fmt(f["max"]))
            else:
                meas, val, cpu, spread = "skipped", "n/a", "", ""
            verdict = verdicts[f["met"]]
            if f.get("cpu_met") is not None and f["cpu_met"] != f["met"]:
                verdict += " (cpu: %s)" % verdicts[f["cpu_met"]].lower()
            lines.append(row % (f["id"], f["title"][:46], meas, val, cpu, spread, f["goal"], verdict))
        lines.append("")
        lines.append("ratio: median over %d rounds of the per-round ratio of A's req/s to B's, A and B "
                     "run in turn; cpu: the same ratio computed from the server's CPU time per "
                     "request (steadier when other work shares the core)" % self.cfg["rounds"])
        lines.append("")
        vrow = "%-22s %9s %12s %7s %7s %6s"
        lines.append(vrow % ("variant", "req/s", "server us/r", "server", "wrk", "valid"))
        med = lambda xs: statistics.median(xs) if xs else None
        for name, samples in self.samples.items():
            ok = [x for x in samples if x["valid"]]
            lines.append(vrow % (
                name, fmt(med([x["rps"] for x in ok]), 0),
                fmt(med([x["server_cpu_us_per_request"] for x in ok]), 2),
                "%.0f%%" % (100 * med([x["server_busy"] for x in samples])),
                "%.0f%%" % (100 * med([x["client_busy"] for x in samples])),
                "%d/%d" % (len(ok), len(samples))))
        lines.append("(server/wrk: share of a core each used during the samples, medians)")
        noise = [x["foreign_load"] for v in self.samples.values() for x in v]
        lines.append("")
        lines.append("nginx: 1 worker pinned to CPU %d; wrk -t1 -c%d pinned to CPU %d; other processes "
                     "took a median %.0f%% (max %.0f%%) of CPU %d during the samples" % (
                         self.server_cpu, self.cfg["connections"], self.client_cpu,
                         100 * statistics.median(noise), 100 * max(noise), self.server_cpu))
        lines.append("zone big: %d tokens in %.1f s (%d tokens/s, 64 connections); zones (MiB): %s" % (
            self.facts["big_zone_tokens"], self.facts["big_fill_seconds"],
            self.facts["big_fill_tokens_per_second"],
            ", ".join("%s %d" % kv for kv in self.zones.items())))
        for n in self.notes:
            lines.append("note: " + n)
        lines.append("total %.0f s; report: %s" % (self.facts["seconds"], self.args.out))
        print("\n".join(lines))
        out = {
            "quick": self.args.quick, "config": dict(self.cfg, server_cpu=self.server_cpu,
                                                    client_cpu=self.client_cpu, zones_mib=self.zones),
            "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg(), "uname": " ".join(os.uname())},
            "source": source_version(),
            "figures": self.figures, "facts": self.facts, "notes": self.notes, "samples": self.samples,
        }
        os.makedirs(os.path.dirname(os.path.abspath(self.args.out)), exist_ok=True)
        with open(self.args.out, "w") as f:
            json.dump(out, f, indent=1)


def source_version():
    """The checkout the module was built from, as git describes it, if it can."""
    try:
        r = subprocess.run(["git", "-C", os.path.dirname(HERE), "describe", "--always", "--dirty"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--module", required=True, help="the built ngx_http_oauth_module.so")
    p.add_argument("--nginx", default="/usr/sbin/nginx")
    p.add_argument("--out", default="build/bench.json")
    p.add_argument("--workdir", default="build/bench")
    p.add_argument("--quick", action="store_true", help="a smoke run of under two minutes")
    p.add_argument("--rounds", type=int, help="alternation rounds per group")
    p.add_argument("--duration", type=int, help="seconds per sample")
    p.add_argument("--fill", type=int, help="live tokens in the big zone")
    p.add_argument("--connections", type=int, help="wrk's keepalive connections (default 32)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--no-peer", action="store_true", help="leave out oidc-provider (figure 6)")
    p.add_argument("--no-startup", action="store_true", help="leave out the startup section")
    p.add_argument("--no-state-load", action="store_true", help="leave out the state load section")
    p.add_argument("--no-dpop", action="store_true",
                   help="leave out figures K3, K4 (also left out when the module issues no DPoP token)")
    args = p.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit("bench: %s is not installed" % tool)
    if os.cpu_count() < 2 or args.server_cpu == args.client_cpu:
        sys.exit("bench: needs two distinct CPUs for the server and for wrk")
    try:
        os.sched_setaffinity(0, {args.client_cpu})  # the driver stays off the server's core
    except OSError:
        pass
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    Bench(args).run()
    if not args.no_startup:
        startup_section(args)
    if not args.no_state_load:
        state_load_section(args)


def add_to_report(path, key, value):
    """A later section's results, added to the report the figures wrote."""
    with open(path) as f:
        report = json.load(f)
    report[key] = value
    with open(path, "w") as f:
        json.dump(report, f, indent=1)


def state_load_section(args):
    """A state file of 1M live tokens loaded at start (bench/state_load.py)."""
    result = state_load.measure(args.nginx, os.path.abspath(args.module), os.path.abspath(args.workdir),
                                state_load.QUICK_TOKENS if args.quick else state_load.TOKENS, log=log)
    print("\n" + state_load.table(result))
    add_to_report(args.out, "state_load", result)


def startup_section(args):
    """nginx -t, start, reload and RSS at 1k, 10k, 100k clients (bench/startup.py)."""
    rows = startup.measure(args.nginx, os.path.abspath(args.module), os.path.abspath(args.workdir),
                           startup.QUICK_RUNS if args.quick else startup.RUNS, log=log)
    print("\nstartup, with oauth_metadata:\n" + startup.table(rows))
    add_to_report(args.out, "startup", rows)


if __name__ == "__main__":
    main()
