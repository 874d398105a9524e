#!/usr/bin/env python3
"""A restart under systemd socket activation drops no request: this test holds the listening
socket as systemd's rabta.socket does, hands it to `rabta serve` as fd 3 (LISTEN_FDS=1,
LISTEN_PID), keeps USSD reports coming from several threads, and restarts rabta (SIGTERM, then a
new process on the same socket) several times. Every request must succeed, every old process
must exit 0 after finishing its in-flight hops, and every acknowledged reference must be in the
database. Under JOURNAL_STREAM (as systemd sets it) every log line starts with its syslog
priority, "<N>". Usage: restart_test.py RABTA_BINARY SOURCE_DIR"""
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import e2e  # noqa: E402

RABTA, SRC = sys.argv[1], Path(sys.argv[2])
SECRET = "restart-test-secret-0123456789"
RESTARTS = 5
work = Path(tempfile.mkdtemp(prefix="rabta-restart-test-"))
failures, acknowledged, lock = [], set(), threading.Lock()
stop = threading.Event()
try:
    cfg = e2e.shipped_config(SRC, work)
    os.environ["RABTA_AT_SECRET"] = SECRET
    subprocess.run([RABTA, "init", "--config", str(cfg)], check=True, capture_output=True)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    base = f"http://127.0.0.1:{port}"

    def start(n):
        log = open(work / f"rabta-{n}.log", "wb")
        return subprocess.Popen(
            ["sh", "-c", 'exec 3<&"$FD"; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve --config "$1"', RABTA, str(cfg)],
            # As under systemd: stderr goes to the journal, which reads a priority per line.
            env=dict(os.environ, FD=str(listener.fileno()), JOURNAL_STREAM="8:12345"),
            pass_fds=[listener.fileno()], stdout=log,
            stderr=subprocess.STDOUT)

    def caller(worker):
        n = 0
        while not stop.is_set():
            n += 1
            sid, phone = f"r-{worker}-{n}", "+92301%02d%05d" % (worker, n)
            try:
                reference, replies = e2e.ussd_report(base, SECRET, e2e.INCIDENT_REPORT, sid, phone, 20)
                if reference is None:
                    raise RuntimeError(f"hop {len(replies) - 1}: {replies[-1]}")
                with lock:
                    acknowledged.add(reference)
            except Exception as e:  # noqa: BLE001 - every failure counts
                with lock:
                    failures.append(f"{sid}: {e}")

    proc = start(0)
    time.sleep(0.5)
    threads = [threading.Thread(target=caller, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    exits = []
    for i in range(1, RESTARTS + 1):
        time.sleep(0.8)
        proc.terminate()           # systemctl restart: stop the old one (it drains) ...
        exits.append(proc.wait(timeout=30))
        proc = start(i)            # ... and start the new one on the same socket
    time.sleep(0.8)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    proc.terminate()
    exits.append(proc.wait(timeout=30))
    db = work / "var" / "rabta.db"
    refs = {row[0] for row in sqlite3.connect(str(db)).execute("SELECT reference FROM cases")}
    handed = sum("socket handed over by systemd" in (work / f"rabta-{i}.log").read_text(errors="replace")
                 for i in range(RESTARTS + 1))
    lines = [ln for i in range(RESTARTS + 1)
             for ln in (work / f"rabta-{i}.log").read_text(errors="replace").splitlines()]
    journald = all(re.match(r"^<[0-7]>[^<]", ln) for ln in lines) and len(lines) > 0
    ok = not failures and all(e == 0 for e in exits) and acknowledged <= refs and len(acknowledged) > 0 \
        and handed == RESTARTS + 1 and journald
    print(f"restarts={RESTARTS} reports={len(acknowledged)} failed_requests={len(failures)} "
          f"exit_codes={exits} missing={len(acknowledged - refs)} socket_handed_over={handed}/{RESTARTS + 1} "
          f"journald_priorities={'yes' if journald else 'NO'}")
    for f in failures[:10]:
        print("FAIL  " + f)
    print("ok" if ok else "FAILED")
    sys.exit(0 if ok else 1)
finally:
    stop.set()
    shutil.rmtree(work, ignore_errors=True)
