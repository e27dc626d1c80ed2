#!/usr/bin/env bash
# ringproxy vs HAProxy vs nginx (and direct), on loopback, pinned CPUs.
# See bench/README.md. Usage: bench/compare.sh [--quick | --smoke] [options]
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=lib/procs.sh
source "$BENCH_DIR/lib/procs.sh"
REPORT=(python3 "$BENCH_DIR/report.py")
ORIG_CMD=$(printf '%q ' "$0" "$@")
ORIG_CMD=${ORIG_CMD% }

usage() {
    cat <<'EOF'
Usage: bench/compare.sh [--quick | --smoke] [options]

Profiles (default: the full suite, about 20 minutes on 2 cores for both modes):
  --quick               1 run per point, 2 s per run, idle N = 2000 (~5 min)
  --smoke               CI check (~2 min): 1 run, 1 s, idle N = 200, no
                        iperf3 / 1 MiB rows, stick rows stick_ka64 and
                        stick_close64_keys only, wrk row in the first mode only;
                        exits non-zero if a proxy fails to start or a
                        workload moves nothing or counts errors. Never
                        judges ratios.
Options:
  --runs N              runs per point, median reported (default 3)
  --duration S          seconds per run (default 4)
  --threads N           proxy threads/workers, same for every proxy (default 1)
  --modes LIST          proxy modes to run, in this order (default tcp,http)
  --proxies LIST        targets (default ringproxy,haproxy,nginx,direct)
  --workloads LIST      default ka64,close64,ka16k,ka1m,tcp_down,tcp_up,iperf3,rate64,
                        stick_ka64,stick_close64,stick_close64_keys
                        (HTTP mode runs the HTTP ones: tcp_down, tcp_up and
                        iperf3 are raw TCP and run in TCP mode only; the
                        stick_* rows run in HTTP mode only)
  --only stick          only the stick-table rows: --modes http (unless
                        given), --workloads stick_ka64,stick_close64,
                        stick_close64_keys (unless given), --no-sanity,
                        --no-idle, and 9 runs per point in the full
                        profile (unless --runs): the report judges the
                        stick rows on the median of the run pairs
  --stick-keys N        source addresses (table keys) of stick_close64_keys
                        (default 10000, at most 64000)
  --no-sanity           skip the "ringload vs wrk" row
  --no-idle             skip the idle-connection memory measurement
  --idle-conns N        idle keep-alive connections (default 10000, capped by
                        the fd limit: min(N, (ulimit -Hn - 500) / 2))
  --rate R              fixed rate for rate64 (default, TCP mode: 80% of the
                        slowest proxy's measured keep-alive 64 B peak; HTTP
                        mode: 80% of the slower peer's, HAProxy or nginx)
  --proxy-cpus LIST     CPUs for the proxies (default 1)
  --load-cpus LIST      CPUs for the load generator (default 0)
  --backend-cpus LIST   CPUs for the backends (default: --load-cpus)
  --gen-threads N       load generator threads (default 1)
  --port-base P         ports P..P+35 on 127.0.0.1 (default 18000)
  --ringload PATH       load generator binary (default target/release/ringload)
  --ringproxy PATH      ringproxy binary (default target/release/ringproxy)
  --no-build            never run cargo build (fail if binaries are missing)
  --no-install          never run apt-get
  --out DIR             output directory (default bench/out/<timestamp>)
  --max-time S          watchdog: stop everything after S seconds (default
                        per mode: full 1500, quick 300, smoke 150)
EOF
}

die() {
    echo "compare.sh: $*" >&2
    exit 2
}

# ---------------------------------------------------------------- options
PROFILE=full
RUNS="" DURATION="" IDLE_N="" MAX_S=""
THREADS=1
MODES=""
ONLY=""
STICK_KEYS=10000
TARGETS_CSV=ringproxy,haproxy,nginx,direct
WORKLOADS_CSV=""
SANITY=1 IDLE=1
FIXED_RATE=""
PROXY_CPUS=1 LOAD_CPUS=0 BACKEND_CPUS=""
GEN_THREADS=1
PORT_BASE=18000
RINGLOAD="" RINGPROXY=""
NO_BUILD=0 NO_INSTALL=0
OUT=""
while (($#)); do
    case $1 in
    --quick) PROFILE=quick ;;
    --smoke) PROFILE=smoke ;;
    --runs) RUNS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --modes) MODES=$2; shift ;;
    --proxies) TARGETS_CSV=$2; shift ;;
    --workloads) WORKLOADS_CSV=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --stick-keys) STICK_KEYS=$2; shift ;;
    --no-sanity) SANITY=0 ;;
    --no-idle) IDLE=0 ;;
    --idle-conns) IDLE_N=$2; shift ;;
    --rate) FIXED_RATE=$2; shift ;;
    --proxy-cpus) PROXY_CPUS=$2; shift ;;
    --load-cpus) LOAD_CPUS=$2; shift ;;
    --backend-cpus) BACKEND_CPUS=$2; shift ;;
    --gen-threads) GEN_THREADS=$2; shift ;;
    --port-base) PORT_BASE=$2; shift ;;
    --ringload) RINGLOAD=$2; shift ;;
    --ringproxy) RINGPROXY=$2; shift ;;
    --no-build) NO_BUILD=1 ;;
    --no-install) NO_INSTALL=1 ;;
    --out) OUT=$2; shift ;;
    --max-time) MAX_S=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
    esac
    shift || die "option needs a value"
done

case $ONLY in
"") ;;
stick)
    : "${MODES:=http}" "${WORKLOADS_CSV:=stick_ka64,stick_close64,stick_close64_keys}"
    # enough pairs for the report to judge on their median (report.py,
    # STICK_MIN_PAIRS): single 4 s runs on loopback vary by +-10%
    [[ $PROFILE == full ]] && : "${RUNS:=9}"
    SANITY=0 IDLE=0
    ;;
*) die "--only: 'stick' is the only choice, got '$ONLY'" ;;
esac
: "${MODES:=tcp,http}"
case $PROFILE in
full)
    : "${RUNS:=3}" "${DURATION:=4}" "${IDLE_N:=10000}"
    MAX_PER_MODE=1500
    : "${WORKLOADS_CSV:=ka64,close64,ka16k,ka1m,tcp_down,tcp_up,iperf3,rate64,stick_ka64,stick_close64,stick_close64_keys}"
    IDLE_RUNS=$RUNS
    ;;
quick)
    : "${RUNS:=1}" "${DURATION:=2}" "${IDLE_N:=2000}"
    MAX_PER_MODE=300
    : "${WORKLOADS_CSV:=ka64,close64,ka16k,ka1m,tcp_down,tcp_up,iperf3,rate64,stick_ka64,stick_close64,stick_close64_keys}"
    IDLE_RUNS=1
    ;;
smoke)
    : "${RUNS:=1}" "${DURATION:=1}" "${IDLE_N:=200}"
    MAX_PER_MODE=150
    : "${WORKLOADS_CSV:=ka64,close64,ka16k,tcp_down,tcp_up,rate64,stick_ka64,stick_close64_keys}"
    IDLE_RUNS=1
    ;;
esac
: "${BACKEND_CPUS:=$LOAD_CPUS}"
IFS=',' read -ra MODE_LIST <<<"$MODES"
((${#MODE_LIST[@]} > 0)) || die "--modes: an empty list"
: "${MAX_S:=$((MAX_PER_MODE * ${#MODE_LIST[@]}))}"
for v in RUNS DURATION THREADS IDLE_N GEN_THREADS PORT_BASE MAX_S STICK_KEYS; do
    [[ ${!v} =~ ^[0-9]+$ ]] && ((${!v} > 0)) || die "--${v,,}: a positive integer, got '${!v}'"
done
IFS=',' read -ra TARGETS <<<"$TARGETS_CSV"
IFS=',' read -ra WORKLOADS <<<"$WORKLOADS_CSV"
declare -A SEEN_MODE=()
for m in "${MODE_LIST[@]}"; do
    case $m in
    tcp | http) ;;
    *) die "unknown mode '$m' (tcp, http)" ;;
    esac
    [[ -n ${SEEN_MODE[$m]:-} ]] && die "--modes: '$m' given twice"
    SEEN_MODE[$m]=1
done
for t in "${TARGETS[@]}"; do
    case $t in ringproxy | haproxy | nginx | direct) ;; *) die "unknown proxy '$t'" ;; esac
done
for w in "${WORKLOADS[@]}"; do
    case $w in
    ka64 | close64 | ka16k | ka1m | tcp_down | tcp_up | iperf3 | rate64 | stick_ka64 | stick_close64 | stick_close64_keys) ;;
    *) die "unknown workload '$w'" ;;
    esac
done
((STICK_KEYS <= 64000)) || die "--stick-keys: at most 64000 (127.1.0.1 .. 127.1.255.250), got $STICK_KEYS"
PROXY_TARGETS=()
for t in "${TARGETS[@]}"; do [[ $t != direct ]] && PROXY_TARGETS+=("$t"); done

# -------------------------------------------------------- packages, build
export DEBIAN_FRONTEND=noninteractive
find_stream_module() {
    local f
    for f in /usr/lib/nginx/modules/ngx_stream_module.so /usr/share/nginx/modules/ngx_stream_module.so; do
        [[ -f $f ]] && { echo "$f"; return 0; }
    done
    f=$(dpkg -L libnginx-mod-stream 2>/dev/null | grep '/ngx_stream_module\.so$' | head -n1)
    [[ -n $f && -f $f ]] && { echo "$f"; return 0; }
    return 1
}
ensure_packages() {
    local missing=() need
    declare -A cmd_pkg=([haproxy]=haproxy [nginx]=nginx [wrk]=wrk [iperf3]=iperf3 [python3]=python3
        [taskset]=util-linux [pgrep]=procps [ss]=iproute2 [timeout]=coreutils)
    for need in "${!cmd_pkg[@]}"; do
        command -v "$need" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$need" >/dev/null 2>&1 ||
            missing+=("${cmd_pkg[$need]}")
    done
    find_stream_module >/dev/null || missing+=(libnginx-mod-stream)
    ((${#missing[@]} == 0)) && return 0
    if ((NO_INSTALL)); then die "missing packages (and --no-install): ${missing[*]}"; fi
    echo "installing: ${missing[*]}"
    local sudo=()
    (($(id -u) != 0)) && sudo=(sudo)
    timeout 600 "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 || echo "warning: apt-get update failed" >&2
    timeout 900 "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >"${TMPDIR:-/tmp}/compare-apt.log" 2>&1 ||
        { tail -n 20 "${TMPDIR:-/tmp}/compare-apt.log" >&2; die "apt-get install failed"; }
}
export PATH="$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin"
ensure_packages
NGINX_STREAM_MODULE=$(find_stream_module) || die "nginx stream module not found (package libnginx-mod-stream)"

RINGPROXY_DEFAULT="$REPO/target/release/ringproxy"
RINGLOAD_DEFAULT="$REPO/target/release/ringload"
is_stale() { # BIN: missing, or older than a Rust source / manifest of the crate
    [[ ! -x $1 ]] && return 0
    [[ -n $(find "$REPO" \( -path "$REPO/target" -o -path "$REPO/fuzz" -o -path "$REPO/bench" -o -path "$REPO/.git" \) -prune -o \
        \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -newer "$1" -print -quit 2>/dev/null) ]]
}
need_build=0
[[ -z $RINGPROXY ]] && is_stale "$RINGPROXY_DEFAULT" && need_build=1
[[ -z $RINGLOAD ]] && is_stale "$RINGLOAD_DEFAULT" && need_build=1
if ((need_build)); then
    if ((NO_BUILD)); then
        echo "note: binaries may be stale (--no-build)"
    else
        echo "building: cargo build --release --bins"
        (cd "$REPO" && timeout 1800 cargo build --release --bins) || die "cargo build --release --bins failed (--no-build runs the binaries already in target/release)"
    fi
fi
: "${RINGLOAD:=$RINGLOAD_DEFAULT}" "${RINGPROXY:=$RINGPROXY_DEFAULT}"
[[ -x $RINGPROXY ]] || die "no ringproxy binary at $RINGPROXY"
[[ -x $RINGLOAD ]] || die "no ringload binary at $RINGLOAD (build it with cargo build --release --bins, or pass --ringload PATH)"

# --------------------------------------------------------------- the run
HARD_NOFILE=$(ulimit -Hn)
[[ $HARD_NOFILE == unlimited ]] && HARD_NOFILE=1048576
ulimit -n "$HARD_NOFILE" || die "cannot raise the open files limit to $HARD_NOFILE"
NOFILE=$HARD_NOFILE
IDLE_CAP=$(((HARD_NOFILE - 500) / 2))
# Connection limit of every proxy: above the idle-connection count, within
# the fd limit (2 fds per proxied connection).
MAXCONN=$((IDLE_CAP + 50))
# HAProxy also needs 2 fds per splice pipe (default maxpipes = maxconn/4,
# which would not fit): give it the fds that are left.
HAPROXY_MAXPIPES=$(((HARD_NOFILE - 2 * MAXCONN - 64) / 2))
((HAPROXY_MAXPIPES > MAXCONN / 4)) && HAPROXY_MAXPIPES=$((MAXCONN / 4))
((HAPROXY_MAXPIPES < 16)) && HAPROXY_MAXPIPES=16
# nginx (HTTP mode): idle upstream connections cached per worker; above the
# generator's concurrent connections (50 per workload).
NGINX_UPSTREAM_KEEPALIVE=256
# Before an HTTP-kind run: wait up to DRAIN_S seconds until at most
# DRAIN_MAX connections are open to the backend (what the proxies' idle
# pools legitimately hold after keep-alive runs is far below it).
DRAIN_MAX=$((500 + NGINX_UPSTREAM_KEEPALIVE * THREADS))
DRAIN_S=15
# Stick rows: the rate-limited configuration is the plain HTTP one plus
# the lines of conf/stick-*.tmpl. Limits high enough never to trigger:
# every request pays the lookups and the checks, none is refused.
STICK_REQ_RATE_MAX=100000000 # requests per 10 s (ringproxy, HAProxy)
STICK_CONN_MAX=1000          # concurrent connections per source (50 used)
NGINX_STICK_RATE=100000000r/s
NGINX_STICK_BURST=1000000
IDLE_REQ=$IDLE_N
((IDLE_N > IDLE_CAP)) && IDLE_N=$IDLE_CAP
IDLE_NOTE="N = $IDLE_N (asked $IDLE_REQ; capped at (ulimit -Hn - 500) / 2 = ($HARD_NOFILE - 500) / 2 = $IDLE_CAP, since each proxied connection can cost the proxy 2 fds (TCP mode: client + server; HTTP mode: client + pooled server connection) and the hard fd limit here is $HARD_NOFILE)"
((IDLE_N < IDLE_REQ)) || IDLE_NOTE="N = $IDLE_N (fd cap (ulimit -Hn - 500) / 2 = $IDLE_CAP not reached)"

if [[ $(nproc) -lt 2 ]]; then
    echo "warning: 1 CPU: proxies, generator and backend all share CPU 0" >&2
    PROXY_CPUS=0 LOAD_CPUS=0 BACKEND_CPUS=0
fi

STAMP=$(date +%Y%m%d-%H%M%S)
: "${OUT:=$BENCH_DIR/out/$STAMP}"
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
RUN_DIR="$OUT/run"
mkdir -p "$RUN_DIR"/{logs,tmp,www,raw,conf}
SAFETY_S=$((MAX_S + 120)) # servers' own timeout: outlive the watchdog only a little

# Ports
BACKEND_HTTP_PORT=$PORT_BASE
BACKEND_BULK_PORT=$((PORT_BASE + 1))
BACKEND_IPERF_PORT=$((PORT_BASE + 2))
# NAME_st: the same proxy with the rate-limited configuration (stick rows,
# HTTP port only)
declare -A PORT_OFF=([ringproxy]=10 [haproxy]=20 [nginx]=30 [ringproxy_st]=15 [haproxy_st]=25 [nginx_st]=35)
port_for() { # TARGET KIND(http|bulk|iperf)
    local t=$1 k=$2 off
    if [[ $t == direct ]]; then
        case $k in http) echo "$BACKEND_HTTP_PORT" ;; bulk) echo "$BACKEND_BULK_PORT" ;; iperf) echo "$BACKEND_IPERF_PORT" ;; esac
        return
    fi
    off=${PORT_OFF[$t]}
    case $k in http) echo $((PORT_BASE + off)) ;; bulk) echo $((PORT_BASE + off + 1)) ;; iperf) echo $((PORT_BASE + off + 2)) ;; esac
}
for p in $BACKEND_HTTP_PORT $BACKEND_BULK_PORT $BACKEND_IPERF_PORT; do
    port_in_use "$p" && die "port $p is in use (use --port-base)"
done
for t in "${PROXY_TARGETS[@]}"; do
    for k in http bulk iperf; do
        p=$(port_for "$t" $k)
        port_in_use "$p" && die "port $p is in use (use --port-base)"
    done
    p=$(port_for "${t}_st" http)
    port_in_use "$p" && die "port $p is in use (use --port-base)"
done

WATCHDOG=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_client
    stop_all_servers
    if [[ -n $WATCHDOG ]]; then
        for k in $(pgrep -P "$WATCHDOG" 2>/dev/null); do kill -TERM "$k" 2>/dev/null; done
        kill -TERM "$WATCHDOG" 2>/dev/null
        wait "$WATCHDOG" 2>/dev/null
    fi
    rm -rf "$RUN_DIR/www" "$RUN_DIR/tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "compare.sh: interrupted" >&2; exit 130' INT TERM
(
    sleep "$MAX_S"
    echo "compare.sh: time limit of ${MAX_S}s reached: stopping" >&2
    kill -TERM $$
) &
WATCHDOG=$!

T_START=$SECONDS
echo "== ringproxy comparison: profile $PROFILE, $RUNS run(s) x ${DURATION}s, threads $THREADS, proxies on CPU $PROXY_CPUS, load+backend on CPU $LOAD_CPUS/$BACKEND_CPUS"
echo "== output: $OUT"

ver_haproxy=$(haproxy -v 2>/dev/null | awk 'NR==1 { print $3 }')
ver_nginx=$(nginx -v 2>&1 | sed -n 's|.*nginx/||p')
ver_ringproxy=$(timeout 5 "$RINGPROXY" -v 2>&1 | head -n1)
git_rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$REPO" diff --quiet HEAD -- 2>/dev/null || git_rev+="+dirty"
ver_ringload=$(timeout 5 "$RINGLOAD" --version 2>/dev/null | head -n1)
[[ -n $ver_ringload ]] || ver_ringload="(git $git_rev)"
ver_wrk=$(wrk -v 2>&1 | awk 'NR==1 { print $2 }')
ver_iperf3=$(iperf3 -v 2>/dev/null | awk 'NR==1 { print $2 }')
"${REPORT[@]}" meta --dir "$OUT" \
    "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "nproc=$(nproc)" "uname_r=$(uname -r)" \
    "cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
    "haproxy_version=$ver_haproxy" "nginx_version=$ver_nginx" "ringproxy_version=$ver_ringproxy (git $git_rev)" \
    "ringload_version=$ver_ringload" "wrk_version=$ver_wrk" "iperf3_version=$ver_iperf3" \
    "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)" \
    "command=$ORIG_CMD" "profile=$PROFILE" "runs=$RUNS" "duration_s=$DURATION" "threads=$THREADS" \
    "proxy_cpus=$PROXY_CPUS" "load_cpus=$LOAD_CPUS" "backend_cpus=$BACKEND_CPUS" "gen_threads=$GEN_THREADS" \
    "modes=$MODES" "modes_list[]=$MODES" "targets[]=$TARGETS_CSV" "workloads[]=$WORKLOADS_CSV" \
    "idle_note=$IDLE_NOTE" "nofile=$NOFILE" "maxconn=$MAXCONN" "haproxy_maxpipes=$HAPROXY_MAXPIPES" \
    "nginx_upstream_keepalive=$NGINX_UPSTREAM_KEEPALIVE" "drain_max=$DRAIN_MAX" "drain_s=$DRAIN_S" \
    "stick_req_rate_max=$STICK_REQ_RATE_MAX" "stick_conn_max=$STICK_CONN_MAX" "nginx_stick_rate=$NGINX_STICK_RATE" \
    "nginx_stick_burst=$NGINX_STICK_BURST" "stick_keys=$STICK_KEYS" || die "cannot write meta.json"

# ---------------------------------------------------------------- backends
head -c 64 /dev/zero | tr '\0' 'a' >"$RUN_DIR/www/64.bin"
head -c 16384 /dev/zero | tr '\0' 'b' >"$RUN_DIR/www/16k.bin"
head -c 1048576 /dev/zero | tr '\0' 'c' >"$RUN_DIR/www/1m.bin"

render() { # TEMPLATE OUTPUT KEY=VALUE...
    "${REPORT[@]}" render "$@" || die "cannot render $1"
}
COMMON_VARS=(
    "RUN_DIR=$RUN_DIR" "NOFILE=$NOFILE" "MAXCONN=$MAXCONN" "THREADS=$THREADS"
    "BACKEND_HTTP_PORT=$BACKEND_HTTP_PORT" "BACKEND_BULK_PORT=$BACKEND_BULK_PORT" "BACKEND_IPERF_PORT=$BACKEND_IPERF_PORT"
)
render "$BENCH_DIR/conf/backend-nginx.conf.tmpl" "$RUN_DIR/conf/backend-nginx.conf" "${COMMON_VARS[@]}" \
    "BACKEND_WORKERS=1" "BACKEND_CPU_AFFINITY=$(nginx_affinity 1 "$BACKEND_CPUS")"

startup_record() { # MODE TARGET ok|fail [ERROR]
    "${REPORT[@]}" append --file "$OUT/startup.jsonl" "mode=$1" "target=$2" "ok=$([[ $3 == ok ]] && echo true || echo false)" "error=${4:-}"
}
http_ok() { # PORT PATH: one GET, expects 200
    timeout 5 python3 - "$1" "$2" <<'EOF'
import sys, urllib.request
r = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=3)
body = r.read()
sys.exit(0 if r.status == 200 and body else 1)
EOF
}
http_codes() { # PORT PATH N: N GETs, one connection each; prints their statuses
    timeout 10 python3 - "$1" "$2" "$3" <<'EOF'
import sys, urllib.error, urllib.request
codes = []
for _ in range(int(sys.argv[3])):
    try:
        r = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=3)
        r.read()
        codes.append(str(r.status))
    except urllib.error.HTTPError as e:
        codes.append(str(e.code))
    except Exception as e:  # refused, reset, timeout
        codes.append(type(e).__name__)
print(" ".join(codes))
EOF
}

start_backend_nginx() {
    START_SEQ=$((START_SEQ + 1))
    start_server backend "$RUN_DIR/logs/backend-nginx-$START_SEQ.log" "$BACKEND_CPUS" \
        nginx -c "$RUN_DIR/conf/backend-nginx.conf" -p "$RUN_DIR" -g 'daemon off;' ||
        die "backend nginx did not start: $(tail -n 5 "$RUN_DIR/logs/backend-nginx-$START_SEQ.log")"
    wait_listen "$BACKEND_HTTP_PORT" 10 "${SRV_PID[backend]}" && http_ok "$BACKEND_HTTP_PORT" /64 ||
        die "backend nginx not serving: $(tail -n 5 "$RUN_DIR/logs/backend-nginx-$START_SEQ.log" "$RUN_DIR/logs/nginx-backend-error.log" 2>/dev/null)"
}

start_backends() {
    echo "-- starting backends (CPU $BACKEND_CPUS)"
    start_backend_nginx
    start_server bulk "$RUN_DIR/logs/bulk-server.log" "$BACKEND_CPUS" \
        "$RINGLOAD" bulk-server --listen "127.0.0.1:$BACKEND_BULK_PORT" -t 1 --cpu "$BACKEND_CPUS" ||
        die "ringload bulk-server did not start"
    wait_listen "$BACKEND_BULK_PORT" 10 "${SRV_PID[bulk]}" || die "ringload bulk-server not listening: $(tail -n 5 "$RUN_DIR/logs/bulk-server.log")"
    start_server iperf "$RUN_DIR/logs/iperf3-server.log" "$BACKEND_CPUS" \
        iperf3 -s -B 127.0.0.1 -p "$BACKEND_IPERF_PORT" || die "iperf3 -s did not start"
    wait_listen "$BACKEND_IPERF_PORT" 10 "${SRV_PID[iperf]}" || die "iperf3 -s not listening: $(tail -n 5 "$RUN_DIR/logs/iperf3-server.log")"
}

# ------------------------------------------------------------------ proxies
proxy_vars() { # NAME (a target, or TARGET_st)
    echo "PORT_HTTP=$(port_for "$1" http)"
    echo "PORT_BULK=$(port_for "${1%_st}" bulk)"
    echo "PORT_IPERF=$(port_for "${1%_st}" iperf)"
}

# stick_vars VARIANT: sets STICK_VARS, the template values for VARIANT:
# plain (no table), stick (the measured configuration), canary (the same
# with a request-rate limit of 0 for ringproxy and HAProxy, 1r/s burst 1
# for nginx, so that the first requests are refused: proof that the table
# counts requests, checked before a stick instance is started).
stick_vars() {
    local v=$1 note rate_max=$STICK_REQ_RATE_MAX nrate=$NGINX_STICK_RATE burst=$NGINX_STICK_BURST common part
    if [[ $v == plain ]]; then
        STICK_VARS=("STICK=    # (plain configuration: no stick table)"
            "NGINX_STICK_HTTP=    # (plain configuration: no limit_req / limit_conn)" "NGINX_STICK_LOCATION=")
        return
    fi
    note="these are the limits measured"
    if [[ $v == canary ]]; then
        rate_max=0 nrate=1r/s burst=1
        note="CANARY, not measured: a request-rate limit the first requests exceed, to check that the table counts"
    fi
    common=("STICK_NOTE=$note" "STICK_REQ_RATE_MAX=$rate_max" "STICK_CONN_MAX=$STICK_CONN_MAX"
        "NGINX_REQ_RATE=$nrate" "NGINX_REQ_BURST=$burst")
    part="$RUN_DIR/conf/$v-lines"
    render "$BENCH_DIR/conf/stick-haproxy.tmpl" "$part-haproxy.part" "${common[@]}"
    render "$BENCH_DIR/conf/stick-nginx-http.tmpl" "$part-nginx-http.part" "${common[@]}"
    render "$BENCH_DIR/conf/stick-nginx-location.tmpl" "$part-nginx-location.part" "${common[@]}"
    STICK_VARS=("STICK=$(<"$part-haproxy.part")" "NGINX_STICK_HTTP=$(<"$part-nginx-http.part")"
        "NGINX_STICK_LOCATION=$(<"$part-nginx-location.part")")
}

render_proxy_conf() { # TARGET MODE [VARIANT] -> prints the config path
    local t=$1 mode=$2 variant=${3:-plain} vars name=$1 suffix=""
    if [[ $variant != plain ]]; then
        name=${t}_st
        suffix=-$variant
    fi
    mapfile -t vars < <(proxy_vars "$name")
    stick_vars "$variant"
    case $t in
    ringproxy)
        render "$BENCH_DIR/conf/ringproxy-$mode.cfg.tmpl" "$RUN_DIR/conf/ringproxy-$mode$suffix.cfg" "${COMMON_VARS[@]}" "${vars[@]}" \
            "${STICK_VARS[@]}"
        echo "$RUN_DIR/conf/ringproxy-$mode$suffix.cfg"
        ;;
    haproxy)
        render "$BENCH_DIR/conf/haproxy-$mode.cfg.tmpl" "$RUN_DIR/conf/haproxy-$mode$suffix.cfg" "${COMMON_VARS[@]}" "${vars[@]}" \
            "HAPROXY_CPU_MAP=$(haproxy_cpu_map "$THREADS" "$PROXY_CPUS")" "HAPROXY_MAXPIPES=$HAPROXY_MAXPIPES" "${STICK_VARS[@]}"
        echo "$RUN_DIR/conf/haproxy-$mode$suffix.cfg"
        ;;
    nginx)
        # its own pid file: two nginx proxies (plain and stick) run at once
        render "$BENCH_DIR/conf/nginx-$mode.conf.tmpl" "$RUN_DIR/conf/nginx-$mode$suffix.conf" "${COMMON_VARS[@]}" "${vars[@]}" \
            "NGINX_STREAM_MODULE=$NGINX_STREAM_MODULE" "NGINX_CPU_AFFINITY=$(nginx_affinity "$THREADS" "$PROXY_CPUS")" \
            "NGINX_UPSTREAM_KEEPALIVE=$NGINX_UPSTREAM_KEEPALIVE" "NGINX_NAME=nginx-proxy$suffix" "${STICK_VARS[@]}"
        echo "$RUN_DIR/conf/nginx-$mode$suffix.conf"
        ;;
    esac
}

START_SEQ=0
# start_proxy TARGET MODE [VARIANT]: 0 when it serves GET /64 through its
# http port (and, in TCP mode, listens on its bulk and iperf3 ports too).
# VARIANT (HTTP mode): plain (default, server name TARGET), stick or canary
# (server name TARGET_st, on its own port; see stick_vars); a canary must
# refuse a request with 429 among its first 4 (then it is stopped).
start_proxy() {
    local t=$1 mode=$2 variant=${3:-plain} conf log port name=$1
    [[ $variant != plain ]] && name=${t}_st
    START_SEQ=$((START_SEQ + 1))
    log="$RUN_DIR/logs/$name-$mode-$variant-$START_SEQ.log"
    conf=$(render_proxy_conf "$t" "$mode" "$variant")
    port=$(port_for "$name" http)
    case $t in
    ringproxy)
        # check first: a config error is reported as such
        if ! timeout 10 "$RINGPROXY" -c -f "$conf" >"$log" 2>&1; then
            PROXY_ERR="config rejected: $(tail -n 3 "$log" | tr '\n' ' ')"
            return 1
        fi
        start_server "$name" "$log" "$PROXY_CPUS" "$RINGPROXY" -f "$conf" || { PROXY_ERR="exited at once: $(tail -n 3 "$log" | tr '\n' ' ')"; return 1; }
        if ! wait_log_line "$log" "ringproxy ready" 15 "${SRV_PID[$name]}"; then
            PROXY_ERR="no 'ringproxy ready' line within 15 s: $(tail -n 3 "$log" | tr '\n' ' ')"
            return 1
        fi
        ;;
    haproxy)
        if ! timeout 10 haproxy -c -q -f "$conf" >"$log" 2>&1; then
            PROXY_ERR="config rejected: $(tail -n 3 "$log" | tr '\n' ' ')"
            return 1
        fi
        start_server "$name" "$log" "$PROXY_CPUS" haproxy -db -f "$conf" || { PROXY_ERR="exited at once: $(tail -n 3 "$log" | tr '\n' ' ')"; return 1; }
        ;;
    nginx)
        if ! timeout 10 nginx -t -q -c "$conf" -p "$RUN_DIR" -g 'daemon off;' >"$log" 2>&1; then
            PROXY_ERR="config rejected: $(tail -n 3 "$log" | tr '\n' ' ')"
            return 1
        fi
        start_server "$name" "$log" "$PROXY_CPUS" nginx -c "$conf" -p "$RUN_DIR" -g 'daemon off;' || { PROXY_ERR="exited at once: $(tail -n 3 "$log" | tr '\n' ' ')"; return 1; }
        ;;
    esac
    local pid=${SRV_PID[$name]}
    if ! wait_listen "$port" 15 "$pid" || { [[ $mode == tcp ]] && { ! wait_listen "$(port_for "$t" bulk)" 5 "$pid" ||
        ! wait_listen "$(port_for "$t" iperf)" 5 "$pid"; }; }; then
        PROXY_ERR="not listening (within 15 s): $(tail -n 3 "$log" | tr '\n' ' ')"
        return 1
    fi
    if [[ $variant == canary ]]; then
        local codes
        codes=$(http_codes "$port" /64 4)
        CANARY_CODES=$codes
        if [[ " $codes " != *" 429 "* ]]; then
            PROXY_ERR="canary: the table does not count: no 429 among 4 requests with a request-rate limit of 0 (statuses: $codes); see $conf"
            return 1
        fi
    elif ! http_ok "$port" /64; then
        PROXY_ERR="GET /64 through it failed: $(tail -n 3 "$log" | tr '\n' ' ')"
        return 1
    fi
    server_alive "$name" || { PROXY_ERR="exited: $(tail -n 3 "$log" | tr '\n' ' ')"; return 1; }
    return 0
}

# ---------------------------------------------------------------- workloads
RATE=""
# mode_runs MODE WORKLOAD: 0 when the workload applies to that mode (the raw
# TCP bulk workloads have no HTTP-mode form).
mode_runs() {
    case $2 in stick_*) [[ $1 == http ]]; return ;; esac
    [[ $1 == tcp ]] && return 0
    case $2 in tcp_down | tcp_up | iperf3) return 1 ;; esac
    return 0
}

# workload_spec NAME: sets WL_KIND (http|tcp|iperf), WL_PATH, WL_BODY (body
# bytes of each response), WL_CONNS, WL_ARGS, WL_ENV (a command prefix for
# the load generator: env VAR=...)
workload_spec() {
    WL_ARGS=() WL_ENV=()
    WL_PATH="" WL_CONNS=50 WL_BODY=0
    case $1 in
    ka64 | sanity | stick_ka64) WL_KIND=http WL_PATH=/64 WL_BODY=64 ;;
    close64 | stick_close64) WL_KIND=http WL_PATH=/64 WL_BODY=64 WL_ARGS=(--close) ;;
    stick_close64_keys)
        # every connection from the next of STICK_KEYS source addresses
        WL_KIND=http WL_PATH=/64 WL_BODY=64 WL_ARGS=(--close)
        WL_ENV=(env "LD_PRELOAD=$SRCADDR_SO" "RP_SRC_KEYS=$STICK_KEYS")
        ;;
    ka16k) WL_KIND=http WL_PATH=/16k WL_BODY=16384 ;;
    ka1m) WL_KIND=http WL_PATH=/1m WL_BODY=1048576 WL_CONNS=8 ;;
    rate64) WL_KIND=http WL_PATH=/64 WL_BODY=64 WL_ARGS=(--rate "$RATE") ;;
    tcp_down) WL_KIND=tcp WL_CONNS=4 WL_ARGS=(--direction down) ;;
    tcp_up) WL_KIND=tcp WL_CONNS=4 WL_ARGS=(--direction up) ;;
    iperf3) WL_KIND=iperf WL_CONNS=1 ;;
    esac
}

backend_of_kind() { case $1 in http) echo backend ;; tcp) echo bulk ;; iperf) echo iperf ;; esac; }

# run_point MODE WORKLOAD TARGET RUN [TOOL]  (TARGET: a target, or
# TARGET_st, its rate-limited instance)
run_point() {
    local mode=$1 wl=$2 t=$3 run=$4 tool=${5:-ringload}
    workload_spec "$wl"
    local kind=$WL_KIND port bname raw cmd=() rc=0 c0 c1 b0 b1 t0 t1 limit
    local ptarget=$t
    [[ $t == direct ]] && ptarget=""
    bname=$(backend_of_kind "$kind")
    case $kind in
    http) port=$(port_for "$t" http) ;;
    tcp) port=$(port_for "$t" bulk) ;;
    iperf) port=$(port_for "$t" iperf) ;;
    esac
    raw="$RUN_DIR/raw/$mode-$wl-$t-$tool-$run"
    limit=$((DURATION + 20))
    case $tool in
    ringload)
        if [[ $kind == http ]]; then
            cmd=("${WL_ENV[@]}" "$RINGLOAD" http --url "http://127.0.0.1:$port$WL_PATH" -c "$WL_CONNS" -t "$GEN_THREADS" -d "${DURATION}s"
                --warmup 0s --timeout 5s "${WL_ARGS[@]}" --json "$raw.json" --cpu "$LOAD_CPUS" --quiet)
        else
            cmd=("$RINGLOAD" tcp --addr "127.0.0.1:$port" -c "$WL_CONNS" -t "$GEN_THREADS" -d "${DURATION}s"
                "${WL_ARGS[@]}" --json "$raw.json" --cpu "$LOAD_CPUS" --quiet)
        fi
        ;;
    wrk)
        cmd=(wrk -t "$GEN_THREADS" -c "$WL_CONNS" -d "${DURATION}s" --latency --timeout 5s "http://127.0.0.1:$port$WL_PATH")
        ;;
    iperf3)
        cmd=(iperf3 -c 127.0.0.1 -p "$port" -t "$DURATION" -J --connect-timeout 3000)
        ;;
    esac
    printf -- '- %-4s %-9s %-12s run %d/%d (%s)\n' "$mode" "$wl" "$t" "$run" "$RUNS" "$tool"
    if [[ -n $ptarget ]] && ! server_alive "$ptarget"; then
        "${REPORT[@]}" append --file "$OUT/runs.jsonl" "mode=$mode" "workload=$wl" "target=$t" "run=$run" "tool=$tool" \
            "ok=false" "error=$t is not running"
        echo "  FAILED: $t is not running"
        return
    fi
    # Every target starts from the same state: connections another
    # target left open to the backend (idle server connections of a
    # proxy's pool, e.g. after connection-per-request) are given time to
    # close first, so that they do not load the backend or use up
    # ephemeral ports during this run. Recorded in the run's JSON.
    local drain=(0 0 0)
    if [[ $kind == http ]]; then
        read -ra drain <<<"$(wait_drain "$BACKEND_HTTP_PORT" "$DRAIN_MAX" "$DRAIN_S")"
        if ((drain[0] > DRAIN_MAX)); then
            echo "  waited ${drain[2]} s for connections left open to the backend: ${drain[0]} -> ${drain[1]}"
        fi
    fi
    c0=-1 c1=-1
    [[ -n $ptarget ]] && c0=$(cpu_ticks "$ptarget")
    b0=$(cpu_ticks "$bname")
    t0=$(date +%s.%N)
    if [[ $tool == ringload ]]; then
        run_bounded "$limit" taskset -c "$LOAD_CPUS" "${cmd[@]}" >"$raw.out" 2>"$raw.err" || rc=$?
    else
        run_bounded "$limit" taskset -c "$LOAD_CPUS" "${cmd[@]}" >"$raw.json" 2>"$raw.err" || rc=$?
    fi
    t1=$(date +%s.%N)
    [[ -n $ptarget ]] && c1=$(cpu_ticks "$ptarget")
    b1=$(cpu_ticks "$bname")
    local rkind=http
    [[ $kind != http ]] && rkind=tcp
    "${REPORT[@]}" record --runs "$OUT/runs.jsonl" --mode "$mode" --workload "$wl" --kind "$rkind" --target "$t" \
        --run "$run" --tool "$tool" --file "$raw.json" --rc "$rc" --wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        --cpu0 "$c0" --cpu1 "$c1" --bcpu0 "$b0" --bcpu1 "$b1" --body-bytes "$WL_BODY" \
        --backend-conns-before "${drain[0]}" --backend-conns-at-start "${drain[1]}" --drain-wait "${drain[2]}" --command "${cmd[*]}"
    if ((rc != 0)) && [[ -s $raw.err ]]; then
        sed 's/^/    /' "$raw.err" | tail -n 3
    fi
}

# The targets in turn, run by run, starting one further each run.
rotated_targets() { # RUN -> targets, rotated by RUN-1, among those running
    local run=$1 n=${#ACTIVE[@]} i
    for ((i = 0; i < n; i++)); do
        echo "${ACTIVE[(i + run - 1) % n]}"
    done
}

run_workload() { # MODE WORKLOAD
    local mode=$1 wl=$2 run t
    if [[ $wl == rate64 ]]; then
        if [[ -n $FIXED_RATE ]]; then
            RATE=$FIXED_RATE
            RATE_NOTE="$RATE req/s (--rate)"
        else
            # TCP mode: the slowest proxy, so that every proxy is below
            # saturation; HTTP mode: the slower peer (the issue's target:
            # ringproxy's p99 at that rate against the better peer's).
            local basis=()
            [[ $mode == http ]] && basis=(--peers "haproxy,nginx")
            local rate_basis=""
            read -r RATE rate_basis < <("${REPORT[@]}" rate --runs "$OUT/runs.jsonl" --mode "$mode" --workload ka64 --fraction 0.8 "${basis[@]}")
            if [[ -z $RATE || $RATE == 0 ]]; then
                echo "-- rate64 skipped: no keep-alive 64 B peak measured in $mode mode (run ka64 first, or pass --rate)"
                return
            fi
            RATE_NOTE="$RATE req/s = 80% of the median keep-alive 64 B peak of $rate_basis in this run"
        fi
        "${REPORT[@]}" meta --dir "$OUT" "rate_note_$mode=$RATE_NOTE"
        echo "-- fixed rate: $RATE_NOTE"
    fi
    for ((run = 1; run <= RUNS; run++)); do
        while read -r t; do
            if [[ $wl == iperf3 ]]; then
                run_point "$mode" "$wl" "$t" "$run" iperf3
            else
                run_point "$mode" "$wl" "$t" "$run" ringload
            fi
        done < <(rotated_targets "$run")
    done
}

# ------------------------------------------------------------ stick rows
# The proxies whose rate-limited instance (TARGET_st) runs in this mode.
STICK_ACTIVE=()
SRCADDR_SO=""
SRCADDR_NOTE=""

# build_srcaddr: the LD_PRELOAD shim of stick_close64_keys (lib/srcaddr.c),
# built with the system C compiler into the run directory.
build_srcaddr() {
    [[ -n $SRCADDR_SO || -n $SRCADDR_NOTE ]] && return
    local cc
    cc=$(command -v cc || command -v gcc || command -v clang)
    if [[ -z $cc ]]; then
        SRCADDR_NOTE="stick_close64_keys skipped: no C compiler (cc) for bench/lib/srcaddr.c"
    elif ! "$cc" -O2 -shared -fPIC -o "$RUN_DIR/srcaddr.so" "$BENCH_DIR/lib/srcaddr.c" -ldl >"$RUN_DIR/logs/srcaddr-cc.log" 2>&1; then
        SRCADDR_NOTE="stick_close64_keys skipped: bench/lib/srcaddr.c did not build ($(tail -n 2 "$RUN_DIR/logs/srcaddr-cc.log" | tr '\n' ' '))"
    else
        SRCADDR_SO="$RUN_DIR/srcaddr.so"
    fi
    [[ -n $SRCADDR_NOTE ]] && { echo "-- $SRCADDR_NOTE"; "${REPORT[@]}" meta --dir "$OUT" "stick_keys_note=$SRCADDR_NOTE"; }
}

# start_stick MODE: for each running proxy, a canary (the table must
# count: see stick_vars), then its rate-limited instance, next to the plain
# one, on the same CPUs (an idle proxy costs no CPU; the two are never
# loaded at once).
start_stick() {
    local mode=$1 t
    STICK_ACTIVE=()
    for t in "${ACTIVE[@]}"; do
        [[ $t == direct ]] && continue
        echo "-- starting $t with the rate-limited configuration (canary first)"
        PROXY_ERR="" CANARY_CODES=""
        if ! start_proxy "$t" "$mode" canary; then
            echo "  FAILED: $t (canary): $PROXY_ERR" >&2
            startup_record "$mode" "${t}_st" fail "$PROXY_ERR"
            stop_server "${t}_st"
            continue
        fi
        echo "  canary: statuses of 4 requests with a rate limit of 0: $CANARY_CODES"
        "${REPORT[@]}" meta --dir "$OUT" "stick_canary_${mode}_$t=$CANARY_CODES"
        stop_server "${t}_st"
        if start_proxy "$t" "$mode" stick; then
            startup_record "$mode" "${t}_st" ok
            STICK_ACTIVE+=("$t")
        else
            echo "  FAILED: $t (rate-limited configuration): $PROXY_ERR" >&2
            startup_record "$mode" "${t}_st" fail "$PROXY_ERR"
            stop_server "${t}_st"
        fi
    done
}

stop_stick() {
    local t
    for t in "${STICK_ACTIVE[@]}"; do stop_server "${t}_st"; done
    STICK_ACTIVE=()
}

# run_stick_workload MODE WORKLOAD: each proxy without tables (its plain
# instance) and with them (TARGET_st), back to back; the proxies in turn,
# starting one further each run; which of the two goes first alternates
# from proxy to proxy and from run to run.
run_stick_workload() {
    local mode=$1 wl=$2 run i t order
    if [[ $wl == stick_close64_keys ]]; then
        build_srcaddr
        [[ -n $SRCADDR_SO ]] || return
    fi
    local n=${#STICK_ACTIVE[@]}
    ((n > 0)) || { echo "-- $wl skipped: no proxy runs with the rate-limited configuration"; return; }
    for ((run = 1; run <= RUNS; run++)); do
        for ((i = 0; i < n; i++)); do
            t=${STICK_ACTIVE[(i + run - 1) % n]}
            if (((i + run) % 2)); then order=("${t}_st" "$t"); else order=("$t" "${t}_st"); fi
            run_point "$mode" "$wl" "${order[0]}" "$run" ringload
            run_point "$mode" "$wl" "${order[1]}" "$run" ringload
        done
    done
}

run_sanity() { # MODE: ringload vs wrk against HAProxy, keep-alive 64 B
    local mode=$1 run
    workload_spec ka64
    echo "-- ringload vs wrk (HAProxy, keep-alive 64 B, -t $GEN_THREADS -c $WL_CONNS -d ${DURATION}s)"
    for ((run = 1; run <= RUNS; run++)); do
        if ((run % 2)); then
            run_point "$mode" sanity haproxy "$run" ringload
            run_point "$mode" sanity haproxy "$run" wrk
        else
            run_point "$mode" sanity haproxy "$run" wrk
            run_point "$mode" sanity haproxy "$run" ringload
        fi
    done
}

# ---------------------------------------------------------- idle memory
idle_measure() { # MODE TARGET RUN
    local mode=$1 t=$2 run=$3 name=$2 port rss0 rss1 rc=0 ready=0 raw i
    [[ $t == direct ]] && name=backend
    port=$(port_for "$t" http)
    raw="$RUN_DIR/raw/$mode-idle-$t-$run"
    printf -- '- %-4s idle      %-10s run %d/%d (%d keep-alive conns)\n' "$mode" "$t" "$run" "$IDLE_RUNS" "$IDLE_N"
    if [[ $t == direct ]]; then
        # a fresh backend, so that its baseline is not the workloads' heap
        stop_server backend
        start_backend_nginx
    else
        if ! start_proxy "$t" "$mode"; then
            stop_server "$t"
            "${REPORT[@]}" idle --runs "$OUT/runs.jsonl" --mode "$mode" --target "$t" --run "$run" --conns "$IDLE_N" \
                --rss0 0 --rss1 0 --error "$t did not start: $PROXY_ERR"
            return
        fi
    fi
    # Warm-up, so that one-time allocations are in the baseline.
    run_bounded 20 taskset -c "$LOAD_CPUS" "$RINGLOAD" http --url "http://127.0.0.1:$port/64" -c 10 -t 1 -n 2000 \
        --warmup 0s --timeout 5s --quiet --json "$raw-warmup.json" >/dev/null 2>&1
    sleep 0.5
    rss0=$(status_kb "$name" VmRSS)
    rm -f "$raw.ready"
    local hold=$((3 + IDLE_N / 2000))
    [[ $PROFILE == smoke ]] && hold=1
    timeout -k 3 $((60 + hold + IDLE_N / 200)) taskset -c "$LOAD_CPUS" "$RINGLOAD" idle --url "http://127.0.0.1:$port/64" \
        -c "$IDLE_N" --hold "${hold}s" --ready-file "$raw.ready" --json "$raw.json" >"$raw.out" 2>"$raw.err" &
    CLIENT_PID=$!
    for ((i = 0; i < 600 + IDLE_N / 20; i++)); do
        [[ -e $raw.ready ]] && { ready=1; break; }
        kill -0 "$CLIENT_PID" 2>/dev/null || break
        sleep 0.1
    done
    rss1=0
    if ((ready)); then
        sleep 0.5
        rss1=$(status_kb "$name" VmRSS)
    fi
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=""
    local count
    count=$(head -c 32 "$raw.ready" 2>/dev/null | tr -cd '0-9')
    "${REPORT[@]}" idle --runs "$OUT/runs.jsonl" --mode "$mode" --target "$t" --run "$run" --conns "$IDLE_N" \
        --rss0 "$rss0" --rss1 "$rss1" --ready "$ready" --ready-count "${count:--1}" --rc "$rc" --file "$raw.json"
    [[ $t != direct ]] && stop_server "$t"
}

# -------------------------------------------------------------------- main
start_backends
for mode in "${MODE_LIST[@]}"; do
    echo "== mode $mode"
    ACTIVE=()
    for t in "${TARGETS[@]}"; do
        if [[ $t == direct ]]; then
            ACTIVE+=(direct)
            continue
        fi
        echo "-- starting $t ($mode mode, $THREADS thread(s), CPU $PROXY_CPUS)"
        PROXY_ERR=""
        if start_proxy "$t" "$mode"; then
            startup_record "$mode" "$t" ok
            ACTIVE+=("$t")
        else
            echo "  FAILED: $t: $PROXY_ERR" >&2
            startup_record "$mode" "$t" fail "$PROXY_ERR"
            stop_server "$t"
        fi
    done
    stick_started=0
    for wl in "${WORKLOADS[@]}"; do
        mode_runs "$mode" "$wl" || continue
        if [[ $wl == stick_* ]]; then
            if ((!stick_started)); then
                start_stick "$mode"
                stick_started=1
            fi
            run_stick_workload "$mode" "$wl"
        else
            run_workload "$mode" "$wl"
        fi
    done
    stop_stick
    # --smoke: the wrk row once (first mode), to keep CI short
    if ((SANITY)) && [[ $PROFILE != smoke || $mode == "${MODE_LIST[0]}" ]]; then
        if server_alive haproxy; then
            run_sanity "$mode"
        else
            echo "-- ringload vs wrk skipped: HAProxy is not running"
        fi
    fi
    for t in "${ACTIVE[@]}"; do
        name=$t
        [[ $t == direct ]] && name=backend
        "${REPORT[@]}" append --file "$OUT/peak_rss.jsonl" "mode=$mode" "target=$t" "hwm_kb=$(status_kb "$name" VmHWM)"
        [[ $t != direct ]] && stop_server "$t"
    done
    if ((IDLE)); then
        echo "-- memory per idle connection: $IDLE_NOTE"
        for ((run = 1; run <= IDLE_RUNS; run++)); do
            for t in "${TARGETS[@]}"; do
                idle_measure "$mode" "$t" "$run"
            done
        done
    fi
done
stop_all_servers

echo
echo "== results ($((SECONDS - T_START)) s)"
"${REPORT[@]}" meta --dir "$OUT" "elapsed_s=$((SECONDS - T_START))" "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
"${REPORT[@]}" summarize --dir "$OUT" || die "summarize failed"
echo
echo "raw JSON: $OUT/results.json"
echo "table:    $OUT/table.md"
if ! "${REPORT[@]}" check --dir "$OUT"; then
    echo "compare.sh: some proxies or runs failed (see above)" >&2
    exit 1
fi
exit 0
