#!/usr/bin/env bash
# The paper's experiment at local scale: every method (preset) of DESIGN.md section 7 in one
# store, so they share every artifact they can (ingest, synth, enumerate, train@0, search@1,
# verify@1). Each method's report is copied to exports/methods/<preset>/, and a table of their
# solve curves (both rules, beyond enumeration) is printed. Extra arguments go to every run.
# Usage: scripts/methods.sh [KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked -q
./scripts/setup-python.sh >/dev/null
bin="$CARGO_TARGET_DIR/release/seqsynth"
for preset in full baseline uniform no-hindsight random-init; do
  echo "== preset=$preset" >&2
  "$bin" run preset="$preset" "$@"
  mkdir -p "exports/methods/$preset"
  cp exports/report/curve.csv exports/report/figure.svg exports/report/solutions.csv \
    "exports/methods/$preset/"
done
# the last run's export draws every method found in the store
cp exports/report/figure.png exports/report/figure.svg exports/report/summary.md exports/methods/
python3 - <<'PY'
import csv
print("| method | iteration | search: all known terms | search: terms 26..35 | beyond enumeration: all known terms | beyond enumeration: terms 26..35 | distinct programs |")
print("|---|---|---|---|---|---|---|")
for preset in ["full", "baseline", "uniform", "no-hindsight", "random-init"]:
    for r in csv.DictReader(open(f"exports/methods/{preset}/curve.csv")):
        print(f"| {preset} | {r['iteration']} | {r['search_solved_all_terms']} | {r['search_solved']} | "
              f"{r['beyond_enumeration_all_terms']} | {r['beyond_enumeration']} | {r['distinct_programs']} |")
PY
