/* linalg.c — Cholesky pieces for GPTQ through LAPACK (OpenBLAS). */
#include "algo/linalg.h"

#include <cblas.h>

/* LAPACK, column-major.  A symmetric row-major matrix is its own transpose,
 * so 'L' on the column-major view works on the row-major upper triangle. */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);

int qt_linalg_chol_inv_upper(double *a, int64_t n, qt_err *err) {
    if (n <= 0) return QT_OK;
    if (n > 1 << 20) return qt_err_set(err, "matrix of %lld columns is too large", (long long)n);
    int N = (int)n, info = 0;
    /* H = L Lᵀ (column-major lower = row-major upper) */
    dpotrf_("L", &N, a, &N, &info);
    if (info != 0) return qt_err_set(err, "Cholesky factorization failed (not positive definite, minor %d)", info);
    dpotri_("L", &N, a, &N, &info);   /* H⁻¹ in the same triangle */
    if (info != 0) return qt_err_set(err, "inverting the Cholesky factor failed (%d)", info);
    /* symmetrize: row-major upper holds H⁻¹; copy it into the lower triangle */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) a[j * n + i] = a[i * n + j];
    /* H⁻¹ = L' L'ᵀ (column-major lower) = Uᵀ U with U = L'ᵀ row-major upper */
    dpotrf_("L", &N, a, &N, &info);
    if (info != 0) return qt_err_set(err, "Cholesky factorization of the inverse failed (minor %d)", info);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++) a[i * n + j] = 0;
    return QT_OK;
}

void qt_linalg_gemm_sub(const double *a, int64_t lda, const double *b, int64_t ldb, double *c, int64_t ldc,
                        int64_t m, int64_t n, int64_t k) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, -1.0, a, (int)lda, b, (int)ldb,
                1.0, c, (int)ldc);
}
