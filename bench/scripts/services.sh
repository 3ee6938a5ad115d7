#!/usr/bin/env bash
# CloudGrid in services mode on this machine, from release builds, against the local
# NATS JetStream server and a SurrealDB server (SurrealKV on disk), for two
# measurements recorded in docs/benchmarks.md:
#
#   bash bench/scripts/services.sh scale [--requests N]
#       Horizontal scale: the same metric load (N requests of 1,000 points over 10,000
#       series, split evenly across the collectors) sent to 1 collector + 1 storage-write
#       process, then to 2 collectors + storage-write as a timely cluster of 2 processes.
#       Prints one JSON line per topology: accepted/s at the collectors and persisted/s
#       (every point committed, summed over the storage-write processes).
#   bash bench/scripts/services.sh probe [probe options]
#       A whole services deployment (control-plane, storage-read, storage-write,
#       storage-maintenance, collector, BFF) and `cloudgrid-bench probe` against it, which
#       writes its JSON record and Markdown summary under docs/benchmarks/.
#
# Environment: CARGO_TARGET_DIR (release builds of cloudgrid and cloudgrid-bench),
# CLOUDGRID_SURREAL_RELEASE_TARGET_DIR (where the SurrealDB server is built, release),
# CLOUDGRID_TEST_NATS_URL (default nats://127.0.0.1:4222).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode="${1:-scale}"
shift || true
requests=200
if [ "$mode" = scale ]; then
  while [ $# -gt 0 ]; do
    case "$1" in
      --requests) requests="$2"; shift ;;
      *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
  done
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudgrid-target}"
bin="$CARGO_TARGET_DIR/release"
CLOUDGRID_SKIP_UI_BUILD=1 cargo build --release --locked --quiet -p cloudgrid -p cloudgrid-bench >&2
surreal_target="${CLOUDGRID_SURREAL_RELEASE_TARGET_DIR:-$HOME/.cache/cloudgrid-surreal-release}"
CARGO_TARGET_DIR="$surreal_target" cargo build --release --locked --quiet --manifest-path tests/surreal-server/Cargo.toml >&2
surreal="$surreal_target/release/surreal-test-server"
nats="${CLOUDGRID_TEST_NATS_URL:-nats://127.0.0.1:4222}"
token="bench-service-token-bench-service-token"

work="$(mktemp -d)"
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
addr() { sed -n "s|^$2 listening on ||p" "$work/$1/out.log" | head -n 1; }
wait_ready() {
  for _ in $(seq 1 600); do grep -q '^ready' "$work/$1/out.log" && return 0; sleep 0.1; done
  echo "$1 did not start:" >&2; cat "$work/$1/out.log" >&2; exit 1
}

# start NAME TARGET [VAR=value ...]: one service in the background, its output in $work/NAME.
start() {
  local name="$1" target="$2"
  shift 2
  mkdir -p "$work/$name"
  env CLOUDGRID_DATA_DIR="$work/$name" CLOUDGRID_LOG=warn RUST_LIB_BACKTRACE=0 \
    CLOUDGRID_ADMIN_ADDR=127.0.0.1:0 CLOUDGRID_OTLP_HTTP_ADDR=127.0.0.1:0 CLOUDGRID_OTLP_GRPC_ADDR=127.0.0.1:0 \
    CLOUDGRID_BFF_ADDR=127.0.0.1:0 CLOUDGRID_SERVICE_TOKEN="$token" "$@" \
    "$bin/cloudgrid" "$target" >"$work/$name/out.log" 2>&1 &
  pids+=($!)
}

# deploy COLLECTORS WRITERS [full]: a fresh database and stream, and the services.
deploy() {
  local collectors="$1" writers="$2" full="${3:-}"
  local run="run$RANDOM$RANDOM"
  rm -rf "${work:?}"/*
  local port
  port="$(free_port)"
  mkdir -p "$work/surreal"
  "$surreal" start --user root --pass root --bind "127.0.0.1:$port" "surrealkv://$work/surreal/db" >"$work/surreal/out.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  db=(CLOUDGRID_SURREAL_URL="ws://127.0.0.1:$port" CLOUDGRID_SURREAL_USER=root CLOUDGRID_SURREAL_PASSWORD=root)
  bus=(CLOUDGRID_NATS_URL="$nats" CLOUDGRID_NATS_NAMESPACE="$run" CLOUDGRID_NATS_MAX_BYTES=$((2 << 30)))
  start control control-plane "${db[@]}" "${bus[@]}" CLOUDGRID_CONTROL_PLANE_ADDR=127.0.0.1:0
  wait_ready control
  control_addr="$(addr control 'control-plane gRPC')"
  local timely="" i
  if [ "$writers" -gt 1 ]; then
    for i in $(seq 1 "$writers"); do timely="$timely${timely:+,}127.0.0.1:$(free_port)"; done
  fi
  for i in $(seq 0 $((writers - 1))); do
    start "write-$i" storage-write "${db[@]}" "${bus[@]}" CLOUDGRID_WORKERS=1 \
      ${timely:+CLOUDGRID_TIMELY_ADDRESSES="$timely"} CLOUDGRID_TIMELY_PROCESS="$i"
  done
  for i in $(seq 0 $((writers - 1))); do wait_ready "write-$i"; done
  for i in $(seq 0 $((collectors - 1))); do
    start "collector-$i" collector "${bus[@]}" CLOUDGRID_CONTROL_PLANE_ADDR="$control_addr"
    wait_ready "collector-$i"
  done
  if [ -n "$full" ]; then
    start read storage-read "${db[@]}" "${bus[@]}" CLOUDGRID_STORAGE_READ_ADDR=127.0.0.1:0
    start maintenance maintenance "${db[@]}"
    wait_ready read
    wait_ready maintenance
    start bff bff CLOUDGRID_STORAGE_READ_ADDR="$(addr read 'storage-read gRPC')" CLOUDGRID_CONTROL_PLANE_ADDR="$control_addr"
    wait_ready bff
  fi
}

# Points committed so far, summed over the storage-write processes.
persisted() {
  local total=0 i a v
  for i in $(seq 0 $(($1 - 1))); do
    a="$(addr "write-$i" health)"
    v="$(curl -s "http://$a/metrics" | sed -n 's/^cloudgrid_pipeline_persisted_total{kind="points"} //p')"
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

scale_run() {
  local collectors="$1" writers="$2"
  deploy "$collectors" "$writers"
  local per=$((requests / collectors)) total=$((requests / collectors * collectors * 1000)) i
  local start_s
  start_s="$(date +%s.%N)"
  local senders=()
  for i in $(seq 0 $((collectors - 1))); do
    # Each collector its own share of the requests (distinct request numbers: no two
    # requests are the same bytes). Persistence is followed here, over every writer.
    "$bin/cloudgrid-bench" ingest --endpoint "http://$(addr "collector-$i" OTLP/HTTP)" --key "@$work/control/ingest-key" \
      --admin "http://$(addr write-0 health)" --persist-timeout-s 0 --signal metrics --series 10000 \
      --items-per-request 1000 --requests "$per" --first-request $((i * per)) --concurrency 4 >"$work/send-$i.json" 2>/dev/null &
    senders+=($!)
  done
  for p in "${senders[@]}"; do wait "$p" || { echo "a sender failed:" >&2; cat "$work"/send-*.json >&2; exit 1; }; done
  local sent_s
  sent_s="$(date +%s.%N)"
  local done_n=0
  for _ in $(seq 1 3000); do
    done_n="$(persisted "$writers")"
    [ "$done_n" -ge "$total" ] && break
    sleep 0.1
  done
  local end_s
  end_s="$(date +%s.%N)"
  local shares=""
  for i in $(seq 0 $((writers - 1))); do
    shares="$shares${shares:+, }$(curl -s "http://$(addr "write-$i" health)/metrics" | sed -n 's/^cloudgrid_pipeline_persisted_total{kind="points"} //p')"
  done
  python3 - "$collectors" "$writers" "$total" "$done_n" "$start_s" "$sent_s" "$end_s" "$shares" "$work"/send-*.json <<'EOF'
import json, sys
collectors, writers, total, persisted = map(int, sys.argv[1:5])
start, sent, end = map(float, sys.argv[5:8])
reports = [json.load(open(f)) for f in sys.argv[9:]]
print(json.dumps({
    "collectors": collectors,
    "storage_write_processes": writers,
    "points": total,
    "persisted": persisted,
    "persisted_by_process": [int(x) for x in sys.argv[8].split(", ")],
    "rejected": sum(r["items_rejected"] for r in reports),
    "failed_requests": sum(r["failed_requests"] for r in reports),
    "accepted_per_s": round(total / (sent - start)),
    "persisted_per_s": round(persisted / (end - start)),
    "seconds_to_persisted": round(end - start, 2),
}))
EOF
  stop_all
}

case "$mode" in
  scale)
    scale_run 1 1
    scale_run 2 2
    ;;
  probe)
    deploy 1 1 full
    "$bin/cloudgrid-bench" probe --key "@$work/control/ingest-key" \
      --endpoint "http://$(addr collector-0 OTLP/HTTP)" --grpc-endpoint "http://$(addr collector-0 OTLP/gRPC)" \
      --graphql "http://$(addr bff 'GraphQL (BFF)')/graphql" --admin "http://$(addr write-0 health)" "$@"
    ;;
  *)
    echo "usage: $0 scale [--requests N] | probe [probe options]" >&2
    exit 2
    ;;
esac
