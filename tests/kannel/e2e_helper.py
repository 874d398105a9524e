#!/usr/bin/env python3
"""Text work for kannel_e2e.sh (Python 3.11 standard library only).

  ports N                          N distinct free TCP ports on 127.0.0.1
  listening PORT                   exit 0 if a socket listens on TCP port PORT
  edit-toml FILE sec.key=VALUE...  set keys of rabta.toml in place (VALUE is TOML, e.g. 8080, "x")
  resolve TOML sec.key             a path setting of rabta.toml, absolute (relative to the file)
  render-kannel SRC DST ARG...     write DST from SRC; ARG is sub:OLD=>NEW (text replacement) or
                                   set:GROUP:KEY=VALUE (GROUP: core, smsbox, sendsms-user,
                                   sms-service, smsc:fake); every placeholder <X> must be gone
  ucs2-url TEXT                    TEXT as fakesmsc's ucs2 argument (URL-encoded UTF-16BE)
  mts LOG [PHONE]                  the MT messages in a fakesmsc log, one JSON object a line
                                   (concatenated parts joined, incomplete ones left out)
  count LOG PHONE                  how many MT messages PHONE has received
  check-mt CONFIGDIR LOG PHONE N EXPECT...
                                   checks PHONE's Nth MT message; EXPECT is one of
                                   coding=7bit|ucs2, screen=FLOW:NODE:LANG (question line, then the
                                   numbered options), starts=FLOW:NODE:LANG (question line first),
                                   end=FLOW:NODE:LANG (an end screen, exact), template=NAME:LANG
                                   (templates.toml, exact), message=NAME:LANG (messages.toml
                                   [messages.NAME], exact), lacks=TEXT
  expected CONFIGDIR WHAT          prints what check-mt would compare with (WHAT as in EXPECT)
                                   text=TEXT (exact)
  duplicates LOG [ROSTER]          (leaving out the MTs to ROSTER's members) prints every (phone, text) received more than once; exit 1 if any
  test-roster FILE URL SECRETFILE  the test's responders.toml: every team on duty 0-24 on all seven
                                   days, member numbers moved to +92300999xxxx, [sla] high = "5s",
                                   [webhook] enabled with URL and SECRETFILE
  roster FILE                      the members, one "team<TAB>ladder position<TAB>phone<TAB>name" a line
  alerts LOG ROSTER [REF]          the MTs to roster members (naming case REF), one JSON object a
                                   line, in order
  ussd-help-now CONFIGDIR URL PHONE SESSION
                                   dials URL (the /ussd/africastalking?key=... callback) and answers
                                   hop by hop an "I need help now" check-in in English: safe to call
                                   yes, share with neither (the path is read from the flows); prints
                                   each hop, then "reference <REF>"; exit 1 on a non-200 or no reference
  hook-server PORT SECRETFILE OUT  a webhook receiver on 127.0.0.1:PORT: answers every POST 200 and
                                   appends one JSON object a line to OUT (path, idempotency key,
                                   signature valid, body)
  hook-check OUT REF PHONE         the receiver got the "opened" event of case REF, with the matching
                                   Idempotency-Key and without referral fields; every request it got
                                   was validly signed and does not contain PHONE
"""
import json
import re
import socket
import sys
import tomllib
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import e2e  # noqa: E402

# ---------------------------------------------------------------------------------------------


def free_ports(n):
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def listening(port):
    """A socket in LISTEN state on the port (from /proc/net/tcp*: no connection is made, which
    matters for the fake SMSC port: it serves one client)."""
    found = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found = True
        for row in rows:
            f = row.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                return True
    if not found:  # no /proc: try to connect
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    return False


def edit_toml(path, assignments):
    lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
    for a in assignments:
        dotted, value = a.split("=", 1)
        section, key = dotted.rsplit(".", 1)
        tomllib.loads("v = " + value)  # a valid TOML value, or an exception
        current, start, done = None, None, False
        for i, line in enumerate(lines):
            m = re.match(r"\s*\[([^\]]+)\]\s*(#.*)?$", line)
            if m:
                current = m.group(1).strip()
                if current == section:
                    start = i
                continue
            if current == section and re.match(r"\s*" + re.escape(key) + r"\s*=", line):
                comment = re.search(r"\s+#.*$", line.rstrip("\n"))
                lines[i] = f"{key} = {value}" + (comment.group(0) if comment else "") + "\n"
                done = True
                break
        if not done:
            if start is None:
                lines.append(f"\n[{section}]\n{key} = {value}\n")
            else:
                lines.insert(start + 1, f"{key} = {value}\n")
    text = "".join(lines)
    tomllib.loads(text)
    Path(path).write_text(text, encoding="utf-8")


def resolve(toml_path, dotted):
    doc = tomllib.loads(Path(toml_path).read_text(encoding="utf-8"))
    node = doc
    for part in dotted.split("."):
        node = node[part]
    p = Path(node)
    return str(p if p.is_absolute() else (Path(toml_path).resolve().parent / p).resolve())


def render_kannel(src, dst, args):
    text = Path(src).read_text(encoding="utf-8")
    sets = []
    for a in args:
        if a.startswith("sub:"):
            old, new = a[4:].split("=>", 1)
            if old not in text:
                sys.exit(f"render-kannel: '{old}' is not in {src}")
            text = text.replace(old, new)
        elif a.startswith("set:"):
            rest = a[4:]
            parts = 2 if rest.startswith("smsc:") else 1  # "smsc:fake:port=1" vs "core:port=1"
            *group, kv = rest.split(":", parts)
            key, value = kv.split("=", 1)
            sets.append((":".join(group), key, value))
        else:
            sys.exit(f"render-kannel: bad argument {a}")
    # Split into groups at uncommented "group = X" lines.
    lines = text.splitlines(keepends=True)
    starts = [i for i, l in enumerate(lines) if re.match(r"\s*group\s*=", l)]
    bounds = list(zip(starts, starts[1:] + [len(lines)]))

    def selector(b):
        name = lines[b[0]].split("=", 1)[1].strip()
        if name == "smsc":
            for l in lines[b[0]:b[1]]:
                m = re.match(r"\s*smsc\s*=\s*(\S+)", l)
                if m:
                    return "smsc:" + m.group(1)
        return name

    for group, key, value in sets:
        matching = [b for b in bounds if selector(b) == group]
        if len(matching) != 1:
            sys.exit(f"render-kannel: {len(matching)} groups match '{group}' in {src}")
        b = matching[0]
        for i in range(b[0] + 1, b[1]):
            if re.match(r"\s*" + re.escape(key) + r"\s*=", lines[i]):
                lines[i] = f"{key} = {value}\n"
                break
        else:
            lines.insert(b[0] + 1, f"{key} = {value}\n")
            bounds = [(s + (1 if s > b[0] else 0), e + (1 if e > b[0] else 0)) for s, e in bounds]
    out = "".join(lines)
    active = "\n".join(l for l in out.splitlines() if not l.lstrip().startswith("#"))
    for l in active.splitlines():
        if "#" in re.sub(r'"[^"]*"', '""', l):
            sys.exit(f"render-kannel: Kannel has no end-of-line comments, the '#' would be part of the value: {l}")
    left = re.findall(r"<[A-Z_]+>", active)
    if left:
        sys.exit(f"render-kannel: placeholders left in {dst}: {sorted(set(left))}")
    Path(dst).write_text(out, encoding="utf-8")


def ucs2_url(text):
    return "".join("%%%02X" % b for b in text.encode("utf-16-be"))


# ---------------------------------------------------------------------------------------------
# fakesmsc log: "... DEBUG: Got message N: <sender receiver type data>". A 7-bit text with line
# breaks arrives as one "text" line plus one "Got message" line per further line of the SMS.

HEAD = re.compile(r"^(\S+) (\+?[0-9]+) (text|data|ucs-2|udh) ?(.*)$", re.S)
GOT = re.compile(r"Got message \d+: <(.*)>\s*$")


def url_bytes(s):
    return urllib.parse.unquote_to_bytes(s.replace("+", " "))


def parse_log(path):
    raw = []  # dicts: to, kind, payload(bytes|str), udh
    try:
        content = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    for line in content.splitlines():
        m = GOT.search(line)
        if not m:
            continue
        body = m.group(1)
        h = HEAD.match(body)
        if not h:
            if raw and raw[-1]["kind"] == "text":
                raw[-1]["text"] += "\n" + body
            continue
        sender, to, kind, rest = h.groups()
        e = {"from": sender, "to": to, "kind": kind}
        if kind == "text":
            e["text"], e["coding"] = rest, "7bit"
        elif kind == "ucs-2":
            e["text"], e["coding"] = url_bytes(rest).decode("utf-16-be", errors="replace"), "ucs2"
        elif kind == "data":
            e["text"], e["coding"] = url_bytes(rest).decode("utf-8", errors="replace"), "8bit"
        else:  # udh <udh> data <payload>
            m2 = re.match(r"(\S+) data (.*)$", rest, re.S)
            e["udh"] = url_bytes(m2.group(1)) if m2 else b""
            e["payload"] = url_bytes(m2.group(2)) if m2 else b""
        raw.append(e)
    msgs, pending = [], {}
    for e in raw:
        if e["kind"] != "udh":
            msgs.append({"from": e["from"], "to": e["to"], "coding": e["coding"], "text": e["text"], "parts": 1})
            continue
        u = e["udh"]
        if len(u) >= 6 and u[1] == 0x00:  # 05 00 03 ref total seq
            ref, total, seq = u[3], u[4], u[5]
        elif len(u) >= 7 and u[1] == 0x08:  # 06 08 04 ref ref total seq
            ref, total, seq = (u[3] << 8) | u[4], u[5], u[6]
        else:
            ref, total, seq = -1, 1, 1
        k = (e["to"], ref, total)
        slot = pending.setdefault(k, {"parts": {}, "from": e["from"], "at": len(msgs)})
        slot["parts"][seq] = e["payload"]
        if len(slot["parts"]) == total:
            data = b"".join(slot["parts"][i] for i in sorted(slot["parts"]))
            try:
                text, coding = data.decode("utf-8"), "7bit"
                if "\x00" in text:
                    raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL")
            except UnicodeDecodeError:
                text, coding = data.decode("utf-16-be", errors="replace"), "ucs2"
            msgs.append({"from": slot["from"], "to": e["to"], "coding": coding, "text": text, "parts": total})
            del pending[k]
    return msgs


def mts(path, phone=None):
    return [m for m in parse_log(path) if phone is None or m["to"] == phone]


# ---------------------------------------------------------------------------------------------
# Expected texts, from the shipped config.


def load(configdir, rel):
    return tomllib.loads((Path(configdir) / rel).read_text(encoding="utf-8"))


def node_of(configdir, flow, node):
    return load(configdir, f"flows/{flow}.toml")["nodes"][node]


def expected(configdir, what):
    kind, spec = what.split("=", 1)
    if kind == "text":
        return spec
    if kind == "template":
        name, lang = spec.split(":")
        return load(configdir, "templates.toml")[name][lang]
    if kind == "message":
        name, lang = spec.split(":")
        return load(configdir, "messages.toml")["messages"][name][lang]
    flow, node, lang = spec.split(":")
    n = node_of(configdir, flow, node)
    if kind == "screen":
        opts = [f"{i}. {o['label'][lang]}" for i, o in enumerate(n.get("options", []), 1)]
        return "\n".join([n["text"][lang]] + opts)
    return n["text"][lang]  # starts, end


def check_mt(configdir, log, phone, index, expects):
    got = mts(log, phone)
    if len(got) < index:
        print(f"    {phone} has {len(got)} MT message(s), expected at least {index}")
        return 1
    m = got[index - 1]
    bad = []
    for x in expects:
        kind, spec = x.split("=", 1)
        if kind == "coding":
            if m["coding"] != spec:
                bad.append(f"coding {m['coding']}, expected {spec}")
        elif kind == "lacks":
            if spec in m["text"]:
                bad.append(f"contains {spec!r}")
        else:
            want = expected(configdir, x)
            ok = {"screen": lambda: m["text"] == want or m["text"].startswith(want + "\n"),
                  "starts": lambda: m["text"].split("\n", 1)[0] == want,
                  "end": lambda: m["text"] == want,
                  "template": lambda: m["text"] == want,
                  "message": lambda: m["text"] == want,
                  "text": lambda: m["text"] == want}[kind]()
            if not ok:
                bad.append(f"{kind} mismatch: expected {want!r}")
    if bad:
        print(f"    MT #{index} to {phone} ({m['coding']}, {m['parts']} part(s)): {m['text']!r}")
        for b in bad:
            print(f"    -> {b}")
        return 1
    return 0


def duplicates(log, roster_path=None):
    seen = {}
    skip = roster(roster_path) if roster_path else {}  # a supervisor is re-alerted every SLA
    for m in parse_log(log):
        if m["to"] in skip:
            continue
        k = (m["to"], m["text"])
        seen[k] = seen.get(k, 0) + 1
    dups = {k: v for k, v in seen.items() if v > 1}
    for (to, text), v in dups.items():
        print(f"    {v}x to {to}: {text!r}")
    return 1 if dups else 0


# ---------------------------------------------------------------------------------------------
# Scenario E: the responder queue and the case-management webhook.

ALL_DAYS = '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]'


def test_roster(path, url, secret_file):
    text = Path(path).read_text(encoding="utf-8")
    n_teams = len(re.findall(r"^\[\[teams\]\]", text, re.M))
    text, n = re.subn(r"^on_duty\s*=\s*\{.*\}\s*$", f'on_duty = {{ days = {ALL_DAYS}, hours = "0-24" }}',
                      text, flags=re.M)
    if n != n_teams:
        sys.exit(f"test-roster: {n} on_duty lines for {n_teams} teams")
    text = re.sub(r'"\+92300000(\d{4})"', r'"+92300999\1"', text)
    Path(path).write_text(text, encoding="utf-8")
    edit_toml(path, ['sla.high="5s"', "webhook.enabled=true", f'webhook.url="{url}"',
                     f'webhook.secret_file="{secret_file}"'])
    doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    phones = [m["phone"] for t in doc["teams"] for m in t["members"]]
    problems = []
    if doc["sla"]["high"] != "5s":
        problems.append(f"sla.high = {doc['sla']['high']}")
    w = doc["webhook"]
    if not (w["enabled"] is True and w["url"] == url and w["secret_file"] == secret_file):
        problems.append(f"webhook = {w}")
    for t in doc["teams"]:
        od = t.get("on_duty", {})
        if od.get("hours") != "0-24" or len(set(od.get("days", []))) != 7:
            problems.append(f"team {t['name']} on_duty = {od}")
    if len(set(phones)) != len(phones) or not all(re.fullmatch(r"\+92300999\d{4}", p) for p in phones):
        problems.append(f"phones = {phones}")
    if problems:
        sys.exit("test-roster: " + "; ".join(problems))


def roster(path):
    doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    out = {}
    for t in doc["teams"]:
        for i, m in enumerate(t["members"], 1):
            out[m["phone"]] = {"team": t["name"], "step": i, "name": m["name"]}
    return out


def alerts(log, roster_path, ref=None):
    """The alerts (texts of alert_template) to roster members, of case REF or of any case."""
    r = roster(roster_path)
    template = tomllib.loads(Path(roster_path).read_text(encoding="utf-8"))["alert_template"]
    pattern = re.escape(template).replace(re.escape("{ref}"), re.escape(ref) if ref else "[A-Z0-9]+")
    pattern = pattern.replace(re.escape("{severity}"), "(low|normal|high|critical)")
    return [dict(m, **r[m["to"]]) for m in parse_log(log)
            if m["to"] in r and re.fullmatch(pattern, m["text"])]


def ussd_help_now(configdir, url, phone, session):
    """An "I need help now" check-in, no referral, dialled hop by hop (tests/support/e2e.py)."""
    try:
        inputs = e2e.help_now_inputs(configdir, consent="neither")
    except e2e.Fatal as e:
        sys.exit(f"ussd-help-now: {e}")
    reference, replies = e2e.ussd_hops(url, inputs, session, phone, 10)
    texts = [""] + ["*".join(inputs[:i]) for i in range(1, len(inputs) + 1)]
    for text, reply in zip(texts, replies):
        print(f"    text {text!r}: {reply!r}")
    if reference is None:
        print("    no reference on the last screen")
        return 1
    print(f"reference {reference}")
    return 0


def verify_signature(secret, header, body, tolerance=300):  # docs/OPERATIONS.md, the webhook
    import hashlib
    import hmac
    import time
    parts = [p.partition("=")[::2] for p in header.split(",")]
    t = [v for k, v in parts if k == "t"]
    sigs = [v for k, v in parts if k == "v1"]
    if len(t) != 1 or not t[0].isdigit() or abs(time.time() - int(t[0])) > tolerance:
        return False
    mac = hmac.new(secret, t[0].encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(mac, s) for s in sigs)


def hook_server(port, secret_file, out):
    from http.server import BaseHTTPRequestHandler, HTTPServer
    secret = Path(secret_file).read_text(encoding="utf-8").splitlines()[0].strip().encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n > 0 else b""
            rec = {"path": self.path, "idempotency_key": self.headers.get("Idempotency-Key"),
                   "content_type": self.headers.get("Content-Type"),
                   "signature_valid": verify_signature(secret, self.headers.get("X-Rabta-Signature") or "", body),
                   "body": body.decode("utf-8", errors="replace")}
            with open(out, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, fmt, *args):
            sys.stderr.write("hook: " + (fmt % args) + "\n")

    Path(out).touch()
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


def hook_records(out):
    try:
        lines = Path(out).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(l) for l in lines if l.strip()]


def hook_check(out, ref, phone):
    recs = hook_records(out)
    for r in recs:
        print(f"    {r['idempotency_key']} signature_valid={r['signature_valid']} {r['path']} {r['body']}")
    opened = [r for r in recs if r["idempotency_key"] == f"opened:{ref}"]
    if not opened:
        print(f"    no request with Idempotency-Key opened:{ref}")
        return 1
    bad = []
    digits = phone.lstrip("+")
    for r in recs:  # every request: signed, and never her number
        if not r["signature_valid"]:
            bad.append(f"{r['idempotency_key']}: signature does not verify")
        if digits in r["body"] or digits[2:] in r["body"]:
            bad.append(f"{r['idempotency_key']}: her number is in the body")
    for r in opened:
        try:
            b = json.loads(r["body"])
        except ValueError:
            bad.append("body is not JSON")
            continue
        if r["path"] != "/hook":
            bad.append(f"path {r['path']}")
        if (r["content_type"] or "").split(";")[0] != "application/json":
            bad.append(f"Content-Type {r['content_type']}")
        if b.get("event") != "opened" or b.get("reference") != ref or b.get("idempotency_key") != f"opened:{ref}":
            bad.append("event/reference/idempotency_key do not match")
        if b.get("severity") != "high" or b.get("category") != "checkin_help_now":
            bad.append("not a high checkin_help_now case")
        for k in ("phone", "district", "call_time"):
            if k in b:
                bad.append(f"carries '{k}' without her referral consent")
    for b in bad:
        print(f"    -> {b}")
    return 1 if bad else 0


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "ports":
        print(" ".join(map(str, free_ports(int(args[0])))))
    elif cmd == "listening":
        return 0 if listening(int(args[0])) else 1
    elif cmd == "edit-toml":
        edit_toml(args[0], args[1:])
    elif cmd == "resolve":
        print(resolve(args[0], args[1]))
    elif cmd == "render-kannel":
        render_kannel(args[0], args[1], args[2:])
    elif cmd == "ucs2-url":
        print(ucs2_url(args[0]))
    elif cmd == "mts":
        for m in mts(args[0], args[1] if len(args) > 1 else None):
            print(json.dumps(m, ensure_ascii=False))
    elif cmd == "count":
        print(len(mts(args[0], args[1])))
    elif cmd == "check-mt":
        return check_mt(args[0], args[1], args[2], int(args[3]), args[4:])
    elif cmd == "expected":
        print(expected(args[0], args[1]))
    elif cmd == "duplicates":
        return duplicates(args[0], args[1] if len(args) > 1 else None)
    elif cmd == "test-roster":
        test_roster(args[0], args[1], args[2])
    elif cmd == "roster":
        for phone, m in roster(args[0]).items():
            print(f"{m['team']}\t{m['step']}\t{phone}\t{m['name']}")
    elif cmd == "alerts":
        for m in alerts(args[0], args[1], args[2] if len(args) > 2 else None):
            print(json.dumps(m, ensure_ascii=False))
    elif cmd == "ussd-help-now":
        return ussd_help_now(args[0], args[1], args[2], args[3])
    elif cmd == "hook-server":
        hook_server(int(args[0]), args[1], args[2])
    elif cmd == "hook-check":
        return hook_check(args[0], args[1], args[2])
    else:
        sys.exit(f"unknown command {cmd}\n{__doc__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
