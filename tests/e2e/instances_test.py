#!/usr/bin/env python3
"""No single box (#14): two `rabta serve` instances share one PostgreSQL database behind nginx,
USSD reports keep coming from several callers through nginx, and one instance at a time is
killed with SIGKILL at a random moment (and started again), several times. Checked: every
reference a caller was given is in the database (zero acknowledged reports lost), every case is
whole (one per reference, its outbox row beside it), and the surviving instance's /healthz
answered 200 throughout. nginx retries a hop that a dying instance never answered on the other
one (proxy_next_upstream non_idempotent): a repeated hop is answered from the stored reply, so
nothing is applied twice. Usage: instances_test.py RABTA_BINARY SOURCE_DIR [KILLS]"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import e2e  # noqa: E402

RABTA, SRC = sys.argv[1], Path(sys.argv[2])
KILLS = int(sys.argv[3]) if len(sys.argv) > 3 else 4
SECRET = "instances-test-secret-0123456789"
CALLERS = 4
work = Path(tempfile.mkdtemp(prefix="rabta-instances-test-"))
os.chmod(work, 0o755)
pg = None
nginx = None
instances = {}
failures, acknowledged, lock = [], set(), threading.Lock()
health = {"probes": 0, "not_200": []}
stop = threading.Event()
random.seed(int(os.environ.get("RABTA_DRILL_SEED", "14")))
try:
    pg = e2e.PgServer(work / "pg")
    pg.sql("CREATE DATABASE rabta")
    cfg = e2e.shipped_config(SRC, work / "rabta")
    text = cfg.read_text()
    text = re.sub(r'^path = "[^"]*rabta\.db".*$', f'url = "{pg.url("rabta")}"', text, count=1,
                  flags=re.M)
    cfg.write_text(text)
    os.environ["RABTA_AT_SECRET"] = SECRET
    r = e2e.rabta(RABTA, "init", "--config", str(cfg))
    e2e.require("rabta init creates the schema on PostgreSQL",
                r.returncode == 0 and "postgresql" in r.stdout, r.stdout + r.stderr)

    ports = [e2e.free_port(), e2e.free_port()]

    def start(i, n):
        process, base = e2e.serve(RABTA, cfg, work / f"rabta-{i}-{n}.log",
                                  listen=f"127.0.0.1:{ports[i]}")
        e2e.require(f"instance {i} (start {n}) listens", base is not None, process.log()[-2000:])
        return process

    for i in (0, 1):
        instances[i] = start(i, 0)

    ngx = work / "nginx"
    (ngx / "logs").mkdir(parents=True)
    (ngx / "tmp").mkdir()
    front = e2e.free_port()
    (ngx / "nginx.conf").write_text(f"""daemon off;
worker_processes 1;
pid {ngx}/nginx.pid;
error_log {ngx}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {ngx}/tmp/body; proxy_temp_path {ngx}/tmp/proxy;
  fastcgi_temp_path {ngx}/tmp/fastcgi; uwsgi_temp_path {ngx}/tmp/uwsgi; scgi_temp_path {ngx}/tmp/scgi;
  upstream rabta {{
    server 127.0.0.1:{ports[0]} max_fails=0;
    server 127.0.0.1:{ports[1]} max_fails=0;
  }}
  server {{
    listen 127.0.0.1:{front};
    location / {{
      proxy_pass http://rabta;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout non_idempotent;
      proxy_connect_timeout 1s;
      proxy_read_timeout 20s;
    }}
  }}
}}
""")
    nginx = e2e.Started(["nginx", "-p", str(ngx), "-c", str(ngx / "nginx.conf")],
                        ngx / "logs" / "stdout.log")
    base = f"http://127.0.0.1:{front}"
    e2e.require("nginx answers in front of both",
                e2e.wait_for(lambda: e2e.http("GET", base + "/healthz")[0] == 200, 20),
                (ngx / "logs" / "error.log").read_text() if (ngx / "logs" / "error.log").exists() else "")

    def caller(worker):
        n = 0
        while not stop.is_set():
            n += 1
            sid, phone = f"i-{worker}-{n}", "+92301%02d%05d" % (worker, n)
            try:
                reference, replies = e2e.ussd_report(base, SECRET, e2e.INCIDENT_REPORT, sid, phone, 30)
                if reference is None:
                    raise RuntimeError(f"hop {len(replies) - 1}: {replies[-1][:200]}")
                with lock:
                    acknowledged.add(reference)
            except Exception as e:  # noqa: BLE001 - every failure counts
                with lock:
                    failures.append(f"{sid}: {e}")

    def probe(survivor):
        """/healthz of the instance not being killed, every 0.2 s."""
        while not probing.is_set():
            status, body = e2e.http("GET", f"http://127.0.0.1:{ports[survivor]}/healthz", timeout=5)
            health["probes"] += 1
            if status != 200:
                health["not_200"].append(f"instance {survivor}: {status} {body[:200]}")
            time.sleep(0.2)

    threads = [threading.Thread(target=caller, args=(w,)) for w in range(CALLERS)]
    for t in threads:
        t.start()
    for k in range(KILLS):
        victim = k % 2
        probing = threading.Event()
        prober = threading.Thread(target=probe, args=(1 - victim,))
        prober.start()
        time.sleep(random.uniform(0.5, 2.0))
        instances[victim].stop(signal.SIGKILL, grace=10)  # a dead machine: no drain, no goodbye
        time.sleep(random.uniform(0.3, 1.0))
        probing.set()
        prober.join()
        instances[victim] = start(victim, k + 1)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(timeout=90)

    refs = set(pg.sql("SELECT reference FROM cases", "rabta").split())
    duplicates = pg.sql("SELECT count(*) - count(DISTINCT reference) FROM cases", "rabta")
    without_outbox = pg.sql("SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM outbox o "
                            "WHERE o.cause = 'case:' || c.reference)", "rabta")
    missing = acknowledged - refs
    e2e.check("reports were acknowledged throughout", len(acknowledged) >= 10 * KILLS,
              f"{len(acknowledged)} reports")
    e2e.check("every acknowledged report is in PostgreSQL", not missing, sorted(missing)[:10])
    e2e.check("one case per reference", duplicates == "0", duplicates)
    e2e.check("every case has its outbox row", without_outbox == "0", without_outbox)
    e2e.check("the surviving instance's /healthz answered 200 throughout",
              health["probes"] > 0 and not health["not_200"], health["not_200"][:5])
    e2e.check("callers saw no failed request (nginx retried the dead instance's hops)",
              not failures, failures[:10])
    print(f"kills={KILLS} reports={len(acknowledged)} failed_requests={len(failures)} "
          f"missing={len(missing)} cases={len(refs)} healthz_probes={health['probes']} "
          f"healthz_not_200={len(health['not_200'])}")
except e2e.Fatal:
    pass
finally:
    stop.set()
    for p in instances.values():
        p.stop(signal.SIGKILL, grace=10)
    if nginx is not None:
        nginx.stop()
    if pg is not None:
        pg.stop()
    if e2e.FAILED:
        for log in sorted(work.glob("rabta-*.log")):
            lines = log.read_text(errors="replace").splitlines()
            errors = [ln for ln in lines if "[error]" in ln or "[critical]" in ln][:5]
            print(f"--- {log.name}\n" + "\n".join(errors + lines[-8:]))
        err = work / "nginx" / "logs" / "error.log"
        if err.exists():
            print("--- nginx error.log\n" + "\n".join(err.read_text().splitlines()[:10]))
    shutil.rmtree(work, ignore_errors=True)
print("ok" if not e2e.FAILED else "FAILED: " + ", ".join(e2e.FAILED))
sys.exit(1 if e2e.FAILED else 0)
