#!/usr/bin/env bash
# Reproduce the embedded default model (src/seggpt/weights/seggpt_default.safetensors): pack the training data
# (scripts/pack_training_data.py: CamVid train + DAVIS 2016 train at 240p, downscaled copy), train
# configs/default_model.yaml from the pretrained DeiT-Tiny encoder, then write the float16 copy into the package.
# Seed-deterministic data stream and initialisation; an interrupted run continues exactly where its last
# checkpoint (every 500 steps) left it when the same command is run again (run.resume=auto).
#   usage: bash scripts/train_default_model.sh DATA_ROOT [ENCODER] [--set key=value ...]
#     DATA_ROOT holds camvid/ and davis2016/ (e.g. ../shared/data), or is a packed copy (it holds PACKED.json);
#     ENCODER: the DeiT-Tiny weights (default DATA_ROOT/../pretrained/deit_tiny_patch16_224.safetensors).
#   Measured on one H200 (bf16, 14 loader processes): 5.1-5.9 steps of batch 32 per second, so the 4000 steps take
#   about 12 minutes; a CPU needs --set run.precision=fp32
#   and many hours.
set -euo pipefail
DATA=${1:?usage: bash scripts/train_default_model.sh DATA_ROOT [ENCODER] [--set key=value ...]}
shift
ENCODER="$(dirname "$DATA")/pretrained/deit_tiny_patch16_224.safetensors"
if [[ $# -gt 0 && "$1" != --* ]]; then ENCODER=$1; shift; fi
[[ -f "$ENCODER" ]] || { echo "error: pretrained encoder $ENCODER does not exist (pass its path as the second argument)" >&2; exit 2; }
PYTHON=${PYTHON:-python}
if [[ -f "$DATA/PACKED.json" ]]; then
  PACKED=$DATA
else
  for dataset in camvid davis2016; do
    [[ -d "$DATA/$dataset" ]] || { echo "error: $DATA/$dataset does not exist (expected CamVid and DAVIS 2016 there)" >&2; exit 2; }
  done
  PACKED=runs/default_data
  [[ -f "$PACKED/PACKED.json" ]] || "$PYTHON" scripts/pack_training_data.py "$DATA" "$PACKED"
fi
"$PYTHON" -m seggpt.cli.main train configs/default_model.yaml \
  --set data.camvid_root="$PACKED/camvid" --set data.davis_root="$PACKED/davis2016" \
  --set model.init_encoder="$ENCODER" --set run.resume=auto "$@"
"$PYTHON" - <<'PY'
import seggpt
from seggpt.model.hub import DEFAULT_MODEL_FILE

seggpt.save_model(seggpt.load_model("runs/default/model.safetensors").half(), DEFAULT_MODEL_FILE)
print(f"wrote {DEFAULT_MODEL_FILE}")
PY
