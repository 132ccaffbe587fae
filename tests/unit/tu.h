/* tu.h — the unit-test harness: one binary per test file, one line per test.
 *
 *   TU_TEST(name) { TU_CHECK(x == 1); TU_NEAR(a, b, 1e-6); }
 *   int main(void) { TU_RUN(name); return TU_END(); }
 *
 * Prints "PASS name" / "FAIL name" for tests/run.sh to count. */
#ifndef QT_TU_H
#define QT_TU_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_passed, tu_failed, tu_cur_failed;

#define TU_TEST(name) static void name(void)
#define TU_CHECK(c) do { if (!(c)) { \
    fprintf(stdout, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
    tu_cur_failed = 1; } } while (0)
#define TU_CHECKF(c, ...) do { if (!(c)) { \
    fprintf(stdout, "  %s:%d: check failed: %s: ", __FILE__, __LINE__, #c); \
    fprintf(stdout, __VA_ARGS__); fputc('\n', stdout); tu_cur_failed = 1; } } while (0)
#define TU_NEAR(a, b, tol) do { double tu_a_ = (a), tu_b_ = (b); \
    if (!(fabs(tu_a_ - tu_b_) <= (tol))) { \
    fprintf(stdout, "  %s:%d: %s = %.9g, %s = %.9g, tol %g\n", __FILE__, __LINE__, \
            #a, tu_a_, #b, tu_b_, (double)(tol)); tu_cur_failed = 1; } } while (0)
#define TU_RUN(fn) do { tu_cur_failed = 0; fn(); \
    printf("%s %s\n", tu_cur_failed ? "FAIL" : "PASS", #fn); fflush(stdout); \
    if (tu_cur_failed) tu_failed++; else tu_passed++; } while (0)
#define TU_END() (tu_failed ? 1 : 0)

/* Path of a file in the repository, whatever the working directory. */
static inline const char *tu_path(const char *rel) {
    static char buf[8][4096]; static int k;
    const char *root = getenv("QTUNE_ROOT");
    char *b = buf[k++ & 7];
    snprintf(b, 4096, "%s/%s", root ? root : ".", rel);
    return b;
}
/* A scratch directory for this test binary (created). */
static inline const char *tu_tmpdir(const char *name) {
    static char buf[4096];
    const char *o = getenv("QTUNE_TEST_OUT");
    snprintf(buf, sizeof buf, "%s/%s.d", o ? o : "/tmp", name);
    char cmd[8400]; snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    if (system(cmd) != 0) return "/tmp";
    return buf;
}
#endif
