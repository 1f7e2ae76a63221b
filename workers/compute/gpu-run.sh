#!/usr/bin/env bash
# Builds gpu-market-compute's GPU tests and benchmark here (release, stripped, no CUDA
# needed to build) into .gpu/compute/, next to a run.sh that runs them on a GPU machine.
#
#   bash workers/compute/gpu-run.sh        # here: build; prints what to do there
#   bash .gpu/compute/run.sh [bench args]  # there: GPU tests (--ignored), then the bench
#
# run.sh puts the NVIDIA pip wheels' lib directories (nvidia-cublas, nvidia-cuda-nvrtc,
# CUDA 12 or 13) on LD_LIBRARY_PATH when python3 can import them; libcuda.so.1 comes
# from the driver. It exits non-zero if any GPU test fails, including "no GPU found".
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
out=.gpu/compute
mkdir -p "$out"
export CARGO_PROFILE_RELEASE_STRIP=true CARGO_PROFILE_BENCH_STRIP=true
executables() {
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("executable"):
        print(m["executable"])'
}
test_bin=$(cargo test -p gpu-market-compute --release --test gpu --no-run --message-format=json | executables | tail -n 1)
bench_bin=$(cargo bench -p gpu-market-compute --bench compute --no-run --message-format=json | executables | tail -n 1)
cp -f "$test_bin" "$out/gpu-tests"
cp -f "$bench_bin" "$out/compute-bench"
cat > "$out/run.sh" <<'EOF'
#!/usr/bin/env bash
# Runs gpu-market-compute's GPU tests, then its benchmark (arguments go to the bench).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
wheels=$(python3 - 2>/dev/null <<'PY'
import os
try:
    import nvidia
except ImportError:
    raise SystemExit
dirs = set()
for base in list(nvidia.__path__):
    for root, _, _ in os.walk(base):
        if os.path.basename(root) == "lib":
            dirs.add(root)
print(":".join(sorted(dirs)))
PY
)
export LD_LIBRARY_PATH="${wheels:+$wheels:}${LD_LIBRARY_PATH:-}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
"$here/gpu-tests" --ignored --test-threads=1 --nocapture
tests=$?
"$here/compute-bench" "$@"
bench=$?
if [ "$tests" -ne 0 ]; then exit "$tests"; fi
exit "$bench"
EOF
chmod +x "$out/run.sh"
ls -l "$out"
echo "Copy $out to the GPU machine (or carry it: it is git-ignored) and run: bash $out/run.sh"
