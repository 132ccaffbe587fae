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
expect_err plan_gguf "gguf" $Q plan $M --target-bpw 4.5 --format gguf --data $C
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
