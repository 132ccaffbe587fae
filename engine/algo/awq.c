/* awq.c — AWQ's scale search pieces and the clip search (see awq.h). */
#include "algo/awq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "quant/quant.h"

int64_t qt_awq_group(const struct qt_scheme *s, int64_t cols) {
    if (s && s->strategy == QT_STRAT_GROUP && s->group > 0 && cols % s->group == 0) return s->group;
    return cols;
}

void qt_awq_wmean_add(const float *w, int64_t rows, int64_t cols, int64_t group, double *acc) {
    if (group <= 0 || cols % group) group = cols;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g0 = 0; g0 < cols; g0 += group) {
            const float *x = w + r * cols + g0;
            double mx = 0;
            for (int64_t k = 0; k < group; k++) mx = fmax(mx, fabs((double)x[k]));
            mx += 1e-6;
            for (int64_t k = 0; k < group; k++) acc[g0 + k] += fabs((double)x[k]) / mx;
        }
}

void qt_awq_scales(const double *xmean, const double *wmean, int64_t n, double ratio, int duo, float *s) {
    double mx = 0, mn = INFINITY;
    double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!v) {   /* no memory: identity scales keep the model exact */
        for (int64_t j = 0; j < n; j++) s[j] = 1;
        return;
    }
    for (int64_t j = 0; j < n; j++) {
        double x = pow(xmean[j], ratio);
        double e = duo ? x / (pow(wmean[j], 1 - ratio) + 1e-4) : x;
        if (!(e >= 1e-4)) e = 1e-4;   /* also NaN */
        v[j] = e;
        if (isfinite(e)) { mx = fmax(mx, e); mn = fmin(mn, e); }
    }
    double norm = mx > 0 && isfinite(mn) ? sqrt(mx * mn) : 1;
    for (int64_t j = 0; j < n; j++) {
        double e = v[j] / norm;
        s[j] = isfinite(e) && e > 0 ? (float)e : 1.0f;
    }
    free(v);
}

int qt_awq_grid(int n_grid, int duo, double *ratio, int *duo_at, int cap) {
    int k = 0;
#define PT(r, d) do { if (k < cap) { ratio[k] = (r); duo_at[k] = (d); } k++; } while (0)
    if (duo == QT_AWQ_DUO_BOTH) {
        int h = n_grid / 2;
        if (h < 2) return -1;
        for (int i = 0; i < h; i++) { PT((double)i / (h - 1), 0); PT((double)i / (h - 1), 1); }
    } else if (duo) {
        if (n_grid < 3) return -1;
        PT(0.0, 0);
        for (int i = 0; i < n_grid - 1; i++) PT((double)i / (n_grid - 2), 1);
    } else {
        if (n_grid < 2) return -1;
        for (int i = 0; i < n_grid; i++) PT((double)i / (n_grid - 1), 0);
    }
#undef PT
    return k;
}

double qt_awq_sse(const float *w, const float *wq, int64_t rows, int64_t cols, const double *h) {
    double *e = calloc((size_t)(rows * cols) + 1, sizeof(double));
    double *m = malloc(sizeof(double) * (size_t)(rows * cols));
    double sse = 0;
    if (!e || !m) { free(e); free(m); return NAN; }
    for (int64_t i = 0; i < rows * cols; i++) e[i] = (double)w[i] - wq[i];
    /* m = e H (H is symmetric and stored whole: the pipeline mirrors it) */
    qt_err be_err;
    if (qt_be_dgemm(qt_backend_default(), rows, cols, cols, 1.0, e, cols, h, cols, 0.0, m, cols, &be_err) != QT_OK) {
        free(e);
        free(m);
        return NAN;
    }
    for (int64_t i = 0; i < rows * cols; i++) sse += e[i] * m[i];
    free(e);
    free(m);
    return sse;
}

/* err (rows, ng) = e_g H_gg e_gᵀ per row and group for e = w - wq. */
static void group_err(const float *w, const float *wq, int64_t rows, int64_t cols, int64_t gs, const double *h,
                      double *e, double *m, double *err) {
    int64_t ng = cols / gs;
    for (int64_t i = 0; i < rows * cols; i++) e[i] = (double)w[i] - wq[i];
    for (int64_t g = 0; g < ng; g++) {
        int64_t g0 = g * gs;
        qt_err be_err;   /* host-memory dgemm: the CPU row (no backend row offers its own) cannot fail */
        qt_be_dgemm(qt_backend_default(), rows, gs, gs, 1.0, e + g0, cols, h + g0 * cols + g0, cols, 0.0, m, gs, &be_err);
        for (int64_t r = 0; r < rows; r++) {
            double a = 0;
            for (int64_t k = 0; k < gs; k++) a += e[r * cols + g0 + k] * m[r * gs + k];
            err[r * ng + g] = a;
        }
    }
}

int qt_awq_clip(float *w, int64_t rows, int64_t cols, const struct qt_scheme *s, enum qt_dtype wdtype,
                const double *h, float *clipv, double *before, double *after, qt_err *err) {
    int64_t gs = qt_awq_group(s, cols), ng = cols / gs, n = rows * cols;
    int steps = (int)(QT_AWQ_CLIP_MAX_SHRINK * QT_AWQ_CLIP_GRID);
    float *wc = malloc(sizeof(float) * (size_t)n), *deq = malloc(sizeof(float) * (size_t)n);
    float *lo = malloc(sizeof(float) * (size_t)(rows * ng)), *hi = malloc(sizeof(float) * (size_t)(rows * ng));
    float *blo = malloc(sizeof(float) * (size_t)(rows * ng)), *bhi = malloc(sizeof(float) * (size_t)(rows * ng));
    double *e = malloc(sizeof(double) * (size_t)n), *m = malloc(sizeof(double) * (size_t)(rows * gs));
    double *ge = malloc(sizeof(double) * (size_t)(rows * ng)), *best = malloc(sizeof(double) * (size_t)(rows * ng));
    int rc = QT_ERR;
    if (!wc || !deq || !lo || !hi || !blo || !bhi || !e || !m || !ge || !best) {
        qt_err_set(err, "out of memory (clip search)");
        goto out;
    }
    /* each group's full range */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g = 0; g < ng; g++) {
            const float *x = w + r * cols + g * gs;
            float mn = 0, mx = 0;
            for (int64_t k = 0; k < gs; k++) { mn = fminf(mn, x[k]); mx = fmaxf(mx, x[k]); }
            if (s->sym) { mx = fmaxf(mx, -mn); mn = -mx; }
            lo[r * ng + g] = mn;
            hi[r * ng + g] = mx;
        }
    for (int i = 0; i < steps; i++) {
        float f = 1.0f - (float)i / QT_AWQ_CLIP_GRID;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t g = 0; g < ng; g++) {
                float a = lo[r * ng + g] * f, b = hi[r * ng + g] * f;
                const float *x = w + r * cols + g * gs;
                float *y = wc + r * cols + g * gs;
                for (int64_t k = 0; k < gs; k++) y[k] = i == 0 ? x[k] : fminf(fmaxf(x[k], a), b);
            }
        struct qt_qtensor q;
        memset(&q, 0, sizeof q);
        int qrc = qt_quant_tensor(wc, rows, cols, s, wdtype, 0, &q, deq, err);
        qt_qtensor_free(&q);
        if (qrc != QT_OK) goto out;
        group_err(w, deq, rows, cols, gs, h, e, m, ge);
        for (int64_t k = 0; k < rows * ng; k++)
            if (i == 0 || ge[k] < best[k]) {
                best[k] = ge[k];
                blo[k] = i == 0 ? -INFINITY : lo[k] * f;
                bhi[k] = i == 0 ? INFINITY : hi[k] * f;
            }
        if (i == 0 && before) {
            double t = 0;
            for (int64_t k = 0; k < rows * ng; k++) t += ge[k];
            *before = t;
        }
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g = 0; g < ng; g++) {
            float a = blo[r * ng + g], b = bhi[r * ng + g];
            float *x = w + r * cols + g * gs;
            for (int64_t k = 0; k < gs; k++) x[k] = fminf(fmaxf(x[k], a), b);
            if (clipv) { clipv[(r * ng + g) * 2] = a; clipv[(r * ng + g) * 2 + 1] = b; }
        }
    if (after) {
        double t = 0;
        for (int64_t k = 0; k < rows * ng; k++) t += best[k];
        *after = t;
    }
    rc = QT_OK;
out:
    free(wc); free(deq); free(lo); free(hi); free(blo); free(bhi);
    free(e); free(m); free(ge); free(best);
    return rc;
}
