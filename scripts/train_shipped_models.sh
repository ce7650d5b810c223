#!/usr/bin/env bash
# Retrain the shipped models from scratch: checkpoints/shakespeare-char and checkpoints/sentiment.
#
#   bash scripts/train_shipped_models.sh [RUNS_DIR] [DEVICE] [all|shakespeare-char|sentiment] > train.log 2>&1 &
#
# The trainings run side by side; the third argument retrains one model alone. What ships (copied to
# checkpoints/NAME, plus the model card) is RUNS_DIR/sentiment-student/best, one biLSTM distilled from a
# fine-tuned MiniLM teacher (scripts/train_sentiment.sh, which runs on a CPU in about 80 minutes on 2 cores;
# DEVICE does not apply to it), and, for the language model, RUNS_DIR/shakespeare-char-tuned/best: a second
# stage that continues the first at lower dropout, because validation was still falling.
# The language model's weights came from exactly these commands: the first stage with DEVICE=cuda on one
# NVIDIA H200, the second on a 2-core CPU with one thread (about 60 minutes; --threads 1 below). With
# DEVICE=cpu everything runs on the CPU, far longer: the README's "Shipped models" section gives the
# measured rates. The previous sentiment model, an ensemble of three LSTMs, was made by this script's
# version of commit 603549e.
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
  # The sentiment model is a distilled student: its recipe (a MiniLM teacher, then the biLSTM) is its own script.
  bash "$(dirname "$0")/train_sentiment.sh" "$runs" >"$runs/sentiment.log" 2>&1 &
  sentiment=$!
fi
if [ "$which" = sentiment ]; then
  wait "$sentiment"
  exit 0
fi

wait "$shakespeare"

$cli train lm --dataset builtin:shakespeare --init-from "$runs/shakespeare-char/best" --dropout 0.15 \
  --output "$runs/shakespeare-char-tuned" --overwrite \
  --seq-len 256 --batch-size 64 --max-steps 500 --warmup-steps 50 --lr 0.0003 \
  --eval-every 100 --seed 0 --threads 1 --device "$device" \
  >"$runs/shakespeare-char-tuned.log" 2>&1
if [ "$which" = all ]; then
  wait "$sentiment"
fi
