#!/usr/bin/env bash
# Training throughput of the train stage: pairs per second for `tiny` (and `t5-small`) on this
# machine, plus what a 300-epoch finetune on 9,000 pairs would take. Results: docs/perf.md.
# Usage: bench/train.sh [extra KEY=VALUE overrides]   (CPU unless PyTorch sees a GPU)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked -q
./scripts/setup-python.sh >/dev/null
bin="$CARGO_TARGET_DIR/release/seqsynth"
store="$(mktemp -d)"
trap 'rm -rf "$store"' EXIT
bench() { # size pairs validation
  "$bin" run stage=train --store "$store" train.size="$1" synth.pairs="$2" synth.validation="$3" \
    train.epochs=1 "${@:4}" >/dev/null 2>"$store/log" || { cat "$store/log"; exit 1; }
  python3 - "$store/refs/train@0/metrics.json" "$1" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
e = m["epochs"][-1]
pps = e["pairs_per_second"]
print(f"{sys.argv[2]:>9} on {m['device']}: {pps:8.1f} pairs/s training (batch 10), "
      f"validation {e.get('val_seconds', 0):.1f}s; 300 epochs x 9000 pairs = {300*9000/pps/3600:.1f} h")
PY
}
bench tiny 10000 1000 "$@"
bench t5-small 1100 100 "$@"
