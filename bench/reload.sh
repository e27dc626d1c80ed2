#!/usr/bin/env bash
# bench/reload.sh: what configuration reloads cost clients, for ringproxy,
# HAProxy and nginx, on the same machine in the same run.
#
# Each proxy runs in HTTP mode (one thread / worker, pinned on CPU 1) in
# front of three example backends (CPU 0). `ringload http` (CPU 0) loads it
# with keep-alive connections, then with one request per connection, while
# the script reloads it N times, alternating two configurations that differ
# by one server (s1,s2 <-> s2,s3) and a timeout:
#   ringproxy: SIGHUP (in-process reload)
#   ringproxy-x: binary upgrade, a new process each time (-x SOCKET -sf
#              OLDPID, expose-fd listeners)
#   HAProxy:   master-worker (-W), SIGUSR2 to the master (new worker; the
#              old one gets the listeners' sockets over expose-fd and stops
#              gracefully)
#   nginx:     SIGHUP to the master (new workers, old ones stop gracefully)
# It reports, per proxy and load, the requests served and every failure
# ringload saw (connect refused, read: reset or EOF before an answer,
# status >= 400), and for ringproxy the time from the signal to the reload
# being applied everywhere (show info: Reloads).
#
# Usage: bench/reload.sh [-n RELOADS] [--interval S] [-c CONNS] [--no-install]
# Needs root for apt-get when haproxy/nginx are missing. Only 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RELOADS=40
INTERVAL=0.25
CONNS=20
INSTALL=1
PORT_BASE=18300
while [ "$#" -gt 0 ]; do
    case "$1" in
    -n) RELOADS=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    -c) CONNS=$2; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

say() { printf 'reload-bench: %s\n' "$*" >&2; }

if [ "$INSTALL" = 1 ]; then
    missing=()
    command -v haproxy >/dev/null || missing+=(haproxy)
    command -v nginx >/dev/null || missing+=(nginx)
    command -v socat >/dev/null || missing+=(socat)
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
    fi
fi
for b in ringproxy ringload ringproxy-demo-backend; do
    if [ ! -x "$ROOT/target/release/$b" ]; then
        (cd "$ROOT" && cargo build --release --bins)
        break
    fi
done
RP=$ROOT/target/release/ringproxy
RL=$ROOT/target/release/ringload

OUT=$ROOT/bench/out/reload-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

FE=$PORT_BASE
S1=$((PORT_BASE + 1)) S2=$((PORT_BASE + 2)) S3=$((PORT_BASE + 3))
timeout -k 2 3600 taskset -c 0 "$ROOT/target/release/ringproxy-demo-backend" \
    --listen 127.0.0.1:$S1 --name s1 --listen 127.0.0.1:$S2 --name s2 \
    --listen 127.0.0.1:$S3 --name s3 >"$OUT/backend.log" 2>&1 &
PIDS+=($!)
sleep 0.3

# haproxy_cfg A|B, ringproxy's being the same language.
hap_cfg() {
    local which=$1 api=$2 expose=$3 servers timeout
    if [ "$which" = A ]; then
        servers="    server s1 127.0.0.1:$S1
    server s2 127.0.0.1:$S2"
        timeout=30s
    else
        servers="    server s2 127.0.0.1:$S2
    server s3 127.0.0.1:$S3"
        timeout=31s
    fi
    cat <<EOF
global
    nbthread 1
    maxconn 9000
    stats socket $api level admin $expose
defaults
    mode http
    timeout connect 5s
    timeout client $timeout
    timeout server $timeout
    http-reuse always
listen web
    bind 127.0.0.1:$FE
$servers
EOF
}

nginx_cfg() {
    local which=$1 servers
    if [ "$which" = A ]; then
        servers="server 127.0.0.1:$S1; server 127.0.0.1:$S2;"
    else
        servers="server 127.0.0.1:$S2; server 127.0.0.1:$S3;"
    fi
    cat <<EOF
worker_processes 1;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 20000; }
http {
    access_log off;
    upstream app { $servers keepalive 64; }
    server {
        listen 127.0.0.1:$FE reuseport;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}

# ringload for the whole reload loop; prints its JSON file.
load_start() {
    local mode=$1 json=$2 extra=()
    [ "$mode" = close ] && extra=(--close)
    taskset -c 0 "$RL" http --url "http://127.0.0.1:$FE/" -c "$CONNS" -d 1h --quiet \
        --json "$json" "${extra[@]}" >"$json.out" 2>&1 &
    LOAD=$!
}

# reload_loop NAME CFG_A CFG_B LIVE_CFG SIGNAL PID
reload_loop() {
    local name=$1 a=$2 b=$3 live=$4 sig=$5 pid=$6 i
    sleep 1
    for ((i = 1; i <= RELOADS; i++)); do
        if ((i % 2)); then cp "$b" "$live"; else cp "$a" "$live"; fi
        if [ "$name" = ringproxy ]; then
            local before t0 t1 n
            before=$(echo "show info" | socat - "unix-connect:$OUT/rp.sock" | awk -F': ' '$1=="Reloads"{print $2}')
            t0=$(date +%s%N)
            kill -"$sig" "$pid"
            while :; do
                n=$(echo "show info" | socat - "unix-connect:$OUT/rp.sock" | awk -F': ' '$1=="Reloads"{print $2}')
                [ "${n:-0}" -gt "$before" ] && break
            done
            t1=$(date +%s%N)
            echo $(((t1 - t0) / 1000)) >>"$OUT/rp-reload-us.txt"
        elif [ "$name" = ringproxy-x ]; then
            # Binary upgrade: a new process takes the sockets over and
            # stops the running one (-sf); wait until it answers the API.
            taskset -c 1 "$RP" -f "$live" -x "$OUT/rpx.sock" -sf "$pid" \
                >>"$OUT/$name-upgrades.log" 2>&1 &
            local new=$! got=""
            PIDS+=("$new")
            while [ "$got" != "$new" ]; do
                got=$(echo "show info" | socat - "unix-connect:$OUT/rpx.sock" 2>/dev/null |
                    awk -F': ' '$1=="Pid"{print $2}')
            done
            pid=$new
        else
            kill -"$sig" "$pid"
        fi
        sleep "$INTERVAL"
    done
    sleep 1
    LAST_PID=$pid
}

num() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"; }

ROWS=()
run_one() {
    local name=$1 mode=$2 json=$OUT/$1-$2.json
    local a=$OUT/$name-A.cfg b=$OUT/$name-B.cfg live=$OUT/$name-live.cfg pid sig
    # Configurations A and B, the command, and the reload signal (none for
    # ringproxy-x: reload_loop starts a successor instead).
    local cmd
    case $name in
    ringproxy-x)
        for v in A B; do hap_cfg $v "$OUT/rpx.sock" "expose-fd listeners" >"$OUT/$name-$v.cfg"; done
        cmd=("$RP" -f "$live") sig=USR1
        ;;
    ringproxy)
        for v in A B; do hap_cfg $v "$OUT/rp.sock" "" >"$OUT/$name-$v.cfg"; done
        cmd=("$RP" -f "$live") sig=HUP
        ;;
    haproxy)
        for v in A B; do hap_cfg $v "$OUT/hap.sock" "expose-fd listeners" >"$OUT/$name-$v.cfg"; done
        cmd=(haproxy -W -db -f "$live") sig=USR2
        ;;
    nginx)
        for v in A B; do nginx_cfg $v >"$OUT/$name-$v.cfg"; done
        cmd=(nginx -c "$live" -g 'daemon off;') sig=HUP
        ;;
    esac
    cp "$a" "$live"
    timeout -k 2 600 taskset -c 1 "${cmd[@]}" >"$OUT/$name-$mode.log" 2>&1 &
    pid=$!
    # Signals go to the proxy (timeout would pass a SIGHUP on, then kill
    # the proxy 2 s later): the wrapper's child, which taskset exec'd.
    local wrap=$pid
    PIDS+=("$wrap")
    sleep 1
    pid=$(pgrep -P "$wrap" | head -n1)
    [ -n "$pid" ] || { say "$name did not start (see $OUT/$name-$mode.log)"; exit 1; }
    load_start "$mode" "$json"
    reload_loop "$name" "$a" "$b" "$live" "$sig" "$pid"
    kill -INT "$LOAD" 2>/dev/null || true
    wait "$LOAD" 2>/dev/null || true
    kill -TERM "$pid" "$LAST_PID" 2>/dev/null || true
    wait "$wrap" 2>/dev/null || true
    sleep 0.5
    local req rps conn rd st
    req=$(num "$json" "d['requests']")
    rps=$(num "$json" "round(d['rps'])")
    conn=$(num "$json" "d['errors']['connect']")
    rd=$(num "$json" "d['errors']['read']")
    st=$(num "$json" "d['errors']['status']")
    ROWS+=("| $name | $mode | $RELOADS | $req | $rps | $conn | $rd | $st |")
    say "$name $mode: $req requests, errors connect $conn read $rd status $st"
}

for mode in keepalive close; do
    for p in ringproxy ringproxy-x haproxy nginx; do
        run_one "$p" "$mode"
    done
done

{
    echo "bench/reload.sh -n $RELOADS --interval $INTERVAL -c $CONNS ($(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc), $(uname -r))"
    echo
    echo "| proxy | load | reloads | requests | req/s | connect errors | read errors (reset/EOF) | status errors |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    if [ -s "$OUT/rp-reload-us.txt" ]; then
        sort -n "$OUT/rp-reload-us.txt" | awk '{a[NR]=$1} END {printf "\nringproxy: signal to applied on every shard (includes one socat per poll): median %.1f ms, max %.1f ms over %d reloads\n", a[int((NR+1)/2)]/1000, a[NR]/1000, NR}'
    fi
} | tee "$OUT/table.md"
