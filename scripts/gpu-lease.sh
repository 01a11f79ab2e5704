#!/usr/bin/env bash
# Runs on the lent GPU machine (docs/gpu.md), from the repository root of the carried tree, with
# gpu/ carried: seqsynth.gz (the release binary), oeis/ (stripped.gz, names), and optionally
# libonnxruntime.so.gz (the CPU ONNX Runtime of the venv, for a search on the 16 cores) or the
# onnxruntime-gpu provider files unpacked under gpu/ort-gpu/ (see docs/gpu.md).
# Writes every figure under $OUT (default ./gpu-out). Usage: scripts/gpu-lease.sh [KEY=VALUE ...]
set -euo pipefail
out="${OUT:-$PWD/gpu-out}"
mkdir -p "$out" gpu/bin
export PYTHONUNBUFFERED=1
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
gunzip -c gpu/seqsynth.gz > gpu/bin/seqsynth && chmod +x gpu/bin/seqsynth
if [ -d gpu/ort-gpu ]; then
  # onnxruntime-gpu: its library and CUDA provider, with torch's CUDA libraries
  export ORT_DYLIB_PATH="$(ls "$PWD"/gpu/ort-gpu/libonnxruntime.so.* | head -1)"
  torch_lib="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')/../nvidia"
  export LD_LIBRARY_PATH="$(find "$torch_lib" -name lib -type d | tr '\n' ':')${LD_LIBRARY_PATH:-}"
  device=cuda
elif [ -f gpu/libonnxruntime.so.gz ]; then
  gunzip -c gpu/libonnxruntime.so.gz > gpu/bin/libonnxruntime.so
  export ORT_DYLIB_PATH="$PWD/gpu/bin/libonnxruntime.so"
  device=cpu
else
  echo "no ONNX Runtime carried (gpu/ort-gpu or gpu/libonnxruntime.so.gz)" >&2
  exit 2
fi
python3 -c 'import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name(0))' \
  > "$out/python.txt" 2>&1
start=$(date +%s)
./gpu/bin/seqsynth run --config configs/gpu-lease.toml --store "$out/store" \
  ingest.source="$PWD/gpu/oeis" train.python=python3 search.device="$device" "$@" \
  2>&1 | tee "$out/run.log"
echo "wall seconds: $(( $(date +%s) - start ))" | tee -a "$out/run.log"
cp -r exports/report "$out/report" 2>/dev/null || true
if [ "${GPU_REPRO:-0}" = 1 ]; then
  # one key, one model on a GPU too: train@0 again in a second store, then both digests
  ./gpu/bin/seqsynth run stage=train --config configs/gpu-lease.toml --store "$out/store2" \
    ingest.source="$PWD/gpu/oeis" train.python=python3 "$@" > "$out/repro.log" 2>&1 || true
  for s in store store2; do
    echo "$s $(readlink "$out/$s/refs/train@0") $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' "$out/$s/refs/train@0/manifest.json" 2>&1)"
  done | tee "$out/repro.txt"
  rm -rf "$out/store2/objects"/*/*.onnx "$out/store2/objects"/*/model.safetensors
fi
# the figures: per-node wall times and counters, small enough to come back
for m in "$out"/store/objects/*/manifest.json; do
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(json.dumps({"node": m.get("node"), "wall_secs": m.get("wall_secs"), "counters": {k: v for k, v in m.get("counters", {}).items() if not isinstance(v, (list, dict))}}))' "$m"
done > "$out/nodes.jsonl"
rm -rf "$out/store/objects"/*/*.onnx "$out/store/objects"/*/model.safetensors
