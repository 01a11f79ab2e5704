#!/usr/bin/env bash
# The learning loop's levers against their controls, on one mutate@k (docs/results.md, "A loop
# that learns"). Run after the main job (`./scripts/run.sh`): every variant reads the same
# buffer@(k-1) and verify@1..k-1 of the store, and each is one `seqsynth run stage=mutate`; the
# figures are the counters of its manifest, the seconds its build time (cached: the first build's).
# Usage: ./scripts/levers.sh [k] [store.dir=DIR] [KEY=VALUE ...]   (k: 2; the overrides go to every run)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
bin="${SEQSYNTH:-$CARGO_TARGET_DIR/release/seqsynth}"
k="${1:-2}"
shift || true
store=data
for a in "$@"; do
  case "$a" in store.dir=*) store="${a#store.dir=}" ;; esac
done
variants=(
  "default (uniform parents, no library)|"
  "parents by priority (the lever; its control is the default)|mutate.parent_draw=prioritized"
  "library of 200 fragments up to 12 nodes (learned)|mutate.library=200"
  "library of 200 random fragments of the same sizes (control)|mutate.library=200 mutate.library_from=random"
  "library of 500 fragments up to 40 nodes (learned)|mutate.library=500 mutate.library_max_size=40"
  "library of 500 random fragments of the same sizes (control)|mutate.library=500 mutate.library_max_size=40 mutate.library_from=random"
  "no composition|mutate.compose=false"
  "exact matches only (no transforms)|mutate.max_coef=0 mutate.max_shift=0 mutate.derive=false"
  "no mutation rounds (the parents and the composition only)|mutate.rounds=0"
  "no further forms (p² , n·p, divisor sums, binomial, bisections, ...)|mutate.derive_more=false"
  "no two found sequences joined|mutate.pairs=0"
  "neither (the transforms of the last session)|mutate.derive_more=false mutate.pairs=0"
)
printf '| variant | all known terms | first 35 terms only | by a parent | by composition | with a library item | by a further form | by two found sequences | seconds |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for v in "${variants[@]}"; do
  label="${v%%|*}"
  # shellcheck disable=SC2206
  args=(${v#*|})
  "$bin" --quiet run stage=mutate iter="$k" "${args[@]}" "$@" >/dev/null 2>&1
  python3 - "$store/refs/mutate@$k/manifest.json" "$label" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
c = m["counters"]
secs = m.get("wall_secs")
secs = f"{secs:.1f}" if isinstance(secs, (int, float)) else "?"
print(f"| {sys.argv[2]} | {c['targets_all_terms']} | {c['targets_prefix_only']} | "
      f"{c['all_terms_by_parent']} | {c['all_terms_by_composition']} | "
      f"{c['all_terms_by_library']} | {c.get('all_terms_by_further_forms', 0)} | "
      f"{c.get('all_terms_by_two_found', 0)} | {secs} |")
EOF
done
