/* replay.c — the harnesses without libFuzzer: runs every input of
 * tests/fuzz/corpus/NAME and tests/fuzz/regress/NAME (or the files and
 * directories given) through LLVMFuzzerTestOneInput.  A crash fails the
 * test run; otherwise one "PASS fuzz_NAME_replay" line per directory. */
#include <dirent.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error FUZZ_NAME must name the harness
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) { uint8_t *b = realloc(buf, cap *= 2); if (!b) { free(buf); buf = NULL; break; } buf = b; }
    }
    fclose(f);
    if (!buf) return -1;
    /* a copy of exactly n bytes, as libFuzzer gives: overreads show */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int run_path(const char *path, int *count) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) { (*count)++; return run_file(path); }
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) return -1;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, names[i]->d_name);
            fprintf(stderr, "replay %s\n", p);
            if (run_path(p, count)) { fprintf(stdout, "FAIL fuzz_%s_replay: %s unreadable\n", FUZZ_NAME, p); }
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int count = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) run_path(argv[i], &count);
        printf("PASS fuzz_%s_replay (%d inputs)\n", FUZZ_NAME, count);
        return 0;
    }
    static const char *const kinds[] = {"corpus", "regress"};
    for (int k = 0; k < 2; k++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", fz_root(), kinds[k], FUZZ_NAME);
        count = 0;
        run_path(dir, &count);
        printf("%s fuzz_%s_%s_replay (%d inputs)\n", count || k ? "PASS" : "FAIL", FUZZ_NAME, kinds[k], count);
    }
    return 0;
}
