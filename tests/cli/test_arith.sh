# --arith f32|bf16: the checkpoint records the mode, the two modes write
# different int4 codes (0.64% of them on the fixture: tests/unit/test_arith.c
# checks the codes themselves), a bad mode is one line.  The suite runs bf16
# (tests/run.sh); this test asks for each mode itself.
. tests/cli/lib.sh

R=recipes/tiny-w4a16.yaml
$Q quantize $M -r $R -o "$T/f32" --arith f32 --json >"$T/f32.json" 2>"$T/f32.err"
check arith_f32_exit test $? = 0
check arith_f32_report grep -q '"arith":[[:space:]]*"f32"' "$T/f32/qtune-report.json"
check arith_f32_json grep -q '"arith":[[:space:]]*"f32"' "$T/f32.json"
$Q quantize $M -r $R -o "$T/bf16" --arith=bf16 >"$T/bf16.out" 2>"$T/bf16.err"
check arith_bf16_exit test $? = 0
check arith_bf16_report grep -q '"arith":[[:space:]]*"bf16"' "$T/bf16/qtune-report.json"
# the same header (shapes, offsets), different packed codes
check arith_codes_differ sh -c "! cmp -s '$T/f32/model.safetensors' '$T/bf16/model.safetensors'"
QTUNE_ARITH= $Q quantize $M -r $R -o "$T/dflt" >/dev/null 2>&1
check arith_default_f32 grep -q '"arith":[[:space:]]*"f32"' "$T/dflt/qtune-report.json"
check arith_default_same cmp -s "$T/f32/model.safetensors" "$T/dflt/model.safetensors"
expect_err arith_bad 'arith: fp16 is not an arithmetic mode' $Q quantize $M -r $R -o "$T/x" --arith fp16
expect_err arith_missing 'arith: needs f32 or bf16' $Q quantize $M -r $R -o "$T/x" --arith
# eval in the f32 arithmetic lands on llm-compressor's own f32 figure
# (0.05810, shared refs calibrated.json rtn_w4a16_f32; bf16: 0.05730, which
# qtune gives as 0.05736): within 3% (eval_kl.json's tolerance)
$Q eval $M --scheme W4A16 --data share/data/eval.txt --arith f32 --json >"$T/e.json" 2>"$T/e.err"
K=$(tr -d ' \t\n' <"$T/e.json" | sed -n 's/.*"kld":{"mean":\([0-9.e-]*\).*/\1/p')
echo "RTN W4A16 f32 KL $K (llm-compressor f32 0.05810)"
check arith_f32_eval_kl awk -v k="$K" 'BEGIN { exit !(k > 0.05810 * 0.97 && k < 0.05810 * 1.03) }'
# eval --json names the mode its weights were rounded in: the one in force
# for a recipe or scheme, a checkpoint's own (its qtune-report.json), not
# the --arith of the eval, for --quantized
check arith_eval_json_f32 grep -q '"arith":[[:space:]]*"f32"' "$T/e.json"
$Q eval $M -r $R --data share/data/eval.txt --ctx 64 --chunks 1 --arith bf16 --json >"$T/eb.json" 2>"$T/eb.err"
check arith_eval_json_bf16 grep -q '"arith":[[:space:]]*"bf16"' "$T/eb.json"
$Q eval $M --quantized "$T/bf16" --data share/data/eval.txt --ctx 64 --chunks 1 --arith f32 --json >"$T/eq.json" 2>"$T/eq.err"
check arith_eval_checkpoint_own_mode grep -q '"arith":[[:space:]]*"bf16"' "$T/eq.json"
# every command that quantizes or previews takes --arith and computes in it
# (int8 per channel: 9% of the codes differ between the modes)
for a in f32 bf16; do
    $Q preview $M -r recipes/tiny-w8a16.yaml --arith $a --json 2>/dev/null | tr -d ' \t\n' | grep -o '"total":{[^}]*}' >"$T/pv.$a"
    $Q sensitivity $M --scheme int8-ch-sym --data share/data/eval.txt --ctx 64 --chunks 1 --arith $a --json 2>/dev/null |
        tr -d ' \t\n' | grep -o '"sum_dkl":[^,]*' >"$T/se.$a"
    $Q plan $M --data share/data/eval.txt --dkl-ctx 64 --dkl-chunks 1 --candidates int8-ch-sym,int4-g128-sym \
        --target-bpw 6 --arith $a --json 2>/dev/null | tr -d ' \t\n' | grep -o '"sum_dkl":[^,]*' | head -n 1 >"$T/pl.$a"
done
for c in pv se pl; do
    check arith_${c}_computed test -s "$T/$c.f32" -a -s "$T/$c.bf16"
    check arith_${c}_modes_differ sh -c "! cmp -s '$T/$c.f32' '$T/$c.bf16'"
done
