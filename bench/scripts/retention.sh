#!/usr/bin/env bash
# Retention executor figures for docs/benchmarks.md: how fast it deletes at its default
# pacing (CLOUDGRID_RETENTION_BATCH_SIZE 1000, CLOUDGRID_RETENTION_BATCH_PAUSE_MS 100),
# and how much it slows ingest while it runs.
#
# A release `cloudgrid all` (embedded SurrealKV, in-process bus, 2 workers) is given a
# backlog past retention — 200,000 spans and 200,000 log records three days old, one
# metric point two hours old in each of --series series — and a policy that covers it (traces 1d, logs 1d,
# raw points 1h). Ingest of recent metrics (10,000 series, 1,000 points a request) is
# measured three times: before the policy (A), right after a restart with the scheduler
# on, while its first run deletes the backlog (B), and after that run (C). Prints one
# JSON object: the three ingest reports and the run (records, items, bytes, seconds).
#
#   bash bench/scripts/retention.sh [--series N] [--requests N]
set -euo pipefail
cd "$(dirname "$0")/../.."
series=20000
requests=300
while [ $# -gt 0 ]; do
  case "$1" in
    --series) series="$2"; shift ;;
    --requests) requests="$2"; shift ;;
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

start() { # $1: scheduler on (true/false), $2: log name
  env CLOUDGRID_DATA_DIR="$data" CLOUDGRID_WORKERS=2 CLOUDGRID_LOG=info,surrealdb=warn,surrealkv=warn RUST_LIB_BACKTRACE=0 \
    CLOUDGRID_METRIC_LATENESS=3h CLOUDGRID_RETENTION_SCHEDULER_ENABLED="$1" CLOUDGRID_RETENTION_INTERVAL=1h \
    "$target/cloudgrid" all >"$data/$2.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do grep -q '^ready' "$data/$2.log" && return; sleep 0.1; done
  cat "$data/$2.log" >&2
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

start false backlog
echo "backlog: spans, logs (3 days old), $series series' points (2 hours old)" >&2
# 100 items a request: an epoch's events must fit one storage transaction.
ingest --signal traces --age 3d --items-per-request 100 --requests 2000 --concurrency 4 >"$data/spans.json"
ingest --signal logs --age 3d --items-per-request 100 --requests 2000 --concurrency 4 >"$data/logs.json"
ingest --signal metrics --age 2h --series "$series" --items-per-request 1000 --requests $((series / 1000)) --concurrency 4 \
  --first-request 5000000 >"$data/old-points.json"
echo "A: ingest before the policy" >&2
recent 1000000 >"$data/a.json"
gql '{"query":"mutation { setRetentionPolicy(project: \"default\", spec: {traces: \"1d\", logs: \"1d\", points: \"1h\"}) { version } }"}' >/dev/null
# The pipeline makes the tombstones within a second or two.
for _ in $(seq 1 100); do
  gql '{"query":"{ retentionPolicy(project: \"default\") { tombstones { signal cutoff } } }"}' \
    | python3 -c 'import json,sys,time; t={x["signal"]: int(x["cutoff"]) for x in json.load(sys.stdin)["data"]["retentionPolicy"]["tombstones"]}; sys.exit(0 if t.get("points",0) > (time.time()-3700)*1e9 else 1)' && break
  sleep 0.2
done
stop
echo "B: ingest while the executor's first run deletes the backlog" >&2
start true deleting
recent 2000000 >"$data/b.json"
for _ in $(seq 1 6000); do grep -q 'retention run' "$data/deleting.log" && break; sleep 0.1; done
echo "C: ingest after the run" >&2
recent 3000000 >"$data/c.json"
stop
python3 - "$data" <<'PY'
import json, re, sys
d = sys.argv[1]
load = lambda n: json.load(open(f"{d}/{n}.json"))
log = open(f"{d}/deleting.log").read()
clean = re.sub(r"\x1b\[[0-9;]*m", "", log)
run = re.search(r"retention run records=(\d+) items=(\d+) bytes=(\d+) seconds=([0-9.]+)", clean)
signals = [dict(zip(("signal", "records", "items", "bytes"), (m[0], int(m[1]), int(m[2]), int(m[3]))))
           for m in re.findall(r"signal=(\S+) cutoff=\d+ records=(\d+) items=(\d+) bytes=(\d+)", clean)]
out = {
    "backlog": {"spans": load("spans")["items_sent"], "logs": load("logs")["items_sent"], "points": load("old-points")["items_sent"]},
    "ingest_before": load("a"), "ingest_during": load("b"), "ingest_after": load("c"),
    "run": None if run is None else {"records": int(run[1]), "items": int(run[2]), "bytes": int(run[3]), "seconds": float(run[4]), "signals": signals},
}
print(json.dumps(out, indent=2))
PY
