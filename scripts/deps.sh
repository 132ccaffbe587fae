#!/bin/sh
# Checks that the system packages qtune builds against are present; installs
# the missing ones with apt-get when run as root, otherwise prints the exact
# command to run.  Exit 0 when everything is there.
set -u
missing=""
need() { # need PKGCONFIG-NAME DEBIAN-PACKAGE
    if ! pkg-config --exists "$1" 2>/dev/null; then missing="$missing $2"; fi
}
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
need ncursesw   libncurses-dev
need openblas   libopenblas-dev
need libcjson   libcjson-dev
need yaml-0.1   libyaml-dev
need libpcre2-8 libpcre2-dev
if [ "${QTUNE_TEST_DEPS:-0}" = 1 ]; then
    command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
fi
# the report test's headless browser (.ci/run asks for it; without it that
# test says SKIP): Debian's chromium, installed without its recommends
# (fonts-liberation, upower, ...) to keep CI's install short
norec=""
if [ "${QTUNE_BROWSER_DEPS:-0}" = 1 ]; then
    command -v chromium >/dev/null 2>&1 || norec="chromium"
fi
# make fuzz: clang and its libFuzzer runtime (Debian 12: clang-14, whose
# libclang_rt.fuzzer*.a ships in libclang-rt-14-dev; libclang-rt-dev is the
# default version's)
if [ "${QTUNE_FUZZ_DEPS:-0}" = 1 ]; then
    if ! command -v clang >/dev/null 2>&1; then
        missing="$missing clang libclang-rt-dev"
    else
        rt=$(clang -print-runtime-dir 2>/dev/null)
        ls "$rt"/libclang_rt.fuzzer*.a >/dev/null 2>&1 || ls "$rt"/../*/libclang_rt.fuzzer*.a >/dev/null 2>&1 ||
            missing="$missing libclang-rt-dev"
    fi
fi
[ -z "$missing" ] && [ -z "$norec" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "qtune: installing:$missing${norec:+ $norec}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || { echo "qtune: apt-get update failed" >&2; exit 1; }
    if [ -n "$missing" ] && ! apt-get install -y -qq $missing >&2; then
        echo "qtune: apt-get install failed for:$missing" >&2
        exit 1
    fi
    if [ -n "$norec" ] && ! apt-get install -y -qq --no-install-recommends $norec >&2; then
        echo "qtune: apt-get install failed for: $norec" >&2
        exit 1
    fi
    exit 0
fi
[ -n "$missing" ] && echo "qtune: missing packages:$missing" >&2
[ -n "$missing" ] && echo "qtune: run: sudo apt-get install -y$missing" >&2
[ -n "$norec" ] && echo "qtune: run: sudo apt-get install -y --no-install-recommends $norec" >&2
exit 1
