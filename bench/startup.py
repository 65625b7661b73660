#!/usr/bin/env python3
"""make bench, startup section: what a large registry costs nginx's master.

For registries of 1k, 10k and 100k clients (each a `$sha256$` secret and two
scopes no other client has, the worst case for RFC 8414's scopes_supported),
with `oauth_metadata` on, measures:
  - `nginx -t`, wall seconds;
  - start: from running nginx until it accepts on its port with a worker up;
  - reload: from SIGHUP until the master has started the new worker (it parses
    the whole configuration, registry included, before that);
  - the master's and the worker's resident memory after start (VmRSS).
Each timing is the median of a few runs. These are absolute figures, not
ratios: what grows with the registry is the point, so the table also gives
each figure's growth from 10k to 100k clients (10 when linear).

Standalone: startup.py --module PATH [--nginx /usr/sbin/nginx] [--quick]
(bench.py runs it as a section of its own report).
"""

import argparse
import base64
import hashlib
import json
import os
import secrets
import shutil
import statistics
import sys

from nginx_instance import NginxInstance, children_of, free_port

SIZES = (1000, 10000, 100000)
RUNS = 3
QUICK_RUNS = 1
WAIT_SECONDS = 300  # the quadratic metadata took 26 s a reload at 100k clients

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
    oauth_token_zone tokens:16m;
    oauth_clients clients.json;
    oauth_issuer http://127.0.0.1:{port};
    server {{
        listen 127.0.0.1:{port};
        location = /token {{ oauth_token_endpoint; }}
        location = /.well-known/oauth-authorization-server {{ oauth_metadata; }}
    }}
}}
"""


def registry(count):
    """count clients, each with a random secret's $sha256$ hash and scopes of its own."""
    clients = []
    for i in range(count):
        digest = hashlib.sha256(secrets.token_urlsafe(32).encode()).digest()
        clients.append({
            "client_id": "client-%d" % i,
            "client_secret_hash": "$sha256$" + base64.b64encode(digest).decode().rstrip("="),
            "scope": "c%d:read c%d:write" % (i, i),
        })
    return {"clients": clients}


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return None


class Instance(NginxInstance):
    def __init__(self, nginx, module, prefix, clients):
        super().__init__(nginx, prefix, [free_port()], wait_seconds=WAIT_SECONDS)
        self.port = self.ports[0]
        shutil.rmtree(prefix, ignore_errors=True)
        self.make_dirs()
        # a copy: a rebuild replacing the module must not touch a running nginx
        self.module = os.path.join(prefix, "modules", os.path.basename(module))
        shutil.copyfile(module, self.module)
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(CONF.format(module=self.module, port=self.port))
        with open(os.path.join(prefix, "clients.json"), "w") as f:
            json.dump(clients, f)

    def rss(self):
        return rss_mib(self.master), rss_mib(children_of(self.master)[0])


def measure(nginx, module, workdir, runs, sizes=SIZES, log=print):
    rows = []
    for count in sizes:
        log("startup: %d clients" % count)
        clients = registry(count)
        inst = Instance(nginx, module, os.path.join(workdir, "startup-%d" % count), clients)
        try:
            test = [inst.test_config() for _ in range(runs)]
            start = []
            for _ in range(runs):
                start.append(inst.start())
                inst.stop()
            start.append(inst.start())
            master_rss, worker_rss = inst.rss()
            reload = [inst.reload() for _ in range(runs)]
        finally:
            inst.stop()
        rows.append({"clients": count, "nginx_t_s": statistics.median(test),
                     "start_s": statistics.median(start), "reload_s": statistics.median(reload),
                     "master_rss_mib": master_rss, "worker_rss_mib": worker_rss})
        log("startup: %d clients: %s" % (count, json.dumps(rows[-1])))
    return rows


def table(rows):
    row = "%-9s %10s %10s %10s %12s %12s"
    lines = [row % ("clients", "nginx -t", "start", "reload", "master RSS", "worker RSS")]
    for r in rows:
        lines.append(row % (r["clients"], "%.2f s" % r["nginx_t_s"], "%.2f s" % r["start_s"],
                            "%.2f s" % r["reload_s"], "%.1f MiB" % r["master_rss_mib"],
                            "%.1f MiB" % r["worker_rss_mib"]))
    by = {r["clients"]: r for r in rows}
    if 10000 in by and 100000 in by:
        a, b = by[10000], by[100000]
        growth = lambda k: "%.1fx" % (b[k] / a[k]) if a[k] else "n/a"
        lines.append(row % ("10k->100k", growth("nginx_t_s"), growth("start_s"), growth("reload_s"),
                            growth("master_rss_mib"), growth("worker_rss_mib")))
    lines.append("(oauth_metadata on; each client a $sha256$ secret and two scopes of its own; "
                 "timings: medians; growth 10k->100k: 10x is linear)")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--module", required=True)
    p.add_argument("--nginx", default="/usr/sbin/nginx")
    p.add_argument("--workdir", default="build/bench")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--sizes", help="comma-separated client counts (default 1000,10000,100000)")
    args = p.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else SIZES
    rows = measure(args.nginx, os.path.abspath(args.module), os.path.abspath(args.workdir),
                   QUICK_RUNS if args.quick else RUNS, sizes,
                   log=lambda m: print(m, file=sys.stderr))
    print(table(rows))


if __name__ == "__main__":
    main()
