# shellcheck shell=bash
# Process helpers for bench/compare.sh: start servers under `timeout` and
# `taskset`, find them again by PID, measure their CPU time and memory from
# /proc, and stop them (by PID only, never by name).
#
# Every server runs as:  timeout -k 5 SAFETY taskset -c CPUS CMD...
# so even if this script is killed with SIGKILL, nothing outlives SAFETY
# seconds. taskset execs CMD, so the child of the timeout wrapper is the
# server itself.

declare -gA SRV_PID=()  # name -> PID of the server process
declare -gA SRV_WRAP=() # name -> PID of its timeout wrapper
CLIENT_PID=""           # the load-generator command running now, if any

# start_server NAME LOG CPUS CMD...  (sets SRV_PID[NAME]; returns 1 if the
# process could not be found)
start_server() {
    local name=$1 log=$2 cpus=$3
    shift 3
    timeout -k 5 "$SAFETY_S" taskset -c "$cpus" "$@" </dev/null >"$log" 2>&1 &
    local w=$! pid="" i
    SRV_WRAP[$name]=$w
    for ((i = 0; i < 200; i++)); do
        pid=$(pgrep -P "$w" 2>/dev/null | head -n1)
        [[ -n $pid ]] && break
        kill -0 "$w" 2>/dev/null || break
        sleep 0.01
    done
    if [[ -z $pid ]]; then
        SRV_PID[$name]=""
        return 1
    fi
    SRV_PID[$name]=$pid
}

server_alive() {
    local pid=${SRV_PID[$1]:-}
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# term_wait_kill PID TENTHS: SIGTERM to PID if it runs, up to TENTHS tenths
# of a second for it to exit, then SIGKILL. Returns at once when PID is
# gone; returns 1 when it had to be killed.
term_wait_kill() {
    local pid=$1 tenths=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < tenths; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null || return 0
    kill -KILL "$pid" 2>/dev/null
    return 1
}

# stop_server NAME: SIGTERM, up to 5 s grace, then SIGKILL (server + wrapper).
stop_server() {
    local name=$1 pid=${SRV_PID[$1]:-} w=${SRV_WRAP[$1]:-} kids
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kids=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')
        if ! term_wait_kill "$pid" 50; then
            echo "  $name (pid $pid) ignored SIGTERM for 5 s: SIGKILL" >&2
        fi
        # nginx workers die with their master; make sure of it, by PID.
        for k in $kids; do
            kill -0 "$k" 2>/dev/null && kill -KILL "$k" 2>/dev/null
        done
    fi
    if [[ -n $w ]]; then
        term_wait_kill "$w" 30
        wait "$w" 2>/dev/null
    fi
    unset "SRV_PID[$name]" "SRV_WRAP[$name]"
    return 0
}

stop_all_servers() {
    local name
    for name in "${!SRV_PID[@]}"; do
        stop_server "$name"
    done
}

# The PIDs that make up a server: the process and its direct children
# (nginx: master + workers).
server_pids() {
    local pid=${SRV_PID[$1]:-}
    [[ -z $pid ]] && return 0
    echo "$pid"
    pgrep -P "$pid" 2>/dev/null
}

# cpu_ticks NAME: utime+stime (fields 14 and 15 of /proc/PID/stat, clock
# ticks, all threads of the process) summed over server_pids; -1 if gone.
cpu_ticks() {
    local total=0 n=0 pid s
    for pid in $(server_pids "$1"); do
        s=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        s=${s##*) } # drop "pid (comm) ", comm may hold spaces or ')'
        # shellcheck disable=SC2086
        set -- $s
        total=$((total + ${12} + ${13}))
        n=$((n + 1))
    done
    ((n > 0)) && echo "$total" || echo -1
}

# status_kb NAME FIELD: FIELD (VmRSS, VmHWM) of /proc/PID/status in kB,
# summed over server_pids; 0 if gone.
status_kb() {
    local total=0 pid v
    for pid in $(server_pids "$1"); do
        v=$(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$pid/status" 2>/dev/null)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# wait_listen PORT SECS [PID]: until something listens on 127.0.0.1:PORT
# (no connection is made); gives up early if PID exits.
wait_listen() {
    local port=$1 deadline=$((SECONDS + $2)) pid=${3:-}
    while ((SECONDS < deadline)); do
        [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]] && return 0
        [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null && return 1
        sleep 0.05
    done
    return 1
}

# established_to PORT: connections established to 127.0.0.1:PORT (counted
# on the connecting side only).
established_to() {
    ss -Htn state established "( dport = :$1 )" 2>/dev/null | wc -l
}

# wait_drain PORT MAX SECS: until at most MAX connections are established to
# 127.0.0.1:PORT (a proxy's idle server connections being closed), for up
# to SECS seconds; prints "COUNT_BEFORE COUNT_AFTER WAITED_S".
wait_drain() {
    local port=$1 max=$2 t0=$SECONDS n0 n
    n0=$(established_to "$port")
    n=$n0
    while ((n > max && SECONDS - t0 < $3)); do
        sleep 0.25
        n=$(established_to "$port")
    done
    echo "$n0 $n $((SECONDS - t0))"
}

port_in_use() {
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
}

# wait_log_line FILE PATTERN SECS PID: until FILE has PATTERN (or PID dies).
wait_log_line() {
    local file=$1 pat=$2 deadline=$((SECONDS + $3)) pid=$4
    while ((SECONDS < deadline)); do
        grep -q -- "$pat" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# run_bounded SECS CMD...: runs CMD under `timeout` in the background and
# waits for it (so INT/TERM traps run at once); returns CMD's exit code
# (124 when timed out).
run_bounded() {
    local secs=$1
    shift
    timeout -k 3 "$secs" "$@" &
    CLIENT_PID=$!
    local rc=0
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=""
    return "$rc"
}

# stop_client: SIGTERM to the load generator running now, up to 0.2 s
# grace, then SIGKILL.
stop_client() {
    if [[ -n ${CLIENT_PID:-} ]] && kill -0 "$CLIENT_PID" 2>/dev/null; then
        term_wait_kill "$CLIENT_PID" 2
        wait "$CLIENT_PID" 2>/dev/null
    fi
    CLIENT_PID=""
}

# expand_cpus "0,2-3" -> "0 2 3"
expand_cpus() {
    local part a b c parts out=()
    IFS=',' read -ra parts <<<"$1"
    for part in "${parts[@]}"; do
        if [[ $part == *-* ]]; then
            a=${part%-*} b=${part#*-}
            for ((c = a; c <= b; c++)); do out+=("$c"); done
        else
            out+=("$part")
        fi
    done
    echo "${out[*]}"
}

# nginx_affinity N "cpus": one bit mask per worker, round-robin over cpus.
nginx_affinity() {
    local n=$1 cpus max=0 c i mask out=()
    read -ra cpus <<<"$(expand_cpus "$2")"
    for c in "${cpus[@]}"; do ((c > max)) && max=$c; done
    for ((i = 0; i < n; i++)); do
        c=${cpus[i % ${#cpus[@]}]}
        mask=""
        for ((b = max; b >= 0; b--)); do
            if ((b == c)); then mask+="1"; else mask+="0"; fi
        done
        out+=("$mask")
    done
    echo "${out[*]}"
}

# haproxy_cpu_map N "cpus": one "cpu-map 1/THREAD CPU" line per thread.
haproxy_cpu_map() {
    local n=$1 cpus i lines=""
    read -ra cpus <<<"$(expand_cpus "$2")"
    for ((i = 1; i <= n; i++)); do
        [[ -n $lines ]] && lines+=$'\n    '
        lines+="cpu-map 1/$i ${cpus[(i - 1) % ${#cpus[@]}]}"
    done
    echo "$lines"
}
