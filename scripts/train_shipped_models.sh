#!/usr/bin/env bash
# Retrain both shipped models from scratch: checkpoints/shakespeare-char and checkpoints/sentiment.
#
#   bash scripts/train_shipped_models.sh [RUNS_DIR] [DEVICE] > train.log 2>&1 &
#
# The two trainings run side by side; each writes RUNS_DIR/NAME/best, which is what ships
# (copied to checkpoints/NAME, plus the model card). The shipped weights were produced by exactly
# these commands with DEVICE=cuda on one NVIDIA H200 (about 2.5 minutes for both); with DEVICE=cpu
# they run too, far longer on a laptop: the model cards give the measured per-step times.
set -euo pipefail
runs=${1:-runs}
device=${2:-auto}
cli=${NLP_LSTM:-python3 -m nlp_lstm}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
mkdir -p "$runs"

$cli train lm --dataset shakespeare --output "$runs/shakespeare-char" --overwrite \
  --embedding-dim 128 --hidden-size 640 --num-layers 2 --dropout 0.3 --embedding-dropout 0.05 \
  --seq-len 256 --batch-size 128 --max-steps 4000 --warmup-steps 300 --lr 0.002 \
  --eval-every 500 --seed 0 --threads 4 --device "$device" \
  >"$runs/shakespeare-char.log" 2>&1 &
shakespeare=$!

$cli train classifier --dataset movie_reviews --output "$runs/sentiment" --overwrite \
  --bidirectional --embedding-dim 128 --hidden-size 256 --num-layers 2 \
  --max-length 600 --keep end --epochs 6 --dropout 0.3 --lr 0.002 --batch-size 64 --patience 2 \
  --seed 0 --threads 3 --device "$device" \
  >"$runs/sentiment.log" 2>&1

wait "$shakespeare"
