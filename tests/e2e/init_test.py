#!/usr/bin/env python3
"""rabta init with the real binary (SECURITY #11): it creates the keys (0600, in keys/, apart from
var/) and the database (0600); run again it changes nothing; and once the database exists, a
missing pseudonym or field key file is refused with the file, the database and the way out,
never replaced by a new key that could not open what is stored (as after moving var/keys).
And `rabta serve` makes a database that group or others may read (one copied in by hand, or made
by an older rabta) readable by its owner only at start, saying so in its log.
Usage: init_test.py RABTA_BINARY SOURCE_DIR"""
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import e2e  # noqa: E402
from e2e import FAILED, check  # noqa: E402

RABTA, SRC = sys.argv[1], Path(sys.argv[2])


def init(cfg, env=None):
    return e2e.rabta(RABTA, "init", "--config", str(cfg), env={**os.environ, **(env or {})})


work = Path(tempfile.mkdtemp(prefix="rabta-init-test-"))
try:
    cfg = e2e.shipped_config(SRC, work)
    for var in ("RABTA_PSEUDONYM_KEY", "RABTA_FIELD_KEY"):
        os.environ.pop(var, None)
    first = init(cfg)
    check("rabta init on a fresh folder succeeds", first.returncode == 0, first.stderr)
    keys, db = work / "keys", work / "var" / "rabta.db"
    for name in ("pseudonym.key", "field.key"):
        f = keys / name
        check(f"{name} is created in keys/, mode 0600", f.exists() and stat.S_IMODE(f.stat().st_mode) == 0o600,
              str(f))
    check("no key is created under var/", not (work / "var" / "keys").exists())
    check("the database is mode 0600", db.exists() and stat.S_IMODE(db.stat().st_mode) == 0o600)
    pseudonym_key = (keys / "pseudonym.key").read_bytes()
    again = init(cfg)
    check("a second init succeeds and keeps the key", again.returncode == 0
          and (keys / "pseudonym.key").read_bytes() == pseudonym_key, again.stderr)

    # The keys moved away (as var/keys was before the upgrade): init must not make new ones.
    shutil.move(str(keys), str(work / "var" / "keys"))
    moved = init(cfg)
    check("with the database present and the pseudonym key gone, init exits 2", moved.returncode == 2,
          f"exit {moved.returncode}")
    check("the refusal names the key file and the database",
          str(keys / "pseudonym.key") in moved.stderr and str(db) in moved.stderr, moved.stderr)
    check("no new key was created", not (keys / "pseudonym.key").exists() and not (keys / "field.key").exists())
    shutil.move(str(work / "var" / "keys"), str(keys))
    (keys / "field.key").unlink()
    field = init(cfg)
    check("with only the field key gone, init exits 2 naming it",
          field.returncode == 2 and str(keys / "field.key") in field.stderr, field.stderr)
    check("and does not create it", not (keys / "field.key").exists())
    with_env = init(cfg, {"RABTA_FIELD_KEY": "1:" + "ab" * 32})
    check("with the field key given in RABTA_FIELD_KEY, init goes on", with_env.returncode == 0,
          with_env.stderr)

    # A database left 0644 by an older rabta: serve tightens it (and its WAL and SHM) at start.
    os.chmod(db, 0o644)
    serve, base = e2e.serve(RABTA, cfg, work / "serve.log")
    try:
        text = serve.log()
        check("rabta serve starts on the database", base is not None, text[-2000:])
        check("serve made the database mode 0600", stat.S_IMODE(db.stat().st_mode) == 0o600,
              oct(db.stat().st_mode))
        check("and said so, naming the file and its old mode",
              f"{db} was readable by group or others (mode 0644)" in text, text[-2000:])
        for extra in ("-wal", "-shm"):
            f = Path(str(db) + extra)
            if f.exists():
                check(f"its {extra[1:].upper()} is mode 0600", stat.S_IMODE(f.stat().st_mode) == 0o600,
                      oct(f.stat().st_mode))
    finally:
        serve.stop()
finally:
    shutil.rmtree(work, ignore_errors=True)

sys.exit(1 if FAILED else 0)
