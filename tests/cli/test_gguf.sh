# GGUF output for llama.cpp: quantize --format gguf (types from the recipe's
# qtune_gguf section or --gguf-type), inspect and eval --quantized read the
# file back; one-line errors.  The bytes are proved by tests/unit
# (test_ggml_quants, test_gguf); llama.cpp itself by hand (docs/bench.md).
. tests/cli/lib.sh
D=share/data/eval.txt
cat >"$T/r.yaml" <<'Y'
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      ignore: [lm_head]
qtune_gguf:
  ftype: Q4_K_M
  tensor_types:
    - ffn_down_exps=Q8_0
Y
$Q quantize $M -r "$T/r.yaml" --format gguf -o "$T/m.gguf" >"$T/q.out" 2>"$T/q.err"
check gguf_quantize_exit test $? = 0
check gguf_quantize_says grep -q "^wrote $T/m.gguf: 99 tensors" "$T/q.out"
# sizes in binary units, as the compressed-tensors writer and every other line say
check gguf_quantize_mib grep -q "^wrote $T/m.gguf: .*, 1 file, [0-9.]* MiB ([0-9.]* bpw) from [0-9.]* MiB in " "$T/q.out"
check gguf_magic sh -c "head -c 4 '$T/m.gguf' | grep -q GGUF"
check gguf_no_partial sh -c "! ls $T | grep -q partial"
$Q inspect "$T/m.gguf" --json >"$T/i.json" 2>"$T/i.err"
check gguf_inspect_exit test $? = 0
check gguf_inspect_format grep -q '"format":[[:space:]]*"gguf"' "$T/i.json"
check gguf_inspect_279 test "$(grep -c '"role":' "$T/i.json")" = 279
check gguf_inspect_q8_experts test "$(grep -c '"dtype":[[:space:]]*"Q8_0"' "$T/i.json")" -ge 64
$Q inspect "$T/m.gguf" >"$T/i.txt"
check gguf_inspect_text grep -q 'Q6_K' "$T/i.txt"
$Q eval $M --quantized "$T/m.gguf" --data $D --ctx 128 --chunks 2 --json >"$T/e.json" 2>"$T/e.err"
check gguf_eval_exit test $? = 0
check gguf_eval_kl grep -q '"mean":' "$T/e.json"
# a plain BF16 conversion (no qtune_gguf section) evaluates as the original: KL 0
$Q quantize $M -r recipes/tiny-w4a16.yaml --format gguf --gguf-type BF16 -o "$T/b.gguf" >/dev/null 2>&1
$Q eval $M --quantized "$T/b.gguf" --data $D --ctx 128 --chunks 2 >"$T/b.txt" 2>&1
check gguf_eval_bf16_zero grep -q '^KL  *mean 0.000000 ' "$T/b.txt"
# llama.cpp's activation arithmetic (--ggml-arith) moves the KL a little, not to zero
$Q eval $M --quantized "$T/m.gguf" --data $D --ctx 128 --chunks 2 --second-half --ggml-arith >"$T/g.txt" 2>&1
check gguf_eval_ggml_arith grep -q '^KL  *mean 0\.0[0-9]' "$T/g.txt"
expect_err gguf_ggml_arith_needs_gguf 'needs --quantized FILE.gguf' $Q eval $M --scheme W4A16 --data $D --ggml-arith
# importance from qtune's own calibration statistics
$Q quantize $M -r "$T/r.yaml" --format gguf --calib share/data/calib.txt -o "$T/c.gguf" >"$T/c.out" 2>&1
check gguf_calib_imatrix test $? = 0
check gguf_calib_differs sh -c "! cmp -s '$T/m.gguf' '$T/c.gguf'"
expect_err gguf_two_importances 'give one importance source' $Q quantize $M -r "$T/r.yaml" --format gguf --calib share/data/calib.txt --imatrix x.dat -o "$T/x.gguf"
# a split set (gguf-split's names), named by its first file and read back whole
$Q quantize $M -r "$T/r.yaml" --format gguf --max-shard-size 4MB -o "$T/s.gguf" >"$T/s.out" 2>&1
check gguf_split_says grep -q "^wrote $T/s-00001-of-00003.gguf: 99 tensors .* 3 files" "$T/s.out"
$Q inspect "$T/s-00001-of-00003.gguf" >"$T/s.txt" 2>&1
check gguf_split_inspect grep -q 'tensors   279 in 3 GGUF files' "$T/s.txt"
# lint: the GGUF findings of a qtune_gguf section (shape fallbacks, dead patterns)
printf 'qtune_gguf:\n  ftype: Q4_K_M\n  tensor_types: [ "ffn_dwn=Q8_0" ]\n' >"$T/l.yaml"
$Q lint $M -r "$T/l.yaml" >"$T/l.txt" 2>&1
check gguf_lint_fallback grep -q '^GG001 warning 4 GGUF tensors as Q4_K: row length 128 .* writes Q5_0' "$T/l.txt"
check gguf_lint_dead_pattern grep -q "^GG002 warning .*'ffn_dwn' matches no GGUF tensor" "$T/l.txt"
# errors
expect_err gguf_exists 'already exists' $Q quantize $M -r "$T/r.yaml" --format gguf -o "$T/m.gguf"
expect_err gguf_bad_type 'not one of' $Q quantize $M -r "$T/r.yaml" --format gguf --gguf-type Q4_K_X -o "$T/x.gguf"
expect_err gguf_bad_format 'expected ct or gguf' $Q quantize $M -r "$T/r.yaml" --format onnx -o "$T/x.gguf"
expect_err gguf_imatrix_missing 'nope.dat' $Q quantize $M -r "$T/r.yaml" --format gguf --imatrix "$T/nope.dat" -o "$T/x.gguf"
printf 'qtune_gguf:\n  ftype: Q4_K_M\n  tensor_types: [ "ffn_up=IQ2_XXS" ]\n' >"$T/bad.yaml"
expect_err gguf_bad_recipe 'not one qtune writes' $Q quantize $M -r "$T/bad.yaml" --format gguf -o "$T/x.gguf"
head -c 5000 "$T/m.gguf" >"$T/cut.gguf"
expect_err gguf_truncated 'cut.gguf' $Q inspect "$T/cut.gguf"
check gguf_errors_no_output sh -c "! ls $T | grep -q '^x.gguf'"
