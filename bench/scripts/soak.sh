#!/usr/bin/env bash
# The soak of the reliability suite (docs/reliability.md): a release `cloudgrid all`
# (embedded SurrealKV, in-process bus) under a steady metric load for a bounded time, in
# one-minute segments. Per segment: points offered, accepted and persisted per second,
# ack latency p50/p99, failed and rejected requests, the server's resident memory. At the
# end: the memory trend (median RSS of the last third of the run against the first
# third, the first segment left out as warm-up) checked against a bound.
#
#   bash bench/scripts/soak.sh [--minutes 30] [--rate 250000] [--series 10000] [--bound-pct 10]
#
# --rate is points per second offered; use half of what `bash bench/scripts/ingest.sh`
# measures as persisted/s on the machine. Exits non-zero when a request failed, a point
# was lost, or memory grew past the bound.
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=30
rate=250000
series=10000
bound_pct=10
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift ;;
    --rate) rate="$2"; shift ;;
    --series) series="$2"; shift ;;
    --bound-pct) bound_pct="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
env=()
source bench/scripts/single.sh
sampler=""
trap 'kill $sampler 2>/dev/null || true; kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT

# Resident memory every 5 s, with the seconds since the start.
started=$(date +%s)
( while kill -0 "$pid" 2>/dev/null; do
    echo "$(( $(date +%s) - started )) $(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
    sleep 5
  done ) >"$data/rss.txt" &
sampler=$!

per_request=1000
requests=$(( rate * 60 / per_request ))
echo "soak: ${minutes} min at ${rate} points/s over ${series} series (${requests} requests a minute)" >&2
for segment in $(seq 0 $(( minutes - 1 ))); do
  "$target/cloudgrid-bench" ingest --key "@$data/ingest-key" --signal metrics --protocol http \
    --series "$series" --items-per-request "$per_request" --requests "$requests" --concurrency 8 --gzip \
    --rate "$rate" --first-request $(( segment * requests )) --persist-timeout-s 120 \
    >"$data/segment-$segment.json"
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  python3 - "$data/segment-$segment.json" "$segment" "$rss" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"minute {int(sys.argv[2]) + 1:3d}: accepted {r['accepted_per_s']:9.0f}/s  persisted {r['persisted_items']:>9} "
      f"ack p50 {r['ack_p50_ms']:7.1f} ms  p99 {r['ack_p99_ms']:7.1f} ms  failed {r['failed_requests']}  "
      f"rejected {r['items_rejected']}  retries {r['retries']}  RSS {int(sys.argv[3]) // 1024} MB", flush=True)
EOF
done
kill $sampler 2>/dev/null || true
grep -h VmHWM /proc/$pid/status >&2 || true

python3 - "$data" "$minutes" "$bound_pct" <<'EOF'
import glob, json, statistics, sys
data, minutes, bound = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
segments = [json.load(open(f"{data}/segment-{i}.json")) for i in range(minutes)]
failed = sum(s["failed_requests"] for s in segments)
lost = sum(s["items_sent"] - s["items_rejected"] - (s["persisted_items"] or 0) for s in segments)
samples = [tuple(map(int, l.split())) for l in open(f"{data}/rss.txt") if len(l.split()) == 2]
warm = [kb for t, kb in samples if t >= 60]
third = max(1, len(warm) // 3)
first, last = statistics.median(warm[:third]), statistics.median(warm[-third:])
growth = (last - first) / first * 100
p99s = [s["ack_p99_ms"] for s in segments]
print(json.dumps({
    "minutes": minutes, "failed_requests": failed, "points_lost": lost,
    "rss_first_third_mb": round(first / 1024), "rss_last_third_mb": round(last / 1024),
    "rss_growth_pct": round(growth, 1), "bound_pct": bound,
    "ack_p99_ms_median": round(statistics.median(p99s), 1), "ack_p99_ms_max": round(max(p99s), 1),
}, indent=2))
ok = failed == 0 and lost == 0 and growth <= bound
print("soak " + ("passed" if ok else "FAILED"), file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
