#!/usr/bin/env bash
# The main job: builds seqsynth (release) and runs the whole configured pipeline at the default
# scale of pipeline.toml (ingest of ../shared/data/oeis, 10,000 synthetic pairs).
# Extra arguments go to `seqsynth run` (e.g. ./scripts/run.sh synth.pairs=2000).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked
"$CARGO_TARGET_DIR/release/seqsynth" run "$@"
"$CARGO_TARGET_DIR/release/seqsynth" status "$@"
