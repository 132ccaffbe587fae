/* daemon_preview.c — the daemon's preview op (engine/preview.h): weight
 * error of given tensors under given schemes, cached per (tensor, scheme). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/calib.h"
#include "daemon/daemon_ops.h"
#include "eval/eval.h"
#include "model/model.h"
#include "eval/preview.h"
#include "quant/ggml_quants.h"
#include "quant/quant.h"
#include "quant/scheme.h"

/* ---- preview */

static void num_or_null(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

/* A ggml type name as a GGUF target's resolution gives it ("Q4_K", "BF16"):
 * upper case, which no canonical compressed-tensors scheme is.  Its id, or -1. */
static int ggml_scheme(const char *scheme) {
    return scheme[0] >= 'A' && scheme[0] <= 'Z' ? qt_ggml_type_parse(scheme) : -1;
}

/* The error of tensor t under ggml type ty: every row quantized and
 * dequantized by ggml's reference quantizer (the bytes the GGUF writer
 * writes), importance-weighted when imp (cols) is given, as llama-quantize
 * with an imatrix.  "error" in o when the type does not fit. */
static int preview_ggml(const struct qt_model *m, const struct qt_tensor *t, int ty, const float *imp, cJSON *o,
                        qt_err *err) {
    const struct qt_ggml_type_info *ti = qt_ggml_type_info(ty);
    int64_t rows = qt_tensor_rows(t), cols = qt_tensor_cols(t);
    if (!ti || !ti->write) {
        cJSON_AddStringToObject(o, "error", "a GGUF type qtune does not write");
        return QT_OK;
    }
    if (t->ndim != 2 || cols % ti->block) {
        char why[200];
        snprintf(why, sizeof why, "row length %lld is not a multiple of %s's block of %d", (long long)cols, ti->name,
                 ti->block);
        cJSON_AddStringToObject(o, "error", t->ndim != 2 ? "not a 2-D weight" : why);
        return QT_OK;
    }
    if (t->gg && t->gg - 1 == ty) {   /* a GGUF file's own type: no original weights to compare with */
        cJSON_AddStringToObject(o, "error", "as the file stores it (no original weights to compare)");
        return QT_OK;
    }
    int64_t band = rows < 64 ? rows : 64;
    size_t rs = qt_ggml_row_size(ty, cols);
    float *w = malloc(sizeof(float) * (size_t)(band * cols)), *y = malloc(sizeof(float) * (size_t)(band * cols));
    unsigned char *q = malloc(rs * (size_t)band + 1);
    struct qt_qstats st = {0};
    int rc = w && y && q ? QT_OK : qt_err_set(err, "preview: out of memory");
    qt_err e2 = {{0}};
    for (int64_t r0 = 0; rc == QT_OK && r0 < rows; r0 += band) {
        int64_t nr = rows - r0 < band ? rows - r0 : band;
        if (qt_tensor_read_f32(m, t, r0, nr, w, &e2)) {
            cJSON_AddStringToObject(o, "error", e2.msg);
            free(w), free(y), free(q);
            return QT_OK;
        }
        if (!qt_ggml_quantize(ty, w, q, nr, cols, imp) || qt_ggml_dequantize(ty, q, y, nr * cols)) {
            cJSON_AddStringToObject(o, "error", "ggml quantizer failed");
            free(w), free(y), free(q);
            return QT_OK;
        }
        for (int64_t i = 0; i < nr * cols; i++) {
            double d = (double)w[i] - y[i], a = fabs(d);
            st.err2 += d * d;
            st.w2 += (double)w[i] * w[i];
            if (a > st.max_abs) st.max_abs = a;
            if (imp) {
                st.derr2 += imp[i % cols] * d * d;
                st.dw2 += imp[i % cols] * (double)w[i] * w[i];
            }
        }
        st.n += nr * cols;
    }
    free(w), free(y), free(q);
    if (rc) return rc;
    cJSON_AddNumberToObject(o, "rel_rmse", qt_qstats_rel_rmse(&st));
    num_or_null(o, "sqnr_db", qt_qstats_sqnr_db(&st));
    cJSON_AddNumberToObject(o, "max_abs", st.max_abs);
    if (imp) num_or_null(o, "rel_out", qt_qstats_rel_out(&st));
    cJSON_AddNumberToObject(o, "bytes", (double)(rs * (size_t)rows));
    cJSON_AddFalseToObject(o, "cached");
    return QT_OK;
}

/* One (tensor, scheme) pair into arr.  An unknown tensor or scheme fails the
 * request; a pair that cannot be computed gets "error".  A ggml type name
 * (a GGUF target) is computed with ggml's quantizer. */
static int preview_pair(struct qt_daemon *d, const struct qt_model *m, const char *name, const char *scheme,
                        int calib, cJSON *arr, qt_err *err) {
    int ti = qt_model_find_index(m, name);
    if (ti < 0) return qt_err_set(err, "preview: %s: no such tensor", name);
    int gty = ggml_scheme(scheme);
    if (gty >= 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m->tensors[ti].name);
        cJSON_AddStringToObject(o, "scheme", qt_ggml_type_name(gty));
        cJSON_AddItemToArray(arr, o);
        if (m->metadata_only) {
            cJSON_AddStringToObject(o, "error", "metadata only: no weights");
            return QT_OK;
        }
        return preview_ggml(m, &m->tensors[ti], gty, calib && d->calib_d ? d->calib_d[ti] : NULL, o, err);
    }
    struct qt_scheme s;
    if (qt_scheme_parse(scheme, &s, err)) return qt_err_prefix(err, "preview");
    const struct qt_tensor *t = &m->tensors[ti];
    char canon[QT_SCHEME_STR_MAX];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "scheme", qt_scheme_format(&s, canon, sizeof canon));
    cJSON_AddItemToArray(arr, o);
    int64_t rows = qt_tensor_rows(t), cols = qt_tensor_cols(t);
    enum qt_dtype wd = t->dtype == QT_DT_F16 || t->dtype == QT_DT_F32 ? t->dtype : QT_DT_BF16;
    if (qt_scheme_is_kept(&s)) {
        cJSON_AddNumberToObject(o, "rel_rmse", 0);
        cJSON_AddNullToObject(o, "sqnr_db");
        cJSON_AddNumberToObject(o, "max_abs", 0);
        cJSON_AddNumberToObject(o, "bytes", (double)t->nbytes);
        cJSON_AddFalseToObject(o, "cached");
        if (calib && d->calib_count) cJSON_AddNumberToObject(o, "tokens", (double)d->calib_count[ti]);
        return QT_OK;
    }
    qt_err e2 = {{0}};
    if (t->ndim != 2) {
        cJSON_AddStringToObject(o, "error", "not a 2-D weight");
        return QT_OK;
    }
    if (qt_scheme_check_shape(&s, rows, cols, &e2)) {
        cJSON_AddStringToObject(o, "error", e2.msg);
        return QT_OK;
    }
    if (!d->pcache && !(d->pcache = qt_preview_cache_new())) return qt_err_set(err, "preview: out of memory");
    int64_t hits = qt_preview_cache_hits(d->pcache);
    struct qt_qstats st;
    const float *imp = calib && d->calib_d ? d->calib_d[ti] : NULL;
    if (qt_preview_tensor(m, ti, &s, imp, d->pcache, &st, &e2)) {
        cJSON_AddStringToObject(o, "error", e2.msg);
        return QT_OK;
    }
    cJSON_AddNumberToObject(o, "rel_rmse", qt_qstats_rel_rmse(&st));
    num_or_null(o, "sqnr_db", qt_qstats_sqnr_db(&st));
    cJSON_AddNumberToObject(o, "max_abs", st.max_abs);
    if (imp) num_or_null(o, "rel_out", qt_qstats_rel_out(&st));
    if (calib && d->calib_count) cJSON_AddNumberToObject(o, "tokens", (double)d->calib_count[ti]);
    cJSON_AddNumberToObject(o, "bytes", (double)qt_scheme_bytes(&s, rows, cols, wd));
    cJSON_AddBoolToObject(o, "cached", qt_preview_cache_hits(d->pcache) > hits);
    return QT_OK;
}

/* ---- the session's arithmetic mode ------------------------------------ */

void qt_dop_arith_init(struct qt_daemon *d) {
    d->arith_default = qt_quant_arith();
    d->arith = -1;
}

int qt_dop_arith_parse(const cJSON *v, const char *what, qt_err *err) {
    int a = cJSON_IsString(v) ? qt_arith_parse(v->valuestring) : -1;
    if (a < 0)
        qt_err_set(err, "%s: %.40s is not an arithmetic mode (f32: llm-compressor on a GPU; bf16: on the CPU)", what,
                   cJSON_IsString(v) ? v->valuestring : "a non-string");
    return a;
}

const char *qt_dop_arith_name(int mode) { return qt_arith_name(mode); }

void qt_dop_arith_use(int mode) { qt_quant_set_arith(mode); }

void qt_dop_preview_reset(struct qt_daemon *d) {
    /* cached results point at the importance vectors: they go together (a
     * new allocation could reuse an old vector's address) */
    qt_preview_cache_free(d->pcache);
    d->pcache = NULL;
    if (d->calib_d) qt_calib_importance_free(d->calib_d, d->calib_n);
    d->calib_d = NULL;
    free(d->calib_count);
    d->calib_count = NULL;
    d->calib_n = 0;
    free(d->calib_path);
    d->calib_path = NULL;
}

/* The importance vectors of calibration text path, loaded once per session
 * and model from $QTUNE_HOME/cache, where a `calib` job put them.  Never a
 * forward pass here: the daemon stays responsive; a text not yet calibrated
 * is an error that says to run the job. */
static int calib_ensure(struct qt_daemon *d, const struct qt_model *m, const char *path, qt_err *err) {
    if (d->calib_path && !strcmp(d->calib_path, path)) return QT_OK;
    char cache[PATH_MAX];
    struct qt_calib_params p = {.calib_path = path, .cache_dir = qt_eval_default_cache_dir(cache, sizeof cache),
                                .cache_only = 1};
    struct qt_calib *c;
    if (qt_calib_run(m, &p, &c, err)) return qt_err_prefix(err, "preview: calib");
    float **imp = qt_calib_importance_all(c, m);
    int64_t *cnt = malloc(sizeof(int64_t) * ((size_t)m->n_tensors + 1));   /* (n_tensors) */
    for (int i = 0; cnt && i < m->n_tensors; i++) cnt[i] = i < c->n ? c->count[i] : 0;
    qt_calib_free(c);
    if (!imp || !cnt) {
        free(cnt);
        if (imp) qt_calib_importance_free(imp, m->n_tensors);
        return qt_err_set(err, "preview: calib: out of memory");
    }
    qt_dop_preview_reset(d);
    d->calib_d = imp;
    d->calib_count = cnt;
    d->calib_n = m->n_tensors;
    d->calib_path = qt_strdup(path);
    return QT_OK;
}

/* preview {tensors[], schemes[]} | {pairs[[tensor, scheme]...]}, calib?
 *   -> {results[{name, scheme, rel_rmse, sqnr_db, max_abs, bytes, cached,
 *       rel_out?} | {name, scheme, error}]}
 * The error each tensor would suffer under each scheme (needs weights). */
int qt_dop_preview(struct qt_daemon *d, struct qt_client_slot *c, const cJSON *req, cJSON *res, qt_err *err) {
    (void)c;
    const struct qt_model *m = qt_daemon_model(d, err);
    if (!m) return QT_ERR;
    /* the session's mode, the one its quantize and eval jobs run (the
     * cache keys results by mode) */
    qt_quant_set_arith(qt_dop_arith(d));
    const char *calib = cJSON_GetStringValue(cJSON_GetObjectItem(req, "calib"));
    if (calib && calib_ensure(d, m, calib, err)) return QT_ERR;
    int cal = calib != NULL;
    const cJSON *tensors = cJSON_GetObjectItem(req, "tensors"), *schemes = cJSON_GetObjectItem(req, "schemes");
    const cJSON *pairs = cJSON_GetObjectItem(req, "pairs"), *x, *y;
    cJSON *arr = cJSON_AddArrayToObject(res, "results");
    /* a screen's tensors are read ahead together while the first computes */
    const cJSON *named = cJSON_IsArray(pairs) ? pairs : tensors;
    cJSON_ArrayForEach(x, named) {
        const cJSON *a = cJSON_IsArray(x) ? cJSON_GetArrayItem(x, 0) : x;
        int ti = cJSON_IsString(a) ? qt_model_find_index(m, a->valuestring) : -1;
        if (ti >= 0) qt_tensor_prefetch(&m->tensors[ti]);
    }
    if (cJSON_IsArray(pairs)) {
        cJSON_ArrayForEach(x, pairs) {
            const cJSON *a = cJSON_GetArrayItem(x, 0), *b = cJSON_GetArrayItem(x, 1);
            if (!cJSON_IsString(a) || !cJSON_IsString(b))
                return qt_err_set(err, "preview: \"pairs\" must be [[tensor, scheme], ...]");
            if (preview_pair(d, m, a->valuestring, b->valuestring, cal, arr, err)) return QT_ERR;
        }
        return QT_OK;
    }
    if (!cJSON_IsArray(tensors) || !cJSON_IsArray(schemes))
        return qt_err_set(err, "preview: give \"tensors\" and \"schemes\" (arrays of strings), or \"pairs\"");
    cJSON_ArrayForEach(x, tensors) {
        if (!cJSON_IsString(x)) return qt_err_set(err, "preview: \"tensors\" must hold strings");
        cJSON_ArrayForEach(y, schemes) {
            if (!cJSON_IsString(y)) return qt_err_set(err, "preview: \"schemes\" must hold strings");
            if (preview_pair(d, m, x->valuestring, y->valuestring, cal, arr, err)) return QT_ERR;
        }
    }
    return QT_OK;
}

/* Params and bytes after quantization of the quantizable weights when tensor
 * i gets schemes[i] ("bf16" or NULL: kept), as the preview totals count them. */
void qt_dop_size(const struct qt_model *m, const char *const *schemes, int64_t *params, int64_t *bytes) {
    *params = *bytes = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        enum qt_dtype wd = t->dtype == QT_DT_F16 || t->dtype == QT_DT_F32 ? t->dtype : QT_DT_BF16;
        struct qt_scheme s;
        qt_err e2;
        int q = schemes[i] && strcmp(schemes[i], "bf16") && qt_model_quantizable(m, t) &&
                qt_scheme_parse(schemes[i], &s, &e2) == QT_OK && !qt_scheme_is_kept(&s);
        if (!qt_preview_counted(t, q)) continue;
        *params += qt_tensor_numel(t);
        if (q) *bytes += qt_scheme_bytes(&s, qt_tensor_rows(t), qt_tensor_cols(t), wd);
        else *bytes += (int64_t)t->nbytes;
    }
}
