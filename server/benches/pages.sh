#!/usr/bin/env bash
# The pages against the static file, in one run: requests per second of the board `/`,
# an item page and the stylesheet, each from the same server with the same session, and
# the ratio of each page to the stylesheet. Needs wrk (`apt-get install wrk`).
#
#   server/benches/pages.sh [SECONDS] [CONNECTIONS]
#   FACTORY_BIN=/path/to/factory server/benches/pages.sh   # another build, to compare
#
# Builds the release binary (unless FACTORY_BIN names one), serves the demo on a
# loopback port from a temporary data directory (server/benches/demo-server.sh), loads each address in turn with wrk (2 threads, uncompressed), samples
# the server's VmRSS every 0.2 s, and prints one line per address and the ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
default_seconds=10 default_port=3298
. server/benches/demo-server.sh
stylesheet=$(curl -fs -H "Cookie: $cookie" "http://127.0.0.1:$port/" | grep -o '/static/factory\.[0-9a-f]*\.css' | head -1)
[ -n "$stylesheet" ] || { echo "pages.sh: the board names no stylesheet" >&2; exit 1; }

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
