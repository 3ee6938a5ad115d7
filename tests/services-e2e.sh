#!/usr/bin/env bash
# Runs the end-to-end suite against CloudGrid in services mode: every test body that
# starts a deployment (tests/e2e/deployment.rs) gets control-plane, storage-read,
# storage-write, storage-maintenance, collector and BFF as separate processes, over
# NATS JetStream and a SurrealDB server, instead of one `cloudgrid all`. The tests that
# are about services mode itself (the storage-write cluster, crashes of storage-write)
# run as they always do.
#
# Installs what it needs: a NATS server with JetStream on 127.0.0.1:4222 when none
# answers there, the SurrealDB server (crate surrealdb-server, built with cargo into a
# cached target directory), the OpenTelemetry Python SDK and aiosmtpd.
# Prints how long the suite took. Extra arguments go to the test binary (a filter).
#
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/cloudgrid-target),
# CLOUDGRID_SURREAL_TARGET_DIR (default $HOME/.cache/cloudgrid-surreal),
# CLOUDGRID_TEST_NATS_URL (default nats://127.0.0.1:4222).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudgrid-target}"
export CLOUDGRID_TEST_NATS_URL="${CLOUDGRID_TEST_NATS_URL:-nats://127.0.0.1:4222}"

python3 -m pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt

nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
if ! nats_up; then
  if ! command -v nats-server >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq nats-server >/dev/null
  fi
  store_dir="$(mktemp -d)"
  echo "starting nats-server with JetStream (store: $store_dir)"
  nats-server -a 127.0.0.1 -p 4222 -js -sd "$store_dir" >"$store_dir/nats.log" 2>&1 &
  for _ in $(seq 1 100); do nats_up && break; sleep 0.1; done
  nats_up || { echo "nats-server did not start"; cat "$store_dir/nats.log"; exit 1; }
fi

echo "== SurrealDB server"
surreal_target="${CLOUDGRID_SURREAL_TARGET_DIR:-$HOME/.cache/cloudgrid-surreal}"
CARGO_TARGET_DIR="$surreal_target" cargo build --locked --quiet --manifest-path tests/surreal-server/Cargo.toml
export CLOUDGRID_TEST_SURREAL_SERVER="$surreal_target/debug/surreal-test-server"

echo "== building the suite"
cargo test --locked --test e2e --no-run

echo "== end-to-end suite in services mode"
started=$(date +%s)
CLOUDGRID_E2E_MODE=services cargo test --locked --test e2e -- "$@"
echo "services-mode suite: $(( $(date +%s) - started )) s"
