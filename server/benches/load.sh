#!/usr/bin/env bash
# Load test of `/` with the demo data: requests per second, latency percentiles and the
# server's resident memory under load. Needs wrk (`apt-get install wrk`).
#
#   server/benches/load.sh [SECONDS] [CONNECTIONS]
#
# Builds the release binary, serves the demo on a free loopback port from a temporary
# data directory, loads it with wrk (2 threads), samples VmRSS every 0.2 s, and stops.
set -euo pipefail
cd "$(dirname "$0")/../.."
default_seconds=15 default_port=3299
. server/benches/demo-server.sh

echo "== wrk: ${seconds}s, ${connections} connections, GET / (demo data), uncompressed"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Cookie: $cookie" "http://127.0.0.1:$port/"
echo "== wrk: ${seconds}s, ${connections} connections, GET / (demo data), gzip as browsers ask"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Cookie: $cookie" -H "Accept-Encoding: gzip" \
  "http://127.0.0.1:$port/"
kill $sampler 2>/dev/null || true
echo "== resident memory of the server during the run (KiB): max $(sort -n "$rss_log" | tail -1)"
rm -f "$rss_log"
