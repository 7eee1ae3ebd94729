# Sourced by the load scripts, after they set $default_seconds and $default_port: reads
# the arguments [SECONDS] [CONNECTIONS] (and LOAD_PORT), checks for wrk, builds the
# release binary (unless FACTORY_BIN names one), serves the demo on 127.0.0.1:$port from
# a temporary data directory, stops it at exit, and signs in once as `demo`: $server is
# its pid, $cookie the session cookie.
seconds=${1:-$default_seconds}
connections=${2:-32}
port=${LOAD_PORT:-$default_port}
command -v wrk >/dev/null || { echo "$(basename "$0"): wrk is missing: apt-get install wrk" >&2; exit 1; }
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

# Pages need a session, as they do for a person: sign in once and reuse the cookie.
cookie=$(curl -fs -o /dev/null -D - --data-urlencode username=demo --data-urlencode "password=$password" \
  "http://127.0.0.1:$port/fn/login" | sed -n 's/^set-cookie: \(factory_session=[^;]*\).*/\1/Ip')
[ -n "$cookie" ] || { echo "signing in to the demo failed" >&2; exit 1; }

# The server's resident memory (VmRSS, KiB), sampled every 0.2 s into $rss_log.
rss_log=$(mktemp)
( while kill -0 $server 2>/dev/null; do
    awk '/VmRSS/ {print $2}' /proc/$server/status >> "$rss_log"; sleep 0.2
  done ) &
sampler=$!
