# The calibrated pipeline's GPTQ batches (what a backend with a batched GPTQ
# entry receives: a pass's Hessians grouped with the weight sets that read
# them, every routed expert's gate/up at once) run here through the CPU
# reference matrix by matrix (QTUNE_GPTQ_BATCH=ref): the checkpoint must be
# byte-identical to the unbatched run, so the grouping, the processing
# order, weight_g_idx (actorder group), the smoothed weights' RTN figures
# and the spill are checked without a GPU.  The GPU's own arithmetic is
# tests/unit/test_cuda.c's cuda_gptq_batch and tests/cuda (make test-cuda).
. tests/cli/lib.sh
C=share/data/calib.txt
ign="      ignore: [lm_head, 're:.*mlp\\\\.gate\$']\n"
printf "quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      targets: [Linear]\n$ign      scheme: W4A16\n" >"$T/static.yaml"
printf "quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      targets: [Linear]\n$ign      actorder: group\n      scheme: W4A16\n" >"$T/group.yaml"
printf "quant_stage:\n  quant_modifiers:\n    SmoothQuantModifier:\n      smoothing_strength: 0.8\n    GPTQModifier:\n      targets: [Linear]\n$ign      scheme: W8A8\n" >"$T/sq.yaml"
for r in static group sq; do
    $Q quantize $M -r "$T/$r.yaml" -o "$T/$r-a" --calib $C --calib-samples 8 >"$T/$r-a.out" 2>&1
    check "gptq_batch_${r}_plain" test $? = 0
    QTUNE_GPTQ_BATCH=ref $Q quantize $M -r "$T/$r.yaml" -o "$T/$r-b" --calib $C --calib-samples 8 >"$T/$r-b.out" 2>&1
    check "gptq_batch_${r}_batched" test $? = 0
    check "gptq_batch_${r}_same_bytes" cmp -s "$T/$r-a/model.safetensors" "$T/$r-b/model.safetensors"
    check "gptq_batch_${r}_counted" grep -q '"gptq_batched"' "$T/$r-b/qtune-report.json"
    check "gptq_batch_${r}_unbatched_not_counted" sh -c "! grep -q '\"gptq_batched\"' '$T/$r-a/qtune-report.json'"
done
check gptq_batch_group_has_g_idx sh -c "grep -q weight_g_idx '$T/group-b/model.safetensors'"
