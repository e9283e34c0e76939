#!/usr/bin/env bash
# IRC conformance: run irctest (third_party/irctest, pinned) against `prise chat serve`.
#
# usage: scripts/irctest.sh [core] [ircv3] [accounts]      (default: all three)
#   core   the RFC 1459/2812 client protocol: registration, JOIN, PART, PRIVMSG/NOTICE, NICK,
#          NAMES, WHO/WHOX, WHOIS, TOPIC, PING, QUIT, LIST, KICK, INVITE, AWAY, LUSERS,
#          ISUPPORT, channel and user modes. Fails unless 0 fail and at least 131 pass.
#   ircv3  the irctest modules of the IRCv3 capabilities prise advertises. Fails unless 0 fail.
#   accounts  irctest's SASL module (PLAIN), on a server with a history database, the
#          accounts added by the controller (scripts/irctest_prise.py). Fails unless 0 fail.
#
# The server is started here, on a free port, with what irctest's tests assume of a server
# under test: the name My.Little.Server (irctest's tests spell it out), an IRC operator
# operuser/operpassword, no flood limit, no history file (but for accounts). Python dependencies (pytest, ...)
# go into a virtualenv, $IRCTEST_VENV (default target/irctest-venv), from PyPI.
#
# environment: PRISE_BIN (default: build target/debug/prise), IRCTEST_VENV, IRCTEST_VERBOSE=1
# (show every test's output).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IRCTEST_DIR=$ROOT/third_party/irctest
VENV=${IRCTEST_VENV:-$ROOT/target/irctest-venv}
SELECTIONS=("$@")
[ ${#SELECTIONS[@]} -gt 0 ] || SELECTIONS=(core ircv3 accounts)

if [ -z "${PRISE_BIN:-}" ]; then
  cargo build -p prise --locked --quiet --manifest-path "$ROOT/Cargo.toml"
  PRISE_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/prise
fi
PRISE_BIN=$(realpath "$PRISE_BIN")

PY=$VENV/bin/python
if ! "$PY" -c 'import pytest, ecdsa, filelock, websockets' 2>/dev/null; then
  echo "irctest: installing its Python dependencies into $VENV" >&2
  python3 -m venv "$VENV"
  "$PY" -m pip install -q -r "$IRCTEST_DIR/requirements.txt"
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

start() { # extra serve arguments; sets PORT and SERVER_PID
  "$PRISE_BIN" chat serve --listen 127.0.0.1:0 --flood-rate 0 \
    --server-name My.Little.Server --oper operuser:operpassword "$@" \
    >"$WORK/announce" 2>"$WORK/server.log" &
  SERVER_PID=$!
  PORT=
  for _ in $(seq 100); do
    PORT=$(sed -n 's/^chat listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/announce")
    [ -n "$PORT" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$PORT" ] || { echo "irctest: prise chat serve did not announce its port" >&2; exit 1; }
}
stop() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

CORE_K='(connection_registration or join.py or part.py or messages.py or names.py or who.py or whois.py or topic.py or pingpong.py or quit.py or list.py or kick.py or invite.py or away.py or lusers.py or isupport.py or chmodes or umodes or regressions) and not Passworded and not mute_extban and not testLusersFull and not LusersUnregistered'
CORE_M='not IRCv3 and not services and not implementation-specific and not deprecated and not strict'
# The modules of the capabilities in irc.rs's CAPS (server-time has no module of its own: its
# tag is checked by the others; chathistory's tests all need services, so none is selected).
IRCV3_K='away_notify.py or echo_message.py or message_tags.py or multi_prefix.py or chathistory.py or batch or labeled_responses.py or cap.py or utf8.py or setname.py or monitor.py or invite_notify or userhost or standard_replies'
IRCV3_M='not services and not implementation-specific and not deprecated and not strict'

# Accounts: irctest's services-marked modules of SASL (PLAIN, SCRAM-SHA-256), account-registration,
# account-tag, account-notify and extended-join, with accounts added by the controller; and the
# server password tests (PASS), on a server the controller starts with --password.
ACCOUNTS_K='sasl.py or account_registration.py or account_tag.py or extended_join.py or AuthenticatedExtendedMonitor or PasswordedConnectionRegistrationTestCase'
ACCOUNTS_M='not implementation-specific and not deprecated and not strict'

status=0
run() { # name, -k, -m, minimum passed, [own: irctest starts a server per test class]
  local name=$1 k=$2 m=$3 min=$4 own=${5:-} xml=$WORK/$1.xml
  local target=(IRCTEST_SERVER_HOSTNAME=127.0.0.1 IRCTEST_SERVER_PORT=$PORT)
  [ -n "$own" ] && target=(IRCTEST_SERVER_PORT=)
  local show=(-q -rfE)
  [ "${IRCTEST_VERBOSE:-0}" = 1 ] && show=(-v -rA)
  ( cd "$IRCTEST_DIR" && \
    env "${target[@]}" \
    PYTHONPATH="$ROOT/scripts" PYTHONDONTWRITEBYTECODE=1 \
    PRISE_BIN=$PRISE_BIN PRISE_HISTORY=$WORK/chat.sqlite \
    "$PY" -m pytest --controller irctest_prise -p no:cacheprovider \
      -p irctest_external_cleanup "${show[@]}" --junitxml="$xml" -m "$m" -k "$k" \
      irctest/server_tests ) >"$WORK/$name.out" 2>&1 || true
  local counts
  counts=$("$PY" - "$xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception as e:
    print("0 0 0"); sys.exit(0)
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
print(t["tests"] - t["failures"] - t["errors"] - t["skipped"], t["failures"] + t["errors"], t["skipped"])
PYEOF
)
  read -r passed failed skipped <<<"$counts"
  echo "irctest $name: $passed passed, $failed failed, $skipped skipped"
  if [ "$failed" -ne 0 ] || [ "$passed" -lt "$min" ]; then
    grep -E '^(FAILED|ERROR) ' "$WORK/$name.out" >&2 || tail -40 "$WORK/$name.out" >&2
    echo "irctest $name: needs 0 failed and at least $min passed" >&2
    status=1
  fi
  [ "${IRCTEST_VERBOSE:-0}" = 1 ] && cat "$WORK/$name.out"
  return 0
}

for sel in "${SELECTIONS[@]}"; do
  case $sel in
    core) start --no-history; run core "$CORE_K" "$CORE_M" 150; stop ;;
    ircv3) start --no-history; run ircv3 "$IRCV3_K" "$IRCV3_M" 70; stop ;;
    # Accounts live in the database: the controller starts a server with a fresh database
    # for each test class, with the flags the class asks for.
    accounts) PORT=; run accounts "$ACCOUNTS_K" "$ACCOUNTS_M" 51 own ;;
    *) echo "unknown selection $sel (core, ircv3, accounts)" >&2; exit 2 ;;
  esac
done
exit $status
