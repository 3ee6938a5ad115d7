#!/usr/bin/env bash
# Web UI figures for docs/benchmarks.md: the metric explorer's first load (navigation to
# the first chart drawn, three loads, the first with a cold cache) and the rendering of a
# chart of 100 series × 1,000 points (from the parsed answer to pixels, then re-drawn in
# place), in headless Chromium against a release `cloudgrid all` on loopback. Runs the
# UI's browser test with its timing steps on (CLOUDGRID_UI_TIMINGS=1); the figures are
# printed at its end.
#
#   bash bench/scripts/ui.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudgrid-target}"
cargo build --release -p cloudgrid >&2
cd bff/ui
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run build >&2
CLOUDGRID_UI_TIMINGS=1 CLOUDGRID_BIN="$CARGO_TARGET_DIR/release/cloudgrid" npm run test:browser
