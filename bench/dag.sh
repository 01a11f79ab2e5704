#!/usr/bin/env bash
# DAG resolution time: `seqsynth status` with the paper's configuration (configs/paper.toml) at
# 20 meta-iterations and at 10x, 100x and 1000x that, against the start-up time of the binary
# measured in the same run (`seqsynth --version`); with a built default store (./scripts/run.sh),
# also a no-op `seqsynth run`. Resolution is one linear pass, so time per node stays flat.
# Results: docs/perf.md. Usage: bench/dag.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked -q
bin="$CARGO_TARGET_DIR/release/seqsynth"
# best of 3 wall times of a command, in seconds
best() {
  local b=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    local d=$(( t1 - t0 ))
    if [ -z "$b" ] || [ "$d" -lt "$b" ]; then b=$d; fi
  done
  python3 -c "print(f'{$b/1e9:.3f}')"
}
ref=$(best "$bin" --version)
echo "reference: seqsynth --version            ${ref} s"
for n in 20 200 2000 20000; do
  t=$(best "$bin" status --config configs/paper.toml "loop.iterations=$n")
  nodes=$(( 5 * n + 4 ))
  python3 -c "print(f'status, paper config, {$n:>5} iterations (~{$nodes} nodes): {$t} s, {($t-$ref)*1e6/$nodes:.1f} us per node over the start-up')"
done
if [ -e data/refs/report ]; then
  t=$(best "$bin" run)
  echo "no-op run of the default store (all cached): ${t} s"
fi
