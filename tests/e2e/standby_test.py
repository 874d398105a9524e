#!/usr/bin/env python3
"""Losing the database's machine (#14): rabta on a PostgreSQL primary with a synchronous
streaming-replication standby (synchronous_commit = on: a COMMIT returns once the standby has
the WAL). Under continuous USSD reports the primary is killed with SIGKILL and the standby
promoted, as a failover manager (Patroni, pg_auto_failover) would. rabta's URL names both hosts
with target_session_attrs=read-write, so it reconnects to whichever is the primary. Checked:
while there is no primary every hop is answered 503 (busy, retry) and never a wrong screen;
reports are acknowledged again after the promotion; every reference acknowledged before the
kill, and after it, is on the new primary. Usage: standby_test.py RABTA_BINARY SOURCE_DIR"""
import os
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
SECRET = "standby-test-secret-0123456789"
CALLERS = 3
work = Path(tempfile.mkdtemp(prefix="rabta-standby-test-"))
os.chmod(work, 0o755)
primary = standby = rabta = None
acknowledged, lock = {}, threading.Lock()  # reference -> time acknowledged
statuses, wrong = {}, []
stop = threading.Event()
try:
    primary = e2e.PgServer(work / "primary", settings=[
        "wal_level = replica", "max_wal_senders = 4", "synchronous_commit = on",
        "synchronous_standby_names = 'standby1'"])
    # The standby: a base backup of the primary, streaming from it, on a socket of its own.
    sdir = work / "standby"
    sdir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(sdir, "postgres", "postgres")
    argv = [str(primary.bin / "pg_basebackup"), "-D", str(sdir / "data"), "-R", "-X", "stream",
            "-d", f"host={primary.dir} port=5432 user=rabta"]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    e2e.require("pg_basebackup makes the standby", r.returncode == 0, r.stderr)
    with open(sdir / "data" / "postgresql.auto.conf", "a") as conf:
        conf.write(f"primary_conninfo = 'host={primary.dir} port=5432 user=rabta "
                   "application_name=standby1'\n")
    with open(sdir / "data" / "postgresql.conf", "a") as conf:
        # Promoted, it is alone until a new standby joins: it must not wait for one at every
        # COMMIT (a failover manager does the same: pg_auto_failover, Patroni's synchronous mode).
        conf.write(f"unix_socket_directories = '{sdir}'\nsynchronous_standby_names = ''\n")
    standby = e2e.PgServer.__new__(e2e.PgServer)
    standby.bin, standby.dir, standby.data = primary.bin, sdir, sdir / "data"
    standby.as_postgres, standby.pid = os.geteuid() == 0, None
    standby.start()
    e2e.require("the standby replicates synchronously", e2e.wait_for(
        lambda: primary.sql("SELECT sync_state FROM pg_stat_replication") == "sync", 30),
        primary.sql("SELECT application_name, state, sync_state FROM pg_stat_replication"))
    primary.sql("CREATE DATABASE rabta")

    cfg = e2e.shipped_config(SRC, work / "rabta")
    url = (f"postgresql:///rabta?host={primary.dir},{sdir}&port=5432,5432&user=rabta"
           "&target_session_attrs=read-write&connect_timeout=2")
    cfg.write_text(re.sub(r'^path = "[^"]*rabta\.db".*$', f'url = "{url}"', cfg.read_text(),
                          count=1, flags=re.M))
    os.environ["RABTA_AT_SECRET"] = SECRET
    r = e2e.rabta(RABTA, "init", "--config", str(cfg))
    e2e.require("rabta init on the primary", r.returncode == 0, r.stdout + r.stderr)
    rabta, base = e2e.serve(RABTA, cfg, work / "rabta.log")
    e2e.require("rabta serve listens", base is not None, rabta.log()[-2000:])

    def caller(worker):
        n = 0
        while not stop.is_set():
            n += 1
            sid, phone = f"s-{worker}-{n}", "+92302%02d%05d" % (worker, n)
            reference, replies = e2e.ussd_report(base, SECRET, e2e.INCIDENT_REPORT, sid, phone, 30)
            with lock:
                for line in replies:
                    status = line.split(" ", 1)[0]
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == "200" and not re.match(r"^200 (CON|END) ", line):
                        wrong.append(line[:200])
                if reference is not None:
                    acknowledged[reference] = time.monotonic()
            if reference is None:
                time.sleep(0.1)  # she dials again

    threads = [threading.Thread(target=caller, args=(w,)) for w in range(CALLERS)]
    for t in threads:
        t.start()
    e2e.wait_for(lambda: len(acknowledged) >= 30, 60)
    before = set(acknowledged)
    killed_at = time.monotonic()
    primary.stop(crash=True)  # the primary's machine dies
    time.sleep(1.0)
    standby._run([standby.bin / "pg_ctl", "-D", standby.data, "-w", "promote"])
    promoted_at = time.monotonic()
    resumed = e2e.wait_for(
        lambda: any(at > promoted_at for at in list(acknowledged.values())), 60)
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(timeout=90)

    on_new_primary = set(standby.sql("SELECT reference FROM cases", "rabta").split())
    after = {ref for ref, at in acknowledged.items() if at > killed_at}
    e2e.check("reports were acknowledged before the kill", len(before) >= 30, len(before))
    e2e.check("every report acknowledged before the kill is on the new primary",
              before <= on_new_primary, sorted(before - on_new_primary)[:10])
    e2e.check("rabta reconnected to the promoted standby and acknowledged reports again",
              bool(resumed) and len(after) > 0, rabta.log()[-3000:])
    e2e.check("every report acknowledged after the promotion is on the new primary",
              after <= on_new_primary, sorted(after - on_new_primary)[:10])
    e2e.check("meanwhile hops were answered 503, never a wrong screen",
              not wrong and set(statuses) <= {"200", "503"}, (statuses, wrong[:5]))
    print(f"reports_before_kill={len(before)} reports_after={len(after)} "
          f"statuses={statuses} seconds_to_first_report_after_promotion="
          f"{(min((a for a in acknowledged.values() if a > promoted_at), default=promoted_at) - promoted_at):.2f}")
except e2e.Fatal:
    pass
finally:
    stop.set()
    if rabta is not None:
        rabta.stop()
    for server in (standby, primary):
        if server is not None:
            server.stop()
    if e2e.FAILED and (work / "rabta.log").exists():
        print("--- rabta.log\n" + "\n".join((work / "rabta.log").read_text(errors="replace").splitlines()[-20:]))
    shutil.rmtree(work, ignore_errors=True)
print("ok" if not e2e.FAILED else "FAILED: " + ", ".join(e2e.FAILED))
sys.exit(1 if e2e.FAILED else 0)
