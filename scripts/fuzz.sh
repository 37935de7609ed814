#!/usr/bin/env bash
# Runs every fuzz target for a while (default 60 s each): scripts/fuzz.sh [seconds].
# Needs a nightly toolchain and cargo-fuzz (cargo install cargo-fuzz). The corpora start from
# the serialized artifacts in zkml-core/tests/data/verifier.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="$root/zkml-core/tests/data/verifier"
cd "$root/fuzz"
seconds="${1:-60}"

mkdir -p corpus/space_decoders corpus/space_verifiers
cp "$data"/*.bin "$data"/*.snark corpus/space_decoders/
# The verifier target's first byte picks the verifier: 0 init, 1 storage, 2 compressed.
for pair in 0:unit.init.bin 1:unit.epoch.bin 2:unit.epoch.snark; do
    { printf "\\x0${pair%%:*}"; cat "$data/${pair#*:}"; } > "corpus/space_verifiers/seed-${pair#*:}"
done

for target in $(cargo +nightly fuzz list); do
    echo "== $target ($seconds s)"
    cargo +nightly fuzz run "$target" --sanitizer none -- -max_total_time="$seconds" -rss_limit_mb=4096
done
