# Shared by the bench scripts (sourced, from the repository root).

# scratch_store STORE NODE...: a fresh store at STORE holding copies of the artifacts of NODE...
# from ./data (the main job's store, made by ./scripts/run.sh), so that everything else a bench
# runs there is computed anew.
scratch_store() {
  local store="$1" node
  shift
  for node in "$@"; do
    [ -e "data/refs/$node" ] || { echo "data/refs/$node is missing: run ./scripts/run.sh first" >&2; exit 1; }
  done
  rm -rf "$store"
  mkdir -p "$store/objects" "$store/refs"
  cp data/seqsynth-store.json "$store/"
  for node in "$@"; do
    cp -a "data/objects/$(basename "$(readlink -f "data/refs/$node")")" "$store/objects/"
  done
}

# Seconds since the epoch, with nanoseconds (for wall times with bc).
now() { date +%s.%N; }
