#!/usr/bin/env bash
# bench/ftp: curl downloading and uploading one large file from prise ftp and from vsftpd, in
# one run, on loopback; prints the rates and prise's ratio to vsftpd (> 1.00: prise is faster).
#
#   bench/ftp/run.sh [SIZE_MIB] [ROUNDS]      (defaults: 2048 MiB, 3 rounds; medians shown)
#
# Needs: root (vsftpd logs in a local user, made here as in the tests), vsftpd, curl, and
# SIZE_MIB of free space twice over in ${TMPDIR:-/var/tmp}. Downloads go to /dev/null; uploads
# land on disk, and are removed after each round. The file stays in the page cache (the machine
# has room), so this measures the servers, not the disk.
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-2048}
rounds=${2:-3}
user=prise-ftp-test
password=Pr1se-test
vsftpd=$(command -v vsftpd || echo /usr/sbin/vsftpd)
[ -x "$vsftpd" ] || { echo "vsftpd is needed: apt-get install vsftpd" >&2; exit 1; }
id "$user" >/dev/null 2>&1 || useradd -M -s /bin/bash "$user"
echo "$user:$password" | chpasswd
mkdir -p "/home/$user" && chown "$user" "/home/$user"

cargo build --release --quiet -p prise
prise=$PWD/target/release/prise
work=$(mktemp -d "${TMPDIR:-/var/tmp}/prise-bench-ftp.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/files" "$work/empty"
chown "$user" "$work/files"
echo "making a ${size} MiB file..." >&2
head -c "$((size * 1024 * 1024))" /dev/urandom >"$work/files/big.bin"
chmod 644 "$work/files/big.bin"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
vs_port=$(free_port)
cat >"$work/vsftpd.conf" <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=$vs_port
background=NO
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
secure_chroot_dir=$work/empty
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_root=$work/files
pam_service_name=vsftpd
xferlog_enable=NO
connect_from_port_20=NO
CONF
"$vsftpd" "$work/vsftpd.conf" >/dev/null 2>&1 &
pids+=($!)
"$prise" -q ftp serve "$work/files" --listen 127.0.0.1:0 --user "$user:$password" >"$work/prise.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/prise.out" 2>/dev/null && break; sleep 0.05; done
pr_port=$(sed -n 's/^ftp listening on 127.0.0.1://p' "$work/prise.out")
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$vs_port") 2>/dev/null && break; sleep 0.05; done

# One measurement: bytes per second as curl reports it.
down() { curl -s -o /dev/null -w '%{speed_download}' "ftp://$user:$password@127.0.0.1:$1/big.bin"; }
up() {
    local rate
    rate=$(curl -s -T "$work/files/big.bin" -w '%{speed_upload}' "ftp://$user:$password@127.0.0.1:$1/up.bin")
    rm -f "$work/files/up.bin"
    echo "$rate"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -a pd vd pu vu
# Downloads first, then uploads (an upload's dirty pages would slow the next download). Who goes
# first alternates, so neither always gets the warmer cache.
for r in $(seq "$rounds"); do
    if ((r % 2)); then vd+=("$(down "$vs_port")"); pd+=("$(down "$pr_port")")
    else pd+=("$(down "$pr_port")"); vd+=("$(down "$vs_port")"); fi
    echo "download round $r: prise ${pd[-1]} vsftpd ${vd[-1]} (bytes/s)" >&2
done
for r in $(seq "$rounds"); do
    sync
    if ((r % 2)); then vu+=("$(up "$vs_port")"); sync; pu+=("$(up "$pr_port")")
    else pu+=("$(up "$pr_port")"); sync; vu+=("$(up "$vs_port")"); fi
    echo "upload round $r: prise ${pu[-1]} vsftpd ${vu[-1]} (bytes/s)" >&2
done
mpd=$(median "${pd[@]}"); mvd=$(median "${vd[@]}"); mpu=$(median "${pu[@]}"); mvu=$(median "${vu[@]}")
awk -v size="$size" -v rounds="$rounds" -v pd="$mpd" -v vd="$mvd" -v pu="$mpu" -v vu="$mvu" 'BEGIN {
    printf "%d MiB file, curl on loopback, median of %d rounds\n", size, rounds
    printf "%-10s %14s %14s %8s\n", "", "vsftpd GB/s", "prise GB/s", "ratio"
    printf "%-10s %14.2f %14.2f %7.2fx\n", "download", vd / 1e9, pd / 1e9, pd / vd
    printf "%-10s %14.2f %14.2f %7.2fx\n", "upload", vu / 1e9, pu / 1e9, pu / vu
}'
