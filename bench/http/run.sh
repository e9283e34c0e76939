#!/usr/bin/env bash
# bench/http: prise http against nginx, with wrk, in one run.
#
#   bench/http/run.sh [SECONDS] [ROUNDS]     (defaults: 10 s per measurement, 3 rounds)
#
# Needs: apt-get install nginx wrk (the anchor and the load generator). Measured too when
# installed (or named by SWS=/MINISERVE=): static-web-server and miniserve, the Rust peers.
#
# Both servers serve the same folder on loopback: nginx with sendfile, one worker per core
# (auto), no access log; prise with `-q` (no access log either). Per round and server:
#   - wrk -t2 -c64 on a 1 KiB file, and -c16 on a 100 KiB file: requests/s and p99 latency;
#   - a 100 MiB file fetched 5 times with curl: the server's CPU time per download, read from
#     /proc (user + system), and the wall time.
# The table gives medians of the rounds and prise's ratio to nginx (> 1.00: prise is faster /
# cheaper for req/s; < 1.00 is better for CPU per download).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
rounds=${2:-3}
for tool in nginx wrk curl; do
    command -v "$tool" >/dev/null || { echo "bench/http: $tool is missing (apt-get install nginx wrk curl)" >&2; exit 1; }
done
cargo build --release --quiet -p prise
prise=$PWD/target/release/prise
work=$(mktemp -d "${TMPDIR:-/var/tmp}/prise-bench-http.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/www" "$work/nginx"
head -c 1024 /dev/urandom >"$work/www/1k.bin"
head -c $((100 * 1024)) /dev/urandom >"$work/www/100k.bin"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$work/www/100m.bin"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The CPU ticks of a process and its children (nginx's workers).
tree_ticks() {
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do total=$((total + $(ticks "$p"))); done
    echo "$total"
}

start_nginx() {
    local port=$1
    cat >"$work/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    types { application/octet-stream bin; }
    server { listen 127.0.0.1:$port; root $work/www; }
}
CONF
    nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' >"$work/nginx/out.log" 2>&1 &
    echo $!
}

start_prise() {
    local port=$1
    "$prise" -q http serve "$work/www" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
    echo $!
}

# wrk: "req/s p99_ms"
load() {
    local url=$1 conns=$2
    wrk -t2 -c"$conns" -d"${seconds}s" --latency "$url" | python3 -c '
import re, sys
text = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
print(f"{rps:.0f} {p99:.2f}")'
}

# 100 MiB five times: "cpu_ms_per_download wall_ms_per_download"
big() {
    local url=$1 pid=$2 before after start end
    before=$(tree_ticks "$pid")
    start=$(date +%s%N)
    for _ in 1 2 3 4 5; do curl -s -o /dev/null "$url"; done
    end=$(date +%s%N)
    after=$(tree_ticks "$pid")
    local hz
    hz=$(getconf CLK_TCK)
    python3 -c "print(f'{($after - $before) * 1000 / $hz / 5:.0f} {($end - $start) / 1e6 / 5:.0f}')"
}

measure() {
    local name=$1 port pid
    port=$(free_port)
    pid=$("start_$name" "$port")
    pids+=("$pid")
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/1k.bin" && break; sleep 0.1; done
    local small medium large
    small=$(load "http://127.0.0.1:$port/1k.bin" 64)
    medium=$(load "http://127.0.0.1:$port/100k.bin" 16)
    large=$(big "http://127.0.0.1:$port/100m.bin" "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$small $medium $large"
}

# The Rust peers the issue names, when they are installed (cargo install static-web-server
# miniserve): measured in the same rounds, same folder, their access logs off.
tools=(nginx prise)
sws=${SWS:-$(command -v static-web-server || true)}
miniserve=${MINISERVE:-$(command -v miniserve || true)}
[[ -n "$sws" ]] && tools+=(sws)
[[ -n "$miniserve" ]] && tools+=(miniserve)
start_sws() {
    "$sws" --host 127.0.0.1 --port "$1" --root "$work/www" --log-level error >/dev/null 2>&1 &
    echo $!
}
start_miniserve() {
    "$miniserve" --interfaces 127.0.0.1 --port "$1" "$work/www" >/dev/null 2>&1 &
    echo $!
}

results=()
for round in $(seq 1 "$rounds"); do
    line="round $round:"
    for tool in "${tools[@]}"; do
        r=$(measure "$tool")
        results+=("$tool $r")
        line="$line $tool $r;"
    done
    echo "$line (1k req/s p99ms, 100k req/s p99ms, 100M cpu-ms wall-ms)" >&2
done

python3 - "${results[@]}" <<'PY'
import statistics, sys
rows = {}
for arg in sys.argv[1:]:
    tool, *values = arg.split()
    rows.setdefault(tool, []).append(list(map(float, values)))
tools = list(rows)
med = lambda tool, i: statistics.median(r[i] for r in rows[tool])
head = f"{'scenario':<34}" + "".join(f"{t:>11}" for t in tools)
head += "".join(f"{t + '/nginx':>16}" for t in tools if t != "nginx")
print(head)
scenarios = [
    ("1 KiB, 64 conns: req/s", 0), ("1 KiB, 64 conns: p99 ms", 1),
    ("100 KiB, 16 conns: req/s", 2), ("100 KiB, 16 conns: p99 ms", 3),
    ("100 MiB: server CPU ms/download", 4), ("100 MiB: wall ms/download", 5),
]
for name, i in scenarios:
    base = med("nginx", i)
    line = f"{name:<34}" + "".join(f"{med(t, i):>11.2f}" for t in tools)
    line += "".join(
        f"{(med(t, i) / base if base else float('nan')):>15.2f}x" for t in tools if t != "nginx"
    )
    print(line)
PY
