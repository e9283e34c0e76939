#!/usr/bin/env bash
# bench/echo: prise echo against socat and ncat, same load generator, same run.
#
#   bench/echo/run.sh [SECONDS]          (default 3 seconds per measurement)
#
# Needs socat and ncat (apt-get install socat ncat). Prints one row per scenario with each
# server's rate and prise's ratio to it (> 1.00 means prise is faster).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-3}

for tool in socat ncat; do
  command -v "$tool" >/dev/null || { echo "bench/echo needs $tool: apt-get install socat ncat" >&2; exit 1; }
done

cargo build --release --quiet -p prise -p prise-load
prise=target/release/prise
load=target/release/prise-load

pids=()
cleanup() {
  # socat and ncat fork a child per connection: stop those too.
  for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2).close()" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server on port $1 never came up" >&2; exit 1
}

# prise: port 0, read the announce line.
out=$(mktemp)
"$prise" -q echo serve --listen 127.0.0.1:0 >"$out" &
pids+=($!)
for _ in $(seq 1 200); do grep -q 'listening on' "$out" && break; sleep 0.05; done
prise_addr=$(sed -n 's/^echo listening on //p' "$out")

socat_port=$(free_port)
socat TCP-LISTEN:"$socat_port",bind=127.0.0.1,fork,reuseaddr PIPE 2>/dev/null &
pids+=($!)
ncat_port=$(free_port)
ncat --keep-open --listen 127.0.0.1 "$ncat_port" --exec /bin/cat 2>/dev/null &
pids+=($!)
wait_port "$socat_port"
wait_port "$ncat_port"

rate() { "$load" echo "$@" --seconds "$secs" | sed -n 's/.*per_second=\([0-9]*\).*/\1/p'; }

printf '%-34s %14s %14s %14s %9s %9s\n' scenario prise socat ncat vs-socat vs-ncat
run() {
  local label=$1; shift
  local p s n
  p=$(rate "$@" --addr "$prise_addr")
  s=$(rate "$@" --addr "127.0.0.1:$socat_port")
  n=$(rate "$@" --addr "127.0.0.1:$ncat_port")
  printf '%-34s %14s %14s %14s %9s %9s\n' "$label" "$p" "$s" "$n" \
    "$(python3 -c "print(f'{$p/$s:.2f}')")" "$(python3 -c "print(f'{$p/$n:.2f}')")"
}
run "round trips/s, 1 client, 64 B"     rtt --clients 1 --size 64
run "round trips/s, 50 clients, 64 B"   rtt --clients 50 --size 64
run "bytes/s, 1 client, 64 KiB writes"  stream --clients 1 --size 65536
run "bytes/s, 8 clients, 64 KiB writes" stream --clients 8 --size 65536
