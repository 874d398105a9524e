#!/usr/bin/env python3
"""rabta backup / restore with the real binary (docs/OPERATIONS.md):
- `rabta backup` while rabta serves and takes reports: the copy opens, passes quick_check, is
  mode 0600 and holds every report acknowledged before the backup started; an existing file is
  never overwritten;
- `rabta restore` is refused while rabta serves, and for a damaged file (quick_check) or a file
  that is not a rabta database, each with its reason and exit code 1;
- a good backup restores, the previous database is kept, and rabta serves from the restored one.
Usage: backup_test.py RABTA_BINARY SOURCE_DIR"""
import os
import shutil
import sqlite3
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import e2e  # noqa: E402
from e2e import FAILED, check  # noqa: E402

RABTA, SRC = sys.argv[1], Path(sys.argv[2])
SECRET = "backup-test-secret-0123456789"


def run(*args):
    return e2e.rabta(RABTA, *args)


work = Path(tempfile.mkdtemp(prefix="rabta-backup-test-"))
server = None
try:
    port = e2e.free_port()
    cfg = e2e.shipped_config(SRC, work, port)
    os.environ["RABTA_AT_SECRET"] = SECRET
    assert run("init", "--config", str(cfg)).returncode == 0
    db = work / "var" / "rabta.db"

    def serve():
        p, base = e2e.serve(RABTA, cfg, work / "serve.log", listen=None)
        if base is None:
            raise RuntimeError("rabta did not start:\n" + p.log()[-2000:])
        return p

    def report(n):
        ref, replies = e2e.ussd_report(f"http://127.0.0.1:{port}", SECRET, e2e.INCIDENT_REPORT,
                                       f"bk-{n}-{time.time_ns()}", "+92300%07d" % n)
        assert ref is not None, replies
        return ref

    server = serve()
    before = {report(i) for i in range(20)}
    # Reports keep coming while the backup runs.
    stop = threading.Event()
    during = []
    t = threading.Thread(target=lambda: [during.append(report(100 + i)) for i in range(400) if not stop.is_set()])
    t.start()
    backup = work / "backup.db"
    r = run("backup", str(backup), "--config", str(cfg))
    stop.set()
    t.join()
    check("rabta backup while serving exits 0", r.returncode == 0, r.stdout + r.stderr)
    check("the backup reports quick_check ok", "quick_check ok" in r.stdout, r.stdout)
    check("the backup is mode 0600", stat.S_IMODE(backup.stat().st_mode) == 0o600, oct(backup.stat().st_mode))
    con = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    refs = {row[0] for row in con.execute("SELECT reference FROM cases")}
    check("the backup passes integrity_check", con.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
    con.close()
    check("every report acknowledged before the backup is in it", before <= refs, before - refs)
    check("reports went on during the backup", len(during) > 0, len(during))
    r = run("backup", str(backup), "--config", str(cfg))
    check("an existing backup file is never overwritten (exit 1)", r.returncode == 1 and "exists" in r.stderr, r.stderr)

    r = run("restore", str(backup), "--config", str(cfg))
    check("restore is refused while rabta serves (exit 1)", r.returncode == 1 and "running" in r.stderr, r.stderr)
    server.stop()
    after_all = {row[0] for row in sqlite3.connect(str(db)).execute("SELECT reference FROM cases")}

    damaged = work / "damaged.db"
    data = bytearray(backup.read_bytes())
    for off in range(4096 * 2, min(len(data), 4096 * 6), 7):
        data[off] ^= 0x5A
    damaged.write_bytes(bytes(data))
    r = run("restore", str(damaged), "--config", str(cfg))
    check("a damaged backup is refused (exit 1, quick_check)", r.returncode == 1 and "quick_check" in r.stderr,
          r.stderr)
    other = work / "other.db"
    sqlite3.connect(str(other)).execute("CREATE TABLE t (x)").connection.commit()
    r = run("restore", str(other), "--config", str(cfg))
    check("a database that is not rabta's is refused (exit 1)", r.returncode == 1 and "not a rabta" in r.stderr,
          r.stderr)

    r = run("restore", str(backup), "--config", str(cfg))
    check("a good backup restores (exit 0) and keeps the previous database",
          r.returncode == 0 and "before-restore" in r.stdout, r.stdout + r.stderr)
    kept = [k for k in db.parent.glob("rabta.db.before-restore-*") if not k.name.endswith(("-wal", "-shm"))]
    check("the previous database is kept whole", len(kept) == 1 and {
        row[0] for row in sqlite3.connect(str(kept[0])).execute("SELECT reference FROM cases")} == after_all)
    server = serve()
    again = {row[0] for row in sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT reference FROM cases")}
    check("rabta serves from the restored database, which holds the backup's reports", again == refs,
          len(again ^ refs))
    check("and takes new reports", len(report(999)) == 6)
    server.stop()
    server = None
    # A restore is often wanted because the live database is damaged: it must not need to open it.
    live = bytearray(db.read_bytes())
    for off in range(0, min(len(live), 4096 * 4), 5):
        live[off] ^= 0xA5
    db.write_bytes(bytes(live))
    r = run("restore", str(backup), "--config", str(cfg))
    check("a backup restores over a damaged live database (exit 0)", r.returncode == 0, r.stdout + r.stderr)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    check("and the restored database passes integrity_check",
          con.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
finally:
    if server is not None:
        server.stop()
    shutil.rmtree(work, ignore_errors=True)
print(f"{'FAILED' if FAILED else 'ok'}: {len(FAILED)} failed")
sys.exit(1 if FAILED else 0)
