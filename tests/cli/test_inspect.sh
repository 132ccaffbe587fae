# qtune inspect: the fixture, metadata-only configs, and bad input.  Every
# bad file must give one "qtune: <file>: <problem>" line and a non-zero exit,
# never a crash.
. tests/cli/lib.sh

# --- the fixture ---
$Q inspect $M --json >"$T/fx.json" 2>"$T/err"
check inspect_json_exit test $? = 0
check inspect_json_fields grep -q '"arch":[[:space:]]*"glm4_moe"' "$T/fx.json"
check inspect_json_layers grep -q '"layers":[[:space:]]*4,' "$T/fx.json"
check inspect_json_mtp grep -q '"mtp_layers":[[:space:]]*1,' "$T/fx.json"
check inspect_json_experts grep -q '"experts":[[:space:]]*16,' "$T/fx.json"
check inspect_json_279 test "$(grep -c '"role":' "$T/fx.json")" = 279
check inspect_json_group grep -q '"group":[[:space:]]*"model.layers.3.mlp.experts"' "$T/fx.json"
$Q inspect $M >"$T/fx.txt"
check inspect_text_layers grep -q '^layer 4 (MTP) — MoE' "$T/fx.txt"
check inspect_text_experts_summarized grep -q 'mlp.experts.{0..15}.{gate,up,down}' "$T/fx.txt"
check inspect_text_no_expert_rows sh -c "! grep -q 'experts.7.up_proj' '$T/fx.txt'"
check inspect_text_279 grep -q '^tensors   279 in 4 files' "$T/fx.txt"
$Q inspect share/models/meta/GLM-4.6.config.json --json >"$T/g46.json"
check inspect_meta_glm46 grep -q '"metadata_only":[[:space:]]*true' "$T/g46.json"
mkdir -p "$T/cfgonly" && cp share/models/meta/GLM-4.5-Air.config.json "$T/cfgonly/config.json"
$Q inspect "$T/cfgonly" >"$T/air.txt"
check inspect_meta_dir grep -q '^params    106.85B' "$T/air.txt"
check inspect_help sh -c "$Q inspect --help | grep -q usage"

# --- crafted bad input ---
# mkst FILE HEADER NDATA: a safetensors file with the given JSON header and
# NDATA zero bytes of data; LEN overrides the header length field.
mkst() {
    f=$1; h=$2; n=$3; len=${LEN:-${#h}}
    printf '%b' "$(printf '\\%03o' $((len & 255)) $(((len >> 8) & 255)) $(((len >> 16) & 255)) $(((len >> 24) & 255)) 0 0 0 0)" >"$f"
    printf '%s' "$h" >>"$f"
    head -c "$n" /dev/zero >>"$f"
}
B="$T/bad"; mkdir -p "$B"
cp $M/config.json "$B/config.json"
good='{"a.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}'
mkst "$B/ok.safetensors" "$good" 8
check bad_control_ok $Q inspect "$B/ok.safetensors" >/dev/null

mkst "$B/trunc.safetensors" "$good" 4
expect_err bad_truncated_shard "trunc.safetensors: tensor \"a.weight\": data_offsets .* beyond the data" $Q inspect "$B/trunc.safetensors"
LEN=5000 mkst "$B/hlen.safetensors" "$good" 8
expect_err bad_header_length "hlen.safetensors: header length 5000 beyond the end of the file" $Q inspect "$B/hlen.safetensors"
LEN=200000000 mkst "$B/hbig.safetensors" "$good" 8
expect_err bad_header_too_big "hbig.safetensors: header length 200000000 exceeds" $Q inspect "$B/hbig.safetensors"
mkst "$B/notjson.safetensors" '{"a.weight": [oops' 8
expect_err bad_header_not_json "notjson.safetensors: header is not valid JSON" $Q inspect "$B/notjson.safetensors"
mkst "$B/range.safetensors" '{"a.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]}}' 8
expect_err bad_offsets_out_of_range "range.safetensors: tensor \"a.weight\": data_offsets \[8, 16\] beyond" $Q inspect "$B/range.safetensors"
mkst "$B/overlap.safetensors" '{"a.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"b.weight":{"dtype":"BF16","shape":[2,2],"data_offsets":[4,12]}}' 12
expect_err bad_offsets_overlap "overlap.safetensors: tensors \"a.weight\" and \"b.weight\" overlap" $Q inspect "$B/overlap.safetensors"
mkst "$B/size.safetensors" '{"a.weight":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}}' 8
expect_err bad_size_shape_mismatch "size.safetensors: tensor \"a.weight\": 8 bytes but shape × BF16 needs 12" $Q inspect "$B/size.safetensors"
mkst "$B/dtype.safetensors" '{"a.weight":{"dtype":"Q4_K","shape":[2,2],"data_offsets":[0,8]}}' 8
expect_err bad_unknown_dtype "dtype.safetensors: tensor \"a.weight\": unknown dtype \"Q4_K\"" $Q inspect "$B/dtype.safetensors"
printf 'abc' >"$B/tiny.safetensors"
expect_err bad_too_short "tiny.safetensors: too short" $Q inspect "$B/tiny.safetensors"

# index naming a missing shard / a tensor the shard lacks
S="$T/shards"; mkdir -p "$S"; cp $M/config.json "$S/"
mkst "$S/model-00001-of-00002.safetensors" "$good" 8
printf '{"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00002-of-00002.safetensors"}}' >"$S/model.safetensors.index.json"
expect_err bad_index_missing_shard "model.safetensors.index.json: names shard \"model-00002-of-00002.safetensors\", which does not exist" $Q inspect "$S"
printf '{"weight_map":{"a.weight":"model-00001-of-00002.safetensors","c.weight":"model-00001-of-00002.safetensors"}}' >"$S/model.safetensors.index.json"
expect_err bad_index_missing_tensor "names tensor \"c.weight\" in shard \"model-00001-of-00002.safetensors\", which lacks it" $Q inspect "$S"
printf '{"weight_map": 3}' >"$S/model.safetensors.index.json"
expect_err bad_index_no_weight_map "model.safetensors.index.json: missing \"weight_map\"" $Q inspect "$S"

# config.json problems
C="$T/cfg"; mkdir -p "$C"
grep -v '"hidden_size"' $M/config.json >"$C/config.json"
expect_err bad_config_missing_field "config.json: missing required field \"hidden_size\"" $Q inspect "$C"
printf '{"model_type": "glm4_moe", ' >"$C/config.json"
expect_err bad_config_not_json "config.json: not valid JSON" $Q inspect "$C"
sed 's/"num_hidden_layers": 4/"num_hidden_layers": "four"/' $M/config.json >"$C/config.json"
expect_err bad_config_wrong_type "config.json: field \"num_hidden_layers\" must be a non-negative integer" $Q inspect "$C"
E="$T/empty"; mkdir -p "$E"
expect_err bad_empty_dir "empty: no config.json and no .safetensors files" $Q inspect "$E"
expect_err bad_no_such_path "nowhere: No such file or directory" $Q inspect "$T/nowhere"
expect_err bad_usage "usage: qtune inspect" $Q inspect
