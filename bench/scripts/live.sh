#!/usr/bin/env bash
# Live-view figures for docs/benchmarks.md: for each run, starts a fresh release
# `cloudgrid all` on loopback (embedded SurrealKV, in-process bus), runs
# `cloudgrid-bench live` against it, prints the JSON report, stops it.
#
#   bash bench/scripts/live.sh [--runs N] [--surreal-options 'sync=never'] [--bin-dir DIR]
#                              [-- extra cloudgrid-bench live options]
#
# --surreal-options are appended to the embedded store's URL (`surrealkv://…?OPTIONS`);
# --bin-dir runs the `cloudgrid` and `cloudgrid-bench` found there instead of building.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=3
surreal_options=""
bin_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift ;;
    --surreal-options) surreal_options="?$2"; shift ;;
    --bin-dir) bin_dir="$2"; shift ;;
    --) shift; break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$bin_dir" ]; then
  target="$bin_dir"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudgrid-target}"
  target="$CARGO_TARGET_DIR/release"
  cargo build --release --locked -p cloudgrid -p cloudgrid-bench >&2
fi

for run in $(seq 1 "$runs"); do
  data="$(mktemp -d)"
  CLOUDGRID_DATA_DIR="$data" CLOUDGRID_SURREAL_URL="surrealkv://$data/db$surreal_options" CLOUDGRID_WORKERS=2 CLOUDGRID_LOG=warn RUST_LIB_BACKTRACE=0 \
    CLOUDGRID_BFF_MAX_SUBSCRIPTIONS=1000 "$target/cloudgrid" all >"$data/out.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do grep -q '^ready' "$data/out.log" && break; sleep 0.1; done
  grep -q '^ready' "$data/out.log" || { cat "$data/out.log"; kill $pid; exit 1; }
  echo "== run $run" >&2
  "$target/cloudgrid-bench" live --key "@$data/ingest-key" "$@" || true
  grep -h VmHWM /proc/$pid/status >&2 || true
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$data"
done
