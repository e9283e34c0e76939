#!/usr/bin/env bash
# bench/monitor: prise monitor watching 1,000 checks at a 10 s interval against local servers,
# with its history on: CPU (share of one core) and memory (peak RSS).
#
#   bench/monitor/run.sh [SECONDS] [CHECKS]     (defaults: 60 s, 1000 checks)
#
# Needs: python3 (its http.server is the HTTP target) and curl. The checks are half HTTP (a GET
# of a small JSON file with three conditions), half TCP connects, against two local servers.
# The goal (issue 7): under 10% of one core and under 100 MiB.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
checks=${2:-1000}
cargo build --release --quiet -p prise
prise=$PWD/target/release/prise
work=$(mktemp -d "${TMPDIR:-/var/tmp}/prise-bench-monitor.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkdir -p "$work/www"
echo '{"status":"up"}' >"$work/www/health.json"
http_port=$(free_port)
(cd "$work/www" && exec python3 -m http.server --bind 127.0.0.1 "$http_port" >/dev/null 2>&1) &
pids+=($!)
tcp_port=$(free_port)
python3 - "$tcp_port" >/dev/null 2>&1 <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024)
while True:
    c, _ = s.accept(); c.close()
PY
pids+=($!)
sleep 1

config="$work/monitor.toml"
for i in $(seq 1 "$checks"); do
    if ((i % 2)); then
        printf '[[check]]\nname = "web%d"\nurl = "http://127.0.0.1:%d/health.json"\ninterval = "10s"\nconditions = ["[STATUS] == 200", "[RESPONSE_TIME] < 2s", "[BODY].status == \\"up\\""]\n\n' "$i" "$http_port"
    else
        printf '[[check]]\nname = "tcp%d"\nurl = "tcp://127.0.0.1:%d"\ninterval = "10s"\n\n' "$i" "$tcp_port"
    fi
done >"$config"

"$prise" -q monitor "$config" --history "$work/history.sqlite" --status 127.0.0.1:0 >"$work/out" 2>&1 &
pid=$!
pids+=($pid)
# Let the first round (all checks start at once) pass, then measure whole rounds.
sleep 12
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks "$pid")
sleep "$seconds"
after=$(ticks "$pid")
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
status=$(sed -n 's/^monitor listening on //p' "$work/out")
down=$(curl -s "http://$status/api/checks" | python3 -c 'import json,sys; print(sum(1 for c in json.load(sys.stdin) if c["state"] != "up"))')
runs=$(python3 -c "import sqlite3; print(sqlite3.connect('$work/history.sqlite').execute('select count(*) from runs').fetchone()[0])")
python3 - "$before" "$after" "$hz" "$seconds" "$rss" "$checks" "$down" "$runs" <<'PY'
import sys
before, after, hz, seconds, rss, checks, down, runs = map(int, sys.argv[1:])
cpu = (after - before) / hz / seconds * 100
print(f"{checks} checks at 10 s for {seconds} s: CPU {cpu:.1f}% of one core, peak RSS {rss / 1024:.1f} MiB, "
      f"{runs} runs recorded, {down} checks not up")
print(f"goal (issue 7): under 10% and under 100 MiB: {'met' if cpu < 10 and rss < 100 * 1024 else 'NOT met'}")
PY
