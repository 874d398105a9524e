#!/usr/bin/env python3
"""`rabta check` with the real binary: the shipped config passes (exit 0); one broken copy per
kind of file (rabta.toml, a flow, the settings, keywords, templates, the banned words, the
responder roster) fails with exit 2 and names the file, the line and the reason.
Usage: check_test.py RABTA_BINARY SOURCE_DIR"""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RABTA, SRC = sys.argv[1], Path(sys.argv[2])
FAILED = []

# file, text to replace, replacement, what the message must contain (file:line: ... reason)
CASES = [
    ("rabta.toml", "body_limit = 8192", "body_limit = 8192\nbody_limt = 1", r"rabta\.toml:\d+: .*unknown key 'body_limt'"),
    ("flows/incident.toml", 'next = "refer"', 'next = "refr"', r"flows/incident\.toml:\d+: .*unknown node 'refr'"),
    ("messages.toml", 'quick_exit = "00"', 'quick_exit = ""', r"messages\.toml:\d+: .*quick_exit"),
    ("keywords.toml", 'target = "incident:what"', 'target = "incident:nowhere"', r"keywords\.toml:\d+: .*incident:nowhere"),
    ("templates.toml", 'en = "Welcome back. Send CHECK any time."', 'en = "Welcome back. Police are informed."',
     r"templates\.toml:\d+: .*banned word 'police'"),
    ("banned_words.toml", "en = [", "en = 5\nxx = [", r"banned_words\.toml:\d+: .*must be a list"),
    ("responders.toml", 'high = "15m"', 'high = "soon"', r"responders\.toml:\d+: .*"),
]


def run_check(config):
    p = subprocess.run([RABTA, "check", "--config", str(config)], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


work = Path(tempfile.mkdtemp(prefix="rabta-check-test-"))
try:
    shutil.copytree(SRC / "config", work / "shipped")
    rc, out = run_check(work / "shipped" / "rabta.toml")
    ok = rc == 0 and out.rstrip().splitlines()[-1].startswith("ok:")
    print(("PASS  " if ok else "FAIL  ") + "the shipped config passes (exit 0)" + ("" if ok else "\n" + out[-1500:]))
    if not ok:
        FAILED.append("shipped")
    for i, (name, old, new, want) in enumerate(CASES):
        d = work / f"case{i}"
        shutil.copytree(SRC / "config", d)
        f = d / name
        text = f.read_text(encoding="utf-8")
        if old not in text:
            print(f"FAIL  {name}: the test's anchor text is gone: {old!r}")
            FAILED.append(name)
            continue
        f.write_text(text.replace(old, new, 1), encoding="utf-8")
        rc, out = run_check(d / "rabta.toml")
        ok = rc == 2 and re.search(want, out) is not None
        print(("PASS  " if ok else "FAIL  ") + f"a broken {name} is refused with file:line and reason (exit {rc})"
              + ("" if ok else "\n      want /" + want + "/\n" + out[-1500:]))
        if not ok:
            FAILED.append(name)
finally:
    shutil.rmtree(work, ignore_errors=True)
print(f"{'FAILED' if FAILED else 'ok'}: {len(FAILED)} failed")
sys.exit(1 if FAILED else 0)
