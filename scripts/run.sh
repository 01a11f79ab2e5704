#!/usr/bin/env bash
# The main job: builds seqsynth (release), sets up the train stage's Python environment, and runs
# the whole configured pipeline at the default scale of pipeline.toml (ingest of
# ../shared/data/oeis, 10,000 synthetic pairs, a tiny T5 trained for 2 epochs on the CPU).
# Extra arguments go to `seqsynth run` (e.g. ./scripts/run.sh synth.pairs=2000).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked
./scripts/setup-python.sh >/dev/null
"$CARGO_TARGET_DIR/release/seqsynth" run "$@"
"$CARGO_TARGET_DIR/release/seqsynth" status "$@"
