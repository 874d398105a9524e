"""Shared by the end-to-end scripts in tests/e2e: PASS/FAIL lines and a free loopback port."""
import socket

FAILED = []


def check(what, ok, detail=""):
    """Prints PASS or FAIL (with the detail, cut to 2,000 characters) and records a failure."""
    print(("PASS  " if ok else "FAIL  ") + what + ("" if ok else "\n      " + str(detail)[:2000]))
    if not ok:
        FAILED.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
