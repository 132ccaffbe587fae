# qtune plan: the interface on the fixture (a quick measurement: 1 chunk of
# 64 tokens, three candidates), the size side from a config.json alone, the
# refusals; then the figures of issue 16 (test_plan_quality below).
. tests/cli/lib.sh
G=share/models/meta
C=share/data/calib.txt
QUICK="--data $C --dkl-ctx 64 --dkl-chunks 1 --candidates int4-ch-sym,int8-ch-sym,bf16"

# the size side needs no weights
$Q plan $G/GLM-4.6.config.json --gpus 4 --gpu H100-80G >"$T/glm.txt" 2>"$T/err"
check plan_config_exit test $? = 0
check plan_config_units grep -q '^units  *457 (92 qkv, 92 o_proj, 3 gate_up, 3 down, 89 experts, 89 shared_gate_up, 89 shared_down)' "$T/glm.txt"
check plan_config_fits grep -q '^fits  *yes' "$T/glm.txt"
check plan_config_needs_weights grep -q 'needs the weights' "$T/glm.txt"
$Q plan $G/GLM-4.6.config.json --target-bpw 3 --json >"$T/glm.json"
check plan_config_json_fits grep -q '"fits":[[:space:]]*false' "$T/glm.json"
expect_err plan_config_data "ΔKL needs the weights" $Q plan $G/GLM-4.6.config.json --target-bpw 4.5 --data $C
expect_err plan_gguf_ftype_needs_gguf "needs --format gguf" $Q plan $M --target-bpw 4.5 --gguf-ftype Q4_K_M
expect_err plan_gguf_gptq "GPTQ candidates are compressed-tensors" $Q plan $M --target-bpw 4.5 --format gguf --gptq
expect_err plan_gguf_bad_type "Q9_K is not a GGUF type" $Q plan $M --target-bpw 4.5 --format gguf --candidates Q4_K,Q9_K
expect_err plan_gguf_ct_table "measured for compressed-tensors" \
    $Q plan $M --target-bpw 4.5 --format gguf --dkl tests/refs/plan_dkl_tiny.json
expect_err plan_no_target "usage" $Q plan $M --data $C
expect_err plan_two_targets "usage" $Q plan $M --data $C --target-bpw 4 --target-bytes 20MB
expect_err plan_gpus_no_gpu "--gpu NAME" $Q plan $M --data $C --gpus 2
expect_err plan_bad_gpus "1, 2, 4 or 8" $Q plan $M --data $C --gpus 3 --gpu H100-80G
expect_err plan_bad_candidate "candidates" $Q plan $M --target-bpw 4.5 --data $C --candidates int4-g128-sym,int9
expect_err plan_below_min "smallest allocation" $Q plan $M --target-bytes 1MB $QUICK

# a quick plan: measured, solved, written, lint-clean, reusable
$Q plan $M --target-bpw 5 $QUICK -o "$T/p.yaml" --dkl-out "$T/dkl.json" >"$T/p.txt" 2>"$T/err"
check plan_exit test $? = 0
check plan_text_plan grep -q '^plan  .* bpw: predicted KL' "$T/p.txt"
check plan_text_lint grep -q '^lint  *0 error(s), 0 warning(s)' "$T/p.txt"
check plan_text_curve grep -q '^Pareto curve' "$T/p.txt"
check plan_recipe_written test -s "$T/p.yaml"
check plan_recipe_header grep -q '^# Planned by qtune plan' "$T/p.yaml"
check plan_recipe_ranges grep -q "re:model\\\\.layers\\\\." "$T/p.yaml"
$Q lint $M -r "$T/p.yaml" >"$T/lint.txt"
check plan_recipe_lints_clean test $? = 0
$Q plan $M --target-bpw 5 --dkl "$T/dkl.json" --candidates int4-ch-sym,int8-ch-sym,bf16 --json >"$T/p.json"
check plan_dkl_reuse_exit test $? = 0
for k in target_bytes fixed_bytes planned_params kappa plan curve uniform dkl lint lower_bound_sum_dkl predicted_kl; do
    check "plan_json_$k" grep -q "\"$k\":" "$T/p.json"
done
check plan_json_bpw sh -c "grep -A3 '\"plan\":' '$T/p.json' | grep -q '\"bpw\":[[:space:]]*[45]\\.'"
expect_err plan_dkl_mismatch "not measured" $Q plan $M --target-bpw 5 --dkl "$T/dkl.json" --candidates int4-g32-sym,bf16

# --format gguf: units are GGUF tensors, candidates ggml types; at the size of
# the Q4_K_M file, a quick measurement (1 chunk of 64 tokens, four types)
GQ="--data $C --dkl-ctx 64 --dkl-chunks 1 --candidates Q4_K,Q6_K,Q8_0,BF16"
$Q plan $M --format gguf --target-bytes Q4_K_M $GQ -o "$T/g.yaml" --json >"$T/g.json" 2>"$T/err"
check plan_gguf_exit test $? = 0
gval() { sed -n "s/^[[:space:]]*\"$2\":[[:space:]]*\([-0-9.eE+]*\),*$/\1/p" "$1" | head -n 1; }
gb=$(gval "$T/g.json" bytes); gt=$(gval "$T/g.json" target_bytes)
check plan_gguf_budget awk "BEGIN { exit !($gb > 0 && $gb <= $gt) }"
check plan_gguf_lint_clean grep -q '"errors":[[:space:]]*0,' "$T/g.json"
for k in curve uniform presets format gguf_ftype dkl; do check "plan_gguf_json_$k" grep -q "\"$k\":" "$T/g.json"; done
check plan_gguf_json_preset grep -q '"ftype":[[:space:]]*"Q4_K_M"' "$T/g.json"
check plan_gguf_recipe_section grep -q '^qtune_gguf:' "$T/g.yaml"
check plan_gguf_recipe_ftype grep -q '^  ftype: Q4_K_M' "$T/g.yaml"
# the recipe is what quantize takes; the file holds the planned types, byte for byte the planned size
$Q quantize $M -r "$T/g.yaml" --format gguf -o "$T/g.gguf" >"$T/q.txt" 2>"$T/err"
check plan_gguf_quantize test $? = 0
$Q inspect "$T/g.gguf" --json >"$T/gi.json" 2>"$T/err"
check plan_gguf_inspect test $? = 0
# (model tensor, type) of every planned unit, and of every tensor of the file
awk -F'"' '/"scheme":/ { s = $4; next } /"tensor":/ { if (s != "") print $4, s } { s = "" }' "$T/g.json" >"$T/want.txt"
awk -F'"' '/"name":/ { n = $4 } /"dtype":/ { print n, $4 }' "$T/gi.json" >"$T/have.txt"
check plan_gguf_units_listed test "$(wc -l <"$T/want.txt")" = 39
check plan_gguf_types_match test "$(grep -Fvxf "$T/have.txt" "$T/want.txt" | wc -l)" = 0
check plan_gguf_file_bytes test "$(gval "$T/gi.json" bytes)" = "$gb"
# text: the presets line and the curve with them marked; the table reused
$Q plan $M --format gguf --target-bytes Q4_K_M --dkl "$T/g.json" --candidates Q4_K,Q6_K,Q8_0,BF16 --ascii >"$T/g.txt" 2>"$T/err"
check plan_gguf_dkl_reuse test $? = 0
check plan_gguf_text_presets grep -q '^presets  *.*Q4_K_M' "$T/g.txt"
check plan_gguf_text_curve grep -q '^Pareto curve.*+ GGUF file types' "$T/g.txt"
check plan_gguf_text_ftype grep -q '^ggml  *file type Q4_K_M' "$T/g.txt"
