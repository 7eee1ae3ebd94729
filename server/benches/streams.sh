#!/usr/bin/env bash
# Live streams against the board: the board's throughput (wrk, `GET /` signed in) with no
# stream open, then with 200 idle `GET /events` streams open (curl, from four loopback
# addresses: a client address may hold 64 connections), and the server's CPU time while
# the 200 streams sit idle for a minute (keep-alives only); then the board again with the
# streams closed, and the CPU time of an idle minute without them. Needs wrk and curl.
#
#   server/benches/streams.sh [SECONDS] [CONNECTIONS]
#
# STREAMS=0 runs the same three board measurements with no stream at all: the control.
set -euo pipefail
cd "$(dirname "$0")/../.."
default_seconds=15 default_port=3298
. server/benches/demo-server.sh

cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
board() {
  wrk -t2 -c"$connections" -d"${seconds}s" -H "Cookie: $cookie" -H "Accept-Encoding: gzip" \
    "http://127.0.0.1:$port/" | grep -E 'Requests/sec|Latency'
}

echo "== the board, no stream open"
board
streams=()
count=${STREAMS:-200}
for i in $(seq 1 "$count"); do
  from="127.0.0.$((2 + i % 4))"
  curl -sN --interface "$from" -H "Cookie: $cookie" -H "Accept: text/event-stream" \
    "http://127.0.0.1:$port/events" >/dev/null 2>&1 &
  streams+=($!)
done
sleep 2
echo "== streams open: $(ls -1 /proc/$server/fd | wc -l) descriptors in the server"
echo "== the board, $count streams open"
board
before=$(cpu_ticks)
sleep 60
after=$(cpu_ticks)
echo "== CPU of the server over 60 s with $count idle streams: $((after - before)) ticks ($(getconf CLK_TCK) a second)"
[ "$count" -eq 0 ] || kill "${streams[@]}" 2>/dev/null || true
sleep 2
echo "== the board, the streams closed again"
board
before=$(cpu_ticks)
sleep 60
after=$(cpu_ticks)
echo "== CPU of the server over 60 s with no stream: $((after - before)) ticks"
kill $sampler 2>/dev/null || true
echo "== resident memory of the server during the run (KiB): max $(sort -n "$rss_log" | tail -1)"
rm -f "$rss_log"
