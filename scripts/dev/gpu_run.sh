#!/bin/sh
# Development only: one batch on the lent GPU machine (docs/cuda-notes.md).
# Runs from the copy of this tree that travels as .devcarry in the lead's
# checkout: binaries built on the dev machine, the system libraries they
# need (libs/libs.tar.xz), share/ and tests/refs from the checkout above.
set -u
cd "$(dirname "$0")/../.."
[ -f bin.tar.xz ] && tar xJf bin.tar.xz
ln -sfn ../share share
ln -sfn ../../tests/refs tests/refs
mkdir -p /tmp/ql && tar xJf libs/libs.tar.xz -C /tmp/ql
export LD_LIBRARY_PATH=/tmp/ql${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export QTUNE_ROOT="$(pwd)"
echo "== env"; date -u; uname -r; nproc; nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.mem --format=csv
nvcc --version | tail -1
if ldd build/qtune | grep -q "libcublas.*not found"; then
    d=$(dirname "$(find / -name 'libcublas.so.13' 2>/dev/null | head -n 1)")
    export LD_LIBRARY_PATH=$d:$LD_LIBRARY_PATH
fi
ldd build/qtune | grep -E "not found|cublas"
for step in ${STEPS:-test preview forward gptq hf}; do
    case $step in
    test) echo "== test-cuda"; QTUNE_BIN=build/qtune QTUNE_TESTBIN=build/tests timeout 200 sh tests/cuda/run.sh
          tar czf "${OUT:-/tmp}/cuda-test-logs.tgz" tests/out/cuda ;;
    preview) echo "== bench preview cuda"; timeout 90 build/qtune bench preview --backend cuda --json ;;
    forward) echo "== bench forward cuda"; timeout 60 build/qtune bench forward --backend cuda --json
             echo "== bench forward cpu"; timeout 60 build/qtune bench forward --backend cpu --json ;;
    hf) echo "== transformers eager"; PYTHONUNBUFFERED=1 timeout 120 python3 scripts/dev/bench_hf_forward.py share/models/tiny-glm-moe ;;
    gptq) echo "== torch gptq baseline"; PYTHONUNBUFFERED=1 timeout 150 python3 scripts/dev/bench_gptq_torch.py | tee /tmp/tg.json
          b=$(sed -n 's/.*"torch_gptq_layer_s": \([0-9.]*\).*/\1/p' /tmp/tg.json)
          echo "== bench gptq cuda"; QTUNE_GPTQ_BASELINE_S=$b timeout 90 build/qtune bench gptq --backend cuda --json ;;
    stream) echo "== synthetic GLM-4.5-Air checkpoint (${AIR_LAYERS:-8} layers)"
            df -h /tmp | tail -1; free -g | head -2
            PYTHONUNBUFFERED=1 timeout 200 python3 scripts/dev/make_air_ckpt.py ${AIR_LAYERS:-8} /tmp/air >/tmp/air.log 2>&1; tail -2 /tmp/air.log
            du -sh /tmp/air
            echo "== bench forward, GLM-4.5-Air shapes, cache capped at ${AIR_CACHE_MB:-12000} MB"
            QTUNE_CUDA_CACHE_MB=${AIR_CACHE_MB:-12000} QTUNE_BENCH_MODEL=/tmp/air QTUNE_BENCH_REPS=2 timeout 200 build/qtune bench forward --backend cuda --json ;;
    *) echo "== $step"; sh -c "$step" ;;
    esac
done
echo "== done"; date -u
