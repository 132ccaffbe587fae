# Recipes: every recipe in recipes/ loads and lints clean on the model it was
# written for; broken YAML and regexes give one "qtune: file:line:col: why"
# line and a non-zero exit.
. tests/cli/lib.sh
G=share/models/meta

# recipe -> model it targets
for pair in tiny-w4a16:$M tiny-w8a16:$M glm-4.6-awq-w4a16:$G/GLM-4.6.config.json \
            glm-4.5-air-sq-gptq-w8a8-2of4:$G/GLM-4.5-Air.config.json \
            glm-5-w8a16:$G/GLM-5.config.json glm-5-gptq-w4a16:$G/GLM-5.config.json \
            glm-4.x-fp8-dynamic:$G/GLM-4.7.config.json; do
    r=${pair%%:*}; mdl=${pair#*:}
    check "recipe_has_source_comment_$r" grep -q '^# ' recipes/$r.yaml
    $Q lint "$mdl" -r recipes/$r.yaml >"$T/$r.txt" 2>&1
    case $r in
    *2of4) # SparseGPT 2:4: the one warning says vLLM gains no speed from it
        check "recipe_lints_clean_$r" grep -q '^0 errors, 1 warning$' "$T/$r.txt"
        check "recipe_sparse_warns_$r" grep -q '^QT017 warning SparseGPT prunes .* to 2:4: vLLM has no sparse kernels' "$T/$r.txt";;
    *) check "recipe_lints_clean_$r" grep -q '^0 errors, 0 warnings$' "$T/$r.txt";;
    esac
done

# the GLM-4.6 AWQ recipe keeps what the published checkpoint keeps
$Q lint $G/GLM-4.6.config.json -r recipes/glm-4.6-awq-w4a16.yaml --json >"$T/g46.json"
check recipe_glm46_no_findings grep -q '"findings":[[:space:]]*\[\]' "$T/g46.json"

# broken YAML: file, line and column
printf 'quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n      targets: [Linear\n      scheme: W4A16\n' >"$T/bad.yaml"
expect_err recipe_yaml_error_position "qtune: $T/bad.yaml:5:13: " $Q lint $M -r "$T/bad.yaml"
printf 'QuantizationModifier:\n  targets: [Linear]\n  scheme: W4A16\n  ignore: [lm_head, "re:model.(layers"]\n' >"$T/re.yaml"
expect_err recipe_regex_error "re.yaml:4:21: pattern 're:model.(layers': missing closing parenthesis at offset 6" \
    $Q lint $M -r "$T/re.yaml"
printf 'QuantizationModifier:\n  scheme: W5A5\n' >"$T/preset.yaml"
expect_err recipe_unknown_preset "preset.yaml:2:11: scheme W5A5: unknown" $Q lint $M -r "$T/preset.yaml"
expect_err recipe_missing_file "qtune: $T/none.yaml: No such file" $Q lint $M -r "$T/none.yaml"
printf -- '- GPTQModifier: 3\n' >"$T/args.yaml"
expect_err recipe_args_not_map "args.yaml:1:17: arguments of a modifier must be a mapping" $Q lint $M -r "$T/args.yaml"
check recipe_err_one_line test "$(wc -l <"$T/err")" = 1

# llm-compressor's other layouts: a bare list and a single modifier
cat >"$T/list.yaml" <<'YAML'
- QuantizationModifier: {targets: [Linear], scheme: W8A16, ignore: [lm_head, 're:model\.layers\.4\.']}
YAML
$Q lint $M -r "$T/list.yaml" >"$T/list.txt"
check recipe_list_layout grep -q '^0 errors, 0 warnings$' "$T/list.txt"
cat >"$T/one.yaml" <<'YAML'
GPTQModifier:
  scheme: W8A16
  ignore: [lm_head, 're:model\.layers\.4\.']
YAML
$Q lint $M -r "$T/one.yaml" >"$T/one.txt"
check recipe_single_modifier grep -q '^0 errors, 0 warnings$' "$T/one.txt"

# qtune preview -r: every tensor resolved through the recipe
$Q preview $M -r recipes/tiny-w4a16.yaml --json >"$T/pv.json"
check preview_recipe_exit0 test $? = 0
check preview_recipe_172 grep -q '"quantized":[[:space:]]*172,' "$T/pv.json"
check preview_recipe_int4 test "$(grep -c '"scheme":[[:space:]]*"int4-g128-sym"' "$T/pv.json")" = 172
check preview_recipe_mtp_kept sh -c "tr -d '\n\t ' <'$T/pv.json' | grep -q '\"name\":\"model.layers.4.eh_proj.weight\",\"role\":\"mtp_eh_proj\",\"scheme\":\"bf16\"'"
check preview_recipe_rtn grep -q '"preview_algo":[[:space:]]*"RTN"' "$T/pv.json"
cat >"$T/gptq.yaml" <<'YAML'
GPTQModifier:
  scheme: W4A16
  ignore: [lm_head, 're:model\.layers\.4\.']
YAML
$Q preview $M -r "$T/gptq.yaml" --json >"$T/gptq.json"
check preview_gptq_labelled sh -c "tr -d '\n\t ' <'$T/gptq.json' | grep -q '\"algo\":\"GPTQ\",\"preview_algo\":\"RTN\"'"
$Q preview $M -r "$T/gptq.yaml" >"$T/gptq.txt"
check preview_gptq_text grep -q 'q_proj.weight .*GPTQ, previewed as RTN$' "$T/gptq.txt"
# same figures as --scheme for the same tensors
$Q preview $M --scheme W4A16 --filter 'layers\.2\.self_attn\.q_proj' --json >"$T/s.json"
$Q preview $M -r recipes/tiny-w4a16.yaml --filter 'layers\.2\.self_attn\.q_proj' --json >"$T/r.json"
check preview_recipe_same_error test "$(grep '"rel_rmse"' "$T/s.json" | head -1)" = "$(grep '"rel_rmse"' "$T/r.json" | head -1)"
expect_err preview_recipe_and_scheme "usage" $Q preview $M -r recipes/tiny-w4a16.yaml --scheme W4A16
expect_err preview_recipe_bad "qtune: $T/bad.yaml:5:13:" $Q preview $M -r "$T/bad.yaml"
