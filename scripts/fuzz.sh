#!/usr/bin/env bash
# Runs every fuzz target for a while (default 60 s each): scripts/fuzz.sh [seconds].
# Needs a nightly toolchain and cargo-fuzz (cargo install cargo-fuzz).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
for target in $(cargo +nightly fuzz list); do
    echo "== $target ($seconds s)"
    cargo +nightly fuzz run "$target" --sanitizer none -- -max_total_time="$seconds" -rss_limit_mb=4096
done
