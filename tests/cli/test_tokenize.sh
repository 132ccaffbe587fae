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
expect_err tokenize_missing_model "tokenizer.json: No such file" "$Q" tokenize "$T" "hi"
printf '{"model": {"type": "BPE", "vocab": {' >"$T/bad.json"
expect_err tokenize_bad_json "bad.json: bad JSON" "$Q" tokenize "$T/bad.json" "hi"
printf '{"model": {"type": "Unigram", "vocab": []}}' >"$T/uni.json"
expect_err tokenize_unsupported_type "model type Unigram is not supported" "$Q" tokenize "$T/uni.json" "hi"
printf 'ab\377\n' >"$T/latin1.txt"
expect_err tokenize_bad_utf8 "latin1.txt: tokenizer: text is not valid UTF-8" "$Q" tokenize "$M" --file "$T/latin1.txt"
expect_err tokenize_usage "usage: qtune tokenize" "$Q" tokenize "$M"
expect_err tokenize_both_inputs "usage: qtune tokenize" "$Q" tokenize "$M" --file "$T/chat.txt" "text"
expect_err tokenize_unknown_option "unknown option --frob" "$Q" tokenize "$M" --frob "x"
