#!/usr/bin/env bash
# The soak of the reliability suite (docs/reliability.md): a release `cloudgrid all`
# (embedded SurrealKV, in-process bus) under a steady metric load for a bounded time, in
# one-minute segments of the same requests, each segment's event times continuing on the
# wall clock. Per segment: points offered, accepted and persisted per second,
# ack latency p50/p99, failed and rejected requests, the server's resident memory. At the
# end: the memory trend (median RSS of the last third of what follows the warm-up against
# its first third) checked against a bound.
#
#   bash bench/scripts/soak.sh [--minutes 30] [--rate 150000] [--series N] [--lateness 3m] [--bound-pct 10]
#
# --rate is points per second offered; use half of what `bash bench/scripts/ingest.sh`
# measures as persisted/s on the machine. Event time runs on the wall clock, as it does
# for real senders: the generator puts a series' successive points 1 ms apart, so the
# series number `rate / 1000` by default, and each segment continues where the last one
# ended. The server's allowed lateness (`CLOUDGRID_METRIC_LATENESS`, 3m here: the points
# sent are one to two minutes old) is the hot window the rollups hold: memory reaches its steady state once the window is full, and
# the trend is measured after a warm-up of two windows. Exits non-zero when a request
# failed, a point was lost, or memory grew past the bound.
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=30
rate=150000
series=""
lateness=3m
bound_pct=10
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift ;;
    --rate) rate="$2"; shift ;;
    --series) series="$2"; shift ;;
    --lateness) lateness="$2"; shift ;;
    --bound-pct) bound_pct="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
series="${series:-$(( rate / 1000 ))}"
env=(CLOUDGRID_METRIC_LATENESS="$lateness")
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
echo "soak: ${minutes} min at ${rate} points/s over ${series} series (${requests} requests a minute), lateness ${lateness}" >&2
for segment in $(seq 0 $(( minutes - 1 ))); do
  "$target/cloudgrid-bench" ingest --key "@$data/ingest-key" --signal metrics --protocol http \
    --series "$series" --items-per-request "$per_request" --requests "$requests" --concurrency 8 --gzip \
    --rate "$rate" --persist-timeout-s 120 \
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

warmup_s=$(python3 -c "import re,sys; m=re.fullmatch(r'(\d+)([smh])', '$lateness'); print(2 * int(m[1]) * {'s': 1, 'm': 60, 'h': 3600}[m[2]])")
python3 - "$data" "$minutes" "$bound_pct" "$warmup_s" <<'EOF'
import glob, json, statistics, sys
data, minutes, bound, warmup = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
segments = [json.load(open(f"{data}/segment-{i}.json")) for i in range(minutes)]
failed = sum(s["failed_requests"] for s in segments)
lost = sum(s["items_sent"] - s["items_rejected"] - (s["persisted_items"] or 0) for s in segments)
samples = [tuple(map(int, l.split())) for l in open(f"{data}/rss.txt") if len(l.split()) == 2]
warm = [kb for t, kb in samples if t >= max(60, warmup)]
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
