#!/usr/bin/env bash
# The pages against the static file, in one run: requests per second of the board `/`,
# an item page and the stylesheet, each from the same server with the same session, and
# the ratio of each page to the stylesheet. Needs wrk (`apt-get install wrk`).
#
#   server/benches/pages.sh [SECONDS] [CONNECTIONS]
#   FACTORY_BIN=/path/to/factory server/benches/pages.sh   # another build, to compare
#
# Builds the release binary (unless FACTORY_BIN names one), serves the demo on a free loopback port from a temporary
# data directory, loads each address in turn with wrk (2 threads, uncompressed), samples
# the server's VmRSS every 0.2 s, and prints one line per address and the ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
connections=${2:-32}
port=${LOAD_PORT:-3298}

command -v wrk >/dev/null || { echo "pages.sh: wrk is missing: apt-get install wrk" >&2; exit 1; }
if [ -z "${FACTORY_BIN:-}" ]; then
  cargo build --release --bin factory --quiet
  FACTORY_BIN="${CARGO_TARGET_DIR:-target}/release/factory"
fi

data_dir=$(mktemp -d)
password="load test password"
FACTORY_DEMO_PASSWORD="$password" RUST_LOG=warn "$FACTORY_BIN" serve --demo --addr "127.0.0.1:$port" --data-dir "$data_dir" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data_dir"' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

cookie=$(curl -fs -o /dev/null -D - --data-urlencode username=demo --data-urlencode "password=$password" \
  "http://127.0.0.1:$port/fn/login" | sed -n 's/^set-cookie: \(factory_session=[^;]*\).*/\1/Ip')
[ -n "$cookie" ] || { echo "pages.sh: signing in failed" >&2; exit 1; }
stylesheet=$(curl -fs -H "Cookie: $cookie" "http://127.0.0.1:$port/" | grep -o '/static/factory\.[0-9a-f]*\.css' | head -1)
[ -n "$stylesheet" ] || { echo "pages.sh: the board names no stylesheet" >&2; exit 1; }

rss_log=$(mktemp)
( while kill -0 $server 2>/dev/null; do
    awk '/VmRSS/ {print $2}' /proc/$server/status >> "$rss_log"; sleep 0.2
  done ) &
sampler=$!

rate() {
  wrk -t2 -c"$connections" -d"${seconds}s" -H "Cookie: $cookie" "http://127.0.0.1:$port$1" \
    | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non-2xx: " $0 > "/dev/stderr"}'
}
declare -A rates
for path in "$stylesheet" / /items/wi-BF-302; do
  rates[$path]=$(rate "$path")
  printf '%-40s %10.0f requests/s\n' "$path" "${rates[$path]}"
done
kill $sampler 2>/dev/null || true
static=${rates[$stylesheet]}
awk -v s="$static" -v b="${rates[/]}" -v i="${rates[/items/wi-BF-302]}" \
  'BEGIN { printf "ratio to the stylesheet: board %.2f, item page %.2f\n", b / s, i / s }'
echo "max resident memory of the server (KiB): $(sort -n "$rss_log" | tail -1)"
rm -f "$rss_log"
