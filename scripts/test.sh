#!/usr/bin/env bash
# Runs every check and test of the project: formatting, clippy (warnings are errors), and the
# whole cargo test suite (unit, property, end-to-end). Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Build outputs live outside the clone so that they survive between runs (CI caches them).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if [ ! -d ../shared/data/oeis ]; then
  echo "note: ../shared/data/oeis is missing; the test that ingests it will fail" >&2
fi
# The model tests need the train stage's Python environment (created once, then reused).
./scripts/setup-python.sh >/dev/null
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked -j2
