# qtune quantize: a compressed-tensors checkpoint from the tiny model, read
# back by inspect; atomic output (existing OUT, --force, disk full); refused
# algorithms.
. tests/cli/lib.sh

R=recipes/tiny-w4a16.yaml
O=$T/w4
# the first run's recipe has comments inside, which recipe.yaml keeps
sed -e 's/^      scheme: W4A16$/      # int4 weights, group 128\n      scheme: W4A16  # the preset/' \
    -e 's/^quant_stage:$/quant_stage:  # one stage/' $R >"$T/commented.yaml"
echo '# end of the recipe' >>"$T/commented.yaml"
$Q quantize $M -r "$T/commented.yaml" -o $O >"$T/q.out" 2>"$T/q.err"
check quantize_exit test $? = 0
check quantize_says grep -q "^wrote $O: 172 modules quantized" "$T/q.out"
check quantize_config grep -q '"quant_method":[[:space:]]*"compressed-tensors"' "$O/config.json"
check quantize_format grep -q '"format":[[:space:]]*"pack-quantized"' "$O/config.json"
check quantize_status grep -q '"quantization_status":[[:space:]]*"compressed"' "$O/config.json"
check quantize_ignore_lm_head grep -q '"lm_head"' "$O/config.json"
check quantize_ignore_mtp grep -q '"model.layers.4.eh_proj"' "$O/config.json"
check quantize_keeps_arch grep -q '"model_type":[[:space:]]*"glm4_moe"' "$O/config.json"
check quantize_tokenizer cmp -s $M/tokenizer.json "$O/tokenizer.json"
check quantize_generation cmp -s $M/generation_config.json "$O/generation_config.json"
check quantize_recipe grep -q 'scheme: W4A16' "$O/recipe.yaml"
check quantize_recipe_comments sh -c "grep -qx '      # int4 weights, group 128' '$O/recipe.yaml' &&
    grep -qx '      scheme: W4A16  # the preset' '$O/recipe.yaml' && grep -qx 'quant_stage:  # one stage' '$O/recipe.yaml' &&
    tail -1 '$O/recipe.yaml' | grep -qx '# end of the recipe' && head -1 '$O/recipe.yaml' | grep -q '^# Tiny GLM-MoE'"
check quantize_report grep -q '"modules_quantized":[[:space:]]*172' "$O/qtune-report.json"
check quantize_report_version grep -q '"qtune_version"' "$O/qtune-report.json"
check quantize_no_partial sh -c "! ls -d $T/w4.partial-* 2>/dev/null"

# the portable kernels (QTUNE_SIMD) write the same bytes as the widest ones
QTUNE_SIMD=portable $Q quantize $M -r $R -o $T/simd-portable >/dev/null 2>&1
check quantize_portable_same_bytes cmp -s "$O/model.safetensors" "$T/simd-portable/model.safetensors"

# read back: every tensor (279, the MTP layer included), schemes shown
$Q inspect $O --json >"$T/i.json" 2>"$T/i.err"
check inspect_out_exit test $? = 0
check inspect_out_279 test "$(grep -c '"role":' "$T/i.json")" = 279
check inspect_out_schemes test "$(grep -c '"scheme":[[:space:]]*"int4-g128-sym"' "$T/i.json")" = 172
check inspect_out_format grep -q '"quantization":[[:space:]]*"pack-quantized"' "$T/i.json"
check inspect_out_mtp_kept sh -c "grep -A8 '\"model.layers.4.eh_proj.weight\"' '$T/i.json' | grep -q '\"dtype\":[[:space:]]*\"BF16\"'"
$Q inspect $O >"$T/i.txt"
check inspect_out_text grep -q 'quantized compressed-tensors pack-quantized' "$T/i.txt"

# an existing OUT is refused, replaced with --force
expect_err quantize_exists 'already exists' $Q quantize $M -r $R -o $O
$Q quantize $M -r $R -o $O --force >/dev/null 2>&1
check quantize_force test $? = 0
check quantize_force_clean sh -c "test \"\$(ls $T | grep -c '^w4')\" = 1"

# sharding with an index
$Q quantize $M -r $R -o $T/sh --max-shard-size 8MB >/dev/null 2>&1
check quantize_shards test -f $T/sh/model-00001-of-00004.safetensors
check quantize_index grep -q '"total_size"' $T/sh/model.safetensors.index.json
$Q inspect $T/sh --json >"$T/sh.json" 2>&1
check quantize_shards_read test "$(grep -c '"scheme":' "$T/sh.json")" = 172
expect_err quantize_bad_size 'not a size' $Q quantize $M -r $R -o $T/x --max-shard-size lots

# W8A8 -> int-quantized, FP8_DYNAMIC -> float-quantized
printf 'quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      targets: [Linear]\n      ignore: [lm_head]\n      scheme: %s\n' W8A8 >"$T/w8a8.yaml"
$Q quantize $M -r "$T/w8a8.yaml" -o $T/w8a8 >/dev/null 2>&1
check quantize_w8a8 grep -q '"format":[[:space:]]*"int-quantized"' $T/w8a8/config.json
printf 'quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      targets: [Linear]\n      ignore: [lm_head]\n      scheme: %s\n' FP8_DYNAMIC >"$T/fp8.yaml"
$Q quantize $M -r "$T/fp8.yaml" -o $T/fp8 --json >"$T/fp8.json" 2>&1
check quantize_fp8 grep -q '"format":[[:space:]]*"float-quantized"' $T/fp8/config.json
check quantize_json grep -q '"modules_quantized":[[:space:]]*229' "$T/fp8.json"

# disk full (a file size limit): fails, says why, leaves nothing behind
(ulimit -f 2000; exec $Q quantize $M -r $R -o $T/full) >"$T/full.out" 2>"$T/full.err"
rc=$?
check quantize_full_fails test "$rc" != 0 -a "$rc" -lt 128
check quantize_full_says grep -q 'File too large' "$T/full.err"
check quantize_full_no_out test ! -e $T/full
check quantize_full_no_partial sh -c "! ls -d $T/full.partial-* 2>/dev/null"

# calibrated algorithms need calibration text; those qtune does not run are
# refused, naming the modifier
printf 'quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      targets: [Linear]\n      ignore: [lm_head]\n      scheme: W4A16\n' >"$T/gptq.yaml"
expect_err quantize_gptq_needs_calib 'needs calibration text' $Q quantize $M -r "$T/gptq.yaml" -o $T/gptq
check quantize_gptq_needs_calib_no_out test ! -e $T/gptq
printf 'quant_stage:\n  quant_modifiers:\n    SmoothQuantModifier:\n      smoothing_strength: 0.8\n    QuantizationModifier:\n      targets: [Linear]\n      ignore: [lm_head]\n      scheme: W8A8\n' >"$T/sq.yaml"
expect_err quantize_smoothquant_needs_calib 'needs calibration text' $Q quantize $M -r "$T/sq.yaml" -o $T/sq
expect_err quantize_awq_needs_calib 'needs calibration text' $Q quantize $M -r recipes/glm-4.6-awq-w4a16.yaml -o $T/awq
# AutoRound resolves like a quantization modifier (229 modules, as
# compressed-tensors resolves it) and is refused by name when run
printf 'quant_stage:\n  quant_modifiers:\n    AutoRoundModifier:\n      targets: [Linear]\n      ignore: [lm_head]\n      scheme: W4A16\n      iters: 200\n' >"$T/ar.yaml"
$Q preview $M -r "$T/ar.yaml" >"$T/ar.out" 2>&1
check autoround_resolves grep -q '(229 tensors quantized)' "$T/ar.out"
check autoround_labelled grep -q 'AutoRound, previewed as RTN' "$T/ar.out"
expect_err quantize_refuses_autoround 'AutoRoundModifier: AutoRound is not implemented' $Q quantize $M -r "$T/ar.yaml" -o $T/ar
# the split AWQ form (transform + QuantizationModifier) is AWQ, not RTN
printf 'quant_stage:\n  quant_modifiers:\n    AWQModifier: {duo_scaling: true}\n    QuantizationModifier:\n      targets: [Linear]\n      ignore: [lm_head]\n      scheme: W4A16\n' >"$T/awq2.yaml"
$Q preview $M -r "$T/awq2.yaml" >"$T/awq2.out" 2>&1
check preview_split_awq_is_awq grep -q 'int4-g128-sym .*AWQ' "$T/awq2.out"
# a misspelled field is an error naming the nearest valid one
printf 'quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      targets: [Linear]\n      ignroe: [lm_head]\n      scheme: W4A16\n' >"$T/typo.yaml"
expect_err recipe_typo_named "unknown field 'ignroe' of QuantizationModifier (did you mean 'ignore'?)" $Q preview $M -r "$T/typo.yaml"
printf 'quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      targets: [Linear]\n      ignore: [lm_head]\n      scheme: NVFP4A16\n' >"$T/fp4.yaml"
expect_err quantize_refuses_fp4 'not implemented' $Q quantize $M -r "$T/fp4.yaml" -o $T/fp4
check quantize_refuses_fp4_no_partial sh -c "! ls -d $T/fp4 $T/fp4.partial-* 2>/dev/null"
expect_err quantize_usage 'usage' $Q quantize $M -r $R
check quantize_help sh -c "$Q quantize --help | grep -q usage"

# the checkpoint evaluates exactly as the recipe does (same dequantized
# weights, same activation fake-quant): identical figures
EV="--data share/data/eval.txt --chunks 2 --ctx 64 --json"
$Q eval $M -r $R $EV >"$T/ev_r.json" 2>"$T/ev_r.err"
$Q eval $M --quantized $O $EV >"$T/ev_q.json" 2>"$T/ev_q.err"
check eval_quantized_exit test $? = 0
check eval_quantized_172 grep -q '"tensors_quantized":[[:space:]]*172' "$T/ev_q.json"
check eval_quantized_identical cmp -s "$T/ev_r.json" "$T/ev_q.json"
$Q eval $M -r "$T/w8a8.yaml" $EV >"$T/ev8_r.json" 2>&1
$Q eval $M --quantized $T/w8a8 $EV >"$T/ev8_q.json" 2>&1
check eval_quantized_w8a8_identical cmp -s "$T/ev8_r.json" "$T/ev8_q.json"
expect_err eval_quantized_not_ct 'not a compressed-tensors checkpoint' $Q eval $M --quantized $M $EV
$Q quantize $M -r $R -o $T/new/sub/out >/dev/null 2>&1
check quantize_mkdir_parents test -f $T/new/sub/out/config.json

# a recipe with lint errors (int3: vLLM's WNA16 kernels serve 4 and 8 bits;
# an asymmetric expert group) is refused before anything is written, unless
# --allow-lint-errors; --tp is the lint's too
cat >"$T/int3.yaml" <<'YAML'
QuantizationModifier:
  targets: [Linear]
  ignore: [lm_head, 're:.*mlp\.gate$', 're:model\.layers\.4\.']
  scheme: W3A16
YAML
expect_err quantize_lint_refused "int3.yaml: 1 lint error, first QT011 .*serve 4 and 8 bits only.*--allow-lint-errors" \
    $Q quantize $M -r "$T/int3.yaml" -o "$T/int3"
check quantize_lint_nothing_written test ! -e "$T/int3"
check quantize_lint_one_line test "$(wc -l <"$T/err")" = 1
$Q quantize $M -r "$T/int3.yaml" -o "$T/int3" --allow-lint-errors >/dev/null 2>&1
check quantize_allow_lint_errors test -f "$T/int3/config.json"
expect_err quantize_lint_tp "first QT006" $Q quantize $M -r $R -o "$T/tp2" --tp 2

# a partial last group (K = 256, group 96: 96 + 96 + 64) is quantized as
# compressed-tensors does, scales [N, ceil(K/g)]; lint says vLLM refuses it;
# preview, eval and the checkpoint agree on what is quantized and on the KL
cat >"$T/g96.yaml" <<'YAML'
QuantizationModifier:
  ignore: [lm_head]
  config_groups:
    g: {targets: [Linear], weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 96}}
YAML
$Q lint $M -r "$T/g96.yaml" >"$T/g96.lint"
check partial_group_lint grep -q "^QT006 error .*not divisible by group size 96.*vLLM's kernels need K divisible by the group" "$T/g96.lint"
$Q preview $M -r "$T/g96.yaml" >"$T/g96.pv"
check partial_group_preview grep -q '^model.layers.0.self_attn.o_proj.weight  *int4-g96-sym ' "$T/g96.pv"
$Q quantize $M -r "$T/g96.yaml" -o "$T/g96" --allow-lint-errors >"$T/g96.out" 2>&1
check partial_group_quantize test $? = 0
check partial_group_scale_shape sh -c "head -c 200000 '$T/g96/model.safetensors' | grep -aq '\"model.layers.0.self_attn.o_proj.weight_scale\":{\"dtype\":\"BF16\",\"shape\":\\[256,3\\]'"
$Q eval $M --scheme int4-g96-sym --data share/data/eval.txt --ctx 64 --chunks 2 --json >"$T/g96.e1" 2>"$T/g96.e1err"
check partial_group_eval test $? = 0
$Q eval $M --quantized "$T/g96" --data share/data/eval.txt --ctx 64 --chunks 2 --json >"$T/g96.e2" 2>&1
kl() { sed -n 's/.*"mean":[[:space:]]*\([0-9.e+-]*\).*/\1/p' "$1" | head -n 1; }
check partial_group_eval_agrees sh -c "test -n \"$(kl "$T/g96.e1")\" && test \"$(kl "$T/g96.e1")\" = \"$(kl "$T/g96.e2")\""
check partial_group_eval_count grep -q '"tensors_quantized":[[:space:]]*172' "$T/g96.e1"
