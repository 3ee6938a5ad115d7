#!/usr/bin/env bash
# Two builds of CloudGrid on the same metric load, alternately, so a noisy machine
# affects both alike: each run starts a fresh `cloudgrid all` (embedded SurrealKV,
# in-process bus) from one build's directory, drives it with that build's
# `cloudgrid-bench ingest`, and prints one line per run: label, points/s persisted,
# peak RSS. Extra environment for both servers can follow `--env`, for the second one
# only `--after-env` (to compare settings of one build, pass the same directory twice).
#
#   bash bench/scripts/compare.sh --before DIR --after DIR [--runs 3] [--requests 300]
#        [--series 10000] [--workers 2] [--env NAME=VALUE]... [--after-env NAME=VALUE]...
set -euo pipefail
before=""
after=""
runs=3
requests=300
series=10000
workers=2
extra=()
after_extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --before) before="$2"; shift ;;
    --after) after="$2"; shift ;;
    --runs) runs="$2"; shift ;;
    --requests) requests="$2"; shift ;;
    --series) series="$2"; shift ;;
    --workers) workers="$2"; shift ;;
    --env) extra+=("$2"); shift ;;
    --after-env) after_extra+=("$2"); shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$before/cloudgrid" ] && [ -x "$after/cloudgrid" ] || { echo "--before and --after name directories holding cloudgrid and cloudgrid-bench" >&2; exit 2; }

one() {
  local label="$1" bin="$2" data pid out rate peak
  shift 2
  data="$(mktemp -d)"
  env CLOUDGRID_DATA_DIR="$data" CLOUDGRID_WORKERS="$workers" CLOUDGRID_LOG=warn RUST_LIB_BACKTRACE=0 ${extra[@]+"${extra[@]}"} "$@" \
    "$bin/cloudgrid" all >"$data/out.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do grep -q '^ready' "$data/out.log" && break; sleep 0.1; done
  out="$("$bin/cloudgrid-bench" ingest --key "@$data/ingest-key" --signal metrics --protocol http \
    --series "$series" --items-per-request 1000 --requests "$requests" --concurrency 4)"
  peak="$(grep -h VmHWM /proc/$pid/status | awk '{print $2}')"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
  rate="$(printf '%s' "$out" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["persisted_per_s"] or 0))')"
  echo "$label points_per_s=$rate peak_rss_kb=$peak"
}

for i in $(seq 1 "$runs"); do
  one before "$before"
  one after "$after" ${after_extra[@]+"${after_extra[@]}"}
done
