#!/usr/bin/env bash
# Where the time goes: runs one benchmark workload against the release binary while
# `perf` samples the service (software cpu-clock, call graphs from DWARF), then prints
# the hottest functions and where the samples fall by component.
#
#   scripts/profile.sh create        # or read, list, mixed
#   PROFILE_CONCURRENCY=64 PROFILE_SECONDS=8 scripts/profile.sh read
#
# Needs perf (Debian's linux-perf) and wrk; leaves perf.data in the current folder for
# `perf report -i …/perf.data`.
set -euo pipefail
cd "$(dirname "$0")/.."

workload=${1:-create}
concurrency=${PROFILE_CONCURRENCY:-64}
seconds=${PROFILE_SECONDS:-8}
out=${PROFILE_OUT:-$PWD/perf.data}

cargo build --release --quiet --bin order-service
binary="${CARGO_TARGET_DIR:-target}/release/order-service"
work=$(mktemp -d)
service_pid=""
trap '[ -n "$service_pid" ] && kill "$service_pid" 2> /dev/null; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ORDERS_LISTEN_ADDR="127.0.0.1:$port" ORDERS_DATABASE_URL="sqlite://$work/orders.db" \
  ORDERS_LOG_FORMAT=json RUST_LOG=warn "$binary" > "$work/service.log" 2>&1 &
service_pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null && break
  sleep 0.1
done
if [ "$workload" != create ]; then
  python3 scripts/bench/seed.py "$port" 2000 "$work/ids.txt"
fi

# Sample the middle of the run: the first and last second are warm-up and wind-down.
BENCH_LUA=scripts/bench BENCH_IDS="$work/ids.txt" BENCH_RUN="profile-$RANDOM" \
  wrk -t 2 -c "$concurrency" -d "$((seconds + 2))s" -s "scripts/bench/$workload.lua" \
  "http://127.0.0.1:$port" > "$work/wrk.txt" &
wrk_pid=$!
sleep 1
perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$service_pid" -o "$out" \
  -- sleep "$seconds" 2> /dev/null
wait "$wrk_pid"
echo "load: $(tail -n 1 "$work/wrk.txt")"
echo
echo "== by component"
perf report -i "$out" --stdio --no-children --sort dso -g none 2> /dev/null \
  | grep -v '^#' | grep -v '^$' | head -6
echo
echo "== hottest functions"
perf report -i "$out" --stdio --no-children --sort sym -g none 2> /dev/null \
  | grep -v '^#' | grep -v '^$' | head -30
