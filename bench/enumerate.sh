#!/usr/bin/env bash
# The bottom-up enumerator on the first 10,000 targets of ../shared/data/oeis with more than 35
# terms (ingest.keywords=[]), default settings: the per-level table (new distinct vectors,
# cumulative, targets solved by terms 26..35 and on all 35 terms, time, store bytes, peak RSS),
# the inverse step, and the wall time and peak memory of the whole stage. With --families it
# also runs each family alone and adds it to the arithmetic, printing each row's solves and time
# as ratios against the arithmetic-only row measured in the same run. With --recheck it re-checks
# the default run's candidates in Python (scripts/recheck_candidates.py).
# Results: docs/perf.md. Usage: bench/enumerate.sh [--families] [--recheck] [KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked -q
bin="$CARGO_TARGET_DIR/release/seqsynth"
families=0
recheck=0
extra=()
for a in "$@"; do
  case "$a" in
    --families) families=1 ;;
    --recheck) recheck=1 ;;
    *) extra+=("$a") ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
oeis="$(cd ../shared/data/oeis && pwd)"
# one store per run: the stage is measured from scratch every time (ingest is shared by copying)
run() {
  local name="$1"
  shift
  local store="$work/$name"
  mkdir -p "$store"
  local log="$work/$name.log"
  /usr/bin/time -f "%e %M" -o "$work/$name.time" \
    "$bin" run stage=enumerate "store.dir=$store/data" "ingest.source=$oeis" \
    ingest.keywords=[] ingest.limit=10000 "${extra[@]}" "$@" >"$log" 2>&1 || {
    cat "$log"
    exit 1
  }
  local manifest
  manifest=$(grep -l '"completed_size"' "$store"/data/objects/*/manifest.json)
  python3 - "$manifest" "$work/$name.time" "$name" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
c = m["counters"]
wall, rss_kb = open(sys.argv[2]).read().split()
name = sys.argv[3]
if name == "default":
    print(f"{'size':>4} {'mode':>7} {'computed':>11} {'new':>10} {'cumulative':>10} "
          f"{'26..35':>6} {'all 35':>6} {'seconds':>7} {'store MB':>8} {'peak RSS MB':>11}")
    for l in c["levels"]:
        print(f"{l['size']:>4} {l['mode']:>7} {l['evaluated']:>11} {l['new']:>10} "
              f"{l['cumulative']:>10} {l['solved_window']:>6} {l['solved_all']:>6} "
              f"{l['seconds']:>7.1f} {l['store_bytes']/1e6:>8.0f} {l['peak_rss']/2**20:>11.0f}")
    inv = c.get("inverse")
    if inv:
        print(f"inverse step: {inv['found']} matches kept, {inv['seconds']:.1f} s; "
              f"{inv['solved_window']} by 26..35, {inv['solved_all']} on all 35 terms")
    print(f"stop: {c['stop']} ({c['stop_reason']})")
print(f"{name}: {c['solved_window']} targets by terms 26..35, {c['solved_all_terms']} on all 35 "
      f"terms; stage wall time {float(wall):.1f} s (ingest included), peak RSS "
      f"{int(rss_kb)/2**20:.2f} GiB")
with open(sys.argv[2] + ".json", "w") as f:
    json.dump([c["solved_window"], c["solved_all_terms"], float(wall)], f)
EOF
  echo "$manifest" >"$work/$name.manifest"
}
echo "nproc: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
run default
if [ "$recheck" = 1 ]; then
  m=$(cat "$work/default.manifest")
  "$HOME/.cache/seqsynth/venv/bin/python" scripts/recheck_candidates.py \
    "$(dirname "$m")/candidates-00000.parquet" "$m" "$oeis"
fi
if [ "$families" = 1 ]; then
  run arith enumerate.folds=[] enumerate.inverse_size=0
  run arith+prefix 'enumerate.folds=["prefix"]' enumerate.inverse_size=0
  run arith+before 'enumerate.folds=["before"]' enumerate.inverse_size=0
  run arith+divisors 'enumerate.folds=["divisors"]' enumerate.inverse_size=0
  run arith+folds enumerate.inverse_size=0
  run arith+inverse enumerate.folds=[]
  python3 - "$work" <<'EOF'
import json, os, sys
w = sys.argv[1]
rows = ["arith", "arith+prefix", "arith+before", "arith+divisors", "arith+folds",
        "arith+inverse", "default"]
ref = json.load(open(os.path.join(w, "arith.time.json")))
print(f"{'family':<16} {'26..35':>7} {'all 35':>7} {'time s':>7}  ratios to arith (26..35, all 35, time)")
for r in rows:
    win, full, t = json.load(open(os.path.join(w, r + ".time.json")))
    print(f"{r:<16} {win:>7} {full:>7} {t:>7.1f}  {win/ref[0]:.2f} {full/ref[1]:.2f} {t/ref[2]:.2f}")
EOF
fi
