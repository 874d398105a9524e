#!/usr/bin/env python3
"""Writes each fuzz target's seed corpus from the test fixtures: fuzz/seeds.py OUT_DIR.

fuzz_form / fuzz_at_ussd: the form bodies and queries of every SMS fixture and the AT USSD
hops of the scenarios; fuzz_sms_<kind>: each fixture's inbound requests and send responses in
the sms_fuzzer.cpp layout; fuzz_flow_file: the shipped flows and node fixtures (and the
settings, behind a leading '#'); fuzz_engine: each scenario's inputs in its language."""
import json
import re
import sys
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(sys.argv[1])


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / re.sub(r"[^A-Za-z0-9_.-]", "_", name)).write_bytes(data if isinstance(data, bytes) else data.encode())


scenarios = sorted((ROOT / "tests/fixtures/scenarios").glob("*.scenario"))
langs = {"": 0, "ur": 1, "roman": 2, "en": 3}
for sc in scenarios:
    lang, inputs = "", []
    for line in sc.read_text(encoding="utf-8").splitlines():
        if line.startswith("@language "):
            lang = line.split(None, 1)[1].strip()
        elif line.startswith("> ") and line != "> (dial)":
            inputs.append(line[2:])
    put("fuzz_engine", sc.name, bytes([langs.get(lang, 0)]) + "\n".join(inputs).encode())
    path = "*".join(inputs)
    put("fuzz_at_ussd", sc.name, urllib.parse.urlencode({
        "sessionId": "ATUid_seed", "serviceCode": "*786#", "phoneNumber": "+923001234567",
        "networkCode": "41001", "text": path}))

for fx in sorted((ROOT / "tests/fixtures/sms").glob("*.json")):
    f = json.loads(fx.read_text(encoding="utf-8"))
    kind = f["kind"]
    for i, case in enumerate(f.get("inbound", [])):
        req = case.get("request", {})
        url = urllib.parse.urlsplit(req.get("public_url", ""))
        headers = {k.lower(): v for k, v in req.get("headers", {}).items()}
        body = req.get("body", "")
        method = b"\x01" if req.get("method", "POST") == "GET" else b"\x00"
        fields = [method, url.path.encode(), url.query.encode(), body.encode(),
                  headers.get("content-type", "").encode(), headers.get("x-twilio-signature", "").encode(),
                  b"201"]
        put(f"fuzz_sms_{kind}", f"in{i}", b"\0".join(fields))
        put("fuzz_form", f"{kind}-in{i}", body or url.query)
    for i, case in enumerate(f.get("send", [])):
        resp = case.get("response", case)
        status = str(resp.get("status", 200)).encode()
        body = resp.get("body", "")
        body = body if isinstance(body, str) else json.dumps(body)
        put(f"fuzz_sms_{kind}", f"send{i}", b"\0".join([b"\0", b"", b"", body.encode(), b"", b"", status]))

flow_files = list((ROOT / "config/flows").glob("*.toml")) + list((ROOT / "tests/fixtures/nodes").glob("*.toml"))
for p in flow_files:
    text = p.read_bytes()
    if p.name.endswith("settings.toml") or p.name == "messages.toml":
        text = b"#\n" + text
    put("fuzz_flow_file", f"{p.parent.name}-{p.name}", text)
put("fuzz_flow_file", "messages.toml", b"#\n" + (ROOT / "config/messages.toml").read_bytes())


# fuzz_generic: every USSD preset fixture's requests, and the SMS preset's, in generic_fuzzer.cpp's
# layout (a byte that picks the preset and the method, then path suffix, query, body, content
# type, a header, a screen), each with a screen to write and read back.
presets = ["africastalking", "hubtel", "hollatags", "bdapps"]
for i, name in enumerate(presets + ["http"]):
    folder = "sms" if name == "http" else "ussd"
    fixture = json.loads((ROOT / "tests/fixtures" / folder / f"{name}.json").read_text(encoding="utf-8"))
    base = "/sms/vonage" if name == "http" else fixture["settings"]["path"]
    for n, case in enumerate(fixture["inbound"]):
        req = case["request"]
        url = urllib.parse.urlsplit(req["public_url"])
        suffix = url.path[len(base):] if url.path.startswith(base) else ""
        pick = (4 if name == "http" else i) | (0x10 if req["method"] == "GET" else 0) | (0x20 if n % 2 else 0)
        ctype = {k.lower(): v for k, v in req.get("headers", {}).items()}.get("content-type", "")
        fields = [suffix, url.query, req.get("body", ""), ctype, "", "1. Check-in\n2. \"Report\" شکریہ"]
        put("fuzz_generic", f"{name}-{n}", bytes([pick]) + "\0".join(fields).encode())
