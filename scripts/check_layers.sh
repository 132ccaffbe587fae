#!/bin/sh
# The engine's folders form a one-way graph (docs/architecture.md): a file
# may include headers of its own folder and of folders earlier in ORDER,
# never later ones.  sessions/ sits just above base/ and below daemon/.
# Prints "PASS layers" or one "FAIL layers: FILE includes HEADER" a breach.
cd "$(dirname "$0")/.."
ORDER="base quant model backend recipe eval algo io daemon"
rank() { # rank FOLDER -> position in ORDER (sessions: between base and quant)
    case $1 in sessions) echo 3; return;; esac
    i=0
    for d in $ORDER; do
        i=$((i + 2))
        [ "$d" = "$1" ] && { echo $i; return; }
    done
    echo -1
}
bad=0
for f in $(find engine sessions -name '*.[ch]' -o -name '*.cu' -o -name '*.cuh' | sort); do
    case $f in
        engine/*/*) from=$(echo "$f" | cut -d/ -f2);;
        sessions/*) from=sessions;;
        *) echo "FAIL layers: $f is not in a layer folder"; bad=1; continue;;
    esac
    rf=$(rank "$from")
    [ "$rf" -ge 0 ] || { echo "FAIL layers: $f: folder $from is not in the stated order"; bad=1; continue; }
    for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        case $h in
            */*) to=${h%%/*};;
            *) [ -f "$(dirname "$f")/$h" ] && continue  # a header beside the file
               echo "FAIL layers: $f includes \"$h\" without its folder"; bad=1; continue;;
        esac
        rt=$(rank "$to")
        if [ "$rt" -lt 0 ]; then echo "FAIL layers: $f includes $h (not an engine folder)"; bad=1; continue; fi
        # sessions/ is base-level for its users but may itself include base only.
        if [ "$rt" -gt "$rf" ]; then echo "FAIL layers: $f includes $h ($to is above $from)"; bad=1; fi
        if [ "$to" = sessions ] && [ "$from" != daemon ] && [ "$from" != sessions ]; then
            echo "FAIL layers: $f includes $h (only daemon/ uses sessions/)"; bad=1
        fi
    done
done
# The backend seam (docs/architecture.md, "The backend"): nothing outside
# backend/ calls BLAS or LAPACK, uses SIMD intrinsics or starts threads for
# compute.  The exceptions are the ones the docs name: quant/quant.c holds the
# element kernels the CPU backend runs (runtime AVX2/FMA dispatch), the
# writer's side-file I/O thread and the daemon client's connection thread.
for f in $(find engine sessions -name '*.[ch]' | sort); do
    case $f in engine/backend/*) continue;; esac
    case $f in
        engine/quant/quant.c) pat='cblas_\|<cblas\.h>\|<lapack\|pthread_create';;
        engine/io/writer.c|engine/daemon/client.c) pat='cblas_\|<cblas\.h>\|<lapack\|intrin\.h>\|_mm256_\|_mm512_';;
        *) pat='cblas_\|<cblas\.h>\|<lapack\|intrin\.h>\|_mm256_\|_mm512_\|pthread_create';;
    esac
    grep -n "$pat" "$f" | grep -v '^[0-9]*:\s*\(/\*\|\*\|//\)' | head -n 1 | while IFS=: read -r ln _; do
        echo "FAIL layers: $f:$ln computes outside the backend (BLAS, SIMD or a thread: go through backend.h)"
    done | grep . && bad=1
done
# The TUI is a thin client (docs/tui.md): tui/ and panels/ include from the
# engine only the protocol client, base/ helpers and the description structs
# the protocol carries -- no recipe parsing, resolving, scheme stepping or
# capability tables of their own.
# The device the status line shows comes from the daemon's hello.
THIN="daemon/client.h base/* model/model.h recipe/tree.h"
for f in $(find tui panels -name '*.[ch]' | sort); do
    for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        case $h in */*) ;; *) continue;; esac   # the TUI's own headers
        ok=0
        for a in $THIN; do case $h in $a) ok=1;; esac; done
        [ "$ok" = 1 ] || { echo "FAIL layers: $f includes $h (a thin client includes only $THIN)"; bad=1; }
    done
done
[ "$bad" = 0 ] && echo "PASS layers"
exit 0
