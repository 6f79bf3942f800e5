#!/usr/bin/env bash
# Reproduce the embedded default model (src/seggpt/weights/seggpt_default.safetensors): the three training
# stages of configs/default_model_stage1.yaml, _stage2.yaml and default_model.yaml (each starts from the one
# before), then the float16 copy into the package. About 45 minutes on 2 CPU cores.
#   usage: bash scripts/train_default_model.sh DATA_ROOT    (DATA_ROOT holds camvid/ and davis2016/)
set -euo pipefail
DATA=${1:?usage: bash scripts/train_default_model.sh DATA_ROOT (the folder that holds camvid/ and davis2016/)}
for dataset in camvid davis2016; do
  [[ -d "$DATA/$dataset" ]] || { echo "error: $DATA/$dataset does not exist (expected CamVid and DAVIS 2016 there)" >&2; exit 2; }
done
PYTHON=${PYTHON:-python}
for config in configs/default_model_stage1.yaml configs/default_model_stage2.yaml configs/default_model.yaml; do
  "$PYTHON" -m seggpt.cli.main train "$config" --set data.camvid_root="$DATA/camvid" --set data.davis_root="$DATA/davis2016"
done
"$PYTHON" - <<'PY'
import seggpt
from seggpt.model.hub import DEFAULT_MODEL_FILE

seggpt.save_model(seggpt.load_model("runs/default/model.safetensors").half(), DEFAULT_MODEL_FILE)
print(f"wrote {DEFAULT_MODEL_FILE}")
PY
