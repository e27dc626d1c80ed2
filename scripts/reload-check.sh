#!/usr/bin/env bash
# reload-check.sh: checks that ringproxy's configuration reloads are hitless
# on your own configuration: it runs ringproxy on a copy of it, keeps
# `ringload` busy against it, reloads it N times (alternating two
# configurations if two are given) and reports every failed request and
# every refused reload. See --help.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RINGPROXY=${RINGPROXY:-$ROOT/target/release/ringproxy}
RINGLOAD=${RINGLOAD:-$ROOT/target/release/ringload}

usage() {
    cat <<EOF
Usage: scripts/reload-check.sh -f CONFIG [-f CONFIG2] (--url URL | --tcp HOST:PORT)...
                               [-n RELOADS] [-c CONNS] [--interval SECONDS]
                               [--keep-alive | --close] [--signal HUP|USR2]
                               [--reload-timeout SECONDS] [--keep]

Runs ringproxy on a copy of CONFIG, loads it with ringload for the whole run,
reloads it RELOADS times and prints a summary. Exit status: 0 when every
reload was applied and no request failed; 1 when a request failed, a reload
was refused or did not complete, or ringproxy died; 2 for a usage or setup
error.

  -f CONFIG             configuration file (a file, not a directory). With two
                        -f, reload i uses CONFIG2 when i is odd, CONFIG when
                        it is even; with one, every reload re-reads CONFIG.
  --url URL             HTTP load: 'ringload http --url URL' (repeatable: one
                        ringload per URL). Errors: connect, read (reset, EOF
                        before or inside an answer), write, timeout, status
                        (an answer outside 200..399).
  --tcp HOST:PORT       TCP bulk load: 'ringload tcp --addr HOST:PORT'
                        (repeatable). The servers behind that frontend must be
                        'ringload bulk-server's (e.g. 'target/release/ringload
                        bulk-server --listen 127.0.0.1:9100'); every session
                        must live through every reload (a close is an error).
  -n RELOADS            reloads to perform (default 20)
  -c CONNS              connections of each ringload (default 20)
  --interval SECONDS    pause after each applied reload, and before the
                        first one (default 0.5)
  --keep-alive          HTTP keep-alive connections (the default)
  --close               one HTTP request per connection
  --signal HUP|USR2     the reload signal (default HUP; both reload)
  --reload-timeout S    bound on each reload's completion (default 10)
  --keep                keep the work directory (configs, ringproxy's log,
                        ringload's reports); it is always kept on failure
  -h, --help            this text

Stats socket: the copies of CONFIG and CONFIG2 get one more line in 'global',
'stats socket WORKDIR/api.sock mode 600 level user' (a 'global' section is
added when there is none), the same in both, so that the reloads can be
followed with 'show info' (Reloads, FailedReloads) through socat. Your own
'stats socket' lines are kept (their paths must be free). A 'daemon' line is
commented out (ringproxy must stay in the foreground here). Other paths in
the configuration (errorfile, ...) are read as ringproxy reads them, relative
to the current directory.

Binaries: \$RINGPROXY and \$RINGLOAD (default target/release/ringproxy and
target/release/ringload, built with 'cargo build --release --bins' when
missing). Needs socat (apt-get install socat).

Example, with the demo (examples/demo.cfg, see scripts/demo.sh): start the
example backend, make a second configuration that differs, then:

  target/release/ringproxy-demo-backend --listen 127.0.0.1:9001 --name s1 \\
      --listen 127.0.0.1:9002 --name s2 --listen 127.0.0.1:9003 --name s3 &
  sed 's/^\\(    server s1 127.0.0.1:\\)9001/\\19003/' examples/demo.cfg > /tmp/demo-b.cfg
  scripts/reload-check.sh -f examples/demo.cfg -f /tmp/demo-b.cfg \\
      --url http://127.0.0.1:8080/ --url http://127.0.0.1:8081/ -n 50
EOF
}

say() { printf 'reload-check: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 2
}

# --- Arguments ---------------------------------------------------------------
configs=()
urls=()
tcps=()
reloads=20
conns=20
interval=0.5
close=0
signal=HUP
reload_timeout=10
keep=0

need_value() {
    [ "$#" -ge 2 ] || die "$1 needs a value (see --help)"
}

while [ "$#" -gt 0 ]; do
    case "$1" in
    -f) need_value "$@"; configs+=("$2"); shift 2 ;;
    --url) need_value "$@"; urls+=("$2"); shift 2 ;;
    --tcp) need_value "$@"; tcps+=("$2"); shift 2 ;;
    -n) need_value "$@"; reloads=$2; shift 2 ;;
    -c) need_value "$@"; conns=$2; shift 2 ;;
    --interval) need_value "$@"; interval=$2; shift 2 ;;
    --keep-alive) close=0; shift ;;
    --close) close=1; shift ;;
    --signal) need_value "$@"; signal=${2#SIG}; shift 2 ;;
    --reload-timeout) need_value "$@"; reload_timeout=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done

case "${#configs[@]}" in
1 | 2) ;;
*) die "give one or two -f CONFIG (see --help)" ;;
esac
[ $((${#urls[@]} + ${#tcps[@]})) -ge 1 ] || die "give at least one --url or --tcp (see --help)"
for f in "${configs[@]}"; do
    [ -f "$f" ] || die "$f: not a file"
done
[[ $reloads =~ ^[1-9][0-9]*$ ]] || die "-n: a positive integer, not '$reloads'"
[[ $conns =~ ^[1-9][0-9]*$ ]] || die "-c: a positive integer, not '$conns'"
[[ $interval =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--interval: seconds, not '$interval'"
[[ $reload_timeout =~ ^[1-9][0-9]*$ ]] || die "--reload-timeout: whole seconds, not '$reload_timeout'"
case "$signal" in
HUP | USR2) ;;
*) die "--signal: HUP or USR2, not '$signal'" ;;
esac
command -v socat >/dev/null 2>&1 || die "socat is needed: apt-get install socat"

# --- Binaries ------------------------------------------------------------------
if [ ! -x "$RINGPROXY" ] || [ ! -x "$RINGLOAD" ]; then
    if [ "$RINGPROXY" = "$ROOT/target/release/ringproxy" ] &&
        [ "$RINGLOAD" = "$ROOT/target/release/ringload" ]; then
        say "building (cargo build --release --bins)"
        (cd "$ROOT" && cargo build --release --bins) || die "the build failed"
    fi
    [ -x "$RINGPROXY" ] || die "$RINGPROXY: not found"
    [ -x "$RINGLOAD" ] || die "$RINGLOAD: not found"
fi

# --- Work directory and cleanup --------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/reload-check.XXXXXX")
sock=$work/api.sock
proxy_pid=
load_pids=()
failed=1 # until the summary says otherwise

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local pid
    for pid in "${load_pids[@]}" $proxy_pid; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${load_pids[@]}" $proxy_pid; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "$failed" = 0 ] && [ "$keep" = 0 ]; then
        rm -rf "$work"
    else
        say "work directory kept: $work (ringproxy.log: ringproxy's output)"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Configurations --------------------------------------------------------------
# Copies $1 to $2 with our stats socket in `global` and `daemon` disabled.
prepare() {
    local line="    stats socket $sock mode 600 level user" rc=0
    awk -v line="$line" '
        !done && /^[[:space:]]*global([[:space:]#]|$)/ { print; print line; done = 1; next }
        /^[[:space:]]*daemon([[:space:]#]|$)/ { print "    # daemon (disabled by reload-check.sh)"; next }
        { print }
        END { if (!done) exit 3 }
    ' "$1" >"$2" || rc=$?
    case "$rc" in
    0) ;;
    3) { printf 'global\n%s\n\n' "$line"; cat "$2"; } >"$2.tmp" && mv -f "$2.tmp" "$2" ;;
    *) die "cannot copy $1" ;;
    esac
}

versions=()
for i in "${!configs[@]}"; do
    v=$work/config$((i + 1)).cfg
    prepare "${configs[$i]}" "$v"
    if ! out=$("$RINGPROXY" -c -f "$v" 2>&1); then
        printf '%s\n' "$out" >&2
        die "${configs[$i]} is not valid (checked as $v)"
    fi
    versions+=("$v")
done
cfg=$work/ringproxy.cfg
cp "${versions[0]}" "$cfg"

# --- ringproxy -------------------------------------------------------------------
show_info() {
    printf 'show info\n' | socat -t 2 stdio "unix-connect:$sock" 2>/dev/null
}

# The value of `KEY: N` in `show info` (empty when absent or unreachable).
info_num() {
    show_info | sed -n "s/^$1: \([0-9][0-9]*\)\$/\1/p" | head -n 1
}

proxy_alive() { kill -0 "$proxy_pid" 2>/dev/null; }

proxy_log_tail() {
    say "ringproxy's output (last lines):"
    tail -n 30 "$work/ringproxy.log" >&2 || true
}

say "starting $RINGPROXY -f $cfg (from ${configs[0]})"
"$RINGPROXY" -f "$cfg" >"$work/ringproxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do
    if ! proxy_alive; then
        proxy_log_tail
        say "ringproxy exited at startup"
        exit 1
    fi
    [ -n "$(info_num Pid)" ] && break
    sleep 0.1
done
[ -n "$(info_num Pid)" ] || {
    proxy_log_tail
    die "no answer on the stats socket $sock within 10 s"
}
base_applied=$(info_num Reloads)
base_refused=$(info_num FailedReloads)
if [ -z "$base_applied" ] || [ -z "$base_refused" ]; then
    die "this ringproxy has no Reloads/FailedReloads in 'show info': it does not reload its configuration"
fi

# --- Load --------------------------------------------------------------------------
loads=()
for i in "${!urls[@]}"; do
    args=(http --url "${urls[$i]}" -c "$conns" -d 24h --quiet --json "$work/load$i.json")
    [ "$close" = 1 ] && args+=(--close)
    "$RINGLOAD" "${args[@]}" >"$work/load$i.out" 2>&1 &
    load_pids+=($!)
    loads+=("http ${urls[$i]}")
done
for j in "${!tcps[@]}"; do
    i=$((${#urls[@]} + j))
    "$RINGLOAD" tcp --addr "${tcps[$j]}" -c "$conns" -d 24h --quiet --json "$work/load$i.json" \
        >"$work/load$i.out" 2>&1 &
    load_pids+=($!)
    loads+=("tcp ${tcps[$j]}")
done

# Every ringload still running (and ringproxy too).
check_running() {
    local i
    proxy_alive || {
        proxy_log_tail
        say "ringproxy died"
        exit 1
    }
    for i in "${!load_pids[@]}"; do
        if ! kill -0 "${load_pids[$i]}" 2>/dev/null; then
            cat "$work/load$i.out" >&2 || true
            say "ringload (${loads[$i]}) ended early"
            exit 1
        fi
    done
}

sleep "$interval"
check_running

# --- Reloads -----------------------------------------------------------------------
applied=0
refused=0
late=0
polls=$((reload_timeout * 20))
say "$reloads reloads (SIG$signal), ${#versions[@]} configuration(s), ${#loads[@]} load(s) of $conns connections"
for ((n = 1; n <= reloads; n++)); do
    v=${versions[0]}
    if [ "${#versions[@]}" = 2 ] && [ $((n % 2)) = 1 ]; then
        v=${versions[1]}
    fi
    cp "$v" "$cfg.new"
    mv -f "$cfg.new" "$cfg"
    kill -"$signal" "$proxy_pid"
    outcome=late
    for _ in $(seq "$polls"); do
        a=$(info_num Reloads)
        r=$(info_num FailedReloads)
        if [ -n "$a" ] && [ "$a" -ge $((base_applied + applied + 1)) ]; then
            outcome=applied
            break
        fi
        if [ -n "$r" ] && [ "$r" -ge $((base_refused + refused + 1)) ]; then
            outcome=refused
            break
        fi
        proxy_alive || break
        sleep 0.05
    done
    case "$outcome" in
    applied) applied=$((applied + 1)) ;;
    refused)
        refused=$((refused + 1))
        say "reload $n ($(basename "$v")) refused:"
        grep -E "reload refused|$cfg:[0-9]+" "$work/ringproxy.log" | tail -n 10 >&2 || true
        ;;
    late)
        late=1
        check_running
        say "reload $n did not complete within ${reload_timeout} s; stopping here"
        break
        ;;
    esac
    check_running
    sleep "$interval"
done

# --- Summary -----------------------------------------------------------------------
for pid in "${load_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
done
for pid in "${load_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
done
load_pids=()

# A number out of ringload's one-line JSON report.
json_num() {
    sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" "$2" | head -n 1
}

total_errors=0
printf '\nreloads: %d requested, %d applied, %d refused%s\n' "$reloads" "$applied" "$refused" \
    "$([ "$late" = 1 ] && echo ", the last one not completed in ${reload_timeout} s")"
for i in "${!loads[@]}"; do
    j=$work/load$i.json
    if [ ! -s "$j" ]; then
        printf '%s: no report (see %s)\n' "${loads[$i]}" "$work/load$i.out"
        total_errors=$((total_errors + 1))
        continue
    fi
    requests=$(json_num requests "$j")
    bytes=$(json_num bytes_read "$j")
    line="${loads[$i]}: ${requests:-0} requests, ${bytes:-0} bytes read; errors:"
    for kind in connect read write timeout status; do
        k=$(json_num "$kind" "$j")
        k=${k:-0}
        total_errors=$((total_errors + k))
        line+=" $kind $k"
    done
    # No traffic at all is a failure too (nothing was checked).
    case "${loads[$i]}" in
    http*) [ "${requests:-0}" -gt 0 ] || { line+=" (no answer at all)"; total_errors=$((total_errors + 1)); } ;;
    tcp*) [ "${bytes:-0}" -gt 0 ] || { line+=" (nothing received at all)"; total_errors=$((total_errors + 1)); } ;;
    esac
    printf '%s\n' "$line"
done

if [ "$total_errors" = 0 ] && [ "$refused" = 0 ] && [ "$late" = 0 ] && [ "$applied" = "$reloads" ]; then
    failed=0
    printf 'result: PASS\n'
    exit 0
fi
printf 'result: FAIL\n'
exit 1
