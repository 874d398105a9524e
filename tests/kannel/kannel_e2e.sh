#!/usr/bin/env bash
# rabta behind a real Kannel 1.4.5, end to end, on 127.0.0.1 only:
#
#   fakesmsc (the phones) --TCP--> bearerbox <-- smsbox --HTTP get-url--> rabta serve
#                                              smsbox <--HTTP sendsms + dlr-url callbacks-- rabta
#
#   bash tests/kannel/kannel_e2e.sh build/release/gateway/rabta      (ctest -L kannel runs this)
#
# Uses config/ (copied into a temporary folder, with free ports, a fresh database and a 1 s
# check-in interval) and config/kannel/kannel.conf (ports, log paths and secrets substituted).
#   A  GSM-7: +923001112222 texts MADAD and answers the incident flow by SMS; the last SMS is the
#      neutral closing text, not the case reference (SAFETY S5); one case in the database.
#   B  UCS-2: +923001114444 texts مدد as UCS-2; the Urdu incident question comes back as UCS-2,
#      and so does the next screen after she answers ۱ (Urdu digit one).
#   C  Check-in: +923001113333 is enrolled for today (Asia/Karachi) in the current hour; the
#      scheduler sends the weekly prompt through sendsms, Kannel's delivery reports mark it
#      delivered, she answers 1 and the week is answered.
#   D  +923001115555 reports with "1" five times in a row: an answer, not a loop to silence.
#   E  Issue 4, the responder queue and the webhook, with the test's responders.toml (every team on
#      duty all day, numbers +92300999xxxx, [sla] high = "5s", [webhook] to a python3 receiver on
#      a free loopback port): +923001116666 dials the USSD callback and reports "I need help now"
#      (safe to call: yes; share with: neither). The routed team's first member gets the SMS alert
#      (alert_template), the receiver gets the signed "opened" event without her number; with no
#      ACK the alert climbs to the next member after the SLA; she answers "ACK <ref>", gets
#      "Case <ref> acknowledged.", the case is acknowledged and no alert follows for 2 SLAs.
#   F  +923001117777 texts MADAD, then a sentence (the marker) instead of a choice, then the
#      quick exit 00: a re-prompt, then the neutral quick-exit text.
#   K  Field key rotation while rabta serves (after A): `rabta keys rotate` adds key 2; by the end
#      every stored value is encrypted with key 2 (the server took the new key without a
#      restart) and `rabta keys retire 1` removes the old key.
#   and (SAFETY D1, D2, D5): the database file and its WAL hold none of the test numbers and not
#      the marker sentence, nor do rabta's logs; no SMS went out twice, each phone got exactly the expected SMSes, rabta's logs name no
#   phone number and have no errors, rabta stops cleanly on SIGTERM.
#
# Needs: kannel + kannel-extras (scripts/install-deps --test), python3 (3.11), curl, sqlite3.
# Missing Kannel is a FAILURE, not a skip. Every process it starts is stopped by PID on exit;
# every wait is bounded. Logs: a temporary folder, printed (and kept) on failure; KEEP=1 keeps it.
set -euo pipefail

RABTA=${1:-}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
HELPER=("python3" "$HERE/e2e_helper.py")
BEARERBOX=${BEARERBOX:-/usr/sbin/bearerbox}
SMSBOX=${SMSBOX:-/usr/sbin/smsbox}
FAKESMSC=${FAKESMSC:-/usr/lib/kannel/test/fakesmsc}
HOST=127.0.0.1
SHORTCODE=12345                    # = [channels.kannel] from and the example's global-sender
PHONE_A=+923001112222 PHONE_B=+923001114444 PHONE_C=+923001113333 PHONE_D=+923001115555
PHONE_E=+923001116666              # reports over USSD (scenario E)
PHONE_F=+923001117777              # types a sentence (scenario F)
MARKER="MARKER he took my phone at the bus stop"
SLA_HIGH=5                         # seconds: the test's [sla] high
REPLY_WAIT=20                      # seconds for one reply SMS

PASSED=0 FAILED=0
pass() { echo "PASS  $1"; PASSED=$((PASSED + 1)); }
redact() { sed -e "s/${SECRET:-@no-secret@}/<SECRET>/g" -e "s/${PASSWORD:-@no-password@}/<SENDSMS_PASSWORD>/g" \
  -e "s/${AT_SECRET:-@no-at-secret@}/<AT_SECRET>/g" -e "s/${WH_SECRET:-@no-wh-secret@}/<WEBHOOK_SECRET>/g"; }
fail() { echo "FAIL  $1"; FAILED=$((FAILED + 1)); [ -z "${2:-}" ] || sed 's/^/      /' <<<"$2" | redact; }
# check DESCRIPTION COMMAND...: PASS when the command succeeds; its output is shown on FAIL.
check() {
  local what=$1 out rc=0; shift
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" = 0 ]; then pass "$what"; else fail "$what" "$out"; fi
  return 0
}
summary() { echo "$PASSED passed, $FAILED failed"; }

# --- prerequisites: a missing Kannel fails the test ---------------------------------------------
missing=()
for b in "$BEARERBOX" "$SMSBOX" "$FAKESMSC"; do [ -x "$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -gt 0 ]; then
  fail "Kannel is installed" "missing: ${missing[*]}
install it with: scripts/install-deps --test   (Debian packages kannel kannel-extras)"
  summary; exit 1
fi
for c in python3 curl sqlite3 mkfifo; do
  command -v "$c" >/dev/null || { fail "tool $c is installed" "scripts/install-deps --test installs it"; summary; exit 1; }
done
python3 -c 'import tomllib' 2>/dev/null || { fail "python3 >= 3.11 (tomllib)"; summary; exit 1; }
if [ -z "$RABTA" ] || [ ! -x "$RABTA" ]; then
  fail "rabta binary given" "usage: $0 PATH/TO/rabta (got '${RABTA}')"; summary; exit 1
fi
RABTA=$(cd "$(dirname "$RABTA")" && pwd)/$(basename "$RABTA")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rabta-kannel-e2e.XXXXXX")
LOGS=$WORK/logs
mkdir -p "$LOGS"
: >"$LOGS/rabta-cli.log"
CFG=$WORK/config/rabta.toml
FLOG=$LOGS/fakesmsc.log            # every MT the fake phones receive ("Got message N: <...>")
FIFO=$WORK/mo.fifo                 # MO lines for the one long-lived fakesmsc
PIDS=() NAMES=()

stop_pid() {   # pid: SIGTERM, up to 10 s, then SIGKILL; reaps it
  local pid=$1 n
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill "$pid" 2>/dev/null || true
  for n in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

show_logs() {   # the end of each log (Kannel's without DEBUG lines); all of them stay in $WORK
  local f
  for f in rabta.log rabta-cli.log setup.log bearerbox.log smsbox.log fakesmsc.log hook.log hook.jsonl; do
    [ -s "$LOGS/$f" ] || continue
    echo "---- $f (end)"
    grep -v -E '^[0-9-]+ [0-9:]+ \[[0-9]+\] \[[0-9]+\] DEBUG: (Thread|Started thread|  |Parsing|HTTP: Opening|Octet string|smsc_fake)' \
      "$LOGS/$f" | tail -n 30 | cut -c1-300 | redact
  done
  echo "---- all logs kept in $LOGS"
}

cleanup() {
  local rc=$? i
  trap - EXIT
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done   # fakesmsc first
  exec 7>&-
  if [ "$rc" != 0 ] || [ "$FAILED" != 0 ] || [ -n "${KEEP:-}" ]; then
    show_logs
    summary   # again, as the last line
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() {   # name command... : runs it in the background, logs to $LOGS/name.log
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 7>&- &
  PIDS+=($!) NAMES+=("$name")
  echo "      started $name (pid $!)"
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.2 s; gives up early when a process we
# started has died.
wait_for() {
  local secs=$1 what=$2 n i; shift 2
  for n in $(seq $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    for i in "${!PIDS[@]}"; do
      if ! kill -0 "${PIDS[i]}" 2>/dev/null; then
        echo "      ${NAMES[i]} (pid ${PIDS[i]}) exited while waiting for: $what" >&2
        return 1
      fi
    done
    sleep 0.2
  done
  echo "      timeout after ${secs}s waiting for: $what" >&2
  return 1
}

# must DESCRIPTION COMMAND...: a setup step; on failure the test stops here. Output: setup.log.
must() {
  local what=$1 out rc=0; shift
  out=$("$@" 2>&1) || rc=$?
  printf '== %s\n%s\n' "$what" "$out" >>"$LOGS/setup.log"
  if [ "$rc" = 0 ]; then pass "$what"; return 0; fi
  fail "$what" "$out"
  summary
  exit 1
}

port_listening() { "${HELPER[@]}" listening "$1"; }
status_txt() { curl -fsS --max-time 2 "http://$HOST:$P_ADMIN/status.txt?password=$STATUS_PW"; }
bearerbox_up() { status_txt >/dev/null && port_listening "$P_FAKE"; }
smsbox_up() { port_listening "$P_SENDSMS" && status_txt | grep -q 'smsbox:(none), IP 127.0.0.1'; }
fake_online() { status_txt | grep -q 'FAKE\[FAKE\].*(online'; }
sql() { sqlite3 -cmd '.timeout 5000' "$DB" "$1"; }
mt_count() { "${HELPER[@]}" count "$FLOG" "$1"; }
mt_count_above() { [ "$(mt_count "$1")" -gt "$2" ]; }
log_settled() {   # the fakesmsc log has not grown for 0.4 s (a multi-line SMS is complete)
  local a b
  a=$(stat -c %s "$FLOG"); sleep 0.4; b=$(stat -c %s "$FLOG"); [ "$a" = "$b" ]
}

# sms PHONE TYPE TEXT: the phone sends one SMS; waits for the next MT to that phone and sets
# MT_INDEX to its number (1 = the first SMS that phone received). Returns 1 if no reply came.
sms() {
  local phone=$1 type=$2 text=$3 before
  before=$(mt_count "$phone")
  printf '%s %s %s %s\n' "$phone" "$SHORTCODE" "$type" "$text" >&7
  if ! wait_for "$REPLY_WAIT" "a reply SMS to $phone" mt_count_above "$phone" "$before"; then
    MT_INDEX=0
    return 1
  fi
  wait_for 5 "fakesmsc log to settle" log_settled || true
  MT_INDEX=$((before + 1))
}

# reply_check DESCRIPTION PHONE TYPE TEXT EXPECT...: sends, then checks the reply.
# Returns 1 (after a FAIL line) when no reply came, so the scenario can stop.
reply_check() {
  local what=$1 phone=$2 type=$3 text=$4; shift 4
  if ! sms "$phone" "$type" "$text" 2>"$WORK/wait.err"; then
    fail "$what" "no reply SMS within ${REPLY_WAIT}s
$(cat "$WORK/wait.err")
last requests smsbox made (smsbox.log):
$(grep -E 'Starting to service|Parsing URL|ERROR|WARNING' "$LOGS/smsbox.log" 2>/dev/null | tail -n 8 | cut -c1-300)
last rabta log lines:
$(tail -n 8 "$LOGS/rabta.log")"
    return 1
  fi
  check "$what" "${HELPER[@]}" check-mt "$WORK/config" "$FLOG" "$phone" "$MT_INDEX" "$@"
}

echo "== setup ($WORK)"
read -r P_RABTA P_ADMIN P_BOX P_SENDSMS P_FAKE P_HOOK < <("${HELPER[@]}" ports 6)
for p in $P_RABTA $P_ADMIN $P_BOX $P_SENDSMS $P_FAKE $P_HOOK; do
  if port_listening "$p"; then fail "port $p is free"; summary; exit 1; fi
done
echo "      ports: rabta $P_RABTA, kannel admin $P_ADMIN, smsbox $P_BOX, sendsms $P_SENDSMS, fake SMSC $P_FAKE, webhook receiver $P_HOOK"

# rabta: a copy of the shipped config with test ports, a fresh database, a 1 s scheduler, no
# reminders, Kannel's sendsms on the test port, debug logging (which must still name no number).
unset RABTA_AT_SECRET RABTA_PSEUDONYM_KEY RABTA_FIELD_KEY RABTA_WEBHOOK_SECRET
cp -r "$SRC/config" "$WORK/config"
DB=$WORK/var/rabta.db
must "test config written" "${HELPER[@]}" edit-toml "$CFG" \
  'server.host="127.0.0.1"' "server.port=$P_RABTA" "database.path=\"$DB\"" 'log.level="debug"' \
  'checkins.enabled=true' 'checkins.channel="kannel"' 'checkins.interval_ms=1000' 'checkins.reminder_after_ms=0' \
  "channels.kannel.sendsms_url=\"http://$HOST:$P_SENDSMS/cgi-bin/sendsms\"" "channels.kannel.from=\"$SHORTCODE\"" \
  'responders.interval_ms=500'
# The roster (scenario E): every team on duty now, test numbers, a 5 s SLA for "high", the webhook
# to the receiver started below, with a secret this script writes.
ROSTER=$WORK/config/responders.toml
WH_SECRET_FILE=$WORK/webhook.secret HOOK_OUT=$LOGS/hook.jsonl
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WH_SECRET_FILE"; echo >>"$WH_SECRET_FILE")
WH_SECRET=$(head -n 1 "$WH_SECRET_FILE")
must "test responders.toml written (on duty 0-24 every day, [sla] high 5s, webhook)" "${HELPER[@]}" test-roster \
  "$ROSTER" "http://$HOST:$P_HOOK/hook" "$WH_SECRET_FILE"
must "rabta init creates keys, secrets and the database" "$RABTA" init --config "$CFG"
must "rabta check accepts the test config" "$RABTA" check --config "$CFG"
SECRET_FILE=$("${HELPER[@]}" resolve "$CFG" channels.kannel.secret_file)
PASSWORD_FILE=$("${HELPER[@]}" resolve "$CFG" channels.kannel.password_file)
must "rabta init created the Kannel secret and sendsms password" test -s "$SECRET_FILE" -a -s "$PASSWORD_FILE"
SECRET=$(head -n 1 "$SECRET_FILE" | tr -d '\r\n ')
AT_SECRET_FILE=$("${HELPER[@]}" resolve "$CFG" ussd.africastalking.secret_file)
must "rabta init created the Africa's Talking secret" test -s "$AT_SECRET_FILE"
AT_SECRET=$(head -n 1 "$AT_SECRET_FILE" | tr -d '\r\n ')
PASSWORD=$(head -n 1 "$PASSWORD_FILE" | tr -d '\r\n ')
ADMIN_PW=admin-$RANDOM$RANDOM STATUS_PW=status-$RANDOM$RANDOM

# Kannel: config/kannel/kannel.conf as shipped, with test ports, log paths and the secrets.
must "kannel.conf rendered from config/kannel/kannel.conf" "${HELPER[@]}" render-kannel \
  "$SRC/config/kannel/kannel.conf" "$WORK/kannel.conf" \
  "sub:<SECRET>=>$SECRET" "sub:<SENDSMS_PASSWORD>=>$PASSWORD" \
  "sub:<ADMIN_PASSWORD>=>$ADMIN_PW" "sub:<STATUS_PASSWORD>=>$STATUS_PW" \
  "sub:http://127.0.0.1:8080/sms/kannel?=>http://$HOST:$P_RABTA/sms/kannel?" \
  "set:core:admin-port=$P_ADMIN" "set:core:smsbox-port=$P_BOX" \
  "set:core:log-file=\"$LOGS/bearerbox.log\"" "set:core:log-level=0" \
  "set:core:access-log=\"$LOGS/bearerbox-access.log\"" "set:core:store-location=\"$WORK/kannel.store\"" \
  "set:smsc:fake:port=$P_FAKE" \
  "set:smsbox:bearerbox-port=$P_BOX" "set:smsbox:sendsms-port=$P_SENDSMS" \
  "set:smsbox:log-file=\"$LOGS/smsbox.log\"" "set:smsbox:log-level=0" \
  "set:smsbox:access-log=\"$LOGS/smsbox-access.log\"" "set:smsbox:http-queue-delay=1"

echo "== starting rabta, bearerbox, smsbox, fakesmsc"
start rabta "$RABTA" serve --config "$CFG"
must "rabta serves /healthz" wait_for 20 "rabta /healthz" curl -fsS --max-time 2 "http://$HOST:$P_RABTA/healthz"
start bearerbox "$BEARERBOX" -v 1 "$WORK/kannel.conf"
must "bearerbox is up (status page, fake SMSC port)" \
  wait_for 20 "bearerbox status page and fake SMSC port" bearerbox_up
start smsbox "$SMSBOX" -v 1 "$WORK/kannel.conf"
must "smsbox is up and connected to bearerbox" \
  wait_for 20 "smsbox sendsms port and its bearerbox connection" smsbox_up
# One long-lived fakesmsc: with no message argument it sends each line of its standard input as
# an MO and logs every MT. The FIFO is held open read-write here (fd 7) so that it never sees EOF
# (fakesmsc 1.4.5 crashes with "double free" at EOF) and opening it never blocks.
mkfifo "$FIFO"
exec 7<>"$FIFO"
"$FAKESMSC" -H "$HOST" -r "$P_FAKE" -i 0 <"$FIFO" >"$FLOG" 2>&1 7>&- &
PIDS+=($!) NAMES+=(fakesmsc)
echo "      started fakesmsc (pid $!)"
must "fakesmsc connected (SMSC FAKE online)" wait_for 20 "SMSC FAKE online" fake_online
start hook "${HELPER[@]}" hook-server "$P_HOOK" "$WH_SECRET_FILE" "$HOOK_OUT"
must "the webhook receiver listens on $HOST:$P_HOOK" wait_for 10 "webhook receiver port" port_listening "$P_HOOK"

# --- A: GSM-7 incident report over SMS ---------------------------------------------------------
echo "== A: $PHONE_A reports an incident by SMS (GSM 7-bit)"
scenario_a() {
  reply_check "A1 MADAD -> Roman Urdu incident question, GSM 7-bit" "$PHONE_A" text MADAD \
    coding=7bit screen=incident:what:roman || return 0
  reply_check "A2 1 (physical violence) -> When?" "$PHONE_A" text 1 coding=7bit screen=incident:when:roman || return 0
  reply_check "A3 1 (today) -> Are you safe now?" "$PHONE_A" text 1 coding=7bit screen=incident:safe_now:roman || return 0
  reply_check "A4 1 (yes) -> Is it safe to call you?" "$PHONE_A" text 1 coding=7bit screen=incident:call_safe:roman || return 0
  reply_check "A5 2 (no call) -> District list" "$PHONE_A" text 2 coding=7bit starts=incident:district:roman || return 0
  reply_check "A6 5 (Lahore) -> May we share this?" "$PHONE_A" text 5 coding=7bit screen=incident:refer:roman || return 0
  reply_check "A7 3 (neither) -> neutral closing text (S5)" "$PHONE_A" text 3 \
    coding=7bit template=closing:roman lacks=Hawala || return 0
  local ref
  ref=$(sql "SELECT reference FROM cases ORDER BY id DESC LIMIT 1" 2>&1 || true)
  check "A8 the closing SMS does not show the case reference (${ref:-no case})" \
    "${HELPER[@]}" check-mt "$WORK/config" "$FLOG" "$PHONE_A" "$MT_INDEX" "lacks=${ref:-no case}"
}
scenario_a
check "A9 database: exactly one case, on the SMS session, physical_violence/normal" bash -c '
  db=$1
  rows=$(sqlite3 -cmd ".timeout 5000" "$db" "SELECT s.channel, c.flow, c.category, c.severity FROM cases c LEFT JOIN sessions s ON s.id = c.session_id")
  echo "cases: ${rows:-none}"
  [ "$rows" = "sms|incident|physical_violence|normal" ]' _ "$DB"

# --- K: rotate the field key while rabta serves -------------------------------------------------
echo "== K: rabta keys rotate while rabta serves"
check "K1 rabta keys rotate adds key 2 and re-encrypts what is stored" bash -c '
  out=$("$1" keys rotate --config "$2"); echo "$out"; grep -q "^added key 2 " <<<"$out"' _ "$RABTA" "$CFG"

# --- B: UCS-2 ---------------------------------------------------------------------------------
echo "== B: $PHONE_B texts مدد in UCS-2"
scenario_b() {
  local madad one
  madad=$("${HELPER[@]}" ucs2-url "مدد")
  one=$("${HELPER[@]}" ucs2-url "۱")
  reply_check "B1 مدد (UCS-2) -> Urdu incident question, UCS-2" "$PHONE_B" ucs2 "$madad" \
    coding=ucs2 screen=incident:what:ur || return 0
  reply_check "B2 ۱ (Urdu digit, UCS-2) -> Urdu When?, UCS-2" "$PHONE_B" ucs2 "$one" \
    coding=ucs2 screen=incident:when:ur || return 0
}
scenario_b

# --- C: the weekly check-in through sendsms, with delivery reports ------------------------------
echo "== C: $PHONE_C is enrolled for a check-in now (Asia/Karachi)"
scenario_c() {
  local left wd h end week csv out rc=0
  # Not across midnight in Karachi: the weekday would change under the scheduler.
  left=$(( 86400 - ( 10#$(TZ=Asia/Karachi date +%H) * 3600 + 10#$(TZ=Asia/Karachi date +%M) * 60 + 10#$(TZ=Asia/Karachi date +%S) ) ))
  if [ "$left" -lt 90 ]; then echo "      waiting ${left}s for midnight in Karachi"; sleep $((left + 2)); fi
  wd=$(TZ=Asia/Karachi date +%u)
  h=$((10#$(TZ=Asia/Karachi date +%H)))
  end=$((h + 2 > 24 ? 24 : h + 2))
  week=$(TZ=Asia/Karachi date +%G-W%V)
  csv=$WORK/contacts.csv
  printf 'phone,language,weekday,window,channel,sms_ok\n%s,roman,%s,%s-%s,sms,yes\n' "$PHONE_C" "$wd" "$h" "$end" >"$csv"
  echo "      weekday $wd, window $h-$end, week $week"
  out=$("$RABTA" contacts --config "$CFG" import "$csv" 2>&1) || rc=$?
  echo "$out" >>"$LOGS/rabta-cli.log"
  if [ "$rc" = 0 ] && grep -q 'accepted 1, rejected 0' <<<"$out"; then pass "C1 contacts import accepts her row"
  else fail "C1 contacts import accepts her row" "exit $rc: $out"; return 0; fi

  if ! wait_for 30 "the check-in prompt at $PHONE_C" mt_count_above "$PHONE_C" 0 2>"$WORK/wait.err"; then
    fail "C2 the scheduler sends the weekly prompt through sendsms" "$(cat "$WORK/wait.err")
checkins: $(sql 'SELECT week, status, sent_at FROM checkins' 2>&1)
outbox:
$("$RABTA" outbox --config "$CFG" list 2>&1)
sendsms requests (smsbox.log):
$(grep -E 'sendsms|ERROR|WARNING' "$LOGS/smsbox.log" | tail -n 8)
rabta log:
$(tail -n 10 "$LOGS/rabta.log")"
    return 0
  fi
  wait_for 5 "fakesmsc log to settle" log_settled || true
  check "C2 the scheduler sends the Roman Urdu weekly prompt (GSM 7-bit)" \
    "${HELPER[@]}" check-mt "$WORK/config" "$FLOG" "$PHONE_C" 1 coding=7bit template=checkin_prompt:roman

  outbox_delivered() {
    "$RABTA" outbox --config "$CFG" list >"$WORK/outbox.txt" 2>&1 || return 1
    awk '/ checkin:/ && $3 == "sent" && $5 == "delivered" {ok = 1} END {exit !ok}' "$WORK/outbox.txt"
  }
  if wait_for 20 "outbox row sent/delivered" outbox_delivered 2>"$WORK/wait.err"; then
    pass "C3 outbox: the prompt is sent, Kannel's DLR marked it delivered"
  else
    fail "C3 outbox: the prompt is sent, Kannel's DLR marked it delivered" "$(cat "$WORK/wait.err")
$(cat "$WORK/outbox.txt")
DLR callbacks smsbox made (smsbox.log):
$(grep -E "Parsing URL.*dlr=1" "$LOGS/smsbox.log" | tail -n 6 | cut -c1-300)"
  fi
  cat "$WORK/outbox.txt" >>"$LOGS/rabta-cli.log"

  reply_check "C4 she answers 1 -> Shukriya. Khuda hafiz" "$PHONE_C" text 1 coding=7bit end=checkin:fine:roman || return 0
  # Her answer is sealed in the table (SECURITY #11): the row says answered, the column is not the
  # word; which word it was is proved by C4's reply (end=checkin:fine).
  check "C5 checkins: this week answered, the answer sealed" bash -c '
    rows=$(sqlite3 -cmd ".timeout 5000" "$1" "SELECT week, status, length(answer) > 16, answer IN ('"'fine','talk','help_now'"') FROM checkins")
    echo "checkins: ${rows:-none}"
    [ "$rows" = "$2|answered|1|0" ]' _ "$DB" "$week"
}
scenario_c

# --- D: answering "1" five times in a row is a report, not a loop ---------------------------------
# [sms] loop_max_repeats (3) silences a number that sends the same text more than 3 times in
# loop_window_ms, to stop auto-reply loops (SAFETY T6). In the incident flow "1" four or five
# times in a row is an ordinary report (physical violence, today, safe now, may be called,
# morning); she must not be met with silence half-way.
echo "== D: $PHONE_D answers 1 five times in a row (loop guard vs. a real report)"
scenario_d() {
  reply_check "D1 MADAD -> incident question" "$PHONE_D" text MADAD coding=7bit screen=incident:what:roman || return 0
  reply_check "D2 1 (physical violence) -> When?" "$PHONE_D" text 1 screen=incident:when:roman || return 0
  reply_check "D3 1 (today) -> Are you safe now?" "$PHONE_D" text 1 screen=incident:safe_now:roman || return 0
  reply_check "D4 1 (yes) -> Is it safe to call you?" "$PHONE_D" text 1 screen=incident:call_safe:roman || return 0
  reply_check "D5 1 (yes, 4th '1') -> When is it safe to call?" "$PHONE_D" text 1 screen=incident:call_when:roman || return 0
  reply_check "D6 1 (morning, 5th '1') -> District list" "$PHONE_D" text 1 starts=incident:district:roman || return 0
  reply_check "D7 00 (quick exit) -> neutral goodbye" "$PHONE_D" text 00 message=quick_exit:roman || return 0
}
scenario_d

# --- E: "I need help now" over USSD -> responder alert, webhook, escalation, ACK (issue 4) ---------
echo "== E: $PHONE_E reports \"I need help now\" over USSD; the responder queue and the webhook"
# Cases of A and D are routed and alerted too (all teams are on duty): look at case $1 only.
alerts() { "${HELPER[@]}" alerts "$FLOG" "$ROSTER" "$1"; }
alert_count() { alerts "$1" | wc -l; }
alert_count_above() { [ "$(alert_count "$1")" -gt "$2" ]; }
got_text() { "${HELPER[@]}" mts "$FLOG" "$1" | grep -qF "\"text\": \"$2\""; }
hook_has() { grep -q "\"idempotency_key\": \"$1\"" "$HOOK_OUT"; }
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
scenario_e() {
  local out rc=0 ref t0 t1 t2 want first second team phone1 phone2 n_before n_after hook_team
  out=$("${HELPER[@]}" ussd-help-now "$WORK/config" "http://$HOST:$P_RABTA/ussd/africastalking?key=$AT_SECRET" \
    "$PHONE_E" "kannel-e2e-E" 2>&1) || rc=$?
  ref=$(sed -n 's/^reference //p' <<<"$out")
  if [ "$rc" != 0 ] || [ -z "$ref" ]; then
    fail "E1 USSD \"I need help now\" (POST /ussd/africastalking, hop by hop) gives a reference" "exit $rc
$out"
    return 0
  fi
  t0=$(ms_now)
  pass "E1 USSD \"I need help now\" (POST /ussd/africastalking, hop by hop) gives reference $ref"
  want=$(python3 -c 'import sys, tomllib
t = tomllib.load(open(sys.argv[1], "rb"))["alert_template"]
print(t.replace("{ref}", sys.argv[2]).replace("{severity}", "high"))' "$ROSTER" "$ref")

  # (1) the SMS alert to the on-duty responder, through Kannel
  if ! wait_for 15 "an SMS alert to a responder" alert_count_above "$ref" 0 2>"$WORK/wait.err"; then
    fail "E2 an SMS alert reaches a responder within 15 s" "$(cat "$WORK/wait.err")
cases: $(sql 'SELECT reference, category, severity, status FROM cases' 2>&1)
outbox:
$("$RABTA" outbox --config "$CFG" list 2>&1)
rabta log:
$(tail -n 10 "$LOGS/rabta.log")"
    return 0
  fi
  t1=$(ms_now)
  wait_for 5 "fakesmsc log to settle" log_settled || true
  first=$(alerts "$ref" | head -n 1)
  phone1=$(field "$first" to) team=$(field "$first" team)
  echo "      first alert after $((t1 - t0)) ms: $(field "$first" name) ($team, step $(field "$first" step))"
  check "E2 the alert reaches the first member of the routed team ($team) within 15 s, exactly alert_template" bash -c '
    [ "$1" = 1 ] || { echo "ladder step $1, expected 1"; exit 1; }
    [ "$2" = "$3" ] && [ "$4" = 7bit ] || { echo "got ($4) $2, expected $3"; exit 1; }' _ \
    "$(field "$first" step)" "$(field "$first" text)" "$want" "$(field "$first" coding)"

  # (2) the signed webhook
  if wait_for 15 "the opened event at the webhook receiver" hook_has "opened:$ref" 2>"$WORK/wait.err"; then
    check "E3 the receiver got \"opened\" signed (X-Rabta-Signature verifies), Idempotency-Key opened:$ref, no number or referral fields" \
      "${HELPER[@]}" hook-check "$HOOK_OUT" "$ref" "$PHONE_E"
    hook_team=$(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["idempotency_key"] == "opened:" + sys.argv[2]:
        print(json.loads(r["body"])["team"]); break' "$HOOK_OUT" "$ref")
    check "E4 the webhook's team ($hook_team) is the team alerted ($team)" test "$hook_team" = "$team"
  else
    fail "E3 the receiver got the signed \"opened\" event within 15 s" "$(cat "$WORK/wait.err")
received: $(cat "$HOOK_OUT" 2>&1)
webhook outbox rows:
$("$RABTA" outbox --config "$CFG" list 2>&1 | grep -E 'webhook|kind' || true)
receiver log: $(tail -n 5 "$LOGS/hook.log")"
  fi

  # (3) no acknowledgement: the ladder climbs after the SLA
  if ! wait_for $((SLA_HIGH * 3 + 5)) "the escalated alert" alert_count_above "$ref" 1 2>"$WORK/wait.err"; then
    fail "E5 without ACK the alert climbs to the next member after the SLA (${SLA_HIGH}s)" "$(cat "$WORK/wait.err")
alerts: $(alerts "$ref")"
    return 0
  fi
  t2=$(ms_now)
  wait_for 5 "fakesmsc log to settle" log_settled || true
  second=$(alerts "$ref" | sed -n 2p)
  phone2=$(field "$second" to)
  echo "      second alert $((t2 - t1)) ms after the first: $(field "$second" name) ($(field "$second" team), step $(field "$second" step))"
  check "E5 without ACK, after the SLA (${SLA_HIGH}s), the alert climbs to step 2 of $team" bash -c '
    [ "$1" = "$2" ] && [ "$3" = 2 ] || { echo "team $1 step $3, expected $2 step 2"; exit 1; }
    [ "$4" -ge $(( ($5 - 1) * 1000 )) ] || { echo "after $4 ms, before the SLA"; exit 1; }
    [ "$6" = "$7" ] || { echo "got $6, expected $7"; exit 1; }' _ "$(field "$second" team)" "$team" \
    "$(field "$second" step)" "$((t2 - t1))" "$SLA_HIGH" "$(field "$second" text)" "$want"

  # (4) she acknowledges by SMS through Kannel
  # (other cases' alerts may reach her meanwhile: wait for this exact reply, not the next SMS)
  printf '%s %s text %s\n' "$phone2" "$SHORTCODE" "ACK $ref" >&7
  if wait_for "$REPLY_WAIT" "Case $ref acknowledged. at $phone2" got_text "$phone2" "Case $ref acknowledged." 2>"$WORK/wait.err"; then
    pass "E6 $(field "$second" name) texts \"ACK $ref\" through fakesmsc -> \"Case $ref acknowledged.\""
  else
    fail "E6 $(field "$second" name) texts \"ACK $ref\" through fakesmsc -> \"Case $ref acknowledged.\"" "$(cat "$WORK/wait.err")
her MTs: $("${HELPER[@]}" mts "$FLOG" "$phone2")"
    return 0
  fi
  check "E7 database: case $ref is acknowledged" bash -c '
    st=$(sqlite3 -cmd ".timeout 5000" "$1" "SELECT status FROM cases WHERE reference = '"'"'$2'"'"'")
    echo "status: ${st:-no case}"; [ "$st" = acknowledged ]' _ "$DB" "$ref"
  n_before=$(alert_count "$ref")
  sleep $((2 * SLA_HIGH + 1))
  n_after=$(alert_count "$ref")
  check "E8 no further alert within 2 SLAs after the ACK ($n_before alerts before, $n_after after)" bash -c '
    [ "$1" = "$2" ] || { "${@:3}"; exit 1; }' _ "$n_before" "$n_after" "${HELPER[@]}" alerts "$FLOG" "$ROSTER" "$ref"
  check "E9 every webhook request the receiver got was validly signed, none names her number" \
    "${HELPER[@]}" hook-check "$HOOK_OUT" "$ref" "$PHONE_E"
  echo "      webhook events received: $(sed -n 's/.*"idempotency_key": "\([^"]*\)".*/\1/p' "$HOOK_OUT" | tr '\n' ' ')"
}
scenario_e

# --- F: a sentence where a choice was expected, then the quick exit -----------------------------
echo "== F: $PHONE_F types a sentence, then the quick exit"
scenario_f() {
  reply_check "F1 MADAD -> Roman Urdu incident question" "$PHONE_F" text MADAD \
    screen=incident:what:roman || return 0
  reply_check "F2 a sentence instead of a choice -> a re-prompt that does not echo it" "$PHONE_F" text "$MARKER" \
    "lacks=$MARKER" coding=7bit || return 0
  reply_check "F3 00 -> the neutral quick-exit text" "$PHONE_F" text 00 message=quick_exit:roman || return 0
}
scenario_f

# --- across the run -----------------------------------------------------------------------------
echo "== across the run"
check "no SMS went out twice (same text to the same phone; a supervisor's repeated alerts excepted)" \
  "${HELPER[@]}" duplicates "$FLOG" "$ROSTER"
check "each phone got exactly the SMSes expected (A 7, B 2, C 2, D 7)" bash -c '
  a=$("$1" "$2" count "$3" "$4"); b=$("$1" "$2" count "$3" "$5"); c=$("$1" "$2" count "$3" "$6"); d=$("$1" "$2" count "$3" "$7")
  echo "A $a, B $b, C $c, D $d; all MTs:"; "$1" "$2" mts "$3"
  [ "$a" = 7 ] && [ "$b" = 2 ] && [ "$c" = 2 ] && [ "$d" = 7 ]' _ "${HELPER[@]}" "$FLOG" "$PHONE_A" "$PHONE_B" "$PHONE_C" "$PHONE_D"
check "rabta's logs name none of the test phone numbers (women's or responders')" bash -c '
  ! grep -n -E "3001112222|3001114444|3001113333|3001115555|3001116666|300999[0-9]{4}" "$@"' _ "$LOGS/rabta.log" "$LOGS/rabta-cli.log" "$LOGS/setup.log"
check "rabta logged no errors" bash -c '! grep -n -E "\[(error|critical)\]" "$1"' _ "$LOGS/rabta.log"
# The screens she was sent on SMS are sealed in the outbox too (SECURITY #11): the closing words
# of a check-in and the call-safety question must not be readable in the files.
AT_REST_PATTERN="3001112222|3001114444|3001113333|3001115555|3001116666|3001117777|300999[0-9]{4}|$MARKER|bus stop|Khuda hafiz|phone karna mehfooz"
check "D1/D2 the database and its WAL hold no test number, no screen she saw and not the marker sentence (grep -a)" bash -c '
  ls -l "$1" "$1-wal" | sed "s/^/      /"
  [ -s "$1" ] || { echo "no database file"; exit 1; }
  # control: these files do hold the run (a category is stored in clear), so no hit means sealed
  cat "$1" "$1-wal" 2>/dev/null | grep -a -q physical_violence || { echo "control: no case category in the files"; exit 1; }
  ! grep -a -o -E "$2" "$1" "$1-wal"' _ "$DB" "$AT_REST_PATTERN"
# A backup taken beside the running server is a copy of all of it: the same grep, and mode 600.
check "D1/D2 (backup) rabta backup beside the server is mode 600 and holds no test number, no screen she saw and not the marker sentence (grep -a)" bash -c '
  "$1" backup "$2" --config "$3" >/dev/null || exit 1
  m=$(stat -c %a "$2"); echo "      $2 $m"; [ "$m" = 600 ] || exit 1
  grep -a -q physical_violence "$2" || { echo "control: no case category in the backup"; exit 1; }
  ! grep -a -o -E "$4" "$2"' _ "$RABTA" "$WORK/backup-d7.db" "$CFG" "$AT_REST_PATTERN"
check "D6 the database, its WAL and SHM are readable by the service user only (mode 600)" bash -c '
  for f in "$1" "$1-wal" "$1-shm"; do
    [ -e "$f" ] || continue
    m=$(stat -c %a "$f"); echo "      $f $m"; [ "$m" = 600 ] || exit 1
  done' _ "$DB"
check "D5 rabta's logs hold not the marker sentence" bash -c '
  ! grep -n -E "$1" "${@:2}"' _ "$MARKER|bus stop" "$LOGS/rabta.log" "$LOGS/rabta-cli.log" "$LOGS/setup.log"
if wait_for 15 "every stored value under key 2" bash -c '
    out=$("$1" keys status --config "$2") || exit 1
    grep -q "with key 2:" <<<"$out" && ! grep -q -E "with key 1:|not yet encrypted" <<<"$out"' _ "$RABTA" "$CFG" 2>"$WORK/wait.err"; then
  pass "K2 every stored value is now encrypted with key 2 (the server took the new key without a restart)"
else
  fail "K2 every stored value is now encrypted with key 2" "$("$RABTA" keys status --config "$CFG" 2>&1)"
fi
check "K3 rabta keys retire 1 removes the old key from the key file" bash -c '
  "$1" keys retire 1 --config "$2" && ! grep -q "^1:" "$3"' _ "$RABTA" "$CFG" "$("${HELPER[@]}" resolve "$CFG" keys.field_key_file)"
check "S1 rabta stats (beside the server) exports aggregates only: the header, whitelisted rows, no reference or number" bash -c '
  out=$("$1" stats --config "$2" --min-cell 2) || exit 1; echo "$out"
  [ "$(head -n 1 <<<"$out")" = "measure,week,district,category,count" ] || exit 1
  grep -q -E "^case,[0-9]{4}-W[0-9]{2},[a-z_]+,[a-z_]+,(<2|[0-9]+)$" <<<"$out" || exit 1
  refs=$(sqlite3 -cmd ".timeout 5000" "$3" "SELECT group_concat(reference, \"|\") FROM cases")
  ! grep -q -E "3001|$refs" <<<"$out"' _ "$RABTA" "$CFG" "$DB"
check "R1 rabta purge --dry-run (beside the server) counts what retention would delete now" bash -c '
  out=$("$1" purge --config "$2" --dry-run) || exit 1; echo "$out"
  grep -q "^would delete: 0 sessions, 0 answers, 0 closed cases" <<<"$out"' _ "$RABTA" "$CFG"
sleep 3  # the server's key-file poll (2 s) takes the ring without key 1
reply_check "K4 with key 1 retired, rabta still reads her history and answers: $PHONE_D texts MADAD" \
  "$PHONE_D" text MADAD screen=incident:what:roman || true

# rabta first (the others keep running): it must finish in-flight work and exit 0.
rabta_pid=${PIDS[0]}
kill "$rabta_pid" 2>/dev/null || true
rc=0
for n in $(seq 100); do kill -0 "$rabta_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$rabta_pid" 2>/dev/null; then
  fail "rabta stops cleanly on SIGTERM" "still running after 10 s"
else
  wait "$rabta_pid" || rc=$?
  check "rabta stops cleanly on SIGTERM (exit $rc)" bash -c '[ "$1" = 0 ] && grep -q "stopped cleanly" "$2"' _ "$rc" "$LOGS/rabta.log"
fi

summary
[ "$FAILED" = 0 ]
