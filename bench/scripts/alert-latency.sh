#!/usr/bin/env bash
# Alert detection latency, CloudGrid against Prometheus + Alertmanager in one run, on the
# same points sent at the same moments: CloudGrid takes them over OTLP/HTTP, Prometheus
# through its remote-write receiver. Each side at its tightest sensible settings:
#   CloudGrid   rule `max over 1m > 100`, for 0, CLOUDGRID_ALERT_GROUP_WAIT=0s
#   Prometheus  evaluation_interval 1s, `max_over_time(...[1m]) > 100`, for 0s
#   Alertmanager group_wait 0s, group_interval 1s
# Both webhooks land on the probe's receiver. Prints the probe's JSON report.
#
#   bash bench/scripts/alert-latency.sh [--rounds N] [--workers N]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=60
workers=2
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    --workers) workers="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in prometheus prometheus-alertmanager; do
  command -v "$tool" >/dev/null || { echo "install the Debian packages prometheus and prometheus-alertmanager" >&2; exit 1; }
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudgrid-target}"
target="$CARGO_TARGET_DIR/release"
cargo build --release -p cloudgrid -p cloudgrid-bench >&2

work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
receiver=127.0.0.1:19099

cat >"$work/alertmanager.yml" <<EOF
route:
  receiver: probe
  group_by: [alertname, round]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: probe
    webhook_configs:
      - url: http://$receiver/peer
        send_resolved: false
EOF
cat >"$work/rules.yml" <<EOF
groups:
  - name: bench
    interval: 1s
    rules:
      - alert: AlertBench
        expr: max by (round) (max_over_time(bench_alert_level[1m])) > 100
        for: 0s
EOF
cat >"$work/prometheus.yml" <<EOF
global:
  evaluation_interval: 1s
rule_files: [$work/rules.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [127.0.0.1:19093]
EOF

prometheus-alertmanager --config.file="$work/alertmanager.yml" --storage.path="$work/am" \
  --web.listen-address=127.0.0.1:19093 --cluster.listen-address= >"$work/am.log" 2>&1 &
pids+=($!)
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address=127.0.0.1:19090 --web.enable-remote-write-receiver >"$work/prom.log" 2>&1 &
pids+=($!)
for url in http://127.0.0.1:19093/-/ready http://127.0.0.1:19090/-/ready; do
  for _ in $(seq 1 100); do curl -sf "$url" >/dev/null && break; sleep 0.1; done
  curl -sf "$url" >/dev/null || { cat "$work/am.log" "$work/prom.log"; exit 1; }
done

env CLOUDGRID_DATA_DIR="$work/cg" CLOUDGRID_WORKERS="$workers" CLOUDGRID_LOG=warn RUST_LIB_BACKTRACE=0 \
  CLOUDGRID_ALERT_GROUP_WAIT=0s "$target/cloudgrid" all >"$work/cg.log" 2>&1 &
cg=$!; pids+=("$cg")
for _ in $(seq 1 300); do grep -q '^ready' "$work/cg.log" && break; sleep 0.1; done
grep -q '^ready' "$work/cg.log" || { cat "$work/cg.log"; exit 1; }

echo "== Prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}'), Alertmanager $(prometheus-alertmanager --version 2>&1 | head -1 | awk '{print $3}')"
"$target/cloudgrid-bench" alert-latency --key "@$work/cg/ingest-key" --prometheus http://127.0.0.1:19090 \
  --receiver "$receiver" --rounds "$rounds"
