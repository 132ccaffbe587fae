# qtune lint: exit status, text and JSON findings, --tp.
. tests/cli/lib.sh
G=share/models/meta

$Q lint $M -r recipes/tiny-w4a16.yaml >"$T/ok.txt"
check lint_clean_exit0 test $? = 0
check lint_clean_summary grep -q '^0 errors, 0 warnings$' "$T/ok.txt"

# TP 2 splits the experts' down_proj (128 columns) into 64 < group 128
$Q lint $M -r recipes/tiny-w4a16.yaml --tp 2 >"$T/tp2.txt"
check lint_error_exit1 test $? = 1
check lint_qt006_text grep -q '^QT006 error .*do not split over --tp 2' "$T/tp2.txt"
check lint_tensor_list grep -q '^        model.layers.1.mlp.experts.0.down_proj.weight$' "$T/tp2.txt"
$Q lint $M -r recipes/tiny-w4a16.yaml --tp 2 --json >"$T/tp2.json"
check lint_json_exit1 test $? = 1
check lint_json_code grep -q '"code":[[:space:]]*"QT006"' "$T/tp2.json"
check lint_json_severity grep -q '"severity":[[:space:]]*"error"' "$T/tp2.json"
# QT006 names the 48 expert and 3 shared-expert down projections; QT014 the
# 3 shared ones again (64 input columns per GPU: Marlin needs 128)
check lint_json_tensors test "$(grep -o '"model.layers.[1-3].mlp[a-z_.0-9]*down_proj.weight"' "$T/tp2.json" | wc -l)" = 54
# live match counts per pattern
$Q lint $M -r recipes/tiny-w4a16.yaml --json >"$T/ok.json"
check lint_json_quantized grep -q '"tensors_quantized":[[:space:]]*172' "$T/ok.json"
check lint_json_pattern_lm_head sh -c "tr -d '\n\t ' <'$T/ok.json' | grep -q '\"pattern\":\"lm_head\",\"kind\":\"ignore\",\"modifier\":\"QuantizationModifier\",\"matches\":1'"
# per channel is fine at TP 2
cat >"$T/w8a8.yaml" <<'YAML'
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      targets: [Linear]
      scheme: W8A8
      ignore: [lm_head]
YAML
$Q lint $M -r "$T/w8a8.yaml" --tp 2 >"$T/w8a8.txt"
check lint_w8a8_tp2_exit0 test $? = 0

# warnings alone exit 0: lm_head quantized, a pattern matching nothing, an
# unanchored pattern (the router it would catch is ignored)
cat >"$T/warn.yaml" <<'YAML'
QuantizationModifier:
  config_groups:
    g: {targets: [Linear, 're:.*mlp.gate'], weights: {num_bits: 8, type: int, strategy: channel}}
  ignore: [model.layers.9.mlp, 're:.*mlp\.gate$']
YAML
$Q lint $M -r "$T/warn.yaml" >"$T/warn.txt"
check lint_warnings_exit0 test $? = 0
check lint_qt003 grep -q "^QT003 warning target 're:.\*mlp.gate' matches" "$T/warn.txt"
# the router quantized: vLLM builds the gate unquantized and refuses it
sed 's/, .re:\.\*mlp\\\.gate\$.\]/]/' "$T/warn.yaml" >"$T/router.yaml"
$Q lint $M -r "$T/router.yaml" >"$T/router.txt"
check lint_router_exit1 test $? = 1
check lint_qt004 grep -q '^QT004 error   router quantized in 4 layer' "$T/router.txt"
check lint_qt008 grep -q "^QT008 warning ignore 'model.layers.9.mlp'" "$T/warn.txt"
check lint_qt009 grep -q '^QT009 warning lm_head' "$T/warn.txt"
check lint_codes_sorted sh -c "grep -o '^QT0[0-9][0-9]' '$T/warn.txt' | sort -c"

# the layers 10-19 trap on GLM-4.6
cat >"$T/trap.yaml" <<'YAML'
QuantizationModifier:
  targets: ['re:model.layers.1.*']
  scheme: W8A16
YAML
$Q lint $G/GLM-4.6.config.json -r "$T/trap.yaml" >"$T/trap.txt"
check lint_qt003_layers grep -q "also matches layers 10..19" "$T/trap.txt"

expect_err lint_needs_recipe "usage" $Q lint $M
expect_err lint_bad_tp "--tp: expected an integer" $Q lint $M -r recipes/tiny-w4a16.yaml --tp zero
expect_err lint_bad_model "qtune: $T/nomodel" $Q lint "$T/nomodel" -r recipes/tiny-w4a16.yaml
check lint_help sh -c "$Q lint --help | grep -q usage"
