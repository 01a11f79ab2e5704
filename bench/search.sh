#!/usr/bin/env bash
# Search throughput (targets per second) of the grammar-constrained search on ONNX Runtime, with
# the policy of train@0 of the default store (run ./scripts/run.sh first): beam widths 10/32/64
# and sampling, with the distinct programs each yields, against Hugging Face `generate` (beam
# search in PyTorch) on the same weights and targets, measured in the same run. Each measurement
# searches a fresh store copy, so nothing is cached. Results: docs/perf.md.
# Usage: bench/search.sh [targets, default 1000] [extra KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked -q
venv="$(./scripts/setup-python.sh)"
bin="$CARGO_TARGET_DIR/release/seqsynth"
n="${1:-1000}"
shift || true
extra=("$@")
[ -e data/refs/train@0 ] || { echo "no data/refs/train@0: run ./scripts/run.sh first" >&2; exit 2; }
tmp="$(mktemp -d)"
store="$tmp/store"
log="$tmp/log"
trap 'rm -rf "$tmp"' EXIT
. bench/lib.sh
scratch_store "$store" ingest synth train@0
run() { # label, then KEY=VALUE settings
  local label="$1"
  shift
  "$bin" run stage=search iter=1 --store "$store" search.limit="$n" "$@" "${extra[@]}" \
    >/dev/null 2>"$log" || { cat "$log"; exit 1; }
  python3 - "$store/refs/search@1/manifest.json" "$label" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
c = m["counters"]
print(f"{sys.argv[2]:<34} {c['targets']} targets in {m['wall_secs']:6.1f}s = {c['targets_per_second']:6.1f} targets/s "
      f"on {c['provider']} ({c['workers']} workers); {c['candidates']} candidates, {c['distinct_programs']} distinct programs")
PY
  key="$(basename "$(readlink -f "$store/refs/search@1")")"
  rm -rf "$store/objects/$key"
}
run "beams 10, batch 8 (default)"
run "beams 10, batch 8, 1 worker" search.threads=1
run "beams 10, batch 32" search.batch=32
run "beams 32" search.beams=32
run "beams 64" search.beams=64
run "sample 32 at T=1.0" search.method=sample search.samples=32
run "sample 64 at T=0.7" search.method=sample search.samples=64 search.temperature=0.7
"$venv/bin/python" bench/hf_generate.py "$(readlink -f data/refs/train@0)" \
  "$(ls "$(readlink -f data/refs/ingest)"/targets-*.parquet | head -1)" "$(( n < 200 ? n : 200 ))" 10 \
  "$(nproc)" "$bin"
