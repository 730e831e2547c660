#!/usr/bin/env bash
# The GPU check, for the day a GPU is lent (≤ 8 minutes all told): the CUDA-marked tests, the quick benchmark on the
# GPU and 500 iterations of the paper's recipe, every figure a ratio to this GPU's own measured conv limit.
#   bash benchmarks/gpu_check.sh [OUT_DIR]
# On a CPU, for what it can check: DEVICE=cpu QUICK=--micro ITERATIONS=2 SIZE=32 NGF=4 COMPILE= bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu_check_out}}"
device="${DEVICE:-cuda}"
mkdir -p "$out"
python - "$device" <<'PY' | tee "$out/device.txt"
import sys, torch
device = sys.argv[1]
if device.startswith("cuda") and not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA device visible to torch " + torch.__version__)
name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"
print(f"device {device}: {name}, torch {torch.__version__}")
PY
# 1. the CUDA-marked tests (they skip without CUDA)
timeout 150 python -m pytest -m cuda -q -p no:cacheprovider 2>&1 | tail -15 | tee "$out/cuda_tests.txt"
# 2. the quick benchmark on the device (inference and training rows, compiled variants included)
timeout 240 python -m benchmarks ${QUICK:---quick} --device "$device" --sections inference,training \
    --json "$out/quick.json" | tee "$out/quick.md"
# 3. the paper's recipe (256², batch 1, ngf/ndf 64, identity 0.5) on the phantom pipeline, compiled fast path
timeout 240 python -m benchmarks.recipe --device "$device" --iterations "${ITERATIONS:-500}" --size "${SIZE:-256}" \
    --ngf "${NGF:-64}" --ndf "${NGF:-64}" ${COMPILE---compile} --json "$out/recipe.json" | tee "$out/recipe.txt"
