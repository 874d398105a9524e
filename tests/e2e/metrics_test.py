#!/usr/bin/env python3
"""GET /metrics with the real binary: after exactly N USSD hops (one report), one refused
request and one SMS-less path, the counters and the hop histogram say exactly that; the text
parses as Prometheus exposition format 0.0.4 (HELP and TYPE for every family, histogram buckets
cumulative and ending at +Inf = _count); nothing in it names her number. Usage: metrics_test.py RABTA_BINARY SOURCE_DIR"""
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
SECRET = "metrics-test-secret-0123456789"
PHONE = "+923004445566"

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? (-?[0-9.e+-]+|\+Inf|NaN)$')


def parse(text):
    families, samples, errors = {}, [], []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            families.setdefault(line.split()[2], {})["help"] = True
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            families.setdefault(name, {})["type"] = kind
        elif line.strip():
            m = LINE.match(line)
            if not m:
                errors.append(line)
                continue
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\.|[^"\\])*)"', m.group(3) or ""))
            samples.append((m.group(1), labels, float(m.group(7))))
    return families, samples, errors


work = Path(tempfile.mkdtemp(prefix="rabta-metrics-test-"))
server = None
try:
    cfg = e2e.shipped_config(SRC, work)
    os.environ["RABTA_AT_SECRET"] = SECRET
    e2e.require("rabta init", e2e.rabta(RABTA, "init", "--config", str(cfg)).returncode == 0)
    server, base = e2e.serve(RABTA, cfg, work / "serve.log")
    e2e.require("rabta serve starts", base is not None, server.log()[-2000:])
    hops = e2e.INCIDENT_REPORT
    reference, replies = e2e.ussd_report(base, SECRET, hops, "m-1", PHONE)
    check("the report went through", reference is not None, replies)
    status, _ = e2e.http("POST", f"{base}/ussd/africastalking?key=wrong", "sessionId=x")
    check("a wrong key is refused", status == 403, status)
    status, text = e2e.http("GET", base + "/metrics")
    check("/metrics answers", status == 200, status)
    families, samples, errors = parse(text)
    check("every line parses as exposition format", not errors, errors)
    names = {s[0] for s in samples}
    for fam, info in families.items():
        check(f"family {fam} has HELP and TYPE", info.get("help") and info.get("type"), info)

    def value(name, **labels):
        for n, l, v in samples:
            if n == name and all(l.get(k) == str(w) for k, w in labels.items()):
                return v
        return None

    n_hops = len(hops) + 1
    check("requests counted by route and status",
          value("rabta_http_requests_total", route="ussd_africastalking", status=200) == n_hops and
          value("rabta_http_requests_total", route="ussd_africastalking", status=403) == 1,
          [s for s in samples if s[0] == "rabta_http_requests_total"])
    check("the hop histogram counts every hop", value("rabta_ussd_hop_seconds_count") == n_hops,
          value("rabta_ussd_hop_seconds_count"))
    for fam in ("rabta_ussd_hop_seconds", "rabta_store_commit_batch_size"):
        buckets = [(l["le"], v) for n, l, v in samples if n == fam + "_bucket"]
        ok = buckets and buckets[-1][0] == "+Inf" and buckets[-1][1] == value(fam + "_count") and all(
            a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
        check(f"{fam}: buckets cumulative, ending at +Inf = _count", ok, buckets)
    check("one open case of severity high (the report)", value("rabta_cases_open", severity="high") == 1,
          [s for s in samples if s[0] == "rabta_cases_open"])
    check("the oldest unacknowledged case has an age", (value("rabta_cases_oldest_unacknowledged_age_seconds") or -1) >= 0)
    check("the outbox holds the case alert", value("rabta_outbox_rows", status="pending") == 1,
          [s for s in samples if s[0].startswith("rabta_outbox")])
    for needed in ("rabta_outbox_dead_letters", "rabta_sms_delivery_failures", "rabta_outbox_oldest_pending_age_seconds",
                   "rabta_dispatch_total", "rabta_store_failed_jobs_total"):
        check(f"{needed} is exported", needed in names)
    check("nothing names her number", PHONE[3:] not in text and "4445566" not in text)
except e2e.Fatal:
    pass
finally:
    if server:
        server.stop()
    shutil.rmtree(work, ignore_errors=True)
print(f"{'FAILED' if FAILED else 'ok'}: {len(FAILED)} failed")
sys.exit(1 if FAILED else 0)
