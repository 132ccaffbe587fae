/* fuzz.h — what the libFuzzer harnesses share.  Each fuzz_NAME.c defines
 * LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize); built with
 * clang -fsanitize=fuzzer by `make fuzz`, or linked with replay.c by gcc for
 * `make test`, which replays corpus/NAME and regress/NAME so that every
 * crash ever found stays fixed.  Inputs made of several files separate them
 * with a line "====" (fz_parts). */
#ifndef QT_FUZZ_H
#define QT_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The repository root: $QTUNE_ROOT, else the working directory. */
static inline const char *fz_root(void) {
    const char *r = getenv("QTUNE_ROOT");
    return r && *r ? r : ".";
}

static char fz_dir[64];

static inline void fz_cleanup(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir);
    if (fz_dir[0] && system(cmd) != 0) { /* nothing more to do at exit */ }
}

/* A private scratch directory made once per process (/tmp/qtune-fuzz.XXXXXX),
 * removed at exit. */
static inline const char *fz_tmpdir(void) {
    if (!fz_dir[0]) {
        snprintf(fz_dir, sizeof fz_dir, "%s/qtune-fuzz.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(fz_dir)) { perror("mkdtemp"); abort(); }
        atexit(fz_cleanup);
    }
    return fz_dir;
}

/* Writes n bytes to path (truncating); returns 0 on success.  size 0 with
 * data NULL removes the file instead (an absent part). */
static inline int fz_write(const char *path, const void *data, size_t n) {
    if (!data) { unlink(path); return 0; }
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* Splits data at lines "====" into at most max parts: p[i]/n[i]; returns the
 * count.  Parts past the count get NULL. */
static inline int fz_parts(const uint8_t *data, size_t size, const uint8_t **p, size_t *n, int max) {
    int k = 0;
    size_t start = 0;
    for (size_t i = 0; i + 5 <= size && k < max - 1; i++) {
        if (memcmp(data + i, "\n====", 5) || (i + 5 < size && data[i + 5] != '\n')) continue;
        p[k] = data + start;
        n[k++] = i - start;
        start = i + 5 + (i + 5 < size);
        i = start - 1;
    }
    p[k] = data + start;
    n[k++] = size - start;
    for (int j = k; j < max; j++) { p[j] = NULL; n[j] = 0; }
    return k;
}
#endif
