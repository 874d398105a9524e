#!/usr/bin/env python3
"""Moving up (#14): a deployment on SQLite takes USSD reports, `rabta migrate-store` copies it
into a new PostgreSQL database (sealed values stay sealed: her words are in no file of the data
directory), the counts of every table and the audit chain are compared, and `rabta serve` on the
PostgreSQL config carries on: new reports are taken with new ids, `rabta audit verify` passes. A second copy into the same database, a source rabta serve is still
writing, a password in --to, a --from that is not sqlite: and a --to that is not PostgreSQL are
refused. Usage: migrate_test.py RABTA_BINARY SOURCE_DIR"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import e2e  # noqa: E402

RABTA, SRC = sys.argv[1], Path(sys.argv[2])
SECRET = "migrate-test-secret-0123456789"
work = Path(tempfile.mkdtemp(prefix="rabta-migrate-test-"))
os.chmod(work, 0o755)
pg = server = None
try:
    cfg = e2e.shipped_config(SRC, work / "rabta")
    os.environ["RABTA_AT_SECRET"] = SECRET
    r = e2e.rabta(RABTA, "init", "--config", str(cfg))
    e2e.require("rabta init on SQLite", r.returncode == 0, r.stderr)
    server, base = e2e.serve(RABTA, cfg, work / "sqlite.log")
    e2e.require("rabta serve on SQLite", base is not None, server.log()[-2000:])
    before = []
    for i in range(5):
        ref, replies = e2e.ussd_report(base, SECRET, e2e.INCIDENT_REPORT, f"m-{i}", f"+9230055500{i:02d}")
        e2e.require(f"report {i} on SQLite", ref is not None, replies)
        before.append(ref)
    server.stop()
    server = None
    db = work / "rabta" / "var" / "rabta.db"
    for _ in range(2):  # rows in the audit chain to carry over
        t = e2e.rabta(RABTA, "responders", "token", "Farah Caseworker", "--config", str(cfg))
        e2e.require("an operator issues a token (an audit row)", t.returncode == 0, t.stderr)

    pg = e2e.PgServer(work / "pg")
    pg.sql("CREATE DATABASE rabta")
    url = pg.url("rabta")
    # Refused before anything is copied: a source a serve is still writing (its rows after the
    # snapshot would be lost) and a password on the command line (in every `ps` listing).
    server, base = e2e.serve(RABTA, cfg, work / "sqlite-2.log")
    e2e.require("rabta serve on SQLite again", base is not None, server.log()[-2000:])
    busy = e2e.rabta(RABTA, "migrate-store", "--config", str(cfg), "--from", f"sqlite:{db}", "--to", url)
    e2e.check("a source rabta serve is writing is refused",
              busy.returncode == 2 and "rabta serve is running" in busy.stderr, busy.stderr)
    server.stop()
    server = None
    secret = e2e.rabta(RABTA, "migrate-store", "--config", str(cfg), "--from", f"sqlite:{db}",
                       "--to", "postgresql://rabta:pw-s3cret@localhost/rabta")
    e2e.check("a password in --to is refused, and not repeated",
              secret.returncode == 2 and "holds a password" in secret.stderr
              and "pw-s3cret" not in secret.stderr + secret.stdout, secret.stderr)
    r = e2e.rabta(RABTA, "migrate-store", "--config", str(cfg), "--from", f"sqlite:{db}", "--to", url)
    e2e.require("migrate-store copies the store", r.returncode == 0, r.stdout + r.stderr)
    audit_rows = re.search(r"audit chain of the copy ok: (\d+) rows", r.stdout)
    e2e.check("it says the counts agree and the copied audit chain holds",
              "row counts agree in every table" in r.stdout and audit_rows
              and int(audit_rows.group(1)) >= 2, r.stdout)
    e2e.check("every report is in PostgreSQL",
              set(pg.sql("SELECT reference FROM cases", "rabta").split()) == set(before),
              pg.sql("SELECT reference FROM cases", "rabta"))
    pg.sql("CHECKPOINT")
    leaked = [str(f) for f in (pg.dir / "data").rglob("*") if f.is_file()
              and b"+92300555000" in f.read_bytes()]
    e2e.check("her number is in no file of PostgreSQL's data directory", not leaked, leaked[:5])

    again = e2e.rabta(RABTA, "migrate-store", "--config", str(cfg), "--from", f"sqlite:{db}", "--to", url)
    e2e.check("a second copy into the same database is refused",
              again.returncode == 2 and "already holds rows" in again.stderr, again.stderr)
    bad = e2e.rabta(RABTA, "migrate-store", "--config", str(cfg), "--from", str(db), "--to", url)
    e2e.check("--from without sqlite: is refused", bad.returncode == 2 and "sqlite:PATH" in bad.stderr,
              bad.stderr)
    bad = e2e.rabta(RABTA, "migrate-store", "--config", str(cfg), "--from", f"sqlite:{db}",
                    "--to", "mysql://db/rabta")
    e2e.check("--to that is not PostgreSQL is refused", bad.returncode == 2 and "PostgreSQL" in bad.stderr,
              bad.stderr)

    # The deployment moves: [database] url instead of path.
    cfg.write_text(re.sub(r'^path = "[^"]*rabta\.db".*$', f'url = "{url}"', cfg.read_text(),
                          count=1, flags=re.M))
    server, base = e2e.serve(RABTA, cfg, work / "pg.log")
    e2e.require("rabta serve on PostgreSQL", base is not None, server.log()[-2000:])
    ref, replies = e2e.ussd_report(base, SECRET, e2e.INCIDENT_REPORT, "after-1", "+923005559999")
    e2e.check("a new report on PostgreSQL", ref is not None and ref not in before, replies)
    ids = pg.sql("SELECT count(DISTINCT id), count(*) FROM cases", "rabta")
    e2e.check("new rows take new ids after the copied ones", ids == "6|6", ids)
    server.stop()
    server = None
    v = e2e.rabta(RABTA, "audit", "verify", "--config", str(cfg))
    e2e.check("rabta audit verify on PostgreSQL", v.returncode == 0 and "audit chain ok" in v.stdout,
              v.stdout + v.stderr)
except e2e.Fatal:
    pass
finally:
    if server is not None:
        server.stop()
    if pg is not None:
        pg.stop()
    shutil.rmtree(work, ignore_errors=True)
print("ok" if not e2e.FAILED else "FAILED: " + ", ".join(e2e.FAILED))
sys.exit(1 if e2e.FAILED else 0)
