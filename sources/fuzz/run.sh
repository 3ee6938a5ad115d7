#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each (default 60 s), starting from its
# checked-in corpus: bash sources/fuzz/run.sh [seconds] [target…]
#   otlp_decode  the OTLP decoders (protobuf and OTLP/JSON, gzip), validation, splitting
#                and normalization
#   alert_rule   alert rules as the GraphQL mutations take them: parsing, the check,
#                label matchers' regular expressions, templates
# Needs cargo-fuzz (cargo install cargo-fuzz); stable rustc is let into the nightly-only
# sanitizer flags with RUSTC_BOOTSTRAP. New inputs found go to a scratch copy, not to the
# checked-in corpus; a crash leaves its input under artifacts/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(otlp_decode alert_rule)
python3 make_seeds.py
for target in "${targets[@]}"; do
  work="$(mktemp -d)"
  cp corpus/"$target"/* "$work/"
  echo "== fuzzing $target for ${seconds} s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir . "$target" "$work" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
