#!/usr/bin/env bash
# The learning loop's levers against their controls, on one mutate@k (docs/results.md, "A loop
# that learns"). Run after the main job (`./scripts/run.sh`): every variant reads the same
# buffer@(k-1) and verify@1..k-1 of the store, and each is one `seqsynth run stage=mutate`.
# Usage: ./scripts/levers.sh [k] [KEY=VALUE ...]   (k defaults to 2; the overrides go to every run)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
bin="${SEQSYNTH:-$CARGO_TARGET_DIR/release/seqsynth}"
k="${1:-2}"
shift || true
variants=(
  "default|"
  "uniform parents (control of the priorities)|mutate.parent_draw=uniform"
  "random library (control of the learned library)|mutate.library_from=random"
  "no library, no composition|mutate.library=0"
  "no composition|mutate.compose=false"
  "exact matches only (no transforms)|mutate.max_coef=0 mutate.max_shift=0 mutate.derive=false"
  "no mutation rounds (the transforms of the parents, the composition)|mutate.rounds=0"
)
printf '| variant | all known terms | first 35 terms only | by a parent | by composition | with a library item | seconds |\n'
printf '|---|---|---|---|---|---|---|\n'
for v in "${variants[@]}"; do
  label="${v%%|*}"
  # shellcheck disable=SC2206
  args=(${v#*|})
  start=$(date +%s.%N)
  line=$("$bin" run stage=mutate iter="$k" "${args[@]}" "$@" 2>&1 | grep "^mutate@$k:" || true)
  end=$(date +%s.%N)
  if [ -z "$line" ]; then
    line=$("$bin" status stage=mutate iter="$k" "${args[@]}" "$@" 2>&1 | tail -1)
    printf '| %s | (cached: %s) |||||\n' "$label" "$line"
    continue
  fi
  all=$(sed -E 's/.*; ([0-9]+) targets on all known terms.*/\1/' <<<"$line")
  prefix=$(sed -E 's/.*\), ([0-9]+) on the first.*/\1/' <<<"$line")
  parent=$(sed -E 's/.* ([0-9]+) by a parent itself.*/\1/' <<<"$line")
  comp=$(sed -E 's/.* ([0-9]+) by composing the library.*/\1/' <<<"$line")
  lib=$(sed -E 's/.* ([0-9]+) with one of .*/\1/' <<<"$line")
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$all" "$prefix" "$parent" "$comp" "$lib" \
    "$(awk "BEGIN { printf \"%.1f\", $end - $start }")"
done
