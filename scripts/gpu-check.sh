#!/usr/bin/env bash
# GPU check: the CUDA and wgpu kernels and the GPU-backed prover against the CPU on fresh random
# inputs, then the kernel benchmarks and an end-to-end proof per backend, from binaries built on
# any x86-64 Linux machine (no GPU or CUDA toolkit needed to build: they open libcuda, libnvrtc
# and the Vulkan loader at run time).
#
#   cargo test --release -p zkml-gpu-kernels --no-run                         # KERNEL_TESTS
#   cargo test --release -p zkml-circuits --features gpu-tests --no-run      # PROVER_TESTS
#   cargo build --release -p zkml-cli                                         # target/release/zkml
#   scripts/gpu-check.sh KERNEL_TESTS PROVER_TESTS ZKML [OUT_DIR] [LOG_SIZES] [MODEL]
#
# (scripts/gpu-bundle.sh DIR builds the three, stripped, into DIR with this script.)
#
# Writes OUT_DIR/{gpu.txt,kernel-tests.txt,prover-tests.txt,kernels.json,kernels.svg,ntt-2-26.json,
# prove.json,kernel-tests-mul-c.txt,mul-c.json,ntt-tiles.json,msm-no-tables.json,msm-window-16.json,
# ntt-min-blocks-1.json,msm-accumulate-min-blocks-1.json,ncu-msm.txt,ncu-ntt-pass.txt}.
# Record the figures with the card's name (gpu.txt): times from different cards are not
# comparable. On a fresh H100 machine the kernel tests alone took 284 s one test at a time, most
# of it compiling (NVRTC, and the Vulkan pipelines of both wgpu kernel sets; both take far less
# since: NVRTC about 14 s instead of 132 s on two threads of a development machine, the
# pipelines side by side); with the rest the whole can pass ten minutes, so the essential steps
# come first, and GPU_CHECK_STEPS picks some of them for one call (a comma list of tests,
# kernels, ntt26, prove, candidates, experiments, ncu; all by default; the kernel caches under
# ZKML_CACHE_DIR carry over between calls on one machine).
# Every chosen step runs even if an earlier one failed; the exit status says if any did.
set -uo pipefail
steps=",${GPU_CHECK_STEPS:-tests,kernels,ntt26,prove,candidates,experiments,ncu},"
chosen() { [[ $steps == *",$1,"* ]]; }
usage="usage: gpu-check.sh KERNEL_TESTS PROVER_TESTS ZKML [OUT_DIR] [LOG_SIZES] [MODEL]"
kernel_tests=${1:?$usage}
prover_tests=${2:?$usage}
zkml=${3:?$usage}
out=${4:-target/gpu-check}
sizes=${5:-16,18,20,22,24}
model=${6:-cifar_cnn_3x32x32}
mkdir -p "$out"
work=$(mktemp -d)
failed=0
step() {
    echo "== $*"
    "$@" || { echo "== FAILED: $*"; failed=1; }
}

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

# What each backend opens here (device, architecture, or why not), and what auto picks.
"$zkml" backends 2>&1 | tee -a "$out/gpu.txt"

# Correctness first: a missing CUDA or Vulkan device fails the check instead of skipping.
export ZKML_REQUIRE_CUDA=1 ZKML_REQUIRE_WGPU=1
if chosen tests; then
    step bash -c "'$kernel_tests' --nocapture 2>&1 | tee '$out/kernel-tests.txt'"
    step bash -c "'$prover_tests' commitment --nocapture 2>&1 | tee '$out/prover-tests.txt'"
fi

# Then speed: every backend, each result checked against the CPU before it is timed, and where
# the time goes, kernel by kernel (--profile: one more run, CUDA's launches timed on the device
# with events, as the unprofiled run queues them; wgpu's dispatches each waited for and timed on
# its own, as Vulkan has no tool like Nsight Compute on a bare machine).
if chosen kernels; then
    step "$zkml" bench-kernels --log-sizes "$sizes" --runs 5 --profile -o "$out/kernels.json"
    step "$zkml" bench-chart "$out/kernels.json" -o "$out/kernels.svg"
fi
# The largest NTT the backends promise (2^26), checked against the CPU.
chosen ntt26 && step "$zkml" bench-kernels --ops ntt --log-sizes 26 --runs 1 -o "$out/ntt-2-26.json"
# End to end: set up and prove one model with the MSMs on each backend (proofs verified).
chosen prove && step "$zkml" bench --only "$model" --backends cpu,cuda,wgpu --runs 2 --work "$work" -o "$out/prove.json"
# Experiments, last so that a run cut short still has everything above.
# Candidates for the defaults, each timed against the default run above, every result checked
# against the CPU first (and the CUDA device test run in the other form): field multiplication in
# C with 64-bit accumulators (FIELD_MUL_PTX=0: 520 SASS instructions a product against 216 for the
# default PTX carry chains, scripts/sass-stats.sh); the NTT in shared-memory tiles
# (ZKML_NTT_TILES=1, both GPU backends: the bit reversal in 16 × 16 tiles, then a 2^24 transform
# in 3 passes over the array instead of 8; 2^16 in 3 launches instead of 6, which may matter
# most to wgpu, whose every dispatch costs more).
if chosen candidates; then
    step bash -c "ZKML_NVRTC_OPTIONS=-DFIELD_MUL_PTX=0 '$kernel_tests' cuda_backend_matches_cpu --nocapture 2>&1 | tee '$out/kernel-tests-mul-c.txt'"
    step env ZKML_NVRTC_OPTIONS=-DFIELD_MUL_PTX=0 "$zkml" bench-kernels --backends cuda --log-sizes 16,20,24 --runs 5 --profile -o "$out/mul-c.json"
    step env ZKML_NTT_TILES=1 "$zkml" bench-kernels --backends cuda,wgpu --ops ntt --log-sizes 16,20,24 --runs 5 --profile -o "$out/ntt-tiles.json"
    # The MSM over the bases alone (no window tables; the model's widths: 16 bits at 2^20, 20 at
    # 2^24) against the default run's, over the tables; then 16-bit windows over the bases alone.
    step env ZKML_MSM_TABLES=1 "$zkml" bench-kernels --backends cuda,wgpu --ops msm --log-sizes 16,20,24 --runs 5 --profile -o "$out/msm-no-tables.json"
    step env ZKML_MSM_TABLES=1 ZKML_MSM_WINDOW_BITS=16 "$zkml" bench-kernels --backends cuda,wgpu --ops msm --log-sizes 22,24 --runs 5 --profile -o "$out/msm-window-16.json"
fi
# The CUDA kernels compiled for other occupancies than their defaults (NTT pass: two blocks per
# SM; accumulation: four), against the default run above: one block each (unbounded registers).
if chosen experiments; then
    step env ZKML_NVRTC_OPTIONS=-DNTT_PASS_MIN_BLOCKS=1 "$zkml" bench-kernels --backends cuda --ops ntt --log-sizes 20,24 --runs 5 --profile -o "$out/ntt-min-blocks-1.json"
    step env ZKML_NVRTC_OPTIONS=-DMSM_ACCUMULATE_MIN_BLOCKS=1 "$zkml" bench-kernels --backends cuda --ops msm --log-sizes 20,24 --runs 5 --profile -o "$out/msm-accumulate-min-blocks-1.json"
fi
# What limits the CUDA kernels that bound the targets (occupancy, issue slots, warp stall
# reasons, memory traffic), where Nsight Compute is installed.
if chosen ncu && command -v ncu > /dev/null; then
    sections="--clock-control none --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis"
    # The MSM's two digit passes (counting with n·W atomics, then writing the entries at their
    # ranks) and its accumulation, the first launch of each.
    step bash -c "ncu -k 'regex:msm_(digits|accumulate)' -c 3 $sections '$zkml' bench-kernels --backends cuda --ops msm --log-sizes 20 --runs 1 -o '$work/ncu.json' > '$out/ncu-msm.txt' 2>&1"
    step bash -c "ncu -k regex:fr_ntt_pass3 -c 1 $sections '$zkml' bench-kernels --backends cuda --ops ntt --log-sizes 24 --runs 1 -o '$work/ncu.json' > '$out/ncu-ntt-pass.txt' 2>&1"
fi
rm -rf "$work"
exit $failed
