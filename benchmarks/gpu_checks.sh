#!/usr/bin/env bash
# One script for a machine with an NVIDIA GPU and CuPy: the whole test suite (the device
# fixture adds 'cuda' to every device-parametrised test, and the gpu-marked tests run),
# then the GPU-vs-CPU benchmark and mixed precision against float32 (step times, and the
# article CNN's accuracy after 3 epochs in each). Results go to ${OUT:-benchmarks/results}.
#   bash benchmarks/gpu_checks.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/results}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MINIGRAD_NO_DOWNLOAD=1
{
  echo "== machine"; date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import numpy, minigrad; print('numpy', numpy.__version__, 'minigrad cuda', minigrad.cuda.is_available(), minigrad.cuda.unavailable_reason())"
  python3 -c "import cupy; print('cupy', cupy.__version__, 'cuda runtime', cupy.cuda.runtime.runtimeGetVersion())" || true
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())" || true
} 2>&1 | tee "$out/gpu-machine.txt"
timeout 300 python3 -m pytest -p no:cacheprovider -q -rfE tests 2>&1 | tail -n 60 | tee "$out/gpu-tests.txt"
timeout 420 python3 benchmarks/bench_gpu_vs_cpu.py --quick --out "$out" 2>&1 | tee "$out/gpu-bench.txt"
timeout 240 python3 benchmarks/bench_mixed_precision.py --accuracy 3 --out "$out" 2>&1 | tee "$out/gpu-mixed-precision.txt"
