/* pipeline.c — the sequential calibration pipeline (see pipeline.h). */
#include "algo/pipeline.h"

#include <cJSON.h>
#include <errno.h>
#include <float.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "algo/awq.h"
#include "algo/gptq.h"
#include "algo/smoothquant.h"
#include "algo/sparsegpt.h"
#include "eval/forward.h"
#include "model/tokenizer.h"

enum tkind { TK_NONE, TK_RTN, TK_GPTQ };

/* Where a tensor's result lies in the spill file. */
struct rec {
    int has;
    int64_t off;                /* codes (rows*cols) | scale (ns floats) | zero (ns) | g_idx (cols int32) */
    int64_t srows, scols;
    int zero, gidx;
    struct qt_qtensor shape;    /* scheme, wdtype, rows, cols, srows, scols (no arrays) */
};

struct qt_pipe {
    const struct qt_model *m;
    int n;
    int64_t gptq_batched, gptq_batches;   /* tensors / batches the backend's batched GPTQ ran */
    int64_t hess_dev;                     /* Hessians accumulated in the backend's memory */
    int hess_passes_max;                  /* most observation passes of one layer */
    int fwd_dev;                          /* 1: the forward ran on a device; fwd its time split */
    struct qt_be_fwd_timing fwd;
    double t_observe, t_quant, t_prop;    /* seconds: observation passes, quantization, propagation */
    double t_gq_read, t_gq_run, t_gq_finish;   /* of t_quant, the GPTQ batches': weights read, the backend, results kept */
    char be_name[32];                     /* the forward's backend */
    struct rec *rec;            /* (n) */
    float **kept;               /* (n) replaced values (smoothed norms, router) or NULL */
    float **colscale;           /* (n) smoothing: W[:, j] *= colscale[j] (cols), or NULL */
    float **rowdiv;             /* (n) AWQ smooth Linear: W[i, :] /= rowdiv[i] (rows), or NULL */
    float **clip;               /* (n) AWQ clip search: [lo, hi] per (row, group) (rows, ng, 2), or NULL */
    int64_t *clip_gs;           /* (n) columns per clip group */
    uint8_t *awq;               /* (n) 1: smoothed by AWQ (balance or smooth Linear) */
    double *awq_diff;           /* (n_layers) AWQ: smoothed vs original layer output, max rel. diff; NAN none */
    struct cJSON *awq_maps;     /* AWQ: one entry per mapping applied, NULL without AWQ */
    int awq_mod;                /* index of the AWQModifier, -1 none */
    int awq_duo, awq_grid, awq_clip;   /* awq_duo: QT_AWQ_DUO_* */
    int awq_search;             /* AWQ: calibration samples the scale search scores, 0 all */
    double awq_clip_before, awq_clip_after;
    uint8_t *act;               /* (n) enum qt_fwd_act of the quantized Linear's input */
    double *smooth_diff;        /* (n_layers) smoothed vs original layer output, max rel. diff; NAN none */
    double alpha;               /* SmoothQuant smoothing_strength, < 0: no SmoothQuant */
    int64_t *tokens;            /* (n) rows observed, -1 not observed */
    double *out_err, *rtn_err;  /* (n) */
    uint8_t *fallback;          /* (n) */
    uint8_t *kind;              /* (n) enum tkind */
    uint8_t *ao;                /* (n) 1 + enum qt_actorder GPTQ ran with, 0 not GPTQ */
    uint8_t *sp;                /* (n) 1: SparseGPT prunes it (before it is quantized) */
    uint8_t *mag;               /* (n) 1: pruned by magnitude (outside the decoder layers: no Hessian) */
    double *sp_err;             /* (n) output error of the pruning alone, NAN when not computed */
    int64_t *zeros;             /* (n) exact zeros of the weight as written, -1 when not counted */
    /* static input activations (dynamic: false, per tensor) */
    uint8_t *smode;             /* (n) QT_FWD_STATIC_INT8 / _FP8, 0 none */
    uint8_t *sobs;              /* (n) enum obs */
    float *savg;                /* (n) minmax's averaging constant */
    double *omin, *omax;        /* (n) observer state, NAN before the first observation */
    float *iscale;              /* (n) input_scale as written (weight dtype), 0 none */
    float *escale;              /* (n) what vLLM applies: the max over the fused group / the layer's experts */
    uint8_t *sfall;             /* (n) 1: never observed (no routed token, or outside the pipeline) */
    /* fp8 kv cache, one scale per layer for keys and values */
    int kv_on;
    uint8_t kv_obs;
    float kv_avg;
    double *kvmin, *kvmax;      /* (2 * n_layers) k then v observer state */
    float *kscale, *vscale;     /* (n_layers) as written (weight dtype) */
    double *layer_s;            /* (n_layers) */
    int n_layers;
    int nseq, seqlen;
    int64_t text_tokens;
    int fd;
    char *spill;
    int64_t spill_end;
    char gptq_desc[160];
    char sgpt_desc[160];
    int keep_spill;             /* the spill lives in a state directory: not removed at free */
    int resumed_at;             /* the layer a resumed run continued at, 0 none */
};

/* ---- recipe reading --------------------------------------------------- */

int qt_pipe_needed(const struct qt_recipe *r, const struct qt_resolution *res) {
    for (int i = 0; i < r->n_mods; i++)
        if (r->mods[i].algo == QT_ALGO_SMOOTHQUANT || r->mods[i].algo == QT_ALGO_AWQ ||
            r->mods[i].algo == QT_ALGO_SPARSEGPT)
            return 1;
    for (int i = 0; i < r->n_mods; i++)
        if (r->mods[i].kv_bits > 0) return 1;   /* kv-cache scales are calibrated */
    for (int i = 0; i < res->n; i++) {
        if (res->t[i].quantized && res->t[i].algo == QT_ALGO_GPTQ) return 1;
        /* static input activations need calibrated input scales */
        if (res->t[i].quantized && res->t[i].s && qt_act_traits(res->t[i].s->act)->is_static) return 1;
    }
    return 0;
}

/* The input_activations node of recipe group g (config_groups form), or NULL. */
static const struct qt_yaml *group_inputs(const struct qt_recipe *r, int g) {
    if (g < 0 || g >= r->n_groups) return NULL;
    const struct qt_modifier *md = &r->mods[r->groups[g].mod];
    const struct qt_yaml *cg = md->args ? qt_yaml_get(md->args, "config_groups") : NULL;
    const struct qt_yaml *gr = cg && cg->kind == QT_YAML_MAP ? qt_yaml_get(cg, r->groups[g].name) : NULL;
    return gr && gr->kind == QT_YAML_MAP ? qt_yaml_get(gr, "input_activations") : NULL;
}

static double arg_num(const struct qt_modifier *md, const char *key, double def) {
    const struct qt_yaml *v = md->args ? qt_yaml_get(md->args, key) : NULL;
    double d;
    if (v && !qt_yaml_is_null(v) && qt_yaml_num(v, &d)) return d;   /* 1 on success */
    return def;
}

/* GPTQ arguments of a modifier and group; llm-compressor 0.14 defaults. */
static int gptq_args(const struct qt_recipe *r, const struct qt_resolved *rv, struct qt_gptq_args *a, qt_err *err) {
    qt_gptq_args_default(a);
    const struct qt_modifier *md = &r->mods[rv->mod];
    a->block_size = (int)arg_num(md, "block_size", 128);
    a->dampening_frac = arg_num(md, "dampening_frac", 0.01);
    if (a->block_size < 1 || a->block_size > 1 << 16)
        return qt_err_set(err, "%s: block_size %d out of range", md->type, a->block_size);
    if (!(a->dampening_frac >= 0 && a->dampening_frac < 1e6))
        return qt_err_set(err, "%s: dampening_frac %g out of range", md->type, a->dampening_frac);
    /* actorder: the group's, else the modifier's; absent means static (the
     * 0.14 default), an explicit null means none */
    const struct qt_yaml *v = md->args ? qt_yaml_get(md->args, "actorder") : NULL;
    const char *ao = rv->actorder && *rv->actorder ? rv->actorder : NULL;
    if (!ao && v) ao = qt_yaml_is_null(v) ? "" : qt_yaml_str(v) ? qt_yaml_str(v) : "";
    if (!ao) ao = "static";
    int b;
    if (v && !rv->actorder[0] && qt_yaml_bool(v, &b)) ao = b ? "group" : "";
    if (qt_gptq_parse_actorder(ao, &a->actorder, err) != QT_OK) return qt_err_prefix(err, "%s", md->type);
    return QT_OK;
}

/* SparseGPT arguments of the modifier that prunes rv. */
static int sgpt_args(const struct qt_recipe *r, const struct qt_resolved *rv, struct qt_sgpt_args *a, qt_err *err) {
    return qt_sgpt_args_from(&r->mods[rv->sparse_mod], a, err);
}

/* ---- checks ----------------------------------------------------------- */

int qt_pipe_check(const struct qt_model *m, const struct qt_pipe_params *p, qt_err *err) {
    int seqlen = p->seqlen > 0 ? p->seqlen : QT_PIPE_SEQLEN;
    if (p->samples < 0) return qt_err_set(err, "--calib-samples: %d: must be at least 1", p->samples);
    if (p->seqlen < 0 || seqlen < 2 || seqlen > 1 << 20)
        return qt_err_set(err, "--calib-len: %d: must be between 2 and 1048576", p->seqlen);
    if (!p->calib_path) return qt_err_set(err, "a calibrated recipe needs calibration text (--calib FILE)");
    if (m->metadata_only) return qt_err_set(err, "%s: no weights (opened from its config only)", m->path);
    char tp[4200];
    snprintf(tp, sizeof tp, "%s/tokenizer.json", m->path);
    struct stat st;
    if (stat(tp, &st) != 0) return qt_err_set(err, "%s: the model has no tokenizer.json; calibration needs one", m->path);
    if (stat(p->calib_path, &st) != 0)
        return qt_err_set(err, "%s: cannot read calibration text: %s", p->calib_path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return qt_err_set(err, "%s: calibration text is not a regular file", p->calib_path);
    if (st.st_size == 0) return qt_err_set(err, "%s: calibration text is empty", p->calib_path);
    /* a text of fewer bytes than one sample's tokens cannot hold one sample */
    if (st.st_size < seqlen)
        return qt_err_set(err, "%s: %lld bytes, too short for one sample of %d tokens (--calib-len)", p->calib_path,
                          (long long)st.st_size, seqlen);
    return QT_OK;
}

/* ---- smoothing state --------------------------------------------------- */

/* out (numel) = tensor ti as smoothing left it; 1 when smoothing did not
 * touch it. */
static int smoothed(const struct qt_pipe *P, int ti, float *out, qt_err *err) {
    const struct qt_tensor *t = &P->m->tensors[ti];
    int64_t ne = qt_tensor_numel(t);
    if (P->kept[ti]) {
        memcpy(out, P->kept[ti], sizeof(float) * (size_t)ne);
        return QT_OK;
    }
    if (!P->colscale[ti] && !P->rowdiv[ti] && !P->clip[ti]) return 1;
    int64_t R = qt_tensor_rows(t), C = qt_tensor_cols(t);
    if (qt_tensor_read_f32(P->m, t, 0, R, out, err) != QT_OK) return QT_ERR;
    /* SmoothQuant's powers of two are exact; AWQ's factors are not, and the
     * product goes to the quantizer in float32 (or, for a tensor that is not
     * quantized, is rounded once by the writer) */
    const float *cs = P->colscale[ti], *rd = P->rowdiv[ti];
    for (int64_t r = 0; r < R; r++)
        for (int64_t j = 0; cs && j < C; j++) out[r * C + j] *= cs[j];
    for (int64_t r = 0; rd && r < R; r++)
        for (int64_t j = 0; j < C; j++) out[r * C + j] /= rd[r];
    if (P->clip[ti]) {
        int64_t gs = P->clip_gs[ti], ng = C / gs;
        const float *cv = P->clip[ti];
        for (int64_t r = 0; r < R; r++)
            for (int64_t j = 0; j < C; j++) {
                const float *b = cv + (r * ng + j / gs) * 2;
                out[r * C + j] = fminf(fmaxf(out[r * C + j], b[0]), b[1]);
            }
    }
    return QT_OK;
}

/* ---- observers (static input activations, kv cache) ------------------- */

/* llm-compressor's min/max observers: minmax (its default for static
 * activations) moves min and max toward each observation's by the
 * averaging constant (0.01), static_minmax keeps the extremes,
 * memoryless_minmax the last.  One observation is one calibration sample
 * (the pipeline observes one sequence per forward call, as oneshot's
 * batches of one). */
enum obs { OBS_MINMAX, OBS_STATIC, OBS_MEMORYLESS };

static int parse_obs(const char *name, uint8_t *out, qt_err *err) {
    if (!name || !*name || !strcmp(name, "minmax")) *out = OBS_MINMAX;
    else if (!strcmp(name, "static_minmax")) *out = OBS_STATIC;
    else if (!strcmp(name, "memoryless_minmax") || !strcmp(name, "memoryless")) *out = OBS_MEMORYLESS;
    else return qt_err_set(err, "observer \"%s\" is not supported for static activations (minmax, static_minmax, "
                           "memoryless_minmax)", name);
    return QT_OK;
}

/* The observer of QuantizationArgs node q (may be NULL): its name, else def;
 * observer_kwargs.averaging_constant, else 0.01. */
static int obs_of(const struct qt_yaml *q, const char *def, uint8_t *kind, float *avg, qt_err *err) {
    const struct qt_yaml *v = q && q->kind == QT_YAML_MAP ? qt_yaml_get(q, "observer") : NULL;
    const char *name = v && !qt_yaml_is_null(v) && qt_yaml_str(v) ? qt_yaml_str(v) : def;
    *avg = 0.01f;
    const struct qt_yaml *kw = q && q->kind == QT_YAML_MAP ? qt_yaml_get(q, "observer_kwargs") : NULL;
    double d;
    if (kw && kw->kind == QT_YAML_MAP && (v = qt_yaml_get(kw, "averaging_constant")) && qt_yaml_num(v, &d)) {
        if (!(d > 0 && d <= 1)) return qt_err_set(err, "observer_kwargs.averaging_constant %g is outside (0, 1]", d);
        *avg = (float)d;
    }
    return parse_obs(name, kind, err);
}

static void obs_update(double *mn, double *mx, uint8_t kind, float avg, double bmin, double bmax) {
    if (isnan(*mn) || kind == OBS_MEMORYLESS) { *mn = bmin; *mx = bmax; return; }
    if (kind == OBS_STATIC) { *mn = fmin(*mn, bmin); *mx = fmax(*mx, bmax); return; }
    *mn += avg * (bmin - *mn);   /* torch.lerp(prev, new, c) */
    *mx += avg * (bmax - *mx);
}

/* compressed-tensors' symmetric per-tensor scale from an observer's range:
 * max(|min(mn, 0)|, max(mx, 0)) / (int8: 255 / 2, fp8: 448), at least
 * float32's epsilon, stored in the weight dtype. */
static float obs_scale(double mn, double mx, int mode, enum qt_dtype wd) {
    double a = fmax(-fmin(mn, 0), fmax(mx, 0));
    float s = (float)(a / (mode == QT_FWD_STATIC_INT8 ? 127.5 : 448.0));
    if (!(s >= FLT_EPSILON)) s = FLT_EPSILON;
    if (wd == QT_DT_BF16) return qt_bf16_to_f32(qt_f32_to_bf16(s));
    if (wd == QT_DT_F16) return qt_f16_to_f32(qt_f32_to_f16(s));
    return s;
}

static void range_of(const float *x, int64_t n, double *mn, double *mx) {
    float a = x[0], b = x[0];
    for (int64_t i = 1; i < n; i++) {
        a = fminf(a, x[i]);
        b = fmaxf(b, x[i]);
    }
    *mn = a;
    *mx = b;
}

/* bf16 widening over the pool's threads (tens of MB per tensor; the
 * Hessians' mirror and sums are backend.h's qt_be_mirror_upper and
 * qt_be_hacc_addto). */
struct sweep {
    float *out;                 /* out = bf16 in over n */
    const uint16_t *in;
};

static void widen_fn(void *arg, int64_t i0, int64_t i1) {
    const struct sweep *S = arg;
    for (int64_t i = i0; i < i1; i++) S->out[i] = qt_bf16_to_f32(S->in[i]);
}

/* ---- hooks ------------------------------------------------------------ */

struct hess {
    double *h;                  /* (cols, cols) Σ x xᵀ on the host (mirrored after the pass), or NULL */
    int64_t cols, n;
    struct qt_hacc a;           /* or the sum kept by the backend (a pass in device mode), a.cols 0: none */
    double *diag;               /* (cols) a's diagonal on the host, after the pass */
};

struct ctx {
    const struct qt_model *m;
    struct qt_backend *be;      /* the forward's: computes the Hessians */
    struct qt_pipe *P;
    int *rep;                   /* (n) tensor whose Hessian slot ti uses */
    struct hess *H;             /* (n) by rep */
    uint8_t *want;              /* (n) 1: accumulate rep ti in this pass */
    float **cur;                /* (n) weight to substitute, or NULL */
    uint16_t **cur16;           /* (n) the same as bf16 (set_cur), or NULL */
    int observing;
    int amax_mode;              /* 1: this pass records max|x_j| into amax[rep] instead of Hessians */
    float **amax;               /* (n) by rep, (cols) */
    int asum_on;                /* 1: also sum |x_j| into asum[rep] (AWQ's x_mean) */
    double **asum;              /* (n) by rep, (cols) */
    int count;                  /* 1: count rows per tensor in this pass */
    int fail;
    const float *last_x;
    int64_t last_n;
    int last_rep;
    float *tmp;                 /* (tmp_cap) xᵀx of one call */
    int64_t tmp_cap;
    uint8_t *done;              /* (n) quantized by a GPTQ batch in this pass */
    int batch_gptq;             /* 1: use the backend's batched GPTQ when it has one */
    /* Hessians where GPTQ runs (device mode, QTUNE_PIPE_HACC): 0 never, 1
     * when the backend keeps accumulators and runs batched GPTQ, 2 always
     * (the CPU then keeps them in host accumulators: the tests' check of
     * the plumbing); dh: this pass accumulates so */
    int dh_mode, dh;
    qt_err ferr;                /* why fail was set, when it was not memory */
    const volatile int *cancel;
    /* AWQ's scale search on the parent module's output (awq_parent_loss) */
    float **trial;              /* (n) weight to try for ti while observing, or NULL */
    /* What hook_weight serves changes (observing, trial, smoothing, kept):
     * wgen counts the changes, wseen is the state the forward last ran
     * with; layer_run re-sets the hooks on a change, which drops a GPU
     * forward's resident weights (it caches them by tensor index). */
    const struct qt_fwd_hooks *hk;
    unsigned wgen, wseen;
    struct probe *probe;        /* the attention output's probe, or NULL */
};

/* AWQ's loss on the attention's output: the rows entering o_proj, times
 * o_proj's weight, against the reference's (stored on the first pass).
 * One per mapping: its weight is read once for the whole grid. */
struct probe {
    int ti;                     /* o_proj */
    float *w;                   /* its weight (rows, cols) */
    int64_t rows, cols;
    float *ref;                 /* (tokens, rows) the reference output */
    int64_t at;                 /* row of the batch being run */
    int store;                  /* 1: fill ref; 0: add the squared difference to loss */
    double loss;
    float *y;                   /* (cap) one batch's output */
    int64_t cap;
};

/* Σ (a_i - b_i)² over n values, in double. */
static double sq_diff(const float *a, const float *b, int64_t n) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        sum += d * d;
    }
    return sum;
}

static void probe_rows(struct ctx *c, const float *x, int64_t n, int64_t cols) {
    struct probe *pb = c->probe;
    if (cols != pb->cols) { c->fail = 1; return; }
    if (n * pb->rows > pb->cap) {
        free(pb->y);
        pb->y = malloc(sizeof(float) * (size_t)(n * pb->rows));
        pb->cap = pb->y ? n * pb->rows : 0;
        if (!pb->y) { c->fail = 1; return; }
    }
    float *y = pb->store ? pb->ref + pb->at * pb->rows : pb->y;
    if (qt_be_gemm_nt(qt_backend_cpu(), x, pb->w, y, n, pb->rows, cols, NULL) != QT_OK) { c->fail = 1; return; }
    if (!pb->store) pb->loss += sq_diff(y, pb->ref + pb->at * pb->rows, n * pb->rows);
    pb->at += n;
}

static int hook_weight(void *vc, int ti, float *out, qt_err *err) {
    (void)err;
    struct ctx *c = vc;
    /* observation runs the layer as it was; the quantized weights feed only
     * the propagation to the next layer */
    int64_t ne = qt_tensor_numel(&c->m->tensors[ti]);
    if (!c->observing && c->cur16[ti]) {
        struct sweep S = {.out = out, .in = c->cur16[ti]};
        qt_parallel_for(ne, widen_fn, &S);
        return QT_OK;
    }
    if (c->observing && c->trial && c->trial[ti]) {
        memcpy(out, c->trial[ti], sizeof(float) * (size_t)ne);
        return QT_OK;
    }
    if (c->observing || !c->cur[ti]) return smoothed(c->P, ti, out, err);
    memcpy(out, c->cur[ti], sizeof(float) * (size_t)ne);
    return QT_OK;
}

/* The quantized model's activation fake-quant, in the propagation only. */
static enum qt_fwd_act hook_act(void *vc, int ti) {
    struct ctx *c = vc;
    return c->observing ? QT_FWD_ACT_NONE : (enum qt_fwd_act)c->P->act[ti];
}

/* Static input scales, in the propagation only (as vLLM applies them). */
static int hook_act_static(void *vc, int ti, float *scale) {
    struct ctx *c = vc;
    const struct qt_pipe *P = c->P;
    if (c->observing || !P->smode[ti] || !(P->escale[ti] > 0)) return 0;
    *scale = P->escale[ti];
    return P->smode[ti];
}

/* The fp8 kv cache: observed in the first observation pass, applied in the
 * propagation. */
static int hook_kv(void *vc, int layer, const float *k, const float *v, int64_t n, int64_t cols, float *ks, float *vs) {
    struct ctx *c = vc;
    struct qt_pipe *P = c->P;
    if (!P->kv_on || n <= 0 || layer < 0 || layer >= P->n_layers) return 0;
    if (c->observing) {
        if (!c->count || c->amax_mode) return 0;
        double a, b;
        range_of(k, n * cols, &a, &b);
        obs_update(&P->kvmin[layer], &P->kvmax[layer], P->kv_obs, P->kv_avg, a, b);
        range_of(v, n * cols, &a, &b);
        obs_update(&P->kvmin[P->n_layers + layer], &P->kvmax[P->n_layers + layer], P->kv_obs, P->kv_avg, a, b);
        return 0;
    }
    if (!(P->kscale[layer] > 0 && P->vscale[layer] > 0)) return 0;
    *ks = P->kscale[layer];
    *vs = P->vscale[layer];
    return 1;
}

static void hook_observe(void *vc, int ti, const float *x, int64_t n, int64_t cols) {
    struct ctx *c = vc;
    if (!c->observing || n <= 0 || c->fail) return;
    if (c->probe && ti == c->probe->ti) probe_rows(c, x, n, cols);
    int rp = c->rep[ti];
    int dup = rp == c->last_rep && x == c->last_x && n == c->last_n;
    c->last_rep = rp;
    c->last_x = x;
    c->last_n = n;
    if (c->count) {
        if (c->P->tokens[ti] < 0) c->P->tokens[ti] = 0;
        c->P->tokens[ti] += n;
        if (c->P->smode[ti] && !c->amax_mode) {   /* the module's input observer */
            double a, b;
            range_of(x, n * cols, &a, &b);
            obs_update(&c->P->omin[ti], &c->P->omax[ti], c->P->sobs[ti], c->P->savg[ti], a, b);
        }
    }
    if (!c->want[rp] || dup) return;
    if (c->amax_mode) {
        if (!c->amax[rp]) c->amax[rp] = calloc((size_t)cols, sizeof(float));
        if (!c->amax[rp]) { c->fail = 1; return; }
        float *a = c->amax[rp];
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < cols; j++) {
                float v = fabsf(x[r * cols + j]);
                if (v > a[j]) a[j] = v;
            }
        return;
    }
    struct hess *H = &c->H[rp];
    if (c->dh) {
        /* device mode: the float32 products of this call summed where GPTQ will read them */
        if (!H->a.cols) {
            if (qt_be_hacc_new(c->be, 1, cols, &H->a, &c->ferr) != QT_OK) { c->fail = 1; return; }
            H->cols = cols;
            if (H->a.dev) c->P->hess_dev++;
        }
        if (H->a.cols != cols || qt_be_hacc_add(c->be, &H->a, x, n, &c->ferr) != QT_OK) { c->fail = 1; return; }
        H->n += n;
        return;
    }
    if (!H->h) {
        H->h = calloc((size_t)(cols * cols), sizeof(double));
        H->cols = cols;
        if (!H->h) { c->fail = 1; return; }
    }
    if (cols * cols > c->tmp_cap) {
        free(c->tmp);
        c->tmp = malloc(sizeof(float) * (size_t)(cols * cols));
        c->tmp_cap = c->tmp ? cols * cols : 0;
        if (!c->tmp) { c->fail = 1; return; }
    }
    /* float32 products of one batch (≤ 8192 rows), summed in double */
    if (qt_be_gram_acc_upper(c->be, H->h, cols, x, n, c->tmp, &c->ferr) != QT_OK) { c->fail = 1; return; }
    H->n += n;
    if (c->asum_on) {
        if (!c->asum[rp]) c->asum[rp] = calloc((size_t)cols, sizeof(double));
        if (!c->asum[rp]) { c->fail = 1; return; }
        double *a = c->asum[rp];
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < cols; j++) a[j] += fabsf(x[r * cols + j]);
    }
}

/* ---- helpers ---------------------------------------------------------- */

/* w' of ti (deq, taken over) for the propagation: kept as bf16 when every
 * value is one — w' of a bf16 checkpoint is, so a MoE layer's experts wait
 * for the propagation in half the memory — else as float32. */
static void set_cur(struct ctx *c, int ti, float *deq) {
    int64_t ne = qt_tensor_numel(&c->m->tensors[ti]), i = 0;
    /* no wgen change: w' is served only while propagating, which follows
     * every observation of the layer (observing is part of the key) */
    free(c->cur[ti]);
    free(c->cur16[ti]);
    c->cur[ti] = NULL;
    c->cur16[ti] = NULL;
    uint16_t *b = malloc(sizeof(uint16_t) * (size_t)ne + 1);
    for (; b && i < ne; i++) {
        uint16_t v = qt_f32_to_bf16(deq[i]);
        if (qt_bf16_to_f32(v) != deq[i]) break;
        b[i] = v;
    }
    if (b && i == ne) {
        free(deq);
        c->cur16[ti] = b;
        return;
    }
    free(b);
    c->cur[ti] = deq;
}

/* The tensor of layer l / expert e with role r, or -1. */
static int find(const struct qt_model *m, int l, int e, enum qt_role r) {
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->layer == l && t->expert == e && t->role == r && !t->mtp) return i;
    }
    return -1;
}

static int shared_input_rep(const struct qt_model *m, int ti) {
    const struct qt_tensor *t = &m->tensors[ti];
    int r = -1;
    switch (t->role) {
    case QT_ROLE_ATTN_K: case QT_ROLE_ATTN_V: r = find(m, t->layer, t->expert, QT_ROLE_ATTN_Q); break;
    case QT_ROLE_MLP_UP: r = find(m, t->layer, t->expert, QT_ROLE_MLP_GATE); break;
    case QT_ROLE_SHARED_UP: r = find(m, t->layer, t->expert, QT_ROLE_SHARED_GATE); break;
    case QT_ROLE_EXPERT_UP: r = find(m, t->layer, t->expert, QT_ROLE_EXPERT_GATE); break;
    default: break;
    }
    return r >= 0 ? r : ti;
}

static enum qt_dtype work_dtype(const struct qt_model *m, const struct qt_tensor *t) {
    if (t->dtype == QT_DT_BF16 || t->dtype == QT_DT_F16 || t->dtype == QT_DT_F32) return t->dtype;
    if (m->cfg.dtype == QT_DT_F16 || m->cfg.dtype == QT_DT_F32) return m->cfg.dtype;
    return QT_DT_BF16;
}

static float to_w(enum qt_dtype dt, float x) {
    if (dt == QT_DT_BF16) return qt_bf16_to_f32(qt_f32_to_bf16(x));
    if (dt == QT_DT_F16) return qt_f16_to_f32(qt_f32_to_f16(x));
    return x;
}

/* The weight of ti as float32 values of its work dtype: w (rows, cols). */
static float *read_weight(const struct qt_pipe *P, int ti, qt_err *err) {
    const struct qt_model *m = P->m;
    const struct qt_tensor *t = &m->tensors[ti];
    int64_t R = qt_tensor_rows(t), C = qt_tensor_cols(t);
    float *w = malloc(sizeof(float) * (size_t)(R * C));
    if (!w) { qt_err_set(err, "%s: out of memory", t->name); return NULL; }
    int src = smoothed(P, ti, w, err);
    if (src == QT_ERR || (src == 1 && qt_tensor_read_f32(m, t, 0, R, w, err) != QT_OK)) { free(w); return NULL; }
    enum qt_dtype wd = work_dtype(m, t);
    if (t->dtype != wd)
        for (int64_t i = 0; i < R * C; i++) w[i] = to_w(wd, w[i]);
    return w;
}

static int pwrite_full(int fd, const void *buf, size_t n, int64_t off) {
    const char *b = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, b, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static int pread_full(int fd, void *buf, size_t n, int64_t off) {
    char *b = buf;
    while (n > 0) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        b += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* Appends q (and g_idx) of tensor ti to the spill file. */
static int spill(struct qt_pipe *P, int ti, const struct qt_qtensor *q, const int32_t *g_idx, qt_err *err) {
    struct rec *R = &P->rec[ti];
    int64_t ns = q->srows * q->scols, off = P->spill_end;
    R->off = off;
    R->srows = q->srows;
    R->scols = q->scols;
    R->zero = q->zero != NULL;
    R->gidx = g_idx != NULL;
    R->shape = *q;
    R->shape.q = NULL;
    R->shape.scale = NULL;
    R->shape.zero = NULL;
    R->shape.scale_code = NULL;
    size_t nq = (size_t)(q->rows * q->cols);
    int bad = pwrite_full(P->fd, q->q, nq, off);
    off += (int64_t)nq;
    bad |= pwrite_full(P->fd, q->scale, sizeof(float) * (size_t)ns, off);
    off += (int64_t)sizeof(float) * ns;
    if (q->zero) { bad |= pwrite_full(P->fd, q->zero, (size_t)ns, off); off += ns; }
    if (g_idx) { bad |= pwrite_full(P->fd, g_idx, sizeof(int32_t) * (size_t)q->cols, off); off += 4 * q->cols; }
    if (bad) return qt_err_set(err, "%s: cannot write: %s", P->spill, strerror(errno));
    P->spill_end = off;
    R->has = 1;
    return QT_OK;
}

int qt_pipe_get(const struct qt_pipe *p, int ti, struct qt_qtensor *q, int32_t *g_idx, qt_err *err) {
    if (!p || ti < 0 || ti >= p->n || !p->rec[ti].has) return 1;
    const struct rec *R = &p->rec[ti];
    *q = R->shape;
    int64_t ns = R->srows * R->scols;
    size_t nq = (size_t)(q->rows * q->cols);
    q->q = malloc(nq + 1);
    q->scale = malloc(sizeof(float) * (size_t)ns + 1);
    q->zero = R->zero ? malloc((size_t)ns + 1) : NULL;
    if (!q->q || !q->scale || (R->zero && !q->zero)) { qt_qtensor_free(q); return qt_err_set(err, "out of memory"); }
    int64_t off = R->off;
    int bad = pread_full(p->fd, q->q, nq, off);
    off += (int64_t)nq;
    bad |= pread_full(p->fd, q->scale, sizeof(float) * (size_t)ns, off);
    off += 4 * ns;
    if (R->zero) { bad |= pread_full(p->fd, q->zero, (size_t)ns, off); off += ns; }
    if (R->gidx && g_idx) bad |= pread_full(p->fd, g_idx, sizeof(int32_t) * (size_t)q->cols, off);
    if (bad) { qt_qtensor_free(q); return qt_err_set(err, "%s: cannot read back: %s", p->spill, strerror(errno)); }
    return QT_OK;
}

int qt_pipe_has_gidx(const struct qt_pipe *p, int ti) {
    return p && ti >= 0 && ti < p->n && p->rec[ti].has && p->rec[ti].gidx;
}

const char *qt_pipe_actorder(const struct qt_pipe *p, int ti) {
    if (!p || ti < 0 || ti >= p->n || !p->ao[ti]) return NULL;
    enum qt_actorder a = (enum qt_actorder)(p->ao[ti] - 1);
    return a == QT_ACTORDER_GROUP ? "group" : a == QT_ACTORDER_STATIC ? "static" : NULL;
}

int qt_pipe_kept(const struct qt_pipe *p, int ti, float *out) {
    if (!p || ti < 0 || ti >= p->n) return 1;
    qt_err e;
    return smoothed(p, ti, out, &e) == QT_OK ? QT_OK : 1;
}

int qt_pipe_input_scale(const struct qt_pipe *p, int ti, float *scale) {
    if (!p || ti < 0 || ti >= p->n || !p->smode[ti] || !(p->iscale[ti] > 0)) return 1;
    *scale = p->iscale[ti];
    return QT_OK;
}

static const char *obs_name(uint8_t k) {
    return k == OBS_STATIC ? "static_minmax" : k == OBS_MEMORYLESS ? "memoryless_minmax" : "minmax";
}

const char *qt_pipe_input_observer(const struct qt_pipe *p, int ti) {
    return p && ti >= 0 && ti < p->n && p->smode[ti] ? obs_name(p->sobs[ti]) : NULL;
}

const char *qt_pipe_kv_observer(const struct qt_pipe *p) { return p && p->kv_on ? obs_name(p->kv_obs) : NULL; }

int qt_pipe_kv_scales(const struct qt_pipe *p, int layer, float *k_scale, float *v_scale) {
    if (!p || !p->kv_on || layer < 0 || layer >= p->n_layers || !(p->kscale[layer] > 0)) return 1;
    *k_scale = p->kscale[layer];
    *v_scale = p->vscale[layer];
    return QT_OK;
}

int64_t qt_pipe_tokens(const struct qt_pipe *p, int ti) { return p && ti >= 0 && ti < p->n ? p->tokens[ti] : -1; }
double qt_pipe_out_err(const struct qt_pipe *p, int ti, double *rtn_err) {
    if (!p || ti < 0 || ti >= p->n) { if (rtn_err) *rtn_err = NAN; return NAN; }
    if (rtn_err) *rtn_err = p->rtn_err[ti];
    return p->out_err[ti];
}
int qt_pipe_fallback(const struct qt_pipe *p, int ti) { return p && ti >= 0 && ti < p->n && p->fallback[ti]; }
int qt_pipe_resumed_at(const struct qt_pipe *p) { return p ? p->resumed_at : 0; }
int qt_pipe_samples(const struct qt_pipe *p, int *seqlen) {
    if (seqlen) *seqlen = p ? p->seqlen : 0;
    return p ? p->nseq : 0;
}

void qt_pipe_free(struct qt_pipe *p) {
    if (!p) return;
    if (p->fd >= 0) close(p->fd);
    if (p->spill && !p->keep_spill) unlink(p->spill);
    free(p->spill);
    for (int i = 0; p->kept && i < p->n; i++) free(p->kept[i]);
    for (int i = 0; p->colscale && i < p->n; i++) free(p->colscale[i]);
    free(p->kept);
    free(p->colscale);
    for (int i = 0; p->rowdiv && i < p->n; i++) free(p->rowdiv[i]);
    for (int i = 0; p->clip && i < p->n; i++) free(p->clip[i]);
    free(p->rowdiv);
    free(p->clip);
    free(p->clip_gs);
    free(p->awq);
    free(p->awq_diff);
    cJSON_Delete(p->awq_maps);
    free(p->act);
    free(p->smooth_diff);
    free(p->rec);
    free(p->tokens);
    free(p->out_err);
    free(p->rtn_err);
    free(p->fallback);
    free(p->kind);
    free(p->ao);
    free(p->sp);
    free(p->smode);
    free(p->sobs);
    free(p->savg);
    free(p->omin);
    free(p->omax);
    free(p->iscale);
    free(p->escale);
    free(p->sfall);
    free(p->kvmin);
    free(p->kvmax);
    free(p->kscale);
    free(p->vscale);
    free(p->mag);
    free(p->sp_err);
    free(p->zeros);
    free(p->layer_s);
    free(p);
}

/* ---- resumable state (pipeline.h: state_dir) ---------------------------
 *
 * After each finished decoder layer: layer-NNNN.bin (what the layer set,
 * below), hidden.bin (the hidden states the next layer reads), the spill
 * flushed, then state.json naming how many layers are done — written last,
 * each file atomically, so a run killed at any point leaves either the
 * previous layer's state or this one's.  Every per-tensor field the layers
 * set is saved here: a field added to struct qt_pipe that a layer sets must
 * get its place in tstate (or a vector bit) too, and STATE_VERSION bumped. */

#define STATE_VERSION 2
#define STATE_MAGIC 0x31505451u   /* "QTP1" */

/* A tensor's scalars as saved (raw: the state is read back by the same
 * build; the key carries STATE_VERSION and this struct's size). */
struct tstate {
    int32_t ti;
    uint8_t fallback, ao, awq, vec;   /* vec: 1 kept, 2 colscale, 4 rowdiv, 8 clip */
    struct rec rec;                   /* rec.shape's arrays are NULL */
    int64_t tokens, clip_gs;
    double out_err, rtn_err;
    /* SparseGPT and static input scales */
    uint8_t sfall;
    int64_t zeros;
    double sp_err, omin, omax;
    float iscale, escale;
};

struct sbuf { char *b; size_t n, cap; int oom; };

static void sbuf_put(struct sbuf *B, const void *p, size_t n) {
    if (B->oom) return;
    if (B->n + n > B->cap) {
        size_t c = B->cap ? B->cap : 4096;
        while (c < B->n + n) c *= 2;
        char *nb = realloc(B->b, c);
        if (!nb) { B->oom = 1; return; }
        B->b = nb;
        B->cap = c;
    }
    memcpy(B->b + B->n, p, n);
    B->n += n;
}

/* Lengths of tensor ti's vectors (floats): kept, colscale, rowdiv, clip. */
static void vec_lens(const struct qt_pipe *P, int ti, int64_t len[4]) {
    const struct qt_tensor *t = &P->m->tensors[ti];
    int64_t R = qt_tensor_rows(t), C = qt_tensor_cols(t);
    len[0] = qt_tensor_numel(t);
    len[1] = C;
    len[2] = R;
    len[3] = P->clip_gs[ti] > 0 ? R * (C / P->clip_gs[ti]) * 2 : 0;
}

static float **vec_slot(struct qt_pipe *P, int k) {
    return k == 0 ? P->kept : k == 1 ? P->colscale : k == 2 ? P->rowdiv : P->clip;
}

static int has_state(const struct qt_pipe *P, int i) {
    return P->rec[i].has || P->tokens[i] >= 0 || !isnan(P->out_err[i]) || P->kept[i] || P->colscale[i] ||
           P->rowdiv[i] || P->clip[i] || P->awq[i] || P->fallback[i] || !isnan(P->sp_err[i]) || P->zeros[i] >= 0 ||
           !isnan(P->omin[i]) || P->iscale[i] > 0;
}

static void state_path(char *out, size_t n, const char *dir, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

/* Saves layer l's state (tensors of layer l, and any other tensor that got
 * state and was not saved yet: saved (n) marks them), h (npos, H) when a
 * layer follows, then state.json. */
static int state_save(struct qt_pipe *P, const struct qt_pipe_params *pp, int l, int L, uint8_t *saved,
                      const float *h, int64_t npos, int H, qt_err *err) {
    char path[4200], name[32];
    struct sbuf B = {0};
    uint32_t magic = STATE_MAGIC;
    int32_t li = l;
    sbuf_put(&B, &magic, sizeof magic);
    sbuf_put(&B, &li, sizeof li);
    sbuf_put(&B, &P->layer_s[l], sizeof(double));
    sbuf_put(&B, &P->smooth_diff[l], sizeof(double));
    sbuf_put(&B, &P->awq_diff[l], sizeof(double));
    double kv[4] = {P->kvmin[l], P->kvmax[l], P->kvmin[L + l], P->kvmax[L + l]};   /* k then v observers */
    float ks[2] = {P->kscale[l], P->vscale[l]};
    sbuf_put(&B, kv, sizeof kv);
    sbuf_put(&B, ks, sizeof ks);
    for (int i = 0; i < P->n; i++) {
        if (!(P->m->tensors[i].layer == l || (!saved[i] && has_state(P, i)))) continue;
        saved[i] = 1;
        struct tstate ts;
        memset(&ts, 0, sizeof ts);
        ts.ti = i;
        ts.fallback = P->fallback[i];
        ts.ao = P->ao[i];
        ts.awq = P->awq[i];
        ts.rec = P->rec[i];
        ts.tokens = P->tokens[i];
        ts.clip_gs = P->clip_gs[i];
        ts.out_err = P->out_err[i];
        ts.rtn_err = P->rtn_err[i];
        ts.sfall = P->sfall[i];
        ts.zeros = P->zeros[i];
        ts.sp_err = P->sp_err[i];
        ts.omin = P->omin[i];
        ts.omax = P->omax[i];
        ts.iscale = P->iscale[i];
        ts.escale = P->escale[i];
        for (int k = 0; k < 4; k++)
            if (vec_slot(P, k)[i]) ts.vec |= (uint8_t)(1 << k);
        sbuf_put(&B, &ts, sizeof ts);
        int64_t len[4];
        vec_lens(P, i, len);
        for (int k = 0; k < 4; k++)
            if (ts.vec & (1 << k)) sbuf_put(&B, vec_slot(P, k)[i], sizeof(float) * (size_t)len[k]);
    }
    if (B.oom) { free(B.b); return qt_err_set(err, "out of memory (pipeline state)"); }
    snprintf(name, sizeof name, "layer-%04d.bin", l);
    state_path(path, sizeof path, pp->state_dir, name);
    int rc = qt_write_file_atomic(path, B.b, B.n, err);
    free(B.b);
    if (rc != QT_OK) return QT_ERR;
    if (l + 1 < L) {
        state_path(path, sizeof path, pp->state_dir, "hidden.bin");
        if (qt_write_file_atomic(path, h, sizeof(float) * (size_t)(npos * H), err) != QT_OK) return QT_ERR;
    }
    if (fsync(P->fd) != 0) return qt_err_set(err, "%s: fsync: %s", P->spill, strerror(errno));
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "version", STATE_VERSION);
    cJSON_AddStringToObject(j, "key", pp->state_key ? pp->state_key : "");
    cJSON_AddNumberToObject(j, "layers_done", l + 1);
    cJSON_AddNumberToObject(j, "layers", L);
    cJSON_AddNumberToObject(j, "tensors", P->n);
    cJSON_AddNumberToObject(j, "samples", P->nseq);
    cJSON_AddNumberToObject(j, "sample_len", P->seqlen);
    cJSON_AddNumberToObject(j, "hidden", H);
    cJSON_AddNumberToObject(j, "record", (double)sizeof(struct tstate));
    cJSON_AddNumberToObject(j, "spill_end", (double)P->spill_end);
    cJSON_AddNumberToObject(j, "awq_clip_before", P->awq_clip_before);
    cJSON_AddNumberToObject(j, "awq_clip_after", P->awq_clip_after);
    if (P->awq_maps) cJSON_AddItemToObject(j, "awq_maps", cJSON_Duplicate(P->awq_maps, 1));
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    if (!txt) return qt_err_set(err, "out of memory (pipeline state)");
    state_path(path, sizeof path, pp->state_dir, "state.json");
    rc = qt_write_file_atomic(path, txt, strlen(txt), err);
    free(txt);
    return rc;
}

/* Forgets what a partly applied state set (the run starts over). */
static void state_forget(struct qt_pipe *P) {
    for (int i = 0; i < P->n; i++) {
        for (int k = 0; k < 4; k++) { free(vec_slot(P, k)[i]); vec_slot(P, k)[i] = NULL; }
        memset(&P->rec[i], 0, sizeof P->rec[i]);
        P->tokens[i] = -1;
        P->out_err[i] = P->rtn_err[i] = NAN;
        P->fallback[i] = P->awq[i] = 0;
        P->clip_gs[i] = 0;
        P->ao[i] = 0;
        P->sp_err[i] = P->omin[i] = P->omax[i] = NAN;
        P->zeros[i] = -1;
        P->iscale[i] = P->escale[i] = 0;
        P->sfall[i] = 0;
    }
    for (int l = 0; l < P->n_layers; l++) {
        P->layer_s[l] = 0;
        P->smooth_diff[l] = P->awq_diff[l] = NAN;
        P->kvmin[l] = P->kvmax[l] = P->kvmin[P->n_layers + l] = P->kvmax[P->n_layers + l] = NAN;
        P->kscale[l] = P->vscale[l] = 0;
    }
    P->awq_clip_before = P->awq_clip_after = 0;
    P->spill_end = 0;
}

/* Reads layer l's file and applies it; saved (n) marks its tensors. */
static int state_load_layer(struct qt_pipe *P, const char *dir, int l, uint8_t *saved, qt_err *err) {
    char path[4200], name[32];
    snprintf(name, sizeof name, "layer-%04d.bin", l);
    state_path(path, sizeof path, dir, name);
    size_t len;
    char *b = qt_read_file_ex(path, &len, SIZE_MAX / 2, 0, err);
    if (!b) return QT_ERR;
    size_t off = 0;
    int rc = qt_err_set(err, "%s: malformed", path);
    uint32_t magic;
    int32_t li;
    int L = P->n_layers;
    if (len < 4 + 4 + 24 + 32 + 8) goto out;
    memcpy(&magic, b, 4);
    memcpy(&li, b + 4, 4);
    if (magic != STATE_MAGIC || li != l) goto out;
    memcpy(&P->layer_s[l], b + 8, 8);
    memcpy(&P->smooth_diff[l], b + 16, 8);
    memcpy(&P->awq_diff[l], b + 24, 8);
    double kv[4];
    float ks[2];
    memcpy(kv, b + 32, sizeof kv);
    memcpy(ks, b + 64, sizeof ks);
    P->kvmin[l] = kv[0], P->kvmax[l] = kv[1], P->kvmin[L + l] = kv[2], P->kvmax[L + l] = kv[3];
    P->kscale[l] = ks[0], P->vscale[l] = ks[1];
    off = 72;
    while (off < len) {
        struct tstate ts;
        if (len - off < sizeof ts) goto out;
        memcpy(&ts, b + off, sizeof ts);
        off += sizeof ts;
        if (ts.ti < 0 || ts.ti >= P->n) goto out;
        int i = ts.ti;
        saved[i] = 1;
        P->fallback[i] = ts.fallback;
        P->ao[i] = ts.ao;
        P->awq[i] = ts.awq;
        P->rec[i] = ts.rec;
        P->rec[i].shape.q = NULL;
        P->rec[i].shape.scale = NULL;
        P->rec[i].shape.zero = NULL;
        P->rec[i].shape.scale_code = NULL;
        P->tokens[i] = ts.tokens;
        P->clip_gs[i] = ts.clip_gs;
        P->out_err[i] = ts.out_err;
        P->rtn_err[i] = ts.rtn_err;
        P->sfall[i] = ts.sfall;
        P->zeros[i] = ts.zeros;
        P->sp_err[i] = ts.sp_err;
        P->omin[i] = ts.omin;
        P->omax[i] = ts.omax;
        P->iscale[i] = ts.iscale;
        P->escale[i] = ts.escale;
        if (P->rec[i].has && P->rec[i].off + P->rec[i].srows * P->rec[i].scols > P->spill_end) goto out;
        int64_t vl[4];
        vec_lens(P, i, vl);
        for (int k = 0; k < 4; k++) {
            if (!(ts.vec & (1 << k))) continue;
            size_t nb = sizeof(float) * (size_t)vl[k];
            if (vl[k] <= 0 || len - off < nb) goto out;
            float *v = malloc(nb);
            if (!v) { rc = qt_err_set(err, "out of memory (pipeline state)"); goto out; }
            memcpy(v, b + off, nb);
            off += nb;
            free(vec_slot(P, k)[i]);
            vec_slot(P, k)[i] = v;
        }
    }
    rc = QT_OK;
out:
    free(b);
    return rc;
}

/* The layer to start at: 0 for a fresh state (the directory cleared), k
 * after loading a matching state of k finished layers (h (npos, H) gets
 * its hidden states).  The spill file is opened either way. */
static int state_open(struct qt_pipe *P, const struct qt_pipe_params *pp, int L, float *h, int64_t npos, int H,
                      uint8_t *saved, int *start, qt_err *err) {
    char path[4200];
    *start = 0;
    if (qt_mkdirs(pp->state_dir, 0755, err) != QT_OK) return QT_ERR;
    state_path(path, sizeof path, pp->state_dir, "state.json");
    qt_err e2;
    char *txt = qt_read_file(path, NULL, &e2);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    int done = 0;
    const cJSON *k = cJSON_GetObjectItem(j, "key");
    double num[7];
    const char *keys[7] = {"version", "layers", "tensors", "samples", "sample_len", "hidden", "record"};
    double want[7] = {STATE_VERSION, L, P->n, P->nseq, P->seqlen, H, (double)sizeof(struct tstate)};
    int match = cJSON_IsString(k) && !strcmp(k->valuestring, pp->state_key ? pp->state_key : "");
    for (int i = 0; i < 7 && match; i++) {
        const cJSON *v = cJSON_GetObjectItem(j, keys[i]);
        num[i] = cJSON_IsNumber(v) ? v->valuedouble : -1;
        match = num[i] == want[i];
    }
    if (match) {
        const cJSON *d = cJSON_GetObjectItem(j, "layers_done"), *se = cJSON_GetObjectItem(j, "spill_end");
        done = cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= L ? (int)d->valuedouble : 0;
        P->spill_end = cJSON_IsNumber(se) && se->valuedouble >= 0 ? (int64_t)se->valuedouble : 0;
        P->awq_clip_before = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "awq_clip_before"));
        P->awq_clip_after = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "awq_clip_after"));
        if (isnan(P->awq_clip_before)) P->awq_clip_before = 0;
        if (isnan(P->awq_clip_after)) P->awq_clip_after = 0;
        const cJSON *am = cJSON_GetObjectItem(j, "awq_maps");
        if (P->awq_maps && cJSON_IsArray(am)) {
            cJSON_Delete(P->awq_maps);
            P->awq_maps = cJSON_Duplicate(am, 1);
        }
    }
    cJSON_Delete(j);
    state_path(path, sizeof path, pp->state_dir, "spill.bin");
    P->spill = qt_strdup(path);
    if (!P->spill) return qt_err_set(err, "out of memory");
    P->keep_spill = 1;
    struct stat st;
    if (done && (stat(path, &st) != 0 || st.st_size < P->spill_end)) done = 0;   /* the results are not all there */
    for (int l = 0; l < done; l++)
        if (state_load_layer(P, pp->state_dir, l, saved, &e2) != QT_OK) { done = 0; break; }
    if (done && done < L) {
        state_path(path, sizeof path, pp->state_dir, "hidden.bin");
        size_t len;
        char *hb = qt_read_file_ex(path, &len, SIZE_MAX / 2, 0, &e2);
        if (hb && len == sizeof(float) * (size_t)(npos * H)) memcpy(h, hb, len);
        else done = 0;
        free(hb);
    }
    if (!done) {
        state_forget(P);
        memset(saved, 0, (size_t)P->n);
        static const char *const old[] = {"state.json", "hidden.bin"};
        for (int i = 0; i < 2; i++) { state_path(path, sizeof path, pp->state_dir, old[i]); unlink(path); }
        for (int l = 0; l < L; l++) {
            char name[32];
            snprintf(name, sizeof name, "layer-%04d.bin", l);
            state_path(path, sizeof path, pp->state_dir, name);
            unlink(path);
        }
    }
    P->fd = open(P->spill, O_RDWR | O_CREAT | O_CLOEXEC | (done ? 0 : O_TRUNC), 0600);
    if (P->fd < 0) return qt_err_set(err, "%s: cannot open: %s", P->spill, strerror(errno));
    if (done && ftruncate(P->fd, P->spill_end) != 0)
        return qt_err_set(err, "%s: cannot truncate: %s", P->spill, strerror(errno));
    *start = done;
    return QT_OK;
}

/* ---- SmoothQuant -------------------------------------------------------- */

/* One smooth layer (a norm) and every Linear that reads its output. */
struct smap {
    int smooth;                 /* norm tensor */
    int n;
    int *cons;                  /* (n) consumers; the router among them */
};

static int is_consumer(enum qt_role r, int post) {
    if (!post) return r == QT_ROLE_ATTN_Q || r == QT_ROLE_ATTN_K || r == QT_ROLE_ATTN_V;
    return r == QT_ROLE_MLP_GATE || r == QT_ROLE_MLP_UP || r == QT_ROLE_SHARED_GATE || r == QT_ROLE_SHARED_UP ||
           r == QT_ROLE_EXPERT_GATE || r == QT_ROLE_EXPERT_UP || r == QT_ROLE_ROUTER;
}

/* Whether a SmoothQuantModifier's `mappings` name this smooth layer (no
 * mappings: the glm4_moe defaults, both norms of every layer).  Mappings are
 * [[balance...], smooth] lists or {smooth_layer, balance_layers} maps; only
 * the smooth layer matters, the consumers come from the graph. */
static int mapping_wants(const struct qt_yaml *maps, const char *module, const struct qt_mclass *cls, qt_err *err) {
    if (!maps || qt_yaml_is_null(maps)) return 1;
    for (int i = 0; i < maps->n; i++) {
        const struct qt_yaml *e = maps->items[i], *sm = NULL;
        if (e->kind == QT_YAML_SEQ && e->n == 2) sm = e->items[1];
        else if (e->kind == QT_YAML_MAP) sm = qt_yaml_get(e, "smooth_layer");
        const char *txt = sm ? qt_yaml_str(sm) : NULL;
        if (!txt) continue;
        struct qt_pattern pt;
        if (qt_pattern_compile(txt, &pt, err) != QT_OK) return -1;
        int hit = qt_pattern_match(&pt, module, cls, NULL) != QT_MATCH_NONE;
        qt_pattern_free(&pt);
        if (hit) return 1;
    }
    return 0;
}

/* Layer l (or one block of it, qt_fwd_layer_part) in place on h, with the
 * weights hook_weight serves now. */
static int layer_run(struct ctx *c, struct qt_fwd *f, int l, int part, float *h, int nb, int seqlen, qt_err *err) {
    unsigned key = c->wgen * 2u + (c->observing != 0);
    if (key != c->wseen) {
        qt_fwd_set_hooks(f, c->hk);
        c->wseen = key;
    }
    return qt_fwd_layer_part(f, l, part, h, nb, seqlen, err);
}

/* Runs rows [0, nb*seqlen) of h through layer l on a copy: out. */
static int run_copy(struct ctx *c, struct qt_fwd *f, int l, const float *h, float *out, int nb, int seqlen, int H,
                    qt_err *err) {
    memcpy(out, h, sizeof(float) * (size_t)((int64_t)nb * seqlen * H));
    return layer_run(c, f, l, QT_FWD_WHOLE, out, nb, seqlen, err);
}

/* The function-preservation check of smoothing: how far the layer's output
 * y (ntok x H) moved from ref, as max |y - ref| / max |ref|, over the tokens
 * that kept their routing.  The router's scores are compensated exactly in
 * real arithmetic, but float rounding moves them by ~1e-7, so a token whose
 * k-th and (k+1)-th expert scores are that close may take the other expert
 * (seen: 1 token of 8192 in a layer, 0.6% of max |ref|); such near-ties are
 * not a compensation fault, which would change every token the uncompensated
 * consumer sees.  So up to max(1, ntok / 1000) tokens above the limit are
 * left out; the value returned covers the rest (with more tokens above the
 * limit than that, it is the largest of all and the check fails).  *ties:
 * the number of tokens above the limit. */
static double output_change(const float *y, const float *ref, int64_t ntok, int H, double limit, int64_t *ties) {
    double ymax = 0;
    for (int64_t i = 0; i < ntok * H; i++) ymax = fmax(ymax, fabs((double)ref[i]));
    *ties = 0;
    if (!(ymax > 0)) return 0;
    int64_t allow = ntok / 1000 > 1 ? ntok / 1000 : 1, over = 0;
    double all = 0, kept = 0;
    for (int64_t t = 0; t < ntok; t++) {
        double d = 0;
        for (int j = 0; j < H; j++) d = fmax(d, fabs((double)y[t * H + j] - ref[t * H + j]));
        d /= ymax;
        if (isnan(d)) d = INFINITY;
        all = fmax(all, d);
        if (d < limit) kept = fmax(kept, d);
        else over++;
    }
    *ties = over;
    return over > allow ? all : kept;
}

/* SmoothQuant on layer l: max|x| of every smooth layer's output over the
 * calibration tokens (one pass), power-of-two factors, then the norm and all
 * its consumers rescaled; the layer's output on the first batch is compared
 * before and after (it must not move by more than 1e-3 relative). */
static int smooth_layer(struct ctx *c, struct qt_fwd *f, const struct qt_yaml *maps, const float *h, float *tmp,
                        float *ref, int nseq, int seqlen, int bseq, int l, const volatile int *cancel, qt_err *err) {
    struct qt_pipe *P = c->P;
    const struct qt_model *m = c->m;
    int n = m->n_tensors, H = m->cfg.hidden, rc = QT_ERR;
    struct smap mp[2];
    memset(mp, 0, sizeof mp);
    float *amax = malloc(sizeof(float) * (size_t)H), *wmax = malloc(sizeof(float) * (size_t)H);
    float *s = malloc(sizeof(float) * (size_t)H), *w = NULL;
    char nm[256];
    if (!amax || !wmax || !s) { qt_err_set(err, "out of memory"); goto out; }
    for (int k = 0; k < 2; k++) {
        snprintf(nm, sizeof nm, "model.layers.%d.%s", l, k ? "post_attention_layernorm" : "input_layernorm");
        struct qt_mclass cls;
        qt_model_classes(m, QT_ROLE_NORM, &cls);
        int want = mapping_wants(maps, nm, &cls, err);
        if (want < 0) goto out;
        mp[k].smooth = -1;
        if (!want) continue;
        snprintf(nm + strlen(nm), sizeof nm - strlen(nm), ".weight");
        mp[k].smooth = qt_model_find_index(m, nm);
        mp[k].cons = malloc(sizeof(int) * ((size_t)n + 1));
        if (!mp[k].cons) { qt_err_set(err, "out of memory"); goto out; }
        for (int i = 0; i < n && mp[k].smooth >= 0; i++) {
            const struct qt_tensor *t = &m->tensors[i];
            if (t->layer == l && !t->mtp && t->ndim == 2 && is_consumer(t->role, k)) mp[k].cons[mp[k].n++] = i;
        }
        if (mp[k].n == 0) mp[k].smooth = -1;
    }
    /* pass: max|x| at the consumers (the shared expert, or the union of
     * the routed experts, covers every token) */
    memset(c->want, 0, (size_t)n);
    for (int k = 0; k < 2; k++)
        for (int q = 0; mp[k].smooth >= 0 && q < mp[k].n; q++)
            if (m->tensors[mp[k].cons[q]].role != QT_ROLE_ROUTER) c->want[c->rep[mp[k].cons[q]]] = 1;
    c->observing = 1;
    c->amax_mode = 1;
    c->count = 0;
    for (int s0 = 0; s0 < nseq; s0 += bseq) {
        if (cancel && *cancel) { qt_err_set(err, "cancelled"); goto out; }
        int nb = nseq - s0 < bseq ? nseq - s0 : bseq;
        c->last_x = NULL;
        c->last_rep = -1;
        if (run_copy(c, f, l, h + (int64_t)s0 * seqlen * H, tmp, nb, seqlen, H, err) != QT_OK) goto out;
        if (c->fail) { qt_err_set(err, "out of memory"); goto out; }
    }
    c->amax_mode = 0;
    memset(c->want, 0, (size_t)n);
    int nb0 = nseq < bseq ? nseq : bseq;
    int64_t nr = (int64_t)nb0 * seqlen * H;
    if (run_copy(c, f, l, h, ref, nb0, seqlen, H, err) != QT_OK) goto out;
    for (int k = 0; k < 2; k++) {
        if (mp[k].smooth < 0) continue;
        for (int j = 0; j < H; j++) amax[j] = wmax[j] = 0;
        for (int q = 0; q < mp[k].n; q++) {
            int ti = mp[k].cons[q];
            const struct qt_tensor *t = &m->tensors[ti];
            if (t->role == QT_ROLE_ROUTER) continue;   /* compensated, not a quantized consumer */
            const float *a = c->amax[c->rep[ti]];
            for (int j = 0; a && j < H; j++) amax[j] = fmaxf(amax[j], a[j]);
            int64_t R = qt_tensor_rows(t);
            free(w);
            w = read_weight(P, ti, err);
            if (!w) goto out;
            for (int64_t r = 0; r < R; r++)
                for (int j = 0; j < H; j++) wmax[j] = fmaxf(wmax[j], fabsf(w[r * H + j]));
        }
        qt_sq_scales(amax, wmax, H, P->alpha, s);
        /* the norm: w / s; every consumer: W[:, j] * s_j (the router too) */
        int sn = mp[k].smooth;
        float *nw = malloc(sizeof(float) * (size_t)H);
        if (!nw) { qt_err_set(err, "out of memory"); goto out; }
        if (smoothed(P, sn, nw, err) == 1 && qt_tensor_read_f32(m, &m->tensors[sn], 0, qt_tensor_rows(&m->tensors[sn]), nw, err) != QT_OK) {
            free(nw);
            goto out;
        }
        for (int j = 0; j < H; j++) nw[j] /= s[j];
        free(P->kept[sn]);
        P->kept[sn] = nw;
        for (int q = 0; q < mp[k].n; q++) {
            int ti = mp[k].cons[q];
            const struct qt_tensor *t = &m->tensors[ti];
            if (t->role == QT_ROLE_ROUTER) {
                int64_t R = qt_tensor_rows(t);
                free(w);
                w = read_weight(P, ti, err);
                if (!w) goto out;
                for (int64_t r = 0; r < R; r++)
                    for (int j = 0; j < H; j++) w[r * H + j] *= s[j];
                free(P->kept[ti]);
                P->kept[ti] = w;
                w = NULL;
                continue;
            }
            if (!P->colscale[ti]) {
                P->colscale[ti] = malloc(sizeof(float) * (size_t)H);
                if (!P->colscale[ti]) { qt_err_set(err, "out of memory"); goto out; }
                for (int j = 0; j < H; j++) P->colscale[ti][j] = 1;
            }
            for (int j = 0; j < H; j++) P->colscale[ti][j] *= s[j];
        }
    }
    c->wgen++;   /* the smoothed weights */
    /* the function-preservation check */
    if (run_copy(c, f, l, h, tmp, nb0, seqlen, H, err) != QT_OK) goto out;
    int64_t ties;
    P->smooth_diff[l] = output_change(tmp, ref, nr / H, H, 1e-3, &ties);
    if (!(P->smooth_diff[l] < 1e-3)) {
        qt_err_set(err, "layer %d: smoothing changed the layer's output by %.3g (relative, limit 1e-3) at %lld of %lld tokens",
                   l, P->smooth_diff[l], (long long)ties, (long long)(nr / H));
        goto out;
    }
    rc = QT_OK;
out:
    c->observing = 0;
    c->amax_mode = 0;
    for (int i = 0; i < n; i++) { free(c->amax[i]); c->amax[i] = NULL; }
    for (int k = 0; k < 2; k++) free(mp[k].cons);
    free(amax);
    free(wmax);
    free(s);
    free(w);
    return rc;
}

/* ---- static scales ------------------------------------------------------ */

/* Input and kv-cache scales of layer l from its observers: each module's
 * own (as written), and the max over its fused group (as vLLM applies it);
 * a routed expert that saw no token takes its group's. */
static void layer_scales(struct qt_pipe *P, int l) {
    const struct qt_model *m = P->m;
    for (int i = 0; i < P->n; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->layer != l || t->mtp || !P->smode[i]) continue;
        if (!isnan(P->omin[i])) P->iscale[i] = obs_scale(P->omin[i], P->omax[i], P->smode[i], work_dtype(m, t));
    }
    for (int i = 0; i < P->n; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->layer != l || t->mtp || !P->smode[i]) continue;
        int cl = qt_role_input_scale_class(t->role);
        float mx = P->iscale[i];
        for (int j = 0; cl && j < P->n; j++) {
            const struct qt_tensor *u = &m->tensors[j];
            if (u->layer == l && !u->mtp && P->smode[j] && qt_role_input_scale_class(u->role) == cl) mx = fmaxf(mx, P->iscale[j]);
        }
        P->escale[i] = mx;
        if (!(P->iscale[i] > 0)) { P->iscale[i] = mx; P->sfall[i] = 1; }
    }
    if (P->kv_on && !isnan(P->kvmin[l])) {
        enum qt_dtype wd = m->cfg.dtype == QT_DT_F16 || m->cfg.dtype == QT_DT_F32 ? m->cfg.dtype : QT_DT_BF16;
        P->kscale[l] = obs_scale(P->kvmin[l], P->kvmax[l], QT_FWD_STATIC_FP8, wd);
        P->vscale[l] = obs_scale(P->kvmin[P->n_layers + l], P->kvmax[P->n_layers + l], QT_FWD_STATIC_FP8, wd);
    }
}

/* Modules with static inputs outside the decoder layers (the MTP layer,
 * which the pipeline does not run): the scale of the same projection class
 * in the last decoder layer, else that layer's largest. */
static void outside_scales(struct qt_pipe *P) {
    const struct qt_model *m = P->m;
    int last = P->n_layers - 1;
    for (int i = 0; i < P->n; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (!P->smode[i] || (t->layer >= 0 && !t->mtp && P->iscale[i] > 0)) continue;
        float same = 0, any = 0;
        int cl = qt_role_input_scale_class(t->role);
        for (int j = 0; j < P->n; j++) {
            const struct qt_tensor *u = &m->tensors[j];
            if (u->layer != last || u->mtp || !(P->iscale[j] > 0)) continue;
            any = fmaxf(any, P->escale[j]);
            if (u->role == t->role || (cl && qt_role_input_scale_class(u->role) == cl))
                same = fmaxf(same, P->escale[j]);
        }
        P->iscale[i] = P->escale[i] = same > 0 ? same : any > 0 ? any : 1.0f;
        P->sfall[i] = 2;
    }
}

/* ---- AWQ ----------------------------------------------------------------- */

/* One AWQ mapping: a smooth layer (a norm, v_proj or an up projection) and
 * every Linear reading its output (the balance layers, the router among
 * them), taken from the graph. */
enum { AP_SELF, AP_ATTN, AP_MLP };
struct amap {
    int smooth;                 /* norm weight or Linear */
    int bias;                   /* the smooth Linear's bias, -1 none */
    /* the module whose output the scale search scores (llm-compressor's
     * parent: the balance layers' lowest common ancestor): AP_ATTN the
     * attention (q/k/v), AP_MLP the MLP or MoE block (its readers, the
     * router among them), AP_SELF the one balance Linear (o_proj, a down
     * projection), whose output error is its Hessian's */
    int parent;
    int n;
    int bal[80];                /* balance tensors (n) */
};

/* The graph's mappings of layer l: input_layernorm -> q/k/v; v_proj -> o_proj
 * where v's outputs are o's inputs (not under GQA); post_attention_layernorm
 * -> every reader (dense MLP gate/up, or the router, the shared expert's and
 * every routed expert's gate/up); each up projection -> its down projection. */
static int awq_mappings(const struct qt_model *m, int l, struct amap **out, int *nout, qt_err *err) {
    int n = m->n_tensors, cap = 8, k = 0;
    struct amap *mp = calloc((size_t)cap, sizeof *mp);
    char nm[256];
    if (!mp) return qt_err_set(err, "out of memory");
    for (int post = 0; post < 2; post++) {
        snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", l, post ? "post_attention_layernorm" : "input_layernorm");
        int sn = qt_model_find_index(m, nm);
        if (sn < 0) continue;
        struct amap *a = &mp[k];
        a->smooth = sn;
        a->bias = -1;
        a->parent = post ? AP_MLP : AP_ATTN;
        for (int i = 0; i < n; i++) {
            const struct qt_tensor *t = &m->tensors[i];
            if (t->layer != l || t->mtp || t->ndim != 2 || !is_consumer(t->role, post)) continue;
            if (a->n == (int)(sizeof a->bal / sizeof a->bal[0])) { free(mp); return qt_err_set(err, "layer %d: too many readers of %s", l, nm); }
            a->bal[a->n++] = i;
        }
        if (a->n) k++;
        if (!post) {   /* v -> o */
            int v = find(m, l, -1, QT_ROLE_ATTN_V), o = find(m, l, -1, QT_ROLE_ATTN_O);
            if (v >= 0 && o >= 0 && qt_tensor_rows(&m->tensors[v]) == qt_tensor_cols(&m->tensors[o])) {
                mp[k].smooth = v;
                mp[k].bias = find(m, l, -1, QT_ROLE_ATTN_V_BIAS);
                mp[k].n = 1;
                mp[k].bal[0] = o;
                k++;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        enum qt_role dr = t->role == QT_ROLE_MLP_UP ? QT_ROLE_MLP_DOWN : t->role == QT_ROLE_SHARED_UP ? QT_ROLE_SHARED_DOWN
                        : t->role == QT_ROLE_EXPERT_UP ? QT_ROLE_EXPERT_DOWN : QT_ROLE_OTHER;
        if (t->layer != l || t->mtp || dr == QT_ROLE_OTHER) continue;
        int d = find(m, l, t->expert, dr);
        if (d < 0 || qt_tensor_rows(t) != qt_tensor_cols(&m->tensors[d])) continue;
        if (k == cap) {
            struct amap *nx = realloc(mp, sizeof *mp * (size_t)(cap *= 2));
            if (!nx) { free(mp); return qt_err_set(err, "out of memory"); }
            mp = nx;
        }
        memset(&mp[k], 0, sizeof mp[k]);
        mp[k].smooth = i;
        mp[k].bias = -1;
        mp[k].n = 1;
        mp[k].bal[0] = d;
        k++;
    }
    *out = mp;
    *nout = k;
    return QT_OK;
}

/* Exposed for the unit test through qt_pipe_awq_mappings. */
int qt_pipe_awq_mappings(const struct qt_model *m, int layer, int *smooth, int *nbal, int *bal, int cap, qt_err *err) {
    struct amap *mp;
    int k, nb = 0;
    if (awq_mappings(m, layer, &mp, &k, err) != QT_OK) return -1;
    for (int i = 0; i < k && i < cap; i++) {
        smooth[i] = mp[i].smooth;
        nbal[i] = mp[i].n;
        for (int j = 0; j < mp[i].n && nb < cap; j++) bal[nb++] = mp[i].bal[j];
    }
    free(mp);
    return k;
}

/* AWQ's loss of a mapping with a parent module (AP_ATTN, AP_MLP): the mean
 * squared difference of the parent's output over every calibration token
 * between layer l as it is (the reference, stored in yref when store) and
 * with the balance layers' weights replaced by trial (n; NULL entries keep
 * theirs), as AWQModifier's _compute_loss.  The attention's output is
 * o_proj's, computed from the rows entering it (pb, AP_ATTN only); the MLP's
 * output difference is the layer output's, the attention before it being
 * the same in both runs.  hmid (tokens, H), when the forward runs the
 * halves of a layer: the MLP's input, stored with the reference, so a trial
 * runs only the block it scores; NULL: whole layers from h.  The router
 * reads its input unscaled, so routing is the reference's. */
static int awq_parent_loss(struct ctx *c, struct qt_fwd *f, const struct amap *a, struct probe *pb, float **trial,
                           const float *h, float *hmid, float *tmp, float *yref, int nseq, int seqlen, int bseq,
                           int H, int l, int store, double *loss, qt_err *err) {
    const struct qt_model *m = c->m;
    int rc = QT_ERR;
    if (a->parent == AP_ATTN) {
        pb->store = store;
        pb->loss = 0;
        c->probe = pb;
    }
    memset(c->want, 0, (size_t)m->n_tensors);
    c->observing = 1;
    c->count = 0;
    c->asum_on = 0;
    c->trial = store ? NULL : trial;
    c->wgen++;
    double sum = 0;
    for (int s0 = 0; s0 < nseq; s0 += bseq) {
        if (c->cancel && *c->cancel) { qt_err_set(err, "cancelled"); goto out; }
        int nb = nseq - s0 < bseq ? nseq - s0 : bseq;
        int64_t ne = (int64_t)nb * seqlen * H, at = (int64_t)s0 * seqlen;
        if (c->probe) pb->at = at;
        c->last_x = NULL;
        c->last_rep = -1;
        int frc;
        if (!qt_fwd_parts(f) || (a->parent == AP_MLP && !hmid)) {
            frc = run_copy(c, f, l, h + at * H, tmp, nb, seqlen, H, err);
        } else if (a->parent == AP_ATTN || store) {
            memcpy(tmp, h + at * H, sizeof(float) * (size_t)ne);
            frc = layer_run(c, f, l, QT_FWD_ATTN, tmp, nb, seqlen, err);
            if (frc == QT_OK && a->parent == AP_MLP) {
                memcpy(hmid + at * H, tmp, sizeof(float) * (size_t)ne);
                frc = layer_run(c, f, l, QT_FWD_MLP, tmp, nb, seqlen, err);
            }
        } else {
            memcpy(tmp, hmid + at * H, sizeof(float) * (size_t)ne);
            frc = layer_run(c, f, l, QT_FWD_MLP, tmp, nb, seqlen, err);
        }
        if (frc != QT_OK) goto out;
        if (c->fail) { qt_err_set(err, "out of memory (AWQ's search of layer %d)", l); goto out; }
        if (a->parent == AP_ATTN && pb->at != at + (int64_t)nb * seqlen) {
            qt_err_set(err, "layer %d: AWQ: o_proj saw %lld rows of %lld", l, (long long)(pb->at - at),
                       (long long)nb * seqlen);
            goto out;
        }
        if (a->parent != AP_MLP) continue;
        if (store) memcpy(yref + at * H, tmp, sizeof(float) * (size_t)ne);
        else sum += sq_diff(tmp, yref + at * H, ne);
    }
    if (a->parent == AP_ATTN) sum = pb->loss;
    *loss = sum / ((double)nseq * seqlen * (a->parent == AP_ATTN ? (double)pb->rows : H));
    rc = QT_OK;
out:
    c->probe = NULL;
    c->trial = NULL;
    c->wgen++;
    c->observing = 0;
    return rc;
}

/* The rounding of value x as tensor t stores it. */
static float stored(const struct qt_tensor *t, float x) { return to_w(t->dtype, x); }

/* AWQ on layer l (before its quantization): one pass observing the Hessian
 * and mean |x| of every Linear of the layer, the scale search per mapping,
 * the smoothing, the function-preservation check, then (clip_search) the
 * clip search of each quantized Linear but q/k (llm-awq's rule: the
 * attention scores are too sensitive to clipped q/k). */
static int awq_layer(struct ctx *c, struct qt_fwd *f, const struct qt_recipe *r, const struct qt_resolution *res,
                     const float *h, float *tmp, float *ref, int nseq, int seqlen, int bseq, int l,
                     const volatile int *cancel, qt_err *err) {
    struct qt_pipe *P = c->P;
    const struct qt_model *m = c->m;
    const struct qt_modifier *md = &r->mods[P->awq_mod];
    const struct qt_yaml *maps = md->args ? qt_yaml_get(md->args, "mappings") : NULL;
    int n = m->n_tensors, H = m->cfg.hidden, rc = QT_ERR, nm = 0;
    struct amap *mp = NULL;
    float **acs = calloc((size_t)n + 1, sizeof *acs);   /* (n) AWQ's own column factors of this layer */
    float *s = NULL, *best = NULL;
    double *xm = NULL, *wm = NULL;
    float **wb = NULL, **wq = NULL;
    /* (balance layers of one mapping) each one's output error on its
     * calibration Hessian: at the ratio being tried, at the best one, and
     * unscaled (round-to-nearest as the weight was); its output energy */
    double *lq = NULL, *lbest = NULL, *l0 = NULL, *den = NULL;
    float **trial = calloc((size_t)n + 1, sizeof *trial);   /* (n) the search's trial weights */
    float *yref = NULL;                                      /* (tokens, H) the parent's reference output */
    float *hmid = NULL;                                      /* (tokens, H) the MLP's input, when the forward runs halves */
    struct probe pb;                                         /* the attention mapping's */
    memset(&pb, 0, sizeof pb);
    /* the search's grid (at most n_grid points) and the calibration samples it scores */
    double gratio[QT_AWQ_GRID_MAX];
    int gduo[QT_AWQ_GRID_MAX];
    int ngrid = qt_awq_grid(P->awq_grid, P->awq_duo, gratio, gduo, QT_AWQ_GRID_MAX);
    int nsearch = P->awq_search > 0 && P->awq_search < nseq ? P->awq_search : nseq;
    if (!acs || !trial) { free(acs); free(trial); return qt_err_set(err, "out of memory"); }
    if (ngrid < 1 || ngrid > QT_AWQ_GRID_MAX) { free(acs); free(trial); return qt_err_set(err, "AWQModifier: bad n_grid"); }
    if (awq_mappings(m, l, &mp, &nm, err) != QT_OK) goto out;
    /* observe every Linear of the layer */
    memset(c->want, 0, (size_t)n);
    for (int i = 0; i < n; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->layer == l && !t->mtp && t->ndim == 2 && t->role != QT_ROLE_ROUTER && qt_role_is_linear(t->role))
            c->want[c->rep[i]] = 1;
    }
    c->observing = 1;
    c->asum_on = 1;
    c->count = 1;   /* the token counts of the layer (its smoothing keeps routing) */
    for (int s0 = 0; s0 < nseq; s0 += bseq) {
        if (cancel && *cancel) { qt_err_set(err, "cancelled"); goto out; }
        int nb = nseq - s0 < bseq ? nseq - s0 : bseq;
        c->last_x = NULL;
        c->last_rep = -1;
        if (run_copy(c, f, l, h + (int64_t)s0 * seqlen * H, tmp, nb, seqlen, H, err) != QT_OK) goto out;
        if (c->fail) { qt_err_set(err, "out of memory (AWQ statistics of layer %d)", l); goto out; }
    }
    c->observing = 0;
    c->asum_on = 0;
    for (int i = 0; i < n; i++) {
        struct hess *hs = &c->H[i];
        if (!c->want[i] || !hs->h) continue;
        qt_be_mirror_upper(hs->h, hs->cols);
    }
    memset(c->want, 0, (size_t)n);
    int nb0 = nseq < bseq ? nseq : bseq;
    int64_t nr = (int64_t)nb0 * seqlen * H;
    if (run_copy(c, f, l, h, ref, nb0, seqlen, H, err) != QT_OK) goto out;
    char mod[512];
    for (int k = 0; k < nm; k++) {
        struct amap *a = &mp[k];
        const struct qt_tensor *st = &m->tensors[a->smooth];
        qt_tensor_module(st, mod, sizeof mod);
        struct qt_mclass cls;
        qt_model_classes(m, st->role, &cls);
        int want = mapping_wants(maps, mod, &cls, err);
        if (want < 0) goto out;
        if (!want) continue;
        int ig = 0;
        for (int q = 0; q < md->n_ignore; q++)
            if (qt_pattern_match(&md->ignore[q], mod, &cls, NULL) != QT_MATCH_NONE) ig = 1;
        if (ig) continue;
        int64_t C = qt_tensor_cols(&m->tensors[a->bal[0]]);
        /* x_mean from the balance input seen by the most tokens (the router's
         * input is the shared expert's; a dense MLP or q sees every token) */
        int src = -1;
        for (int q = 0; q < a->n; q++) {
            int rp = c->rep[a->bal[q]];
            if (c->asum[rp] && c->H[rp].h && (src < 0 || c->H[rp].n > c->H[src].n)) src = rp;
        }
        if (src < 0) continue;   /* no token reached it (an unrouted expert): nothing to balance */
        free(s); free(best); free(xm); free(wm);
        s = malloc(sizeof(float) * (size_t)C);
        best = malloc(sizeof(float) * (size_t)C);
        xm = malloc(sizeof(double) * (size_t)C);
        wm = calloc((size_t)C, sizeof(double));
        wb = calloc((size_t)a->n, sizeof *wb);
        wq = calloc((size_t)a->n, sizeof *wq);
        free(lq); free(lbest); free(l0); free(den);
        lq = calloc((size_t)a->n, sizeof *lq);
        lbest = calloc((size_t)a->n, sizeof *lbest);
        l0 = calloc((size_t)a->n, sizeof *l0);
        den = calloc((size_t)a->n, sizeof *den);
        if (!s || !best || !xm || !wm || !wb || !wq || !lq || !lbest || !l0 || !den) { qt_err_set(err, "out of memory"); goto out; }
        for (int64_t j = 0; j < C; j++) xm[j] = c->asum[src][j] / (double)c->H[src].n;
        int64_t wrows = 0;
        for (int q = 0; q < a->n; q++) {
            int ti = a->bal[q];
            const struct qt_tensor *t = &m->tensors[ti];
            int64_t R = qt_tensor_rows(t);
            wb[q] = read_weight(P, ti, err);
            wq[q] = malloc(sizeof(float) * (size_t)(R * C));
            if (!wb[q] || !wq[q]) { if (wb[q]) qt_err_set(err, "out of memory"); goto out_maps; }
            const struct qt_resolved *rv = &res->t[ti];
            qt_awq_wmean_add(wb[q], R, C, qt_awq_group(rv->quantized ? rv->s : NULL, C), wm);
            wrows += R;
        }
        for (int64_t j = 0; j < C; j++) wm[j] /= (double)(wrows > 0 ? wrows : 1);
        /* A reader that is not quantized and stored rounded (the router in
         * bf16) cannot absorb an arbitrary factor exactly: its mapping's
         * factors are rounded to powers of two, which bf16 represents
         * exactly on both sides (SmoothQuant's rule); the search then picks
         * the best ratio among the rounded factors. */
        int pow2 = 0;
        for (int q = 0; q < a->n; q++)
            if (!P->kind[a->bal[q]] && m->tensors[a->bal[q]].dtype != QT_DT_F32) pow2 = 1;
        /* the parent's reference output (the layer as it is now: smoothed
         * by the mappings before this one, unquantized) */
        if (a->parent != AP_SELF) {
            size_t nbytes = sizeof(float) * (size_t)((int64_t)nsearch * seqlen * H);
            if (!yref) yref = malloc(nbytes);
            if (!hmid && a->parent == AP_MLP && qt_fwd_parts(f)) hmid = malloc(nbytes);
            if (!yref || (a->parent == AP_MLP && qt_fwd_parts(f) && !hmid)) {
                qt_err_set(err, "out of memory (AWQ's reference output of layer %d)", l);
                goto out_maps;
            }
            if (a->parent == AP_ATTN) {
                free(pb.w);
                pb.w = NULL;
                pb.ti = find(m, l, -1, QT_ROLE_ATTN_O);
                if (pb.ti < 0) {
                    qt_err_set(err, "layer %d: AWQ: no o_proj to score the attention's output", l);
                    goto out_maps;
                }
                if (!(pb.w = read_weight(P, pb.ti, err))) goto out_maps;
                pb.rows = qt_tensor_rows(&m->tensors[pb.ti]);
                pb.cols = qt_tensor_cols(&m->tensors[pb.ti]);
                pb.ref = yref;
            }
            double z;
            if (awq_parent_loss(c, f, a, &pb, NULL, h, a->parent == AP_MLP ? hmid : NULL, tmp, yref, nsearch, seqlen,
                                bseq, H, l, 1, &z, err) != QT_OK)
                goto out_maps;
        }
        /* the grid; its first point is the identity, whose loss is also
         * reported as the unscaled one */
        double best_loss = INFINITY, loss1 = 0, best_ratio = -1;
        int best_duo = 0;
        for (int g = 0; g < ngrid; g++) {
            double ratio = gratio[g], loss = 0;
            qt_awq_scales(xm, wm, C, ratio, gduo[g], s);
            for (int64_t j = 0; pow2 && j < C; j++) {
                double e = nearbyint(log2((double)s[j]));
                s[j] = (float)ldexp(1.0, (int)(e > 60 ? 60 : e < -60 ? -60 : e));
            }
            for (int q = 0; q < a->n; q++) {
                int ti = a->bal[q];
                const struct qt_resolved *rv = &res->t[ti];
                const struct hess *hs = &c->H[c->rep[ti]];
                if (!P->kind[ti] || !hs->h || hs->cols != C) continue;   /* the router: never quantized */
                const struct qt_tensor *t = &m->tensors[ti];
                int64_t R = qt_tensor_rows(t);
                for (int64_t i = 0; i < R * C; i++) wq[q][i] = wb[q][i] * s[i % C];
                struct qt_qtensor qq;
                memset(&qq, 0, sizeof qq);
                int qrc = qt_quant_tensor(wq[q], R, C, rv->s, work_dtype(m, t), 0, &qq, wq[q], err);
                qt_qtensor_free(&qq);
                if (qrc != QT_OK) { qt_err_prefix(err, "%s", t->name); goto out_maps; }
                for (int64_t i = 0; i < R * C; i++) wq[q][i] /= s[i % C];
                trial[ti] = wq[q];
                /* the Hessian figures: the loss of a single-Linear parent;
                 * else reported at the identity and the best point only */
                if (a->parent != AP_SELF && g > 0) continue;
                lq[q] = qt_awq_sse(wb[q], wq[q], R, C, hs->h);
                loss += lq[q];
                if (g == 0) {   /* the relative error gives the output energy Σ w H wᵀ */
                    double rel = qt_gptq_out_err(wb[q], wq[q], R, C, hs->h);
                    l0[q] = lq[q];
                    den[q] = rel > 0 ? lq[q] / rel : 0;
                }
            }
            if (a->parent != AP_SELF) {
                int prc = awq_parent_loss(c, f, a, &pb, trial, h, a->parent == AP_MLP ? hmid : NULL, tmp, yref,
                                          nsearch, seqlen, bseq, H, l, 0, &loss, err);
                if (prc != QT_OK) {
                    for (int q = 0; q < a->n; q++) trial[a->bal[q]] = NULL;
                    goto out_maps;
                }
                for (int q = 0; g > 0 && loss < best_loss && q < a->n; q++)
                    if (trial[a->bal[q]])
                        lq[q] = qt_awq_sse(wb[q], wq[q], qt_tensor_rows(&m->tensors[a->bal[q]]), C,
                                           c->H[c->rep[a->bal[q]]].h);
            }
            for (int q = 0; q < a->n; q++) trial[a->bal[q]] = NULL;
            if (g == 0) loss1 = loss;
            if (loss < best_loss) {
                best_loss = loss;
                best_ratio = ratio;
                best_duo = gduo[g];
                memcpy(best, s, sizeof(float) * (size_t)C);
                memcpy(lbest, lq, sizeof(double) * (size_t)a->n);
            }
        }
        if (best_ratio < 0) { qt_err_set(err, "%s: AWQ found no finite loss on the grid", mod); goto out_maps; }
        /* apply: the smooth layer / s, every balance layer's columns * s */
        if (st->ndim == 1) {
            float *nw = read_weight(P, a->smooth, err);
            if (!nw) goto out_maps;
            /* the norm is stored rounded (bf16): its readers get the factor
             * the stored norm actually applies, so the product is exact */
            for (int64_t j = 0; j < C; j++) {
                float n0 = nw[j], n1 = stored(st, n0 / best[j]);
                nw[j] = n1;
                if (n0 != 0 && n1 != 0 && isfinite(n0 / n1)) best[j] = n0 / n1;
            }
            free(P->kept[a->smooth]);
            P->kept[a->smooth] = nw;
        } else {
            int64_t R = qt_tensor_rows(st);
            if (!P->rowdiv[a->smooth]) {
                P->rowdiv[a->smooth] = malloc(sizeof(float) * (size_t)R);
                if (!P->rowdiv[a->smooth]) { qt_err_set(err, "out of memory"); goto out_maps; }
                for (int64_t i = 0; i < R; i++) P->rowdiv[a->smooth][i] = 1;
            }
            for (int64_t i = 0; i < R; i++) P->rowdiv[a->smooth][i] *= best[i];
            P->awq[a->smooth] = 1;
            if (a->bias >= 0) {
                float *b = read_weight(P, a->bias, err);
                if (!b) goto out_maps;
                for (int64_t i = 0; i < R; i++) b[i] = stored(&m->tensors[a->bias], b[i] / best[i]);
                free(P->kept[a->bias]);
                P->kept[a->bias] = b;
            }
        }
        for (int q = 0; q < a->n; q++) {
            int ti = a->bal[q];
            const struct qt_tensor *t = &m->tensors[ti];
            if (t->role == QT_ROLE_ROUTER || !P->kind[ti]) {   /* not quantized: the stored value, compensated */
                int64_t R = qt_tensor_rows(t);
                for (int64_t i = 0; i < R * C; i++) wb[q][i] = stored(t, wb[q][i] * best[i % C]);
                free(P->kept[ti]);
                P->kept[ti] = wb[q];
                wb[q] = NULL;
                continue;
            }
            if (!P->colscale[ti]) {
                P->colscale[ti] = malloc(sizeof(float) * (size_t)C);
                if (!P->colscale[ti]) { qt_err_set(err, "out of memory"); goto out_maps; }
                for (int64_t j = 0; j < C; j++) P->colscale[ti][j] = 1;
            }
            if (!acs[ti]) {
                acs[ti] = malloc(sizeof(float) * (size_t)C);
                if (!acs[ti]) { qt_err_set(err, "out of memory"); goto out_maps; }
                for (int64_t j = 0; j < C; j++) acs[ti][j] = 1;
            }
            for (int64_t j = 0; j < C; j++) { P->colscale[ti][j] *= best[j]; acs[ti][j] *= best[j]; }
            P->awq[ti] = 1;
            /* the figures of the tensor (the report's out_err beside
             * rtn_out_err), relative to its output energy on the
             * calibration Hessian: what AWQ's search measured at the chosen
             * ratio and unscaled (a clip search, later, drops them) */
            if (den[q] > 0) {
                P->out_err[ti] = lbest[q] / den[q];
                P->rtn_err[ti] = l0[q] / den[q];
            }
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "smooth_layer", mod);
        cJSON_AddNumberToObject(e, "balance_layers", a->n);
        cJSON_AddNumberToObject(e, "ratio", best_ratio);
        cJSON_AddBoolToObject(e, "duo_scaling", best_duo);
        if (pow2) cJSON_AddTrueToObject(e, "power_of_two");
        cJSON_AddStringToObject(e, "loss_on", a->parent == AP_ATTN ? "self_attn" : a->parent == AP_MLP ? "mlp" : "balance_layer");
        cJSON_AddNumberToObject(e, "loss", best_loss);
        cJSON_AddNumberToObject(e, "unscaled_loss", loss1);
        cJSON_AddItemToArray(P->awq_maps, e);
        for (int q = 0; q < a->n; q++) { free(wb[q]); free(wq[q]); }
        free(wb); free(wq);
        wb = wq = NULL;
        continue;
    out_maps:
        for (int q = 0; q < a->n; q++) { free(wb[q]); free(wq[q]); }
        free(wb); free(wq);
        wb = wq = NULL;
        goto out;
    }
    c->wgen++;   /* the smoothed weights */
    /* the function-preservation check (before any clipping: clipping is
     * quantization error, smoothing must be exact) */
    if (run_copy(c, f, l, h, tmp, nb0, seqlen, H, err) != QT_OK) goto out;
    int64_t ties;
    P->awq_diff[l] = output_change(tmp, ref, nr / H, H, 1e-3, &ties);
    if (!(P->awq_diff[l] < 1e-3)) {
        qt_err_set(err, "layer %d: AWQ smoothing changed the unquantized layer's output by %.3g (relative, limit "
                   "1e-3) at %lld of %lld tokens; a consumer of a smoothed layer is not compensated", l, P->awq_diff[l],
                   (long long)ties, (long long)(nr / H));
        goto out;
    }
    if (P->awq_clip)
        for (int ti = 0; ti < n; ti++) {
            const struct qt_tensor *t = &m->tensors[ti];
            const struct qt_resolved *rv = &res->t[ti];
            if (t->layer != l || t->mtp || !P->kind[ti] || t->role == QT_ROLE_ATTN_Q || t->role == QT_ROLE_ATTN_K) continue;
            if (rv->s->kind != QT_SCHEME_INT) continue;
            const struct hess *hs = &c->H[c->rep[ti]];
            int64_t R = qt_tensor_rows(t), C = qt_tensor_cols(t), gs = qt_awq_group(rv->s, C);
            if (!hs->h || hs->cols != C) continue;
            /* the input after smoothing is x / acs: H' = diag(1/acs) H diag(1/acs) */
            double *h2 = malloc(sizeof(double) * (size_t)(C * C));
            float *w = read_weight(P, ti, err);
            float *cv = malloc(sizeof(float) * (size_t)(R * (C / gs) * 2));
            if (!h2 || !w || !cv) {
                if (w) qt_err_set(err, "out of memory");
                free(h2); free(w); free(cv);
                goto out;
            }
            for (int64_t i = 0; i < C; i++)
                for (int64_t j = 0; j < C; j++)
                    h2[i * C + j] = hs->h[i * C + j] / (acs[ti] ? (double)acs[ti][i] * acs[ti][j] : 1.0);
            double b0 = 0, b1 = 0;
            int crc = qt_awq_clip(w, R, C, rv->s, work_dtype(m, t), h2, cv, &b0, &b1, err);
            free(h2);
            free(w);
            if (crc != QT_OK) { free(cv); qt_err_prefix(err, "%s", t->name); goto out; }
            free(P->clip[ti]);
            P->clip[ti] = cv;
            P->clip_gs[ti] = gs;
            c->wgen++;
            P->out_err[ti] = P->rtn_err[ti] = NAN;   /* the search's figures were of the unclipped weight */
            P->awq_clip_before += b0;
            P->awq_clip_after += b1;
        }
    /* a Linear rounded to nearest that no mapping scaled (and no clip
     * changed) gets its plain RTN figure on the Hessian observed here: a
     * layer after AWQ has no second pass when nothing in it needs GPTQ */
    for (int ti = 0; ti < n; ti++) {
        const struct qt_tensor *t = &m->tensors[ti];
        const struct hess *hs = &c->H[c->rep[ti]];
        int64_t R = qt_tensor_rows(t), C = qt_tensor_cols(t);
        if (t->layer != l || t->mtp || P->kind[ti] != TK_RTN || acs[ti] || P->clip[ti] || !isnan(P->out_err[ti]) ||
            !hs->h || hs->cols != C)
            continue;
        float *w = read_weight(P, ti, err), *dq = malloc(sizeof(float) * (size_t)(R * C));
        struct qt_qtensor qq;
        memset(&qq, 0, sizeof qq);
        int qrc = w && dq ? qt_quant_tensor(w, R, C, res->t[ti].s, work_dtype(m, t), 0, &qq, dq, err)
                          : w ? qt_err_set(err, "out of memory") : QT_ERR;
        if (qrc == QT_OK) P->out_err[ti] = P->rtn_err[ti] = qt_gptq_out_err(w, dq, R, C, hs->h);
        qt_qtensor_free(&qq);
        free(w);
        free(dq);
        if (qrc != QT_OK) { qt_err_prefix(err, "%s", t->name); goto out; }
    }
    rc = QT_OK;
out:
    c->observing = 0;
    c->asum_on = 0;
    for (int i = 0; i < n; i++) {
        free(c->asum[i]); c->asum[i] = NULL;
        free(c->H[i].h); c->H[i].h = NULL; c->H[i].n = 0;
        free(acs[i]);
    }
    free(acs);
    free(trial);
    free(yref);
    free(hmid);
    free(pb.w);
    free(pb.y);
    free(lq); free(lbest); free(l0); free(den);
    free(mp);
    free(s); free(best); free(xm); free(wm);
    return rc;
}

/* ---- the run ---------------------------------------------------------- */

/* Exact zeros of w (n). */
static int64_t count_zeros(const float *w, int64_t n) {
    int64_t z = 0;
    for (int64_t i = 0; i < n; i++) z += w[i] == 0.0f;
    return z;
}

/* Round-to-nearest's output error of tensor ti as it was before the
 * smoothing that scaled its columns (cs: SmoothQuant's, AWQ's): w (R, C)
 * is the smoothed weight, h the Hessian of its smoothed input; the weight
 * unsmoothed is w / cs, its input's Hessian diag(cs) h diag(cs).  NAN when
 * out of memory or the scheme fails (the figure is then not reported). */
static double rtn_unsmoothed(const float *w, const float *cs, int64_t R, int64_t C, const double *h,
                             const struct qt_scheme *sc, enum qt_dtype wd) {
    float *wo = malloc(sizeof(float) * (size_t)(R * C)), *dq = malloc(sizeof(float) * (size_t)(R * C));
    double *ho = malloc(sizeof(double) * (size_t)(C * C));
    double e = NAN;
    struct qt_qtensor q;
    memset(&q, 0, sizeof q);
    qt_err err = {{0}};
    if (wo && dq && ho) {
        for (int64_t i = 0; i < R * C; i++) wo[i] = w[i] / cs[i % C];
        for (int64_t a = 0; a < C; a++)
            for (int64_t b = 0; b < C; b++) ho[a * C + b] = h[a * C + b] * (double)cs[a] * (double)cs[b];
        if (qt_quant_tensor(wo, R, C, sc, wd, 0, &q, dq, &err) == QT_OK) e = qt_gptq_out_err(wo, dq, R, C, ho);
    }
    qt_qtensor_free(&q);
    free(wo);
    free(dq);
    free(ho);
    return e;
}

/* Releases what hs holds (host or backend) and empties it. */
static void hess_clear(struct ctx *c, struct hess *hs) {
    free(hs->h);
    free(hs->diag);
    qt_be_hacc_free(c->be, &hs->a);
    hs->h = NULL;
    hs->diag = NULL;
    hs->n = 0;
}

/* hs's sum as a full host array: hs->h, or (device mode) a copy read back
 * into *tmp, which the caller frees; NULL with err filled on failure. */
static const double *hess_host(struct ctx *c, const struct hess *hs, double **tmp, qt_err *err) {
    *tmp = NULL;
    if (hs->h) return hs->h;
    int64_t C = hs->a.cols;
    if (C < 1) { qt_err_set(err, "a Hessian that was never observed"); return NULL; }
    *tmp = malloc(sizeof(double) * (size_t)(C * C));
    if (!*tmp) { qt_err_set(err, "out of memory (a Hessian of %lld x %lld)", (long long)C, (long long)C); return NULL; }
    if (qt_be_hacc_read(c->be, &hs->a, *tmp, NULL, err) != QT_OK) {
        free(*tmp);
        *tmp = NULL;
        return NULL;
    }
    return *tmp;
}

/* GPTQ's processing order of hs's columns (from its diagonal). */
static int hess_order(const struct hess *hs, int64_t C, enum qt_actorder ao, int64_t *perm, qt_err *err) {
    if (hs->h) return qt_gptq_order(hs->h, C, ao, perm, err);
    if (!hs->diag) return qt_err_set(err, "GPTQ: a Hessian without its diagonal");
    return qt_gptq_order_diag(hs->diag, C, ao, perm, err);
}

/* The slot of a routed expert's projection among the pooled Hessians of
 * the low-token rule (gate/up share their input: 0; down: 1). */
static int pool_slot(const struct qt_tensor *t) { return t->role == QT_ROLE_EXPERT_DOWN ? 1 : 0; }

/* The Hessian GPTQ and SparseGPT use for ti: its own, or for a routed
 * expert seen on fewer tokens than its input width the pooled one (the
 * low-token rule, pipeline.h: *pooled 1; pool NULL or empty: none); NULL
 * when never observed. */
static struct hess *tensor_hessian(struct ctx *c, int ti, struct hess *pool, int *pooled) {
    const struct qt_tensor *t = &c->m->tensors[ti];
    struct hess *HS = &c->H[c->rep[ti]];
    *pooled = 0;
    if ((c->P->kind[ti] == TK_GPTQ || c->P->sp[ti]) && t->expert >= 0 && HS->n < qt_tensor_cols(t) && pool &&
        (pool->h || pool->a.cols)) {
        HS = pool;
        *pooled = 1;
    }
    return HS->n == 0 ? NULL : HS;
}

/* A smoothed tensor's (SmoothQuant's, AWQ's) round-to-nearest figure is of
 * its weight as it was before the smoothing (rtn_unsmoothed); w (R, C) is
 * the smoothed weight, h its input's Hessian. */
static void rtn_err_unsmoothed(struct qt_pipe *P, int ti, const float *w, const double *h, const struct qt_scheme *s) {
    const struct qt_tensor *t = &P->m->tensors[ti];
    if (!P->colscale[ti]) return;
    double e = rtn_unsmoothed(w, P->colscale[ti], qt_tensor_rows(t), qt_tensor_cols(t), h, s, work_dtype(P->m, t));
    if (!isnan(e)) P->rtn_err[ti] = e;
}

/* Prunes (SparseGPT), then quantizes (GPTQ or round-to-nearest) tensor ti
 * of the current layer; c->cur[ti] gets its dequantized weight for the
 * propagation pass.  A pruned tensor that is not quantized keeps its pruned
 * values (P->kept, written dense).  GPTQ quantizes the pruned weight with
 * the pruned elements held at zero, whatever the modifiers' order in the
 * recipe: pruning a quantized weight would take its values off the grid,
 * and the writer would round them again. */
static int quantize_one(struct ctx *c, const struct qt_recipe *r, const struct qt_resolution *res, int ti,
                        struct hess *pool, qt_err *err) {
    const struct qt_model *m = c->m;
    struct qt_pipe *P = c->P;
    const struct qt_tensor *t = &m->tensors[ti];
    const struct qt_resolved *rv = &res->t[ti];
    int64_t R = qt_tensor_rows(t), C = qt_tensor_cols(t);
    enum qt_dtype wd = work_dtype(m, t);
    float *w = read_weight(P, ti, err);
    if (!w) return QT_ERR;
    float *deq = malloc(sizeof(float) * (size_t)(R * C));
    int32_t *gi = malloc(sizeof(int32_t) * (size_t)C);
    float *w0 = NULL;           /* (R, C) the dense weight, when pruned */
    uint8_t *keep = NULL;       /* (R, C) SparseGPT's mask */
    struct qt_qtensor q;
    memset(&q, 0, sizeof q);
    int rc = QT_ERR, has_g = 0;
    double *htmp = NULL;        /* a device-mode Hessian read back */
    if (!deq || !gi) { qt_err_set(err, "%s: out of memory", t->name); goto out; }
    int pooled;
    const struct hess *hs = tensor_hessian(c, ti, pool, &pooled);
    const double *h = hs ? hess_host(c, hs, &htmp, err) : NULL;
    if (hs && !h) goto out;
    if (pooled) P->fallback[ti] = 1;
    if (P->sp[ti]) {
        struct qt_sgpt_args sa;
        if (sgpt_args(r, rv, &sa, err) != QT_OK) goto out;
        w0 = malloc(sizeof(float) * (size_t)(R * C));
        keep = malloc((size_t)(R * C));
        if (!w0 || !keep) { qt_err_set(err, "%s: out of memory", t->name); goto out; }
        memcpy(w0, w, sizeof(float) * (size_t)(R * C));
        /* never observed: magnitude pruning in the same structure (identity Hessian) */
        if (!h) P->fallback[ti] = 1;
        if (qt_sgpt_prune(w, R, C, h, &sa, keep, NULL, err) != QT_OK) goto out;
        for (int64_t i = 0; i < R * C; i++) w[i] = to_w(wd, w[i]);   /* stored in the weight dtype */
        if (h) P->sp_err[ti] = qt_gptq_out_err(w0, w, R, C, h);
    }
    if (P->kind[ti] == TK_GPTQ) {
        struct qt_gptq_args a;
        if (gptq_args(r, rv, &a, err) != QT_OK) goto out;
        P->ao[ti] = (uint8_t)(1 + a.actorder);
        if (!h) {
            /* never observed (no routed expert saw a token): RTN is all there is */
            P->fallback[ti] = 1;
            if (qt_quant_tensor(w, R, C, rv->s, wd, 0, &q, deq, err) != QT_OK) goto out;
        } else {
            struct qt_gptq_stats st;
            if (qt_gptq_quantize(w, R, C, h, rv->s, wd, &a, keep, &q, gi, deq, &st, err) != QT_OK) goto out;
            has_g = a.actorder == QT_ACTORDER_GROUP && rv->s->strategy == QT_STRAT_GROUP;
            P->out_err[ti] = st.out_err;
            P->rtn_err[ti] = st.rtn_err;
        }
    } else if (P->kind[ti] == TK_RTN) {
        if (qt_quant_tensor(w, R, C, rv->s, wd, 0, &q, deq, err) != QT_OK) goto out;
        if (h) P->rtn_err[ti] = P->out_err[ti] = qt_gptq_out_err(w, deq, R, C, h);
    } else {
        memcpy(deq, w, sizeof(float) * (size_t)(R * C));
    }
    /* a smoothed weight (SmoothQuant, AWQ before GPTQ): RTN's figure is of
     * the weight as it was, not of the smoothed one (the smoothing is the
     * algorithm's doing) */
    if (P->kind[ti] && h && !w0 && !isnan(P->out_err[ti])) rtn_err_unsmoothed(P, ti, w, h, rv->s);
    if (w0 && h) {
        /* errors against the dense weight: the whole result, and round-to-
         * nearest of the dense weight (what the recipe would give unpruned) */
        P->out_err[ti] = qt_gptq_out_err(w0, deq, R, C, h);
        P->rtn_err[ti] = NAN;
        if (P->kind[ti]) {
            struct qt_qtensor tq;
            if (qt_quant_tensor(w0, R, C, rv->s, wd, 0, &tq, w, err) != QT_OK) goto out;
            qt_qtensor_free(&tq);
            P->rtn_err[ti] = qt_gptq_out_err(w0, w, R, C, h);
        }
    }
    if (P->sp[ti]) P->zeros[ti] = count_zeros(deq, R * C);
    if (P->kind[ti]) {
        if (spill(P, ti, &q, has_g ? gi : NULL, err) != QT_OK) goto out;
        set_cur(c, ti, deq);
    } else {
        free(P->kept[ti]);
        P->kept[ti] = deq;      /* smoothed() serves it to the propagation and the writer */
        c->wgen++;
    }
    deq = NULL;
    rc = QT_OK;
out:
    if (rc != QT_OK) qt_err_prefix(err, "%s", t->name);
    qt_qtensor_free(&q);
    free(w);
    free(w0);
    free(keep);
    free(deq);
    free(gi);
    free(htmp);
    return rc;
}

/* ---- GPTQ in batches on a backend that offers them --------------------- */

/* One Hessian of a pass and the GPTQ tensors that read it (a unit). */
struct gunit {
    int rep;                    /* Hessian slot */
    struct hess *hs;            /* the Hessian (the pooled one under the low-token rule) */
    int pooled;
    int nm, ti[4];              /* members in tensor order */
    struct qt_gptq_args a;
    int ao;                     /* effective actorder (block strategy: none) */
};

/* 1 when units x and y can share one batch: same width, members of the
 * same shapes, schemes and dtypes in the same order, same arguments. */
static int gunit_same(const struct ctx *c, const struct qt_resolution *res, const struct gunit *x, const struct gunit *y) {
    const struct qt_model *m = c->m;
    if (x->nm != y->nm || x->ao != y->ao || x->a.block_size != y->a.block_size ||
        x->a.dampening_frac != y->a.dampening_frac)
        return 0;
    for (int k = 0; k < x->nm; k++) {
        const struct qt_tensor *a = &m->tensors[x->ti[k]], *b = &m->tensors[y->ti[k]];
        if (qt_tensor_rows(a) != qt_tensor_rows(b) || qt_tensor_cols(a) != qt_tensor_cols(b) ||
            work_dtype(m, a) != work_dtype(m, b) || !qt_scheme_equal(res->t[x->ti[k]].s, res->t[y->ti[k]].s))
            return 0;
    }
    return 1;
}

/* Host memory of one batch of nu units like u (weights, w', codes). */
static int64_t gunit_bytes(const struct ctx *c, const struct gunit *u) {
    int64_t b = 0;
    for (int k = 0; k < u->nm; k++) b += 9 * qt_tensor_numel(&c->m->tensors[u->ti[k]]);
    return b;
}

#define QT_PIPE_BATCH_BYTES (3ull << 30)   /* host bytes of one GPTQ batch's weights and results */

/* A batch through the reference, matrix by matrix (QTUNE_GPTQ_BATCH=ref:
 * the batching's own plumbing checked on a machine without the entry; the
 * checkpoint must equal the unbatched one byte for byte). */
static int ref_batch(const struct qt_be_gptq *b, const struct qt_gptq_args *a, qt_err *err) {
    for (int k = 0; k < b->nsets; k++) {
        const struct qt_be_gptq_set *S = &b->sets[k];
        for (int m = 0; m < b->n; m++) {
            struct qt_gptq_stats st;
            if (qt_gptq_quantize(S->w[m], S->rows, b->cols, b->h[m], S->s, S->wdtype, a, NULL, &S->q[m], NULL,
                                 S->deq[m], &st, err) != QT_OK)
                return QT_ERR;
            S->out_err[m] = st.out_err;
            S->rtn_err[m] = st.rtn_err;
        }
    }
    return QT_OK;
}

/* The weights of a batch read on the pool's threads (each a tensor). */
struct wread {
    const struct qt_pipe *P;
    const struct qt_model *m;
    const int *ti;              /* (n) */
    float **w, **deq;           /* (n) out */
    int bad;                    /* first failing item + 1 */
    qt_err err;
    pthread_mutex_t mu;
};

static void wread_fn(void *arg, int64_t i0, int64_t i1) {
    struct wread *R = arg;
    for (int64_t i = i0; i < i1; i++) {
        qt_err e;
        e.msg[0] = 0;
        R->w[i] = read_weight(R->P, R->ti[i], &e);
        R->deq[i] = malloc(sizeof(float) * (size_t)qt_tensor_numel(&R->m->tensors[R->ti[i]]));
        if (R->w[i] && R->deq[i]) continue;
        if (R->w[i]) qt_err_set(&e, "%s: out of memory", R->m->tensors[R->ti[i]].name);
        pthread_mutex_lock(&R->mu);
        if (!R->bad) {
            R->bad = (int)i + 1;
            R->err = e;
        }
        pthread_mutex_unlock(&R->mu);
    }
}

/* set_cur of a batch's results on the pool's threads (distinct tensors). */
struct curset {
    struct ctx *c;
    const int *ti;
    float **deq;                /* (n) taken over */
};

static void curset_fn(void *arg, int64_t i0, int64_t i1) {
    struct curset *S = arg;
    for (int64_t i = i0; i < i1; i++) {
        set_cur(S->c, S->ti[i], S->deq[i]);
        S->deq[i] = NULL;
    }
}

/* Runs one batch of units (all gunit_same) on the backend and finishes
 * their tensors as quantize_one does: the results spilled, w' kept for the
 * propagation, the figures for the report. */
static int gptq_batch(struct ctx *c, const struct qt_resolution *res, const struct gunit *u, int nu, qt_err *err) {
    const struct qt_model *m = c->m;
    struct qt_pipe *P = c->P;
    int nm = u[0].nm, rc = QT_ERR;
    int64_t C = qt_tensor_cols(&m->tensors[u[0].ti[0]]);
    const double **hs = calloc((size_t)nu, sizeof *hs);
    const struct qt_hacc **ha = calloc((size_t)nu, sizeof *ha);
    double **htmp = calloc((size_t)nu, sizeof *htmp);   /* device-mode Hessians read back */
    int64_t **perm = calloc((size_t)nu, sizeof *perm);
    float **w = calloc((size_t)(nu * nm), sizeof *w), **deq = calloc((size_t)(nu * nm), sizeof *deq);
    struct qt_qtensor *q = calloc((size_t)(nu * nm), sizeof *q);
    double *oe = malloc(sizeof(double) * (size_t)(nu * nm)), *re = malloc(sizeof(double) * (size_t)(nu * nm));
    struct qt_be_gptq_set sets[4];
    int32_t *gi = malloc(sizeof(int32_t) * (size_t)C + 1);
    int *wti = malloc(sizeof(int) * (size_t)(nu * nm) + 1);
    int *cti = malloc(sizeof(int) * (size_t)(nu * nm) + 1);   /* the finished tensors, for set_cur */
    double tr0 = qt_now();
    if (!hs || !ha || !htmp || !perm || !w || !deq || !q || !oe || !re || !gi || !wti || !cti) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    /* device mode: the backend reads its own sums; anything else gets host arrays */
    int on_dev = u[0].hs->a.dev && c->be->i->gptq;
    for (int i = 0; i < nu; i++) {
        ha[i] = &u[i].hs->a;
        if (!on_dev && !(hs[i] = hess_host(c, u[i].hs, &htmp[i], err))) goto out;
        if (u[i].ao != QT_ACTORDER_NONE) {
            perm[i] = malloc(sizeof(int64_t) * (size_t)C);
            if (!perm[i]) { qt_err_set(err, "out of memory"); goto out; }
            if (hess_order(u[i].hs, C, (enum qt_actorder)u[i].ao, perm[i], err) != QT_OK) goto out;
        }
        for (int k = 0; k < nm; k++) wti[k * nu + i] = u[i].ti[k];
    }
    {   /* tens of MB each out of the mmap'd shards: on the pool's threads */
        struct wread R = {.P = P, .m = m, .ti = wti, .w = w, .deq = deq};
        pthread_mutex_init(&R.mu, NULL);
        qt_parallel_for(nu * nm, wread_fn, &R);
        pthread_mutex_destroy(&R.mu);
        if (R.bad) {
            *err = R.err;
            goto out;
        }
    }
    P->t_gq_read += qt_now() - tr0;
    for (int k = 0; k < nm; k++) {
        int t0 = u[0].ti[k];
        sets[k] = (struct qt_be_gptq_set){
            .rows = qt_tensor_rows(&m->tensors[t0]), .s = res->t[t0].s, .wdtype = work_dtype(m, &m->tensors[t0]),
            .w = (const float *const *)(w + k * nu), .q = q + k * nu, .deq = deq + k * nu, .out_err = oe + k * nu,
            .rtn_err = re + k * nu,
        };
    }
    struct qt_be_gptq b = {
        .n = nu, .cols = C, .h = on_dev ? NULL : hs, .hacc = on_dev ? ha : NULL, .perm = u[0].ao != QT_ACTORDER_NONE ? (const int64_t *const *)perm : NULL,
        .group_order = u[0].ao == QT_ACTORDER_GROUP, .block_size = u[0].a.block_size,
        .damp = u[0].a.dampening_frac, .nsets = nm, .sets = sets,
    };
    double tg0 = qt_now();
    if ((c->be->i->gptq ? c->be->i->gptq(c->be, &b, err) : ref_batch(&b, &u[0].a, err)) != QT_OK) {
        qt_err_prefix(err, "%s", m->tensors[u[0].ti[0]].name);
        goto out;
    }
    double tf0 = qt_now();
    P->t_gq_run += tf0 - tg0;
    P->gptq_batches++;
    P->gptq_batched += nu * nm;
    for (int i = 0; i < nu; i++)
        for (int k = 0; k < nm; k++) {
            int ti = u[i].ti[k], j = k * nu + i;
            const struct qt_resolved *rv = &res->t[ti];
            int has_g = u[i].ao == QT_ACTORDER_GROUP && rv->s->strategy == QT_STRAT_GROUP;
            for (int64_t p = 0; has_g && p < C; p++) gi[perm[i][p]] = (int32_t)(p / rv->s->group);
            P->ao[ti] = (uint8_t)(1 + u[i].a.actorder);
            P->fallback[ti] = (uint8_t)u[i].pooled;
            P->out_err[ti] = oe[j];
            P->rtn_err[ti] = re[j];
            if (P->colscale[ti] && !hs[i] && !(hs[i] = hess_host(c, u[i].hs, &htmp[i], err))) goto out;
            rtn_err_unsmoothed(P, ti, w[j], hs[i], rv->s);
            if (spill(P, ti, &q[j], has_g ? gi : NULL, err) != QT_OK) goto out;
            cti[j] = ti;
            c->done[ti] = 1;
            if (k == nm - 1 && htmp[i]) {   /* one read-back at a time */
                free(htmp[i]);
                htmp[i] = NULL;
                hs[i] = NULL;
            }
        }
    {   /* w' kept for the propagation (BF16 where every value is one): per tensor, in parallel */
        struct curset S = {.c = c, .ti = cti, .deq = deq};
        qt_parallel_for(nu * nm, curset_fn, &S);
    }
    P->t_gq_finish += qt_now() - tf0;
    rc = QT_OK;
out:
    for (int i = 0; perm && i < nu; i++) free(perm[i]);
    for (int j = 0; j < nu * nm; j++) {
        if (w) free(w[j]);
        if (deq) free(deq[j]);
        if (q) qt_qtensor_free(&q[j]);
    }
    for (int i = 0; htmp && i < nu; i++) free(htmp[i]);
    free(wti);
    free(cti);
    free(hs);
    free(ha);
    free(htmp);
    free(perm);
    free(w);
    free(deq);
    free(q);
    free(oe);
    free(re);
    free(gi);
    return rc;
}

/* The GPTQ tensors of todo[k0, k1) that the backend's batched GPTQ takes:
 * grouped into units by Hessian, the units into batches of one signature
 * (every routed expert's gate/up of the pass, their down projections, each
 * fused set), each batch run at once.  What it leaves (pruned tensors, RTN
 * ones, Hessians never observed, mixed arguments) quantize_one does. */
static int gptq_batches(struct ctx *c, const struct qt_recipe *r, const struct qt_resolution *res, const int *todo,
                        int k0, int k1, struct hess pool[3], qt_err *err) {
    const struct qt_model *m = c->m;
    struct qt_pipe *P = c->P;
    size_t nk = (size_t)(k1 - k0) + 1;
    struct gunit *u = calloc(nk, sizeof *u), *bu = malloc(sizeof *bu * nk);
    uint8_t *used = calloc(nk, 1);
    int *sel = malloc(sizeof(int) * nk);
    int nu = 0, rc = QT_ERR;
    if (!u || !bu || !used || !sel) { qt_err_set(err, "out of memory"); goto out; }
    for (int k = k0; k < k1; k++) {
        int ti = todo[k];
        const struct qt_tensor *t = &m->tensors[ti];
        const struct qt_resolved *rv = &res->t[ti];
        if (P->kind[ti] != TK_GPTQ || P->sp[ti] || !rv->s) continue;
        if (rv->s->kind != QT_SCHEME_INT && rv->s->kind != QT_SCHEME_FP8) continue;
        int pooled, pi = pool_slot(t);
        struct hess *h = tensor_hessian(c, ti, &pool[pi], &pooled);
        if (!h) continue;               /* never observed: quantize_one's RTN */
        struct qt_gptq_args a;
        if (gptq_args(r, rv, &a, err) != QT_OK) goto out;
        int ao = rv->s->strategy == QT_STRAT_BLOCK ? QT_ACTORDER_NONE : (int)a.actorder;
        int g = -1;
        for (int i = 0; i < nu; i++)
            if (u[i].rep == c->rep[ti] && u[i].hs == h) g = i;
        if (g >= 0 && (u[g].nm == 4 || u[g].ao != ao || u[g].a.block_size != a.block_size ||
                       u[g].a.dampening_frac != a.dampening_frac || u[g].a.actorder != a.actorder))
            continue;           /* a member that differs: left to quantize_one */
        if (g < 0) {
            g = nu++;
            u[g] = (struct gunit){.rep = c->rep[ti], .hs = h, .pooled = pooled, .a = a, .ao = ao};
        }
        u[g].ti[u[g].nm++] = ti;
    }
    for (int i = 0; i < nu; i++) {
        if (used[i]) continue;
        /* this unit and every later one of its signature, in batches within the memory bound */
        int ns = 0;
        for (int j = i; j < nu; j++)
            if (!used[j] && gunit_same(c, res, &u[i], &u[j])) { sel[ns++] = j; used[j] = 1; }
        int64_t per = gunit_bytes(c, &u[i]);
        int cap = per > 0 ? (int)((int64_t)QT_PIPE_BATCH_BYTES / per) : ns;
        if (cap < 1) cap = 1;
        int brc = QT_OK;
        for (int s0 = 0; s0 < ns && brc == QT_OK; s0 += cap) {
            int nb = ns - s0 < cap ? ns - s0 : cap;
            for (int j = 0; j < nb; j++) bu[j] = u[sel[s0 + j]];
            if (c->cancel && *c->cancel) brc = qt_err_set(err, "cancelled");
            else brc = gptq_batch(c, res, bu, nb, err);
        }
        if (brc != QT_OK) goto out;
    }
    rc = QT_OK;
out:
    free(u);
    free(bu);
    free(used);
    free(sel);
    return rc;
}

int qt_pipe_run(const struct qt_model *m, const struct qt_recipe *r, const struct qt_resolution *res,
                const struct qt_pipe_params *pp, struct qt_pipe **out, qt_err *err) {
    *out = NULL;
    if (qt_pipe_check(m, pp, err) != QT_OK) return QT_ERR;
    for (int i = 0; i < r->n_mods; i++) {
        const struct qt_modifier *md = &r->mods[i];
        if (!qt_algo_quantize_runs(md->algo))
            return qt_err_set(err, "%s: %s is not implemented yet", md->type, qt_algo_name(md->algo));
    }
    int seqlen = pp->seqlen > 0 ? pp->seqlen : QT_PIPE_SEQLEN;
    int want_seq = pp->samples > 0 ? pp->samples : QT_PIPE_SAMPLES;
    int n = m->n_tensors, H = m->cfg.hidden;
    double t0 = qt_now();
    struct qt_pipe *P = calloc(1, sizeof *P);
    struct ctx c;
    memset(&c, 0, sizeof c);
    struct qt_fwd *f = NULL;
    struct qt_tok *tok = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    float *h = NULL, *tmp = NULL, *ref = NULL;
    uint8_t *saved = NULL;      /* (n) state_dir: tensors whose state is saved */
    int rc = QT_ERR;
    if (!P) return qt_err_set(err, "out of memory");
    P->m = m;
    P->n = n;
    P->fd = -1;
    P->rec = calloc((size_t)n + 1, sizeof *P->rec);
    P->kept = calloc((size_t)n + 1, sizeof *P->kept);
    P->tokens = malloc(sizeof(int64_t) * ((size_t)n + 1));
    P->out_err = malloc(sizeof(double) * ((size_t)n + 1));
    P->rtn_err = malloc(sizeof(double) * ((size_t)n + 1));
    P->fallback = calloc((size_t)n + 1, 1);
    P->kind = calloc((size_t)n + 1, 1);
    P->colscale = calloc((size_t)n + 1, sizeof *P->colscale);
    P->act = calloc((size_t)n + 1, 1);
    c.amax = calloc((size_t)n + 1, sizeof *c.amax);
    c.asum = calloc((size_t)n + 1, sizeof *c.asum);
    P->rowdiv = calloc((size_t)n + 1, sizeof *P->rowdiv);
    P->clip = calloc((size_t)n + 1, sizeof *P->clip);
    P->clip_gs = calloc((size_t)n + 1, sizeof *P->clip_gs);
    P->awq = calloc((size_t)n + 1, 1);
    P->awq_mod = -1;
    P->alpha = -1;
    P->ao = calloc((size_t)n + 1, 1);
    P->sp = calloc((size_t)n + 1, 1);
    P->mag = calloc((size_t)n + 1, 1);
    P->sp_err = malloc(sizeof(double) * ((size_t)n + 1));
    P->zeros = malloc(sizeof(int64_t) * ((size_t)n + 1));
    P->smode = calloc((size_t)n + 1, 1);
    P->sobs = calloc((size_t)n + 1, 1);
    P->savg = calloc((size_t)n + 1, sizeof(float));
    P->omin = malloc(sizeof(double) * ((size_t)n + 1));
    P->omax = malloc(sizeof(double) * ((size_t)n + 1));
    P->iscale = calloc((size_t)n + 1, sizeof(float));
    P->escale = calloc((size_t)n + 1, sizeof(float));
    P->sfall = calloc((size_t)n + 1, 1);
    c.m = m;
    c.P = P;
    c.rep = malloc(sizeof(int) * ((size_t)n + 1));
    c.H = calloc((size_t)n + 1, sizeof *c.H);
    c.want = calloc((size_t)n + 1, 1);
    c.cur = calloc((size_t)n + 1, sizeof *c.cur);
    c.cur16 = calloc((size_t)n + 1, sizeof *c.cur16);
    c.last_rep = -1;
    c.done = calloc((size_t)n + 1, 1);
    c.cancel = pp->cancel;
    {
        /* 0: matrix by matrix on the CPU reference; ref: batches, each
         * through the reference (tests) */
        const char *bv = getenv("QTUNE_GPTQ_BATCH");
        c.batch_gptq = bv && !strcmp(bv, "ref") ? 2 : !(bv && *bv == '0');
        /* Hessians in the backend's memory: 0 never, 1 forced (the CPU's
         * host accumulators, for tests), unset when the backend offers it */
        const char *hv = getenv("QTUNE_PIPE_HACC");
        c.dh_mode = hv && *hv == '0' ? 0 : hv && *hv == '1' ? 2 : 1;
    }
    if (!c.done || !P->rec || !P->kept || !P->tokens || !P->out_err || !P->rtn_err || !P->fallback || !P->kind || !P->ao || !P->colscale || !P->act || !c.amax || !c.rep ||
        !P->sp || !P->mag || !P->sp_err || !P->zeros || !P->smode || !P->sobs || !P->savg || !P->omin || !P->omax ||
        !P->iscale || !P->escale || !P->sfall ||
        !c.asum || !P->rowdiv || !P->clip || !P->clip_gs || !P->awq ||
        !c.H || !c.want || !c.cur || !c.cur16) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    const struct qt_yaml *sq_maps = NULL;
    for (int i = 0; i < r->n_mods; i++)
        if (r->mods[i].algo == QT_ALGO_SMOOTHQUANT) {
            P->alpha = r->mods[i].smoothing;
            sq_maps = r->mods[i].args ? qt_yaml_get(r->mods[i].args, "mappings") : NULL;
            if (!(P->alpha >= 0 && P->alpha <= 1)) {
                qt_err_set(err, "SmoothQuantModifier: smoothing_strength %g is outside [0, 1]", P->alpha);
                goto out;
            }
        }
    for (int i = 0; i < r->n_mods; i++) {
        const struct qt_modifier *md = &r->mods[i];
        if (md->kv_bits <= 0) continue;
        if (md->kv_bits != 8 || strcmp(md->kv_type, "float") || (md->kv_strategy[0] && strcmp(md->kv_strategy, "tensor")) ||
            !md->kv_sym) {
            qt_err_set(err, "%s: kv_cache_scheme: qtune calibrates fp8 (num_bits 8, type float), symmetric, per "
                       "tensor, what vLLM runs (lint QT015)", md->type);
            goto out;
        }
        P->kv_on = 1;
        if (obs_of(qt_yaml_get(md->args, "kv_cache_scheme"), "minmax", &P->kv_obs, &P->kv_avg, err) != QT_OK) {
            qt_err_prefix(err, "%s: kv_cache_scheme", md->type);
            goto out;
        }
    }
    for (int i = 0; i < r->n_mods; i++)
        if (r->mods[i].algo == QT_ALGO_AWQ && P->awq_mod < 0) {
            const struct qt_modifier *md = &r->mods[i];
            const struct qt_yaml *v;
            int b;
            P->awq_mod = i;
            P->awq_duo = QT_AWQ_DUO_ON;
            double ng = arg_num(md, "n_grid", QT_AWQ_N_GRID);
            if ((v = md->args ? qt_yaml_get(md->args, "duo_scaling") : NULL) && !qt_yaml_is_null(v)) {
                const char *dv = qt_yaml_str(v);
                if (qt_yaml_bool(v, &b)) P->awq_duo = b ? QT_AWQ_DUO_ON : QT_AWQ_DUO_OFF;
                else if (dv && !strcmp(dv, "both")) P->awq_duo = QT_AWQ_DUO_BOTH;
                else {
                    qt_err_set(err, "AWQModifier: duo_scaling must be true, false or both, not %s", dv ? dv : "a list");
                    goto out;
                }
            }
            if ((v = md->args ? qt_yaml_get(md->args, "clip_search") : NULL) && qt_yaml_bool(v, &b))
                P->awq_clip = b;
            int gmin = P->awq_duo == QT_AWQ_DUO_BOTH ? 4 : P->awq_duo ? 3 : 2;
            if (!(ng >= gmin && ng <= QT_AWQ_GRID_MAX) || ng != floor(ng)) {
                qt_err_set(err, "AWQModifier: n_grid %g out of range (%d..%d with duo_scaling %s)", ng, gmin,
                           QT_AWQ_GRID_MAX, P->awq_duo == QT_AWQ_DUO_BOTH ? "both" : P->awq_duo ? "true" : "false");
                goto out;
            }
            P->awq_grid = (int)ng;
            /* qtune's: the calibration samples the search scores (0 or
             * "all": every one, as llm-compressor) */
            P->awq_search = QT_AWQ_SEARCH_SAMPLES;
            if ((v = md->args ? qt_yaml_get(md->args, "search_samples") : NULL) && !qt_yaml_is_null(v)) {
                const char *sv = qt_yaml_str(v);
                double d;
                if (sv && !strcmp(sv, "all")) P->awq_search = 0;
                else if (qt_yaml_num(v, &d) && d >= 0 && d <= 1e6 && d == floor(d)) P->awq_search = (int)d;
                else {
                    qt_err_set(err, "AWQModifier: search_samples must be a count or all, not %s", sv ? sv : "a list");
                    goto out;
                }
            }
            P->awq_maps = cJSON_CreateArray();
            if (!P->awq_maps) { qt_err_set(err, "out of memory"); goto out; }
        }
    for (int i = 0; i < n; i++) {
        P->tokens[i] = -1;
        P->out_err[i] = P->rtn_err[i] = P->sp_err[i] = NAN;
        P->zeros[i] = -1;
        P->omin[i] = P->omax[i] = NAN;
        c.rep[i] = shared_input_rep(m, i);
        const struct qt_resolved *rv = &res->t[i];
        const struct qt_tensor *t = &m->tensors[i];
        if (rv->quantized && rv->s && qt_act_traits(rv->s->act)->is_static) {
            struct qt_qargs ia;
            qt_scheme_qargs(rv->s, NULL, &ia);
            P->smode[i] = rv->s->act == QT_ACT_INT8_TENSOR ? QT_FWD_STATIC_INT8 : QT_FWD_STATIC_FP8;
            if (obs_of(group_inputs(r, rv->group), ia.observer ? ia.observer : "minmax", &P->sobs[i], &P->savg[i],
                       err) != QT_OK) {
                qt_err_prefix(err, "%s: input_activations", r->groups[rv->group].name);
                goto out;
            }
        }
        if (rv->sparse && rv->sparse_mod >= 0 && t->layer >= 0 && !t->mtp && t->ndim == 2) {
            struct qt_sgpt_args sa;
            if (sgpt_args(r, rv, &sa, err) != QT_OK) goto out;
            P->sp[i] = 1;
            if (!P->sgpt_desc[0]) {
                if (sa.prune_n)
                    snprintf(P->sgpt_desc, sizeof P->sgpt_desc, "mask_structure %d:%d, block_size %d, dampening_frac %g",
                             sa.prune_n, sa.prune_m, sa.block_size, sa.dampening_frac);
                else
                    snprintf(P->sgpt_desc, sizeof P->sgpt_desc, "sparsity %g (unstructured), block_size %d, dampening_frac %g",
                             sa.sparsity, sa.block_size, sa.dampening_frac);
            }
        }
        if (!rv->quantized || !rv->s || t->layer < 0 || t->mtp) continue;
        P->kind[i] = rv->algo == QT_ALGO_GPTQ ? TK_GPTQ : TK_RTN;
        if (P->awq_mod >= 0 && rv->s->act != QT_ACT_NONE && (rv->mod == P->awq_mod || rv->algo == QT_ALGO_AWQ)) {
            qt_err_set(err, "AWQModifier: AWQ runs weight-only schemes (W4A16, W8A16, ...); %s has %s", t->name,
                       rv->scheme);
            goto out;
        }
        P->act[i] = rv->s->act == QT_ACT_INT8_TOK ? QT_FWD_ACT_INT8_TOK
                  : rv->s->act == QT_ACT_FP8_TOK ? QT_FWD_ACT_FP8_TOK : QT_FWD_ACT_NONE;
        if (P->kind[i] == TK_GPTQ) {
            struct qt_gptq_args a;
            if (gptq_args(r, rv, &a, err) != QT_OK) goto out;
            if (rv->s->kind != QT_SCHEME_INT && rv->s->kind != QT_SCHEME_FP8) {
                qt_err_set(err, "%s: GPTQ runs int and fp8 weights only (scheme %s)", t->name, rv->scheme);
                goto out;
            }
            if (!P->gptq_desc[0])
                snprintf(P->gptq_desc, sizeof P->gptq_desc, "block_size %d, dampening_frac %g, actorder %s",
                         a.block_size, a.dampening_frac,
                         a.actorder == QT_ACTORDER_GROUP ? "group" : a.actorder == QT_ACTORDER_STATIC ? "static" : "null");
        }
    }
    /* calibration tokens */
    size_t len;
    text = qt_read_file(pp->calib_path, &len, err);
    if (!text) goto out;
    char tp[4200];
    snprintf(tp, sizeof tp, "%s/tokenizer.json", m->path);
    size_t nids = 0;
    if (qt_tok_load(tp, &tok, err) != QT_OK) goto out;
    if (qt_tok_encode(tok, text, len, &ids, &nids, err) != QT_OK) { qt_err_prefix(err, "%s", pp->calib_path); goto out; }
    P->text_tokens = (int64_t)nids;
    int nseq = (int)(nids / (size_t)seqlen);
    if (nseq < 1) {
        qt_err_set(err, "%s: %zu tokens, fewer than one sample of %d (--calib-len)", pp->calib_path, nids, seqlen);
        goto out;
    }
    if (nseq > want_seq) nseq = want_seq;
    P->nseq = nseq;
    P->seqlen = seqlen;
    /* the spill file, unlinked at free (with a state directory: its
     * spill.bin, opened by state_open below) */
    if (!pp->state_dir) {
        const char *dir = pp->spill_dir ? pp->spill_dir : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        size_t pl = strlen(dir) + 40;
        P->spill = malloc(pl);
        if (!P->spill) { qt_err_set(err, "out of memory"); goto out; }
        snprintf(P->spill, pl, "%s/qtune-calib-XXXXXX", dir);
        P->fd = mkstemp(P->spill);
        if (P->fd < 0) {
            qt_err_set(err, "%s: cannot create: %s", P->spill, strerror(errno));
            free(P->spill);
            P->spill = NULL;
            goto out;
        }
    }
    struct qt_fwd_hooks hk = {.ctx = &c, .weight = hook_weight, .act = hook_act, .observe = hook_observe};
    int any_static = P->kv_on;
    for (int i = 0; i < n; i++) any_static |= P->smode[i] != 0;
    if (any_static && P->awq_mod >= 0) {
        /* AWQ's statistics pass replaces the first observation pass, which
         * is where the observers see their one sample per call */
        qt_err_set(err, "AWQModifier: static input scales and kv_cache_scheme are not calibrated together with AWQ "
                   "(use dynamic activations, or no kv_cache_scheme)");
        goto out;
    }
    if (any_static) hk.act_static = hook_act_static;
    if (P->kv_on) hk.kv = hook_kv;
    if (qt_fwd_init(m, &hk, &f, err) != QT_OK) goto out;
    c.hk = &hk;
    c.wseen = 0;   /* the hooks just given */
    c.be = qt_fwd_backend_of(f);
    if (c.be) {
        struct qt_backend_info bi;
        qt_backend_info_of(c.be, &bi);
        snprintf(P->be_name, sizeof P->be_name, "%s", bi.name ? bi.name : "?");
    }
    int L = qt_fwd_n_layers(f);
    P->n_layers = L;
    P->layer_s = calloc((size_t)L + 1, sizeof(double));
    P->smooth_diff = malloc(sizeof(double) * ((size_t)L + 1));
    P->kvmin = malloc(sizeof(double) * (2 * (size_t)L + 1));
    P->kvmax = malloc(sizeof(double) * (2 * (size_t)L + 1));
    P->kscale = calloc((size_t)L + 1, sizeof(float));
    P->vscale = calloc((size_t)L + 1, sizeof(float));
    if (!P->kvmin || !P->kvmax || !P->kscale || !P->vscale) { qt_err_set(err, "out of memory"); goto out; }
    for (int l = 0; l < 2 * L; l++) P->kvmin[l] = P->kvmax[l] = NAN;
    P->awq_diff = malloc(sizeof(double) * ((size_t)L + 1));
    for (int l = 0; P->smooth_diff && P->awq_diff && l < L; l++) P->smooth_diff[l] = P->awq_diff[l] = NAN;
    int64_t npos = (int64_t)nseq * seqlen;
    int bseq = (int)(8192 / seqlen) > 0 ? (int)(8192 / seqlen) : 1;   /* sequences per forward batch */
    h = malloc(sizeof(float) * (size_t)(npos * H));                   /* (npos, H) hidden states */
    tmp = malloc(sizeof(float) * (size_t)((int64_t)bseq * seqlen * H)); /* (bseq*seqlen, H) */
    int need_ref = P->alpha >= 0 || P->awq_mod >= 0;
    ref = need_ref ? malloc(sizeof(float) * (size_t)((int64_t)bseq * seqlen * H)) : NULL;
    if (!P->layer_s || !P->smooth_diff || !P->awq_diff || !h || !tmp || (need_ref && !ref)) { qt_err_set(err, "out of memory (%lld calibration tokens)", (long long)npos); goto out; }
    if (qt_fwd_embed(f, ids, npos, h, err) != QT_OK) goto out;
    int start = 0;
    if (pp->state_dir) {
        saved = calloc((size_t)n + 1, 1);
        if (!saved) { qt_err_set(err, "out of memory"); goto out; }
        if (state_open(P, pp, L, h, npos, H, saved, &start, err) != QT_OK) goto out;
        P->resumed_at = start;
    }
    /* the stage starts (at the resumed layer): its rate counts from here */
    if (pp->progress) pp->progress(pp->progress_ud, start, L, qt_now() - t0);
    for (int l = start; l < L; l++) {
        c.wgen++;   /* the last layer's resident weights are not needed again */
        double tl = qt_now();
        qt_model_prefetch_layer(c.m, l + 1);   /* read ahead while this layer calibrates */
        if (P->alpha >= 0 &&
            smooth_layer(&c, f, sq_maps, h, tmp, ref, nseq, seqlen, bseq, l, pp->cancel, err) != QT_OK)
            goto out;
        if (P->awq_mod >= 0 && awq_layer(&c, f, r, res, h, tmp, ref, nseq, seqlen, bseq, l, pp->cancel, err) != QT_OK)
            goto out;
        /* this layer's tensors, and Hessian slots split into passes within the budget */
        int any = 0;
        for (int i = 0; i < n; i++)
            if (m->tensors[i].layer == l && (P->kind[i] || P->sp[i])) any = 1;
        /* static input scales and the kv cache are observed one sample per
         * forward call, as llm-compressor's observers see them */
        int lstat = P->kv_on, ob = bseq;
        for (int i = 0; i < n; i++)
            if (m->tensors[i].layer == l && !m->tensors[i].mtp && P->smode[i]) lstat = 1;
        if (lstat) ob = 1;
        if (any || P->kv_on) {
            int *todo = malloc(sizeof(int) * ((size_t)n + 1));
            int nt = 0;
            if (!todo) { qt_err_set(err, "out of memory"); goto out; }
            for (int i = 0; i < n; i++)
                if (m->tensors[i].layer == l && (P->kind[i] || P->sp[i])) todo[nt++] = i;
            /* device mode when every tensor of the layer goes to the
             * backend's batched GPTQ: the Hessians are summed where it runs
             * and never cross to the host, in one pass as far as half the
             * device's free memory allows */
            uint64_t budget = QT_PIPE_HESS_BUDGET;
            c.dh = c.dh_mode == 2 || (c.dh_mode == 1 && qt_be_hacc_offered(c.be) && c.be->i->gptq && c.batch_gptq == 1);
            for (int k = 0; c.dh && k < nt; k++) {
                const struct qt_scheme *sk = res->t[todo[k]].s;
                if (P->kind[todo[k]] != TK_GPTQ || P->sp[todo[k]] || !sk ||
                    (sk->kind != QT_SCHEME_INT && sk->kind != QT_SCHEME_FP8))
                    c.dh = 0;
            }
            if (c.dh && qt_be_hacc_offered(c.be)) {
                struct qt_backend_info bi;
                qt_backend_info_of(c.be, &bi);
                if (bi.mem_free > 0) budget = (uint64_t)bi.mem_free / 2;
            }
            {
                const char *bm = getenv("QTUNE_PIPE_HESS_MB");   /* tests: several passes on a small model */
                if (bm && atoll(bm) > 0) budget = (uint64_t)atoll(bm) << 20;
            }
            int k0 = 0, passes = 0;
            while (k0 < nt || (passes == 0 && P->kv_on)) {   /* the kv cache needs a pass of its own */
                passes++;
                /* pick reps until the budget is reached */
                uint64_t bytes = 0;
                int k1 = k0;
                memset(c.want, 0, (size_t)n);
                while (k1 < nt) {
                    int rp = c.rep[todo[k1]];
                    uint64_t cb = 8ull * (uint64_t)qt_tensor_cols(&m->tensors[todo[k1]]) *
                                  (uint64_t)qt_tensor_cols(&m->tensors[todo[k1]]);
                    if (!c.want[rp]) {
                        if (k1 > k0 && bytes + cb > budget) break;
                        bytes += cb;
                        c.want[rp] = 1;
                    }
                    k1++;
                }
                /* keep whole fused sets together: extend over members of wanted reps */
                while (k1 < nt && c.want[c.rep[todo[k1]]]) k1++;
                /* observe; after AWQ, a layer rounded to nearest needs no
                 * second pass (its counts come from AWQ's); GPTQ and
                 * SparseGPT need their Hessians */
                int gq = 0;
                for (int k = k0; k < k1; k++) gq |= P->kind[todo[k]] == TK_GPTQ || P->sp[todo[k]];
                double tob = qt_now();
                c.observing = 1;
                c.count = k0 == 0 && P->awq_mod < 0;   /* token counts (and observers) from the first pass only */
                for (int s0 = 0; s0 < nseq && (gq || P->awq_mod < 0); s0 += ob) {
                    if (pp->cancel && *pp->cancel) { free(todo); qt_err_set(err, "cancelled"); goto out; }
                    int nb = nseq - s0 < ob ? nseq - s0 : ob;
                    int64_t rows = (int64_t)nb * seqlen;
                    memcpy(tmp, h + (int64_t)s0 * seqlen * H, sizeof(float) * (size_t)(rows * H));
                    c.last_x = NULL;
                    c.last_rep = -1;
                    if (layer_run(&c, f, l, QT_FWD_WHOLE, tmp, nb, seqlen, err) != QT_OK) { free(todo); goto out; }
                    if (c.fail) {
                        free(todo);
                        if (c.ferr.msg[0]) qt_err_set(err, "Hessians of layer %d: %s", l, c.ferr.msg);
                        else qt_err_set(err, "out of memory (Hessians of layer %d)", l);
                        goto out;
                    }
                }
                c.observing = 0;
                if (passes > P->hess_passes_max) P->hess_passes_max = passes;
                P->t_observe += qt_now() - tob;
                double tq = qt_now();
                if (k0 == 0 && lstat) layer_scales(P, l);
                for (int i = 0; i < n; i++) {   /* the upper triangles were accumulated: mirror them */
                    struct hess *hs = &c.H[i];
                    if (!c.want[i] || !hs->h) continue;
                    qt_be_mirror_upper(hs->h, hs->cols);
                }
                /* pooled Hessians of the routed experts, per projection, for the low-token rule */
                struct hess pool[3];
                memset(pool, 0, sizeof pool);
                int qrc = QT_OK;
                for (int k = k0; k < k1 && qrc == QT_OK; k++) {
                    const struct qt_tensor *t = &m->tensors[todo[k]];
                    if (t->expert < 0 || c.rep[todo[k]] != todo[k]) continue;
                    int pi = pool_slot(t);
                    const struct hess *hs = &c.H[todo[k]];
                    /* device mode: summed where they are; else the mirrored host arrays */
                    if (hs->a.cols) {
                        if (!pool[pi].a.cols) qrc = qt_be_hacc_new(c.be, 1, hs->a.cols, &pool[pi].a, err);
                    } else if (!hs->h) {
                        continue;
                    } else if (!pool[pi].h && !(pool[pi].h = calloc((size_t)(hs->cols * hs->cols), sizeof(double)))) {
                        continue;
                    }
                    struct qt_hacc dst = hs->a.cols ? pool[pi].a : (struct qt_hacc){.cols = hs->cols, .h = pool[pi].h};
                    struct qt_hacc src = hs->a.cols ? hs->a : (struct qt_hacc){.cols = hs->cols, .h = hs->h};
                    if (qrc == QT_OK) qrc = qt_be_hacc_addto(c.be, &dst, &src, err);
                    pool[pi].cols = hs->cols;
                    pool[pi].n += hs->n;
                }
                /* device mode: the diagonals (GPTQ's activation order) come back, nothing else */
                for (int i = 0; qrc == QT_OK && i < n + 3; i++) {
                    struct hess *hs = i < n ? &c.H[i] : &pool[i - n];
                    if ((i < n && !c.want[i]) || !hs->a.cols) continue;
                    hs->diag = malloc(sizeof(double) * (size_t)hs->a.cols);
                    if (!hs->diag) qrc = qt_err_set(err, "out of memory");
                    else qrc = qt_be_hacc_read(c.be, &hs->a, NULL, hs->diag, err);
                }
                /* a backend with batched GPTQ takes what it can (the CPU
                 * reference has none: quantize_one, matrix by matrix) */
                memset(c.done, 0, (size_t)n);
                if (qrc == QT_OK && c.be && (c.be->i->gptq || c.batch_gptq == 2) && c.batch_gptq)
                    qrc = gptq_batches(&c, r, res, todo, k0, k1, pool, err);
                for (int k = k0; k < k1 && qrc == QT_OK; k++) {
                    int ti = todo[k];
                    const struct qt_tensor *t = &m->tensors[ti];
                    int pi = pool_slot(t);
                    if (c.done[ti]) continue;
                    if (pp->cancel && *pp->cancel) qrc = qt_err_set(err, "cancelled");
                    else qrc = quantize_one(&c, r, res, ti, t->expert >= 0 ? &pool[pi] : NULL, err);
                }
                for (int pi = 0; pi < 3; pi++) hess_clear(&c, &pool[pi]);
                for (int i = 0; i < n; i++)
                    if (c.want[i]) hess_clear(&c, &c.H[i]);
                P->t_quant += qt_now() - tq;
                if (qrc != QT_OK) { free(todo); goto out; }
                k0 = k1;
            }
            c.dh = 0;   /* AWQ's and SmoothQuant's observations keep host sums */
            free(todo);
        }
        /* propagate with the quantized weights (the last layer's outputs feed nothing) */
        double tpr = qt_now();
        for (int s0 = 0; s0 < nseq && l + 1 < L; s0 += bseq) {
            if (pp->cancel && *pp->cancel) { qt_err_set(err, "cancelled"); goto out; }
            int nb = nseq - s0 < bseq ? nseq - s0 : bseq;
            if (layer_run(&c, f, l, QT_FWD_WHOLE, h + (int64_t)s0 * seqlen * H, nb, seqlen, err) != QT_OK) goto out;
        }
        P->t_prop += qt_now() - tpr;
        for (int i = 0; i < n; i++) {
            free(c.cur[i]);
            free(c.cur16[i]);
            c.cur[i] = NULL;
            c.cur16[i] = NULL;
        }
        P->layer_s[l] = qt_now() - tl;
        if (pp->state_dir && state_save(P, pp, l, L, saved, h, npos, H, err) != QT_OK) goto out;
        if (pp->progress) pp->progress(pp->progress_ud, l + 1, L, qt_now() - t0);
    }
    P->fwd_dev = qt_fwd_gpu_stats(f, &P->fwd);
    outside_scales(P);
    /* Modules outside the decoder layers (the MTP layer, which the
     * sequential pipeline does not run, and lm_head when targeted) have no
     * calibration statistics: GPTQ ones are rounded to nearest — under
     * actorder group they still get a g_idx (the identity grouping), as
     * every module of such a config group must — and SparseGPT ones are
     * pruned by magnitude in the same structure (an identity Hessian), then
     * rounded to nearest when quantized. */
    for (int i = 0; i < n; i++) {
        const struct qt_resolved *rv = &res->t[i];
        const struct qt_tensor *t = &m->tensors[i];
        int prune = rv->sparse && rv->sparse_mod >= 0 && !P->sp[i] && t->ndim == 2;
        int gq = rv->quantized && rv->s && rv->algo == QT_ALGO_GPTQ && !P->rec[i].has;
        if (!prune && !gq) continue;
        int want_g = 0;
        if (gq) {
            struct qt_gptq_args a;
            if (gptq_args(r, rv, &a, err) != QT_OK) goto out;
            P->ao[i] = (uint8_t)(1 + a.actorder);
            want_g = a.actorder == QT_ACTORDER_GROUP && rv->s->strategy == QT_STRAT_GROUP;
        }
        if (!prune && !want_g) continue;
        int64_t R = qt_tensor_rows(t), C = qt_tensor_cols(t);
        enum qt_dtype wd = work_dtype(m, t);
        float *w = read_weight(P, i, err);
        float *dq = malloc(sizeof(float) * (size_t)(R * C) + 1);
        int32_t *gi = malloc(sizeof(int32_t) * (size_t)C + 1);
        struct qt_qtensor q;
        memset(&q, 0, sizeof q);
        int qrc = w && gi && dq ? QT_OK : QT_ERR;
        if (w && (!gi || !dq)) qt_err_set(err, "out of memory");
        if (qrc == QT_OK && prune) {
            struct qt_sgpt_args sa;
            qrc = sgpt_args(r, rv, &sa, err);
            if (qrc == QT_OK) qrc = qt_sgpt_prune(w, R, C, NULL, &sa, NULL, NULL, err);
            for (int64_t k = 0; qrc == QT_OK && k < R * C; k++) w[k] = to_w(wd, w[k]);
            P->sp[i] = P->mag[i] = 1;
        }
        if (qrc == QT_OK && rv->quantized && rv->s) {
            qrc = qt_quant_tensor(w, R, C, rv->s, wd, 0, &q, dq, err);
            for (int64_t j = 0; j < C; j++) gi[j] = (int32_t)(want_g ? j / rv->s->group : 0);
            if (qrc == QT_OK) qrc = spill(P, i, &q, want_g ? gi : NULL, err);
            if (qrc == QT_OK && prune) P->zeros[i] = count_zeros(dq, R * C);
        } else if (qrc == QT_OK) {
            P->zeros[i] = count_zeros(w, R * C);
            free(P->kept[i]);
            P->kept[i] = w;
            w = NULL;
        }
        qt_qtensor_free(&q);
        free(w);
        free(dq);
        free(gi);
        if (qrc != QT_OK) { qt_err_prefix(err, "%s", t->name); goto out; }
    }
    rc = QT_OK;
out:
    qt_fwd_free(f);
    qt_tok_free(tok);
    free(text);
    free(ids);
    free(h);
    free(tmp);
    free(ref);
    free(saved);
    for (int i = 0; c.amax && i < n; i++) free(c.amax[i]);
    free(c.amax);
    for (int i = 0; c.asum && i < n; i++) free(c.asum[i]);
    free(c.asum);
    for (int i = 0; c.H && i < n; i++) hess_clear(&c, &c.H[i]);
    for (int i = 0; c.cur && i < n; i++) free(c.cur[i]);
    for (int i = 0; c.cur16 && i < n; i++) free(c.cur16[i]);
    free(c.cur16);
    free(c.H);
    free(c.cur);
    free(c.rep);
    free(c.want);
    free(c.tmp);
    free(c.done);
    if (rc == QT_OK) *out = P;
    else qt_pipe_free(P);
    return rc;
}

/* ---- report ----------------------------------------------------------- */

struct cJSON *qt_pipe_report(const struct qt_pipe *p) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !p) return o;
    const struct qt_model *m = p->m;
    cJSON_AddNumberToObject(o, "samples", p->nseq);
    cJSON_AddNumberToObject(o, "sample_len", p->seqlen);
    cJSON_AddNumberToObject(o, "text_tokens", (double)p->text_tokens);
    cJSON_AddStringToObject(o, "pipeline", "sequential");
    if (p->resumed_at) cJSON_AddNumberToObject(o, "resumed_at_layer", p->resumed_at);
    if (p->gptq_desc[0]) cJSON_AddStringToObject(o, "gptq", p->gptq_desc);
    if (p->be_name[0]) cJSON_AddStringToObject(o, "backend", p->be_name);
    if (p->gptq_batched) {
        cJSON *g = cJSON_AddObjectToObject(o, "gptq_batched");
        cJSON_AddNumberToObject(g, "tensors", (double)p->gptq_batched);
        cJSON_AddNumberToObject(g, "batches", (double)p->gptq_batches);
    }
    if (p->hess_dev) cJSON_AddNumberToObject(o, "hessians_on_device", (double)p->hess_dev);
    if (p->hess_passes_max) cJSON_AddNumberToObject(o, "observation_passes_max", p->hess_passes_max);
    if (p->fwd_dev)   /* the device forward's time: its layers, the weights read into pinned buffers and uploaded */
        qt_fwd_timing_json(cJSON_AddObjectToObject(o, "forward"), &p->fwd);
    cJSON *ts = cJSON_AddObjectToObject(o, "seconds");
    cJSON_AddNumberToObject(ts, "observe", p->t_observe);
    cJSON_AddNumberToObject(ts, "quantize", p->t_quant);
    cJSON_AddNumberToObject(ts, "propagate", p->t_prop);
    if (p->gptq_batched) {   /* of quantize: the batches' weight reads, the backend's GPTQ, keeping the results */
        cJSON_AddNumberToObject(ts, "gptq_read", p->t_gq_read);
        cJSON_AddNumberToObject(ts, "gptq_backend", p->t_gq_run);
        cJSON_AddNumberToObject(ts, "gptq_finish", p->t_gq_finish);
    }
    cJSON_AddStringToObject(o, "low_token_rule",
                            "a routed expert observed on fewer tokens than its input width is quantized by GPTQ "
                            "with the pooled Hessian of all tokens routed to the layer's experts (same projection); "
                            "one that saw no token at all, by round-to-nearest (SparseGPT: the same pooled Hessian; "
                            "no token: magnitude pruning)");
    if (p->alpha >= 0) {
        cJSON *sq = cJSON_AddObjectToObject(o, "smoothquant");
        cJSON_AddNumberToObject(sq, "smoothing_strength", p->alpha);
        cJSON_AddStringToObject(sq, "compensated", "every consumer of each smoothed norm, the router included; "
                                                   "factors rounded to powers of two");
        cJSON *d = cJSON_AddArrayToObject(sq, "max_rel_output_change");
        for (int l = 0; l < p->n_layers; l++)
            cJSON_AddItemToArray(d, isnan(p->smooth_diff[l]) ? cJSON_CreateNull() : cJSON_CreateNumber(p->smooth_diff[l]));
    }
    if (p->sgpt_desc[0]) {
        /* measured over the pruned modules; the output errors are means over
         * them, each against the dense (smoothed) weight on its Hessian */
        cJSON *sg = cJSON_AddObjectToObject(o, "sparsegpt");
        cJSON_AddStringToObject(sg, "args", p->sgpt_desc);
        int64_t z = 0, ne = 0;
        int nm = 0, ns = 0, nq = 0, nmag = 0;
        double es = 0, eq = 0, er = 0;
        for (int i = 0; i < p->n; i++) {
            if (!p->sp[i] || p->zeros[i] < 0) continue;
            nm++;
            nmag += p->mag[i];
            z += p->zeros[i];
            ne += qt_tensor_numel(&m->tensors[i]);
            if (!isnan(p->sp_err[i])) { es += p->sp_err[i]; ns++; }
            if (!isnan(p->out_err[i]) && !isnan(p->rtn_err[i])) { eq += p->out_err[i]; er += p->rtn_err[i]; nq++; }
        }
        cJSON_AddNumberToObject(sg, "modules", nm);
        if (nmag) cJSON_AddNumberToObject(sg, "magnitude_pruned_outside_the_pipeline", nmag);
        cJSON_AddNumberToObject(sg, "measured_sparsity", ne ? (double)z / (double)ne : 0);
        if (ns) cJSON_AddNumberToObject(sg, "mean_out_err_pruning_alone", es / ns);
        if (nq) {
            cJSON_AddNumberToObject(sg, "mean_out_err_pruned_and_quantized", eq / nq);
            cJSON_AddNumberToObject(sg, "mean_out_err_quantized_unpruned_rtn", er / nq);
        }
        cJSON_AddStringToObject(sg, "written", "dense, zeros in place (sparsity_config {}): vLLM has no sparse "
                                               "kernels for it, so the checkpoint is as fast and as large as unpruned");
    }
    {
        /* static input scales: the observer, and the modules that could not be observed */
        int ns = 0, nout = 0;
        const char *obs = NULL;
        static const char *names[] = {"minmax", "static_minmax", "memoryless_minmax"};
        cJSON *nf = NULL;
        char mb[512];
        for (int i = 0; i < p->n; i++) {
            if (!p->smode[i]) continue;
            ns++;
            obs = names[p->sobs[i] < 3 ? p->sobs[i] : 0];
            nout += p->sfall[i] == 2;
            if (p->sfall[i] == 1) {
                if (!nf) nf = cJSON_CreateArray();
                cJSON_AddItemToArray(nf, cJSON_CreateString(qt_tensor_module(&m->tensors[i], mb, sizeof mb)));
            }
        }
        if (ns) {
            cJSON *si = cJSON_AddObjectToObject(o, "static_input_scales");
            cJSON_AddNumberToObject(si, "modules", ns);
            cJSON_AddStringToObject(si, "observer", obs);
            cJSON_AddStringToObject(si, "applied", "the max over each fused group (q/k/v, gate/up) and over a layer's "
                                                   "routed experts (gate/up, down), as vLLM applies them");
            cJSON_AddStringToObject(si, "not_observed_rule",
                                    "a routed expert that saw no token takes its group's scale; a module outside the "
                                    "decoder layers (MTP) the same projection's of the last decoder layer");
            if (nf) cJSON_AddItemToObject(si, "not_observed", nf);
            if (nout) cJSON_AddNumberToObject(si, "outside_the_pipeline", nout);
        } else {
            cJSON_Delete(nf);
        }
        if (p->kv_on) {
            cJSON *kv = cJSON_AddObjectToObject(o, "kv_cache");
            cJSON_AddStringToObject(kv, "observer", names[p->kv_obs < 3 ? p->kv_obs : 0]);
            cJSON *ka = cJSON_AddArrayToObject(kv, "k_scale"), *va = cJSON_AddArrayToObject(kv, "v_scale");
            for (int l = 0; l < p->n_layers; l++) {
                cJSON_AddItemToArray(ka, cJSON_CreateNumber(p->kscale[l]));
                cJSON_AddItemToArray(va, cJSON_CreateNumber(p->vscale[l]));
            }
        }
    }
    if (p->awq_mod >= 0) {
        cJSON *aw = cJSON_AddObjectToObject(o, "awq");
        if (p->awq_duo == QT_AWQ_DUO_BOTH) cJSON_AddStringToObject(aw, "duo_scaling", "both");
        else cJSON_AddBoolToObject(aw, "duo_scaling", p->awq_duo);
        cJSON_AddNumberToObject(aw, "n_grid", p->awq_grid);
        cJSON_AddNumberToObject(aw, "search_samples",
                                p->awq_search > 0 && p->awq_search < p->nseq ? p->awq_search : p->nseq);
        cJSON_AddBoolToObject(aw, "clip_search", p->awq_clip);
        cJSON_AddStringToObject(aw, "compensated", "every reader of each smoothed layer, taken from the graph: "
                                                   "q/k/v; the router, the shared expert and every routed expert; "
                                                   "v->o where shapes allow; up->down per expert");
        cJSON_AddStringToObject(aw, "loss", "mean squared difference of the parent module's output (llm-compressor's "
                                            "parent: the attention for q/k/v, the MLP or MoE block for the "
                                            "post-attention norm's readers, the Linear itself for v->o and up->down, "
                                            "there exactly its output error on the calibration Hessian)");
        if (p->awq_clip) {
            cJSON_AddNumberToObject(aw, "clip_rtn_err", p->awq_clip_before);
            cJSON_AddNumberToObject(aw, "clip_err", p->awq_clip_after);
        }
        cJSON *d = cJSON_AddArrayToObject(aw, "max_rel_output_change");
        for (int l = 0; l < p->n_layers; l++)
            cJSON_AddItemToArray(d, isnan(p->awq_diff[l]) ? cJSON_CreateNull() : cJSON_CreateNumber(p->awq_diff[l]));
        cJSON_AddItemToObject(aw, "mappings", p->awq_maps ? cJSON_Duplicate(p->awq_maps, 1) : cJSON_CreateArray());
    }
    cJSON *ls = cJSON_AddArrayToObject(o, "layer_seconds");
    for (int l = 0; l < p->n_layers; l++) cJSON_AddItemToArray(ls, cJSON_CreateNumber(p->layer_s[l]));
    cJSON *mods = cJSON_AddArrayToObject(o, "modules");
    cJSON *fb = cJSON_AddArrayToObject(o, "low_token_experts");
    cJSON *ex = cJSON_AddObjectToObject(o, "expert_tokens");
    char mod[512];
    for (int i = 0; i < p->n; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (!p->kind[i] && !p->sp[i]) continue;
        qt_tensor_module(t, mod, sizeof mod);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "module", mod);
        const char *alg = p->kind[i] == TK_GPTQ && !(p->fallback[i] && p->tokens[i] <= 0) ? "GPTQ" : "RTN";
        char ab[48];
        snprintf(ab, sizeof ab, "%s%s%s", p->mag[i] ? "magnitude pruning" : p->sp[i] ? "SparseGPT" : "",
                 p->sp[i] && (p->kind[i] || p->rec[i].has) ? "+" : "", p->kind[i] || p->rec[i].has ? alg : "");
        cJSON_AddStringToObject(e, "algorithm", ab);
        cJSON_AddNumberToObject(e, "tokens", (double)(p->tokens[i] < 0 ? 0 : p->tokens[i]));
        if (p->rec[i].has) {   /* the scheme the figures are of (the TUI compares it with the recipe's) */
            char sb[QT_SCHEME_STR_MAX];
            cJSON_AddStringToObject(e, "scheme", qt_scheme_format(&p->rec[i].shape.scheme, sb, sizeof sb));
        }
        if (!isnan(p->out_err[i])) cJSON_AddNumberToObject(e, "out_err", p->out_err[i]);
        if (!isnan(p->rtn_err[i])) cJSON_AddNumberToObject(e, "rtn_out_err", p->rtn_err[i]);
        if (!isnan(p->sp_err[i])) cJSON_AddNumberToObject(e, "sparsity_out_err", p->sp_err[i]);
        if (p->zeros[i] >= 0)
            cJSON_AddNumberToObject(e, "sparsity", (double)p->zeros[i] / (double)qt_tensor_numel(t));
        if (p->fallback[i]) cJSON_AddTrueToObject(e, "low_token_fallback");
        if (p->awq[i]) cJSON_AddTrueToObject(e, "awq_smoothed");
        if (p->clip[i]) cJSON_AddTrueToObject(e, "awq_clipped");
        if (p->rec[i].gidx) cJSON_AddTrueToObject(e, "g_idx");
        cJSON_AddItemToArray(mods, e);
        if (p->fallback[i]) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "module", mod);
            cJSON_AddNumberToObject(f, "tokens", (double)(p->tokens[i] < 0 ? 0 : p->tokens[i]));
            cJSON_AddItemToArray(fb, f);
        }
        if (t->expert >= 0 && t->role == QT_ROLE_EXPERT_GATE) {
            char key[64];
            snprintf(key, sizeof key, "%d.%d", t->layer, t->expert);
            cJSON_AddNumberToObject(ex, key, (double)(p->tokens[i] < 0 ? 0 : p->tokens[i]));
        }
    }
    return o;
}
