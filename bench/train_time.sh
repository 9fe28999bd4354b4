#!/usr/bin/env bash
# Training-time benchmark: trains the four default bundles exactly as scripts/train_default_models.sh
# does, into .bench-out/models (git-ignored, model/ untouched), and prints wall time per bundle with the
# machine it ran on. Budgets on the 2-core CPU machine: ATIS ≤ 180 s, SNIPS, SST-2 and CLINC150 ≤ 600 s each.
#
#   bash bench/train_time.sh [DATA_ROOT]        (default $SEQSERVE_DATA, else ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
scripts/train_default_models.sh "${1:-${SEQSERVE_DATA:-../shared/data}}" .bench-out/models 2>/dev/null | grep -v '^epoch\|^slots\|^tagger\|^sentiment\|^classifier\|^early\|^member'
