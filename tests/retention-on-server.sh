#!/usr/bin/env bash
# The retention checks against a SurrealDB server instead of the embedded engine:
# storage-read honouring tombstones (and the metric queries beside them) and the
# maintenance executor, each test in a database of its own.
#
# Uses the server at CLOUDGRID_TEST_SURREAL_URL (root credentials in
# CLOUDGRID_TEST_SURREAL_USER / _PASSWORD, default root/root) or, without it, starts the
# test server binary CLOUDGRID_TEST_SURREAL_SERVER (.ci/run builds it) in memory.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CLOUDGRID_TEST_SURREAL_URL:-}" ]; then
  bin="${CLOUDGRID_TEST_SURREAL_SERVER:?set CLOUDGRID_TEST_SURREAL_URL, or CLOUDGRID_TEST_SURREAL_SERVER to the test server binary}"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  log="$(mktemp)"
  "$bin" start --user root --pass root --bind "127.0.0.1:$port" memory >"$log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { echo "the SurrealDB server stopped:"; cat "$log"; exit 1; }
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$port/health" >/dev/null || { echo "the SurrealDB server did not answer:"; cat "$log"; exit 1; }
  export CLOUDGRID_TEST_SURREAL_URL="ws://127.0.0.1:$port"
fi

echo "retention checks against $CLOUDGRID_TEST_SURREAL_URL"
# The workspace's integration binaries (built as the full suite builds them), filtered
# to these modules; those that open their stores in memory whatever the environment
# (control plane, BFF, pipeline) run again as they are.
cargo test --workspace --locked --test it -- maintenance:: retention:: metric_query:: explorer::series_retention
