# Calibrated quantization on the fixture: GPTQ through the sequential
# pipeline, checked against llm-compressor 0.14's own KL on eval.txt
# (share/refs/calibrated.json; the bound is 1.05x its figure), with the
# issue's calibration protocol (128 chunks of 512 tokens of calib.txt).
# Also: actorder group writes weight_g_idx and evaluates through it; the
# report lists per-expert token counts and the low-token rule; bad
# calibration input is one line before any work.
. tests/cli/lib.sh
C=share/data/calib.txt
D=share/data/eval.txt
recipe() { # recipe FILE MODIFIER SCHEME [extra arg line]
    printf 'quant_stage:\n  quant_modifiers:\n    %s:\n      targets: [Linear]\n      ignore: [lm_head, '"'"'re:.*mlp\\.gate$'"'"']\n      scheme: %s\n%b' "$2" "$3" "${4:-}" >"$1"
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }

# GPTQ W4A16: llm-compressor 0.0376 -> at most 0.0395
recipe "$T/g4.yaml" GPTQModifier W4A16
$Q quantize $M -r "$T/g4.yaml" -o "$T/g4" --calib $C >"$T/g4.out" 2>"$T/g4.err"
check gptq_w4a16_exit test $? = 0
check gptq_w4a16_says grep -q "^wrote $T/g4: 229 modules quantized" "$T/g4.out"
check gptq_w4a16_algorithm grep -q '"algorithm":[[:space:]]*"GPTQ"' "$T/g4/qtune-report.json"
check gptq_w4a16_samples grep -q '"samples":[[:space:]]*128' "$T/g4/qtune-report.json"
check gptq_w4a16_expert_tokens sh -c "tr -d ' \t\n' <'$T/g4/qtune-report.json' | grep -q '\"expert_tokens\":{\"1\.0\":[1-9]'"
check gptq_w4a16_low_token_rule grep -q '"low_token_rule":' "$T/g4/qtune-report.json"
check gptq_w4a16_actorder grep -q '"actorder":[[:space:]]*"static"' "$T/g4/config.json"
check gptq_w4a16_no_gidx sh -c "! grep -aq weight_g_idx '$T/g4/model.safetensors'"
check gptq_w4a16_errors grep -q '"rtn_out_err":' "$T/g4/qtune-report.json"
$Q eval $M --quantized "$T/g4" --data $D --json >"$T/g4.json" 2>"$T/g4e.err"
check gptq_w4a16_eval test $? = 0
K=$(kl "$T/g4.json"); echo "gptq W4A16 KL $K (llm-compressor 0.0376)"
check gptq_w4a16_kl_le_0.0395 le "$K" 0.0395

# GPTQ W3A16: llm-compressor 0.1532 -> at most 0.161 (RTN: 0.2432)
recipe "$T/g3.yaml" GPTQModifier W3A16
$Q quantize $M -r "$T/g3.yaml" -o "$T/g3" --calib $C --allow-lint-errors >"$T/g3.out" 2>"$T/g3.err"
check gptq_w3a16_exit test $? = 0
$Q eval $M --quantized "$T/g3" --data $D --json >"$T/g3.json" 2>"$T/g3e.err"
K=$(kl "$T/g3.json"); echo "gptq W3A16 KL $K (llm-compressor 0.1532)"
check gptq_w3a16_kl_le_0.161 le "$K" 0.161

# SmoothQuant 0.8 + GPTQ W8A8 (dynamic per-token int8 activations in eval):
# llm-compressor 0.0843 (its glm4_moe mappings leave the router
# uncompensated); the issue's goal 0.0060 (RTN W8A8: 0.00499).  Smoothing
# must not change what the unquantized layers compute: the report's
# per-layer check is 0 (power-of-two factors are exact).  32 samples keep
# the suite lean (0.00317; 0.00303 with the issue's 128, docs/bench.md).
printf 'quant_stage:\n  quant_modifiers:\n    SmoothQuantModifier:\n      smoothing_strength: 0.8\n' >"$T/sq.yaml"
printf '    GPTQModifier:\n      targets: [Linear]\n      ignore: [lm_head, '"'"'re:.*mlp\\.gate$'"'"']\n      scheme: W8A8\n' >>"$T/sq.yaml"
$Q quantize $M -r "$T/sq.yaml" -o "$T/sq" --calib $C --calib-samples 32 >"$T/sq.out" 2>"$T/sq.err"
check sq_gptq_w8a8_exit test $? = 0
check sq_gptq_w8a8_algorithm grep -q '"algorithm":[[:space:]]*"SmoothQuant+GPTQ"' "$T/sq/qtune-report.json"
check sq_gptq_w8a8_preserved sh -c "tr -d ' \t\n' <'$T/sq/qtune-report.json' | grep -q '\"max_rel_output_change\":\[0,0,0,0\]'"
check sq_gptq_w8a8_format grep -q '"format":[[:space:]]*"int-quantized"' "$T/sq/config.json"
$Q eval $M --quantized "$T/sq" --data $D --json >"$T/sq.json" 2>"$T/sqe.err"
check sq_gptq_w8a8_eval test $? = 0
K=$(kl "$T/sq.json"); echo "SmoothQuant 0.8 + GPTQ W8A8 KL $K (llm-compressor 0.0843, RTN W8A8 0.00499)"
check sq_gptq_w8a8_kl_le_0.0060 le "$K" 0.0060

# The GLM-4.5-Air document's pipeline on attention (share/refs/calibrated.json,
# seed_glm45air_attention): SmoothQuant 0.8 -> GPTQ W8A8 -> SparseGPT 2:4.
# llm-compressor 0.2357 -> at most 0.2475.  Written dense (int-quantized,
# sparsity_config {}), the measured sparsity reported, the pruning's own
# output error beside the quantization's, and the terminal says so.  32
# samples (0.1656; 0.1613 with 128, docs/bench.md).
cat >"$T/air.yaml" <<'EOF2'
quant_stage:
  quant_modifiers:
    SmoothQuantModifier:
      smoothing_strength: 0.8
    GPTQModifier:
      targets: ['re:.*self_attn\.(q|k|v|o)_proj$']
      ignore: [lm_head, 're:.*mlp\.gate$']
      scheme: W8A8
    SparseGPTModifier:
      sparsity: 0.5
      mask_structure: '2:4'
      targets: ['re:.*self_attn\.(q|k|v|o)_proj$']
      ignore: [lm_head, 're:.*mlp\.gate$']
EOF2
$Q quantize $M -r "$T/air.yaml" -o "$T/air" --calib $C --calib-samples 32 >"$T/air.out" 2>"$T/air.err"
check air_exit test $? = 0
check air_algorithm grep -q '"algorithm":[[:space:]]*"SmoothQuant+GPTQ+SparseGPT"' "$T/air/qtune-report.json"
check air_says_sparsity grep -q '^sparsity: 50.0% zeros in 20 pruned modules (mask_structure 2:4.*written dense: vLLM runs it no faster (QT017)' "$T/air.out"
check air_says_cost grep -q 'pruning alone .*: the pruning costs most of it$' "$T/air.out"
check air_measured_sparsity sh -c "tr -d ' \t\n' <'$T/air/qtune-report.json' | grep -q '\"measured_sparsity\":0\.5000'"
check air_module_sparsity sh -c "tr -d ' \t\n' <'$T/air/qtune-report.json' | grep -q '\"algorithm\":\"SparseGPT+GPTQ\",\"tokens\":16384,.*\"sparsity\":0\.5'"
check air_dense_format grep -q '"format":[[:space:]]*"int-quantized"' "$T/air/config.json"
check air_no_sparse_format sh -c "tr -d ' \t\n' <'$T/air/config.json' | grep -q '\"sparsity_config\":{}'"
$Q eval $M --quantized "$T/air" --data $D --json >"$T/air.json" 2>"$T/aire.err"
check air_eval test $? = 0
K=$(kl "$T/air.json"); echo "SmoothQuant 0.8 -> GPTQ W8A8 -> SparseGPT 2:4 (attention) KL $K (llm-compressor 0.2357)"
check air_kl_le_0.2475 le "$K" 0.2475
# the preview puts the pruning's error beside the quantization's
$Q preview $M -r "$T/air.yaml" --filter 'layers\.1\.self_attn\.q_proj' >"$T/airp.txt" 2>&1
check air_preview_row grep -q '^ *2:4 *+ pruning *0\.[0-9]*  SparseGPT, estimated by magnitude' "$T/airp.txt"
check air_preview_total grep -q '^sparse  SparseGPT 2:4 on 1 tensors: .*the pruning costs most of the error' "$T/airp.txt"

# Static activation scales (dynamic: false, per tensor), 8 samples: the
# FP8 preset and int8 static on attention write an input_scale per module
# (shape [1], the weight dtype) and evaluate through it; an fp8 kv cache
# writes self_attn.k_scale / v_scale and eval models it.
hdr() { n=$(od -An -t u8 -N8 "$1" | tr -d ' '); head -c $((n + 8)) "$1" | tail -c "$n"; }
recipe "$T/fp8.yaml" QuantizationModifier FP8
expect_err fp8_static_needs_calib 'needs calibration text' $Q quantize $M -r "$T/fp8.yaml" -o "$T/fp8x"
$Q quantize $M -r "$T/fp8.yaml" -o "$T/fp8" --calib $C --calib-samples 8 >"$T/fp8.out" 2>"$T/fp8.err"
check fp8_static_exit test $? = 0
check fp8_static_input_scales test "$(hdr "$T/fp8/model.safetensors" | grep -o '"[^"]*\.input_scale":{"dtype":"BF16","shape":\[1\]' | wc -l)" = 229
check fp8_static_config sh -c "tr -d ' \t\n' <'$T/fp8/config.json' | grep -q '\"input_activations\":{[^}]*\"dynamic\":false'"
$Q eval $M --quantized "$T/fp8" --data $D --json >"$T/fp8.json" 2>"$T/fp8e.err"
check fp8_static_eval test $? = 0
K=$(kl "$T/fp8.json"); echo "FP8 static (8 samples) KL $K"
check fp8_static_kl_le_0.012 le "$K" 0.012
cat >"$T/i8s.yaml" <<'EOF2'
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      ignore: [lm_head]
      config_groups:
        group_0:
          weights: {num_bits: 8, type: int, symmetric: true, strategy: channel}
          input_activations: {num_bits: 8, type: int, symmetric: true, strategy: tensor, dynamic: false}
          targets: ['re:.*self_attn\.(q|k|v|o)_proj$']
EOF2
$Q quantize $M -r "$T/i8s.yaml" -o "$T/i8s" --calib $C --calib-samples 8 >"$T/i8s.out" 2>"$T/i8s.err"
check int8_static_exit test $? = 0
check int8_static_input_scales test "$(hdr "$T/i8s/model.safetensors" | grep -o 'input_scale' | wc -l)" = 20
check int8_static_observer sh -c "tr -d ' \t\n' <'$T/i8s/config.json' | grep -q '\"observer\":\"minmax\",\"observer_kwargs\":{},\"strategy\":\"tensor\",\"symmetric\":true,\"type\":\"int\"'"
$Q eval $M --quantized "$T/i8s" --data $D --json >"$T/i8s.json" 2>"$T/i8se.err"
K=$(kl "$T/i8s.json"); echo "int8 static attention (8 samples) KL $K"
check int8_static_kl_le_0.005 le "$K" 0.005
sed 's/targets: .*/targets: [Linear]/' "$T/i8s.yaml" >"$T/i8e.yaml"
expect_err int8_static_experts_lint 'QT011 .*routed experts: vLLM.s int8 fused MoE' $Q quantize $M -r "$T/i8e.yaml" -o "$T/i8e" --calib $C
recipe "$T/kv.yaml" QuantizationModifier FP8_DYNAMIC '      kv_cache_scheme: {num_bits: 8, type: float, strategy: tensor, dynamic: false, symmetric: true}\n'
recipe "$T/nokv.yaml" QuantizationModifier FP8_DYNAMIC
$Q quantize $M -r "$T/kv.yaml" -o "$T/kv" --calib $C --calib-samples 8 >"$T/kv.out" 2>"$T/kv.err"
check kv_exit test $? = 0
check kv_scales test "$(hdr "$T/kv/model.safetensors" | grep -o '"model\.layers\.[0-3]\.self_attn\.[kv]_scale":{"dtype":"BF16","shape":\[1\]' | wc -l)" = 8
check kv_config sh -c "tr -d ' \t\n' <'$T/kv/config.json' | grep -q '\"kv_cache_scheme\":{\"actorder\":null,\"block_structure\":null,\"dynamic\":false,\"group_size\":null,\"num_bits\":8,\"observer\":\"minmax\"'"
$Q quantize $M -r "$T/nokv.yaml" -o "$T/nokv" >/dev/null 2>&1
$Q eval $M --quantized "$T/kv" --data $D --json >"$T/kv.json" 2>"$T/kve.err"
$Q eval $M --quantized "$T/nokv" --data $D --json >"$T/nokv.json" 2>"$T/nokve.err"
K=$(kl "$T/kv.json"); K0=$(kl "$T/nokv.json"); echo "FP8_DYNAMIC + fp8 kv cache KL $K (without the kv cache $K0)"
check kv_eval_models_cache sh -c "awk -v a='$K' -v b='$K0' 'BEGIN { exit !(a > b) }'"
check kv_kl_le_0.035 le "$K" 0.035

# actorder group (few samples: the layout, not the quality): weight_g_idx
# written for every GPTQ module, config says so, eval reads it
recipe "$T/gg.yaml" GPTQModifier W4A16 '      actorder: group\n'
$Q quantize $M -r "$T/gg.yaml" -o "$T/gg" --calib $C --calib-samples 8 --calib-len 128 >"$T/gg.out" 2>"$T/gg.err"
check gptq_group_exit test $? = 0
check gptq_group_samples grep -q '"samples":[[:space:]]*8,' "$T/gg/qtune-report.json"
check gptq_group_config grep -q '"actorder":[[:space:]]*"group"' "$T/gg/config.json"
# the safetensors header (8-byte length, then JSON, hdr above) names each g_idx once
check gptq_group_gidx test "$(hdr "$T/gg/model.safetensors" | grep -o 'weight_g_idx' | wc -l)" = 229
$Q eval $M --quantized "$T/gg" --data $D --ctx 128 --chunks 2 --json >"$T/gg.json" 2>"$T/gge.err"
check gptq_group_eval test $? = 0
K=$(kl "$T/gg.json")
check gptq_group_kl_sane le "$K" 0.2

# bad calibration input: one line, before any work, nothing written
expect_err calib_missing 'needs calibration text' $Q quantize $M -r "$T/g4.yaml" -o "$T/x1"
: >"$T/empty.txt"
expect_err calib_empty 'empty.txt: calibration text is empty' $Q quantize $M -r "$T/g4.yaml" -o "$T/x2" --calib "$T/empty.txt"
head -c 1400 $C | sed '$d' >"$T/short.txt"
expect_err calib_short 'short.txt: [0-9]* tokens, fewer than one sample of 512' $Q quantize $M -r "$T/g4.yaml" -o "$T/x3" --calib "$T/short.txt"
expect_err calib_nofile 'nope.txt: cannot read calibration' $Q quantize $M -r "$T/g4.yaml" -o "$T/x4" --calib "$T/nope.txt"
mkdir -p "$T/notok"
for f in $M/*; do case "$f" in *tokenizer.json) ;; *) ln -s "$(pwd)/$f" "$T/notok/";; esac; done
expect_err calib_no_tokenizer 'has no tokenizer.json' $Q quantize "$T/notok" -r "$T/g4.yaml" -o "$T/x5" --calib $C
expect_err calib_bad_samples 'calib-samples: 0' $Q quantize $M -r "$T/g4.yaml" -o "$T/x6" --calib $C --calib-samples 0
check calib_bad_nothing_written sh -c "! ls -d $T/x1 $T/x2 $T/x3 $T/x4 $T/x5 $T/x6 $T/x*.partial-* 2>/dev/null"
check calib_one_line test "$(wc -l <"$T/err")" = 1

# AWQ (the reference's mappings are what qtune derives from the graph: the
# router among the balance layers of each MoE layer's post-attention norm).
# W4A16 in the one-modifier form: llm-compressor 0.0575 -> at most 0.0575
recipe "$T/a4.yaml" AWQModifier W4A16
$Q quantize $M -r "$T/a4.yaml" -o "$T/a4" --calib $C >"$T/a4.out" 2>"$T/a4.err"
check awq_w4a16_exit test $? = 0
check awq_w4a16_router_compensated sh -c "tr -d ' \t\n' <'$T/a4/qtune-report.json' | grep -q '\"smooth_layer\":\"model.layers.1.post_attention_layernorm\",\"balance_layers\":35'"
# the smoothed, unquantized layers computed what they computed before
# (every layer's max relative difference below 1e-3)
preserved() { tr -d ' \t\n' <"$1" | sed -n 's/.*"max_rel_output_change":\[\([^]]*\)\].*/\1/p' | head -1 |
    awk -F, '{ for (i = 1; i <= NF; i++) if (!($i + 0 < 1e-3) || $i == "null") bad = 1 } END { exit !(NR == 1 && NF == 4 && !bad) }'; }
check awq_w4a16_preserved preserved "$T/a4/qtune-report.json"
$Q eval $M --quantized "$T/a4" --data $D --json >"$T/a4.json" 2>"$T/a4e.err"
K=$(kl "$T/a4.json"); echo "awq W4A16 KL $K (llm-compressor 0.0575)"
check awq_w4a16_kl_le_0.0575 le "$K" 0.0575

# W4A16 with clip search, in the modern form (AWQ transform, then a
# QuantizationModifier): at most 0.0545 (5% below RTN)
printf 'quant_stage:\n  quant_modifiers:\n    AWQModifier:\n      duo_scaling: true\n      clip_search: true\n    QuantizationModifier:\n      targets: [Linear]\n      ignore: [lm_head, '"'"'re:.*mlp\\.gate$'"'"']\n      scheme: W4A16\n' >"$T/a4c.yaml"
$Q quantize $M -r "$T/a4c.yaml" -o "$T/a4c" --calib $C >"$T/a4c.out" 2>"$T/a4c.err"
check awq_clip_w4a16_exit test $? = 0
check awq_clip_w4a16_clipped grep -q '"awq_clipped":[[:space:]]*true' "$T/a4c/qtune-report.json"
$Q eval $M --quantized "$T/a4c" --data $D --json >"$T/a4c.json" 2>"$T/a4ce.err"
K=$(kl "$T/a4c.json"); echo "awq+clip W4A16 KL $K (RTN 0.0573)"
check awq_clip_w4a16_kl_le_0.0545 le "$K" 0.0545

# W3A16, the one-modifier form: llm-compressor 0.2498 -> at most 0.2498
# (0.24413 here in the suite's bf16 arithmetic; 0.24495 in f32, docs/bench.md)
recipe "$T/a3.yaml" AWQModifier W3A16
$Q quantize $M -r "$T/a3.yaml" -o "$T/a3" --calib $C --allow-lint-errors >"$T/a3.out" 2>"$T/a3.err"
check awq_w3a16_exit test $? = 0
check awq_w3a16_preserved preserved "$T/a3/qtune-report.json"
# the search scores each norm's parent module (llm-compressor's): the
# attention for q/k/v, the MoE block for the router and the experts; the
# other mappings' parent is their one Linear; 32 of the 128 samples
check awq_w3a16_loss_on_attn sh -c "tr -d ' \t\n' <'$T/a3/qtune-report.json' | grep -q '\"smooth_layer\":\"model.layers.0.input_layernorm\",[^}]*\"loss_on\":\"self_attn\"'"
check awq_w3a16_loss_on_mlp sh -c "tr -d ' \t\n' <'$T/a3/qtune-report.json' | grep -q '\"smooth_layer\":\"model.layers.1.post_attention_layernorm\",[^}]*\"loss_on\":\"mlp\"'"
check awq_w3a16_loss_on_down sh -c "tr -d ' \t\n' <'$T/a3/qtune-report.json' | grep -q '\"loss_on\":\"balance_layer\"'"
check awq_w3a16_search_samples grep -q '"search_samples":[[:space:]]*32' "$T/a3/qtune-report.json"
$Q eval $M --quantized "$T/a3" --data $D --json >"$T/a3.json" 2>"$T/a3e.err"
K=$(kl "$T/a3.json"); echo "awq W3A16 KL $K (llm-compressor 0.2498)"
check awq_w3a16_kl_le_0.2498 le "$K" 0.2498
# and in the default arithmetic, f32: llm-compressor's figure is a GPU run,
# i.e. f32, so this is the like-for-like one
$Q quantize $M -r "$T/a3.yaml" -o "$T/a3f" --calib $C --allow-lint-errors --arith f32 >"$T/a3f.out" 2>"$T/a3f.err"
check awq_w3a16_f32_exit test $? = 0
check awq_w3a16_f32_recorded grep -q '"arith":[[:space:]]*"f32"' "$T/a3f/qtune-report.json"
$Q eval $M --quantized "$T/a3f" --data $D --json --arith f32 >"$T/a3f.json" 2>"$T/a3fe.err"
K=$(kl "$T/a3f.json"); echo "awq W3A16 (f32) KL $K (llm-compressor 0.2498)"
check awq_w3a16_f32_kl_le_0.2498 le "$K" 0.2498

# W3A16 with clip search: at most 0.231 (5% below RTN's 0.2432)
recipe "$T/a3c.yaml" AWQModifier W3A16 '      clip_search: true\n'
$Q quantize $M -r "$T/a3c.yaml" -o "$T/a3c" --calib $C --allow-lint-errors >"$T/a3c.out" 2>"$T/a3c.err"
check awq_clip_w3a16_exit test $? = 0
$Q eval $M --quantized "$T/a3c" --data $D --json >"$T/a3c.json" 2>"$T/a3ce.err"
K=$(kl "$T/a3c.json"); echo "awq+clip W3A16 KL $K (RTN 0.2432)"
check awq_clip_w3a16_kl_le_0.231 le "$K" 0.231

# AWQ before GPTQ (the modern form with a GPTQModifier) runs; AWQ with
# activation quantization is refused before any work
printf 'quant_stage:\n  quant_modifiers:\n    AWQModifier:\n      duo_scaling: true\n      search_samples: all\n    GPTQModifier:\n      targets: [Linear]\n      ignore: [lm_head, '"'"'re:.*mlp\\.gate$'"'"']\n      scheme: W4A16\n' >"$T/ag.yaml"
$Q quantize $M -r "$T/ag.yaml" -o "$T/ag" --calib $C --calib-samples 4 --calib-len 128 >"$T/ag.out" 2>"$T/ag.err"
check awq_gptq_exit test $? = 0
check awq_gptq_algorithm grep -q '"algorithm":[[:space:]]*"AWQ+GPTQ"' "$T/ag/qtune-report.json"
check awq_gptq_smoothed grep -q '"awq_smoothed":[[:space:]]*true' "$T/ag/qtune-report.json"
check awq_gptq_search_all grep -q '"search_samples":[[:space:]]*4' "$T/ag/qtune-report.json"
# AWQModifier's arguments out of their domain: one line, nothing written
sed 's/search_samples: all/search_samples: many/' "$T/ag.yaml" >"$T/ab.yaml"
expect_err awq_bad_search_samples 'search_samples must be a count or all, not many' $Q quantize $M -r "$T/ab.yaml" -o "$T/ab" --calib $C --calib-samples 4 --calib-len 128
check awq_bad_one_line test "$(wc -l <"$T/err")" = 1
sed 's/duo_scaling: true/duo_scaling: maybe/' "$T/ag.yaml" >"$T/ab.yaml"
expect_err awq_bad_duo 'duo_scaling must be true, false or both, not maybe' $Q quantize $M -r "$T/ab.yaml" -o "$T/ab" --calib $C --calib-samples 4 --calib-len 128
sed 's/duo_scaling: true/duo_scaling: true\n      n_grid: 2/' "$T/ag.yaml" >"$T/ab.yaml"
expect_err awq_bad_grid 'n_grid 2 out of range (3..1000 with duo_scaling true)' $Q quantize $M -r "$T/ab.yaml" -o "$T/ab" --calib $C --calib-samples 4 --calib-len 128
check awq_bad_nothing_written sh -c "! ls -d $T/ab $T/ab.partial-* 2>/dev/null"
recipe "$T/aa.yaml" AWQModifier W8A8
expect_err awq_refuses_act 'AWQ runs weight-only schemes' $Q quantize $M -r "$T/aa.yaml" -o "$T/aa" --calib $C
