#!/usr/bin/env python3
"""The caseworker console in a real browser, against the real rabta binary (SAFETY C1, C3).

  console_test.py RABTA_BINARY

A copy of config/ in a fresh folder, set up by `rabta init`; an API token from
`rabta responders token`; `rabta serve` on a free loopback port; an "I need help now" check-in
over USSD, hop by hop as Africa's Talking sends it (the path is read from config/flows); then
Debian's chromium, headless, driven through chromedriver's W3C WebDriver JSON protocol: open
/console/, sign in with the token, wait for the case in the queue, open it, acknowledge it, and
see it acknowledged with its countdown gone; finally the API must show next_alert_at 0 and
`rabta audit verify` must pass.

Python 3 standard library only, with the end-to-end helpers of tests/support/e2e.py. Every
process started here is stopped by its PID (chromedriver and the browser it starts by their
process group); every wait is bounded. The last line is "ok" or "FAILED: N failed"; the exit
status is 1 when anything failed.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
import e2e  # noqa: E402
from e2e import FAILED, Fatal, check, free_port, http, require, wait_for  # noqa: E402

SOURCE = Path(__file__).resolve().parents[2]
MEMBER = "Hina Caseworker"  # config/responders.toml: team "national", which takes the case
PHONE = "+923001234567"
CHROME_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=412,915",  # a small Android phone
]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

# Loopback only, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# --- WebDriver ---------------------------------------------------------------------------------

class WebDriverError(Exception):
    pass


class Browser:
    def __init__(self, driver_url, profile_dir):
        self.url = driver_url
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": 30000, "script": 10000, "implicit": 0},
            "goog:chromeOptions": {"binary": shutil.which("chromium"),
                                   "args": CHROME_FLAGS + [f"--user-data-dir={profile_dir}"]},
        }}}
        self.session = self._call("POST", "/session", caps, timeout=90)["sessionId"]

    def _call(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with OPENER.open(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            try:
                value = json.loads(e.read()).get("value", {})
            except ValueError:
                value = {}
            raise WebDriverError(f"{value.get('error', e.code)}: {value.get('message', '')[:300]}")

    def cmd(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.cmd("POST", "/url", {"url": url})

    def find(self, css):
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def find_all(self, css):
        return [e[ELEMENT] for e in
                self.cmd("POST", "/elements", {"using": "css selector", "value": css})]

    def text(self, css):
        return self.cmd("GET", f"/element/{self.find(css)}/text")

    def displayed(self, css):
        return self.cmd("GET", f"/element/{self.find(css)}/displayed")

    def click(self, css):
        self.cmd("POST", f"/element/{self.find(css)}/click", {})

    def type(self, css, text):
        self.cmd("POST", f"/element/{self.find(css)}/value", {"text": text})

    def script(self, source, *args):
        return self.cmd("POST", "/execute/sync", {"script": source, "args": list(args)})

    def quit(self):
        try:
            self._call("DELETE", f"/session/{self.session}", timeout=20)
        except Exception:  # noqa: BLE001 - the driver is stopped by PID next anyway
            pass


# --- The test ------------------------------------------------------------------------------------

def main():
    if len(sys.argv) != 2:
        print("usage: console_test.py RABTA_BINARY", file=sys.stderr)
        return 2
    rabta = os.path.abspath(sys.argv[1])
    missing = [p for p in ("chromium", "chromedriver") if shutil.which(p) is None]
    if missing:
        check("the browser is installed", False,
              f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver "
              "(scripts/install-deps --test)")
        return 1
    if not os.access(rabta, os.X_OK):
        check("the rabta binary exists", False, rabta)
        return 1

    work = Path(tempfile.mkdtemp(prefix="rabta-console-"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("RABTA_AT_SECRET", "RABTA_PSEUDONYM_KEY", "RABTA_FIELD_KEY")}
    started = []
    browser = None
    try:
        shutil.copytree(SOURCE / "config", work / "config")
        config = str(work / "config" / "rabta.toml")
        r = e2e.rabta(rabta, "init", "--config", config, env=env)
        require("rabta init", r.returncode == 0, r.stdout + r.stderr)

        r = e2e.rabta(rabta, "responders", "token", MEMBER, "--config", config, env=env)
        token = r.stdout.strip()
        require(f"rabta responders token \"{MEMBER}\" prints a 32-byte hex token",
                r.returncode == 0 and re.fullmatch(r"[1-9][0-9]*\.[0-9a-f]{64}", token) is not None,
                f"exit {r.returncode}: {r.stderr.strip()}")

        serve, base = e2e.serve(rabta, config, work / "rabta.log", env=env)
        started.append(serve)
        require("rabta serve starts", base is not None, serve.log()[-2000:])
        auth = {"Authorization": f"Bearer {token}"}

        secret = (work / "keys" / "africastalking.secret").read_text().strip()
        inputs = e2e.help_now_inputs(work / "config")
        reference, replies = e2e.ussd_report(base, secret, inputs, "console-test-1", PHONE)
        require("an \"I need help now\" check-in over USSD gives a reference",
                reference is not None and all(x.startswith("200 CON") for x in replies[:-1]), " | ".join(replies))
        print(f"     case {reference} via inputs {'*'.join(inputs)}", flush=True)

        def routed():
            status, body = http("GET", f"{base}/api/v1/cases/{reference}", headers=auth)
            return status == 200 and json.loads(body)
        case = wait_for(routed, 30, 0.5)
        require(f"the case reaches {MEMBER}'s team within 30 s (routed by the escalation "
                "service)", bool(case), "it is not visible to her: not routed?")
        check("the case is open", case.get("status") == "open", str(case.get("status")))
        check("its acknowledgement countdown runs",
              isinstance(case.get("sla_remaining_ms"), int), str(case.get("sla_remaining_ms")))

        driver_port = free_port()
        driver = e2e.Started([shutil.which("chromedriver"), f"--port={driver_port}",
                              "--allowed-ips=127.0.0.1"], work / "chromedriver.log", env)
        started.append(driver)
        driver_url = f"http://127.0.0.1:{driver_port}"
        ready = wait_for(lambda: json.loads(http("GET", driver_url + "/status")[1])
                         ["value"]["ready"], 20)
        require("chromedriver is ready", bool(ready), driver.log()[-2000:])
        browser = Browser(driver_url, str(work / "profile"))

        browser.go(f"{base}/console")
        check("/console redirects to /console/", browser.cmd("GET", "/url").endswith("/console/"),
              browser.cmd("GET", "/url"))
        check("the page title is neutral", browser.cmd("GET", "/title") == "rabta",
              browser.cmd("GET", "/title"))
        require("the sign-in form is shown",
                bool(wait_for(lambda: browser.displayed("#token"), 10)))
        browser.type("#token", token)
        browser.click("#signin-button")
        require("signing in shows the queue", bool(wait_for(lambda: browser.displayed("#queue"), 15)),
                browser.text("#signin-error") if browser.find_all("#signin-error") else "")
        check("the bar names who is signed in", MEMBER in browser.text("#who"), browser.text("#who"))
        storage = browser.script("return [window.sessionStorage.getItem('rabta.token'), "
                                 "window.localStorage.length];")
        check("the token is in sessionStorage, nothing in localStorage", storage == [token, 0],
              str(storage and [bool(storage[0]), storage[1]]))

        item = f'li[data-ref="{reference}"]'
        require(f"case {reference} appears in the queue",
                bool(wait_for(lambda: browser.find_all(item), 20)))
        check("the queue shows it open", browser.text(f"{item} .case-status") == "Open",
              browser.text(f"{item} .case-status"))
        sla = browser.text(f"{item} .sla")
        check("the queue shows its countdown", sla.startswith("Acknowledge within"), sla)

        browser.click(f"{item} a")
        require("clicking it opens the case",
                bool(wait_for(lambda: browser.displayed("#detail")
                              and browser.text("#d-status") == "Open", 15)))
        check("the case view shows its reference", browser.text("#d-ref") == reference)
        check("the case view shows the countdown",
              browser.displayed("#d-sla") and browser.text("#d-sla").startswith("Acknowledge within"), browser.text("#d-sla"))
        answers = browser.text("#d-answers")
        check("her answers are shown", "Needs help now" in answers, answers)
        check("her number is shown: she agreed to a call",
              PHONE in browser.text("#d-phone"), browser.text("#d-phone"))

        browser.click("#ack")
        done = wait_for(lambda: browser.text("#d-status") == "Acknowledged"
                        and not browser.displayed("#d-sla"), 15)
        check("acknowledging shows it acknowledged with the countdown gone", bool(done),
              f"status '{browser.text('#d-status')}', message '{browser.text('#d-message')}'")
        check("acknowledge cannot be pressed twice",
              not browser.cmd("GET", f"/element/{browser.find('#ack')}/enabled"))

        browser.click("#back")
        back = wait_for(lambda: browser.displayed("#queue")
                        and browser.text(f"{item} .case-status") == "Acknowledged"
                        and not browser.displayed(f"{item} .sla"), 15)
        check("the queue shows it acknowledged with no countdown", bool(back))

        status, body = http("GET", f"{base}/api/v1/cases/{reference}", headers=auth)
        case = json.loads(body) if status == 200 else {}
        check("the API shows it acknowledged with next_alert_at 0 (the ladder stopped)",
              status == 200 and case.get("status") == "acknowledged" and case.get("next_alert_at") == 0, body[:300])

        browser.quit()
        browser = None
        for p in reversed(started):
            p.stop()
        started.clear()

        r = e2e.rabta(rabta, "audit", "verify", "--config", config, env=env)
        check("rabta audit verify: the chain is intact",
              r.returncode == 0 and r.stdout.startswith("audit chain ok: "), (r.stdout + r.stderr).strip())
        log = serve.log()
        check("the server log has neither the token nor her number",
              token not in log and PHONE not in log and PHONE[3:] not in log)
    except Fatal:
        pass
    except (WebDriverError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        check("the test ran to the end", False, f"{type(e).__name__}: {e}")
    finally:
        if browser is not None:
            browser.quit()
        for p in reversed(started):
            p.stop()
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
