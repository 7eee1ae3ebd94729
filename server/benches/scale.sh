#!/usr/bin/env bash
# A large queue as the server lives with it: COUNT work-item files (copies of the demo's
# wi-BF-302, with its prompt, spread over the five lanes, as `cargo bench --bench sync`
# writes them), served by the release binary. Prints the start-up sync and the
# every-interval syncs of unchanged files as the server logs them, the cost of the board
# and a lane page, and the server's resident memory (VmRSS) after each step and at most.
#
#   server/benches/scale.sh [COUNT]        (default 10000)
#
# Figures go in docs/benchmarks.md ("Scale").
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-10000}
port=${SCALE_PORT:-3298}

cargo build --release --bin factory --quiet
binary="${CARGO_TARGET_DIR:-target}/release/factory"
work=$(mktemp -d)
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
server=

python3 - "$work/work-items" "$count" <<'EOF'
import os, sys
directory, count = sys.argv[1], int(sys.argv[2])
template = open("server/demo/work-items/wi-BF-302.md").read()
prompt = open("server/demo/work-items/prompts/wi-BF-302.prompt.md").read()
lanes = [("backlog", "new", "open"), ("ready", "ready", "open"),
         ("in-progress", "executing", "active"), ("review", "in-review", "active"),
         ("done", "done", "done")]
os.makedirs(os.path.join(directory, "prompts"))
for n in range(count):
    id = f"wi-LOAD-{n:04}"
    lane, status, state = lanes[n % 5]
    text = (template.replace('id = "wi-BF-302"', f'id = "{id}"', 1)
            .replace('title = "', f'title = "Load item {n}: ', 1)
            .replace('lane = "done"', f'lane = "{lane}"', 1)
            .replace('status = "done"', f'status = "{status}"', 1)
            .replace('state = "done"', f'state = "{state}"', 1))
    open(os.path.join(directory, f"{id}.md"), "w").write(text)
    open(os.path.join(directory, "prompts", f"{id}.prompt.md"), "w").write(prompt)
EOF
cat > "$work/factory.toml" <<EOF
[queue_truth]
work_items_dir = "$work/work-items"
sync_interval_seconds = 5
EOF

rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$server/status"; }
RUST_LOG=info,app=info "$binary" serve --config "$work/factory.toml" --addr "127.0.0.1:$port" \
  --data-dir "$work/data" --log-format json 2> "$work/server.log" &
server=$!
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "== $count work-item files"
echo "after the start-up sync: VmRSS $(rss) KiB, at most $(hwm) KiB"
# Three syncs of unchanged files, every 5 s.
for _ in $(seq 60); do
  [ "$(grep -c '"trigger":"interval"' "$work/server.log" || true)" -ge 3 ] && break
  sleep 0.5
done
echo "after three interval syncs: VmRSS $(rss) KiB, at most $(hwm) KiB"
grep '"work items synced"' "$work/server.log" |
  python3 -c 'import json, sys
for line in sys.stdin:
    f = json.loads(line)
    print("sync (%s): %s ms, %s files, %s added, %s changed"
          % (f["trigger"], f["ms"], f["files"], f["added"], f["changed"]))'
# The board and a lane page need a session: an operator signs in once.
"$binary" user add scale --role viewer --data-dir "$work/data" <<< "scale bench password" >/dev/null
cookie=$(curl -fs -o /dev/null -D - --data-urlencode username=scale --data-urlencode "password=scale bench password" \
  "http://127.0.0.1:$port/fn/login" | sed -n 's/^set-cookie: \(factory_session=[^;]*\).*/\1/Ip')
for path in / "/?lane=review"; do
  curl -fs -o /dev/null -H "Cookie: $cookie" "http://127.0.0.1:$port$path"
  printf '%s: %s s, %s bytes\n' "$path" \
    "$(curl -fs -o /dev/null -w '%{time_total}' -H "Cookie: $cookie" "http://127.0.0.1:$port$path")" \
    "$(curl -fs -H "Cookie: $cookie" "http://127.0.0.1:$port$path" | wc -c)"
  echo "after $path: VmRSS $(rss) KiB, at most $(hwm) KiB"
done
echo "at the end: VmRSS $(rss) KiB; at most: VmHWM $(hwm) KiB"
