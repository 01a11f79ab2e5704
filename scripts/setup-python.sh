#!/usr/bin/env bash
# Creates (or reuses) the Python environment of the train stage and prints its path.
# The environment lives outside the clone ($SEQSYNTH_VENV, default $HOME/.cache/seqsynth/venv)
# and is rebuilt when stages/train/requirements.txt changes (scripts/venv.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${SEQSYNTH_VENV:-$HOME/.cache/seqsynth/venv}"
req="$root/stages/train/requirements.txt"
# ONNX Runtime: the CUDA build where a GPU is visible (SEQSYNTH_ORT=cpu|gpu overrides).
flavour="${SEQSYNTH_ORT:-$(nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)}"
ort_req="$root/stages/train/requirements-ort-$flavour.txt"
[ -f "$ort_req" ] || { echo "SEQSYNTH_ORT must be cpu or gpu, not $flavour" >&2; exit 2; }
exec "$root/scripts/venv.sh" "$venv" "the Python environment (first run downloads PyTorch, ~3 GB)" "$req" "$ort_req"
