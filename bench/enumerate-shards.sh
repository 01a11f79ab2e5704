#!/usr/bin/env bash
# Sharded enumeration on one machine: the `enumerate` node of the main job's config (ingest of
# ./data, built by ./scripts/run.sh) computed
#   1. by one process on one thread,
#   2. by two shard processes side by side (shard=0/2 and shard=1/2), one thread each, then the
#      merge (which computes the stored levels again, on every core),
#   3. by one process on every core (threads inside one process: the default),
# each in a scratch store holding a copy of ingest, so every enumeration is computed. Prints wall
# times and the speed-up of 2 over 1, and checks that the three enumerate artifacts are
# byte-identical. Usage: bench/enumerate-shards.sh [KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/seqsynth/target}"
cargo build --release --locked -q
bin="$CARGO_TARGET_DIR/release/seqsynth"
. bench/lib.sh
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
fresh() { scratch_store "$scratch/store" ingest; }
args=(--quiet run --store "$scratch/store" stage=enumerate "$@")
digest() { cat "$scratch/store/refs/enumerate/"*.parquet | sha256sum | cut -d' ' -f1; }

fresh; t0=$(now); RAYON_NUM_THREADS=1 "$bin" "${args[@]}" >/dev/null; t1=$(now)
one=$(echo "$t1 - $t0" | bc); d1=$(digest)

fresh; t0=$(now)
RAYON_NUM_THREADS=1 "$bin" "${args[@]}" shard=0/2 >/dev/null &
p0=$!
RAYON_NUM_THREADS=1 "$bin" "${args[@]}" shard=1/2 >/dev/null &
p1=$!
wait $p0; wait $p1; t1=$(now)
"$bin" "${args[@]}" pipeline.shards=2 >/dev/null; t2=$(now)
shards=$(echo "$t1 - $t0" | bc); merge=$(echo "$t2 - $t1" | bc); d2=$(digest)

fresh; t0=$(now); "$bin" "${args[@]}" >/dev/null; t1=$(now)
threads=$(echo "$t1 - $t0" | bc); d3=$(digest)

printf 'enumerate, %s cores\n' "$(nproc)"
printf '  1 process, 1 thread:            %8.2f s\n' "$one"
printf '  2 shards side by side, 1 each:  %8.2f s  (+ merge %.2f s)  speed-up %.2fx (%.2fx with the merge)\n' \
  "$shards" "$merge" "$(echo "$one / $shards" | bc -l)" "$(echo "$one / ($shards + $merge)" | bc -l)"
printf '  1 process, %s threads:          %8.2f s  speed-up %.2fx\n' "$(nproc)" "$threads" "$(echo "$one / $threads" | bc -l)"
if [ "$d1" = "$d2" ] && [ "$d1" = "$d3" ]; then
  echo "  the three enumerate artifacts are byte-identical ($d1)"
else
  echo "  MISMATCH: $d1 $d2 $d3" >&2
  exit 1
fi
