#!/bin/sh
# qtune tokenize: text and JSON output, --file, and its errors.
. tests/cli/lib.sh

out=$("$Q" tokenize "$M" "Hello world" 2>"$T/err")
check tokenize_text_ids [ "$(printf '%s\n' "$out" | sed -n 1p)" = "39 531 78 2142" ]
check tokenize_text_count [ "$(printf '%s\n' "$out" | sed -n 2p)" = "4 tokens" ]

# The tokenizer.json path works as well as the model directory.
out=$("$Q" tokenize "$M/tokenizer.json" "Hello world" | head -n 1)
check tokenize_json_path [ "$out" = "39 531 78 2142" ]

# --json: one document with the ids and the count; added tokens are matched.
printf '<|user|>\nhi<|assistant|>\n' >"$T/chat.txt"
"$Q" tokenize "$M" --file "$T/chat.txt" --json >"$T/chat.json" 2>"$T/err"
check tokenize_json_rc [ $? = 0 ]
flat=$(tr -d ' \t\n' <"$T/chat.json")
check tokenize_json_ids [ "$flat" = '{"ids":[8187,198,71,72,8188,198],"count":6}' ]

# The eval text: the count pinned from the Hugging Face tokenizers library.
n=$("$Q" tokenize "$M" --file share/data/eval.txt | tail -n 1)
check tokenize_eval_count [ "$n" = "92225 tokens" ]

# Empty text: no ids.
out=$("$Q" tokenize "$M" --json "" | tr -d ' \t\n')
check tokenize_empty [ "$out" = '{"ids":[],"count":0}' ]

expect_err tokenize_missing_file "$T/nope.txt: No such file" "$Q" tokenize "$M" --file "$T/nope.txt"
expect_err tokenize_missing_model "$T: no tokenizer.json (none in this directory)" "$Q" tokenize "$T" "hi"
expect_err tokenize_missing_file_path "nope.json: No such file" "$Q" tokenize "$T/nope.json" "hi"
# a config-only model has no tokenizer: say so (not a JSON complaint about the config)
expect_err tokenize_config_only "GLM-4.6.config.json: no tokenizer.json (a config-only model has no tokenizer" \
    "$Q" tokenize share/models/meta/GLM-4.6.config.json "hi"
# a config.json with a tokenizer beside it is as good as the directory
out=$("$Q" tokenize "$M/config.json" "Hello world" | head -n 1)
check tokenize_config_beside [ "$out" = "39 531 78 2142" ]
printf '{"model": {"type": "BPE", "vocab": {' >"$T/bad.json"
expect_err tokenize_bad_json "bad.json: bad JSON" "$Q" tokenize "$T/bad.json" "hi"
printf '{"model": {"type": "Unigram", "vocab": []}}' >"$T/uni.json"
expect_err tokenize_unsupported_type "model type Unigram is not supported" "$Q" tokenize "$T/uni.json" "hi"
printf 'ab\377\n' >"$T/latin1.txt"
expect_err tokenize_bad_utf8 "latin1.txt: tokenizer: text is not valid UTF-8" "$Q" tokenize "$M" --file "$T/latin1.txt"
expect_err tokenize_usage "usage: qtune tokenize" "$Q" tokenize "$M"
expect_err tokenize_both_inputs "usage: qtune tokenize" "$Q" tokenize "$M" --file "$T/chat.txt" "text"
expect_err tokenize_unknown_option "unknown option --frob" "$Q" tokenize "$M" --frob "x"

# --pieces: one token a line, id, the text it stands for (escaped), the
# vocabulary spelling when it differs
"$Q" tokenize "$M" --pieces "Hello world
it's" >"$T/pieces" 2>"$T/err"
check tokenize_pieces_rc [ $? = 0 ]
check tokenize_pieces_first [ "$(sed -n 1p "$T/pieces")" = "    39  'H'" ]
check tokenize_pieces_space [ "$(sed -n 4p "$T/pieces")" = "  2142  ' world'  Ġworld" ]
check tokenize_pieces_newline [ "$(sed -n 5p "$T/pieces")" = "   198  '\n'  Ċ" ]
check tokenize_pieces_quote [ "$(sed -n 7p "$T/pieces")" = "   519  '\\'s'" ]
check tokenize_pieces_count [ "$(tail -n 1 "$T/pieces")" = "7 tokens" ]
out=$("$Q" tokenize "$M" --pieces --json "Hello world" | tr -d ' \t\n')
check tokenize_pieces_json [ "$out" = '{"ids":[39,531,78,2142],"count":4,"pieces":["H","ell","o","world"],"tokens":["H","ell","o","Ġworld"]}' ]
