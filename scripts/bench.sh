#!/usr/bin/env bash
# The service's benchmark, in one command: builds the release binary, and for each
# workload starts the service on a fresh SQLite file with the demo directory, drives
# load over loopback with wrk at each concurrency (every run bounded in time), and
# prints a table of requests/s, latency percentiles, errors and the service's peak RSS.
# Each run also appends its table, dated and with the machine it ran on, to
# docs/performance.md.
#
#   scripts/bench.sh                                  # everything: ~3 minutes
#   BENCH_WORKLOADS="create read" BENCH_CONCURRENCY=64 BENCH_SECONDS=5 scripts/bench.sh
#   BENCH_RECORD=no scripts/bench.sh                  # print only, record nothing
#   BENCH_LOG=info scripts/bench.sh                   # the service's RUST_LOG (warn)
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/bench scripts/bench.sh
#                                # on PostgreSQL: a database of its own, emptied
#                                # before each workload (needs psql)
#
# Workloads: create (POST /v1/orders, a fresh Idempotency-Key each, 2 items), read
# (GET /v1/orders/{id}), list (GET /v1/orders?customerId=…), mixed (70% reads, 30%
# placements and lifecycle events). Needs wrk (Debian's package; installed when
# missing and running as root), curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

workloads=${BENCH_WORKLOADS:-"create read list mixed"}
concurrencies=${BENCH_CONCURRENCY:-"1 64 256"}
seconds=${BENCH_SECONDS:-10}
seed_orders=${BENCH_SEED_ORDERS:-2000}
record=${BENCH_RECORD:-yes}
database_url=${BENCH_DATABASE_URL:-}

if ! command -v wrk > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "installing wrk (Debian's package)…" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk > /dev/null
  else
    echo "wrk is needed: apt-get install wrk" >&2
    exit 2
  fi
fi

echo "building the release binary…" >&2
cargo build --release --quiet --bin order-service
binary="${CARGO_TARGET_DIR:-target}/release/order-service"

work=$(mktemp -d)
service_pid=""
sampler_pid=""
stop_service() {
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2> /dev/null || true
  [ -n "$service_pid" ] && kill "$service_pid" 2> /dev/null && wait "$service_pid" 2> /dev/null || true
  service_pid=""
  sampler_pid=""
}
trap 'stop_service; rm -rf "$work"' EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A fresh, empty database for each workload.
fresh_database() {
  if [ -n "$database_url" ]; then
    PGOPTIONS=--client-min-messages=warning psql -q "$database_url" \
      -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' > /dev/null
    echo "$database_url"
  else
    rm -f "$work"/orders.db*
    echo "sqlite://$work/orders.db"
  fi
}

start_service() {
  local name=$1
  local database
  database=$(fresh_database)
  port=$(free_port)
  ORDERS_LISTEN_ADDR="127.0.0.1:$port" ORDERS_DATABASE_URL="$database" \
    ORDERS_LOG_FORMAT=json RUST_LOG=${BENCH_LOG:-warn} "$binary" > "$work/$name.log" 2>&1 &
  service_pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null && return 0
    sleep 0.1
  done
  echo "the service did not start:" >&2
  cat "$work/$name.log" >&2
  exit 1
}

# The highest VmRSS seen while a run lasts, sampled every 50 ms, in KiB.
start_sampler() {
  : > "$work/rss"
  (
    peak=0
    while kill -0 "$service_pid" 2> /dev/null; do
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$service_pid/status" 2> /dev/null || echo 0)
      [ "${rss:-0}" -gt "$peak" ] && peak=$rss && echo "$peak" > "$work/rss"
      sleep 0.05
    done
  ) &
  sampler_pid=$!
}

rows=()
for workload in $workloads; do
  start_service "$workload"
  if [ "$workload" != create ]; then
    python3 scripts/bench/seed.py "$port" "$seed_orders" "$work/ids.txt"
  fi
  for concurrency in $concurrencies; do
    threads=$((concurrency < 2 ? 1 : 2))
    start_sampler
    result=$(BENCH_LUA=scripts/bench BENCH_IDS="$work/ids.txt" BENCH_RUN="$workload-$concurrency-$RANDOM" \
      wrk -t "$threads" -c "$concurrency" -d "${seconds}s" --timeout 10s \
        -s "scripts/bench/$workload.lua" "http://127.0.0.1:$port" | tail -n 1)
    kill "$sampler_pid" 2> /dev/null || true
    wait "$sampler_pid" 2> /dev/null || true
    sampler_pid=""
    peak_kib=$(cat "$work/rss")
    row=$(python3 - "$workload" "$concurrency" "$peak_kib" "$result" <<'PY'
import json, sys
workload, concurrency, peak_kib, result = sys.argv[1], sys.argv[2], int(sys.argv[3] or 0), json.loads(sys.argv[4])
rate = result["requests"] / result["seconds"]
ms = lambda us: f"{us / 1000:.2f}"
print(f"| {workload} | {concurrency} | {rate:,.0f} | {ms(result['p50_us'])} | {ms(result['p99_us'])} "
      f"| {ms(result['p999_us'])} | {result['errors']} | {peak_kib / 1024:.1f} |")
PY
)
    echo "$row" >&2
    rows+=("$row")
  done
  stop_service
done

header="| workload | concurrency | requests/s | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MiB |
|---|---:|---:|---:|---:|---:|---:|---:|"
table=$(printf '%s\n' "$header" "${rows[@]}")
echo
echo "$table"

if [ "$record" = yes ]; then
  cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  memory=$(awk '/^MemTotal:/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
  {
    echo
    echo "### $(date -u +%Y-%m-%d) — $(git rev-parse --short HEAD 2> /dev/null || echo unknown)"
    echo
    echo "Machine: $(nproc) cores ($cpu), $memory, $(uname -sr); wrk on the same machine;"
    if [ -n "$database_url" ]; then
      echo "${seconds} s a run; PostgreSQL $(psql -Atq "$database_url" -c 'SHOW server_version'), on the same machine."
    else
      echo "${seconds} s a run; SQLite in WAL with synchronous=FULL (every 201 durable)."
    fi
    echo
    echo "$table"
  } >> docs/performance.md
  echo "recorded in docs/performance.md" >&2
fi
