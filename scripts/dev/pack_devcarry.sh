#!/bin/sh
# Development only: copies this worktree's sources (not share/, tests/refs,
# goldens or build outputs) plus stripped binaries and the system libraries
# they need into DEST (default /work/main/.devcarry), the folder a `run`
# call carries to the GPU machine (docs/cuda-notes.md).
set -eu
cd "$(dirname "$0")/../.."
DEST=${1:-/work/main/.devcarry}
rm -rf "$DEST"; mkdir -p "$DEST/build/tests" "$DEST/libs"
(git ls-files; git ls-files --others --exclude-standard) | sort -u |
    grep -v -E '^(share|tests/refs|tests/golden)/' | while read -r f; do
    [ -f "$f" ] || continue
    mkdir -p "$DEST/$(dirname "$f")"; cp "$f" "$DEST/$f"
done
B=${BUILD:-build}
cp "$B/qtune" "$DEST/build/qtune"
cp "$B/tests/test_cuda" "$DEST/build/tests/"
strip "$DEST/build/qtune" "$DEST/build/tests/test_cuda"
# the carried folder and the checkout share 64 MiB: binaries travel packed
(cd "$DEST" && tar cJf bin.tar.xz build && rm -rf build)
# and so do the sources (all but scripts/, which unpacks them)
(cd "$DEST" && set -- $(ls -A | grep -v -E '^(scripts|bin.tar.xz|libs)$') &&
    tar cJf src.tar.xz "$@" && rm -rf "$@")
t=$(mktemp -d)
for l in libcjson.so.1 libgfortran.so.5 libncursesw.so.6 libopenblas.so.0 libpcre2-8.so.0 \
         libquadmath.so.0 libtinfo.so.6 libyaml-0.so.2; do cp -L "/lib/x86_64-linux-gnu/$l" "$t/"; done
tar cJf "$DEST/libs/libs.tar.xz" -C "$t" .
rm -rf "$t"
du -sh "$DEST"
