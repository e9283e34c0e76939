#!/usr/bin/env bash
# bench/chat: prise chat under the prise-load fan-out generator.
#
#   bench/chat/run.sh [SECONDS]      (default 10 seconds per fan-out run)
#
# Scenarios (issue 3): 1,000 clients in one room with 10 senders at a fixed 100 messages/s
# (zero loss, latency), the same as fast as the server delivers, and 5,000 idle clients over 50
# rooms (server memory per client). The IRC anchors (ngircd, InspIRCd) join this script with the
# IRC front door; until then it measures prise alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet -p prise -p prise-load
out=$(mktemp)
target/release/prise -q chat serve --listen 127.0.0.1:0 --no-history --flood-rate 0 >"$out" &
server=$!
trap 'kill $server 2>/dev/null; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do grep -q 'listening on' "$out" && break; sleep 0.05; done
addr=$(sed -n 's/^chat listening on //p' "$out")

load=target/release/prise-load
$load chat --addr "$addr" --clients 1000 --senders 10 --rate 100 --seconds "$secs" --server-pid "$server"
$load chat --addr "$addr" --clients 1000 --senders 10 --rate 0 --seconds "$secs" --server-pid "$server"
kill $server; wait $server 2>/dev/null || true

# A fresh server for the memory measurement, so the fan-out runs leave nothing behind.
target/release/prise -q chat serve --listen 127.0.0.1:0 --no-history --flood-rate 0 >"$out" &
server=$!
for _ in $(seq 1 200); do grep -q 'listening on' "$out" && break; sleep 0.05; done
addr=$(sed -n 's/^chat listening on //p' "$out")
$load chat --addr "$addr" --clients 5000 --senders 1 --idle --rooms 50 --server-pid "$server"
