# Shared by the bench/ scripts (sourced, after `set -euo pipefail` and a cd to the repository
# root): the release build, servers and a broker started on free ports and always stopped on
# exit, their memory and CPU read from /proc, and `iotchat bench --json` read without jq.
#
# Every background process goes through `spawn`, which records its pid; the EXIT trap stops
# exactly those (SIGTERM, then SIGKILL after 5 s) and removes the work directory.

target=${CARGO_TARGET_DIR:-$PWD/target}
bin=$target/release/iotchat
baseline=$target/release/examples/baseline
work=$(mktemp -d)
chmod 755 "$work"
epoll=$work/srv_epoll
pids=()
spawned=""
# Every server on core 0, every load generator on core 1 (issue 20): the ratios then compare
# what each server costs on one core, not how well it shares the machine with its load.
server_pin=()
bench_pin=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    server_pin=(taskset -c 0)
    bench_pin=(taskset -c 1)
fi
pinned=${#server_pin[@]} # for the report: scenario 5 unpins

stop() { # PID: SIGTERM (iotchat serve shuts down gracefully), SIGKILL if still there after 5 s
    local p kept=()
    if kill "$1" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$1" 2>/dev/null || true
    fi
    wait "$1" 2>/dev/null || true
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
    pids=("${kept[@]}") # never signal a reused pid later
}
cleanup() {
    while ((${#pids[@]})); do stop "${pids[0]}"; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP # run the EXIT trap on Ctrl-C too

spawn() { # COMMAND... (redirect at the call site): runs it in the background, sets $spawned
    "$@" &
    spawned=$!
    pids+=("$spawned")
}

build() { # iotchat, the tokio baseline, and the bare C epoll server (bench/srv_epoll.c)
    cargo build --release --quiet --bin iotchat --example baseline
    "${CC:-cc}" -O2 -o "$epoll" bench/srv_epoll.c
}

die() {
    echo "bench: $*" >&2
    exit 1
}

wait_line() { # FILE PATTERN PID: waits (10 s at most) for a line matching PATTERN in FILE
    for _ in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || die "pid $3 exited before printing /$2/ to $1: $(tail -3 "${1%.*}.err" 2>/dev/null)"
        sleep 0.1
    done
    die "no /$2/ in $1 within 10 s"
}

# start_serve NAME [SERVE ARGS...]: a release `iotchat serve` with a fresh data directory
# ($work/NAME.data). Sets $server_pid and $server_addr.
start_serve() {
    local name=$1
    shift
    spawn "${server_pin[@]}" "$bin" serve --bind 127.0.0.1:0 --data-dir "$work/$name.data" --max-clients 10000 -q "$@" \
        </dev/null >"$work/$name.out" 2>"$work/$name.err"
    server_pid=$spawned
    wait_line "$work/$name.out" '^listening on' "$server_pid"
    server_addr=$(awk '/^listening on/ {print $3; exit}' "$work/$name.out")
}

# start_baseline NAME [epoll]: the minimal tokio upper-casing server, or the bare C one.
# Sets $server_pid and $server_addr.
start_baseline() {
    if [ "${2:-}" = epoll ]; then
        spawn "${server_pin[@]}" "$epoll" 0 >"$work/$1.out" 2>"$work/$1.err"
    else
        spawn "${server_pin[@]}" "$baseline" 127.0.0.1:0 >"$work/$1.out" 2>"$work/$1.err"
    fi
    server_pid=$spawned
    wait_line "$work/$1.out" '^listening on' "$server_pid"
    server_addr=$(awk '/^listening on/ {print $3; exit}' "$work/$1.out")
}

# start_broker: a local mosquitto on a free port (standing in for ThingsBoard). Sets
# $broker_port. Ports in use are skipped; a port taken in between is retried.
start_broker() {
    local try
    for try in $(seq 20); do
        broker_port=$((20000 + RANDOM % 30000))
        (: </dev/tcp/127.0.0.1/$broker_port) 2>/dev/null && continue # something listens there
        printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$broker_port" >"$work/mosquitto.conf"
        spawn mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1
        for _ in $(seq 50); do
            (: </dev/tcp/127.0.0.1/$broker_port) 2>/dev/null && return 0
            kill -0 "$spawned" 2>/dev/null || break
            sleep 0.1
        done
        stop "$spawned"
    done
    die "mosquitto did not start on a free port: $(tail -3 "$work/mosquitto.log")"
}

free_port() { # a loopback port nothing listens on now (it may be taken before it is used)
    local port
    while :; do
        port=$((20000 + RANDOM % 30000))
        (: </dev/tcp/127.0.0.1/$port) 2>/dev/null || break
    done
    echo "$port"
}

# start_redis NAME: redis-server acking each SET after its fsync (`appendonly yes`,
# `appendfsync always`), its data in $work/NAME.redis (the disk iotchat's store is on), on a
# free port. Sets $server_pid and $server_addr.
start_redis() {
    local try port
    mkdir -p "$work/$1.redis"
    for try in $(seq 20); do
        port=$(free_port)
        spawn "${server_pin[@]}" redis-server --port "$port" --bind 127.0.0.1 --dir "$work/$1.redis" \
            --appendonly yes --appendfsync always --save "" --daemonize no \
            </dev/null >"$work/$1.out" 2>"$work/$1.err"
        server_pid=$spawned
        for _ in $(seq 50); do
            if (: </dev/tcp/127.0.0.1/$port) 2>/dev/null; then
                server_addr=127.0.0.1:$port
                return 0
            fi
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        stop "$server_pid"
    done
    die "redis-server did not start on a free port: $(tail -3 "$work/$1.out")"
}

status_kib() { # PID FIELD (VmRSS, VmHWM): the value in KiB, 0 once the process is gone
    awk -v f="$2:" '$1 == f {print $2; found = 1} END {if (!found) print 0}' "/proc/$1/status" 2>/dev/null || echo 0
}

cpu_ticks() { # PID: user + system CPU time in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

json_num() { # FILE KEY: a number from a flat-keyed JSON object (keys of `iotchat bench --json` are unique)
    local v
    v=$(grep -o "\"$2\":[^,}]*" "$1" 2>/dev/null | head -1 | cut -d: -f2)
    echo "${v:-0}"
}

# outbox_pending DATA_DIR: rows stored and not yet acknowledged by the broker (`readings` says
# `N readings waiting to be forwarded to ThingsBoard`: bridge/status.rs WAITING).
outbox_pending() {
    "$bin" readings --data-dir "$1" --limit 1 | awk '/readings? waiting to be forwarded/ {print $1}'
}

# stored_rows DATA_DIR: every value row in the store.
stored_rows() {
    "$bin" readings --data-dir "$1" --all --format csv | tail -n +2 | wc -l
}

git_describe() {
    git describe --always --dirty 2>/dev/null || echo '?'
}
