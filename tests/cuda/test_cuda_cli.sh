# The CUDA backend through the command line: selection and its errors, the
# backend named by inspect and bench, and eval / preview figures equal to
# the CPU backend's (KL to 4 significant digits, per-tensor error to 6).
. tests/cli/lib.sh
D=share/data/eval.txt
S="--ctx 256 --chunks 4"
if ! $Q inspect $M --backend cuda >"$T/insp" 2>"$T/err"; then
    echo "SKIP cuda cli: $(cat "$T/err")"
    exit 0
fi
check cuda_inspect_names_device grep -q '^backend   cuda: ' "$T/insp"
$Q inspect $M --backend cuda --json >"$T/insp.json"
check cuda_inspect_json grep -q '"backend":[[:space:]]*"cuda"' "$T/insp.json"
expect_err cuda_no_device 'CUDA: no device' env CUDA_VISIBLE_DEVICES= $Q inspect $M --backend cuda
check cuda_no_device_auto_cpu sh -c "CUDA_VISIBLE_DEVICES= $Q inspect $M | grep -q '^backend   cpu: '"
expect_err cuda_bad_backend 'unknown backend' $Q inspect $M --backend tpu

# sig4 FILE KEY: the value of "KEY": in FILE to 4 significant digits
sig() { sed -n "s/.*\"$2\":[[:space:]]*\([-0-9.eE+]*\).*/\1/p" "$1" | head -n 1 | awk -v d="$3" '{ printf "%.*g\n", d, $1 }'; }
# W4A16 to 4 significant digits.  FP8_DYNAMIC's dynamic activation rounding
# turns last-bit differences of the GEMMs into whole rounding steps (the CPU
# alone, with the last bit of 1/16 of its weights flipped, moves the mean KL
# by 1.9% and p99 by 4%: docs/cuda-notes.md), so its figures are compared
# within 5% (p99 and max, single positions' tails, within 30%: p99 came
# 0.1039 on the CPU and 0.08014 on the GPU in a run of 2026-12-04 under the
# f32 arithmetic, where the mean stayed within 4%).
for sc in W4A16 FP8_DYNAMIC; do
    QTUNE_HOME="$T/h-cpu-$sc" $Q eval $M --scheme $sc --data $D $S --json --backend cpu >"$T/cpu-$sc.json" 2>"$T/e1"
    QTUNE_HOME="$T/h-gpu-$sc" $Q eval $M --scheme $sc --data $D $S --json --backend cuda >"$T/gpu-$sc.json" 2>"$T/e2"
    for k in mean median p99 max same_top_p ppl_base ppl_q; do
        a=$(sig "$T/cpu-$sc.json" $k 4); b=$(sig "$T/gpu-$sc.json" $k 4)
        echo "  eval $sc $k cpu $a cuda $b"
        if [ $sc = W4A16 ] || [ $k = ppl_base ]; then
            check "cuda_eval_${sc}_$k" test -n "$a" -a "$a" = "$b"
        else
            tol=0.05; case $k in p99|max) tol=0.3 ;; esac
            check "cuda_eval_${sc}_$k" awk -v a="$a" -v b="$b" -v t=$tol 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= t * (a < 0 ? -a : a)) }'
        fi
    done
done
for sc in int4-g128-asym fp8-b128 nvfp4; do
    $Q preview $M --scheme $sc --json --backend cpu >"$T/pc.json" 2>&1
    $Q preview $M --scheme $sc --json --backend cuda >"$T/pg.json" 2>&1
    grep '"rel_rmse"' "$T/pc.json" | awk '{ printf "%.6g\n", $2 }' >"$T/pc.txt"
    grep '"rel_rmse"' "$T/pg.json" | awk '{ printf "%.6g\n", $2 }' >"$T/pg.txt"
    check "cuda_preview_${sc}_rows" test "$(wc -l <"$T/pc.txt")" -gt 100
    check "cuda_preview_${sc}_equal" cmp -s "$T/pc.txt" "$T/pg.txt"
done

# GPTQ W4A16 through the calibrated pipeline on the GPU: the backend's
# batched float32 GPTQ takes every GPTQ tensor (the report counts them),
# and the checkpoint's KL on eval.txt holds llm-compressor's goal (≤ 0.0395,
# 1.05x its 0.0376) and lies within 5% of the CPU reference's (GPTQ is not
# bit-reproducible across float32 and double: llm-compressor's own CPU and
# GPU runs differ by 1.6%).
printf 'quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      targets: [Linear]\n      ignore: [lm_head, '"'"'re:.*mlp\\.gate$'"'"']\n      scheme: W4A16\n' >"$T/g4.yaml"
for be in cuda cpu; do
    $Q quantize $M -r "$T/g4.yaml" -o "$T/g4-$be" --calib share/data/calib.txt --backend $be >"$T/g4-$be.out" 2>"$T/g4-$be.err"
    check "cuda_gptq_pipeline_${be}_exit" test $? = 0
    $Q eval $M --quantized "$T/g4-$be" --data $D --json --backend $be >"$T/g4-$be.json" 2>>"$T/g4-$be.err"
done
tail -n 3 "$T/g4-cuda.err"
kc=$(kl "$T/g4-cuda.json"); kp=$(kl "$T/g4-cpu.json")
# every module the pipeline calibrates (the MTP layer's are rounded to nearest outside it)
n=$(python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['calibration']; print(c.get('gptq_batched',{}).get('tensors',0), sum(m['algorithm'] == 'GPTQ' for m in c['modules']))" "$T/g4-cuda/qtune-report.json" 2>/dev/null)
echo "  gptq pipeline: KL cuda $kc cpu $kp, batched tensors / GPTQ modules: $n"
check cuda_gptq_pipeline_batched sh -c "set -- $n; test \"\${1:-0}\" -gt 100 -a \"\$1\" = \"\$2\""
check cuda_gptq_pipeline_kl_goal awk -v a="$kc" 'BEGIN { exit !(a != "" && a + 0 <= 0.0395) }'
check cuda_gptq_pipeline_kl_near_cpu awk -v a="$kc" -v b="$kp" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= 0.05 * b) }'
# The Hessians were summed on the GPU (every calibrated Linear's, one pass a
# layer); the earlier host path (QTUNE_PIPE_HACC=0: rows back to the CPU,
# summed there) reaches the same goal, within float32 summation order of it.
hd=$(sed -n 's/.*"hessians_on_device":[[:space:]]*\([0-9]*\).*/\1/p' "$T/g4-cuda/qtune-report.json")
check cuda_gptq_pipeline_hessians_on_device test "${hd:-0}" -gt 50
QTUNE_PIPE_HACC=0 $Q quantize $M -r "$T/g4.yaml" -o "$T/g4-host" --calib share/data/calib.txt --backend cuda >"$T/g4-host.out" 2>"$T/g4-host.err"
check cuda_gptq_pipeline_host_hessians_exit test $? = 0
$Q eval $M --quantized "$T/g4-host" --data $D --json --backend cuda >"$T/g4-host.json" 2>>"$T/g4-host.err"
kh=$(kl "$T/g4-host.json")
echo "  gptq pipeline, Hessians on the host: KL $kh (on the device: $kc)"
check cuda_gptq_pipeline_host_hessians_none sh -c "! grep -q hessians_on_device '$T/g4-host/qtune-report.json'"
check cuda_gptq_pipeline_host_hessians_near awk -v a="$kc" -v b="$kh" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= 0.02 * b) }'
