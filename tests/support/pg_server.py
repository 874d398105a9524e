#!/usr/bin/env python3
"""The ctest fixture "pg": one PostgreSQL server for every test process of a run (the C++ store
tests attach to it through RABTA_TEST_PG_DIR, each with databases of its own), instead of one
initdb and start per test process. Also scripts/bench-scaling's server, with --durable: fsync on
(as a deployment runs it), shared_buffers 256MB. Usage: pg_server.py start|stop DIR [--durable]"""
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e  # noqa: E402

action, folder = sys.argv[1], Path(sys.argv[2])
if action == "start":
    old = folder / "data" / "postmaster.pid"
    if old.exists():  # a run that was interrupted: its server goes first
        server = e2e.PgServer.__new__(e2e.PgServer)
        server.pid = int(old.read_text().split()[0])
        server.stop()
    shutil.rmtree(folder, ignore_errors=True)
    durable = ["fsync = on", "full_page_writes = on", "shared_buffers = 256MB",
               "max_wal_size = 4GB"]
    server = e2e.PgServer(folder, settings=durable if "--durable" in sys.argv else ())
    print(f"PostgreSQL for the tests: {server.url()} (PID {server.pid})")
elif action == "stop":
    pidfile = folder / "data" / "postmaster.pid"
    if pidfile.exists():
        server = e2e.PgServer.__new__(e2e.PgServer)
        server.pid = int(pidfile.read_text().split()[0])
        server.stop()
    shutil.rmtree(folder, ignore_errors=True)
    print("stopped")
else:
    sys.exit("usage: pg_server.py start|stop DIR")
