#!/usr/bin/env bash
# End-to-end ingest figures for docs/benchmarks.md: starts a release `cloudgrid all` on
# loopback (embedded SurrealKV; in-process bus, or JetStream with --jetstream), drives
# it with `cloudgrid-bench ingest`, prints one JSON report per run, stops it.
#
#   bash bench/scripts/ingest.sh [--jetstream] [--workers N] [--requests N]
set -euo pipefail
cd "$(dirname "$0")/../.."
jetstream=0
workers=2
requests=300
while [ $# -gt 0 ]; do
  case "$1" in
    --jetstream) jetstream=1 ;;
    --workers) workers="$2"; shift ;;
    --requests) requests="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudgrid-target}"
target="$CARGO_TARGET_DIR/release"
cargo build --release -p cloudgrid -p cloudgrid-bench >&2

data="$(mktemp -d)"
# anyhow (inside SurrealDB) captures a backtrace per internal error when RUST_BACKTRACE
# is set; measure the server as it runs in production.
env=(CLOUDGRID_DATA_DIR="$data" CLOUDGRID_WORKERS="$workers" CLOUDGRID_LOG=warn RUST_LIB_BACKTRACE=0)
if [ "$jetstream" = 1 ]; then
  env+=(CLOUDGRID_NATS_URL="${CLOUDGRID_TEST_NATS_URL:-nats://127.0.0.1:4222}" CLOUDGRID_NATS_NAMESPACE=bench)
fi
env "${env[@]}" "$target/cloudgrid" all >"$data/out.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do grep -q '^ready' "$data/out.log" && break; sleep 0.1; done
grep -q '^ready' "$data/out.log" || { cat "$data/out.log"; exit 1; }

run() {
  "$target/cloudgrid-bench" ingest --key "@$data/ingest-key" "$@"
}
run --signal metrics --protocol http --series 10000 --items-per-request 1000 --requests "$requests" --concurrency 4
run --signal metrics --protocol grpc --endpoint http://127.0.0.1:4317 --series 10000 --items-per-request 1000 --requests "$requests" --concurrency 4 --first-request "$requests"
run --signal traces --protocol http --items-per-request 1000 --requests "$requests" --concurrency 4
run --signal logs --protocol http --items-per-request 1000 --requests "$requests" --concurrency 4
grep -h VmHWM /proc/$pid/status >&2 || true
