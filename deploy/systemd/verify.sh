#!/usr/bin/env bash
# Checks deploy/systemd/ with systemd-analyze verify, the binary path pointed at a build.
# Usage: verify.sh RABTA_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v systemd-analyze >/dev/null || { echo "verify: systemd-analyze is missing (apt-get install systemd)" >&2; exit 1; }
for u in rabta.service rabta.socket; do
  sed "s|/usr/local/bin/rabta|$1|g" "$here/$u" >"$tmp/$u"
done
out=$(cd "$tmp" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no rabta.socket rabta.service 2>&1 || true)
# The rabta user need not exist on a build machine; anything else is a finding.
findings=$(grep -v -E "User=rabta|Group=rabta|not found in /etc/passwd|Unit rabta.service not found" <<<"$out" | grep -v '^$' || true)
if [ -n "$findings" ]; then echo "$findings"; exit 1; fi
echo "systemd units verified: rabta.service rabta.socket"
