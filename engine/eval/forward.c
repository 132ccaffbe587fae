/* forward.c — float32 forward of glm4_moe-shaped decoders (DESIGN §6), on a
 * backend: its building blocks (norm, rope, attention, routing, expert
 * GEMMs), or its whole layers when it offers them (the CUDA row). */
#include "eval/forward.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"

_Static_assert((int)QT_FWD_ACT_GGML_F16 == (int)QT_AQ_GGML_F16 && (int)QT_FWD_ACT_INT8_TOK == (int)QT_AQ_INT8_TOK,
               "enum qt_fwd_act and enum qt_act_quant name the same modes");

/* Tensor indices of one decoder layer (-1 when absent). */
struct fwd_layer {
    int in_norm, post_norm;
    int q, k, v, o, qb, kb, vb, ob, qn, kn;
    int gate, up, down;             /* dense MLP */
    int router, router_bias;
    int sgate, sup, sdown;          /* shared expert */
    int *eg, *eu, *ed;              /* (n_experts) routed experts */
    int moe;
};

struct qt_fwd {
    struct qt_backend *be;          /* computes everything below */
    const struct qt_model *m;
    struct qt_fwd_hooks hooks;
    int n_layers;
    struct fwd_layer *L;            /* (n_layers) */
    int embed, final_norm, lm_head;
    int rot;                        /* rotary dims (even), <= head_dim */
    float *inv_freq;                /* (rot/2) */
    /* scratch, grown on demand */
    float *w;                       /* (max weight numel) one weight as float32 */
    size_t w_cap;
    float *xq;                      /* activation fake-quant copy */
    size_t xq_cap;
    void *gpu;                      /* the backend's whole-layer state (fwd_init), or NULL */
};

/* y (n, out) = x (n, in) W^T with W (out, in), on the backend. */
static int matmul_nt(struct qt_fwd *f, const float *x, const float *w, float *y, int64_t n, int64_t out, int64_t in,
                     qt_err *err) {
    return qt_be_gemm_nt(f->be, x, w, y, n, out, in, err);
}

/* ---- setup --------------------------------------------------------------- */

static int find_role(const struct qt_model *m, int layer, enum qt_role r, int expert) {
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->mtp || t->layer != layer || t->role != r) continue;
        if (expert >= 0 && t->expert != expert) continue;
        return i;
    }
    return -1;
}

/* The two NORM tensors of a layer are told apart by name. */
static int find_norm(const struct qt_model *m, int layer, const char *suffix) {
    for (int i = 0; i < m->n_tensors; i++) {
        const struct qt_tensor *t = &m->tensors[i];
        if (t->mtp || t->layer != layer || t->role != QT_ROLE_NORM) continue;
        size_t a = strlen(t->name), b = strlen(suffix);
        if (a >= b && strcmp(t->name + a - b, suffix) == 0) return i;
    }
    return -1;
}

static int need(const struct qt_model *m, int ti, const char *what, int layer, qt_err *err) {
    if (ti >= 0) return QT_OK;
    return qt_err_set(err, "%s: layer %d has no %s tensor", m->path, layer, what);
}

/* The GPU forward's view of the hooks: the same weights load_weight gives. */
static int gpu_weight(void *ctx, int ti, float *out, qt_err *err) {
    struct qt_fwd *f = ctx;
    /* 1: the model's own weight, which the GPU side reads itself */
    return f->hooks.weight ? f->hooks.weight(f->hooks.ctx, ti, out, err) : 1;
}

static int gpu_act(void *ctx, int ti) {
    struct qt_fwd *f = ctx;
    return f->hooks.act ? (int)f->hooks.act(f->hooks.ctx, ti) : 0;
}

static void gpu_observe(void *ctx, int ti, const float *x, int64_t n, int64_t cols) {
    struct qt_fwd *f = ctx;
    f->hooks.observe(f->hooks.ctx, ti, x, n, cols);
}

static struct qt_be_fwd_cb gpu_cb(struct qt_fwd *f) {
    struct qt_be_fwd_cb cb = {f, gpu_weight, gpu_act, f->hooks.observe ? gpu_observe : NULL, 1};
    return cb;
}

static int gpu_init(struct qt_fwd *f, qt_err *err) {
    const struct qt_config *c = &f->m->cfg;
    struct qt_be_fwd_cfg g = {
        .hidden = c->hidden, .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .head_dim = c->head_dim,
        .rot = f->rot, .n_experts = c->n_experts, .top_k = c->top_k, .n_group = c->n_group,
        .topk_group = c->topk_group, .norm_topk_prob = c->norm_topk_prob,
        .routed_scaling = (float)c->routed_scaling, .eps = (float)c->rms_eps, .inv_freq = f->inv_freq,
    };
    struct qt_be_fwd_cb cb = gpu_cb(f);
    return f->be->i->fwd_init(f->be, f->m, &g, &cb, &f->gpu, err);
}

int qt_fwd_init(const struct qt_model *m, const struct qt_fwd_hooks *hooks,
                struct qt_fwd **out, qt_err *err) {
    return qt_fwd_open(NULL, m, hooks, out, err);
}

int qt_fwd_open(struct qt_backend *be, const struct qt_model *m, const struct qt_fwd_hooks *hooks,
                struct qt_fwd **out, qt_err *err) {
    *out = NULL;
    const struct qt_config *c = &m->cfg;
    if (m->metadata_only)
        return qt_err_set(err, "%s: the forward pass needs weights (this model has its config only)", m->path);
    if (strcmp(c->model_type, "glm4_moe") != 0)
        return qt_err_set(err, "%s: forward pass not implemented for model_type \"%s\" (glm4_moe only)",
                          m->path, c->model_type);
    if (c->hidden <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 || c->head_dim <= 0 ||
        c->n_heads % c->n_kv_heads != 0 || c->vocab <= 0)
        return qt_err_set(err, "%s: config lacks heads, head_dim, hidden size or vocabulary", m->path);
    if (c->n_experts > 1024 || c->n_group > 64 || c->top_k > c->n_experts ||
        (c->n_group > 1 && c->n_experts % c->n_group != 0) || c->head_dim > 1024)
        return qt_err_set(err, "%s: routing or head configuration outside what the CPU forward supports", m->path);
    struct qt_fwd *f = calloc(1, sizeof *f);
    if (!f) return qt_err_set(err, "out of memory");
    f->be = qt_backend_or_default(be);
    f->m = m;
    if (hooks) f->hooks = *hooks;
    f->n_layers = c->n_layers;
    f->L = calloc((size_t)f->n_layers, sizeof *f->L);
    int rot = (int)(c->head_dim * (c->partial_rotary > 0 ? c->partial_rotary : 1.0));
    rot &= ~1;
    f->rot = rot;
    f->inv_freq = malloc(sizeof(float) * (size_t)(rot / 2 + 1));
    if (!f->L || !f->inv_freq) {
        qt_fwd_free(f);
        return qt_err_set(err, "out of memory");
    }
    /* As transformers computes it: float32 arange / dim, base ** that, 1 / that. */
    for (int i = 0; i < rot / 2; i++) {
        float e = (float)(2 * i) / (float)rot;
        float p = (float)pow(c->rope_theta, (double)e);
        f->inv_freq[i] = 1.0f / p;
    }
    f->embed = find_role(m, -1, QT_ROLE_EMBED, -1);
    f->final_norm = find_role(m, -1, QT_ROLE_FINAL_NORM, -1);
    f->lm_head = find_role(m, -1, QT_ROLE_LM_HEAD, -1);
    if (f->lm_head < 0 && c->tie_embeddings) f->lm_head = f->embed;
    int rc = QT_OK;
    if (f->embed < 0) rc = qt_err_set(err, "%s: no embedding tensor", m->path);
    else if (f->final_norm < 0) rc = qt_err_set(err, "%s: no final norm", m->path);
    else if (f->lm_head < 0) rc = qt_err_set(err, "%s: no lm_head", m->path);
    for (int l = 0; l < f->n_layers && rc == QT_OK; l++) {
        struct fwd_layer *L = &f->L[l];
        L->in_norm = find_norm(m, l, "input_layernorm.weight");
        L->post_norm = find_norm(m, l, "post_attention_layernorm.weight");
        L->q = find_role(m, l, QT_ROLE_ATTN_Q, -1);
        L->k = find_role(m, l, QT_ROLE_ATTN_K, -1);
        L->v = find_role(m, l, QT_ROLE_ATTN_V, -1);
        L->o = find_role(m, l, QT_ROLE_ATTN_O, -1);
        L->qb = find_role(m, l, QT_ROLE_ATTN_Q_BIAS, -1);
        L->kb = find_role(m, l, QT_ROLE_ATTN_K_BIAS, -1);
        L->vb = find_role(m, l, QT_ROLE_ATTN_V_BIAS, -1);
        L->ob = find_role(m, l, QT_ROLE_ATTN_O_BIAS, -1);
        L->qn = c->use_qk_norm ? find_role(m, l, QT_ROLE_ATTN_Q_NORM, -1) : -1;
        L->kn = c->use_qk_norm ? find_role(m, l, QT_ROLE_ATTN_K_NORM, -1) : -1;
        L->moe = l >= c->first_k_dense && c->n_experts > 0;
        if ((rc = need(m, L->in_norm, "input_layernorm", l, err)) ||
            (rc = need(m, L->post_norm, "post_attention_layernorm", l, err)) ||
            (rc = need(m, L->q, "q_proj", l, err)) || (rc = need(m, L->k, "k_proj", l, err)) ||
            (rc = need(m, L->v, "v_proj", l, err)) || (rc = need(m, L->o, "o_proj", l, err)))
            break;
        if (c->use_qk_norm && ((rc = need(m, L->qn, "q_norm", l, err)) || (rc = need(m, L->kn, "k_norm", l, err))))
            break;
        if (!L->moe) {
            L->gate = find_role(m, l, QT_ROLE_MLP_GATE, -1);
            L->up = find_role(m, l, QT_ROLE_MLP_UP, -1);
            L->down = find_role(m, l, QT_ROLE_MLP_DOWN, -1);
            if ((rc = need(m, L->gate, "mlp gate_proj", l, err)) || (rc = need(m, L->up, "mlp up_proj", l, err)) ||
                (rc = need(m, L->down, "mlp down_proj", l, err)))
                break;
            continue;
        }
        L->router = find_role(m, l, QT_ROLE_ROUTER, -1);
        L->router_bias = find_role(m, l, QT_ROLE_ROUTER_BIAS, -1);
        L->sgate = find_role(m, l, QT_ROLE_SHARED_GATE, -1);
        L->sup = find_role(m, l, QT_ROLE_SHARED_UP, -1);
        L->sdown = find_role(m, l, QT_ROLE_SHARED_DOWN, -1);
        if ((rc = need(m, L->router, "router (mlp.gate)", l, err))) break;
        int E = c->n_experts;
        L->eg = malloc(sizeof(int) * (size_t)E);
        L->eu = malloc(sizeof(int) * (size_t)E);
        L->ed = malloc(sizeof(int) * (size_t)E);
        if (!L->eg || !L->eu || !L->ed) {
            rc = qt_err_set(err, "out of memory");
            break;
        }
        for (int e = 0; e < E; e++) L->eg[e] = L->eu[e] = L->ed[e] = -1;
        for (int i = 0; i < m->n_tensors; i++) {
            const struct qt_tensor *t = &m->tensors[i];
            if (t->mtp || t->layer != l || t->expert < 0 || t->expert >= E) continue;
            if (t->role == QT_ROLE_EXPERT_GATE) L->eg[t->expert] = i;
            else if (t->role == QT_ROLE_EXPERT_UP) L->eu[t->expert] = i;
            else if (t->role == QT_ROLE_EXPERT_DOWN) L->ed[t->expert] = i;
        }
        for (int e = 0; e < E && rc == QT_OK; e++)
            if (L->eg[e] < 0 || L->eu[e] < 0 || L->ed[e] < 0)
                rc = qt_err_set(err, "%s: layer %d: routed expert %d is incomplete", m->path, l, e);
    }
    /* static activation and kv-cache scales run on the per-op path only */
    if (rc == QT_OK && f->be->i->fwd_init && !f->hooks.act_static && !f->hooks.kv) rc = gpu_init(f, err);
    if (rc != QT_OK) {
        qt_fwd_free(f);
        return QT_ERR;
    }
    *out = f;
    return QT_OK;
}

const char *qt_fwd_backend(const struct qt_fwd *f) { return f->be->i->name; }

struct qt_backend *qt_fwd_backend_of(const struct qt_fwd *f) { return f->be; }

int qt_fwd_gpu_stats(struct qt_fwd *f, struct qt_be_fwd_timing *t) {
    memset(t, 0, sizeof *t);
    if (!f->gpu) return 0;
    struct qt_be_fwd_timing b = {0};
    if (f->be->i->fwd_stats) f->be->i->fwd_stats(f->be, f->gpu, &b);
    *t = b;
    return 1;
}

void qt_fwd_timing_json(struct cJSON *o, const struct qt_be_fwd_timing *t) {
    cJSON_AddNumberToObject(o, "layers_s", t->layers);
    cJSON_AddNumberToObject(o, "read_s", t->read);
    cJSON_AddNumberToObject(o, "upload_s", t->upload);
    cJSON_AddNumberToObject(o, "wait_s", t->wait);
    cJSON_AddNumberToObject(o, "resident_gib", (double)t->resident / 1073741824.0);
    cJSON_AddNumberToObject(o, "streamed_gib", (double)t->streamed / 1073741824.0);
    cJSON_AddBoolToObject(o, "streaming", t->streaming);
}

void qt_fwd_free(struct qt_fwd *f) {
    if (!f) return;
    if (f->L)
        for (int l = 0; l < f->n_layers; l++) {
            free(f->L[l].eg);
            free(f->L[l].eu);
            free(f->L[l].ed);
        }
    if (f->gpu) f->be->i->fwd_free(f->be, f->gpu);
    free(f->L);
    free(f->inv_freq);
    free(f->w);
    free(f->xq);
    free(f);
}

void qt_fwd_set_hooks(struct qt_fwd *f, const struct qt_fwd_hooks *hooks) {
    if (hooks) f->hooks = *hooks;
    else memset(&f->hooks, 0, sizeof f->hooks);
    if (f->gpu) {
        struct qt_be_fwd_cb cb = gpu_cb(f);
        f->be->i->fwd_set_cb(f->be, f->gpu, &cb);
    }
}

int qt_fwd_n_layers(const struct qt_fwd *f) { return f->n_layers; }

/* ---- pieces -------------------------------------------------------------- */

static float *grow(float **buf, size_t *cap, size_t n) {
    if (n > *cap) {
        float *p = realloc(*buf, n * sizeof(float));
        if (!p) return NULL;
        *buf = p;
        *cap = n;
    }
    return *buf;
}

/* Small vectors (norm weights, biases) as float32: out (numel). */
static int read_vec(struct qt_fwd *f, int ti, float *out, qt_err *err) {
    const struct qt_tensor *t = &f->m->tensors[ti];
    /* through the weight hook too: smoothing (SmoothQuant, AWQ) changes norms,
     * biases and the router, and a checkpoint carries its own */
    if (f->hooks.weight) {
        int rc = f->hooks.weight(f->hooks.ctx, ti, out, err);
        if (rc != 1) return rc;
    }
    return qt_tensor_read_f32(f->m, t, 0, qt_tensor_rows(t), out, err);
}

/* The float32 weight of Linear ti into f->w (rows, cols), through the hook. */
static float *load_weight(struct qt_fwd *f, int ti, qt_err *err) {
    const struct qt_tensor *t = &f->m->tensors[ti];
    size_t n = (size_t)qt_tensor_numel(t);
    if (!grow(&f->w, &f->w_cap, n)) {
        qt_err_set(err, "out of memory (%zu floats for %s)", n, t->name);
        return NULL;
    }
    if (f->hooks.weight) {
        int rc = f->hooks.weight(f->hooks.ctx, ti, f->w, err);
        if (rc == QT_OK) return f->w;
        if (rc != 1) return NULL;
    }
    if (qt_tensor_read_f32(f->m, t, 0, qt_tensor_rows(t), f->w, err) != QT_OK) return NULL;
    return f->w;
}

void qt_fwd_act_quant(enum qt_fwd_act a, float *x, int64_t n, int64_t cols) {
    qt_be_act_quant(qt_backend_cpu(), (enum qt_act_quant)a, x, n, cols, NULL);
}

struct sq_arg { int mode; float scale; float *x; int64_t cols; };

static void sq_rows(void *p, int64_t r0, int64_t r1) {
    struct sq_arg *A = p;
    const float s = A->scale;
    for (int64_t i = r0 * A->cols; i < r1 * A->cols; i++) {
        float t = A->x[i] / s;
        if (A->mode == QT_FWD_STATIC_INT8) {
            t = nearbyintf(t);
            t = t < -128 ? -128 : t > 127 ? 127 : t;
            A->x[i] = t * s;
        } else {
            t = t < -448 ? -448 : t > 448 ? 448 : t;
            A->x[i] = qt_fp8e4m3_to_f32(qt_f32_to_fp8e4m3(t)) * s;
        }
    }
}

void qt_fwd_act_quant_static(int mode, float scale, float *x, int64_t n, int64_t cols) {
    if (!mode || n <= 0 || !(scale > 0)) return;
    struct sq_arg A = {mode, scale, x, cols};
    if (n * cols < 65536) sq_rows(&A, 0, n);
    else qt_parallel_for(n, sq_rows, &A);
}

/* y (n, out) = x (n, in) W^T (+ bias), W = Linear ti (out, in).  x is not
 * modified (activation fake-quant works on a copy). */
static int linear(struct qt_fwd *f, int ti, const float *x, int64_t n, float *y, const float *bias,
                  qt_err *err) {
    const struct qt_tensor *t = &f->m->tensors[ti];
    int64_t out = qt_tensor_rows(t), in = qt_tensor_cols(t);
    if (n == 0) return QT_OK;
    enum qt_fwd_act a = f->hooks.act ? f->hooks.act(f->hooks.ctx, ti) : QT_FWD_ACT_NONE;
    float ssc = 0;
    int sm = f->hooks.act_static ? f->hooks.act_static(f->hooks.ctx, ti, &ssc) : 0;
    if (sm) {
        if (!grow(&f->xq, &f->xq_cap, (size_t)(n * in))) return qt_err_set(err, "out of memory");
        memcpy(f->xq, x, sizeof(float) * (size_t)(n * in));
        qt_fwd_act_quant_static(sm, ssc, f->xq, n, in);
        x = f->xq;
    } else if (a != QT_FWD_ACT_NONE) {
        if (!grow(&f->xq, &f->xq_cap, (size_t)(n * in))) return qt_err_set(err, "out of memory");
        memcpy(f->xq, x, sizeof(float) * (size_t)(n * in));
        if (qt_be_act_quant(f->be, (enum qt_act_quant)a, f->xq, n, in, err) != QT_OK) return QT_ERR;
        x = f->xq;
    }
    if (f->hooks.observe) f->hooks.observe(f->hooks.ctx, ti, x, n, in);
    const float *W = load_weight(f, ti, err);
    if (!W) return QT_ERR;
    if (matmul_nt(f, x, W, y, n, out, in, err) != QT_OK) return QT_ERR;
    if (bias)
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < out; j++) y[r * out + j] += bias[j];
    return QT_OK;
}

/* SwiGLU MLP on x (n, hidden) with Linears g/u/d, y (n, hidden) = result. */
static int swiglu(struct qt_fwd *f, int g, int u, int d, const float *x, int64_t n, float *y, qt_err *err) {
    int64_t ni = qt_tensor_rows(&f->m->tensors[g]);
    float *a = malloc(sizeof(float) * (size_t)(n * ni));
    float *b = malloc(sizeof(float) * (size_t)(n * ni));
    int rc = QT_ERR;
    if (!a || !b) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    if (linear(f, g, x, n, a, NULL, err) || linear(f, u, x, n, b, NULL, err) ||
        qt_be_silu_mul(f->be, a, b, n * ni, err))
        goto out;
    rc = linear(f, d, a, n, y, NULL, err);
out:
    free(a);
    free(b);
    return rc;
}

/* MoE: sigmoid router with correction bias, top-k, shared expert. */
static int moe(struct qt_fwd *f, const struct fwd_layer *L, const float *x, int64_t n, float *y, qt_err *err) {
    const struct qt_config *c = &f->m->cfg;
    int E = c->n_experts, K = c->top_k, H = c->hidden;
    int rc = QT_ERR;
    float *logits = malloc(sizeof(float) * (size_t)(n * E));   /* (n, E) */
    float *bias = calloc((size_t)E, sizeof(float));            /* (E) */
    int *sel = malloc(sizeof(int) * (size_t)(n * K));          /* (n, K) */
    float *wt = malloc(sizeof(float) * (size_t)(n * K));       /* (n, K) */
    int *cnt = calloc((size_t)E + 1, sizeof(int));             /* (E+1) offsets */
    int64_t *tok = malloc(sizeof(int64_t) * (size_t)(n * K));  /* (n*K) token of each slot, by expert */
    float *tw = malloc(sizeof(float) * (size_t)(n * K));       /* (n*K) weight of each slot */
    float *xe = NULL, *ye = NULL;
    if (!logits || !bias || !sel || !wt || !cnt || !tok || !tw) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    /* Router in fp32 (never quantized; through the hook: smoothing compensates it). */
    {
        const struct qt_tensor *rt = &f->m->tensors[L->router];
        float *W = malloc(sizeof(float) * (size_t)qt_tensor_numel(rt));
        if (!W) {
            qt_err_set(err, "out of memory");
            goto out;
        }
        if (read_vec(f, L->router, W, err)) {
            free(W);
            goto out;
        }
        int r = matmul_nt(f, x, W, logits, n, E, H, err);
        free(W);
        if (r != QT_OK) goto out;
    }
    if (L->router_bias >= 0 && read_vec(f, L->router_bias, bias, err)) goto out;
    struct qt_route rt = {E, K, c->n_group, c->topk_group, c->norm_topk_prob, (float)c->routed_scaling};
    if (qt_be_route(f->be, logits, bias, n, &rt, sel, wt, err) != QT_OK) goto out;
    /* Bucket the (token, slot) pairs by expert. */
    for (int64_t i = 0; i < n * K; i++) cnt[sel[i] + 1]++;
    for (int e = 0; e < E; e++) cnt[e + 1] += cnt[e];
    {
        int *pos = malloc(sizeof(int) * (size_t)E);
        if (!pos) {
            qt_err_set(err, "out of memory");
            goto out;
        }
        memcpy(pos, cnt, sizeof(int) * (size_t)E);
        for (int64_t i = 0; i < n * K; i++) {
            int e = sel[i];
            tok[pos[e]] = i / K;
            tw[pos[e]] = wt[i];
            pos[e]++;
        }
        free(pos);
    }
    /* Shared expert first (unscaled), into y. */
    if (L->sgate >= 0) {
        if (swiglu(f, L->sgate, L->sup, L->sdown, x, n, y, err)) goto out;
    } else {
        memset(y, 0, sizeof(float) * (size_t)(n * H));
    }
    int maxc = 0;
    for (int e = 0; e < E; e++) maxc = cnt[e + 1] - cnt[e] > maxc ? cnt[e + 1] - cnt[e] : maxc;
    xe = malloc(sizeof(float) * (size_t)maxc * (size_t)H + 1);
    ye = malloc(sizeof(float) * (size_t)maxc * (size_t)H + 1);
    if (!xe || !ye) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    for (int e = 0; e < E; e++) {
        int c0 = cnt[e], ne = cnt[e + 1] - cnt[e];
        if (ne == 0) continue;   /* an expert with no tokens is never loaded */
        if (qt_be_gather_rows(f->be, x, H, tok + c0, ne, xe, err) ||
            swiglu(f, L->eg[e], L->eu[e], L->ed[e], xe, ne, ye, err) ||
            qt_be_scatter_add_rows(f->be, y, H, tok + c0, tw + c0, ne, ye, err))
            goto out;
    }
    rc = QT_OK;
out:
    free(logits);
    free(bias);
    free(sel);
    free(wt);
    free(cnt);
    free(tok);
    free(tw);
    free(xe);
    free(ye);
    return rc;
}

/* ---- public -------------------------------------------------------------- */

int qt_fwd_embed(struct qt_fwd *f, const int32_t *tokens, int64_t ntok, float *h, qt_err *err) {
    const struct qt_tensor *t = &f->m->tensors[f->embed];
    int64_t V = qt_tensor_rows(t), H = qt_tensor_cols(t);
    if (H != f->m->cfg.hidden) return qt_err_set(err, "%s: width %lld is not hidden_size", t->name, (long long)H);
    for (int64_t i = 0; i < ntok; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return qt_err_set(err, "token id %d out of the vocabulary (%lld)", tokens[i], (long long)V);
    if (f->hooks.embed) {
        int rc = f->hooks.embed(f->hooks.ctx, f->embed, tokens, ntok, H, h, err);
        if (rc != 1) return rc;
    }
    for (int64_t i = 0; i < ntok; i++)
        if (qt_tensor_read_f32(f->m, t, tokens[i], 1, h + i * H, err)) return QT_ERR;
    return QT_OK;
}

int qt_fwd_has_embed_hook(const struct qt_fwd *f) { return f->hooks.embed != NULL; }

int qt_fwd_resident(const struct qt_fwd *f) { return f->gpu && f->be->i->fwd_embed; }

int qt_fwd_embed_resident(struct qt_fwd *f, const int32_t *tokens, int64_t ntok, qt_err *err) {
    if (!qt_fwd_resident(f)) return qt_err_set(err, "backend %s keeps no hidden states", f->be->i->name);
    int64_t V = qt_tensor_rows(&f->m->tensors[f->embed]);
    for (int64_t i = 0; i < ntok; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return qt_err_set(err, "token id %d out of the vocabulary (%lld)", tokens[i], (long long)V);
    return f->be->i->fwd_embed(f->be, f->gpu, f->embed, tokens, ntok, err);
}

int qt_fwd_h(struct qt_fwd *f, float *h, int64_t ntok, int to_host, qt_err *err) {
    if (!qt_fwd_resident(f)) return qt_err_set(err, "backend %s keeps no hidden states", f->be->i->name);
    return f->be->i->fwd_h(f->be, f->gpu, h, ntok, to_host, err);
}

int qt_fwd_final_resident(struct qt_fwd *f, int64_t tok0, int64_t ntok, float *logits, qt_err *err) {
    if (!qt_fwd_resident(f)) return qt_err_set(err, "backend %s keeps no hidden states", f->be->i->name);
    return f->be->i->fwd_final_at(f->be, f->gpu, f->final_norm, f->lm_head, tok0, ntok, logits, err);
}

int qt_fwd_kl(struct qt_fwd *fq, struct qt_fwd *fb, const int32_t *tokens, int nseq, int ctx, int first,
              const struct qt_be_kl_out *out, qt_err *err) {
    if (!qt_fwd_resident(fq) || !qt_fwd_resident(fb) || fq->be != fb->be)
        return qt_err_set(err, "the KL on the device needs both forwards on one device backend");
    return fq->be->i->fwd_kl(fq->be, fq->gpu, fb->gpu, tokens, nseq, ctx, first, out, err);
}

int qt_fwd_layer(struct qt_fwd *f, int layer, float *h, int nseq, int seqlen, qt_err *err) {
    return qt_fwd_layer_part(f, layer, QT_FWD_WHOLE, h, nseq, seqlen, err);
}

int qt_fwd_parts(const struct qt_fwd *f) { return !f->gpu; }

int qt_fwd_layer_part(struct qt_fwd *f, int layer, int part, float *h, int nseq, int seqlen, qt_err *err) {
    if (layer < 0 || layer >= f->n_layers) return qt_err_set(err, "layer %d out of range", layer);
    if (part != QT_FWD_ATTN && part != QT_FWD_MLP && part != QT_FWD_WHOLE) return qt_err_set(err, "bad layer part %d", part);
    if (part != QT_FWD_WHOLE && !qt_fwd_parts(f))
        return qt_err_set(err, "backend %s runs whole decoder layers only", f->be->i->name);
    if (!h && !qt_fwd_resident(f)) return qt_err_set(err, "backend %s keeps no hidden states", f->be->i->name);
    const struct qt_config *c = &f->m->cfg;
    const struct fwd_layer *L = &f->L[layer];
    if (f->gpu && (f->hooks.act_static || f->hooks.kv))
        return qt_err_set(err, "static activation and kv-cache scales run on the CPU backend only (--backend cpu)");
    if (f->gpu) {
        struct qt_be_layer G = {
            L->in_norm, L->post_norm, L->q, L->k, L->v, L->o, L->qb, L->kb, L->vb, L->ob, L->qn, L->kn,
            L->gate, L->up, L->down, L->router, L->router_bias, L->sgate, L->sup, L->sdown,
            L->eg, L->eu, L->ed, L->moe,
        };
        return f->be->i->fwd_layer(f->be, f->gpu, &G, h, nseq, seqlen, err);
    }
    /* the next layer's weights are read from the shards while this one computes */
    qt_model_prefetch_layer(f->m, layer + 1);
    int64_t n = (int64_t)nseq * seqlen;
    int H = c->hidden, nh = c->n_heads, nkv = c->n_kv_heads, hd = c->head_dim;
    int64_t qd = (int64_t)nh * hd, kd = (int64_t)nkv * hd;
    int rc = QT_ERR;
    float *x = malloc(sizeof(float) * (size_t)(n * H));        /* (n, H) normed input */
    float *q = malloc(sizeof(float) * (size_t)(n * qd));       /* (n, nh*hd) */
    float *k = malloc(sizeof(float) * (size_t)(n * kd));       /* (n, nkv*hd) */
    float *v = malloc(sizeof(float) * (size_t)(n * kd));       /* (n, nkv*hd) */
    float *o = malloc(sizeof(float) * (size_t)(n * qd));       /* (n, nh*hd) */
    float *y = malloc(sizeof(float) * (size_t)(n * H));        /* (n, H) */
    float *nin = malloc(sizeof(float) * (size_t)H);            /* (H) input_layernorm */
    float *npost = malloc(sizeof(float) * (size_t)H);          /* (H) post_attention_layernorm */
    float *bq = NULL, *bk = NULL, *bv = NULL, *bo = NULL, *nq = NULL, *nk = NULL;
    if (!x || !q || !k || !v || !o || !y || !nin || !npost) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    bq = L->qb >= 0 ? malloc(sizeof(float) * (size_t)qd) : NULL;
    bk = L->kb >= 0 ? malloc(sizeof(float) * (size_t)kd) : NULL;
    bv = L->vb >= 0 ? malloc(sizeof(float) * (size_t)kd) : NULL;
    bo = L->ob >= 0 ? malloc(sizeof(float) * (size_t)H) : NULL;
    nq = L->qn >= 0 ? malloc(sizeof(float) * (size_t)hd) : NULL;
    nk = L->kn >= 0 ? malloc(sizeof(float) * (size_t)hd) : NULL;
    if ((bq && read_vec(f, L->qb, bq, err)) || (bk && read_vec(f, L->kb, bk, err)) ||
        (bv && read_vec(f, L->vb, bv, err)) || (bo && read_vec(f, L->ob, bo, err)) ||
        (nq && read_vec(f, L->qn, nq, err)) || (nk && read_vec(f, L->kn, nk, err)) ||
        read_vec(f, L->in_norm, nin, err) || read_vec(f, L->post_norm, npost, err))
        goto out;
    float eps = (float)c->rms_eps;
    /* attention */
    struct qt_backend *be = f->be;
    if (!(part & QT_FWD_ATTN)) goto mlp;
    if (qt_be_rmsnorm(be, h, x, nin, n, H, eps, err) || linear(f, L->q, x, n, q, bq, err) ||
        linear(f, L->k, x, n, k, bk, err) || linear(f, L->v, x, n, v, bv, err) ||
        qt_be_qk_norm_rope(be, q, nq, n, nh, hd, f->rot, f->inv_freq, seqlen, eps, err) ||
        qt_be_qk_norm_rope(be, k, nk, n, nkv, hd, f->rot, f->inv_freq, seqlen, eps, err))
        goto out;
    if (f->hooks.kv) {
        /* the fp8 kv cache: keys (after RoPE) and values as the cache stores them */
        float ks = 0, vs = 0;
        if (f->hooks.kv(f->hooks.ctx, layer, k, v, n, kd, &ks, &vs)) {
            qt_fwd_act_quant_static(QT_FWD_STATIC_FP8, ks, k, n, kd);
            qt_fwd_act_quant_static(QT_FWD_STATIC_FP8, vs, v, n, kd);
        }
    }
    if (qt_be_attention(be, q, k, v, o, nseq, seqlen, nh, nkv, hd, err) || linear(f, L->o, o, n, y, bo, err) ||
        qt_be_add(be, h, y, n * H, err))
        goto out;
mlp:
    if (!(part & QT_FWD_MLP)) {
        rc = QT_OK;
        goto out;
    }
    if (qt_be_rmsnorm(be, h, x, npost, n, H, eps, err)) goto out;
    if (L->moe) {
        if (moe(f, L, x, n, y, err)) goto out;
    } else if (swiglu(f, L->gate, L->up, L->down, x, n, y, err)) {
        goto out;
    }
    if (qt_be_add(be, h, y, n * H, err)) goto out;
    rc = QT_OK;
out:
    free(x);
    free(q);
    free(k);
    free(v);
    free(o);
    free(y);
    free(bq);
    free(bk);
    free(bv);
    free(bo);
    free(nq);
    free(nk);
    free(nin);
    free(npost);
    return rc;
}

int qt_fwd_final(struct qt_fwd *f, const float *h, int64_t ntok, float *logits, qt_err *err) {
    if (f->gpu) return f->be->i->fwd_final(f->be, f->gpu, f->final_norm, f->lm_head, h, ntok, logits, err);
    int H = f->m->cfg.hidden;
    float *nw = malloc(sizeof(float) * (size_t)H);   /* (H) final norm */
    float *x = malloc(sizeof(float) * (size_t)(ntok * H));
    if (!x || !nw) {
        free(x);
        free(nw);
        return qt_err_set(err, "out of memory");
    }
    if (read_vec(f, f->final_norm, nw, err)) {
        free(x);
        free(nw);
        return QT_ERR;
    }
    int rc = qt_be_rmsnorm(f->be, h, x, nw, ntok, H, (float)f->m->cfg.rms_eps, err);
    if (rc == QT_OK) rc = linear(f, f->lm_head, x, ntok, logits, NULL, err);
    free(x);
    free(nw);
    return rc;
}

int qt_fwd_run(struct qt_fwd *f, const int32_t *tokens, int nseq, int seqlen, float *logits, qt_err *err) {
    int64_t n = (int64_t)nseq * seqlen;
    if (qt_fwd_resident(f)) {
        /* the hidden states stay on the device; only the logits come back */
        int rc = qt_fwd_embed_resident(f, tokens, n, err);
        for (int l = 0; rc == QT_OK && l < f->n_layers; l++) rc = qt_fwd_layer(f, l, NULL, nseq, seqlen, err);
        return rc == QT_OK ? qt_fwd_final_resident(f, 0, n, logits, err) : rc;
    }
    float *h = malloc(sizeof(float) * (size_t)(n * f->m->cfg.hidden));   /* (n, hidden) */
    if (!h) return qt_err_set(err, "out of memory");
    int rc = qt_fwd_embed(f, tokens, n, h, err);
    for (int l = 0; rc == QT_OK && l < f->n_layers; l++) rc = qt_fwd_layer(f, l, h, nseq, seqlen, err);
    if (rc == QT_OK) rc = qt_fwd_final(f, h, n, logits, err);
    free(h);
    return rc;
}

double qt_fwd_flops(const struct qt_model *m, int nseq, int seqlen) {
    const struct qt_config *c = &m->cfg;
    double n = (double)nseq * seqlen, H = c->hidden, hd = c->head_dim;
    double qd = (double)c->n_heads * hd, kd = (double)c->n_kv_heads * hd;
    double per = 2 * H * (qd + 2 * kd) + 2 * qd * H;                 /* q, k, v, o */
    double att = 2.0 * 2.0 * c->n_heads * hd * (seqlen + 1) / 2.0;    /* QK^T and PV, causal */
    double total = 0;
    for (int l = 0; l < c->n_layers; l++) {
        total += per + att;
        if (l < c->first_k_dense || c->n_experts == 0)
            total += 3 * 2 * H * c->intermediate;
        else
            total += 2 * H * c->n_experts + 3 * 2 * H * c->moe_intermediate * (c->top_k + c->n_shared_experts);
    }
    total += 2 * H * c->vocab;
    return total * n;
}
