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
env=()
if [ "$jetstream" = 1 ]; then
  env+=(CLOUDGRID_NATS_URL="${CLOUDGRID_TEST_NATS_URL:-nats://127.0.0.1:4222}" CLOUDGRID_NATS_NAMESPACE=bench)
fi
source bench/scripts/single.sh

run() {
  "$target/cloudgrid-bench" ingest --key "@$data/ingest-key" "$@"
}
run --signal metrics --protocol http --series 10000 --items-per-request 1000 --requests "$requests" --concurrency 4
run --signal metrics --protocol grpc --endpoint http://127.0.0.1:4317 --series 10000 --items-per-request 1000 --requests "$requests" --concurrency 4 --first-request "$requests"
run --signal traces --protocol http --items-per-request 1000 --requests "$requests" --concurrency 4
run --signal logs --protocol http --items-per-request 1000 --requests "$requests" --concurrency 4
grep -h VmHWM /proc/$pid/status >&2 || true
