#!/usr/bin/env bash
# The GPU benchmark in one run (< 150 s on an H100/H200): ViT-L, ours vs transformers on the same random
# weights, batch 1 and 8, fp32/bf16/fp16, ours compiled at bf16 batch 8 (if the time left allows), and the
# fidelity mode's fp32 difference from a CPU fp32 reference. Offline: no downloads, no installs; the repo is
# used from src/ (PYTHONPATH), so only torch, transformers, safetensors, numpy, pillow, tqdm, pyyaml are needed.
#
#   bash benchmarks/gpu_bench.sh                                   # on the GPU machine; results in $OUT/
#   OUT=/tmp/b PYTHON=.venv/bin/python bash benchmarks/gpu_bench.sh --device cpu --preset seggpt-test --limit 900
#
# Writes $OUT/bench_model_<device>.json (rewritten after every measurement, so a timeout keeps what was
# measured) and $OUT/bench_model_<device>.log (stderr), and prints the table last.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
PY=${PYTHON:-python3}  # PYTHON=.venv/bin/python for a local dry run
DEVICE=cuda
PRESET=seggpt-vit-large
LIMIT=135  # seconds for the benchmark process (a hard kill after LIMIT + 5)
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --preset) PRESET=$2; shift 2 ;;
    --limit) LIMIT=$2; shift 2 ;;
    *) echo "gpu_bench.sh: unknown option $1 (expected --device, --preset, --limit)" >&2; exit 2 ;;
  esac
done
if [ "$DEVICE" = cuda ]; then DTYPES=fp32,bf16,fp16; else DTYPES=fp32,bf16,int8; fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mkdir -p "$OUT"
JSON="$OUT/bench_model_$DEVICE.json"
LOG="$OUT/bench_model_$DEVICE.log"
rm -f "$JSON"
timeout -k 5 "$LIMIT" "$PY" benchmarks/bench_model.py --device "$DEVICE" --preset "$PRESET" --dtypes "$DTYPES" \
  --batch 1,8 --warmup 2 --repeats 5 --compile bf16:8 --fidelity --budget $((LIMIT - 10)) --json "$JSON" 2>"$LOG"
rc=$?
[ $rc -eq 0 ] && exit 0  # bench_model.py printed the table last
echo "gpu_bench.sh: bench_model.py exited with $rc (124 = wall-clock limit); see $LOG" >&2
if [ -f "$JSON" ]; then
  "$PY" benchmarks/bench_model.py --show "$JSON"
else
  echo "gpu_bench.sh: no results were written; the last lines of $LOG:" >&2
  tail -n 20 "$LOG" >&2
  exit 1
fi
