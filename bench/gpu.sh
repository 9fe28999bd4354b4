#!/usr/bin/env bash
# The GPU checks in one go: CUDA-only tests, then the HTTP benchmark on the GPU at several worker counts.
#   bash bench/gpu.sh RESULTS_DIR [WORKERS...]      (default workers: 4 8)
# Needs a CUDA device, the project's dependencies, wrk on PATH, and the data folder and loadtest.sh as
# bench/README.md says ($SEQSERVE_DATA). Each step is time-boxed so one slow step cannot eat the others'
# time; every result lands in RESULTS_DIR.
set -u
out=${1:?usage: bash bench/gpu.sh RESULTS_DIR [WORKERS...]}
shift
if [ $# -gt 0 ]; then workers=("$@"); else workers=(4 8); fi
mkdir -p "$out"
cd "$(dirname "$0")/.."
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  echo "cpus: $(nproc)"
} 2>&1 | tee "$out/machine.txt"
bench() {
  timeout 70 python3 -m bench.serve --device cuda --workers "$1" --concurrency 1 16 64 256 --seconds 3 \
    --json "$out/bench_cuda_w$1.json" 2>"$out/bench_cuda_w$1.log" | tee "$out/bench_cuda_w$1.md"
}
# The first worker count's table matters most, so it runs before the tests and any further counts.
bench "${workers[0]}"
timeout 90 python3 -m pytest -q -m cuda tests/contract/test_cuda.py -p no:cacheprovider 2>&1 | tail -25 | tee "$out/cuda_tests.txt"
for n in "${workers[@]:1}"; do bench "$n"; done
