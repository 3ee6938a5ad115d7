#!/usr/bin/env bash
# The reliability suite (docs/reliability.md) in one command, on one machine, loopback
# only: the fault scenarios and the bad-input battery under good traffic (single
# process, then services mode over NATS JetStream and a SurrealDB server), the security
# checks of the crate suites, and every fuzz target for a bounded time.
#
#   bash tests/reliability/run.sh
#   CLOUDGRID_FUZZ_SECONDS=300 bash tests/reliability/run.sh
#   CLOUDGRID_TEST_SEED=123 bash tests/reliability/run.sh   # replays seeded scenarios
#
# Installs what it needs the way .ci/run does (NATS, the SurrealDB server, the Python
# OTLP SDK, cargo-fuzz). The fast part of it also runs in CI with the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudgrid-target}"
fuzz_seconds="${CLOUDGRID_FUZZ_SECONDS:-60}"
started=$(date +%s)
step() { echo; echo "== $1 (at $(( $(date +%s) - started )) s)"; }

step "fault scenarios, bad-input battery under traffic: services mode"
# Also installs and starts NATS and builds the SurrealDB server for what follows.
bash tests/services-e2e.sh reliability hostile crash alert_crash drain retention restart keys
export CLOUDGRID_TEST_SURREAL_SERVER="${CLOUDGRID_SURREAL_TARGET_DIR:-$HOME/.cache/cloudgrid-surreal}/debug/surreal-test-server"

step "the same, single process"
cargo test --locked --test e2e -- reliability hostile crash alert_crash drain retention restart keys

step "disk full: one process on a small filesystem of its own (tmpfs, needs root)"
small="$(mktemp -d)"
mount -t tmpfs -o size=256m tmpfs "$small"
trap 'umount "$small" 2>/dev/null || true' EXIT
CLOUDGRID_TEST_SMALL_DISK="$small" cargo test --locked --test e2e -- --ignored full_disk
umount "$small"

step "security checks: tenant isolation, webhook SSRF, SMTP injection, OIDC, WebSocket origin, GraphQL limits, OTLP answers"
cargo test --locked --workspace -- tenancy webhooks invitations sso graphql contract nats_auth

step "fuzzing, ${fuzz_seconds} s per target"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
bash sources/fuzz/run.sh "$fuzz_seconds"

echo
echo "reliability suite passed in $(( $(date +%s) - started )) s"
