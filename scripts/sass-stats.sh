#!/usr/bin/env bash
# Static figures of the CUDA kernels, on any machine (no GPU): each kernel's registers and spills
# (ptxas, through the NVRTC compile test) and its SASS instructions by opcode (nvdisasm from
# NVIDIA's PyPI wheel). For a kernel without loops the instruction count is what it issues per
# thread (`fr_scale`: one field multiplication and its loads); for the others it is code size.
# Compares forms of the kernels where no GPU can time them; a GPU decides (scripts/gpu-check.sh).
#
#   scripts/sass-stats.sh                        # the default build
#   scripts/sass-stats.sh -DFIELD_MUL_PTX=1      # with NVRTC options (macros of the .cu files)
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/target/nvrtc"
python=python3
[ -x target/python-venv/bin/python ] && python=target/python-venv/bin/python
fetch() { # a wheel from PyPI, unpacked under target/nvrtc unless the file it brings is there
    [ -e "$tools/$2" ] && return
    local dir="$tools/wheels/${1%%=*}"
    "$python" -m pip download --quiet --no-deps --dest "$dir" "$1"
    "$python" -m zipfile -e "$dir"/*.whl "$tools"
}
fetch nvidia-cuda-nvrtc-cu12==12.9.86 nvidia/cuda_nvrtc/lib/libnvrtc.so.12
fetch nvidia-cuda-nvdisasm nvidia/cu13/bin/nvdisasm
chmod +x "$tools/nvidia/cu13/bin/nvdisasm"
export LD_LIBRARY_PATH="$tools/nvidia/cuda_nvrtc/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ZKML_NVRTC_OPTIONS="$*" ZKML_CUBIN_OUT="$work/kernels.cubin" ZKML_REQUIRE_NVRTC=1 \
    cargo test --release -q -p zkml-gpu-kernels kernels_compile_with_nvrtc -- --nocapture > "$work/ptxas.txt" 2>&1 \
    || { cat "$work/ptxas.txt"; exit 1; }
"$tools/nvidia/cu13/bin/nvdisasm" -c "$work/kernels.cubin" > "$work/kernels.sass" 2> /dev/null
"$python" - "$work/ptxas.txt" "$work/kernels.sass" <<'PY'
import collections, re, sys
regs, spills, kernel = {}, {}, None
for line in open(sys.argv[1]):
    m = re.search(r"Function properties for (\w+)", line)
    if m: kernel = m.group(1)
    m = re.search(r"(\d+) bytes spill stores", line)
    if m and kernel: spills[kernel] = int(m.group(1))
    m = re.search(r"Used (\d+) registers", line)
    if m and kernel: regs[kernel] = int(m.group(1))
ops, kernel = collections.OrderedDict(), None
for line in open(sys.argv[2]):
    m = re.match(r"^\.text\.(\w+):", line)
    if m:
        kernel = m.group(1)
        ops[kernel] = collections.Counter()
        continue
    m = re.search(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)", line)
    if m and kernel: ops[kernel][m.group(1)] += 1
print(f"{'kernel':22} {'regs':>5} {'spill B':>8} {'instr':>7}  most frequent opcodes")
for k in sorted(ops):
    c = ops[k]
    top = ", ".join(f"{op} {n}" for op, n in c.most_common(5))
    print(f"{k:22} {regs.get(k, '?'):>5} {spills.get(k, 0):>8} {sum(c.values()):>7}  {top}")
PY
