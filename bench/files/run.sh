#!/usr/bin/env bash
# bench/files: prise send/receive against nc and iperf3, one 2 GiB file over loopback, in one run.
#
#   bench/files/run.sh [SIZE_MIB] [ROUNDS]     (defaults: 2048 MiB, 3 rounds)
#
# Needs: apt-get install netcat-openbsd iperf3 (the anchors).
#
#   - nc: `nc -l` writing the stream into a file on disk, `nc -N` reading the file: raw bytes, no
#     check, no fsync. The rate a user gets piping through nc.
#   - iperf3: memory to memory (`-n SIZE`): what loopback TCP does at best on this machine.
#   - prise: `prise receive --once` into a folder on the same disk, `prise send FILE`: BLAKE3 on
#     both sides while the bytes move, the receiver's fsync and rename included.
#
# Each round runs the three in turn; the table gives the median rate of the rounds and prise's
# ratio to each (> 1.00: prise is faster).
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib=${1:-2048}
rounds=${2:-3}
for tool in nc.openbsd iperf3; do
    command -v "$tool" >/dev/null || { echo "bench/files: $tool is missing (apt-get install netcat-openbsd iperf3)" >&2; exit 1; }
done
cargo build --release --quiet -p prise
prise=$PWD/target/release/prise
work=$(mktemp -d "${TMPDIR:-/var/tmp}/prise-bench-files.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
rate() { python3 -c "import sys; print(f'{int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])):.0f}')" "$1" "$2" "$3"; }

echo "bench/files: writing a ${size_mib} MiB file of random bytes" >&2
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/source.bin"
bytes=$((size_mib * 1024 * 1024))
sync

run_nc() {
    local port out=$work/nc-out.bin
    port=$(free_port)
    rm -f "$out"
    nc.openbsd -l 127.0.0.1 "$port" >"$out" &
    local listener=$!
    pids+=("$listener")
    sleep 0.3
    local start end
    start=$(now)
    nc.openbsd -N 127.0.0.1 "$port" <"$work/source.bin"
    wait "$listener"
    end=$(now)
    [ "$(stat -c %s "$out")" = "$bytes" ] || { echo "bench/files: nc lost bytes" >&2; exit 1; }
    rm -f "$out"
    rate "$bytes" "$start" "$end"
}

run_iperf3() {
    local port
    port=$(free_port)
    iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
    local server=$!
    pids+=("$server")
    sleep 0.3
    iperf3 -c 127.0.0.1 -p "$port" -n "$bytes" -J |
        python3 -c 'import json, sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8))'
    wait "$server" 2>/dev/null || true
}

run_prise() {
    local port dir=$work/inbox
    port=$(free_port)
    rm -rf "$dir"
    mkdir -p "$dir"
    "$prise" -q receive --once --listen "127.0.0.1:$port" --dir "$dir" --token bench >/dev/null &
    local receiver=$!
    pids+=("$receiver")
    sleep 0.3
    local start end
    start=$(now)
    "$prise" -q send --token bench --to "127.0.0.1:$port" "$work/source.bin" >/dev/null
    wait "$receiver"
    end=$(now)
    [ "$(stat -c %s "$dir/source.bin")" = "$bytes" ] || { echo "bench/files: prise lost bytes" >&2; exit 1; }
    rm -rf "$dir"
    rate "$bytes" "$start" "$end"
}

declare -a r_nc r_iperf r_prise
for round in $(seq 1 "$rounds"); do
    r_nc+=("$(run_nc)")
    r_iperf+=("$(run_iperf3)")
    r_prise+=("$(run_prise)")
    echo "round $round: nc ${r_nc[-1]} B/s, iperf3 ${r_iperf[-1]} B/s, prise ${r_prise[-1]} B/s" >&2
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
nc_m=$(median "${r_nc[@]}")
ip_m=$(median "${r_iperf[@]}")
pr_m=$(median "${r_prise[@]}")
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
printf '%-40s %14s %14s %14s %9s %9s\n' scenario prise nc iperf3 vs-nc vs-iperf3
printf '%-40s %14s %14s %14s %9s %9s\n' "MB/s, one ${size_mib} MiB file, loopback" \
    "$((pr_m / 1000000))" "$((nc_m / 1000000))" "$((ip_m / 1000000))" "$(ratio "$pr_m" "$nc_m")" "$(ratio "$pr_m" "$ip_m")"
