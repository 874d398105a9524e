#!/usr/bin/env python3
"""An idle `rabta serve` writes nothing (#13): with nothing to do, its passes (the SMS dispatcher
every 500 ms, the escalation ladder every 2 s, the check-ins, the idle-session sweep) end without
a commit, so no WAL frame and no fsync. Event-driven, not timed: the store's own counters on
/metrics show the writer running passes (jobs go up) while commits stay where they were.
Usage: idle_test.py RABTA_BINARY SOURCE_DIR"""
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import e2e  # noqa: E402
from e2e import FAILED, check  # noqa: E402

RABTA, SRC = sys.argv[1], Path(sys.argv[2])


def counters(base):
    status, text = e2e.http("GET", base + "/metrics")
    if status != 200:
        return None
    values = dict(re.findall(r"^(rabta_store_(?:jobs|commits|unchanged_batches)_total) (\d+)$", text,
                             re.MULTILINE))
    return {k: int(v) for k, v in values.items()}


work = Path(tempfile.mkdtemp(prefix="rabta-idle-test-"))
server = None
try:
    cfg = e2e.shipped_config(SRC, work)
    os.environ["RABTA_AT_SECRET"] = "idle-test-secret-0123456789"
    e2e.require("rabta init", e2e.rabta(RABTA, "init", "--config", str(cfg)).returncode == 0)
    server, base = e2e.serve(RABTA, cfg, work / "serve.log")
    e2e.require("rabta serve starts", base is not None, server.log()[-2000:])
    # Start-up work that does write (the key rotation records the key in use) is over when it
    # says so; from then on nothing happens.
    e2e.require("the start-up passes are over",
                e2e.wait_for(lambda: "every stored value is encrypted" in server.log(), 20),
                server.log()[-2000:])
    first = e2e.wait_for(lambda: counters(base), 10)
    e2e.require("the store's counters are on /metrics", first is not None and len(first) == 3, first)
    later = e2e.wait_for(
        lambda: (c := counters(base)) and c["rabta_store_jobs_total"] >= first["rabta_store_jobs_total"] + 8
        and c, 30)
    check("the background passes ran (at least 8 store jobs)", later is not None, first)
    if later:
        check("no commit while nothing happens",
              later["rabta_store_commits_total"] == first["rabta_store_commits_total"],
              f"before {first}, after {later}")
        check("the passes ended without a commit",
              later["rabta_store_unchanged_batches_total"] > first["rabta_store_unchanged_batches_total"],
              f"before {first}, after {later}")
    code = server.stop()
    server = None
    check("and it stops cleanly", code == 0, code)
except e2e.Fatal:
    pass
finally:
    if server is not None:
        server.stop()
    shutil.rmtree(work, ignore_errors=True)
print(f"{'FAILED' if FAILED else 'ok'}: {len(FAILED)} failed")
sys.exit(1 if FAILED else 0)
