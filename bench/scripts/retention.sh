#!/usr/bin/env bash
# Retention executor figures for docs/benchmarks.md: how fast it deletes at its default
# pacing (CLOUDGRID_RETENTION_BATCH_SIZE 1000, CLOUDGRID_RETENTION_BATCH_PAUSE_MS 100),
# and how much it slows ingest while it runs.
#
# One release `cloudgrid all` (embedded SurrealKV, in-process bus, 2 workers, the
# scheduler on every 2 minutes) is given a backlog under the default policy — 200,000
# spans and 200,000 log records three days old, one metric point two hours old in each of
# --series series — then a policy that covers it (traces 1d, logs 1d, raw points 1h).
# Ingest of recent metrics (10,000 series, 1,000 points a request) is measured --rounds
# times each (the same data added in each phase): before the policy (A), while the
# scheduler's next run deletes the backlog (B: only rounds that ended before the run did
# count; the run then goes on alone), and after that run (C). The process is warm throughout: no restart between A, B and C. Prints
# one JSON object: the ingest reports of each phase and the run (records, items, bytes,
# seconds).
#
#   bash bench/scripts/retention.sh [--series N] [--requests N] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/../.."
series=20000
requests=300
rounds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --series) series="$2"; shift ;;
    --requests) requests="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudgrid-target}"
target="$CARGO_TARGET_DIR/release"
cargo build --release -p cloudgrid -p cloudgrid-bench >&2

data="$(mktemp -d)"
pid=
trap '[ -n "$pid" ] && { kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; }; rm -rf "$data"' EXIT

log="$data/cloudgrid.log"
start() {
  env CLOUDGRID_DATA_DIR="$data" CLOUDGRID_WORKERS=2 CLOUDGRID_LOG=info,surrealdb=warn,surrealkv=warn RUST_LIB_BACKTRACE=0 \
    CLOUDGRID_METRIC_LATENESS=3h CLOUDGRID_RETENTION_SCHEDULER_ENABLED=true CLOUDGRID_RETENTION_INTERVAL=2m \
    "$target/cloudgrid" all >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do grep -q '^ready' "$log" && return; sleep 0.1; done
  cat "$log" >&2
  exit 1
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
}
ingest() {
  "$target/cloudgrid-bench" ingest --key "@$data/ingest-key" "$@"
}
gql() {
  curl -fsS http://127.0.0.1:8080/graphql -H 'content-type: application/json' -d "$1"
}
recent() { # $1: first request number
  ingest --signal metrics --series 10000 --items-per-request 1000 --requests "$requests" --concurrency 4 --first-request "$1"
}

metric() { # $1: name
  curl -fsS http://127.0.0.1:9464/metrics | awk -v m="$1" '$1 == m { print $2 }'
}
runs_logged() {
  sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -c 'retention run records=' || true
}

start
echo "backlog: spans, logs (3 days old), $series series' points (2 hours old), under the default policy" >&2
# 100 items a request: an epoch's events must fit one storage transaction.
ingest --signal traces --age 3d --items-per-request 100 --requests 2000 --concurrency 4 >"$data/spans.json"
ingest --signal logs --age 3d --items-per-request 100 --requests 2000 --concurrency 4 >"$data/logs.json"
ingest --signal metrics --age 2h --series "$series" --items-per-request 1000 --requests $((series / 1000)) --concurrency 4 \
  --first-request 5000000 >"$data/old-points.json"
[ "$(runs_logged)" = 0 ] || { echo "the default policy deleted something" >&2; exit 1; }
echo "A: ingest before the policy" >&2
first=1000000
for i in $(seq 1 "$rounds"); do recent $((first += 10000)) >"$data/a$i.json"; done
gql '{"query":"mutation { setRetentionPolicy(project: \"default\", spec: {traces: \"1d\", logs: \"1d\", points: \"1h\"}) { version } }"}' >/dev/null
echo "waiting for the scheduler's next run to start deleting" >&2
for _ in $(seq 1 1500); do
  [ "$(metric cloudgrid_retention_running)" = 1 ] && break
  sleep 0.1
done
echo "B: ingest while the run deletes" >&2
i=0
while [ "$i" -lt "$rounds" ] && [ "$(runs_logged)" = 0 ]; do
  i=$((i + 1))
  recent $((first += 10000)) >"$data/b$i.json"
  # A round that ended after the run did is not counted.
  [ "$(runs_logged)" = 0 ] || rm "$data/b$i.json"
done
echo "waiting for the run to end" >&2
for _ in $(seq 1 36000); do [ "$(runs_logged)" != 0 ] && break; sleep 0.1; done
echo "C: ingest after the run" >&2
for i in $(seq 1 "$rounds"); do recent $((first += 10000)) >"$data/c$i.json"; done
stop
python3 - "$data" <<'PY'
import glob, json, re, statistics, sys
d = sys.argv[1]
load = lambda n: json.load(open(f"{d}/{n}.json"))
def phase(p):
    reports = [json.load(open(f)) for f in sorted(glob.glob(f"{d}/{p}[0-9]*.json"), key=lambda f: int(re.findall(r"(\d+)\.json$", f)[0]))]
    med = lambda v: statistics.median(v) if v else None
    persisted = [r["persisted_per_s"] for r in reports if r.get("persisted_per_s")]
    accepted = [r["accepted_per_s"] for r in reports]
    return {"rounds": len(reports), "persisted_per_s": persisted, "median_persisted_per_s": med(persisted),
            "accepted_per_s": accepted, "median_accepted_per_s": med(accepted)}
log = open(f"{d}/cloudgrid.log").read()
clean = re.sub(r"\x1b\[[0-9;]*m", "", log)
run = re.search(r"retention run records=(\d+) items=(\d+) bytes=(\d+) seconds=([0-9.]+)", clean)
signals = [dict(zip(("signal", "records", "items", "bytes"), (m[0], int(m[1]), int(m[2]), int(m[3]))))
           for m in re.findall(r"signal=(\S+) cutoff=\d+ records=(\d+) items=(\d+) bytes=(\d+)", clean)]
out = {
    "backlog": {"spans": load("spans")["items_sent"], "logs": load("logs")["items_sent"], "points": load("old-points")["items_sent"]},
    "ingest_before": phase("a"), "ingest_during": phase("b"), "ingest_after": phase("c"),
    "run": None if run is None else {"records": int(run[1]), "items": int(run[2]), "bytes": int(run[3]), "seconds": float(run[4]), "signals": signals},
}
print(json.dumps(out, indent=2))
PY
