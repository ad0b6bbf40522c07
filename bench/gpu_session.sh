#!/usr/bin/env bash
# The CUDA checks and benchmarks of issue 13, unattended, in at most about 8 minutes on an H100 / H200:
#
#     bash bench/gpu_session.sh       # from the repository root; OUT=folder for the results (default ./gpu_out)
#
# Steps, in this order, each under its own `timeout` (a step that fails or runs out of time is logged and the
# next one runs): the Python environment and the GPU (nvidia-smi -L; torch, triton and CUDA versions); the
# gpu-marked tests; bench/ops.py --cuda, forward and then forward + backward in fp16; bench/generator.py --cuda,
# the speed tables and then --startup (eager, CUDA graph, torch.compile); bench/path_length.py --device cuda.
# Output: $OUT/1-env.txt, 2-tests.txt, 3-ops.txt, 4-generator.txt, 5-path_length.txt and summary.txt (each
# step's exit status and seconds); 124 means the step was stopped at its limit.
#
# Python: $PYTHON, else python3. Where it imports torch, `pip install -e .[test]` is tried briefly (it fails
# fast without a package registry) and the source tree is used through PYTHONPATH in any case; where it does
# not, a venv is made in $VENV (default /tmp/stylegan-gpu-venv) and the project installed there, which needs a
# registry. SKIP_INSTALL=1 leaves pip out. Each benchmark compiles its Triton kernels into a fresh cache folder,
# so the compile times it reports are cold ones (--startup reuses the speed tables' cache).

set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
VENV=${VENV:-/tmp/stylegan-gpu-venv}
export PYTHONUNBUFFERED=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
unset STYLEGAN_OPS # the benchmarks choose fast and ref themselves; the tests expect the default

CACHES=$(mktemp -d) # the benchmarks' Triton caches
trap 'rm -rf "$CACHES"' EXIT

# step FILE LIMIT COMMAND...: run COMMAND for at most LIMIT seconds, its output appended to $OUT/FILE.
step() {
    local file=$1 limit=$2 start=$SECONDS status command="${*:3}"
    shift 2
    echo "\$ $command" >>"$OUT/$file"
    timeout -k 10 "$limit" "$@" >>"$OUT/$file" 2>&1
    status=$?
    echo "(exit status $status after $((SECONDS - start)) s; limit $limit s)" >>"$OUT/$file"
    printf '%3d %4d s  %s\n' "$status" "$((SECONDS - start))" "${command%%$'\n'*}" | tee -a "$OUT/summary.txt"
}

{
    echo "started $(date -u '+%Y-%m-%d %H:%M:%S') UTC in $ROOT, commit $(git rev-parse --short HEAD 2>/dev/null)"
    if [ "${SKIP_INSTALL:-0}" = 1 ]; then
        echo "SKIP_INSTALL=1: no pip"
    elif "$PY" -c "import torch" 2>/dev/null; then
        timeout 20 "$PY" -m pip install -q --retries 0 --timeout 5 -e ".[test]" \
            || echo "pip install -e .[test] did not finish: the installed packages and the source tree are used"
    elif "$PY" -m venv "$VENV" && timeout 300 "$VENV/bin/python" -m pip install -q -e ".[test]"; then
        PY=$VENV/bin/python
    else
        echo "no torch in $PY and no install into $VENV: the steps below will fail"
    fi
} >>"$OUT/1-env.txt" 2>&1

step 1-env.txt 10 nvidia-smi -L
step 1-env.txt 10 nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit,driver_version --format=csv
step 1-env.txt 20 "$PY" -c '# the environment
import importlib, sys, torch
print("python", sys.version.split()[0], sys.executable)
print("torch", torch.__version__, "CUDA build", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())
print("CUDA available:", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name(), "capability", torch.cuda.get_device_capability())
for name in ("triton", "pytest", "pytest_timeout", "stylegan", "av", "lpips", "timm", "scipy", "safetensors"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", ""), getattr(module, "__file__", ""))
    except Exception as error:
        print(name, "MISSING:", type(error).__name__, error)
'

# Every test module with gpu-marked tests (directly, or through the device parameters of tests/triton_testing.py).
mapfile -t TESTS < <(grep -lE 'mark\.gpu|from triton_testing import' tests/test_*.py)
PER_TEST=()
"$PY" -c "import pytest_timeout" 2>/dev/null && PER_TEST=(--timeout 60)
# One line per test, so a run stopped at the limit still says which passed; at most 3 failures, with tracebacks.
step 2-tests.txt 90 "$PY" -m pytest -m gpu -v --tb=short --maxfail=3 -p no:cacheprovider \
    ${PER_TEST[@]+"${PER_TEST[@]}"} "${TESTS[@]}"

step 3-ops.txt 45 env TRITON_CACHE_DIR="$CACHES/ops" "$PY" bench/ops.py --cuda --repeats 5
step 3-ops.txt 55 env TRITON_CACHE_DIR="$CACHES/ops-backward" "$PY" bench/ops.py --cuda --repeats 5 \
    --backward --dtypes fp16

step 4-generator.txt 130 env TRITON_CACHE_DIR="$CACHES/generator" "$PY" bench/generator.py --cuda \
    --layouts stylegan-xl-1024 stylegan-xl-512 stylegan-xl-256 --batch 32 --repeats 5 --seconds 1.5
step 4-generator.txt 70 env TRITON_CACHE_DIR="$CACHES/generator" "$PY" bench/generator.py --cuda \
    --layouts stylegan-xl-1024 --startup --repeats 10

step 5-path_length.txt 35 "$PY" bench/path_length.py --device cuda

echo "done after $SECONDS s; results in $OUT" | tee -a "$OUT/summary.txt"
