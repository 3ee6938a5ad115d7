# Sourced by the bench scripts: builds the release binaries and starts one release
# `cloudgrid all` on loopback (default ports, embedded SurrealKV, in-process bus unless
# the caller's `env` array says otherwise) on a fresh data directory `$data`; `$pid` is
# its process, `$target` where the binaries are. Stopped and removed on exit.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudgrid-target}"
target="$CARGO_TARGET_DIR/release"
cargo build --release -p cloudgrid -p cloudgrid-bench >&2

data="$(mktemp -d)"
# anyhow (inside SurrealDB) captures a backtrace per internal error when RUST_BACKTRACE
# is set; measure the server as it runs in production.
env=(CLOUDGRID_DATA_DIR="$data" CLOUDGRID_WORKERS="${workers:-2}" CLOUDGRID_LOG=warn RUST_LIB_BACKTRACE=0 "${env[@]}")
env "${env[@]}" "$target/cloudgrid" all >"$data/out.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do grep -q '^ready' "$data/out.log" && break; sleep 0.1; done
grep -q '^ready' "$data/out.log" || { cat "$data/out.log"; exit 1; }
