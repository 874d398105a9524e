#!/usr/bin/env python3
"""`rabta check` with the real binary: the shipped config passes (exit 0); one broken copy per
kind of file (rabta.toml, a flow, the settings, keywords, templates, the banned words, the
responder roster) fails with exit 2 and names the file, the line and the reason.
And one validation (SECURITY #11): for every value `rabta serve` refuses to start with (a
check-in channel, an adapter kind or setting, a time zone, a webhook URL, an alert channel, a key
file others may read, a missing key, a short secret), `rabta check` refuses it too, with exit 2,
file:line and the very message serve logs.
Usage: check_test.py RABTA_BINARY SOURCE_DIR"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import e2e  # noqa: E402
from e2e import FAILED, check  # noqa: E402

RABTA, SRC = sys.argv[1], Path(sys.argv[2])

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
    # #15: a referral partner's purpose is the consent she gives for it.
    ("responders.toml", 'purpose = "referral_police"', 'purpose = "police"',
     r"responders\.toml:\d+: \[\[partners\]\]: 'purpose' must be \"referral_police\" or"),
    # Every problem of a file at once, not only the first (flows/toml_reader.hpp).
    ("rabta.toml", "threads = 1 ", 'threads = "two"\nbody_limt = 1 ',
     r"(?s)(?=.*rabta\.toml:\d+: 'threads' must be an integer)"
     r"(?=.*rabta\.toml:\d+: \[server\]: unknown key 'body_limt')"),
]


# Values serve refuses: file, text to replace, replacement, what check must say (file:line: ...).
# Each copy sits beside the others in one folder, so "../keys" is the keys `rabta init` made.
SERVE_CASES = [
    ("rabta.toml", 'channel = "kannel"', 'channel = "kanel"',
     r"rabta\.toml:\d+: \[checkins\] channel 'kanel' is not a \[channels\.X\]"),
    ("rabta.toml", 'kind = "kannel"', 'kind = "kanel"',
     r"rabta\.toml:\d+: \[channels\.kannel\] kind 'kanel' is not an adapter"),
    ("rabta.toml", 'timezone = "Asia/Karachi"', 'timezone = "Asia/Karachii"',
     r"rabta\.toml:\d+: \[checkins\] timezone 'Asia/Karachii' is not known"),
    ("rabta.toml", 'sendsms_url = "http://127.0.0.1:13013/cgi-bin/sendsms"', 'sendsms_url = "not a url"',
     r"rabta\.toml:\d+: \[channels\.kannel\]: "),
    ("responders.toml", 'enabled = false\nurl = "https://cms.example.org/rabta"',
     'enabled = true\nurl = "http://127.0.0.1.evil.example/rabta"',
     r"responders\.toml:\d+: \[webhook\]: 'url': the webhook url must be https"),
    ("responders.toml", 'alert_channel = "kannel"', 'alert_channel = "kanel"',
     r"responders\.toml:\d+: alert_channel 'kanel' is not a \[channels\.X\]"),
]


def run_check(config):
    p = e2e.rabta(RABTA, "check", "--config", str(config))
    return p.returncode, p.stdout + p.stderr


def run_serve(config):
    """rabta serve on the config: its exit code and log, or None if it did not refuse in 20 s."""
    p = subprocess.Popen([RABTA, "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=20)
        return p.returncode, out
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        return None, out


def broken_copy(d, name, old, new):
    """A copy of config/ in `d` with `old` replaced by `new` in `name`; None if `old` is gone."""
    shutil.copytree(SRC / "config", d)
    f = d / name
    text = f.read_text(encoding="utf-8")
    if not check(f"{name}: the test's anchor text is there", old in text, repr(old)):
        return None
    f.write_text(text.replace(old, new, 1), encoding="utf-8")
    return d


def refused_alike(what, config, want):
    """Both refuse with exit 2; check says `want` at file:line; serve logs check's first error."""
    rc, out = run_check(config)
    src, sout = run_serve(config)
    first = next((ln for ln in out.splitlines() if re.search(want, ln)), None)
    check(f"{what}: serve and check both refuse it (check {rc}, serve {src})",
          rc == 2 and first is not None and src == 2 and first in sout,
          f"want /{want}/\n--- check:\n{out[-1200:]}\n--- serve:\n{sout[-1200:]}")


for var in ("RABTA_PSEUDONYM_KEY", "RABTA_FIELD_KEY", "RABTA_AT_SECRET", "RABTA_KANNEL_SECRET"):
    os.environ.pop(var, None)
os.environ["RABTA_WEBHOOK_SECRET"] = "webhook-secret-for-the-check-test"
work = Path(tempfile.mkdtemp(prefix="rabta-check-test-"))
try:
    shutil.copytree(SRC / "config", work / "shipped")
    init = e2e.rabta(RABTA, "init", "--config", str(work / "shipped" / "rabta.toml"))
    check("rabta init", init.returncode == 0, init.stderr)
    # #15: init creates every secret the config names, the webhook's (responders.toml) included,
    # readable by its owner only.
    webhook_secret = work / "keys" / "webhook.secret"
    check("rabta init creates the webhook secret responders.toml names",
          webhook_secret.exists() and (webhook_secret.stat().st_mode & 0o077) == 0 and
          "[webhook] secret" in init.stdout, init.stdout[-800:])
    partner_secret = work / "keys" / "partner-police_bhakkar.secret"
    check("rabta init creates each referral partner's secret",
          partner_secret.exists() and (partner_secret.stat().st_mode & 0o077) == 0 and
          "[[partners]] police_bhakkar secret" in init.stdout, init.stdout[-800:])
    version = e2e.rabta(RABTA, "--version")
    check("rabta --version", version.returncode == 0 and
          re.fullmatch(r"rabta \d+\.\d+\.\d+\n", version.stdout) is not None,
          version.stdout + version.stderr)
    rc, out = run_check(work / "shipped" / "rabta.toml")
    check("the shipped config passes (exit 0)",
          rc == 0 and out.rstrip().splitlines()[-1].startswith("ok:"), out[-1500:])
    for i, (name, old, new, want) in enumerate(CASES):
        d = broken_copy(work / f"case{i}", name, old, new)
        if d is None:
            continue
        rc, out = run_check(d / "rabta.toml")
        check(f"a broken {name} is refused with file:line and reason (exit {rc})",
              rc == 2 and re.search(want, out) is not None, f"want /{want}/\n" + out[-1500:])

    for i, (name, old, new, want) in enumerate(SERVE_CASES):
        d = broken_copy(work / f"serve{i}", name, old, new)
        if d is None:
            continue
        refused_alike(f"{name}: {new.splitlines()[-1]}", d / "rabta.toml", want)

    shipped = work / "shipped" / "rabta.toml"
    keys = work / "keys"
    os.chmod(keys / "field.key", 0o644)
    refused_alike("a field key file others may read", shipped,
                  r"rabta\.toml:\d+: .*field\.key.*chmod 600")
    os.chmod(keys / "field.key", 0o600)
    os.rename(keys / "pseudonym.key", keys / "pseudonym.key.away")
    refused_alike("a missing pseudonym key file", shipped,
                  r"rabta\.toml:\d+: .*pseudonym key file .*is missing.*rabta init")
    os.rename(keys / "pseudonym.key.away", keys / "pseudonym.key")
    at_secret = keys / "africastalking.secret"
    kept = at_secret.read_bytes()
    at_secret.write_text("short\n")
    refused_alike("an Africa's Talking secret under 16 characters", shipped,
                  r"rabta\.toml:\d+: \[ussd\.africastalking\] secret: .*shorter than 16")
    at_secret.write_bytes(kept)
    rc, out = run_check(shipped)
    check("with everything put back, check passes again", rc == 0, out[-1500:])
finally:
    shutil.rmtree(work, ignore_errors=True)
print(f"{'FAILED' if FAILED else 'ok'}: {len(FAILED)} failed")
sys.exit(1 if FAILED else 0)
