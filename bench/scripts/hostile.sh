#!/usr/bin/env bash
# Figures of the reliability suite (docs/reliability.md) against one release
# `cloudgrid all` on loopback:
# - the bad-input battery under good traffic: good metric traffic's ack latency alone and
#   while the battery runs round after round (`cloudgrid-bench hostile`);
# - tenant isolation: a quiet project's ack latency alone and beside a project creating
#   a million series in a minute (`cloudgrid-bench isolation`).
#
#   bash bench/scripts/hostile.sh [--runs 3]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
limit=$(( 4 << 20 ))
env=(CLOUDGRID_MAX_HTTP_BODY_BYTES="$limit")
source bench/scripts/single.sh

"$target/cloudgrid-bench" hostile --key "@$data/ingest-key" --runs "$runs" \
  --series 10000 --items-per-request 1000 --requests 600 --rate 50000 --max-http-body-bytes "$limit"
"$target/cloudgrid-bench" isolation --key "@$data/ingest-key" --runs "$runs"
grep -h VmHWM /proc/$pid/status >&2 || true
