/* linalg.h — the dense linear algebra the calibrated algorithms need
 * (GPTQ / SparseGPT): Cholesky factorization and the upper Cholesky factor
 * of a symmetric positive definite matrix's inverse.  Double precision,
 * row-major.  These are the process backend's ops (backend.h: chol_inv_upper,
 * dgemm; LAPACK and OpenBLAS on the CPU), so a GPU backend can run the same
 * pipeline. */
#ifndef QT_LINALG_H
#define QT_LINALG_H
#include <stdint.h>

#include "base/qt.h"

/* a (n, n) symmetric positive definite, row-major -> a = U (n, n) upper
 * triangular with a⁻¹ = Uᵀ U (the strictly lower triangle is zeroed): GPTQ's
 * "Cholesky of the inverse Hessian".  Fails (a unchanged only in part) when a
 * is not positive definite; the message says which step. */
int qt_linalg_chol_inv_upper(double *a, int64_t n, qt_err *err);

/* c (m, n) -= a (m, k) · b (k, n) with leading dimensions lda, ldb, ldc. */
void qt_linalg_gemm_sub(const double *a, int64_t lda, const double *b, int64_t ldb, double *c, int64_t ldc,
                        int64_t m, int64_t n, int64_t k);

#endif
