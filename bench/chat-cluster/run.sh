#!/usr/bin/env bash
# bench/chat-cluster: prise chat on 1, 2 and 3 nodes sharing one redis-server, the same load
# spread over them, against one node without Redis, in one run.
#
#   bench/chat-cluster/run.sh [SECONDS]      (default 10 seconds per run)
#
# Needs: apt-get install redis-server. Every server is started here on free loopback ports.
#
# Load (bench/load, prise-load over prise's native protocol): 1,000 clients in #general, 10 of
# them sending, client i on node i mod n (so senders and readers sit on every node and most
# messages cross nodes), at a fixed 100 messages/s (p99 latency, loss) and as fast as it goes
# (delivered messages per second). Also redis-server's CPU time per message sent.
#
# On one 2-core machine every node, Redis and the load generator share the same cores: more
# nodes show the overhead of going through Redis, not scale. See bench/README.md for the model
# of several machines.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
command -v redis-server >/dev/null || { echo "bench/chat-cluster: redis-server is missing (apt-get install redis-server)" >&2; exit 1; }
cargo build --release --quiet -p prise -p prise-load
load=target/release/prise-load
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return
        sleep 0.1
    done
    echo "bench/chat-cluster: nothing on port $1" >&2
    exit 1
}
# CPU seconds (user + system) a process has used.
cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.out" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
wait_port "$rport"

# nodes N [redis]: start N nodes (with Redis when the second argument is set); sets $addrs
# and $node_pids.
nodes() {
    addrs=""
    node_pids=()
    for i in $(seq 1 "$1"); do
        local port
        port=$(free_port)
        local extra=()
        [ -n "${2:-}" ] && extra=(--redis "redis://127.0.0.1:$rport/" --node-name "n$i")
        target/release/prise -q chat serve --listen "127.0.0.1:$port" --no-history --flood-rate 0 "${extra[@]}" >"$work/n$i.out" 2>&1 &
        node_pids+=("$!")
        pids+=("$!")
        wait_port "$port"
        addrs="${addrs:+$addrs,}127.0.0.1:$port"
    done
}
stop_nodes() { for p in "${node_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

printf '%-22s %14s %10s %8s %12s %14s\n' setup "delivered/s" "p99 ms" lost vs-single "redis µs/msg"
base=""
for setup in "1 node, no redis:1:" "1 node + redis:1:r" "2 nodes + redis:2:r" "3 nodes + redis:3:r"; do
    IFS=: read -r name n with <<<"$setup"
    nodes "$n" "$with"
    steady=$($load chat --addr "$addrs" --clients 1000 --senders 10 --rate 100 --seconds "$secs")
    # The same nicks come back: give the nodes a moment to see the last run's clients go.
    sleep 2
    before=$(cpu "$redis_pid")
    fast=$($load chat --addr "$addrs" --clients 1000 --senders 10 --rate 0 --seconds "$secs")
    after=$(cpu "$redis_pid")
    stop_nodes
    rate=$(echo "$fast" | field delivered_per_second)
    sent=$(echo "$fast" | field sent)
    p99=$(echo "$steady" | field p99_ms)
    lost=$(echo "$steady" | field lost)
    [ -z "$base" ] && base=$rate
    ratio=$(python3 -c "print(f'{float(\"$rate\") / float(\"$base\"):.2f}')")
    per=$(python3 -c "s=float('${sent:-0}' or 0); print(f'{($after - $before) * 1e6 / s:.1f}' if s and '$with' else '-')")
    printf '%-22s %14s %10s %8s %12s %14s\n' "$name" "$rate" "$p99" "$lost" "$ratio" "$per"
    echo "$name: steady: $steady" >&2
    echo "$name: fast: $fast" >&2
done
