#!/bin/sh
# qtune report: a checkpoint and a session (laid out by hand as the daemon
# keeps one: recipe, variants A and B, finished eval and sensitivity jobs,
# the deploy GPU) into HTML, Markdown with SVG files beside it, and JSON;
# the errors.  Then the HTML in a real headless browser: chromium's
# --dump-dom must hold the tables and plots, and its screenshot must show
# the page's layout (pngcheck measures regions of the PNG).  Without
# chromium those checks say SKIP (QTUNE_TEST_BROWSER=1, as .ci/run sets,
# makes that a failure; QTUNE_BROWSER names another browser binary).
. tests/cli/lib.sh
PNGCHECK=${QTUNE_TESTBIN:-build/tests}/tools/pngcheck
D=share/data/calib.txt
H="$T/home"
mkdir -p "$H"; chmod 700 "$H"
export QTUNE_HOME="$H"

# a checkpoint, and real eval / sensitivity reports of its recipe (short: 32 tokens)
$Q quantize $M -r recipes/tiny-w4a16.yaml -o "$T/ckpt" >"$T/q.out" 2>&1 || fail "report: quantize the fixture" "$(tail -n 3 "$T/q.out")"
$Q eval $M -r recipes/tiny-w4a16.yaml --data $D --ctx 32 --chunks 1 --json >"$T/eval.json" 2>"$T/e.err" ||
    fail "report: eval for the fixture" "$(cat "$T/e.err")"
$Q sensitivity $M -r recipes/tiny-w4a16.yaml --data $D --by layer --ctx 32 --chunks 1 --json >"$T/sens.json" 2>"$T/s.err" ||
    fail "report: sensitivity for the fixture" "$(cat "$T/s.err")"

# ---- a checkpoint
cp "$T/eval.json" "$T/ckpt/qtune-eval.json"
$Q report "$T/ckpt" -o "$T/ck.md" --dkl "$T/sens.json" >"$T/out" 2>"$T/err"
check "report: checkpoint to Markdown exits 0" [ $? = 0 ]
grep -q "^wrote $T/ck-err.svg" "$T/out" && grep -q "^wrote $T/ck-dkl.svg" "$T/out" && grep -q "^wrote $T/ck.md" "$T/out" \
    && pass "report: says the files it wrote" || fail "report: says the files it wrote" "$(cat "$T/out" "$T/err")"
grep -q '^# qtune report: ckpt$' "$T/ck.md" && pass "report: md title" || fail "report: md title" "$(head -n 2 "$T/ck.md")"
for s in Recipe Sizes Deploy Lint Evaluation "Per layer"; do
    grep -q "^## $s\$" "$T/ck.md" && pass "report: md section $s" || fail "report: md section $s"
done
grep -q '^```yaml$' "$T/ck.md" && grep -q 'scheme: W4A16' "$T/ck.md" && pass "report: md recipe fenced" || fail "report: md recipe fenced"
grep -q '^| routed experts | 4.72M | 9.00 MiB | 2.32 MiB | `int4-g128-sym` |$' "$T/ck.md" \
    && pass "report: md sizes row" || fail "report: md sizes row" "$(grep 'routed' "$T/ck.md")"
grep -q '^| 1 | 22.87 MiB | 1.00 KiB | [0-9]* | 4096 | [0-9.]*x | yes |$' "$T/ck.md" \
    && pass "report: md deploy row (ctx capped at the model's 4096)" || fail "report: md deploy row" "$(grep '^| 1 ' "$T/ck.md")"
kl=$(sed -n 's/.*"mean":[[:space:]]*\([0-9.e-]*\).*/\1/p' "$T/eval.json" | head -n 1)
klf=$(printf '%.6f' "$kl")
grep -q "^| KL mean | $klf |\$" "$T/ck.md" && pass "report: md eval statistics from qtune-eval.json" \
    || fail "report: md eval statistics from qtune-eval.json" "want $klf: $(grep 'KL mean' "$T/ck.md")"
grep -q "^From the checkpoint's qtune-eval.json" "$T/ck.md" && pass "report: md names the eval's source" || fail "report: md names the eval's source"
grep -q '^!\[Weight error per layer\](ck-err.svg)$' "$T/ck.md" && grep -q '](ck-dkl.svg)$' "$T/ck.md" \
    && pass "report: md links the SVGs beside it" || fail "report: md links the SVGs beside it" "$(grep 'svg' "$T/ck.md")"
head -c 5 "$T/ck-err.svg" | grep -q '<?xml' && grep -q '<svg xmlns="http://www.w3.org/2000/svg"' "$T/ck-err.svg" \
    && [ "$(grep -o 'fill="#2563eb"' "$T/ck-err.svg" | wc -l)" = 4 ] \
    && pass "report: err SVG has a bar per quantized layer" || fail "report: err SVG has a bar per quantized layer"
[ "$(grep -o 'fill="#ea580c"' "$T/ck-dkl.svg" | wc -l)" -ge 3 ] && pass "report: dKL SVG has bars" || fail "report: dKL SVG has bars"
# every Markdown table row has its header's cell count (a pipe in a name never splits a cell)
awk '/^\|/ { n = gsub(/\|/, "|") - gsub(/\\\|/, "x"); if (hdr == 0) hdr = n; else if (n != hdr) bad = bad NR " " } !/^\|/ { hdr = 0 }
     END { if (bad != "") { print "rows " bad; exit 1 } }' "$T/ck.md" >"$T/awk" \
    && pass "report: md tables are rectangular" || fail "report: md tables are rectangular" "$(cat "$T/awk")"
# per-layer err figures of the source model, layer 4 (MTP) kept
grep -Eq '^\| 1 \| 1\.84M \| 1[01]\.[0-9]{2} \| 0\.[0-9]{5} \|$' "$T/ck.md" && grep -q '^| 4 (MTP) | 0 | - | - |$' "$T/ck.md" \
    && pass "report: md per-layer table" || fail "report: md per-layer table" "$(grep '^| [0-9]' "$T/ck.md" | tail -n 5)"
$Q report "$T/ckpt" -o "$T/np.md" --no-plots >"$T/out" 2>&1
! ls "$T"/np-*.svg >/dev/null 2>&1 && grep -q 'Plots left out' "$T/np.md" && pass "report: --no-plots writes no SVG and says so" \
    || fail "report: --no-plots writes no SVG and says so"
ls -a "$T" | grep -q '\.tmp' && fail "report: no temporary file left" "$(ls -a "$T")" || pass "report: no temporary file left"
# the source model gone: sizes from the checkpoint, no error figures, said so
cp -r "$T/ckpt" "$T/moved"
sed 's|"model":[^,]*|"model": "/nonexistent/source"|' "$T/ckpt/qtune-report.json" >"$T/moved/qtune-report.json"
$Q report "$T/moved" -o "$T/moved.md" >"$T/out" 2>&1
grep -q 'the source model /nonexistent/source is not there' "$T/moved.md" && grep -q '| routed experts | 4.72M | 9.00 MiB | 2.32 MiB |' "$T/moved.md" \
    && pass "report: checkpoint without its source model" || fail "report: checkpoint without its source model" "$(cat "$T/out")"

# ---- a session, as the daemon keeps it
S="$H/sessions/rs"
mkdir -p "$S/history" "$S/variants" "$S/cache" "$S/jobs/1" "$S/jobs/2" "$S/jobs/3"
chmod 700 "$H/sessions" "$S" "$S"/history "$S"/variants "$S"/cache "$S"/jobs "$S"/jobs/*
cp recipes/tiny-w4a16.yaml "$S/history/000001.yaml"
cp recipes/tiny-w4a16.yaml "$S/recipe.yaml"
cp recipes/tiny-w4a16.yaml "$S/variants/A.yaml"
cp recipes/tiny-w8a16.yaml "$S/variants/B.yaml"
printf '{"name":"rs","model":"%s","created":0,"updated":0,"history":{"cur":1,"max":1}}\n' "$(pwd)/$M" >"$S/session.json"
printf '{"gpu":"H200"}\n' >"$S/settings.json"
cp recipes/tiny-w4a16.yaml "$S/jobs/1/recipe.yaml"
printf '{"id":1,"kind":"eval","state":"done","params":{"data":"%s","ctx":32,"chunks":1}}\n' "$(pwd)/$D" >"$S/jobs/1/job.json"
cp "$T/eval.json" "$S/jobs/1/report.json"
cp recipes/tiny-w8a16.yaml "$S/jobs/2/recipe.yaml"
printf '{"id":2,"kind":"eval","state":"done","params":{}}\n' >"$S/jobs/2/job.json"
sed 's/"mean":[[:space:]]*[0-9.e-]*/"mean": 0.00123/' "$T/eval.json" >"$S/jobs/2/report.json"
cp recipes/tiny-w4a16.yaml "$S/jobs/3/recipe.yaml"
printf '{"id":3,"kind":"sensitivity","state":"done","params":{"data":"%s"}}\n' "$(pwd)/$D" >"$S/jobs/3/job.json"
cp "$T/sens.json" "$S/jobs/3/report.json"
$Q report rs -o "$T/s.md" >"$T/out" 2>"$T/err"
check "report: session to Markdown exits 0" [ $? = 0 ]
grep -q '^From session rs, recipe version 1\.$' "$T/s.md" && pass "report: session recipe" || fail "report: session recipe" "$(cat "$T/err")"
grep -q '^From eval job 1 (data calib.txt, ctx 32 x 1 chunks)' "$T/s.md" && pass "report: the eval job of the current recipe" \
    || fail "report: the eval job of the current recipe" "$(grep '^From' "$T/s.md")"
grep -q '^ΔKL from sensitivity job 3 ' "$T/s.md" && pass "report: the sensitivity job" || fail "report: the sensitivity job"
grep -q '^On H200 ' "$T/s.md" && pass "report: the session's deploy GPU" || fail "report: the session's deploy GPU"
grep -q '^## Variants$' "$T/s.md" && grep -q '^| current = A | ' "$T/s.md" && grep -q '^| B | .* | 0.00123 ± ' "$T/s.md" \
    && pass "report: variants with their eval jobs' KL" || fail "report: variants with their eval jobs' KL" "$(sed -n '/## Variants/,+8p' "$T/s.md")"
grep -q '^| `model.layers.1.mlp.experts.\*.gate_proj` | 16 | `int4-g128-sym` | `int4-g128-sym` | `int8-g128-sym` |$' "$T/s.md" \
    && pass "report: scheme differences folded per expert group" || fail "report: scheme differences folded per expert group" "$(grep 'experts' "$T/s.md" | head -n 3)"
$Q report rs -o "$T/s.json" >"$T/out" 2>&1
grep -q '"differs"' "$T/s.json" && grep -q '"variants"' "$T/s.json" && pass "report: .json writes the data" || fail "report: .json writes the data"
$Q report rs -o "$T/s.html" --gpu H100 >"$T/out" 2>&1
check "report: session to HTML exits 0" [ $? = 0 ]
grep -q '<script' "$T/s.html" && fail "report: html has no script" || pass "report: html has no script"
grep -Eq 'src=|https?://' "$T/s.html" && fail "report: html fetches nothing" "$(grep -Eo '(src=|https?://)[^ ]*' "$T/s.html" | head -n 3)" \
    || pass "report: html fetches nothing"

# ---- errors: one line, exit 1 (2 for usage)
expect_err "report: unknown session" "qtune: report: nosuch: no such session or checkpoint directory (qtune ls lists sessions)" \
    $Q report nosuch -o "$T/x.html"
expect_err "report: unknown format" "qtune: report: $T/x.pdf: unknown format (use .html, .md or .json)" $Q report rs -o "$T/x.pdf"
expect_err "report: not a checkpoint" "qtune: report: $T: not a checkpoint (no config.json)" $Q report "$T" -o "$T/x.md"
expect_err "report: bad --dkl" "no \"units\"" $Q report rs -o "$T/x.md" --dkl "$T/eval.json"
expect_err "report: unknown GPU" "qtune: report: --gpu Z80: not in the catalog" $Q report rs -o "$T/x.md" --gpu Z80
expect_err "report: unwritable output" "qtune: .*x.md" $Q report rs -o "$T/nodir/x.md" --no-plots
$Q report rs >"$T/out" 2>&1; [ $? = 2 ] && pass "report: no -o is a usage error" || fail "report: no -o is a usage error"
$Q report --help >"$T/out" 2>&1 && grep -q '^usage: qtune report SESSION|CHECKPOINT -o FILE.html|FILE.md|FILE.json' "$T/out" \
    && grep -q -- '--no-error' "$T/out" && pass "report: --help" || fail "report: --help" "$(head -n 2 "$T/out")"

# ---- the HTML in a real browser
# QTUNE_BROWSER: the browser to use ("" acts as if none were installed)
BROWSER=${QTUNE_BROWSER-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$BROWSER" ]; then
    if [ "${QTUNE_TEST_BROWSER:-0}" = 1 ]; then
        fail "report-browser: chromium installed" "QTUNE_TEST_BROWSER=1 but no chromium on the PATH"
    else
        echo "SKIP report-browser: chromium not installed (apt-get install --no-install-recommends chromium; .ci/run does)"
    fi
    exit 0
fi
# the page is qtune's own, with no script: no sandbox needed (and none as root)
chrome() {
    timeout 300 "$BROWSER" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions \
        --disable-dev-shm-usage --user-data-dir="$T/chrome" "$@"
}
chrome --dump-dom "file://$T/s.html" >"$T/dom.html" 2>"$T/chrome.err"
grep -q '<h1>qtune report: rs</h1>' "$T/dom.html" && pass "report-browser: dump-dom parses the page" \
    || fail "report-browser: dump-dom parses the page" "$(tail -n 3 "$T/chrome.err")"
[ "$(grep -o '<table' "$T/dom.html" | wc -l)" -ge 6 ] && pass "report-browser: dom has the tables" \
    || fail "report-browser: dom has the tables" "$(grep -o '<table[^>]*>' "$T/dom.html")"
[ "$(grep -o '<svg ' "$T/dom.html" | wc -l)" = 2 ] && [ "$(grep -o 'fill="#2563eb"' "$T/dom.html" | wc -l)" = 4 ] \
    && pass "report-browser: dom has both plots with a bar per layer" || fail "report-browser: dom has both plots with a bar per layer"
chrome --window-size=1200,4000 --screenshot="$T/shot.png" "file://$T/s.html" >"$T/shot.out" 2>&1
if [ ! -s "$T/shot.png" ]; then
    fail "report-browser: screenshot written" "$(tail -n 3 "$T/shot.out")"
    exit 0
fi
pass "report-browser: screenshot written"
# figures of a region: ink (share differing from its commonest colour), colours, matches of a colour
fig() { "$PNGCHECK" "$T/shot.png" "$@"; }
val() { echo "$1" | sed -n "s/.* $2=\([-0-9.]*\).*/\1/p"; }
all=$(fig 0 0 1200 4000)
echo "$all" | grep -q '^w=1200 h=4000 ' && pass "report-browser: screenshot is 1200x4000" || fail "report-browser: screenshot is 1200x4000" "$all"
awk "BEGIN { exit !($(val "$all" ink) > 0.03 && $(val "$all" colors) > 30) }" \
    && pass "report-browser: the page is not blank" || fail "report-browser: the page is not blank" "$all"
hdr=$(fig 0 0 1200 40 1f2937)
awk "BEGIN { exit !($(val "$hdr" match) > 0.6 * 48000) }" && pass "report-browser: dark header band on top" \
    || fail "report-browser: dark header band on top" "$hdr"
title=$(fig 16 4 500 36)
awk "BEGIN { exit !($(val "$title" ink) > 0.03) }" && pass "report-browser: header has its title text" \
    || fail "report-browser: header has its title text" "$title"
cards=$(fig 0 40 1200 200 16a34a)
awk "BEGIN { exit !($(val "$cards" match) > 100) }" && pass "report-browser: summary cards under the header" \
    || fail "report-browser: summary cards under the header" "$cards"
err=$(fig 0 0 1200 4000 2563eb)
dkl=$(fig 0 0 1200 4000 ea580c)
e1=$(val "$err" first); e2=$(val "$err" last); k1=$(val "$dkl" first); k2=$(val "$dkl" last)
awk "BEGIN { exit !($(val "$err" match) > 2000 && $(val "$dkl" match) > 1000 && $e1 > 200 && $k1 > $e2) }" \
    && pass "report-browser: err plot drawn, dKL plot below it" || fail "report-browser: err plot drawn, dKL plot below it" "$err / $dkl"
below=$(fig 0 $((k2 + 40)) 1200 $((k2 + 600)))
awk "BEGIN { exit !($(val "$below" ink) > 0.02) }" && pass "report-browser: variants tables below the plots" \
    || fail "report-browser: variants tables below the plots" "$below"
