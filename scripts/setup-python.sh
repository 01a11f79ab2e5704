#!/usr/bin/env bash
# Creates (or reuses) the Python environment of the train stage and prints its path.
# The environment lives outside the clone ($SEQSYNTH_VENV, default $HOME/.cache/seqsynth/venv)
# and is rebuilt when stages/train/requirements.txt changes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${SEQSYNTH_VENV:-$HOME/.cache/seqsynth/venv}"
req="$root/stages/train/requirements.txt"
# ONNX Runtime: the CUDA build where a GPU is visible (SEQSYNTH_ORT=cpu|gpu overrides).
flavour="${SEQSYNTH_ORT:-$(nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)}"
ort_req="$root/stages/train/requirements-ort-$flavour.txt"
[ -f "$ort_req" ] || { echo "SEQSYNTH_ORT must be cpu or gpu, not $flavour" >&2; exit 2; }
want="$(cat "$req" "$ort_req" | sha256sum | cut -d' ' -f1)"
# One setup at a time (tests call this in parallel): wait for the lock, then re-check.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
  echo "$venv"
  exit 0
fi
echo "setting up the Python environment in $venv (first run downloads PyTorch, ~3 GB)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet -r "$req" -r "$ort_req" >&2
echo "$want" > "$venv/.requirements.sha256"
echo "$venv"
