# qtune eval / sensitivity / preview --calib on the fixture, kept small
# (2 chunks of 128 tokens).  The reference figures are checked by
# tests/unit/test_eval.c; here: the interface, JSON fields, errors.
. tests/cli/lib.sh
D=share/data/eval.txt
S="--ctx 128 --chunks 2"

$Q eval $M --scheme W4A16 --data $D $S --json >"$T/w4.json" 2>"$T/err"
check eval_json_exit test $? = 0
for k in mean stderr median p90 p99 p999 max same_top_p ppl_base ppl_q ln_ppl_ratio rms_dp; do
    check "eval_json_$k" grep -q "\"$k\":" "$T/w4.json"
done
check eval_json_positions grep -q '"positions":[[:space:]]*256,' "$T/w4.json"
check eval_json_tensors grep -q '"tensors_quantized":[[:space:]]*172' "$T/w4.json"
check eval_base_cached sh -c "ls '${QTUNE_HOME:-$HOME/.local/state/qtune}'/cache/eval-base-*.bin >/dev/null"
$Q eval $M --scheme W4A16 --data $D $S --json >"$T/w4b.json" 2>&1
check eval_cached_same cmp -s "$T/w4.json" "$T/w4b.json"
$Q eval $M --scheme W4A16 --data $D $S --second-half --json >"$T/half.json"
check eval_second_half grep -q '"positions":[[:space:]]*126,' "$T/half.json"   # 2 x (128 - 1 - 64)
$Q eval $M --scheme int8-ch-sym+aint8-tok --data $D $S >"$T/w8a8.txt"
check eval_text_w8a8 grep -q '^KL  *mean' "$T/w8a8.txt"
check eval_text_ppl grep -q '^PPL  *base' "$T/w8a8.txt"

# a recipe that keeps the routed experts: 4*4 attention + 3 dense + 3*3 shared
cat >"$T/recipe.yaml" <<'Y'
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      targets: [Linear]
      ignore: [lm_head, 're:.*mlp\.gate$', 're:.*mlp\.experts\..*']
      scheme: W4A16
Y
$Q eval $M -r "$T/recipe.yaml" --data $D $S --json >"$T/r.json" 2>"$T/err"
check eval_recipe_exit test $? = 0
check eval_recipe_tensors grep -q '"tensors_quantized":[[:space:]]*28' "$T/r.json"

expect_err eval_no_data "usage" $Q eval $M --scheme W4A16
expect_err eval_both "usage" $Q eval $M --scheme W4A16 -r "$T/recipe.yaml" --data $D
expect_err eval_bad_scheme "qtune: " $Q eval $M --scheme int9-g7 --data $D $S
expect_err eval_static_act "need calibrated input scales: qtune quantize" $Q eval $M --scheme FP8 --data $D $S
expect_err eval_missing_data "nonexistent" $Q eval $M --scheme W4A16 --data "$T/nonexistent.txt" $S
expect_err eval_bad_ctx "ctx" $Q eval $M --scheme W4A16 --data $D --ctx 1
expect_err eval_short_text "fewer than one chunk" $Q eval $M --scheme W4A16 --data $D --ctx 10000000
expect_err eval_meta_model "weights" $Q eval share/models/meta/GLM-4.5-Air.config.json --scheme int8-ch-sym --data $D $S
check eval_help sh -c "$Q eval --help | grep -q usage"

# sensitivity
$Q sensitivity $M --scheme W4A16 --data $D $S --json >"$T/sens.json" 2>"$T/err"
check sens_exit test $? = 0
check sens_units test "$(grep -c '"rank":' "$T/sens.json")" = 11
check sens_sum grep -q '"sum_dkl":' "$T/sens.json"
check sens_all grep -q '"tensors_quantized":[[:space:]]*172' "$T/sens.json"
check sens_experts grep -q '"name":[[:space:]]*"model.layers.3.mlp.experts"' "$T/sens.json"
$Q sensitivity $M --scheme W8A16 --data $D $S --by layer >"$T/sens.txt"
check sens_by_layer test "$(grep -c 'model.layers.[0-3]  *layer' "$T/sens.txt")" = 4
check sens_text_sum grep -q '^sum of single-unit' "$T/sens.txt"
expect_err sens_bad_by "group or layer" $Q sensitivity $M --scheme W4A16 --data $D --by tensor
# eval and sensitivity read their shared options alike (cli_eval_opt): a
# missing value is said as such, not as an unknown option; one range a number
for c in eval sensitivity; do
    expect_err "${c}_ctx_missing" "qtune: $c: --ctx: missing value" $Q $c $M --scheme W4A16 --data $D --ctx
    expect_err "${c}_recipe_missing" "qtune: $c: -r: missing value" $Q $c $M --data $D -r
    expect_err "${c}_ctx_one" "qtune: $c: --ctx: expected an integer in 2\.\." $Q $c $M --scheme W4A16 --data $D --ctx 1
    expect_err "${c}_chunks_zero" "qtune: $c: --chunks: expected an integer in 1\.\." $Q $c $M --scheme W4A16 --data $D --chunks 0
done

# preview with calibration statistics
$Q preview $M --scheme W4A16 --calib share/data/calib.txt --filter 'layers\.1\.self_attn\.q_proj' --json >"$T/pc.json" 2>"$T/err"
check preview_calib_exit test $? = 0
check preview_calib_rel_out grep -q '"rel_out":' "$T/pc.json"
$Q preview $M --scheme W4A16 --filter 'layers\.1\.self_attn\.q_proj' --json >"$T/p.json"
check preview_no_calib_no_rel_out sh -c "! grep -q '\"rel_out\":' '$T/p.json'"
expect_err preview_calib_missing "qtune: preview: --calib" $Q preview $M --scheme W4A16 --calib "$T/none.txt"
check preview_calib_json grep -q '"linears":[[:space:]]*172' "$T/pc.json"
