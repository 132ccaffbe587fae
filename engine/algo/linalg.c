/* linalg.c — the calibrated algorithms' dense linear algebra, on the
 * backend (backend.h: chol_inv_upper, dgemm; the CPU backend runs LAPACK and
 * OpenBLAS). */
#include "algo/linalg.h"

#include "backend/backend.h"

int qt_linalg_chol_inv_upper(double *a, int64_t n, qt_err *err) {
    return qt_be_chol_inv_upper(qt_backend_default(), a, n, err);
}

void qt_linalg_gemm_sub(const double *a, int64_t lda, const double *b, int64_t ldb, double *c, int64_t ldc,
                        int64_t m, int64_t n, int64_t k) {
    qt_be_dgemm(qt_backend_default(), m, n, k, -1.0, a, lda, b, ldb, 1.0, c, ldc, NULL);
}
