#!/usr/bin/env bash
# Runs the comparison scenarios against Quire, Hocuspocus and y-sweet (or the servers named as
# arguments), each scenario on a freshly started server, with one load client (load.mjs).
# Results: one JSON file per server and scenario in $OUT. See README.md.
#
#   bench/peers/run.sh                       # all three servers
#   DURATION=5 WARMUP=1 bench/peers/run.sh quire hocuspocus
set -euo pipefail
cd "$(dirname "$0")"

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
OUT=${OUT:-results}
QUIRE_BIN=${QUIRE_BIN:-../../target/release/quire}
YSWEET_BIN=${YSWEET_BIN:-y-sweet}
PORT=${PORT:-18750}
SERVERS=("$@")
[ ${#SERVERS[@]} -gt 0 ] || SERVERS=(quire hocuspocus y-sweet)
# Scenario name and load.mjs options (the sizes issue 13 compares).
SCENARIOS=(
  "fanout|--scenario fanout --docs 1 --clients 100 --total-rate 1000"
  "many-docs|--scenario many-docs --docs 200 --clients 5 --rate 10"
  "idle|--scenario idle --docs 100 --sessions ${IDLE_SESSIONS:-2000}"
  "hot-doc|--scenario hot-doc --docs 1 --clients ${HOT_CLIENTS:-1000} --total-rate 100"
)
# ONLY=fanout|idle runs those scenarios only.
if [ -n "${ONLY:-}" ]; then
  mapfile -t SCENARIOS < <(printf '%s\n' "${SCENARIOS[@]}" | grep -E "^(${ONLY})\|")
fi

# Every session is a socket on both sides.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUT"
API_KEY=peers-bench-api-key-0123456789
export QUIRE_API_KEY=$API_KEY

server_pid=
stop() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap stop EXIT

wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not listen on $PORT within 30 s" >&2
  return 1
}

start() {
  local dir
  dir=$(mktemp -d)
  case "$1" in
    quire)
      "$QUIRE_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$dir/data" >"$dir/log" 2>&1 &
      ;;
    hocuspocus)
      PORT=$PORT HOCUSPOCUS_DB="$dir/hocuspocus.sqlite" node hocuspocus-server.mjs >"$dir/log" 2>&1 &
      ;;
    y-sweet)
      "$YSWEET_BIN" serve "$dir/store" --host 127.0.0.1 --port "$PORT" >"$dir/log" 2>&1 &
      ;;
    *) echo "unknown server $1" >&2; return 1 ;;
  esac
  server_pid=$!
  wait_port
}

for server in "${SERVERS[@]}"; do
  for entry in "${SCENARIOS[@]}"; do
    name=${entry%%|*}
    args=${entry#*|}
    echo "== $server $name"
    start "$server"
    # shellcheck disable=SC2086
    node load.mjs --target "$server" --url "http://127.0.0.1:$PORT" --pid "$server_pid" \
      --api-key "$API_KEY" $args --duration "$DURATION" --warmup "$WARMUP" \
      --json "$OUT/$server-$name.json" || echo "!! $server $name failed"
    stop
  done
done
node table.mjs "$OUT"
