/* gptq.c — GPTQ on one weight matrix (see gptq.h for the semantics). */
#include "algo/gptq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/linalg.h"
#include "eval/forward.h"

void qt_gptq_args_default(struct qt_gptq_args *a) {
    a->block_size = 128;
    a->dampening_frac = 0.01;
    a->actorder = QT_ACTORDER_STATIC;
    a->stats = 1;
}

int qt_gptq_parse_actorder(const char *s, enum qt_actorder *out, qt_err *err) {
    if (!s || !*s || !strcmp(s, "null") || !strcmp(s, "none") || !strcmp(s, "false")) *out = QT_ACTORDER_NONE;
    else if (!strcmp(s, "static") || !strcmp(s, "weight")) *out = QT_ACTORDER_STATIC;
    else if (!strcmp(s, "group") || !strcmp(s, "true")) *out = QT_ACTORDER_GROUP;
    else return qt_err_set(err, "actorder: \"%s\" is not supported (static, weight, group or null)", s);
    return QT_OK;
}

static float to_w(enum qt_dtype dt, float x) {
    if (dt == QT_DT_BF16) return qt_bf16_to_f32(qt_f32_to_bf16(x));
    if (dt == QT_DT_F16) return qt_f16_to_f32(qt_f32_to_f16(x));
    return x;
}

/* What the row workers share. */
struct job {
    const struct qt_scheme *s;
    enum qt_dtype wd;
    int64_t rows, cols, bs;
    double *W;                  /* (rows, cols) in processing order, updated in place */
    const double *U;            /* (cols, cols) upper Cholesky factor of the damped H⁻¹ */
    const int64_t *perm;        /* (cols) original column of processing position j */
    const int64_t *cell;        /* (cols) scale-grid column of processing position j */
    const float *scale;         /* (srows, scols) */
    const int8_t *zero;         /* (srows, scols) or NULL */
    int64_t scols;
    const uint8_t *keep;        /* (rows, cols) original order, or NULL */
    int8_t *codes;              /* (rows, cols) original order */
    float *deq;                 /* (rows, cols) original order */
    double *loss;               /* (rows) */
    int qmin, qmax;
    int fail;
};

static int64_t scale_row(const struct qt_scheme *s, int64_t r) {
    if (s->strategy == QT_STRAT_TENSOR) return 0;
    if (s->strategy == QT_STRAT_BLOCK) return r / s->group;
    return r;
}

/* Quantizes one value against its cell's scale: returns w', sets *code. */
static inline float quant1(const struct job *J, float w, int64_t cellidx, int8_t *code) {
    float sc = J->scale[cellidx];
    if (J->s->kind == QT_SCHEME_FP8) {
        float t = w / sc;
        t = t < -448.0f ? -448.0f : t > 448.0f ? 448.0f : t;
        uint8_t b = qt_f32_to_fp8e4m3(t);
        *code = (int8_t)b;
        return to_w(J->wd, qt_fp8e4m3_to_f32(b) * sc);
    }
    float zp = J->zero ? (float)J->zero[cellidx] : 0.0f;
    float t = w / sc + zp;
    t = t < (float)J->qmin ? (float)J->qmin : t > (float)J->qmax ? (float)J->qmax : t;
    float q = nearbyintf(t);
    *code = (int8_t)q;
    return to_w(J->wd, (q - zp) * sc);
}

static void rows_fn(void *arg, int64_t r0, int64_t r1) {
    struct job *J = arg;
    int64_t C = J->cols, bs = J->bs, nr = r1 - r0;
    double *err = malloc(sizeof(double) * (size_t)(nr * bs));   /* (nr, bs) scaled errors of a block */
    if (!err) { J->fail = 1; return; }
    for (int64_t i1 = 0; i1 < C; i1 += bs) {
        int64_t i2 = i1 + bs < C ? i1 + bs : C;
        for (int64_t r = r0; r < r1; r++) {
            double *wr = J->W + r * C;
            int64_t srow = scale_row(J->s, r) * J->scols;
            double loss = 0;
            for (int64_t j = i1; j < i2; j++) {
                int64_t oc = J->perm[j];
                double w = wr[j], e;
                int8_t code;
                float q;
                if (J->keep && !J->keep[r * C + oc]) {
                    /* a pruned element: exact zero (the code of 0); what the
                     * earlier columns' updates moved onto it is spread on
                     * like any rounding error */
                    q = 0;
                    code = J->s->kind == QT_SCHEME_FP8 ? 0 : J->zero ? J->zero[srow + J->cell[j]] : 0;
                } else {
                    q = quant1(J, (float)w, srow + J->cell[j], &code);
                }
                {
                    double d = J->U[j * C + j];
                    e = (w - q) / d;
                    loss += e * e;
                    const double *u = J->U + j * C;
                    if (e != 0)
                        for (int64_t k = j + 1; k < i2; k++) wr[k] -= e * u[k];
                }
                wr[j] = q;
                err[(r - r0) * bs + (j - i1)] = e;
                J->codes[r * C + oc] = code;
                J->deq[r * C + oc] = q;
            }
            J->loss[r] += loss / 2;
        }
        if (i2 < C)
            qt_linalg_gemm_sub(err, bs, J->U + i1 * C + i2, C, J->W + r0 * C + i2, C, nr, C - i2, i2 - i1);
    }
    free(err);
}

struct dkey { double d; int64_t i; };
/* descending H_jj; ties by index (torch's argsort leaves their order open) */
static int by_diag_desc(const void *a, const void *b) {
    const struct dkey *x = a, *y = b;
    if (x->d > y->d) return -1;
    if (x->d < y->d) return 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The order of the diagonal d[j * step], j < cols. */
static int order_by(const double *d, int64_t step, int64_t cols, enum qt_actorder ao, int64_t *perm, qt_err *err) {
    for (int64_t j = 0; j < cols; j++) perm[j] = j;
    if (ao == QT_ACTORDER_NONE) return QT_OK;
    struct dkey *k = malloc(sizeof *k * (size_t)cols);
    if (!k) return qt_err_set(err, "GPTQ: out of memory");
    for (int64_t j = 0; j < cols; j++) k[j] = (struct dkey){d[j * step], j};
    qsort(k, (size_t)cols, sizeof *k, by_diag_desc);
    for (int64_t j = 0; j < cols; j++) perm[j] = k[j].i;
    free(k);
    return QT_OK;
}

int qt_gptq_order(const double *h, int64_t cols, enum qt_actorder ao, int64_t *perm, qt_err *err) {
    return order_by(h, cols + 1, cols, ao, perm, err);
}

int qt_gptq_order_diag(const double *diag, int64_t cols, enum qt_actorder ao, int64_t *perm, qt_err *err) {
    return order_by(diag, 1, cols, ao, perm, err);
}

/* den = Σ_r w_r H w_rᵀ once, and for each of nq approximations wq[k]
 * out[k] = Σ_r e_r H e_rᵀ / den, e = w - wq[k]: in chunks of rows, E
 * (nr, cols) · H then row dots (each sum in the order of the one-at-a-time
 * figure, so both give the same doubles).  -1 when out of memory. */
static int out_err_n(const float *w, const float *const *wq, int nq, int64_t rows, int64_t cols, const double *h,
                     double *out) {
    int64_t chunk = 256;
    double *e = malloc(sizeof(double) * (size_t)(chunk * cols));    /* (chunk, cols) */
    double *eh = malloc(sizeof(double) * (size_t)(chunk * cols));   /* (chunk, cols) */
    if (!e || !eh) { free(e); free(eh); return -1; }
    double den = 0;
    for (int k = 0; k <= nq; k++) {     /* k == nq: the denominator */
        double sum = 0;
        const float *q = k < nq ? wq[k] : NULL;
        for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
            int64_t nr = r0 + chunk < rows ? chunk : rows - r0;
            for (int64_t i = 0; i < nr * cols; i++)
                e[i] = q ? (double)w[r0 * cols + i] - (double)q[r0 * cols + i] : (double)w[r0 * cols + i];
            qt_be_dgemm(qt_backend_default(), nr, cols, cols, 1.0, e, cols, h, cols, 0.0, eh, cols, NULL);
            double acc = 0;
            for (int64_t i = 0; i < nr * cols; i++) acc += e[i] * eh[i];
            sum += acc;
        }
        if (k < nq) out[k] = sum;
        else den = sum;
    }
    for (int k = 0; k < nq; k++) out[k] = den > 0 ? out[k] / den : 0;
    free(e);
    free(eh);
    return 0;
}

double qt_gptq_out_err(const float *w, const float *wq, int64_t rows, int64_t cols, const double *h) {
    double r;
    return out_err_n(w, &wq, 1, rows, cols, h, &r) ? NAN : r;
}

int qt_gptq_quantize(const float *w, int64_t rows, int64_t cols, const double *h, const struct qt_scheme *s,
                     enum qt_dtype wdtype, const struct qt_gptq_args *a, const uint8_t *keep,
                     struct qt_qtensor *out, int32_t *g_idx, float *deq, struct qt_gptq_stats *st, qt_err *err) {
    memset(out, 0, sizeof *out);
    if (st) memset(st, 0, sizeof *st);
    if (s->kind != QT_SCHEME_INT && s->kind != QT_SCHEME_FP8)
        return qt_err_set(err, "GPTQ: scheme kind not supported (int or fp8 weights only)");
    if (rows <= 0 || cols <= 0) return qt_err_set(err, "GPTQ: empty matrix");
    enum qt_actorder ao = a->actorder;
    if (s->strategy == QT_STRAT_BLOCK) ao = QT_ACTORDER_NONE;
    int64_t C = cols, bs = a->block_size > 0 ? a->block_size : 128;
    int rc = QT_ERR;
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)C);         /* (C) */
    int64_t *cell = malloc(sizeof(int64_t) * (size_t)C);         /* (C) */
    double *H = malloc(sizeof(double) * (size_t)(C * C));        /* (C, C) permuted, damped */
    double *diag = malloc(sizeof(double) * (size_t)C);           /* (C) */
    double *W = malloc(sizeof(double) * (size_t)(rows * C));     /* (rows, C) processing order */
    float *wp = malloc(sizeof(float) * (size_t)(rows * C));      /* (rows, C) input of the scale observer */
    float *dq = deq ? deq : malloc(sizeof(float) * (size_t)(rows * C));
    double *loss = calloc((size_t)rows, sizeof(double));
    float *rtn = NULL;
    if (!perm || !cell || !H || !diag || !W || !wp || !dq || !loss) { qt_err_set(err, "GPTQ: out of memory"); goto out; }
    for (int64_t j = 0; j < C; j++) diag[j] = h[j * C + j];
    if (qt_gptq_order(h, C, ao, perm, err) != QT_OK) goto out;
    /* dead inputs (never non-zero): their weights cannot matter; zero them */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < C; j++) {
            float v = diag[j] == 0 ? 0.0f : w[r * C + j];
            if (keep && !keep[r * C + j]) v = 0;
            wp[r * C + j] = v;
        }
    /* the scale grid: group actorder observes the permuted weight */
    if (ao == QT_ACTORDER_GROUP) {
        float *t = malloc(sizeof(float) * (size_t)C);
        if (!t) { qt_err_set(err, "GPTQ: out of memory"); goto out; }
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t j = 0; j < C; j++) t[j] = wp[r * C + perm[j]];
            memcpy(wp + r * C, t, sizeof(float) * (size_t)C);
        }
        free(t);
    }
    if (qt_quant_tensor(wp, rows, C, s, wdtype, 0, out, NULL, err) != QT_OK) goto out;
    for (int64_t j = 0; j < C; j++) {
        int64_t oc = perm[j];
        switch (s->strategy) {
        case QT_STRAT_GROUP: cell[j] = (ao == QT_ACTORDER_GROUP ? j : oc) / s->group; break;
        case QT_STRAT_BLOCK: cell[j] = oc / s->group; break;
        default: cell[j] = 0; break;
        }
        if (g_idx && ao == QT_ACTORDER_GROUP && s->strategy == QT_STRAT_GROUP) g_idx[oc] = (int32_t)(j / s->group);
    }
    /* the weight and Hessian in processing order (group actorder's wp is already permuted) */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < C; j++) {
            int64_t oc = perm[j];
            W[r * C + j] = diag[oc] == 0 || (keep && !keep[r * C + oc]) ? 0.0 : (double)w[r * C + oc];
        }
    double mean = 0;
    for (int64_t i = 0; i < C; i++) {
        for (int64_t j = 0; j < C; j++) H[i * C + j] = h[perm[i] * C + perm[j]];
        if (H[i * C + i] == 0) H[i * C + i] = 1;
        mean += H[i * C + i];
    }
    mean /= (double)C;
    double damp = a->dampening_frac * mean;
    for (int64_t i = 0; i < C; i++) H[i * C + i] += damp;
    if (qt_linalg_chol_inv_upper(H, C, err) != QT_OK) {
        qt_err_prefix(err, "GPTQ (raise dampening_frac)");
        goto out;
    }
    struct job J = {
        .s = s, .wd = wdtype, .rows = rows, .cols = C, .bs = bs, .W = W, .U = H, .perm = perm, .cell = cell,
        .scale = out->scale, .zero = out->zero, .scols = out->scols, .keep = keep, .codes = out->q, .deq = dq,
        .loss = loss,
    };
    if (s->kind == QT_SCHEME_INT) {
        J.qmin = -(1 << (s->bits - 1));
        J.qmax = (1 << (s->bits - 1)) - 1;
    }
    /* rows are independent: split them over the threads (one GEMM per block each) */
    if (rows * C * C < (1 << 22)) rows_fn(&J, 0, rows);
    else qt_parallel_for(rows, rows_fn, &J);
    if (J.fail) { qt_err_set(err, "GPTQ: out of memory"); goto out; }
    if (st) {
        for (int64_t r = 0; r < rows; r++) st->loss += loss[r];
        if (a->stats) {
            /* GPTQ's and round-to-nearest's figures share their denominator */
            rtn = malloc(sizeof(float) * (size_t)(rows * C));
            struct qt_qtensor tmp;
            if (rtn && qt_quant_tensor(w, rows, C, s, wdtype, 0, &tmp, rtn, err) == QT_OK) {
                qt_qtensor_free(&tmp);
                const float *both[2] = {dq, rtn};
                double r[2];
                if (out_err_n(w, both, 2, rows, C, h, r)) r[0] = r[1] = NAN;
                st->out_err = r[0];
                st->rtn_err = r[1];
            } else {
                st->out_err = qt_gptq_out_err(w, dq, rows, C, h);
                st->rtn_err = NAN;
            }
        }
    }
    rc = QT_OK;
out:
    if (rc != QT_OK) qt_qtensor_free(out);
    free(perm);
    free(cell);
    free(H);
    free(diag);
    free(W);
    free(wp);
    if (dq != deq) free(dq);
    free(loss);
    free(rtn);
    return rc;
}
