#!/usr/bin/env bash
# Ingest time and peak memory for all sequences of ../shared/data/oeis (ingest.limit=0) and for
# the default 10,000. Results: docs/perf.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked -q
bin="$CARGO_TARGET_DIR/release/seqsynth"
for limit in 0 10000; do
  store="$(mktemp -d)"
  /usr/bin/time -f "ingest.limit=$limit: %e s wall, peak RSS %M KiB" \
    "$bin" run stage=ingest ingest.limit=$limit --store "$store" >/dev/null
  rm -rf "$store"
done
