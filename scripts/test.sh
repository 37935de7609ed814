#!/usr/bin/env bash
# The whole test suite: the Rust workspace's tests, then the Python package built and installed
# the way the README says (in a virtual environment under target/), then its pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# The prover tests also run on each GPU backend present (lavapipe counts as a wgpu device).
cargo test --workspace --features zkml-circuits/gpu-tests
# The verifier-only build that node software embeds: no ONNX importer, no GPU crates, no plotting.
cargo test -p zkml-core --no-default-features --features verify --lib --tests

venv=target/python-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet numpy pytest
"$venv/bin/python" -m pip install ./python
"$venv/bin/python" -m pytest python/tests
