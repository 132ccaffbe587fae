/* sparsegpt.c — SparseGPT on one weight matrix (see sparsegpt.h). */
#include "algo/sparsegpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/linalg.h"
#include "eval/forward.h"

static double arg_num(const struct qt_modifier *md, const char *key, double def) {
    const struct qt_yaml *v = md->args ? qt_yaml_get(md->args, key) : NULL;
    double d;
    if (v && !qt_yaml_is_null(v) && qt_yaml_num(v, &d)) return d;
    return def;
}

int qt_sgpt_args_from(const struct qt_modifier *md, struct qt_sgpt_args *a, qt_err *err) {
    qt_sgpt_args_default(a);
    const struct qt_yaml *v = md->args ? qt_yaml_get(md->args, "sparsity") : NULL;
    double d;
    if (v && !qt_yaml_is_null(v) && !qt_yaml_num(v, &d))
        return qt_err_set(err, "%s: sparsity: one number is supported (not a per-layer list)", md->type);
    v = md->args ? qt_yaml_get(md->args, "sparsity_profile") : NULL;
    if (v && !qt_yaml_is_null(v))
        return qt_err_set(err, "%s: sparsity_profile (OWL) is not supported", md->type);
    a->sparsity = md->sparsity;
    a->block_size = (int)arg_num(md, "block_size", 128);
    a->dampening_frac = arg_num(md, "dampening_frac", 0.01);
    int b = 0;
    v = md->args ? qt_yaml_get(md->args, "preserve_sparsity_mask") : NULL;
    if (v && !qt_yaml_is_null(v) && !qt_yaml_bool(v, &b))
        return qt_err_set(err, "%s: preserve_sparsity_mask: expected true or false", md->type);
    a->preserve_mask = b;
    if (a->block_size < 1 || a->block_size > 1 << 16)
        return qt_err_set(err, "%s: block_size %d out of range", md->type, a->block_size);
    if (!(a->dampening_frac >= 0 && a->dampening_frac < 1e6))
        return qt_err_set(err, "%s: dampening_frac %g out of range", md->type, a->dampening_frac);
    if (qt_sgpt_parse_mask(md->mask, &a->prune_n, &a->prune_m, err) != QT_OK) return qt_err_prefix(err, "%s", md->type);
    if (!a->prune_n && !(a->sparsity >= 0 && a->sparsity < 1))
        return qt_err_set(err, "%s: sparsity %g is outside [0, 1)", md->type, a->sparsity);
    return QT_OK;
}

int qt_sgpt_preview(const struct qt_model *m, int ti, const struct qt_sgpt_args *a, const float *d,
                    double *rel, double *rel_out, qt_err *err) {
    const struct qt_tensor *t = &m->tensors[ti];
    int64_t R = qt_tensor_rows(t), C = qt_tensor_cols(t);
    *rel = *rel_out = NAN;
    float *w = malloc(sizeof(float) * (size_t)(R * C) + 1), *p = malloc(sizeof(float) * (size_t)(R * C) + 1);
    if (!w || !p) { free(w); free(p); return qt_err_set(err, "%s: out of memory", t->name); }
    int rc = qt_tensor_read_f32(m, t, 0, R, w, err);
    if (rc == QT_OK) {
        memcpy(p, w, sizeof(float) * (size_t)(R * C));
        rc = qt_sgpt_magnitude(p, R, C, a, NULL, err);
    }
    if (rc == QT_OK) {
        double e = 0, n = 0, ed = 0, nd = 0;
        for (int64_t r = 0; r < R; r++)
            for (int64_t j = 0; j < C; j++) {
                double x = w[r * C + j], dx = x - p[r * C + j];
                e += dx * dx;
                n += x * x;
                if (d) { ed += d[j] * dx * dx; nd += d[j] * x * x; }
            }
        *rel = n > 0 ? sqrt(e / n) : 0;
        if (d) *rel_out = nd > 0 ? sqrt(ed / nd) : 0;
    } else {
        qt_err_prefix(err, "%s", t->name);
    }
    free(w);
    free(p);
    return rc;
}

void qt_sgpt_args_default(struct qt_sgpt_args *a) {
    memset(a, 0, sizeof *a);
    a->block_size = 128;
    a->dampening_frac = 0.01;
}

int qt_sgpt_parse_mask(const char *s, int *n, int *m, qt_err *err) {
    *n = *m = 0;
    if (!s || !*s) return QT_OK;
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || *end != ':') return qt_err_set(err, "mask_structure: \"%s\": expected N:M, e.g. \"2:4\"", s);
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (end == p || *end) return qt_err_set(err, "mask_structure: \"%s\": expected N:M, e.g. \"2:4\"", s);
    if (a == 0 && b == 0) return QT_OK;
    if (a < 1 || b < 2 || a >= b || b > 1024)
        return qt_err_set(err, "mask_structure: \"%s\": N:M prunes N of every M inputs, 1 <= N < M <= 1024", s);
    *n = (int)a;
    *m = (int)b;
    return QT_OK;
}

/* What the row workers share for one block [i1, i2). */
struct job {
    const struct qt_sgpt_args *a;
    int64_t cols, i1, i2;
    double *W;                  /* (rows, cols) updated in place */
    const double *U;            /* (cols, cols) upper Cholesky factor of the damped H⁻¹ */
    uint8_t *pruned;            /* (rows, cols) 1: pruned (this block's columns are decided here) */
    const uint8_t *base;        /* (rows, cols) the weight's own zeros (preserve_mask), or NULL */
    double *loss;               /* (rows) */
    int fail;
};

static void block_rows(void *arg, int64_t r0, int64_t r1) {
    struct job *J = arg;
    const int64_t C = J->cols, i1 = J->i1, i2 = J->i2, bs = i2 - i1, nr = r1 - r0;
    const int pn = J->a->prune_n, pm = J->a->prune_m;
    double *err = malloc(sizeof(double) * (size_t)(nr * bs));   /* (nr, bs) scaled errors */
    if (!err) { J->fail = 1; return; }
    for (int64_t r = r0; r < r1; r++) {
        double *wr = J->W + r * C;
        uint8_t *pr = J->pruned + r * C;
        double loss = 0;
        for (int64_t j = i1; j < i2; j++) {
            if (pn && (j - i1) % pm == 0) {
                /* the N lowest of w² / U_kk² among the next M columns
                 * (a preserved zero scores 0, so it is chosen first) */
                double sc[1024];
                for (int64_t k = 0; k < pm; k++) {
                    double u = J->U[(j + k) * C + j + k];
                    sc[k] = wr[j + k] * wr[j + k] / (u * u);
                    if (J->base && J->base[r * C + j + k]) sc[k] = 0;
                }
                for (int t = 0; t < pn; t++) {
                    int64_t best = 0;
                    for (int64_t k = 1; k < pm; k++)
                        if (sc[k] < sc[best]) best = k;
                    pr[j + best] = 1;
                    sc[best] = INFINITY;
                }
            }
            double w = wr[j], q = pr[j] ? 0.0 : w;
            double d = J->U[j * C + j];
            double e = (w - q) / d;
            loss += e * e;
            if (e != 0) {
                const double *u = J->U + j * C;
                for (int64_t k = j + 1; k < i2; k++) wr[k] -= e * u[k];
            }
            wr[j] = q;
            err[(r - r0) * bs + (j - i1)] = e;
        }
        J->loss[r] += loss / 2;
    }
    if (i2 < C) {
        if (!J->base) {
            qt_linalg_gemm_sub(err, bs, J->U + i1 * C + i2, C, J->W + r0 * C + i2, C, nr, C - i2, bs);
        } else {
            /* preserve_mask: the weight's own zeros after the block receive no update */
            double *upd = calloc((size_t)(nr * (C - i2)), sizeof(double));   /* (nr, C - i2) */
            if (!upd) { J->fail = 1; free(err); return; }
            qt_linalg_gemm_sub(err, bs, J->U + i1 * C + i2, C, upd, C - i2, nr, C - i2, bs);
            for (int64_t r = 0; r < nr; r++)
                for (int64_t k = i2; k < C; k++)
                    if (!J->base[(r0 + r) * C + k]) J->W[(r0 + r) * C + k] += upd[r * (C - i2) + (k - i2)];
            free(upd);
        }
    }
    free(err);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The arguments' checks shared by both entry points. */
static int check_args(int64_t rows, int64_t C, const struct qt_sgpt_args *a, qt_err *err) {
    const int64_t bs = a->block_size > 0 ? a->block_size : 128;
    const int pn = a->prune_n, pm = a->prune_m;
    if (rows <= 0 || C <= 0) return qt_err_set(err, "SparseGPT: empty matrix");
    if (pn) {
        if (pn < 1 || pm <= pn || pm > 1024)
            return qt_err_set(err, "SparseGPT: mask_structure %d:%d out of range", pn, pm);
        if (C % pm || bs % pm)
            return qt_err_set(err, "SparseGPT: mask_structure %d:%d needs the input width (%lld) and block_size (%lld) "
                              "to be multiples of %d", pn, pm, (long long)C, (long long)bs, pm);
    } else if (!(a->sparsity >= 0 && a->sparsity < 1)) {
        return qt_err_set(err, "SparseGPT: sparsity %g is outside [0, 1)", a->sparsity);
    }
    return QT_OK;
}

int qt_sgpt_magnitude(float *w, int64_t rows, int64_t cols, const struct qt_sgpt_args *a, uint8_t *keep,
                      qt_err *err) {
    if (check_args(rows, cols, a, err) != QT_OK) return QT_ERR;
    const int64_t C = cols, bs = a->block_size > 0 ? a->block_size : 128;
    const int pn = a->prune_n, pm = a->prune_m;
    int64_t nz = 0;
    if (a->preserve_mask) {
        for (int64_t i = 0; i < rows * C; i++) nz += w[i] == 0;
        if (!pn && (double)nz / (double)(rows * C) > a->sparsity)
            return qt_err_set(err, "SparseGPT: the weight is already %.3g sparse, above the target %g "
                              "(preserve_sparsity_mask)", (double)nz / (double)(rows * C), a->sparsity);
    }
    /* scores w² (a preserved zero scores 0 and counts as pruned) */
    if (pn) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t g = 0; g < C; g += pm) {
                float *x = w + r * C + g;
                double sc[1024];
                for (int k = 0; k < pm; k++) sc[k] = (double)x[k] * x[k];
                for (int t = 0; t < pn; t++) {
                    int best = 0;
                    for (int k = 1; k < pm; k++)
                        if (sc[k] < sc[best]) best = k;
                    x[best] = 0;
                    sc[best] = INFINITY;
                }
            }
    } else {
        double *sc = malloc(sizeof(double) * (size_t)(rows * bs)), *srt = malloc(sizeof(double) * (size_t)(rows * bs));
        if (!sc || !srt) { free(sc); free(srt); return qt_err_set(err, "SparseGPT: out of memory"); }
        for (int64_t i1 = 0; i1 < C; i1 += bs) {
            int64_t i2 = i1 + bs < C ? i1 + bs : C, nb = i2 - i1, ne = rows * nb, own = 0;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = i1; j < i2; j++) {
                    double v = w[r * C + j];
                    own += v == 0;
                    sc[r * nb + (j - i1)] = v * v;
                }
            int64_t k = (int64_t)((double)ne * a->sparsity);
            if (a->preserve_mask && k <= own) continue;   /* the block's own zeros suffice */
            memcpy(srt, sc, sizeof(double) * (size_t)ne);
            qsort(srt, (size_t)ne, sizeof(double), cmp_double);
            double th = srt[k < ne ? k : ne - 1];
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = i1; j < i2; j++)
                    if (sc[r * nb + (j - i1)] <= th) w[r * C + j] = 0;
        }
        free(sc);
        free(srt);
    }
    if (keep)
        for (int64_t i = 0; i < rows * C; i++) keep[i] = w[i] != 0;
    return QT_OK;
}

int qt_sgpt_prune(float *w, int64_t rows, int64_t cols, const double *h, const struct qt_sgpt_args *a,
                  uint8_t *keep, double *loss, qt_err *err) {
    if (loss) *loss = 0;
    if (!h) {
        /* the identity Hessian spreads nothing: pruning by magnitude */
        float *w0 = loss ? malloc(sizeof(float) * (size_t)(rows * cols) + 1) : NULL;
        if (loss && !w0) return qt_err_set(err, "SparseGPT: out of memory");
        if (w0) memcpy(w0, w, sizeof(float) * (size_t)(rows * cols));
        int rc = qt_sgpt_magnitude(w, rows, cols, a, keep, err);
        for (int64_t i = 0; w0 && rc == QT_OK && i < rows * cols; i++) *loss += (double)(w0[i] - w[i]) * (w0[i] - w[i]) / 2;
        free(w0);
        return rc;
    }
    if (check_args(rows, cols, a, err) != QT_OK) return QT_ERR;
    const int64_t C = cols, bs = a->block_size > 0 ? a->block_size : 128;
    const int pn = a->prune_n;
    int rc = QT_ERR;
    double *H = malloc(sizeof(double) * (size_t)(C * C));        /* (C, C) damped, then U */
    double *W = malloc(sizeof(double) * (size_t)(rows * C));     /* (rows, C) */
    uint8_t *pr = calloc((size_t)(rows * C), 1);                 /* (rows, C) pruned */
    uint8_t *base = a->preserve_mask ? calloc((size_t)(rows * C), 1) : NULL;   /* (rows, C) own zeros */
    double *ls = calloc((size_t)rows, sizeof(double));           /* (rows) */
    double *sc = NULL;                                           /* (rows, bs) block scores */
    if (!H || !W || !pr || !ls || (a->preserve_mask && !base)) { qt_err_set(err, "SparseGPT: out of memory"); goto out; }
    double mean = 0;
    for (int64_t i = 0; i < C; i++) {
        for (int64_t j = 0; j < C; j++) H[i * C + j] = h[i * C + j];
        if (H[i * C + i] == 0) H[i * C + i] = 1;
        mean += H[i * C + i];
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < C; j++) {
            int dead = h[j * C + j] == 0;
            W[r * C + j] = dead ? 0.0 : (double)w[r * C + j];
            if (base) base[r * C + j] = W[r * C + j] == 0;
        }
    if (base) {
        int64_t nz = 0;
        for (int64_t i = 0; i < rows * C; i++) nz += base[i];
        if (!pn && (double)nz / (double)(rows * C) > a->sparsity) {
            qt_err_set(err, "SparseGPT: the weight is already %.3g sparse, above the target %g "
                       "(preserve_sparsity_mask)", (double)nz / (double)(rows * C), a->sparsity);
            goto out;
        }
    }
    mean /= (double)C;
    for (int64_t i = 0; i < C; i++) H[i * C + i] += a->dampening_frac * mean;
    if (qt_linalg_chol_inv_upper(H, C, err) != QT_OK) {
        qt_err_prefix(err, "SparseGPT (raise dampening_frac)");
        goto out;
    }
    if (!pn) {
        sc = malloc(sizeof(double) * (size_t)(rows * bs));
        if (!sc) { qt_err_set(err, "SparseGPT: out of memory"); goto out; }
    }
    for (int64_t i1 = 0; i1 < C; i1 += bs) {
        int64_t i2 = i1 + bs < C ? i1 + bs : C, nb = i2 - i1, ne = rows * nb;
        if (!pn) {
            /* the block's mask at its start: one threshold over all rows */
            int64_t own = 0;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = i1; j < i2; j++) {
                    double u = H[j * C + j], v = W[r * C + j];
                    int b = base && base[r * C + j];
                    own += b;
                    sc[r * nb + (j - i1)] = b ? 0.0 : v * v / (u * u);
                }
            int64_t k = (int64_t)((double)ne * a->sparsity);
            if (!base || k > own) {
                double *srt = malloc(sizeof(double) * (size_t)ne);
                if (!srt) { qt_err_set(err, "SparseGPT: out of memory"); goto out; }
                memcpy(srt, sc, sizeof(double) * (size_t)ne);
                qsort(srt, (size_t)ne, sizeof(double), cmp_double);
                double th = srt[k < ne ? k : ne - 1];
                free(srt);
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t j = i1; j < i2; j++) pr[r * C + j] = sc[r * nb + (j - i1)] <= th;
            } else {
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t j = i1; j < i2; j++) pr[r * C + j] = base[r * C + j];
            }
        } else if (base) {
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = i1; j < i2; j++) pr[r * C + j] = base[r * C + j];
        }
        struct job J = {.a = a, .cols = C, .i1 = i1, .i2 = i2, .W = W, .U = H, .pruned = pr, .base = base, .loss = ls};
        if (rows * C * nb < (1 << 22)) block_rows(&J, 0, rows);
        else qt_parallel_for(rows, block_rows, &J);
        if (J.fail) { qt_err_set(err, "SparseGPT: out of memory"); goto out; }
    }
    for (int64_t i = 0; i < rows * C; i++) {
        w[i] = pr[i] ? 0.0f : (float)W[i];
        if (keep) keep[i] = !pr[i];
    }
    if (loss)
        for (int64_t r = 0; r < rows; r++) *loss += ls[r];
    rc = QT_OK;
out:
    free(H);
    free(W);
    free(pr);
    free(base);
    free(ls);
    free(sc);
    return rc;
}
