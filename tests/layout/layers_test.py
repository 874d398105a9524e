#!/usr/bin/env python3
"""The layering rule of docs/ARCHITECTURE.md, checked on every source file: a folder includes
only folders below it. Order, top to bottom: gateway/{cli, ops, checkins, inbound, responders,
outbound, settings, http}, then adapters/, then flows/ (pure: includes nothing of rabta's but
flows/). Only adapters/store/sqlite/ includes SQLite, only adapters/store/postgres/ libpq (the
shared SQL of adapters/store/sql/ includes neither, nor either backend's folder). Prints every include that breaks the rule, with file:line, and fails if there is one."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
ORDER = ["gateway/cli", "gateway/ops", "gateway/checkins", "gateway/inbound", "gateway/responders",
         "gateway/outbound", "gateway/settings", "gateway/http", "adapters", "flows"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SQLITE = re.compile(r'^\s*#\s*include\s+<(SQLiteCpp/|sqlite3\.h)')
LIBPQ = re.compile(r'^\s*#\s*include\s+<(libpq-fe\.h|libpq/|postgresql/)')


def layer(path: str):
    for i, prefix in enumerate(ORDER):
        if path.startswith(prefix + "/"):
            return i
    return None


broken = []
files = 0
for top in ("gateway", "adapters", "flows"):
    for f in sorted((root / top).rglob("*")):
        if f.suffix not in (".cpp", ".hpp"):
            continue
        rel = f.relative_to(root).as_posix()
        mine = layer(rel)
        if mine is None:  # gateway/main.cpp: the top
            continue
        files += 1
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if SQLITE.match(line) and not rel.startswith("adapters/store/sqlite/"):
                broken.append(f"{rel}:{n}: includes SQLite (only adapters/store/sqlite/ may)")
            if LIBPQ.match(line) and not rel.startswith("adapters/store/postgres/"):
                broken.append(f"{rel}:{n}: includes libpq (only adapters/store/postgres/ may)")
            m = INCLUDE.match(line)
            if m and rel.startswith("adapters/store/sql/") and (
                    m.group(1).startswith("adapters/store/sqlite/")
                    or m.group(1).startswith("adapters/store/postgres/")):
                broken.append(f"{rel}:{n}: includes {m.group(1)} (the shared SQL knows no backend)")
            if not m:
                continue
            theirs = layer(m.group(1))
            if theirs is not None and theirs < mine:
                broken.append(f"{rel}:{n}: includes {m.group(1)} ({ORDER[theirs]} is above "
                              f"{ORDER[mine]})")
for b in broken:
    print(b)
print(f"layers: {files} files, {len(broken)} includes against the order")
sys.exit(1 if broken else 0)
