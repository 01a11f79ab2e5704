#!/usr/bin/env bash
# Training throughput of the train stage, the settings before the learned-search issue and the
# local defaults side by side in one run: pairs per second of one epoch on the default synthetic
# set, and the validation time. Results: docs/perf.md.
# Usage: bench/train.sh [extra KEY=VALUE overrides]   (CPU unless PyTorch sees a GPU)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked -q
./scripts/setup-python.sh >/dev/null
bin="$CARGO_TARGET_DIR/release/seqsynth"
tmp="$(mktemp -d)"
store="$tmp/store"
log="$tmp/log"
trap 'rm -rf "$tmp"' EXIT
bench() { # label, then KEY=VALUE settings
  local label="$1"
  shift
  "$bin" run stage=train --store "$store" train.epochs=1 "$@" >/dev/null 2>"$log" \
    || { cat "$log"; exit 1; }
  python3 - "$store/refs/train@0/manifest.json" "$label" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
c = m["counters"]
e = c["epoch_timings"][-1]
print(f"{sys.argv[2]:<58} {c['device']}: {e['pairs_per_second']:7.1f} pairs/s, "
      f"epoch {e['train_seconds']:6.1f}s, validation {e.get('val_seconds', 0):5.1f}s, loss {c['final_train_loss']:.3f}")
PY
}
old=(train.batch_size=10 train.lr=1e-4 train.group_by_length=false train.validate_size=0 train.dropout=0.1)
bench "tiny, before (batch 10, plain, dropout 0.1, 1,000 val.)" "${old[@]}" "$@"
bench "tiny, batch 64 only" "${old[@]}" train.batch_size=64 "$@"
bench "tiny, batch 64, by length, 200 val., dropout 0.1" train.dropout=0.1 "$@"
bench "tiny, local defaults (the above, dropout 0)" "$@"
bench "tiny, local defaults, batch 256" train.batch_size=256 "$@"
bench "tiny, local defaults, base1000 spelling" train.spelling=base1000 "$@"
