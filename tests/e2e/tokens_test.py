#!/usr/bin/env python3
"""The operator's token commands with the real binary (SECURITY #11 "Tokens"): `rabta responders
token NAME --days N` prints "<id>.<64 hex>" once and says until when it is valid; `rabta responders
tokens` lists every member's token state without a secret or hash; `rabta responders revoke NAME`
ends it at once, against a running `rabta serve`; issuing and revoking are audited and the chain
still verifies; bad --days and unknown names are refused.
Usage: tokens_test.py RABTA_BINARY SOURCE_DIR"""
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import e2e  # noqa: E402
from e2e import FAILED, check  # noqa: E402

RABTA, SRC = sys.argv[1], Path(sys.argv[2])
AMNA, HINA = "Amna Caseworker", "Hina Caseworker"


def rabta(*args):
    return e2e.rabta(RABTA, *args, "--config", str(cfg))


def me(token):
    status, body = e2e.http("GET", f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    try:
        return status, json.loads(body or "{}")
    except ValueError:
        return status, {}


work = Path(tempfile.mkdtemp(prefix="rabta-tokens-test-"))
serve = None
try:
    cfg = e2e.shipped_config(SRC, work)
    for var in ("RABTA_PSEUDONYM_KEY", "RABTA_FIELD_KEY"):
        os.environ.pop(var, None)
    r = e2e.rabta(RABTA, "init", "--config", str(cfg))
    check("rabta init", r.returncode == 0, r.stderr)

    for days in ("0", "366"):
        r = rabta("responders", "token", AMNA, "--days", days)
        check(f"--days {days} is refused with exit 2", r.returncode == 2 and "--days" in r.stderr,
              f"exit {r.returncode}: {r.stderr}")
    r = rabta("responders", "token", "Nobody Here")
    check("an unknown name exits 1 naming her", r.returncode == 1 and "Nobody Here" in r.stderr,
          f"exit {r.returncode}: {r.stderr}")

    r = rabta("responders", "token", AMNA, "--days", "7")
    token = r.stdout.strip()
    check("a token is <id>.<64 hex>, printed once on stdout",
          r.returncode == 0 and re.fullmatch(r"[1-9][0-9]*\.[0-9a-f]{64}", token) is not None,
          f"exit {r.returncode}: {r.stderr}")
    check("stderr says until when it is valid",
          re.search(r"valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC", r.stderr) is not None, r.stderr)
    default = rabta("responders", "token", HINA)
    hina = default.stdout.strip()
    check("without --days a token is issued too", default.returncode == 0 and hina != token,
          default.stderr)

    listing = rabta("responders", "tokens")
    lines = {ln.split("  ")[0].strip(): ln for ln in listing.stdout.splitlines()}
    check("`responders tokens` lists every member", listing.returncode == 0 and AMNA in lines
          and "Sadia Supervisor" in lines, listing.stdout + listing.stderr)
    check("Amna's token is valid, with when it was issued and until when",
          AMNA in lines and re.search(r"valid\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+\d{4}-\d\d-\d\d", lines[AMNA])
          is not None, lines.get(AMNA, ""))
    check("a member without a token shows none", "Sadia Supervisor" in lines
          and " none " in lines["Sadia Supervisor"], lines.get("Sadia Supervisor", ""))
    secret = token.split(".")[1]
    check("the listing carries no secret", secret not in listing.stdout and hina.split(".")[1]
          not in listing.stdout)

    serve, base = e2e.serve(RABTA, cfg, work / "serve.log")
    e2e.require("rabta serve starts", base is not None, serve.log()[-2000:])
    status, body = me(token)
    check("her token signs her in", status == 200 and body.get("name") == AMNA, f"{status} {body}")

    r = rabta("responders", "revoke", AMNA)
    check("revoke says it is revoked", r.returncode == 0 and "revoked the API token of" in r.stdout,
          r.stdout + r.stderr)
    status, body = me(token)
    check("the running server refuses her token at once", status == 401, f"{status} {body}")
    status, body = me(hina)
    check("the others keep theirs", status == 200, f"{status} {body}")
    r = rabta("responders", "revoke", AMNA)
    check("revoking again says there was none", r.returncode == 0 and "no API token" in r.stdout,
          r.stdout)
    listing = rabta("responders", "tokens")
    amna_line = next((ln for ln in listing.stdout.splitlines() if ln.startswith(AMNA)), "")
    check("the listing shows her with none", " none " in amna_line, amna_line)

    db = sqlite3.connect(work / "var" / "rabta.db")
    actions = dict(db.execute("SELECT action, count(*) FROM audit GROUP BY action").fetchall())
    db.close()
    check("issuing and revoking are audited",
          actions.get("responder.token_issued") == 2 and actions.get("responder.token_revoked") == 1,
          str(actions))
    check("the failed sign-in is audited", actions.get("sign_in_failed") == 1, str(actions))
    verify = rabta("audit", "verify")
    check("the audit chain verifies", verify.returncode == 0, verify.stdout + verify.stderr)
    text = serve.log()
    check("the server log has no token", secret not in text, text[-2000:])
except e2e.Fatal:
    pass
finally:
    if serve is not None:
        serve.stop()
    shutil.rmtree(work, ignore_errors=True)

sys.exit(1 if FAILED else 0)
