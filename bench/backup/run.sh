#!/usr/bin/env bash
# bench/backup: prise backup against an rsync daemon on loopback, in one run.
#
#   bench/backup/run.sh [ROUNDS]        (default: 3 rounds)
#
# Needs: apt-get install rsync (the anchor).
#
# The tree: 10,000 small files (200 B to 8 KiB, in 100 folders) and 20 files of 10 MiB, random
# bytes (about 280 MB). Three pushes per tool, each timed as a whole command:
#   - first:     the whole tree into an empty destination;
#   - no change: the same tree again;
#   - 10 files:  after 5 small files are rewritten and 5 large ones get 64 bytes changed in the
#                middle (their mtimes move too).
# rsync: `rsync -a --stats SRC/ rsync://127.0.0.1:PORT/bk/` into a daemon (`use chroot = no`);
# bytes are its "Total bytes sent". It does not fsync (no --fsync).
# prise: `prise backup push` into `prise backup serve`, index on (the default); bytes are
# `wire_sent` from --json, every protocol byte the client wrote. The server fsyncs what it stores.
# Every push starts after a `sync`, outside its timing. Each round makes a fresh tree and fresh
# destinations; the table gives medians and ratios
# (time: rsync / prise, > 1.00 means prise is faster; bytes: prise / rsync, < 1.00 means prise
# sends less).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
command -v rsync >/dev/null || { echo "bench/backup: rsync is missing (apt-get install rsync)" >&2; exit 1; }
cargo build --release --quiet -p prise
prise=$PWD/target/release/prise
work=$(mktemp -d "${TMPDIR:-/var/tmp}/prise-bench-backup.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$2"; }

make_tree() {
    python3 - "$1" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(42)
for d in range(100):
    os.makedirs(f"{root}/d{d:03}", exist_ok=True)
    for f in range(100):
        with open(f"{root}/d{d:03}/f{f:03}.txt", "wb") as out:
            out.write(rng.randbytes(rng.randint(200, 8192)))
os.makedirs(f"{root}/big", exist_ok=True)
for b in range(20):
    with open(f"{root}/big/b{b:02}.bin", "wb") as out:
        out.write(os.urandom(10 * 1024 * 1024))
PY
}

change_ten() {
    python3 - "$1" <<'PY'
import os, sys, time
root = sys.argv[1]
later = time.time() + 5
for d in range(5):
    p = f"{root}/d{d * 20:03}/f050.txt"
    size = os.path.getsize(p)
    with open(p, "wb") as out:
        out.write(os.urandom(size))
    os.utime(p, (later, later))
for b in range(5):
    p = f"{root}/big/b{b * 4:02}.bin"
    with open(p, "r+b") as out:
        out.seek(5 * 1024 * 1024)
        out.write(os.urandom(64))
    os.utime(p, (later, later))
PY
}

# One round: prints "rsync_first rsync_nochange rsync_ten prise_first prise_nochange prise_ten" times,
# then the same for bytes, on two lines.
round() {
    local src=$work/src
    rm -rf "$src" "$work/rsync-dest" "$work/store" "$work/cache"
    mkdir -p "$work/rsync-dest" "$work/store" "$work/cache"
    make_tree "$src"
    cp -a "$src" "$work/src-prise"
    sync

    local rport pport
    rport=$(free_port)
    cat >"$work/rsyncd.conf" <<CONF
use chroot = no
uid = root
gid = root
[bk]
path = $work/rsync-dest
read only = no
CONF
    rsync --daemon --no-detach --config="$work/rsyncd.conf" --address=127.0.0.1 --port="$rport" &
    pids+=($!)
    pport=$(free_port)
    "$prise" -q backup serve --listen "127.0.0.1:$pport" --store "$work/store" --token bench >/dev/null &
    pids+=($!)
    sleep 0.5

    local times=() bytes=() start end out
    # Each push starts from a quiet disk: what the one before left dirty is written first,
    # outside the timing (rsync does not fsync, prise does; neither pays for the other).
    rsync_push() {
        sync
        start=$(now)
        out=$(rsync -a --stats "$src/" "rsync://127.0.0.1:$rport/bk/")
        end=$(now)
        times+=("$(elapsed "$start" "$end")")
        bytes+=("$(echo "$out" | sed -n 's/^Total bytes sent: //p' | tr -d ',')")
    }
    prise_push() {
        sync
        start=$(now)
        out=$(XDG_CACHE_HOME=$work/cache "$prise" -q backup push "$work/src-prise" --name bench \
            --to "127.0.0.1:$pport" --token bench --json)
        end=$(now)
        times+=("$(elapsed "$start" "$end")")
        bytes+=("$(echo "$out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["wire_sent"])')")
    }
    rsync_push; rsync_push
    change_ten "$src"
    rsync_push
    prise_push; prise_push
    change_ten "$work/src-prise"
    prise_push
    # The restored tree must be the pushed one (checked once per round, outside the timings).
    "$prise" -q backup restore "$work/restored" --from "127.0.0.1:$pport" --name bench --token bench >/dev/null
    diff -r "$work/src-prise" "$work/restored" >/dev/null || { echo "bench/backup: prise restored a different tree" >&2; exit 1; }
    diff -r "$src" "$work/rsync-dest" >/dev/null || { echo "bench/backup: rsync made a different tree" >&2; exit 1; }
    rm -rf "$work/restored" "$work/src-prise"
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    pids=()
    echo "${times[*]}"
    echo "${bytes[*]}"
}

declare -a T B
for r in $(seq 1 "$rounds"); do
    mapfile -t lines < <(round)
    T+=("${lines[0]}")
    B+=("${lines[1]}")
    echo "round $r: seconds (rsync first/none/ten, prise first/none/ten) ${lines[0]}; bytes ${lines[1]}" >&2
done

python3 - "${T[@]}" -- "${B[@]}" <<'PY'
import statistics, sys
args = sys.argv[1:]
cut = args.index("--")
times = [list(map(float, a.split())) for a in args[:cut]]
sent = [list(map(int, a.split())) for a in args[cut + 1:]]
med = lambda rows, i: statistics.median(r[i] for r in rows)
print(f"{'push':<24} {'rsync s':>9} {'prise s':>9} {'speed':>7} {'rsync bytes':>13} {'prise bytes':>13} {'bytes':>7}")
for i, name in enumerate(["first (280 MB)", "no change", "10 files changed"]):
    rt, pt = med(times, i), med(times, i + 3)
    rb, pb = med(sent, i), med(sent, i + 3)
    print(f"{name:<24} {rt:>9.3f} {pt:>9.3f} {rt / pt:>6.2f}x {rb:>13.0f} {pb:>13.0f} {pb / rb:>6.2f}x")
PY
