"""The helpers every end-to-end script shares (tests/e2e/*.py, tests/console/console_test.py),
written once: PASS/FAIL lines, a free loopback port, waiting for an event, loopback HTTP, the
shipped config copied into a temporary folder, `rabta serve` started and stopped by its PID, and
a USSD report dialled hop by hop as Africa's Talking sends it."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

FAILED = []

# The inputs of a whole incident report in the shipped flows (English; what happened: threats;
# when: today; ...; safe to call: no), each screen answered in turn. Ends on "Received. Reference".
INCIDENT_REPORT = ["3", "2", "1", "1", "2", "2", "5", "3"]

# Loopback only, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Fatal(Exception):
    """A step the rest depends on failed."""


def check(what, ok, detail=""):
    """Prints PASS or FAIL (with the detail, cut to 2,000 characters) and records a failure."""
    print(("PASS  " if ok else "FAIL  ") + what + ("" if ok else "\n      " + str(detail)[:2000]),
          flush=True)
    if not ok:
        FAILED.append(what)
    return ok


def require(what, ok, detail=""):
    """check(), and stop the script (Fatal) when it fails."""
    if not check(what, ok, detail):
        raise Fatal(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, seconds, interval=0.05):
    """predicate()'s first truthy value within `seconds`, else None (exceptions count as not yet):
    waiting for the server's own event, bounded, never a fixed sleep."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # noqa: BLE001 - e.g. not listening yet
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def http(method, url, body=None, headers=None, timeout=15):
    """(status, body text); status 0 when nothing answered."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def shipped_config(source, work, port=None):
    """config/ copied to work/config, its data (../var/) in work/var; `port` replaces 8080.
    Returns the path of the copy's rabta.toml."""
    shutil.copytree(Path(source) / "config", Path(work) / "config")
    cfg = Path(work) / "config" / "rabta.toml"
    text = cfg.read_text().replace('"../var/', f'"{work}/var/')
    if port is not None:
        text = text.replace("port = 8080", f"port = {port}")
    cfg.write_text(text)
    return cfg


def rabta(binary, *args, env=None, timeout=120):
    """One `rabta` command, its output captured as text."""
    return subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)


class Started:
    """A process of ours: output in a file, stopped by its PID (and its own process group)."""

    def __init__(self, argv, log_path, env=None, **popen):
        self.log_path = Path(log_path)
        self.log_file = open(log_path, "ab")
        self.log_start = self.log_file.tell()  # a log appended to holds earlier runs before this
        self.proc = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                     **popen)

    def log(self):
        """What this process has written so far."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_start)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, grace=20):
        """Signals its group, waits `grace` seconds, then kills; returns the exit code."""
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


def serve(binary, cfg, log_path, listen="127.0.0.1:0", env=None, seconds=20):
    """`rabta serve` on `cfg` (listening on `listen`; None: the config's port), started and waited
    for until it says where it listens. Returns (Started, base URL), or (Started, None) when it
    stopped or said nothing in time (its log says why)."""
    argv = [binary, "serve", "--config", str(cfg)] + (["--listen", listen] if listen else [])
    process = Started(argv, log_path, env)
    found = wait_for(lambda: re.search(r"listening on (http://127\.0\.0\.1:\d+)", process.log())
                     or not process.running(), seconds)
    if not found or found is True:
        return process, None
    return process, found.group(1)


def help_now_inputs(config_dir, consent="ngo"):
    """The inputs from the first screen to the end of an "I need help now" check-in in English, safe
    to call, and `consent` to the referral question ("ngo", "neither", ...): read from the shipped
    flows, so a reordered menu still works."""
    config_dir = Path(config_dir)
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
    agreed, node = option(flow, node, lambda o: o.get("value") == consent)
    if flows[flow]["nodes"][node]["kind"] != "end":
        raise Fatal(f"{flow}:{node} is not the end of the report")
    return [language, to_checkin, help_now, safe, agreed]


def ussd_report(base, secret, inputs, session, phone, timeout=15):
    """Dials rabta's Africa's Talking endpoint and answers hop by hop: see ussd_hops."""
    url = f"{base}/ussd/africastalking?key={urllib.parse.quote(secret)}"
    return ussd_hops(url, inputs, session, phone, timeout)


def ussd_hops(url, inputs, session, phone, timeout=15):
    """Dials and answers hop by hop as Africa's Talking sends them (the whole path in `text`).
    Returns (reference or None, ["<status> <reply>", ...]); stops at the first hop not answered 200.
    The reference is read from a last screen that ends the session (END ... Reference: X)."""
    replies = []
    for i in range(len(inputs) + 1):
        body = urllib.parse.urlencode({"sessionId": session, "serviceCode": "*786#",
                                       "phoneNumber": phone, "networkCode": "41001",
                                       "text": "*".join(inputs[:i])})
        status, reply = http("POST", url, body,
                             {"Content-Type": "application/x-www-form-urlencoded"}, timeout)
        replies.append(f"{status} {reply}")
        if status != 200:
            return None, replies
    m = re.search(r"^200 END (?:.|\n)*Reference: ([A-Z0-9]{4,16})", replies[-1])
    return (m.group(1) if m else None), replies


class PgServer:
    """A PostgreSQL server of the test's own (#14), as tests/support/pg_cluster.hpp starts one for
    the C++ tests: initdb into a temporary folder from Debian's binaries, listening only on a unix
    socket there, as user postgres when we are root; stopped by its PID."""

    def __init__(self, folder, settings=()):
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
        if not bins:
            raise Fatal("PostgreSQL is not installed (scripts/install-deps --test)")
        self.bin = bins[-1].parent
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data = self.dir / "data"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run([self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", "rabta", "-E",
                   "UTF8", "--locale=C", "--no-sync"])
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = ''\nunix_socket_directories = '{self.dir}'\n"
                       "port = 5432\nmax_connections = 100\nshared_buffers = 32MB\n"
                       "log_min_messages = warning\n"
                       # The test's server dies with its folder: its own power-loss safety is not
                       # under test (a SIGKILL loses nothing the OS has; the drills kill processes).
                       "fsync = off\nfull_page_writes = off\n")
            for line in settings:
                conf.write(line + "\n")
        self.pid = None
        self.start()

    def _run(self, argv):
        argv = [str(a) for a in argv]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise Fatal(f"{argv[-1]}: {r.stdout}{r.stderr}")

    def start(self):
        self._run([self.bin / "pg_ctl", "-D", self.data, "-l", self.dir / "server.log", "-w",
                   "-t", "60", "start"])
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def url(self, db="postgres"):
        return f"postgresql:///{db}?host={self.dir}&port=5432&user=rabta"

    def sql(self, statement, db="postgres"):
        """psql's output for one statement: rows, one per line, fields by '|'."""
        r = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-d", self.url(db), "-c", statement],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise Fatal(f"psql: {r.stderr}")
        return r.stdout.strip()

    def stop(self, crash=False):
        """SIGINT (fast shutdown) or, with crash, SIGKILL; waits until the server is gone."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL if crash else signal.SIGINT)
        except ProcessLookupError:
            pass
        wait_for(lambda: not Path(f"/proc/{self.pid}").exists(), 60)
        self.pid = None
