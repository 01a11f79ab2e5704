#!/usr/bin/env bash
# Sharded search on one machine: the first $LIMIT targets (default 2000) searched with the main
# job's policy (train@0 of ./data, built by ./scripts/run.sh) by
#   1. one process with one search worker,
#   2. two shard processes side by side (shard=0/2 and shard=1/2), one worker each, then the merge,
#   3. one process with two workers (the default on 2 cores: threads inside one process),
# each in a scratch store holding copies of ingest, synth and train@0, so every search is
# computed. Prints wall times, the speed-up of 2 over 1, and checks that the three search@1
# artifacts are byte-identical. Usage: bench/shards.sh [KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked -q
./scripts/setup-python.sh >/dev/null
bin="$CARGO_TARGET_DIR/release/seqsynth"
limit="${LIMIT:-2000}"
. bench/lib.sh
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
fresh() { scratch_store "$scratch/store" ingest synth train@0; }
args=(--quiet run --store "$scratch/store" stage=search iter=1 "search.limit=$limit" "$@")
digest() { sha256sum "$scratch/store/refs/search@1/"candidates-*.parquet | cut -d' ' -f1; }

fresh; t0=$(now); "$bin" "${args[@]}" search.threads=1 >/dev/null; t1=$(now)
one=$(echo "$t1 - $t0" | bc); d1=$(digest)

fresh; t0=$(now)
"$bin" "${args[@]}" search.threads=1 shard=0/2 >/dev/null &
p0=$!
"$bin" "${args[@]}" search.threads=1 shard=1/2 >/dev/null &
p1=$!
wait $p0; wait $p1; t1=$(now)
"$bin" "${args[@]}" pipeline.shards=2 >/dev/null; t2=$(now)
shards=$(echo "$t1 - $t0" | bc); merge=$(echo "$t2 - $t1" | bc); d2=$(digest)

fresh; t0=$(now); "$bin" "${args[@]}" search.threads=2 >/dev/null; t1=$(now)
workers=$(echo "$t1 - $t0" | bc); d3=$(digest)

printf 'search@1 of %s targets, %s cores\n' "$limit" "$(nproc)"
printf '  1 process, 1 worker:            %8.2f s\n' "$one"
printf '  2 shards side by side, 1 each:  %8.2f s  (+ merge %.2f s)  speed-up %.2fx (%.2fx with the merge)\n' \
  "$shards" "$merge" "$(echo "$one / $shards" | bc -l)" "$(echo "$one / ($shards + $merge)" | bc -l)"
printf '  1 process, 2 workers:           %8.2f s  speed-up %.2fx\n' "$workers" "$(echo "$one / $workers" | bc -l)"
if [ "$d1" = "$d2" ] && [ "$d1" = "$d3" ]; then
  echo "  the three search@1 artifacts are byte-identical ($d1)"
else
  echo "  MISMATCH: $d1 $d2 $d3" >&2
  exit 1
fi
