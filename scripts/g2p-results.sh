#!/usr/bin/env bash
# The G2P results of README.md from scratch: the three models trained on the standard CMUdict
# split, then one evaluation of the three on its test set (12,000 words) with the table by word
# length and the plot of WER by word length.
#
#   scripts/g2p-results.sh [OUTDIR]          (default OUTDIR: g2p-runs)
#
# Environment:
#   G2P_DATA        the split's folder (default ../shared/data/cmudict-g014b2b)
#   ATTN_TIME_LIMIT minutes of training per model in this call (default: no limit): to train
#                   in pieces, call the script again; every run continues from its PATH.last
#   ATTN_THREADS    threads (default 2, as in the README's figures)
#
# Runs that have finished are left as they are ("nothing to train"); the evaluation runs once
# all three have finished. Needs build/attn (README, first command line).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data=${G2P_DATA:-../shared/data/cmudict-g014b2b}
out=${1:-g2p-runs}
threads=${ATTN_THREADS:-2}
attn=build/attn
for f in "$data/g014b2b.train" "$data/g014b2b.test"; do
  if [ ! -f "$f" ]; then
    echo "g2p-results: $f is missing; set G2P_DATA to the folder of the standard split" >&2
    exit 1
  fi
done
[ -x "$attn" ] || { echo "g2p-results: build/attn is missing; build it first (README)" >&2; exit 1; }
mkdir -p "$out"
limit=()
[ -n "${ATTN_TIME_LIMIT:-}" ] && limit=(--time-limit "$ATTN_TIME_LIMIT")
data_args=(--train "$data/g014b2b.train" --test "$data/g014b2b.test")
common=(--seed 1 --threads "$threads" --label-smoothing 0.1 --schedule cosine)

# train NAME OPTIONS...: a new run, or the continuation of an interrupted one; its report is
# appended to OUTDIR/NAME.log, and a run stopped by the time limit marks the results unfinished
unfinished=0
train() {
  local name=$1 model="$out/$1.safetensors" log="$out/$1.log"
  shift
  if [ -f "$model.last" ]; then
    "$attn" g2p train --resume --out "$model" --threads "$threads" "${limit[@]}" | tee -a "$log"
  else
    "$attn" g2p train "${data_args[@]}" "${common[@]}" "$@" --out "$model" "${limit[@]}" |
      tee -a "$log"
  fi
  if tail -n 5 "$log" | grep -q "continue with the same command"; then unfinished=1; fi
}

# the Transformer (the bundled model's command, run 8 of the README), keeping the weights of
# its last five evaluations for averaging; --matmul-precision medium takes the products to
# bfloat16 where the CPU has AVX512-BF16 (elsewhere they stay fp32, at about 1.5x the time)
tf_steps=24000
train g2p-transformer --model-type transformer --d-model 256 --heads 4 --layers 3 --ff 512 \
  --dropout 0.15 --attention-dropout 0.1 --dev-permille 20 --lr 0.002 --warmup 1500 \
  --steps "$tf_steps" --batch-tokens 4096 --eval-every 1000 --dev-words 2000 --keep-last 5 \
  --matmul-precision medium
# the RNN encoder-decoder with attention (bidirectional GRU encoder, additive attention), and
# the same without attention
rnn=(--batch-tokens 3000 --eval-every 500 --dev-words 1000)
train g2p-rnn-attention --model-type rnn-attention --d-model 128 --hidden 256 --layers 1 \
  --cell gru --score additive --dropout 0.1 --lr 0.002 --warmup 500 --steps 4000 "${rnn[@]}"
train g2p-rnn --model-type rnn --d-model 128 --hidden 256 --layers 1 --cell gru --dropout 0.1 \
  --lr 0.002 --warmup 500 --steps 4000 "${rnn[@]}"

if [ "$unfinished" = 1 ]; then
  echo "g2p-results: not every run has finished; call the script again to go on" >&2
  exit 0
fi
# the Transformer: the mean of its last five snapshots in F16 (the bundled model); the RNNs:
# their final weights (PATH.last; the best-dev checkpoints, PATH, are chosen on a 1000-word dev
# sample, too small to tell the last steps apart), under the models' names
mkdir -p "$out/final"
t="$out/g2p-transformer.safetensors"
snapshots=()
for s in 4000 3000 2000 1000 0; do snapshots+=(--model "$t.step$((tf_steps - s))"); done
"$attn" g2p average "${snapshots[@]}" --out "$out/g2p-transformer-avg.safetensors"
"$attn" g2p average --model "$out/g2p-transformer-avg.safetensors" --dtype f16 \
  --out "$out/final/g2p-transformer.safetensors"
for name in g2p-rnn-attention g2p-rnn; do
  cp "$out/$name.safetensors.last" "$out/final/$name.safetensors"
done
"$attn" g2p eval --model "$out/final/g2p-transformer.safetensors" \
  --model "$out/final/g2p-rnn-attention.safetensors" --model "$out/final/g2p-rnn.safetensors" \
  --test "$data/g014b2b.test" --threads "$threads" --plot "$out/wer-by-length.svg" |
  tee "$out/results.txt"
