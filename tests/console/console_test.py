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

Python 3 standard library only. Every process started here is stopped by its PID (chromedriver
and the browser it starts by their process group); every wait is bounded. The last line is
"N passed, M failed"; the exit status is 1 when anything failed.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

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

passed = 0
failed = 0


class Fatal(Exception):
    """A step the rest depends on failed."""


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL {what}{': ' + detail if detail else ''}", flush=True)
    return ok


def require(ok, what, detail=""):
    if not check(ok, what, detail):
        raise Fatal(what)


def wait_for(predicate, seconds, interval=0.2):
    """predicate()'s first truthy value within `seconds`, else None (exceptions count as not yet)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # noqa: BLE001 - e.g. no such element yet
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=15):
    """(status, body text); status 0 when nothing answered."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


# --- Processes ---------------------------------------------------------------------------------

class Started:
    """A process of ours: output in a file, stopped by its PID (and its own process group)."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.log_path = log_path
        self.log_file = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, grace=10):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)  # its group: the browser a driver started, too
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        else:
            # The leader is gone; anything left in its group goes too.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.log_file.close()
        return self.proc.returncode


def run(argv, env, timeout=60):
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


# --- USSD ------------------------------------------------------------------------------------------

def help_now_inputs(config_dir):
    """The inputs from the first screen to the end of an "I need help now" check-in in English, with
    a callback and NGO referral: read from the shipped flows, so a reordered menu still works."""
    messages = tomllib.loads((config_dir / "messages.toml").read_text())
    flows = {p.stem: tomllib.loads(p.read_text()) for p in (config_dir / "flows").glob("*.toml")}

    def option(flow, node, pred):
        options = flows[flow]["nodes"][node]["options"]
        for i, o in enumerate(options, 1):
            if pred(o):
                return str(i), o.get("next", "")
        raise Fatal(f"no such option in {flow}:{node}")

    language = str(messages["languages"]["order"].index("en") + 1)
    root_flow, root_node = messages["engine"]["entry"].split(":")
    to_checkin, nxt = option(root_flow, root_node, lambda o: o.get("next", "").startswith("checkin:"))
    flow, node = nxt.split(":")
    help_now, node = option(flow, node, lambda o: o.get("value") == "help_now")
    safe, node = option(flow, node, lambda o: o.get("value") == "yes")
    ngo, node = option(flow, node, lambda o: o.get("value") == "ngo")
    if flows[flow]["nodes"][node]["kind"] != "end":
        raise Fatal(f"{flow}:{node} is not the end of the report")
    return [language, to_checkin, help_now, safe, ngo]


def ussd_report(base, secret, inputs):
    """Dials and answers hop by hop; returns (reference, replies)."""
    url = f"{base}/ussd/africastalking?key={urllib.parse.quote(secret)}"
    replies = []
    texts = [""] + ["*".join(inputs[:i]) for i in range(1, len(inputs) + 1)]
    for text in texts:
        body = urllib.parse.urlencode({"sessionId": "console-test-1", "serviceCode": "*786#",
                                       "phoneNumber": PHONE, "networkCode": "41001", "text": text})
        status, reply = http("POST", url, body,
                             {"Content-Type": "application/x-www-form-urlencoded"})
        replies.append(f"{status} {reply}")
        if status != 200:
            raise Fatal(f"USSD hop '{text}' answered {status}: {reply}")
    m = re.search(r"Reference: ([A-Z0-9]{4,16})", replies[-1])
    return (m.group(1) if m else None), replies


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
        check(False, "the browser is installed",
              f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver "
              "(scripts/install-deps --test)")
        return 1
    if not os.access(rabta, os.X_OK):
        check(False, "the rabta binary exists", rabta)
        return 1

    work = Path(tempfile.mkdtemp(prefix="rabta-console-"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("RABTA_AT_SECRET", "RABTA_PSEUDONYM_KEY", "RABTA_FIELD_KEY")}
    started = []
    browser = None
    try:
        shutil.copytree(SOURCE / "config", work / "config")
        config = str(work / "config" / "rabta.toml")
        r = run([rabta, "init", "--config", config], env)
        require(r.returncode == 0, "rabta init", r.stdout + r.stderr)

        r = run([rabta, "responders", "token", MEMBER, "--config", config], env)
        token = r.stdout.strip()
        require(r.returncode == 0 and re.fullmatch(r"[1-9][0-9]*\.[0-9a-f]{64}", token) is not None,
                f"rabta responders token \"{MEMBER}\" prints a 32-byte hex token",
                f"exit {r.returncode}: {r.stderr.strip()}")

        serve = Started("rabta", [rabta, "serve", "--config", config, "--listen", "127.0.0.1:0"],
                        str(work / "rabta.log"), env)
        started.append(serve)
        found = wait_for(lambda: re.search(r"rabta listening on http://127\.0\.0\.1:(\d+)",
                                           serve.log()), 20)
        require(found is not None, "rabta serve starts", serve.log()[-2000:])
        base = f"http://127.0.0.1:{found.group(1)}"
        auth = {"Authorization": f"Bearer {token}"}

        secret = (work / "keys" / "africastalking.secret").read_text().strip()
        inputs = help_now_inputs(work / "config")
        reference, replies = ussd_report(base, secret, inputs)
        require(reference is not None and all(x.startswith("200 CON") for x in replies[:-1]),
                "an \"I need help now\" check-in over USSD gives a reference", " | ".join(replies))
        print(f"     case {reference} via inputs {'*'.join(inputs)}", flush=True)

        def routed():
            status, body = http("GET", f"{base}/api/v1/cases/{reference}", headers=auth)
            return status == 200 and json.loads(body)
        case = wait_for(routed, 30, 0.5)
        require(bool(case), f"the case reaches {MEMBER}'s team within 30 s (routed by the escalation "
                "service)", "it is not visible to her: not routed?")
        check(case.get("status") == "open", "the case is open", str(case.get("status")))
        check(isinstance(case.get("sla_remaining_ms"), int),
              "its acknowledgement countdown runs", str(case.get("sla_remaining_ms")))

        driver_port = free_port()
        driver = Started("chromedriver", [shutil.which("chromedriver"), f"--port={driver_port}",
                                          "--allowed-ips=127.0.0.1"],
                         str(work / "chromedriver.log"), env)
        started.append(driver)
        driver_url = f"http://127.0.0.1:{driver_port}"
        ready = wait_for(lambda: json.loads(http("GET", driver_url + "/status")[1])
                         ["value"]["ready"], 20)
        require(bool(ready), "chromedriver is ready", driver.log()[-2000:])
        browser = Browser(driver_url, str(work / "profile"))

        browser.go(f"{base}/console")
        check(browser.cmd("GET", "/url").endswith("/console/"), "/console redirects to /console/",
              browser.cmd("GET", "/url"))
        check(browser.cmd("GET", "/title") == "rabta", "the page title is neutral",
              browser.cmd("GET", "/title"))
        require(bool(wait_for(lambda: browser.displayed("#token"), 10)),
                "the sign-in form is shown")
        browser.type("#token", token)
        browser.click("#signin-button")
        require(bool(wait_for(lambda: browser.displayed("#queue"), 15)), "signing in shows the queue",
                browser.text("#signin-error") if browser.find_all("#signin-error") else "")
        check(MEMBER in browser.text("#who"), "the bar names who is signed in", browser.text("#who"))
        storage = browser.script("return [window.sessionStorage.getItem('rabta.token'), "
                                 "window.localStorage.length];")
        check(storage == [token, 0], "the token is in sessionStorage, nothing in localStorage",
              str(storage and [bool(storage[0]), storage[1]]))

        item = f'li[data-ref="{reference}"]'
        require(bool(wait_for(lambda: browser.find_all(item), 20)),
                f"case {reference} appears in the queue")
        check(browser.text(f"{item} .case-status") == "Open", "the queue shows it open",
              browser.text(f"{item} .case-status"))
        sla = browser.text(f"{item} .sla")
        check(sla.startswith("Acknowledge within"), "the queue shows its countdown", sla)

        browser.click(f"{item} a")
        require(bool(wait_for(lambda: browser.displayed("#detail")
                              and browser.text("#d-status") == "Open", 15)),
                "clicking it opens the case")
        check(browser.text("#d-ref") == reference, "the case view shows its reference")
        check(browser.displayed("#d-sla") and browser.text("#d-sla").startswith("Acknowledge within"),
              "the case view shows the countdown", browser.text("#d-sla"))
        answers = browser.text("#d-answers")
        check("Needs help now" in answers, "her answers are shown", answers)
        check(PHONE in browser.text("#d-phone"),
              "her number is shown: she agreed to a call", browser.text("#d-phone"))

        browser.click("#ack")
        done = wait_for(lambda: browser.text("#d-status") == "Acknowledged"
                        and not browser.displayed("#d-sla"), 15)
        check(bool(done), "acknowledging shows it acknowledged with the countdown gone",
              f"status '{browser.text('#d-status')}', message '{browser.text('#d-message')}'")
        check(not browser.cmd("GET", f"/element/{browser.find('#ack')}/enabled"),
              "acknowledge cannot be pressed twice")

        browser.click("#back")
        back = wait_for(lambda: browser.displayed("#queue")
                        and browser.text(f"{item} .case-status") == "Acknowledged"
                        and not browser.displayed(f"{item} .sla"), 15)
        check(bool(back), "the queue shows it acknowledged with no countdown")

        status, body = http("GET", f"{base}/api/v1/cases/{reference}", headers=auth)
        case = json.loads(body) if status == 200 else {}
        check(status == 200 and case.get("status") == "acknowledged" and case.get("next_alert_at") == 0,
              "the API shows it acknowledged with next_alert_at 0 (the ladder stopped)", body[:300])

        browser.quit()
        browser = None
        for p in reversed(started):
            p.stop()
        started.clear()

        r = run([rabta, "audit", "verify", "--config", config], env)
        check(r.returncode == 0 and r.stdout.startswith("audit chain ok: "),
              "rabta audit verify: the chain is intact", (r.stdout + r.stderr).strip())
        log = serve.log()
        check(token not in log and PHONE not in log and PHONE[3:] not in log,
              "the server log has neither the token nor her number")
    except Fatal:
        pass
    except (WebDriverError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        check(False, "the test ran to the end", f"{type(e).__name__}: {e}")
    finally:
        if browser is not None:
            browser.quit()
        for p in reversed(started):
            p.stop()
        if failed:
            for p in ("rabta.log", "chromedriver.log"):
                path = work / p
                if path.exists():
                    print(f"--- last lines of {p}:")
                    print("\n".join(path.read_text(errors="replace").splitlines()[-40:]))
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
