# qtune preview: the fixture under one scheme, JSON and text, --filter,
# presets, and bad input.
. tests/cli/lib.sh

$Q preview $M --scheme int4-g128-sym --json >"$T/p.json" 2>"$T/err"
check preview_json_exit test $? = 0
# 279 tensors listed: 228 quantized (172 in layers 0-3, 56 in the MTP layer), the rest kept
check preview_json_279 test "$(grep -c '"name":' "$T/p.json")" = 279
check preview_json_228_quantized test "$(grep -c '"quantized":[[:space:]]*true' "$T/p.json")" = 228
n03=$(grep -A2 '"name":[[:space:]]*"model.layers.[0-3]\.' "$T/p.json" | grep -c '"scheme":[[:space:]]*"int4-g128-sym"')
check preview_json_172_in_layers_0_3 test "$n03" = 172
check preview_shared_head_kept sh -c "grep -A2 '\"model.layers.4.shared_head.head.weight\"' '$T/p.json' | grep -q '\"scheme\":[[:space:]]*\"bf16\"'"
check preview_lm_head_kept sh -c "grep -A2 '\"lm_head.weight\"' '$T/p.json' | grep -q '\"scheme\":[[:space:]]*\"bf16\"'"
check preview_router_kept sh -c "grep -A2 '\"model.layers.1.mlp.gate.weight\"' '$T/p.json' | grep -q '\"scheme\":[[:space:]]*\"bf16\"'"
check preview_eh_proj_quantized sh -c "grep -A2 '\"model.layers.4.eh_proj.weight\"' '$T/p.json' | grep -q '\"scheme\":[[:space:]]*\"int4-g128-sym\"'"
check preview_json_fields sh -c "grep -q '\"rel_rmse\":' '$T/p.json' && grep -q '\"sqnr_db\":' '$T/p.json' && grep -q '\"max_abs\":' '$T/p.json' && grep -q '\"bytes\":' '$T/p.json'"
check preview_json_total sh -c "grep -q '\"total\":' '$T/p.json' && grep -q '\"bpw\":[[:space:]]*4\.12' '$T/p.json'"
check preview_json_preset grep -q '"preset":[[:space:]]*"W4A16"' "$T/p.json"

# presets name the same scheme
$Q preview $M --scheme W4A16 --json >"$T/w4.json"
check preview_preset_same cmp -s "$T/p.json" "$T/w4.json"

# --filter: a PCRE2 search in the name
$Q preview $M --scheme fp8-ch --filter 'layers\.2\..*experts\.(3|11)\.' --json >"$T/f.json"
check preview_filter_count test "$(grep -c '"name":' "$T/f.json")" = 6
check preview_filter_quantized test "$(grep -c '"quantized":[[:space:]]*true' "$T/f.json")" = 6

# text form: a table and a total line
$Q preview $M --scheme nvfp4 --filter 'layers\.0\.' >"$T/t.txt"
check preview_text_header grep -q '^tensor .*rel_rmse' "$T/t.txt"
check preview_text_row grep -q '^model.layers.0.mlp.down_proj.weight  *nvfp4 ' "$T/t.txt"
check preview_text_total grep -q '^total   7 tensors quantized' "$T/t.txt"

# every scheme family runs on the fixture
for s in int8-ch-sym int4-g32-asym int8-t-sym fp8-t fp8-b128 mxfp4 FP8_DYNAMIC W8A8; do
    check "preview_runs_$s" sh -c "$Q preview $M --scheme $s --json >/dev/null"
done

# bad input
expect_err preview_bad_scheme 'qtune: preview: scheme int5-g7: unknown (accepted: int{2..8}' $Q preview $M --scheme int5-g7
expect_err preview_bad_regex 'qtune: preview: --filter (: ' $Q preview $M --scheme int4-g128-sym --filter '('
expect_err preview_no_scheme 'usage: qtune preview' $Q preview $M
expect_err preview_no_model 'qtune: ' $Q preview "$T/nope" --scheme int4-g128-sym
# a config-only model: sizes and bpw, no error figures
$Q preview share/models/meta/GLM-4.5-Air.config.json --scheme int4-g128-sym --json >"$T/air.json"
check preview_meta_exit test $? = 0
check preview_meta_null_rmse grep -q '"rel_rmse":[[:space:]]*null' "$T/air.json"
check preview_meta_bpw grep -q '"bpw":[[:space:]]*4\.1' "$T/air.json"
check preview_help sh -c "$Q preview --help | grep -q 'usage: qtune preview'"

# Issue 12's defects: preview counts what `qtune quantize` writes and
# quantizes what the recipe resolves to.
# W4A8 / W4AFP8: int weights with activations are int-quantized (one int8 a
# weight), not packed: the preview's bytes equal the report's bytes_written.
for sc in W4A8 W4AFP8; do
    printf 'QuantizationModifier:\n  targets: Linear\n  scheme: %s\n  ignore: [lm_head]\n' "$sc" >"$T/$sc.yaml"
    $Q quantize $M -r "$T/$sc.yaml" -o "$T/$sc.out" --allow-lint-errors >/dev/null 2>&1
    $Q preview $M -r "$T/$sc.yaml" --json >"$T/$sc.json"
    pv=$(awk '/"quantized":[[:space:]]*true/ {q=1} /"quantized":[[:space:]]*false/ {q=0}
              /"bytes":/ && q {gsub(/[^0-9]/, "", $2); s += $2; q=0} END {print s+0}' "$T/$sc.json")
    wr=$(awk '/"module":/ {q=1} /"bytes_written":/ && q {gsub(/[^0-9]/, "", $2); s += $2; q=0} END {print s+0}' \
         "$T/$sc.out/qtune-report.json")
    check "preview_bytes_equal_written_$sc" test "$pv" -gt 0 -a "$pv" = "$wr"
done
# targets: Linear without ignore quantizes lm_head and the MTP shared head,
# as lint, deploy and the writer do: 230, as the header says
printf 'QuantizationModifier:\n  targets: Linear\n  scheme: W4A16\n' >"$T/lin.yaml"
$Q preview $M -r "$T/lin.yaml" --json >"$T/lin.json"
check preview_recipe_linear_230 test "$(grep -c '"quantized":[[:space:]]*true' "$T/lin.json")" = 230
check preview_recipe_lm_head sh -c "grep -A2 '\"lm_head.weight\"' '$T/lin.json' | grep -q '\"scheme\":[[:space:]]*\"int4-g128-sym\"'"
$Q preview $M -r "$T/lin.yaml" --filter 'lm_head' >"$T/lin.txt"
check preview_recipe_header_is_total grep -q '(230 tensors quantized)' "$T/lin.txt"
# the router is never quantized, whatever names it (GLM-4.6: 43,479 modules
# as compressed-tensors, not 43,569); lint still says the recipe names it
printf "QuantizationModifier:\n  targets: ['re:.*mlp\\\\..*']\n  scheme: W4A16\n" >"$T/mlp.yaml"
$Q preview share/models/meta/GLM-4.6.config.json -r "$T/mlp.yaml" --filter 'layers\.3\.mlp\.gate\.' >"$T/mlp.txt"
check preview_router_glm46_43479 grep -q '(43479 tensors quantized)' "$T/mlp.txt"
check preview_router_glm46_kept grep -q '^model.layers.3.mlp.gate.weight .* kept' "$T/mlp.txt"
$Q lint share/models/meta/GLM-4.6.config.json -r "$T/mlp.yaml" >"$T/mlp.lint" 2>&1
check lint_router_named grep -q '^QT004 ' "$T/mlp.lint"
