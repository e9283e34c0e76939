#!/usr/bin/env bash
# bench/chat: prise chat against ngircd and InspIRCd, under one load generator, in one run.
#
#   bench/chat/run.sh [SECONDS]      (default 20 seconds per fan-out run)
#
# Needs: apt-get install ngircd inspircd (the anchors); both are started here from configs
# written to a temporary folder (see write_configs below), never from /etc.
#
# Scenarios: 100 and 1,000 clients in one room with 10 senders, at a fixed 100 messages/s
# (loss and latency) and as fast as the server delivers (rate); 5,000 idle clients over 50
# rooms (server memory per client, each server freshly started). prise is driven twice: over
# IRC (prise-irc, the same protocol and load as the anchors: the ratios compare these) and over
# its native JSON protocol (prise). One generator drives all (bench/load, prise-load).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
export RUST_BACKTRACE=0

for tool in ngircd inspircd; do
    command -v "$tool" >/dev/null || { echo "bench/chat: $tool is missing (apt-get install ngircd inspircd)" >&2; exit 1; }
done
cargo build --release --quiet -p prise -p prise-load
load=target/release/prise-load
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The anchors' configs. Limits are lifted where they would stop a loopback benchmark: no
# connection caps, no DNS or ident lookups, long ping timeouts. Flood control: ngircd
# throttles every user to a few commands a second except operators with user mode +F, so
# the senders OPER and set +F (--sender-line below); InspIRCd's connect class gets a command
# rate and penalty threshold no sender reaches, and large send queues.
write_configs() {
    local ng_port=$1 insp_port=$2
    cat >"$work/ngircd.conf" <<EOF
[Global]
	Name = bench.ngircd.test
	Info = prise bench anchor
	Listen = 127.0.0.1
	Ports = $ng_port
	MotdPhrase = bench
	ServerUID = $(id -u)
	ServerGID = $(id -g)
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = 30
	PingTimeout = 600
	PongTimeout = 600
[Options]
	DNS = no
	Ident = no
	PAM = no
[Operator]
	Name = bench
	Password = bench
EOF
    echo bench >"$work/motd"
    cat >"$work/inspircd.conf" <<EOF
<config format="xml">
<server name="bench.inspircd.test" description="prise bench anchor" network="bench">
<admin name="bench" nick="bench" email="bench@bench.test">
<bind address="127.0.0.1" port="$insp_port" type="clients">
<connect name="main" allow="*" timeout="60" pingfreq="600" hardsendq="67108864" softsendq="8388608" recvq="8388608" threshold="1000000" commandrate="1000000000" fakelag="off" localmax="100000" globalmax="100000" maxconnwarn="off" resolvehostnames="no" useident="no" limit="100000" maxchans="100">
<performance netbuffersize="10240" somaxconn="4096" softlimit="30000" clonesonconnect="no" quietbursts="yes">
<limits maxnick="30" maxchan="64" maxmodes="20" maxident="11" maxhost="64" maxquit="255" maxtopic="307" maxkick="255" maxreal="128" maxaway="200">
<options defaultmodes="nt" syntaxhints="no">
<pid file="$work/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT -CONNECT -QUIT" level="default" target="$work/inspircd.log">
<files motd="$work/motd">
<dns timeout="1">
EOF
}

# start NAME: start one server, set $addr and $pid.
start() {
    local port
    port=$(free_port)
    case $1 in
        prise | prise-irc)
            target/release/prise -q chat serve --listen "127.0.0.1:$port" --no-history --flood-rate 0 >"$work/prise.out" 2>&1 &
            ;;
        ngircd)
            write_configs "$port" 0
            ngircd --nodaemon --config "$work/ngircd.conf" >"$work/ngircd.out" 2>&1 &
            ;;
        inspircd)
            write_configs 0 "$port"
            inspircd --nofork --runasroot --config="$work/inspircd.conf" >"$work/inspircd.out" 2>&1 &
            ;;
    esac
    pid=$!
    pids+=("$pid")
    addr="127.0.0.1:$port"
    for _ in $(seq 1 100); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && return
        sleep 0.1
    done
    echo "bench/chat: $1 did not start" >&2
    exit 1
}

stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

# run NAME ARGS...: prise-load against the running server NAME, in its protocol.
run() {
    local name=$1
    shift
    case $name in
        prise) $load chat --addr "$addr" "$@" ;;
        prise-irc) $load chat --proto irc --addr "$addr" "$@" ;;
        ngircd) $load chat --proto irc --addr "$addr" --sender-line "OPER bench bench" --sender-line "MODE {nick} +F" "$@" ;;
        inspircd) $load chat --proto irc --addr "$addr" "$@" ;;
    esac
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

servers=(prise-irc prise ngircd inspircd)
declare -A result
for name in "${servers[@]}"; do
    start "$name"
    for clients in 100 1000; do
        for rate in 100 0; do
            line=$(run "$name" --clients "$clients" --senders 10 --rate "$rate" --seconds "$secs" || echo failed)
            echo "$name: $line" >&2
            result[$name,$clients,$rate,p99]=$(echo "$line" | field p99_ms)
            result[$name,$clients,$rate,lost]=$(echo "$line" | field lost)
            result[$name,$clients,$rate,rate]=$(echo "$line" | field delivered_per_second)
        done
    done
    stop
    start "$name"
    line=$(run "$name" --clients 5000 --senders 1 --idle --rooms 50 --server-pid "$pid" || echo failed)
    echo "$name: $line" >&2
    result[$name,idle]=$(echo "$line" | field server_rss_per_client_kib)
    stop
done

ratio() { python3 -c "import sys; a, b = sys.argv[1], sys.argv[2]; print(f'{float(a) / float(b):.2f}' if a and b and float(b) else 'na')" "$1" "$2"; }
row() { printf '%-44s %10s %10s %10s %10s %9s %9s\n' "$@"; }
row scenario prise-irc prise ngircd inspircd vs-ngircd vs-inspircd
for clients in 100 1000; do
    q=${result[prise-irc,$clients,100,p99]} p=${result[prise,$clients,100,p99]} n=${result[ngircd,$clients,100,p99]} i=${result[inspircd,$clients,100,p99]}
    row "p99 ms, $clients clients, 100 msg/s" "$q" "$p" "$n" "$i" "$(ratio "$n" "$q")" "$(ratio "$i" "$q")"
    row "lost, $clients clients, 100 msg/s" "${result[prise-irc,$clients,100,lost]}" "${result[prise,$clients,100,lost]}" "${result[ngircd,$clients,100,lost]}" "${result[inspircd,$clients,100,lost]}" "" ""
    q=${result[prise-irc,$clients,0,rate]} p=${result[prise,$clients,0,rate]} n=${result[ngircd,$clients,0,rate]} i=${result[inspircd,$clients,0,rate]}
    row "delivered/s, $clients clients, max rate" "$q" "$p" "$n" "$i" "$(ratio "$q" "$n")" "$(ratio "$q" "$i")"
    row "lost, $clients clients, max rate" "${result[prise-irc,$clients,0,lost]}" "${result[prise,$clients,0,lost]}" "${result[ngircd,$clients,0,lost]}" "${result[inspircd,$clients,0,lost]}" "" ""
done
q=${result[prise-irc,idle]} p=${result[prise,idle]} n=${result[ngircd,idle]} i=${result[inspircd,idle]}
row "KiB per idle client, 5,000 in 50 rooms" "$q" "$p" "$n" "$i" "$(ratio "$n" "$q")" "$(ratio "$i" "$q")"
echo "(ratios compare prise-irc with each anchor; > 1.00: prise is better: lower latency or memory, higher rate)"
