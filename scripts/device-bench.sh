#!/usr/bin/env bash
# The GPU benchmark run for a lent device machine (the `device` tool: an NVIDIA H100/H200 with
# PyTorch CUDA but no Node and no npm registry), prepared so a session spends its short device
# budget (15 minutes, start-up included) on measuring, not on setting up.
#
# Here (this machine, after `npm ci`):   bash scripts/device-bench.sh pack
# Then the device tool's run, with carry [".device"], timeout_s 600:
#                                         bash scripts/device-bench.sh run
# What comes back under $OUT: bench/results/<adapter>.json and its markdown section (npm run
# bench with PyTorch CUDA as a peer, TF32 off), gpu_envs.json (GPU-resident env steps/s at up to
# 2^20 envs), train_speed.txt (PPO/SPRIG training steps/s) and run.log. Locally, copy the JSON to
# bench/results/ and run `npm run bench -- --report <adapter>` to regenerate its docs section.
#
# Each stage has its own time limit (STAGE_S, seconds) so one slow stage cannot eat the others';
# together they stay under the 600 s a device command may run.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ENTRIES=(bench/run.ts bench/gpu_envs.ts bench/train_speed.ts)

case "${1:-}" in
  pack)
    # The workplace's packer (Node, Dawn's addon, the Vulkan loader, esbuild bundles into
    # .device/), kept beside the checkout rather than in it; GPU_PACK names another copy.
    pack=${GPU_PACK:-$(dirname "$root")/shared/tools/gpu-pack.sh}
    [ -f "$pack" ] || { echo "gpu-pack.sh not found at $pack: set GPU_PACK to the workplace's copy" >&2; exit 2; }
    bash "$pack" "${ENTRIES[@]}"
    ;;
  run)
    [ -x .device/run.sh ] || { echo "no .device/run.sh: run 'bash scripts/device-bench.sh pack' here first and carry .device" >&2; exit 2; }
    out=${OUT:-$root/device-out}
    mkdir -p "$out"
    exec > >(tee "$out/run.log") 2>&1
    export BENCH_ROOT="$root" BENCH_OUT="$out" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>/dev/null || echo "no PyTorch here"
    stage() { # stage SECONDS NAME CMD...
      local s=$1 name=$2; shift 2
      echo "== $name (limit ${s} s) $(date -u +%T)"
      timeout --signal=TERM --kill-after=10 "$s" "$@"
      echo "== $name exit $? $(date -u +%T)"
    }
    stage "${BENCH_S:-330}" "npm run bench" bash .device/run.sh bench/run.ts --no-docs
    stage "${ENVS_S:-120}" "gpu envs" bash .device/run.sh bench/gpu_envs.ts --reps 3 --envs 4096,65536,1048576 --json "$out/gpu_envs.json"
    stage "${TRAIN_S:-120}" "train speed" bash -c "bash .device/run.sh bench/train_speed.ts --rounds 1 > '$out/train_speed.txt'"
    ls -la "$out"
    ;;
  *)
    echo "usage: bash scripts/device-bench.sh pack|run" >&2
    exit 2
    ;;
esac
