"""A case worked from start to close in the console, by three people, in a real browser (#15).

  workflow_test.py RABTA_BINARY SCREENSHOT_DIR

A copy of config/ with the "legal_aid" referral partner switched on and pointed at a receiver of
this test on loopback; `rabta init`; tokens for Hina (caseworker, team national, which takes the
case), Amna (caseworker, team punjab_ngo) and Nadia (supervisor of national); `rabta serve`; an
"I need help now" check-in over USSD in which she agrees to an NGO referral. Then Debian's headless
chromium through chromedriver:

  Amna   does not see the case in her queue, and opening it says it is not available to her;
  Hina   acknowledges it, writes a note, refers it to legal aid (the partner receives a signed
         "referred" event with her district, as she agreed), and asks to close it as "unsafe to
         contact", an outcome that waits for a supervisor;
  Nadia  sees the closing waiting, approves it, reads the timeline, opens the reports, and reads
         the console in Urdu (right to left).

Every view is photographed in English and Urdu at 360 and 1280 pixels wide into SCREENSHOT_DIR,
and each photograph is checked for layout breakage: no element outside the viewport, no page
wider than the screen, no text running out of its box (tables scroll in their own frame by
design). The last line is "ok" or "FAILED: N failed"; the exit status is 1 when anything failed.
"""
import base64
import hashlib
import hmac
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import e2e  # noqa: E402
from console_test import Browser, WebDriverError  # noqa: E402
from e2e import FAILED, Fatal, check, free_port, http, require, wait_for  # noqa: E402

SOURCE = Path(__file__).resolve().parents[2]
PHONE = "+923001234568"
HINA, AMNA, NADIA = "Hina Caseworker", "Amna Caseworker", "Nadia Supervisor"

# Elements outside the viewport, a page wider than the screen, text wider than its box.
LAYOUT_PROBLEMS = r"""
const W = document.documentElement.clientWidth;
const out = [];
const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
  (e.className && typeof e.className === 'string' ? '.' + e.className.trim().replace(/\s+/g, '.') : '');
if (document.documentElement.scrollWidth > W + 1)
  out.push('the page is ' + document.documentElement.scrollWidth + ' px wide on a ' + W + ' px screen');
for (const e of document.querySelectorAll('body *')) {
  if (e.closest('.table-wrap') || e.closest('[hidden]') || e.closest('svg')) continue;
  const style = getComputedStyle(e);
  if (style.display === 'none' || style.visibility === 'hidden') continue;
  const r = e.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) continue;
  if (r.left < -1 || r.right > W + 1) out.push(name(e) + ' reaches ' + Math.round(r.left) + '..' + Math.round(r.right));
  if (e.children.length === 0 && e.textContent.trim() && style.overflowX === 'visible' &&
      e.scrollWidth > e.clientWidth + 1 && style.display !== 'inline')
    out.push(name(e) + ' text overflows (' + e.scrollWidth + ' > ' + e.clientWidth + ')');
}
return out.slice(0, 12);
"""


class Receiver:
    """The referral partner: records every signed event it receives (200 to each)."""

    def __init__(self, secret):
        self.secret = secret
        self.events = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sig = self.headers.get("X-Rabta-Signature", "")
                m = re.match(r"t=(\d+),v1=([0-9a-f]{64})$", sig)
                ok = bool(m) and hmac.compare_digest(
                    hmac.new(receiver.secret.encode(), m.group(1).encode() + b"." + body,
                             hashlib.sha256).hexdigest(), m.group(2))
                receiver.events.append({"signed": ok, "body": json.loads(body or b"{}"),
                                        "key": self.headers.get("Idempotency-Key", "")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def main():
    if len(sys.argv) != 3:
        print("usage: workflow_test.py RABTA_BINARY SCREENSHOT_DIR", file=sys.stderr)
        return 2
    rabta = os.path.abspath(sys.argv[1])
    shots = Path(sys.argv[2])
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        check("the browser is installed", False, "install chromium and chromium-driver "
              "(scripts/install-deps --test)")
        return 1
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="rabta-workflow-"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("RABTA_AT_SECRET", "RABTA_PSEUDONYM_KEY", "RABTA_FIELD_KEY")
           and not k.startswith("RABTA_PARTNER_")}
    started, browser, receiver = [], None, None
    try:
        shutil.copytree(SOURCE / "config", work / "config")
        config = str(work / "config" / "rabta.toml")
        r = e2e.rabta(rabta, "init", "--config", config, env=env)
        require("rabta init", r.returncode == 0, r.stdout + r.stderr)
        secret = (work / "keys" / "partner-legal_aid.secret").read_text().strip()
        receiver = Receiver(secret)
        responders = work / "config" / "responders.toml"
        text = responders.read_text()
        shipped = 'enabled = false\nurl = "https://legal-aid.example.org/rabta"'
        require("the shipped legal_aid partner is there to switch on", shipped in text)
        responders.write_text(text.replace(
            shipped, f'enabled = true\nurl = "http://127.0.0.1:{receiver.port}/legal"'))

        tokens = {}
        for who in (HINA, AMNA, NADIA):
            r = e2e.rabta(rabta, "responders", "token", who, "--config", config, env=env)
            require(f"a token for {who}", r.returncode == 0, r.stderr)
            tokens[who] = r.stdout.strip()

        serve, base = e2e.serve(rabta, config, work / "rabta.log", env=env)
        started.append(serve)
        require("rabta serve starts", base is not None, serve.log()[-2000:])
        at_secret = (work / "keys" / "africastalking.secret").read_text().strip()
        inputs = e2e.help_now_inputs(work / "config", consent="ngo")
        reference, replies = e2e.ussd_report(base, at_secret, inputs, "workflow-1", PHONE)
        require("her report over USSD gives a reference", reference is not None, " | ".join(replies))

        def api(who, path):
            status, body = http("GET", f"{base}/api/v1/{path}",
                                headers={"Authorization": f"Bearer {tokens[who]}"})
            return status, (json.loads(body) if body.strip().startswith("{") else body)

        require("the case reaches the national team",
                bool(wait_for(lambda: api(HINA, f"cases/{reference}")[0] == 200, 30, 0.5)))

        driver_port = free_port()
        driver = e2e.Started([shutil.which("chromedriver"), f"--port={driver_port}",
                              "--allowed-ips=127.0.0.1"], work / "chromedriver.log", env)
        started.append(driver)
        driver_url = f"http://127.0.0.1:{driver_port}"
        require("chromedriver is ready", bool(wait_for(
            lambda: json.loads(http("GET", driver_url + "/status")[1])["value"]["ready"], 20)))
        browser = Browser(driver_url, str(work / "profile"))
        b = browser

        def size(width):
            b.cmd("POST", "/window/rect", {"width": width, "height": 900})

        def sign_in(who):
            b.script("window.sessionStorage.clear();")
            b.go(f"{base}/console/")
            require(f"{who}: the sign-in form", bool(wait_for(lambda: b.displayed("#token"), 10)))
            b.type("#token", tokens[who])
            b.click("#signin-button")
            require(f"{who} signs in", bool(wait_for(lambda: b.displayed("#queue"), 15)))
            b.script("window.confirm = function () { return true; };")

        def language(lang):
            current = b.script("return document.documentElement.lang;")
            if current != lang:
                b.click("#lang")
                require(f"the console switches to {lang}", bool(wait_for(
                    lambda: b.script("return document.documentElement.lang;") == lang, 5)))
            b.script("window.confirm = function () { return true; };")

        def click(css):
            """Clicks, again if the list was redrawn under the pointer (it refreshes by itself)."""
            for attempt in range(3):
                try:
                    return b.click(css)
                except WebDriverError as e:
                    if "stale" not in str(e) or attempt == 2:
                        raise

        def shoot(name, ready_css):
            for lang in ("en", "ur"):
                language(lang)
                for width in (360, 1280):
                    size(width)
                    wait_for(lambda: b.displayed(ready_css), 10)
                    wait_for(lambda: False, 0.4)  # let the layout settle after the resize
                    path = shots / f"{name}-{lang}-{width}.png"
                    path.write_bytes(base64.b64decode(b.cmd("GET", "/screenshot")))
                    problems = b.script(LAYOUT_PROBLEMS)
                    check(f"{name} in {lang} at {width} px: nothing outside the screen or "
                          "overflowing", not problems, "; ".join(problems))
                    if lang == "ur":
                        check(f"{name} in Urdu reads right to left",
                              b.script("return document.documentElement.dir;") == "rtl")
            language("en")
            size(1280)

        # Amna, of another team: the case is not hers to see.
        size(360)
        sign_in(AMNA)
        wait_for(lambda: "updated" in b.text("#queue-status"), 15)
        check("Amna: the case is not in her queue", not b.find_all(f'li[data-ref="{reference}"]'))
        shoot("queue", "#queue")
        b.go(f"{base}/console/#case/{reference}")
        check("Amna: opening it says it is not available to her",
              bool(wait_for(lambda: "not available" in b.text("#d-message"), 10)),
              b.text("#d-message"))
        b.click("#signout")

        # Hina works the case.
        sign_in(HINA)
        item = f'li[data-ref="{reference}"]'
        require("Hina: the case is in her queue", bool(wait_for(lambda: b.find_all(item), 20)))
        click(f"{item} a")
        require("Hina opens it", bool(wait_for(lambda: b.text("#d-status") == "Open", 15)))
        check("Hina: safe to call, in large type beside her number",
              "Safe to call" in b.text("#d-safe") and PHONE in b.text("#d-phone"),
              b.text("#d-safe") + " | " + b.text("#d-phone"))
        b.click("#ack")
        check("Hina acknowledges it", bool(wait_for(lambda: b.text("#d-status") == "Acknowledged", 15)))
        b.type("#note", "Called at 5; her sister answered, will try the morning.")
        b.click("#note-button")
        check("Hina's note is saved", bool(wait_for(lambda: "her sister answered" in b.text("#d-notes"), 15)))
        check("legal aid is offered: she agreed to an NGO referral",
              bool(wait_for(lambda: b.displayed("#refer-form"), 10)))
        b.click("#refer-button")
        check("Hina refers it", bool(wait_for(lambda: "Referred to" in b.text("#d-message"), 15)),
              b.text("#d-message"))
        b.script("document.getElementById('outcome').value = 'unsafe_to_contact';")
        b.type("#close-reason", "Her brother picks up; she asked us to stop calling.")
        b.click("#close-button")
        check("closing as unsafe to contact waits for a supervisor",
              bool(wait_for(lambda: "approval" in b.text("#d-message"), 15)), b.text("#d-message"))
        shoot("case", "#detail")
        b.go(f"{base}/console/#reports")
        require("Hina's reports open", bool(wait_for(lambda: b.displayed("#reports") and
                                                       "Loading" not in b.text("#r-status"), 15)))
        check("Hina's reports are her team's only",
              "National" in b.text("#r-teams") and "Punjab" not in b.text("#r-teams")
              and "Kp" not in b.text("#r-teams"), b.text("#r-teams")[:300])
        b.click("#signout")

        # Nadia approves it.
        sign_in(NADIA)
        b.go(f"{base}/console/#case/{reference}")
        require("Nadia sees the closing waiting",
                bool(wait_for(lambda: b.displayed("#approval") and b.displayed("#approve"), 15)))
        shoot("approval", "#approval")
        b.click("#approve")
        check("Nadia approves: the case is closed",
              bool(wait_for(lambda: b.text("#d-status") == "Closed", 15)), b.text("#d-status"))
        timeline = b.text("#d-timeline")
        for step in ("Reported", "Sent to team", "Acknowledged", "Note", "Referred", "Closing asked for",
                     "Closing approved", "Sent to Legal aid clinic"):
            check(f"the timeline has '{step}'", bool(wait_for(lambda: step in b.text("#d-timeline"), 10)),
                  timeline[-600:])
        check("Nadia may reopen it", b.displayed("#reopen-form"))
        shoot("closed-case", "#detail")
        b.go(f"{base}/console/#reports")
        require("the reports open", bool(wait_for(lambda: b.displayed("#reports") and
                                                   "Loading" not in b.text("#r-status"), 15)))
        check("the reports show a week of the national team with suppressed small cells",
              "National" in b.text("#r-teams") and "<5" in b.text("#r-teams"), b.text("#r-teams")[:300])
        shoot("reports", "#reports")
        b.go(f"{base}/console/")
        language("ur")
        check("the console reads in Urdu", bool(wait_for(lambda: "کیس" in b.text("#queue h1"), 10)),
              b.text("#queue h1"))
        status, me = api(NADIA, "me")
        check("her choice of Urdu is kept for her", status == 200 and me.get("language") == "ur",
              str(me)[:200])
        language("en")

        # The partner, and the case as the API tells it.
        got = wait_for(lambda: [e for e in receiver.events if e["body"].get("event") == "closed"], 20)
        events = [e["body"].get("event") for e in receiver.events]
        check("legal aid received the referral and the closing, signed",
              bool(got) and "referred" in events and all(e["signed"] for e in receiver.events),
              str(events))
        referred = [e["body"] for e in receiver.events if e["body"].get("event") == "referred"]
        check("the referral carries what she agreed to: her district, not her words",
              bool(referred) and "district" in referred[0] and "phone" in referred[0]
              and "note" not in json.dumps(referred[0]), json.dumps(referred[:1])[:300])
        status, case = api(NADIA, f"cases/{reference}")
        check("the API: closed as unsafe to contact", status == 200 and case.get("status") == "closed"
              and case.get("outcome") == "unsafe_to_contact", str(case)[:200])
        browser.quit()
        browser = None
        for p in reversed(started):
            p.stop()
        started.clear()
        r = e2e.rabta(rabta, "audit", "verify", "--config", config, env=env)
        check("rabta audit verify: the chain is intact", r.returncode == 0, r.stdout + r.stderr)
        log = serve.log()
        check("the server log has neither a token nor her number nor the note",
              all(t not in log for t in tokens.values()) and PHONE[3:] not in log
              and "sister" not in log)
        check("screenshots written", len(list(shots.glob("*.png"))) == 5 * 2 * 2,
              str(sorted(p.name for p in shots.glob("*.png"))))
    except Fatal:
        pass
    except (WebDriverError, OSError, ValueError, KeyError) as e:
        check("the test ran to the end", False, f"{type(e).__name__}: {e}")
    finally:
        if browser is not None:
            browser.quit()
        for p in reversed(started):
            p.stop()
        if receiver is not None:
            receiver.stop()
        if FAILED:
            for p in ("rabta.log", "chromedriver.log"):
                path = work / p
                if path.exists():
                    print(f"--- last lines of {p}:")
                    print("\n".join(path.read_text(errors="replace").splitlines()[-40:]))
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'FAILED' if FAILED else 'ok'}: {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
