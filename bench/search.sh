#!/usr/bin/env bash
# Search throughput (targets per second) of the grammar-constrained beam search on ONNX Runtime,
# with the policy of train@0 of the default store (run ./scripts/run.sh first), for a few beam
# widths and batch sizes. Each measurement searches a fresh store copy, so nothing is cached.
# Results: docs/perf.md. Usage: bench/search.sh [targets, default 1000] [extra KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked -q
bin="$CARGO_TARGET_DIR/release/seqsynth"
n="${1:-1000}"
shift || true
extra=("$@")
[ -e data/refs/train@0 ] || { echo "no data/refs/train@0: run ./scripts/run.sh first" >&2; exit 2; }
store="$(mktemp -d)"
trap 'rm -rf "$store"' EXIT
mkdir -p "$store/objects" "$store/refs"
for node in ingest synth train@0; do
  key="$(basename "$(readlink -f "data/refs/$node")")"
  cp -r "data/objects/$key" "$store/objects/"
done
for spec in "10 32" "10 128" "1 128" "20 32"; do
  set -- $spec
  "$bin" run stage=search iter=1 --store "$store" search.beams="$1" search.batch="$2" \
    search.limit="$n" "${extra[@]}" >/dev/null 2>"$store/log" || { cat "$store/log"; exit 1; }
  python3 - "$store/refs/search@1/manifest.json" "$1" "$2" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
c = m["counters"]
print(f"beams {sys.argv[2]:>2}, batch {sys.argv[3]:>3}: {c['targets']} targets in {m['wall_secs']:.1f}s "
      f"= {c['targets_per_second']} targets/s on {c['provider']} ({c['threads']} threads)")
PY
  key="$(basename "$(readlink -f "$store/refs/search@1")")"
  rm -rf "$store/objects/$key"
done
