#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs, on any x86-64 Linux machine (no GPU or CUDA toolkit
# needed), into one directory to copy to the machine with the GPU:
#
#   scripts/gpu-bundle.sh DIR [--xz]
#   # then, on the GPU machine (with --xz, first `xz -d DIR/*.xz`, or where xz is missing
#   # `python3 -c 'import lzma, sys; [open(f[:-3], "wb").write(lzma.open(f).read()) for f in sys.argv[1:]]' DIR/*.xz`
#   # and `chmod +x DIR/kernels DIR/prover DIR/zkml`):
#   DIR/gpu-check.sh DIR/kernels DIR/prover DIR/zkml OUT_DIR
#
# DIR gets the kernel tests (`kernels`), the GPU prover tests (`prover`), the CLI (`zkml`), all
# stripped, and gpu-check.sh. --xz compresses the binaries: the CLI's 57 MB become 8 (gzip made
# 37 of them: its 32 KiB window misses the repeats of a binary this size).
set -euo pipefail
dir=${1:?usage: gpu-bundle.sh DIR [--xz]}
compress=${2:-}
cd "$(dirname "$0")/.."

# The path of the test executable cargo builds for a package's library.
test_binary() {
    cargo test --release "$@" --no-run --message-format=json \
        | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"] and "lib" in m["target"]["kind"]:
        print(m["executable"])' | tail -n 1
}

mkdir -p "$dir"
kernels=$(test_binary -p zkml-gpu-kernels)
prover=$(test_binary -p zkml-circuits --features gpu-tests)
cargo build --release -p zkml-cli
for pair in "kernels:$kernels" "prover:$prover" "zkml:target/release/zkml"; do
    name=${pair%%:*}
    strip -o "$dir/$name" "${pair#*:}"
    if [ "$compress" = --xz ]; then xz -9 -T0 -f "$dir/$name"; fi
done
cp scripts/gpu-check.sh "$dir/"
ls -l "$dir"
