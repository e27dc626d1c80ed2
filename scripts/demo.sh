#!/usr/bin/env bash
# One-command demo of ringproxy on a fresh Debian machine:
#   1. checks the toolchain (cargo, a C linker),
#   2. builds everything (cargo build --release --bins),
#   3. starts the bundled example backend (two servers, s1 and s2) in the
#      background,
#   4. runs ringproxy on examples/demo.cfg in the foreground.
# Ctrl-C stops the proxy; the backend is stopped with it.
# Extra arguments are passed to ringproxy (e.g. ./scripts/demo.sh -d).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PROXY_PORT=8080
HTTP_PORT=8081
API_SOCKET=/tmp/ringproxy-demo.sock
BACKEND_PORTS=(9001 9002)

say() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

# Whether something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp,
# so that nothing else is needed).
port_open() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- Toolchain -------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    cat >&2 <<'EOF'
demo: cargo (the Rust toolchain) is not installed. Install it with rustup:

    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
    . "$HOME/.cargo/env"

then run ./scripts/demo.sh again.
EOF
    exit 1
fi
# Edition 2024 needs Rust 1.85 or newer.
rust_minor=$(cargo --version | sed -n 's/^cargo 1\.\([0-9]*\)\..*/\1/p')
if [ -n "$rust_minor" ] && [ "$rust_minor" -lt 85 ]; then
    die "$(cargo --version) is too old (1.85 or newer is needed): run 'rustup update'"
fi
if ! command -v cc >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        say "installing build-essential (Rust needs a C linker, cc)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y build-essential
    else
        die "no C linker (cc) found: run 'sudo apt-get install -y build-essential', then run this script again"
    fi
fi

# --- Build -----------------------------------------------------------------
say "building (cargo build --release --bins)"
cargo build --release --bins

for port in "$PROXY_PORT" "$HTTP_PORT" "${BACKEND_PORTS[@]}"; do
    if port_open "$port"; then
        die "port $port on 127.0.0.1 is already in use (an earlier demo still running?)"
    fi
done

# --- Backend ---------------------------------------------------------------
backend_pid=
proxy_pid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local pid
    for pid in $proxy_pid $backend_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting the example backend: s1 on 127.0.0.1:${BACKEND_PORTS[0]}, s2 on 127.0.0.1:${BACKEND_PORTS[1]}"
target/release/ringproxy-demo-backend \
    --listen "127.0.0.1:${BACKEND_PORTS[0]}" --name s1 \
    --listen "127.0.0.1:${BACKEND_PORTS[1]}" --name s2 &
backend_pid=$!
for _ in $(seq 50); do
    if port_open "${BACKEND_PORTS[0]}" && port_open "${BACKEND_PORTS[1]}"; then
        break
    fi
    kill -0 "$backend_pid" 2>/dev/null || die "the example backend exited (see above)"
    sleep 0.1
done
port_open "${BACKEND_PORTS[1]}" || die "the example backend did not start listening"

# --- Proxy -----------------------------------------------------------------
cat >&2 <<EOF

ringproxy is starting on 127.0.0.1:$PROXY_PORT (TCP) and :$HTTP_PORT (HTTP), examples/demo.cfg.
From another terminal, try:

    curl http://127.0.0.1:$PROXY_PORT/
        "hello from s1" or "hello from s2": run it a few times; s2 has
        weight 2, so it gets about two connections in three
    printf 'hi\n' | nc -N 127.0.0.1 $PROXY_PORT
        line echo through the proxy: "s1: hi" or "s2: hi"
        (nc: apt-get install netcat-openbsd; -N closes after the input)
    curl -i http://127.0.0.1:$HTTP_PORT/
        the same servers in HTTP mode (health-checked, an access log line
        here for each request, an X-Served-By header added)
    echo "show stat" | socat stdio unix-connect:$API_SOCKET
        the runtime API (apt-get install socat): also "show servers state",
        "disable server demo_http/s1", "help"
    http://127.0.0.1:$HTTP_PORT/stats in a browser, curl http://127.0.0.1:$HTTP_PORT/metrics
        the stats page and the Prometheus exporter
    for i in \$(seq 12); do curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:8082/; done
        rate limiting: 10 requests per 10 s per client, then 429; then
        echo "show table demo_limited" | socat stdio unix-connect:$API_SOCKET
    kill -HUP <ringproxy's pid>
        reload: edit examples/demo.cfg first (e.g. a server's weight);
        "reload 1 applied: ..." here, and "Reloads: 1" in "show info"
    kill -USR1 <ringproxy's pid>
        graceful stop: requests in progress finish, then it exits

Press Ctrl-C to stop the proxy and the backend.

EOF
say "running: target/release/ringproxy -f examples/demo.cfg $*"
# In the background, so that Ctrl-C (SIGINT) or a kill (SIGTERM) of this
# script reach the script's traps at once; they pass the signal on to the
# proxy, whose exit status becomes the script's.
target/release/ringproxy -f examples/demo.cfg "$@" &
proxy_pid=$!
trap 'kill -INT "$proxy_pid" 2>/dev/null || true' INT
trap 'kill -TERM "$proxy_pid" 2>/dev/null || true' TERM
status=0
while kill -0 "$proxy_pid" 2>/dev/null; do
    # wait ends early (status > 128) when a trapped signal arrives.
    status=0
    wait "$proxy_pid" || status=$?
done
proxy_pid=
exit "$status"
