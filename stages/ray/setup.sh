#!/usr/bin/env bash
# Creates (or reuses) the Python environment of the Ray driver and prints its path. It lives
# outside the clone ($SEQSYNTH_RAY_VENV, default $HOME/.cache/seqsynth/ray-venv) and is rebuilt
# when stages/ray/requirements.txt changes (scripts/venv.sh). Only the Ray driver needs it: a
# plain `seqsynth run` never does.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${SEQSYNTH_RAY_VENV:-$HOME/.cache/seqsynth/ray-venv}"
exec "$here/../../scripts/venv.sh" "$venv" "the Ray environment (downloads Ray, ~80 MB)" "$here/requirements.txt"
