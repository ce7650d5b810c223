#!/usr/bin/env bash
# Retrain checkpoints/shakespeare-char from scratch on CPU (about 1.5-2 hours on 2 cores; see its model card).
# Usage: bash scripts/train_shakespeare_char.sh [RUN_DIR]
set -euo pipefail
run=${1:-runs/shakespeare-char}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
nlp-lstm train lm --dataset shakespeare --output "$run" --overwrite \
  --embedding-dim 128 --hidden-size 512 --num-layers 2 --dropout 0.15 --embedding-dropout 0.05 \
  --seq-len 256 --batch-size 64 --max-steps 1800 --warmup-steps 150 --lr 0.002 \
  --eval-every 250 --seed 0 --threads 2 --device cpu
