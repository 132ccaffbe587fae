# qtune deploy: the published GLM-4.6-AWQ size, KV per token, the catalog and
# its override, options and errors.
. tests/cli/lib.sh
G=share/models/meta

# num FILE KEY: the number of top-level "KEY" in cJSON output (one tab deep)
TAB=$(printf '\t')
num() { sed -n "s/^$TAB\"$2\":[[:space:]]*\([-0-9.e+]*\),*\$/\1/p" "$1" | head -n 1; }

$Q deploy $G/GLM-4.6.config.json -r recipes/glm-4.6-awq-w4a16.yaml --json >"$T/g46.json"
check deploy_json_exit0 test $? = 0
# ~176 GiB without MTP (bullpoint/GLM-4.6-AWQ): within 1%
check deploy_glm46_awq_176gib awk -v b="$(num "$T/g46.json" weights_bytes_without_mtp)" \
    'BEGIN { g = b / 1073741824; exit !(g > 174.24 && g < 177.76) }'
check deploy_mtp_bytes awk -v b="$(num "$T/g46.json" mtp_bytes)" 'BEGIN { exit !(b > 9e9) }'
check deploy_gpus_needed test "$(num "$T/g46.json" gpus_needed)" = 4
check deploy_per_gpu_rows test "$(grep -c '"tp":' "$T/g46.json")" = 5
check deploy_fields sh -c "grep -q '\"tok_s_bound\"' '$T/g46.json' && grep -q '\"cost_per_hour\"' '$T/g46.json' && grep -q '\"cost_per_mtok\"' '$T/g46.json' && grep -q '\"max_ctx\"' '$T/g46.json' && grep -q '\"fits\"' '$T/g46.json'"

$Q deploy $G/GLM-4.5-Air.config.json -r recipes/glm-4.5-air-sq-gptq-w8a8-2of4.yaml --json >"$T/air.json"
check deploy_air_kv_188416 test "$(num "$T/air.json" kv_bytes_per_token)" = 188416
$Q deploy $G/GLM-4.5-Air.config.json -r recipes/glm-4.5-air-sq-gptq-w8a8-2of4.yaml --kv-dtype fp8 --json >"$T/air8.json"
check deploy_kv_fp8_halves test "$(num "$T/air8.json" kv_bytes_per_token)" = 94208
$Q deploy $G/GLM-5.config.json -r recipes/glm-5-w8a16.yaml --gpu B200 --tp 8 --json >"$T/g5.json"
check deploy_glm5_mla_kv test "$(num "$T/g5.json" kv_bytes_per_token)" = 89856
check deploy_tp_option test "$(num "$T/g5.json" tp)" = 8

# text output
$Q deploy $G/GLM-4.6.config.json -r recipes/glm-4.6-awq-w4a16.yaml --gpu "RTX PRO 6000 96G" --ctx 32768 --batch 4 >"$T/g46.txt"
check deploy_text_gpu grep -q '^GPU         RTX-PRO-6000-96G' "$T/g46.txt"
check deploy_text_table grep -q '^   4 ' "$T/g46.txt"
check deploy_text_ctx grep -q 'ctx 32768 x batch 4' "$T/g46.txt"

# max ctx is capped at the model's limit (4,096 on the fixture), the KV
# capacity shown apart with the concurrency it gives; --ctx beyond the limit
# is warned about on stderr
$Q deploy $M -r recipes/tiny-w4a16.yaml >"$T/tiny.txt" 2>"$T/tiny.err"
check deploy_ctx_capped grep -Eq '^   1 .* [0-9]{8,}      4096 +[0-9.]+x  yes$' "$T/tiny.txt"
check deploy_ctx_limit_line grep -q '^max ctx     4096 tokens (max_position_embeddings)$' "$T/tiny.txt"
check deploy_ctx_default_capped grep -q 'ctx 4096 x batch 1' "$T/tiny.txt"
check deploy_no_warning test ! -s "$T/tiny.err"
$Q deploy $M -r recipes/tiny-w4a16.yaml --ctx 8192 --json >"$T/over.json" 2>"$T/over.err"
check deploy_ctx_warning grep -q "^qtune: warning: --ctx 8192 is beyond the model's limit of 4096 tokens" "$T/over.err"
check deploy_ctx_over_json grep -q '"ctx_over_limit":[[:space:]]*true' "$T/over.json"
check deploy_concurrency_json grep -q '"max_concurrency":' "$T/over.json"
# ... and capped: the figures are of the limit, the JSON names what was asked
check deploy_ctx_over_capped sh -c "grep -q '\"ctx\":[[:space:]]*4096,' '$T/over.json' && grep -q '\"ctx_asked\":[[:space:]]*8192' '$T/over.json'"
check deploy_ctx_over_warning_says_capped grep -q "capped at 4096" "$T/over.err"
$Q deploy $M -r recipes/tiny-w4a16.yaml --ctx 8192 >"$T/over.txt" 2>/dev/null
check deploy_ctx_over_text grep -q 'ctx 4096 x batch 1' "$T/over.txt"
$Q deploy $G/GLM-4.6.config.json -r recipes/glm-4.6-awq-w4a16.yaml --gpu H200 --ctx 300000 --json >"$T/g46over.json" 2>"$T/g46over.err"
check deploy_glm46_ctx_capped sh -c "grep -q '\"ctx\":[[:space:]]*202752,' '$T/g46over.json' && grep -q '\"ctx_asked\":[[:space:]]*300000' '$T/g46over.json'"
check deploy_glm46_ctx_warning grep -q "^qtune: warning: --ctx 300000 is beyond the model's limit of 202752 tokens (max_position_embeddings): capped at 202752" "$T/g46over.err"
$Q deploy $G/GLM-4.6.config.json -r recipes/glm-4.6-awq-w4a16.yaml --gpu H100-80G --json >"$T/g46cap.json"
check deploy_glm46_capped sh -c "grep -q '\"max_ctx\":[[:space:]]*202752' '$T/g46cap.json' && ! grep -q '\"max_ctx\":[[:space:]]*1097652' '$T/g46cap.json'"

# the catalog can be replaced
cat >"$T/gpus.yaml" <<'YAML'
gpus:
  - {name: MyCard, memory_gib: 1000, bandwidth_gbs: 1000, price_hour: 1.0}
YAML
$Q deploy $G/GLM-4.6.config.json -r recipes/glm-4.6-awq-w4a16.yaml --gpus "$T/gpus.yaml" --gpu mycard --json >"$T/my.json"
check deploy_gpus_override test "$(num "$T/my.json" gpus_needed)" = 1
check deploy_cost_per_hour test "$(num "$T/my.json" cost_per_hour)" = 1

expect_err deploy_unknown_gpu "qtune: --gpu TPU: not in the catalog (A100-80G, H100-80G" \
    $Q deploy $M -r recipes/tiny-w4a16.yaml --gpu TPU
expect_err deploy_bad_tp "--tp: expected 1, 2, 4 or 8" $Q deploy $M -r recipes/tiny-w4a16.yaml --tp 3
expect_err deploy_bad_kv "--kv-dtype: unknown type 'int3'" $Q deploy $M -r recipes/tiny-w4a16.yaml --kv-dtype int3
printf 'gpus: [{name: X}]\n' >"$T/badgpus.yaml"
expect_err deploy_bad_catalog "badgpus.yaml:1:8: GPU entry lacks memory_gib" \
    $Q deploy $M -r recipes/tiny-w4a16.yaml --gpus "$T/badgpus.yaml"
$Q deploy $M --json >"$T/bf16.json"
inspect_bytes=$($Q inspect $M --json | sed -n "s/^$TAB$TAB\"bytes\":[[:space:]]*\([0-9]*\),*\$/\1/p")
check deploy_no_recipe_bf16 test "$(num "$T/bf16.json" weights_bytes)" = "$inspect_bytes"
check deploy_help sh -c "$Q deploy --help | grep -q usage"

# the README's deploy example is what the command prints, every line
sed -n '/^\$ qtune deploy share\/models\/meta\/GLM-4.6.config.json/,/^```/p' README.md | sed '1d;$d' >"$T/readme.txt"
$Q deploy $G/GLM-4.6.config.json -r recipes/glm-4.6-awq-w4a16.yaml --gpu H100-80G >"$T/actual.txt" 2>&1
check deploy_readme_example cmp -s "$T/readme.txt" "$T/actual.txt"
