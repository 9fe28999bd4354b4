#!/usr/bin/env bash
# Train and export the four default bundles: model/atis, model/snips, model/sentiment (SST-2) and
# model/clinc150.
#
#   scripts/train_default_models.sh [DATA_ROOT] [OUT_ROOT]
#
# DATA_ROOT defaults to ../shared/data (layout: see `python -m training download`); OUT_ROOT defaults
# to model. Each bundle's recipe (data, hyper-parameters, label names) is in training/recipes.py; this
# script only runs the four and prints each one's wall-clock training time at the end
# (bench/train_time.sh wraps it).
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

for name in atis snips sentiment clinc150; do
  timed "$name" "$PYTHON" -m training recipe "$name" --data-root "$DATA_ROOT" --out "$OUT_ROOT/$name"
done

echo
echo "| bundle | training wall time (s) |"
echo "| --- | --- |"
for entry in "${TIMES[@]}"; do
  echo "| ${entry% *} | ${entry#* } |"
done
