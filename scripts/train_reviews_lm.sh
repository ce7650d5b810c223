#!/usr/bin/env bash
# A subword language model on the training texts of the built-in review corpora (IMDB + Rotten Tomatoes),
# the starting point for the ULMFiT-style transfer rows of benchmarks/sentiment.py.
# On one H200 it takes about 2 minutes. Usage: bash scripts/train_reviews_lm.sh [RUN_DIR] [DEVICE]
set -euo pipefail
run=${1:-runs/reviews-lm}
device=${2:-auto}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
${NLP_LSTM:-python3 -m nlp_lstm} train lm --dataset builtin:movie_reviews --tokenizer bpe --vocab-size 8000 --output "$run" --overwrite \
  --embedding-dim 256 --hidden-size 512 --num-layers 2 --dropout 0.2 --embedding-dropout 0.05 \
  --seq-len 128 --batch-size 128 --max-steps 2500 --warmup-steps 200 --lr 0.002 \
  --eval-every 500 --seed 0 --threads 4 --device "$device"
