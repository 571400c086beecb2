#!/usr/bin/env bash
# Renders the API page (/docs) in a real headless browser (Debian's chromium) and checks
# that it shows every operation of the spec. The page's assets come from the service
# itself, so this passes on a machine with no internet.
#
#   scripts/check-docs-page.sh            # builds the debug binary, starts it, checks
#   ORDERS_BINARY=target/release/order-service scripts/check-docs-page.sh
#
# Needs chromium: `apt-get install chromium` (the script says so when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "chromium is not installed: apt-get install chromium" >&2
  exit 2
fi

binary=${ORDERS_BINARY:-}
if [ -z "$binary" ]; then
  cargo build --quiet --bin order-service
  binary="${CARGO_TARGET_DIR:-target}/debug/order-service"
fi

work=$(mktemp -d)
service_pid=""
cleanup() {
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A free port: bind 0, read it back, let it go.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ORDERS_LISTEN_ADDR="127.0.0.1:$port" ORDERS_DATABASE_URL="sqlite://$work/orders.db" \
  ORDERS_LOG_FORMAT=json "$binary" > "$work/service.log" 2>&1 &
service_pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null || {
  echo "the service did not start:" >&2
  cat "$work/service.log" >&2
  exit 1
}

# --virtual-time-budget lets the page's scripts run (fetch /openapi.json, render)
# before the DOM is dumped. The flags keep Chromium off the network it has no use for.
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --virtual-time-budget=15000 \
  --dump-dom "http://127.0.0.1:$port/docs/" > "$work/page.html" 2> "$work/browser.log"

missing=0
for operation in \
  "post /v1/orders" "get /v1/orders" "get /v1/orders/{id}" "get /v1/orders/{id}/history" \
  "put /v1/orders/{id}/payment" "put /v1/orders/{id}/shipping" \
  "put /v1/orders/{id}/shipment/tracking" "post /v1/orders/{id}/confirm-payment" \
  "post /v1/orders/{id}/confirm-delivery" "post /v1/orders/{id}/cancel" \
  "delete /v1/orders/{id}"; do
  method=${operation%% *}
  path=${operation#* }
  # Swagger UI renders each operation as a block with the method's class and the
  # path in a data-path attribute.
  if python3 - "$work/page.html" "$method" "$path" <<'PY'
import re, sys
html, method, path = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
blocks = re.findall(r'<div class="opblock opblock-(\w+)[^"]*".*?data-path="([^"]+)"', html, re.S)
sys.exit(0 if (method, path) in blocks else 1)
PY
  then
    echo "rendered: $operation"
  else
    echo "MISSING:  $operation" >&2
    missing=$((missing + 1))
  fi
done
operations=$(grep -o 'class="opblock opblock-' "$work/page.html" | wc -l)
echo "the page rendered $operations operations in all"
if [ "$missing" -gt 0 ]; then
  echo "$missing operations of the spec are not on the page" >&2
  exit 1
fi
echo "ok: /docs renders every operation of the spec"
