#!/usr/bin/env bash
# Metric points end to end, CloudGrid against VictoriaMetrics in one run, on the same
# generated series and points: CloudGrid takes them over OTLP/HTTP and persists points
# and rollups (embedded SurrealKV); VictoriaMetrics takes them through /api/v1/import.
# Prints one JSON report per system and each one's resident memory.
#
#   bash bench/scripts/rollup-vs-victoria.sh [--series N] [--requests N] [--workers N]
set -euo pipefail
cd "$(dirname "$0")/../.."
series=10000
requests=300
workers=2
while [ $# -gt 0 ]; do
  case "$1" in
    --series) series="$2"; shift ;;
    --requests) requests="$2"; shift ;;
    --workers) workers="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
command -v victoria-metrics >/dev/null || { echo "install the Debian package victoria-metrics" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudgrid-target}"
target="$CARGO_TARGET_DIR/release"
cargo build --release -p cloudgrid -p cloudgrid-bench >&2

work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
load=(--series "$series" --items-per-request 1000 --requests "$requests" --concurrency 4)

# VictoriaMetrics first, alone on the machine.
victoria-metrics -storageDataPath "$work/vm" -httpListenAddr 127.0.0.1:18428 -retentionPeriod 100y \
  >"$work/vm.log" 2>&1 &
vm=$!; pids+=("$vm")
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18428/health >/dev/null && break; sleep 0.1; done
echo "== VictoriaMetrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo unknown)"
"$target/cloudgrid-bench" victoria --url http://127.0.0.1:18428 "${load[@]}"
echo "VictoriaMetrics RSS: $(grep -h VmRSS /proc/$vm/status), peak $(grep -h VmHWM /proc/$vm/status)"
kill "$vm"; wait "$vm" 2>/dev/null || true

# Then CloudGrid: OTLP in, points and rollups persisted.
env CLOUDGRID_DATA_DIR="$work/cg" CLOUDGRID_WORKERS="$workers" CLOUDGRID_LOG=warn RUST_LIB_BACKTRACE=0 \
  "$target/cloudgrid" all >"$work/cg.log" 2>&1 &
cg=$!; pids+=("$cg")
for _ in $(seq 1 300); do grep -q '^ready' "$work/cg.log" && break; sleep 0.1; done
grep -q '^ready' "$work/cg.log" || { cat "$work/cg.log"; exit 1; }
echo "== CloudGrid"
"$target/cloudgrid-bench" ingest --key "@$work/cg/ingest-key" --signal metrics --protocol http "${load[@]}"
curl -s http://127.0.0.1:9464/metrics | grep -E '^cloudgrid_rollup_(active_series|bytes_per_series|changes_total)' || true
echo "CloudGrid RSS: $(grep -h VmRSS /proc/$cg/status), peak $(grep -h VmHWM /proc/$cg/status)"
