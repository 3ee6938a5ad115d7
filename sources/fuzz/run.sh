#!/usr/bin/env bash
# Fuzzes the OTLP decoders for a bounded time (default 60 s): bash sources/fuzz/run.sh [seconds]
# Needs cargo-fuzz (cargo install cargo-fuzz); stable rustc is let into the nightly-only
# sanitizer flags with RUSTC_BOOTSTRAP.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
python3 make_seeds.py
work="$(mktemp -d)"
cp corpus/otlp_decode/* "$work/"
RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir . otlp_decode "$work" -- -max_total_time="$seconds" -rss_limit_mb=2048
