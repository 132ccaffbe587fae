#!/bin/sh
# Development only: one batch on the lent GPU machine (docs/cuda-notes.md).
# Runs from the copy of this tree that travels as .devcarry in the lead's
# checkout: binaries built on the dev machine, the system libraries they
# need (libs/libs.tar.xz), share/ and tests/refs from the checkout above.
set -u
cd "$(dirname "$0")/../.."
[ -f src.tar.xz ] && tar xJf src.tar.xz
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
    forward) echo "== transformers eager (the forward's baseline, same run)"
             PYTHONUNBUFFERED=1 timeout 120 python3 scripts/dev/bench_hf_forward.py share/models/tiny-glm-moe | tee /tmp/hf.json
             b=$(sed -n 's/.*"bf16": {"forward_ms": \([0-9.]*\).*/\1/p' /tmp/hf.json); hb=$b
             echo "== bench forward cuda"; QTUNE_FORWARD_BASELINE_MS=$b timeout 60 build/qtune bench forward --backend cuda --json ;;
    profile) echo "== bench forward cuda, QTUNE_CUDA_PROFILE=1 (phase timers; synchronizes per layer)"
             QTUNE_CUDA_PROFILE=1 timeout 60 build/qtune bench forward --backend cuda --json ;;
    nogrouped) echo "== bench forward cuda, QTUNE_CUDA_NO_GROUPED=1 QTUNE_CUDA_PROFILE=1 (experts one at a time)"
               QTUNE_CUDA_NO_GROUPED=1 QTUNE_CUDA_PROFILE=1 timeout 60 build/qtune bench forward --backend cuda --json ;;
    gptq8) echo "== bench gptq cuda, QTUNE_GPTQ_STREAMS=8"
           QTUNE_GPTQ_STREAMS=8 QTUNE_GPTQ_BASELINE_S=${b:-0} timeout 90 build/qtune bench gptq --backend cuda --json ;;
    oldattn) echo "== bench forward cuda, QTUNE_CUDA_OLD_ATTN=1 (the shared-memory k_attn)"
             QTUNE_CUDA_OLD_ATTN=1 QTUNE_FORWARD_BASELINE_MS=${hb:-0} timeout 60 build/qtune bench forward --backend cuda --json ;;
    gptqtrsm) echo "== bench gptq cuda, QTUNE_GPTQ_TRSM=0 (cuSOLVER trtri, the earlier inverse)"
              QTUNE_GPTQ_TRSM=0 QTUNE_GPTQ_BASELINE_S=${b:-0} timeout 90 build/qtune bench gptq --backend cuda --json ;;
    hello) echo "== the engine's device (hello)"
           H=$(mktemp -d); mkdir -p "$H/home" "$H/run"; chmod 700 "$H/run"
           QTUNE_HOME="$H/home" XDG_RUNTIME_DIR="$H/run" build/qtune engine --session g
           for i in 1 2 3 4 5 6 7 8 9 10; do
               QTUNE_HOME="$H/home" XDG_RUNTIME_DIR="$H/run" build/qtune attach g --no-start --no-follow >"$H/att" 2>&1
               grep -q '^device:' "$H/att" && break; sleep 0.5; done
           cat "$H/att"
           printf '{"id":1,"op":"hello","version":1}\n' | QTUNE_HOME="$H/home" XDG_RUNTIME_DIR="$H/run" build/qtune attach g --raw |
               grep -o '"device":{[^}]*}'
           QTUNE_HOME="$H/home" XDG_RUNTIME_DIR="$H/run" build/qtune kill g ;;
    forwardcpu) echo "== bench forward cpu"; timeout 60 build/qtune bench forward --backend cpu --json ;;
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
    air) echo "== synthetic GLM-4.5-Air checkpoint (${AIR_LAYERS:-4} layers), transformers eager vs qtune, resident"
         [ -f /tmp/air/config.json ] || { PYTHONUNBUFFERED=1 timeout 200 python3 scripts/dev/make_air_ckpt.py ${AIR_LAYERS:-4} /tmp/air >/tmp/air.log 2>&1; tail -2 /tmp/air.log; }
         du -sh /tmp/air
         HF_DTYPES=bf16 PYTHONUNBUFFERED=1 timeout 200 python3 scripts/dev/bench_hf_forward.py /tmp/air | tee /tmp/hfa.json
         b=$(sed -n 's/.*"bf16": {"forward_ms": \([0-9.]*\).*/\1/p' /tmp/hfa.json)
         for gm in ${AIR_GEMM:-f32 tf32 bf16}; do
             echo "== bench forward cuda, Air shapes, QTUNE_CUDA_GEMM=$gm"
             QTUNE_CUDA_GEMM=$gm QTUNE_CUDA_CACHE_MB=100000 QTUNE_BENCH_MODEL=/tmp/air QTUNE_BENCH_REPS=3 QTUNE_FORWARD_BASELINE_MS=$b timeout 200 build/qtune bench forward --backend cuda --json
         done
         echo "== profile, Air shapes, bf16"
         QTUNE_CUDA_GEMM=bf16 QTUNE_CUDA_PROFILE=1 QTUNE_CUDA_CACHE_MB=100000 QTUNE_BENCH_MODEL=/tmp/air QTUNE_BENCH_REPS=2 timeout 200 build/qtune bench forward --backend cuda --json | grep -A16 profile_ms ;;
    fwdbf16) for gm in tf32 bf16; do echo "== bench forward cuda, fixture, QTUNE_CUDA_GEMM=$gm"
             QTUNE_CUDA_GEMM=$gm QTUNE_FORWARD_BASELINE_MS=${hb:-0} timeout 60 build/qtune bench forward --backend cuda --json; done ;;
    tuipreview) echo "== daemon previews of one screen of rows, GLM-4.6 shapes (4 layers: 3 dense, 1 MoE)"
         [ -f /tmp/g46/config.json ] || { PYTHONUNBUFFERED=1 timeout 300 python3 scripts/dev/make_air_ckpt.py 4 /tmp/g46 GLM-4.6 >/tmp/g46.log 2>&1; tail -2 /tmp/g46.log; }
         du -sh /tmp/g46; cat /tmp/g46/* >/dev/null
         H=$(mktemp -d); mkdir -p "$H/home" "$H/run"; chmod 700 "$H/run"
         QTUNE_HOME="$H/home" XDG_RUNTIME_DIR="$H/run" build/qtune engine --session lat
         for i in 1 2 3 4 5 6 7 8 9 10; do [ -S "$H/run/qtune/lat.sock" ] && break; sleep 0.5; done
         QTUNE_HOME="$H/home" XDG_RUNTIME_DIR="$H/run" timeout 200 python3 scripts/dev/preview_latency.py lat /tmp/g46 3 42 3
         QTUNE_HOME="$H/home" XDG_RUNTIME_DIR="$H/run" build/qtune kill lat ;;
    readahead) echo "== cold passes over the GLM-4.6-shaped shards, read-ahead hints on and off (issue 18 pt 10)"
         [ -f /tmp/g46/config.json ] || { PYTHONUNBUFFERED=1 timeout 300 python3 scripts/dev/make_air_ckpt.py 4 /tmp/g46 GLM-4.6 >/tmp/g46.log 2>&1; tail -2 /tmp/g46.log; }
         cp share/models/tiny-glm-moe/tokenizer.json share/models/tiny-glm-moe/tokenizer_config.json /tmp/g46/
         for ra in 1 0 1 0; do
             sync; echo 3 > /proc/sys/vm/drop_caches || echo "cannot drop caches"
             s=$(date +%s.%N); QTUNE_READAHEAD=$ra timeout 200 build/qtune preview /tmp/g46 --scheme W4A16 --backend cpu >/tmp/pv.txt 2>&1; e=$(date +%s.%N)
             echo "preview W4A16 cold, QTUNE_READAHEAD=$ra: $(echo "$e - $s" | bc) s ($(tail -n 1 /tmp/pv.txt))"
         done
         for ra in 1 0; do
             sync; echo 3 > /proc/sys/vm/drop_caches
             s=$(date +%s.%N); QTUNE_READAHEAD=$ra timeout 200 build/qtune eval /tmp/g46 --scheme W4A16 --backend cpu --ctx 128 --chunks 2 --data share/data/eval.txt >/tmp/ev.txt 2>&1; e=$(date +%s.%N)
             echo "eval W4A16 cold, QTUNE_READAHEAD=$ra: $(echo "$e - $s" | bc) s ($(tail -n 1 /tmp/ev.txt))"
         done ;;
    peakmem) echo "== calibrated GPTQ W4A16 of a GLM-4.5-Air-shaped checkpoint (${AIR_LAYERS:-4} layers): peak memory (issue 13 pt 1)"
         [ -f /tmp/air/config.json ] || { PYTHONUNBUFFERED=1 timeout 200 python3 scripts/dev/make_air_ckpt.py ${AIR_LAYERS:-4} /tmp/air >/tmp/air.log 2>&1; tail -2 /tmp/air.log; }
         cp share/models/tiny-glm-moe/tokenizer.json share/models/tiny-glm-moe/tokenizer_config.json /tmp/air/
         du -sh /tmp/air; free -g | head -2
         for be in ${PEAK_BACKENDS:-cuda}; do rm -rf /tmp/airq
             echo "-- --backend $be, --calib-samples ${PEAK_SAMPLES:-32} --calib-len 512"
             QTUNE_PROGRESS=lines timeout ${PEAK_TIMEOUT:-400} python3 scripts/dev/peak_mem.py build/qtune quantize /tmp/air -r scripts/dev/gptq-air.yaml --calib share/data/calib.txt \
                 --calib-samples ${PEAK_SAMPLES:-32} --calib-len 512 -o /tmp/airq --backend $be 2>&1 | tail -n 12
             python3 -c "import json; c=json.load(open('/tmp/airq/qtune-report.json'))['calibration']; print(json.dumps({k: c.get(k) for k in ('backend', 'gptq_batched', 'seconds', 'layer_seconds')}))"
         done ;;
    pipeab) echo "== calibrated GPTQ W4A16, ${AIR_LAYERS:-2}-layer Air checkpoint: Hessians on the GPU, then on the host (QTUNE_PIPE_HACC=0)"
         [ -f /tmp/air/config.json ] || { PYTHONUNBUFFERED=1 timeout 200 python3 scripts/dev/make_air_ckpt.py ${AIR_LAYERS:-2} /tmp/air >/tmp/air.log 2>&1; tail -2 /tmp/air.log; }
         cp share/models/tiny-glm-moe/tokenizer.json share/models/tiny-glm-moe/tokenizer_config.json /tmp/air/
         du -sh /tmp/air
         for hv in ${PIPE_HACC:-1 0}; do rm -rf /tmp/airq
             echo "-- QTUNE_PIPE_HACC=$hv --calib-samples ${PEAK_SAMPLES:-16} --calib-len 512"
             QTUNE_PIPE_HACC=$hv QTUNE_PROGRESS=lines timeout ${PEAK_TIMEOUT:-200} python3 scripts/dev/peak_mem.py build/qtune quantize /tmp/air -r scripts/dev/gptq-air.yaml --calib share/data/calib.txt \
                 --calib-samples ${PEAK_SAMPLES:-16} --calib-len 512 -o /tmp/airq --backend cuda 2>&1 | tail -n 6
             python3 -c "import json; c=json.load(open('/tmp/airq/qtune-report.json'))['calibration']; print(json.dumps({k: c.get(k) for k in ('backend', 'gptq_batched', 'hessians_on_device', 'observation_passes_max', 'seconds', 'layer_seconds', 'forward')}))"
         done ;;
    bigstream) echo "== a checkpoint larger than the GPU's free memory: ${BIG_LAYERS:-8}-layer Air checkpoint, ${BALLAST_GIB:-110} GiB held by another process"
         rm -rf /tmp/air /tmp/airq
         [ -f /tmp/big/config.json ] || { PYTHONUNBUFFERED=1 timeout 250 python3 scripts/dev/make_air_ckpt.py ${BIG_LAYERS:-8} /tmp/big >/tmp/big.log 2>&1; tail -2 /tmp/big.log; }
         cp share/models/tiny-glm-moe/tokenizer.json share/models/tiny-glm-moe/tokenizer_config.json /tmp/big/
         du -sh /tmp/big; df -h /tmp | tail -1; free -g | head -2
         rm -f /tmp/ballast.ok
         python3 -c "import torch, time, sys; x = torch.empty(int(sys.argv[1]) << 30, dtype=torch.uint8, device='cuda'); x.fill_(1); torch.cuda.synchronize(); open('/tmp/ballast.ok', 'w').write('1'); time.sleep(3000)" ${BALLAST_GIB:-110} &
         bp=$!
         for i in $(seq 1 120); do [ -f /tmp/ballast.ok ] && break; sleep 0.5; done
         nvidia-smi --query-gpu=memory.used,memory.free,memory.total --format=csv
         echo "-- eval W4A16 (round to nearest), 4 x 512 tokens"
         s=$(date +%s); timeout ${BIG_EVAL_TIMEOUT:-200} build/qtune eval /tmp/big --scheme W4A16 --backend cuda --ctx 512 --chunks 4 --data share/data/eval.txt --json >/tmp/bige.json 2>/tmp/bige.err; echo "rc $? in $(( $(date +%s) - s )) s"
         tail -n 3 /tmp/bige.err; python3 -c "import json; j=json.load(open('/tmp/bige.json')); print(json.dumps({k: j.get(k) for k in ('kld', 'backend', 'forward')}))"
         echo "-- quantize GPTQ W4A16, --calib-samples ${PEAK_SAMPLES:-16} --calib-len 512"
         QTUNE_PROGRESS=lines timeout ${BIG_TIMEOUT:-300} python3 scripts/dev/peak_mem.py build/qtune quantize /tmp/big -r scripts/dev/gptq-air.yaml --calib share/data/calib.txt \
             --calib-samples ${PEAK_SAMPLES:-16} --calib-len 512 -o /tmp/bigq --backend cuda 2>&1 | tail -n 14
         python3 -c "import json; c=json.load(open('/tmp/bigq/qtune-report.json'))['calibration']; print(json.dumps({k: c.get(k) for k in ('backend', 'gptq_batched', 'hessians_on_device', 'observation_passes_max', 'seconds', 'layer_seconds', 'forward')}))"
         du -sh /tmp/bigq; nvidia-smi --query-gpu=memory.used,memory.free --format=csv
         kill $bp ;;
    cpubench) echo "== bench preview cpu (16-core host)"; timeout 120 build/qtune bench preview --backend cpu --json
              echo "== bench quantize cpu"; timeout 120 build/qtune bench quantize --backend cpu --json ;;
    *) echo "== $step"; sh -c "$step" ;;
    esac
done
echo "== done"; date -u
