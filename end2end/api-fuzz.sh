#!/usr/bin/env bash
# Fuzzes the JSON API from its own OpenAPI document (GET /api/openapi.json) with
# schemathesis: a demo server on a fresh data directory, an admin token, every operation,
# a fixed seed and a bounded number of examples. Any 5xx, undocumented status or content
# type, or body that does not match its schema fails the run; each one found is fixed and
# kept as a Rust regression test (server/tests/openapi.rs).
#
# schemathesis comes from PyPI into a virtual environment (end2end/.venv, or
# $SCHEMATHESIS_VENV), at the version api-fuzz-requirements.txt pins.
set -euo pipefail
cd "$(dirname "$0")"

binary=${FACTORY_BIN:-../target/debug/factory}
venv=${SCHEMATHESIS_VENV:-.venv}
port=${API_FUZZ_PORT:-3260}
examples=${API_FUZZ_EXAMPLES:-100}
seed=${API_FUZZ_SEED:-20261201}

if [ ! -x "$venv/bin/st" ]; then
  echo "api-fuzz: installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r api-fuzz-requirements.txt
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/factory-api-fuzz-XXXXXX")
server_pid=
stop() {
  # The server's process group; on SIGTERM it stops the demo services and sshd it started.
  if [ -n "$server_pid" ]; then
    kill -TERM -- "-$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

token=$("$binary" token create api-fuzz --role admin --data-dir "$work/data" | grep '^bf_')
setsid "$binary" serve --demo --addr "127.0.0.1:$port" --data-dir "$work/data" \
  >"$work/server.log" 2>&1 &
server_pid=$!
if ! curl --silent --fail --retry 60 --retry-connrefused --retry-delay 1 \
  "http://127.0.0.1:$port/healthz" >/dev/null; then
  echo "api-fuzz: the server did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

echo "api-fuzz: schemathesis, seed $seed, at most $examples examples an operation"
status=0
"$venv/bin/st" run "http://127.0.0.1:$port/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --seed "$seed" --max-examples "$examples" --workers 1 \
  --generation-database none --no-color --output-sanitize true || status=$?
if [ "$status" -ne 0 ]; then
  echo "api-fuzz: the server's log follows" >&2
  tail -n 200 "$work/server.log" >&2
fi
exit "$status"
