# A GGUF file written by llama.cpp, not by qtune: tests/refs/llamacpp-mix-q1_0.gguf
# (llama-quantize of qtune's BF16 conversion of the fixture, the command in
# tests/refs/README.md).  llama-quantize lays the file out itself (key order,
# quantize.* keys, tensor offsets) and mixes types qtune writes (Q8_0, Q4_K,
# Q2_K, IQ4_NL) with ones it only reads (Q1_0, Q2_0, TQ1_0).  inspect must
# show every tensor's type and size, eval must evaluate the dequantized model:
# its KL is the figure measured when the file was made (docs/bench.md), and
# with --ggml-arith within 1 % of llama-perplexity's own on the same file.
. tests/cli/lib.sh
D=share/data/eval.txt
F=tests/refs/llamacpp-mix-q1_0.gguf
# num FILE KEY: the first number after "KEY": in a JSON file
num() { awk -v k="\"$2\":" '$1 == k { v = $2; sub(/,$/, "", v); print v; exit }' "$1"; }
# near A B REL: |A - B| <= REL * |B|
near() { awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; s = b < 0 ? -b : b; exit !(a != "" && d <= r * s) }'; }

$Q inspect "$F" --json >"$T/i.json" 2>"$T/i.err"
check llama_inspect_exit test $? = 0
check llama_inspect_format grep -q '"format":[[:space:]]*"gguf"' "$T/i.json"
check llama_inspect_279 test "$(grep -c '"role":' "$T/i.json")" = 279
check llama_inspect_disk test "$(num "$T/i.json" disk_bytes)" = 2978784
# every tensor's type, as llama-quantize's log lists them (stacked experts per expert)
for ty in Q1_0:193 F32:47 TQ1_0:16 Q8_0:5 Q4_K:5 Q2_K:5 Q2_0:4 IQ4_NL:4; do
    check "llama_inspect_count_${ty%:*}" test "$(grep -c "\"dtype\":[[:space:]]*\"${ty%:*}\"" "$T/i.json")" = "${ty#*:}"
done
# a tensor's bytes: [8192, 256] Q1_0 = 8192 rows x 2 blocks x 18 bytes
check llama_inspect_embed sh -c "grep -A9 '\"model.embed_tokens.weight\"' '$T/i.json' | grep -q '\"dtype\":[[:space:]]*\"Q1_0\"' &&
    grep -A9 '\"model.embed_tokens.weight\"' '$T/i.json' | grep -q '\"bytes\":[[:space:]]*294912'"
check llama_inspect_tq1 sh -c "grep -A2 '\"model.layers.3.mlp.experts.7.gate_proj.weight\"' '$T/i.json' | grep -q TQ1_0"
check llama_inspect_shexp_fallback sh -c "grep -A2 '\"model.layers.2.mlp.shared_experts.down_proj.weight\"' '$T/i.json' | grep -q IQ4_NL"
$Q inspect "$F" >"$T/i.txt" 2>&1
check llama_inspect_text_bpw grep -q '2.84 MiB on disk (1.30 bpw)' "$T/i.txt"
# layer 3's experts are not of one type: the summary line says which
check llama_inspect_text_mixed grep -q '(48 tensors; down \[256, 128\]; gate TQ1_0, up Q1_0, down Q1_0)' "$T/i.txt"
check llama_inspect_text_mixed_col grep -q '^  experts .* mixed ' "$T/i.txt"

$Q eval $M --quantized "$F" --data $D --ctx 128 --chunks 4 --json >"$T/e.json" 2>"$T/e.err"
check llama_eval_exit test $? = 0
check llama_eval_tensors test "$(num "$T/e.json" tensors_quantized)" = 232
# measured when the file was made (docs/bench.md): 4 significant digits
check llama_eval_kl near "$(num "$T/e.json" mean)" 4.878873 5e-4
$Q eval $M --quantized "$F" --data $D --ctx 128 --chunks 8 --second-half --ggml-arith --json >"$T/g.json" 2>"$T/g.err"
check llama_eval_ggml_exit test $? = 0
# llama-perplexity -c 128 --chunks 8 -fa off -ctk f32 -ctv f32 --kl-divergence: 5.052231
check llama_eval_vs_llama_perplexity near "$(num "$T/g.json" mean)" 5.052231 0.01
check llama_eval_ggml_kl near "$(num "$T/g.json" mean)" 5.050584 5e-4
