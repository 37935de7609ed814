#!/usr/bin/env bash
# GPU check: the CUDA and wgpu kernels against the CPU on fresh random inputs, then the kernel
# benchmarks, from binaries built on any x86-64 Linux machine (no GPU or CUDA toolkit needed to
# build: they open libcuda, libnvrtc and the Vulkan loader at run time).
#
#   cargo test --release -p zkml-gpu-kernels --no-run     # prints the test binary's path
#   cargo build --release -p zkml-cli                     # target/release/zkml
#   scripts/gpu-check.sh TEST_BINARY ZKML_BINARY [OUT_DIR] [LOG_SIZES]
#
# Writes OUT_DIR/{gpu.txt,tests.txt,kernels.json,kernels.svg}. Record the figures with the card's
# name (gpu.txt); times from different cards are not comparable.
set -euo pipefail
test_bin=${1:?usage: gpu-check.sh TEST_BINARY ZKML_BINARY [OUT_DIR] [LOG_SIZES]}
zkml=${2:?usage: gpu-check.sh TEST_BINARY ZKML_BINARY [OUT_DIR] [LOG_SIZES]}
out=${3:-target/gpu-check}
sizes=${4:-16,18,20,22,24}
mkdir -p "$out"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"

# NVRTC comes with the CUDA toolkit (and with pip's nvidia-cuda-nvrtc); put one on the loader's
# path if it is not there already.
if ! ldconfig -p | grep -q 'libnvrtc\.so'; then
    lib=$(find /usr/local /opt /usr/lib -name 'libnvrtc.so.*' 2>/dev/null | grep -v builtins | head -n 1 || true)
    if [ -n "$lib" ]; then
        export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "NVRTC: $lib"
    fi
fi

# Correctness first: a missing CUDA device fails the check instead of skipping.
export ZKML_REQUIRE_CUDA=1
"$test_bin" --nocapture --test-threads 1 2>&1 | tee "$out/tests.txt"

# Then speed: every backend, each result checked against the CPU before it is timed.
"$zkml" bench-kernels --log-sizes "$sizes" --runs 5 -o "$out/kernels.json"
"$zkml" bench-chart "$out/kernels.json" -o "$out/kernels.svg"
