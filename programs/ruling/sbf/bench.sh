#!/usr/bin/env bash
# Builds the ruling bench program to SBF and runs it in LiteSVM's VM, printing compute
# units by k (docs/benchmarks.md, "The ruling math in the SBF VM"). Needs rustup's
# nightly (with the bpfel-unknown-none target, LLVM 22), network access to crates.io and
# the npm registry the first time, and Node 20 or later. Not part of CI.
#
#   programs/ruling/sbf/bench.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# -Z build-std needs the standard library's source.
rustup component add rust-src --toolchain nightly >/dev/null
# 0.1.9 loads rustc's own libLLVM and writes SBPF v0; the 0.2 line wants LLVM 23.
if ! cargo install --list | grep -q '^sbpf-linker v0\.1\.9:'; then
    cargo install sbpf-linker@0.1.9 --locked
fi
export PATH="$HOME/.cargo/bin:$PATH"

cargo +nightly build --release --target bpfel-unknown-none --locked
so="$here/target/bpfel-unknown-none/release/libgpu_market_ruling_sbf.so"

cd bench
# `npm install`, not `npm ci`: npm 11 leaves litesvm's other-platform binaries out of
# a lock written on Linux, and `npm ci` then refuses the lock as out of sync.
[ -d node_modules ] || npm install --no-audit --no-fund
node bench.mjs "$so"
