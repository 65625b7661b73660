#!/usr/bin/env python3
"""make bench, state load section: how long nginx's master takes to load a
zone's state file (oauth_token_zone ... state=FILE) at start.

Writes a state file holding 1 000 000 live tokens (version 3 of the format,
src/core/tokens/state_file.hpp; random digests, one grant), starts nginx over
it, and reads the load time from the master's own log line ("N tokens ...
loaded ... in M ms, C ms of CPU"): reading, checking the SHA-256 and
inserting every token. The median of a few starts. The goal: under 1 s; the
CPU time says what the load costs when other work shares the machine.

Standalone: state_load.py --module PATH [--nginx /usr/sbin/nginx] [--tokens N]
(bench.py runs it as a section of its own report).
"""

import argparse
import hashlib
import os
import pwd
import re
import secrets
import statistics
import struct
import time

import startup

TOKENS = 1000000
QUICK_TOKENS = 100000
RUNS = 3
GOAL_MS = 1000

CONF = """load_module {module};
worker_processes 1;
error_log logs/error.log notice;
pid logs/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    oauth_token_zone kept:{zone_mib}m state=state/kept.state;
    oauth_clients clients.json;
    server {{
        listen 127.0.0.1:{port};
        location = /token {{ oauth_token_endpoint; }}
    }}
}}
"""

LOADED = re.compile(r'"kept": (\d+) tokens and \d+ revocations loaded from "[^"]*" '
                    r'and (\d+) records of its journal in (\d+) ms, (\d+) ms of CPU')


def state_file(zone, count, now):
    """A version 3 snapshot of `count` tokens of one grant (no audience), valid for an hour."""
    client, scope = b"bench-client", b"reports:read"
    grants = struct.pack("<HHH", len(client), len(scope), 0) + client + scope
    tail = struct.pack("<III", 0, now - 10, now + 3600)
    digests = os.urandom(32 * count)
    tokens = b"".join(digests[i:i + 32] + tail for i in range(0, 32 * count, 32))
    body = zone + grants + tokens
    header = bytearray(128)
    header[0:8] = b"OAUTHSTF"
    struct.pack_into("<IIQ", header, 8, 3, 128, len(body))
    struct.pack_into("<QQQQ", header, 24, secrets.randbits(63) | 1, 0, 1, now)
    struct.pack_into("<IIII", header, 56, 1, count, 0, len(zone))
    header[96:128] = hashlib.sha256(bytes(header[:96]) + body).digest()
    return bytes(header) + body


class Instance(startup.Instance):
    def __init__(self, nginx, module, prefix, zone_mib):
        super().__init__(nginx, module, prefix, {"clients": []})
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(CONF.format(module=self.module, port=self.port, zone_mib=zone_mib))
        os.makedirs(os.path.join(prefix, "state"))
        os.chmod(os.path.join(prefix, "state"), 0o777)  # the workers' user writes there


def measure(nginx, module, workdir, tokens=TOKENS, runs=RUNS, log=print):
    # ~76 bytes a token (figure 5c), and room to spare
    zone_mib = max(16, tokens * 128 // (1 << 20))
    inst = Instance(nginx, module, os.path.join(workdir, "state-load"), zone_mib)
    path = os.path.join(inst.prefix, "state", "kept.state")
    log("state load: writing a state file of %d tokens ..." % tokens)
    image = state_file(b"kept", tokens, int(time.time()))
    loads = []
    try:
        for _ in range(runs):
            with open(path, "wb") as f:
                f.write(image)
            # only a file of the workers' user (nobody, when root starts nginx) is loaded
            os.chmod(path, 0o600)
            if os.geteuid() == 0:
                os.chown(path, pwd.getpwnam("nobody").pw_uid, -1)
            log_path = os.path.join(inst.prefix, "logs", "error.log")
            offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
            inst.start()
            inst.stop()
            with open(log_path) as f:
                f.seek(offset)
                m = LOADED.search(f.read())
            if not m:
                raise RuntimeError("state load: no load line in %s" % log_path)
            loads.append({"tokens": int(m.group(1)), "ms": int(m.group(3)), "cpu_ms": int(m.group(4)),
                          "loadavg": os.getloadavg()[0]})
            log("state load: %d tokens in %d ms, %d ms of CPU" % (
                loads[-1]["tokens"], loads[-1]["ms"], loads[-1]["cpu_ms"]))
    finally:
        inst.stop()
    ms = statistics.median(l["ms"] for l in loads)
    cpu_ms = statistics.median(l["cpu_ms"] for l in loads)
    return {"tokens_in_file": tokens, "tokens_loaded": min(l["tokens"] for l in loads),
            "zone_mib": zone_mib, "file_bytes": len(image), "load_ms": ms, "cpu_ms": cpu_ms,
            "runs": [l["ms"] for l in loads], "cpu_runs": [l["cpu_ms"] for l in loads],
            "loadavg": [l["loadavg"] for l in loads], "goal_ms": GOAL_MS, "met": ms < GOAL_MS,
            "cpu_met": cpu_ms < GOAL_MS}


def table(result):
    verdict = lambda met: "met" if met else "MISSED"
    return ("state load: %d tokens (a %.1f MiB file, zone %d MiB) loaded at start in %d ms "
            "(median of %s), %d ms of the master's CPU (median of %s); goal < %d ms: %s "
            "(cpu: %s); load average meanwhile %s" % (
                result["tokens_loaded"], result["file_bytes"] / (1 << 20), result["zone_mib"],
                result["load_ms"], "/".join(str(r) for r in result["runs"]), result["cpu_ms"],
                "/".join(str(r) for r in result["cpu_runs"]), GOAL_MS, verdict(result["met"]),
                verdict(result["cpu_met"]).lower(), "/".join("%.1f" % l for l in result["loadavg"])))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--module", required=True)
    p.add_argument("--nginx", default="/usr/sbin/nginx")
    p.add_argument("--workdir", default="build/bench")
    p.add_argument("--tokens", type=int, default=TOKENS)
    args = p.parse_args()
    print(table(measure(args.nginx, os.path.abspath(args.module), os.path.abspath(args.workdir),
                        args.tokens)))


if __name__ == "__main__":
    main()
