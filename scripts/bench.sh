#!/usr/bin/env bash
# The service's benchmark, in one command: builds the release binary (and, when asked,
# the benchmark's fake upstream services and another revision's binary), then runs
# scripts/bench/run.py, which starts the service on a fresh database for each workload,
# drives it with wrk over loopback (every run bounded in time) beside a reference
# workload (GET /health/live at the same concurrency), prints a table and appends it,
# dated, with the machine and the commit, to docs/performance.md.
#
#   scripts/bench.sh                                  # every workload on SQLite: ~6 minutes
#   scripts/bench.sh --workloads "create read" --concurrency 64 --seconds 5 --record no
#   scripts/bench.sh --baseline HEAD~1                # the same runs on another build, alternating
#   scripts/bench.sh --postgres postgres://postgres@127.0.0.1/bench --upstreams fake --instances "1 2 4"
#   scripts/bench.sh --scale 10000000                 # 10 million orders against 10 thousand
#   scripts/bench.sh --help                           # every flag
#
# Workloads: create (POST /v1/orders, a fresh Idempotency-Key each, 2 items), read
# (GET /v1/orders/{id}), list (GET /v1/orders?customerId=…), mixed (70% reads, 30%
# placements and lifecycle events). The PostgreSQL database must be one of the
# benchmark's own: it is emptied before each run. Needs wrk (Debian's package;
# installed when missing and running as root), python3, and psql for PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=""
upstreams=${BENCH_UPSTREAMS:-demo}
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --baseline) baseline=${args[$((i + 1))]:-} ;;
    --baseline=*) baseline=${args[$i]#--baseline=} ;;
    --upstreams) upstreams=${args[$((i + 1))]:-} ;;
    --upstreams=*) upstreams=${args[$i]#--upstreams=} ;;
    -h | --help) exec python3 scripts/bench/run.py --binary - --help ;;
  esac
done

if ! command -v wrk > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "installing wrk (Debian's package)…" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk > /dev/null
  else
    echo "wrk is needed: apt-get install wrk" >&2
    exit 2
  fi
fi

target=${CARGO_TARGET_DIR:-target}
built=$(mktemp -d)
cleanup() {
  [ -d "$built/baseline-tree" ] && git worktree remove --force "$built/baseline-tree" > /dev/null 2>&1
  rm -rf "$built"
}
trap cleanup EXIT

echo "building the release binary…" >&2
cargo build --release --quiet --bin order-service
cp "$target/release/order-service" "$built/order-service"
extra=(--binary "$built/order-service")

if [ "$upstreams" = fake ]; then
  cargo build --release --quiet -p order-http --example bench_upstream
  extra+=(--upstream-binary "$target/release/examples/bench_upstream")
fi

if [ -n "$baseline" ]; then
  echo "building the release binary of $baseline…" >&2
  git worktree add --quiet --detach "$built/baseline-tree" "$baseline"
  # The same target directory: the dependencies built above are reused.
  (cd "$built/baseline-tree" && CARGO_TARGET_DIR="$(cd "$OLDPWD" && realpath "$target")" \
    cargo build --release --quiet --bin order-service)
  cp "$target/release/order-service" "$built/order-service-baseline"
  # Cargo names a workspace crate's artifacts the same in both trees, and the baseline's
  # are newer than this tree's sources: left there, the next build here would take
  # them as up to date and link the baseline's code into this tree's binary.
  cargo clean --release --quiet -p order-domain -p order-adapters -p order-http
  extra+=(--baseline-binary "$built/order-service-baseline")
fi

python3 scripts/bench/run.py "${extra[@]}" "$@"
