#!/bin/sh
# Finding one's way in the tree (issue 17 points 12, 13, 10): sort by a
# column (keys and a click on the header), filter, go to layer N, search hit
# counts, the mouse, the layer strip (the tiny model and GLM-4.6's 93
# layers from its config alone), and the narrow-screen, prompt and message
# fixes.  Key scripts on a virtual screen; the screens that matter are
# golden (tests/golden/tui-nav-*.txt, QTUNE_UPDATE_GOLDEN=1 rewrites them),
# the rest are checked line by line.
. tests/cli/lib.sh
G=tests/golden
mkdir -p "$T"
# run NAME SIZE MODEL [OPTS] < script: runs the script (D/ is its folder)
run() {
    name=$1 size=$2 model=$3; shift 3
    d="$T/$name"; mkdir -p "$d"
    script_in "$d" >"$d/script"
    if ! (cd "$d" && QTUNE_HOME="$d/home" LC_ALL=C.UTF-8 COLUMNS=${size%x*} LINES=${size#*x} QTUNE_SCRIPT="$d/script" \
            "$OLDPWD/$Q" "$OLDPWD/$model" --no-daemon "$@" >"$d/out" 2>"$d/err"); then
        fail "tui nav $name: run" "$(head -c 300 "$d/err")"; return 1
    fi
}
# golden NAME FILE: FILE against tests/golden/tui-nav-NAME.txt
golden() {
    g="$G/tui-nav-$1.txt"
    if [ "${QTUNE_UPDATE_GOLDEN:-}" = 1 ]; then cp "$2" "$g"; fi
    if diff -u "$g" "$2" >"$2.diff" 2>&1; then pass "tui nav golden $1"
    else fail "tui nav golden $1" "$(head -n 20 "$2.diff")"; fi
}
# has NAME FILE REGEX: a line of the screen matches
has() { if grep -Eq -- "$3" "$2"; then pass "$1"; else fail "$1" "no /$3/ in: $(cat "$2")"; fi; }
hasnt() { if grep -Eq -- "$3" "$2"; then fail "$1" "/$3/ in: $(cat "$2")"; else pass "$1"; fi; }
# the row of the screen where REGEX first matches (1-based)
row_of() { grep -En -- "$2" "$1" | head -n 1 | cut -d: -f1; }

# ---- 17.12 sort, filter, jump, hit counts ----
run sort 120x40 share/models/tiny-glm-moe <<'KEYS'
# layer 1's experts at int4, experts 3 and 4 at int3
j j <Enter> j j j <Enter>
- - - - -
/
:type expert 3
<Enter> <Space> <Space> -
<Esc>
# > sorts by err% (largest first): the int3 experts lead their siblings
>
:dump D/sort-err.txt
# < reverses: the smallest error first
<lt>
:dump D/sort-rev.txt
# > again: dKL (none yet: tree order within), then params, bytes, tree order
> > > >
:dump D/sort-off.txt
KEYS
golden sort-err "$T/sort/sort-err.txt"
has "sort: the header marks the column" "$T/sort/sort-err.txt" 'err%▼'
e4=$(row_of "$T/sort/sort-err.txt" 'expert 4 ') e0=$(row_of "$T/sort/sort-err.txt" 'expert 0 ')
check "sort: the int3 expert comes before expert 0" test "${e4:-99}" -lt "${e0:-0}"
has "sort reversed: smallest first, marked" "$T/sort/sort-rev.txt" 'err%▲'
e4=$(row_of "$T/sort/sort-rev.txt" 'expert 4 ') e0=$(row_of "$T/sort/sort-rev.txt" 'expert 0 ')
check "sort reversed: expert 0 before the int3 expert" test "${e0:-99}" -lt "${e4:-0}"
has "sort off: tree order" "$T/sort/sort-off.txt" '^tree order'
e4=$(row_of "$T/sort/sort-off.txt" 'expert 4 ') e0=$(row_of "$T/sort/sort-off.txt" 'expert 0 ')
check "sort off: expert 0 before expert 4 again" test "${e0:-99}" -lt "${e4:-0}"

run filter 120x40 share/models/tiny-glm-moe <<'KEYS'
j j <Enter> j j j <Enter>
- - - - -
/
:type expert 3
<Enter> <Space> <Space> -
<Esc>
# f: the live count before it applies
f
:type scheme:int3
:dump D/prompt.txt
<Enter>
:dump D/int3.txt
# every layer's router, wherever the tree is collapsed
f
<C-u>
:type role:router
<Enter>
:dump D/router.txt
# a name pattern (a glob) and "quantized", together
f
<C-u>
:type q experts.1*.down
<Enter>
:dump D/glob.txt
# lint: the tensors a finding names
f
<C-u>
:type lint
<Enter>
:dump D/lint.txt
# nothing matches; an empty filter clears
f
<C-u>
:type scheme:nvfp4
<Enter>
:dump D/none.txt
f
<C-u> <Enter>
:dump D/cleared.txt
KEYS
has "filter prompt: live tensor count" "$T/filter/prompt.txt" '^filter: scheme:int3 .* 6 tensors$'
golden filter-int3 "$T/filter/int3.txt"
has "filter: the header names it" "$T/filter/int3.txt" 'name \[scheme:int3\]'
hasnt "filter int3: no other expert" "$T/filter/int3.txt" 'expert (0|5) '
check "filter router: one row per MoE layer" test "$(grep -c 'router (mlp.gate)' "$T/filter/router.txt")" = 4
hasnt "filter router: no attention" "$T/filter/router.txt" 'attention'
has "filter glob: expert 1x down_proj" "$T/filter/glob.txt" 'filter q experts.1\*.down: 7 tensors'
has "filter lint: the experts QT002 names" "$T/filter/lint.txt" 'filter lint: [1-9][0-9]* tensors?'
has "filter nothing: says so" "$T/filter/none.txt" 'nothing matches the filter'
has "filter cleared" "$T/filter/cleared.txt" '^filter cleared'
has "filter cleared: the tree is back" "$T/filter/cleared.txt" 'embed_tokens'

run jump 120x40 share/models/meta/GLM-4.6.config.json <<'KEYS'
# a number types into the go-to prompt; Enter goes
4 2 <Enter>
:dump D/42.txt
<Esc> :
:type 7
<Enter> <Enter>
:dump D/7.txt
<Esc> : 9 9 9 <Enter>
:dump D/999.txt
/
:type shared expert
<Enter> n n
:dump D/search.txt
KEYS
has "jump: layer 42 selected at the top" "$T/jump/42.txt" '^▶ ▸ layer 42  MoE'
check "jump: layer 42 is the first row" test "$(row_of "$T/jump/42.txt" '^▶ ▸ layer 42 ')" = 3
has "jump: : then the number" "$T/jump/7.txt" '^▶ ▾ layer 7  MoE'
has "jump: a layer that is not there" "$T/jump/999.txt" 'go to layer: 999: no such layer \(0\.\.92\)'
has "search: hit counts" "$T/jump/search.txt" '/shared expert: shared expert  \([0-9]+ of 90\)'

# ---- the mouse (script events; test_tui_tmux.sh sends real ones) ----
run mouse 120x24 share/models/tiny-glm-moe <<'KEYS'
j j <Enter>
# a click on row 6 (y 6: "router") selects it
<Click:20,6>
:dump D/click.txt
# the header's "params" sorts by params; again reverses
<Click:27,1>
:dump D/hdr.txt
<Click:27,1>
:dump D/hdr2.txt
# a click on "name" is tree order again; the expander toggles
<Click:5,1>
<Click:4,7>
:dump D/expander.txt
# the wheel scrolls the view
<WheelDown:20,10> <WheelDown:20,10> <WheelDown:20,10> <WheelDown:20,10> <WheelDown:20,10> <WheelDown:20,10>
:dump D/wheel.txt
KEYS
has "mouse: a click selects" "$T/mouse/click.txt" '^▶   ─ router'
has "mouse: header click sorts by params" "$T/mouse/hdr.txt" 'params▼'
has "mouse: header click again reverses" "$T/mouse/hdr2.txt" 'params▲'
has "mouse: the expander opens the experts" "$T/mouse/expander.txt" '▾ routed exper… \(16\)'
has "mouse: expander, children shown" "$T/mouse/expander.txt" 'expert 15 '
hasnt "mouse: the wheel scrolled the top rows away" "$T/mouse/wheel.txt" 'embed_tokens'

# ---- 17.13 the layer strip ----
run strip 120x40 share/models/tiny-glm-moe <<'KEYS'
j j <Enter> j j j
- - - - -
L
:dump D/tiny.txt
l j j j
:dump D/moved.txt
<Enter>
:dump D/tree.txt
KEYS
golden strip-tiny "$T/strip/tiny.txt"
has "strip: selected part line" "$T/strip/moved.txt" '^ layer 1  routed exper.*int4-g128-sym.*err 11\.[0-9][0-9]%'
has "strip: Enter shows it in the tree" "$T/strip/tree.txt" '^▶   ▸ routed exper'
printf 'L\n:dump D/wide.txt\n:size 80x24\n:dump D/narrow.txt\n' | run strip46 120x40 share/models/meta/GLM-4.6.config.json \
    -r "$PWD/recipes/glm-4.6-awq-w4a16.yaml"
golden strip-glm46-120 "$T/strip46/wide.txt"
golden strip-glm46-80 "$T/strip46/narrow.txt"
has "strip 80 columns: two layers a cell" "$T/strip46/narrow.txt" 'layer \(2/cell\)'

# dKL on layer rows: the sum of the layer's groups
run dkl 120x30 share/models/tiny-glm-moe <<'KEYS'
j j <Enter> j j j
e
:wait-idle
:dump D/dkl.txt
L m
:dump D/strip.txt
KEYS
has "dKL on a layer row" "$T/dkl/dkl.txt" 'layer 2  MoE .* 0\.[0-9]{4} │'
has "job message follows the job" "$T/dkl/dkl.txt" '^job 1 \(sensitivity\): done'
has "strip dKL: the scale" "$T/dkl/strip.txt" 'of the largest dKL'

# ---- 17.10 ----
run narrow 80x24 share/models/tiny-glm-moe <<'KEYS'
# the bottom row: expanding shows the children
j j <Enter> j j j
- - - - -
<Enter> <End> <Up>
:dump D/before.txt
<Enter>
:dump D/expanded.txt
/
:type expert 0
<Enter> <Enter> j
:dump D/tensor.txt
# the recipe pane scrolls sideways
r <Tab> <Right> <Right>
:dump D/hscroll.txt
# undo / redo say the version they restored
<Esc> <Esc> - u
:dump D/undo.txt
U
:dump D/redo.txt
KEYS
r=$(grep -n '^▶' "$T/narrow/before.txt" | cut -d: -f1)
check "narrow: the cursor is on the bottom row" test "${r:-0}" -ge 20
has "narrow: expanding on the bottom row shows its children" "$T/narrow/expanded.txt" '^ +─ shared_head\.head'
hasnt "narrow: no number cut into another (mxfp4 11.3)" "$T/narrow/tensor.txt" 'nvfp4 +[0-9.]+ +mxfp4'
has "narrow: mxfp4 whole on its own line" "$T/narrow/tensor.txt" '│ mxfp4 11\.[0-9][0-9]$'
has "narrow: routed experts keeps its parenthesis" "$T/narrow/tensor.txt" 'routed exp… \(16\)'
has "recipe pane: scrolled, the cut edge marked" "$T/narrow/hscroll.txt" '│ …'
v1=$(sed -n 's/^undone: recipe version \([0-9]*\)$/\1/p' "$T/narrow/undo.txt")
v2=$(sed -n 's/^redone: recipe version \([0-9]*\)$/\1/p' "$T/narrow/redo.txt")
check "undo names the version restored" test -n "$v1"
check "redo names the version restored (after undo's)" test -n "$v2" -a "${v2:-0}" -gt "${v1:-0}"

# w: the session's name by default, never the -r file; an existing file asks first
cp recipes/glm-4.6-awq-w4a16.yaml "$T/shipped.yaml"
mkdir -p "$T/write"
run write 120x40 share/models/tiny-glm-moe -r "$T/shipped.yaml" <<KEYS
j j <Enter> j j j -
w
:dump D/prompt.txt
<C-u>
:type $T/shipped.yaml
<Enter>
:dump D/ask.txt
n
:dump D/kept.txt
w
:type xx
<C-a> <Del> <C-e> <BS> <C-w>
:type $T/write/new.yaml
<Enter>
:wait-idle
:dump D/wrote.txt
KEYS
has "w: prompt defaults to the session's name" "$T/write/prompt.txt" '^write recipe to: tiny-glm-moe\.yaml'
has "w: an existing file asks first" "$T/write/ask.txt" 'Overwrite it with the session.s recipe\?'
check "w: No keeps the file" cmp -s recipes/glm-4.6-awq-w4a16.yaml "$T/shipped.yaml"
has "w: says it kept it" "$T/write/kept.txt" 'not written: .*shipped\.yaml is unchanged'
check "w: readline keys (C-u C-a Del C-e BS C-w) edited the path" test -f "$T/write/new.yaml"

# compare: a variant stored before any edit is the original model, its KL 0
# by definition; E measures the others and runs no eval of an empty recipe
# (the engine refuses one: the row said "failed (job 1)")
run original 120x40 share/models/tiny-glm-moe <<'KEYS'
T <C-u>
:type ctx=64 chunks=1
<Enter>
a
j j <Enter> j j j -
b
E
:wait-idle
:dump D/compare.txt
KEYS
has "compare: the unquantized variant is the original" "$T/original/compare.txt" '^ +▶? *A +[0-9.]+ MiB +16\.000 +0 .*0 \(original\) +100\.0% +1\.0000'
hasnt "compare: no failed eval of the original" "$T/original/compare.txt" 'failed \(job'
has "compare: B measured" "$T/original/compare.txt" '^ +▶? *B +[0-9.]+ MiB .* [0-9]\.[0-9]{4} +[0-9.]+% +[0-9]\.[0-9]{4}'
