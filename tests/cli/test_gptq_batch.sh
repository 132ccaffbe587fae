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

# Device mode (the Hessians summed where the batched GPTQ runs, only their
# diagonals brought back; on the CPU, QTUNE_PIPE_HACC=1 keeps them in the
# reference's host accumulators through the same plumbing): through the
# batches, through quantize_one's read-back, and in many observation passes
# (a 1 MiB budget) — every checkpoint byte-identical to the host path's,
# and the report's figures the same.
# the per-module figures (out_err, rtn_out_err, tokens, ...): the report
# from its modules on (the timings come before them)
strip_report() { sed -n '/"modules"/,$p' "$1" | grep -v '"seconds"'; }
for r in group sq; do
    strip_report "$T/$r-a/qtune-report.json" >"$T/$r-a.rep"
    for v in "c:QTUNE_GPTQ_BATCH=ref" "d:QTUNE_GPTQ_BATCH=0" "e:QTUNE_GPTQ_BATCH=ref QTUNE_PIPE_HESS_MB=1"; do
        k=${v%%:*}
        env QTUNE_PIPE_HACC=1 ${v#*:} $Q quantize $M -r "$T/$r.yaml" -o "$T/$r-$k" --calib $C --calib-samples 8 >"$T/$r-$k.out" 2>&1
        check "gptq_batch_${r}_devmode_${k}_runs" test $? = 0
        check "gptq_batch_${r}_devmode_${k}_same_bytes" cmp -s "$T/$r-a/model.safetensors" "$T/$r-$k/model.safetensors"
        strip_report "$T/$r-$k/qtune-report.json" >"$T/$r-$k.rep"
        check "gptq_batch_${r}_devmode_${k}_same_report" cmp -s "$T/$r-a.rep" "$T/$r-$k.rep"
    done
    passes=$(sed -n 's/.*"observation_passes_max":[[:space:]]*\([0-9]*\).*/\1/p' "$T/$r-e/qtune-report.json")
    check "gptq_batch_${r}_devmode_many_passes" test "${passes:-0}" -gt 4
done
