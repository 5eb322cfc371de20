#!/usr/bin/env bash
# One script for a machine with an NVIDIA GPU and CuPy: every GPU test (the device fixture
# adds 'cuda' to every device-parametrised test, and the gpu-marked tests run), the fused
# kernels against their generic versions, the GPT step against PyTorch on the GPU (small
# and large model), the GPU-vs-CPU benchmark, and mixed precision against float32 (step
# times, and the article CNN's accuracy after MIXED_ACCURACY epochs in each, when set).
# Everything goes to ${OUT:-benchmarks/results}/gpu/ and one log; the folder is packed
# into gpu-results.tgz at the end. TESTS_S and MIXED_S bound the two longest phases; SKIP
# names phases to leave out (tests kernels gpt profile gpu_vs_cpu mixed).
#   MINIGRAD_DATA=/path/with/mnist bash benchmarks/gpu_checks.sh
#   SKIP="gpu_vs_cpu mixed" bash benchmarks/gpu_checks.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/results}"
res="$out/gpu"
mkdir -p "$res"
log="$out/gpu-log.txt"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MINIGRAD_NO_DOWNLOAD=1
phase() { echo; echo "== $1 ($(date -u +%T))"; }
want() { [[ " ${SKIP:-} " != *" $1 "* ]]; }
{
  phase machine
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import sys, numpy, minigrad; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'minigrad cuda', minigrad.cuda.is_available(), minigrad.cuda.unavailable_reason())"
  python3 -c "import cupy; print('cupy', cupy.__version__, 'cuda runtime', cupy.cuda.runtime.runtimeGetVersion())" || true
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())" || true
  nproc

  if want tests; then
    phase "tests on cuda"
    par=""
    python3 -c "import xdist" 2>/dev/null && par="-n 8"
    timeout "${TESTS_S:-200}" python3 -m pytest -p no:cacheprovider -v -rfE --tb=short $par \
      -m "gpu and not slow" tests > "$res/tests.txt" 2>&1
    echo "pytest exit $?"
    grep -E "FAILED|ERROR" "$res/tests.txt" | grep -v "^\[gw" | head -n 80
    tail -n 3 "$res/tests.txt"
  fi

  if want kernels; then
    phase "kernels: fused against generic, layer normalisation, dense backward"
    timeout 60 python3 benchmarks/bench_gpu_kernels.py --device cuda --out "$res"
  fi

  if want gpt; then
    phase "GPT step on cuda, small"
    timeout 70 python3 benchmarks/bench_gpt.py --device cuda --quick --out "$res"
    phase "GPT step on cuda, large"
    timeout 80 python3 benchmarks/bench_gpt.py --device cuda --size large --quick --out "$res"
  fi

  if want profile; then
    phase "GPT step on cuda, large, per op (synchronised)"
    timeout 60 python3 benchmarks/profile_gpt_ops.py --device cuda --sync --size large \
      --steps 4 | tee "$res/profile-large.txt"
  fi

  if want gpu_vs_cpu; then
    phase "GPU vs CPU"
    timeout 90 python3 benchmarks/bench_gpu_vs_cpu.py --quick --out "$res"
  fi

  if want mixed; then
    phase "mixed precision"
    timeout "${MIXED_S:-60}" python3 benchmarks/bench_mixed_precision.py --quick \
      ${MIXED_ACCURACY:+--accuracy $MIXED_ACCURACY} --out "$res"
  fi
  phase done
} 2>&1 | tee "$log"
tar czf "$out/gpu-results.tgz" -C "$out" gpu
