/* forward.c — float32 CPU forward of glm4_moe-shaped decoders (DESIGN §6). */
#include "eval/forward.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda.h"
#include "backend/select.h"
#include "base/dtype.h"

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
    struct qt_cuda_fwd *gpu;        /* the layer and the head on the GPU (CUDA backend) */
};

/* ---- threads ------------------------------------------------------------- */

struct pf_job {
    void (*fn)(void *, int64_t, int64_t);
    void *arg;
    int64_t i0, i1;
};

static void *pf_main(void *p) {
    struct pf_job *j = p;
    j->fn(j->arg, j->i0, j->i1);
    return NULL;
}

void qt_parallel_for(int64_t n, void (*fn)(void *arg, int64_t i0, int64_t i1), void *arg) {
    int nt = qt_nthreads();
    if (nt > 64) nt = 64;
    if (nt > n) nt = (int)n;
    if (nt <= 1) {
        if (n > 0) fn(arg, 0, n);
        return;
    }
    pthread_t th[64];
    struct pf_job jobs[64];
    int started[64] = {0};
    for (int t = 0; t < nt; t++) {
        jobs[t] = (struct pf_job){fn, arg, n * t / nt, n * (t + 1) / nt};
        if (t > 0) started[t] = pthread_create(&th[t], NULL, pf_main, &jobs[t]) == 0;
    }
    fn(arg, jobs[0].i0, jobs[0].i1);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else fn(arg, jobs[t].i0, jobs[t].i1);
    }
}

/* y (n, out) = x (n, in) W^T with W (out, in), rows of x split over our
 * threads, each running a single-threaded OpenBLAS sgemm (OpenBLAS's own
 * threads spin between calls and starve ours on small machines). */
struct mm_arg {
    const float *x, *w;
    float *y;
    int64_t out, in;
};

static void mm_rows(void *p, int64_t r0, int64_t r1) {
    struct mm_arg *A = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), (int)A->out, (int)A->in, 1.0f,
                A->x + r0 * A->in, (int)A->in, A->w, (int)A->in, 0.0f, A->y + r0 * A->out, (int)A->out);
}

static void matmul_nt(const float *x, const float *w, float *y, int64_t n, int64_t out, int64_t in) {
    struct mm_arg A = {x, w, y, out, in};
    if (n * out * in < (1 << 20)) mm_rows(&A, 0, n);
    else qt_parallel_for(n, mm_rows, &A);
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

static struct qt_cuda_fwd_cb gpu_cb(struct qt_fwd *f) {
    struct qt_cuda_fwd_cb cb = {f, gpu_weight, gpu_act, f->hooks.observe ? gpu_observe : NULL, 1};
    return cb;
}

static int gpu_init(struct qt_fwd *f, qt_err *err) {
    const struct qt_config *c = &f->m->cfg;
    struct qt_cuda_fwd_cfg g = {
        .hidden = c->hidden, .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .head_dim = c->head_dim,
        .rot = f->rot, .n_experts = c->n_experts, .top_k = c->top_k, .n_group = c->n_group,
        .topk_group = c->topk_group, .norm_topk_prob = c->norm_topk_prob,
        .routed_scaling = (float)c->routed_scaling, .eps = (float)c->rms_eps, .inv_freq = f->inv_freq,
    };
    struct qt_cuda_fwd_cb cb = gpu_cb(f);
    return qt_cuda_fwd_init(f->m, &g, &cb, &f->gpu, err);
}

int qt_fwd_init(const struct qt_model *m, const struct qt_fwd_hooks *hooks,
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
    openblas_set_num_threads(1);   /* we thread ourselves: see matmul_nt */
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
    if (rc == QT_OK && qt_backend_active() == QT_BACKEND_CUDA) rc = gpu_init(f, err);
    if (rc != QT_OK) {
        qt_fwd_free(f);
        return QT_ERR;
    }
    *out = f;
    return QT_OK;
}

const char *qt_fwd_backend(const struct qt_fwd *f) { return f->gpu ? "cuda" : "cpu"; }

int qt_fwd_gpu_stats(struct qt_fwd *f, struct qt_cuda_fwd_timing *t) {
    memset(t, 0, sizeof *t);
    if (!f->gpu) return 0;
    qt_cuda_fwd_stats(f->gpu, t);
    return 1;
}

void qt_fwd_free(struct qt_fwd *f) {
    if (!f) return;
    if (f->L)
        for (int l = 0; l < f->n_layers; l++) {
            free(f->L[l].eg);
            free(f->L[l].eu);
            free(f->L[l].ed);
        }
    qt_cuda_fwd_free(f->gpu);
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
        struct qt_cuda_fwd_cb cb = gpu_cb(f);
        qt_cuda_fwd_set_cb(f->gpu, &cb);
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

struct aq_arg {
    enum qt_fwd_act a;
    float *x;
    int64_t cols;
};

/* llama.cpp's activation types (ggml-cpu quantize_row_q8_0 / q8_K, fp32 to
 * bf16/f16), applied and undone: the values its integer dot products see. */
static void ggml_act_row(enum qt_fwd_act a, float *x, int64_t cols) {
    if (a == QT_FWD_ACT_GGML_BF16) {
        for (int64_t j = 0; j < cols; j++) x[j] = qt_bf16_to_f32(qt_f32_to_bf16(x[j]));
        return;
    }
    if (a == QT_FWD_ACT_GGML_F16) {
        for (int64_t j = 0; j < cols; j++) x[j] = qt_f16_to_f32(qt_f32_to_f16(x[j]));
        return;
    }
    const int64_t bs = a == QT_FWD_ACT_GGML_Q8_0 ? 32 : 256;
    for (int64_t b = 0; b + bs <= cols; b += bs) {
        float *v = x + b;
        float amax = 0, vmax = 0;
        for (int64_t j = 0; j < bs; j++)
            if (fabsf(v[j]) > amax) { amax = fabsf(v[j]); vmax = v[j]; }
        if (a == QT_FWD_ACT_GGML_Q8_0) {
            /* d = amax/127 stored as f16; q = round(x * 127/amax), ties to even (the AVX path) */
            const float d = qt_f16_to_f32(qt_f32_to_f16(amax / 127.f)), id = amax != 0.0f ? 127.f / amax : 0.0f;
            for (int64_t j = 0; j < bs; j++) v[j] = nearbyintf(v[j] * id) * d;
        } else {
            if (!amax) { memset(v, 0, (size_t)bs * sizeof *v); continue; }
            const float is = -127.f / vmax, d = 1 / is;
            for (int64_t j = 0; j < bs; j++) {
                float q = nearbyintf(is * v[j]);
                v[j] = (q > 127 ? 127 : q) * d;
            }
        }
    }
}

static void aq_rows(void *p, int64_t r0, int64_t r1) {
    struct aq_arg *A = p;
    for (int64_t r = r0; r < r1; r++) {
        float *x = A->x + r * A->cols;
        if (A->a >= QT_FWD_ACT_GGML_Q8_0) { ggml_act_row(A->a, x, A->cols); continue; }
        float amax = 0;
        for (int64_t j = 0; j < A->cols; j++) amax = fmaxf(amax, fabsf(x[j]));
        if (A->a == QT_FWD_ACT_INT8_TOK) {
            /* compressed-tensors sym int8: scale = amax / ((127 - -128) / 2) */
            float s = amax / 127.5f;
            if (s == 0) s = FLT_EPSILON;
            for (int64_t j = 0; j < A->cols; j++) {
                float q = nearbyintf(x[j] / s);
                q = q < -128 ? -128 : q > 127 ? 127 : q;
                x[j] = q * s;
            }
        } else if (A->a == QT_FWD_ACT_FP8_TOK) {
            float s = amax / 448.0f;
            if (s == 0) s = FLT_EPSILON;
            for (int64_t j = 0; j < A->cols; j++) {
                float t = x[j] / s;
                t = t < -448 ? -448 : t > 448 ? 448 : t;
                x[j] = qt_fp8e4m3_to_f32(qt_f32_to_fp8e4m3(t)) * s;
            }
        }
    }
}

void qt_fwd_act_quant(enum qt_fwd_act a, float *x, int64_t n, int64_t cols) {
    if (a == QT_FWD_ACT_NONE || n <= 0) return;
    struct aq_arg A = {a, x, cols};
    if (n * cols < 65536) aq_rows(&A, 0, n);
    else qt_parallel_for(n, aq_rows, &A);
}

/* y (n, out) = x (n, in) W^T (+ bias), W = Linear ti (out, in).  x is not
 * modified (activation fake-quant works on a copy). */
static int linear(struct qt_fwd *f, int ti, const float *x, int64_t n, float *y, const float *bias,
                  qt_err *err) {
    const struct qt_tensor *t = &f->m->tensors[ti];
    int64_t out = qt_tensor_rows(t), in = qt_tensor_cols(t);
    if (n == 0) return QT_OK;
    enum qt_fwd_act a = f->hooks.act ? f->hooks.act(f->hooks.ctx, ti) : QT_FWD_ACT_NONE;
    if (a != QT_FWD_ACT_NONE) {
        if (!grow(&f->xq, &f->xq_cap, (size_t)(n * in))) return qt_err_set(err, "out of memory");
        memcpy(f->xq, x, sizeof(float) * (size_t)(n * in));
        qt_fwd_act_quant(a, f->xq, n, in);
        x = f->xq;
    }
    if (f->hooks.observe) f->hooks.observe(f->hooks.ctx, ti, x, n, in);
    const float *W = load_weight(f, ti, err);
    if (!W) return QT_ERR;
    matmul_nt(x, W, y, n, out, in);
    if (bias)
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < out; j++) y[r * out + j] += bias[j];
    return QT_OK;
}

struct norm_arg {
    const float *x;
    float *y;
    const float *w;
    int64_t dim;
    float eps;
};

static void norm_rows(void *p, int64_t r0, int64_t r1) {
    struct norm_arg *A = p;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = A->x + r * A->dim;
        float *y = A->y + r * A->dim;
        double ss = 0;
        for (int64_t j = 0; j < A->dim; j++) ss += (double)x[j] * x[j];
        float var = (float)(ss / (double)A->dim);
        float inv = 1.0f / sqrtf(var + A->eps);
        for (int64_t j = 0; j < A->dim; j++) y[j] = A->w[j] * (x[j] * inv);
    }
}

/* RMSNorm of n rows of dim: normalize in fp32, then multiply by the weight. */
static void rmsnorm(const float *x, float *y, const float *w, int64_t n, int64_t dim, float eps) {
    struct norm_arg A = {x, y, w, dim, eps};
    if (n * dim < 32768) norm_rows(&A, 0, n);
    else qt_parallel_for(n, norm_rows, &A);
}

/* Per-head RMSNorm then partial NeoX RoPE on x (nseq*seqlen, nh*hd). */
struct qkr_arg {
    struct qt_fwd *f;
    float *x;
    const float *nw;                /* (hd) or NULL */
    int nh, hd, seqlen;
    float eps;
};

static void qkr_rows(void *p, int64_t r0, int64_t r1) {
    struct qkr_arg *A = p;
    int rot = A->f->rot, half = rot / 2, hd = A->hd;
    float cs[512], sn[512];
    for (int64_t r = r0; r < r1; r++) {
        int pos = (int)(r % A->seqlen);
        for (int i = 0; i < half && i < 512; i++) {
            float fr = (float)pos * A->f->inv_freq[i];
            cs[i] = cosf(fr);
            sn[i] = sinf(fr);
        }
        for (int h = 0; h < A->nh; h++) {
            float *v = A->x + r * (int64_t)A->nh * hd + (int64_t)h * hd;
            if (A->nw) norm_rows(&(struct norm_arg){v, v, A->nw, hd, A->eps}, 0, 1);
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cs[i] - b * sn[i];
                v[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}

/* Causal GQA attention: (sequence, head) units spread over the threads; per
 * block of queries, scores S = Q K^T over the keys up to the block's end
 * (sgemm), masked softmax in fp32, then O = P V (sgemm). */
struct sm_arg {
    float *s;                       /* (rows, ld) scores -> probabilities */
    int ld, i0;                     /* query row r is position i0 + r */
    float scale;
};

static void softmax_rows(void *p, int64_t r0, int64_t r1) {
    struct sm_arg *A = p;
    for (int64_t r = r0; r < r1; r++) {
        float *row = A->s + r * A->ld;
        int n = A->i0 + (int)r + 1;   /* keys 0..i visible */
        float mx = -INFINITY;
        for (int j = 0; j < n; j++) {
            row[j] *= A->scale;
            if (row[j] > mx) mx = row[j];
        }
        float sum = 0;
        for (int j = 0; j < n; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) row[j] *= inv;
        for (int j = n; j < A->ld; j++) row[j] = 0;
    }
}

enum { ATT_BLOCK = 128 };

struct att_arg {
    const float *q, *k, *v;         /* (ntok, nh*hd), (ntok, nkv*hd), (ntok, nkv*hd) */
    float *o;                       /* (ntok, nh*hd) */
    int nh, nkv, hd, T;
    int fail;
};

static void att_units(void *p, int64_t u0, int64_t u1) {
    struct att_arg *A = p;
    int T = A->T, hd = A->hd, nh = A->nh;
    int64_t qs = (int64_t)nh * hd, ks = (int64_t)A->nkv * hd;
    int B = T < ATT_BLOCK ? T : ATT_BLOCK;
    float *S = malloc(sizeof(float) * (size_t)B * (size_t)T);   /* (B, T) scores of a query block */
    if (!S) {
        A->fail = 1;
        return;
    }
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t u = u0; u < u1; u++) {
        int64_t s = u / nh;
        int h = (int)(u % nh), kh = h / (nh / A->nkv);
        const float *Q = A->q + s * T * qs + (int64_t)h * hd;
        const float *K = A->k + s * T * ks + (int64_t)kh * hd;
        const float *V = A->v + s * T * ks + (int64_t)kh * hd;
        float *O = A->o + s * T * qs + (int64_t)h * hd;
        for (int i0 = 0; i0 < T; i0 += B) {
            int nb = T - i0 < B ? T - i0 : B, nk = i0 + nb;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, nk, hd, 1.0f, Q + i0 * qs, (int)qs, K, (int)ks,
                        0.0f, S, nk);
            struct sm_arg sa = {S, nk, i0, scale};
            softmax_rows(&sa, 0, nb);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, hd, nk, 1.0f, S, nk, V, (int)ks, 0.0f,
                        O + i0 * qs, (int)qs);
        }
    }
    free(S);
}

static int attention(const float *q, const float *k, const float *v, float *o, int nseq, int T, int nh, int nkv,
                     int hd, qt_err *err) {
    struct att_arg A = {q, k, v, o, nh, nkv, hd, T, 0};
    qt_parallel_for((int64_t)nseq * nh, att_units, &A);
    return A.fail ? qt_err_set(err, "out of memory") : QT_OK;
}

static float silu(float x) { return x / (1.0f + expf(-x)); }

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
    if (linear(f, g, x, n, a, NULL, err) || linear(f, u, x, n, b, NULL, err)) goto out;
    for (int64_t i = 0; i < n * ni; i++) a[i] = silu(a[i]) * b[i];
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
        matmul_nt(x, W, logits, n, E, H);
        free(W);
    }
    if (L->router_bias >= 0 && read_vec(f, L->router_bias, bias, err)) goto out;
    int G = c->n_group > 0 ? c->n_group : 1, TG = c->topk_group > 0 ? c->topk_group : G;
    int per = E / G;
    for (int64_t t = 0; t < n; t++) {
        float *s = logits + t * E;
        float ch[1024];
        int gmask[64];
        for (int e = 0; e < E; e++) {
            s[e] = 1.0f / (1.0f + expf(-s[e]));
            ch[e] = s[e] + bias[e];
        }
        /* group-limited routing: keep the topk_group groups by sum of top-2 */
        for (int g = 0; g < G; g++) gmask[g] = 1;
        if (G > 1 && TG < G) {
            float gs[64];
            for (int g = 0; g < G; g++) {
                float a = -INFINITY, b = -INFINITY;
                for (int e = g * per; e < (g + 1) * per; e++) {
                    if (ch[e] > a) { b = a; a = ch[e]; }
                    else if (ch[e] > b) b = ch[e];
                }
                gs[g] = a + b;
                gmask[g] = 0;
            }
            for (int k = 0; k < TG; k++) {
                int best = -1;
                for (int g = 0; g < G; g++)
                    if (!gmask[g] && (best < 0 || gs[g] > gs[best])) best = g;
                gmask[best] = 1;
            }
        }
        float sum = 0;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                if (!gmask[e / per]) continue;
                int used = 0;
                for (int j = 0; j < k; j++) used |= sel[t * K + j] == e;
                if (!used && (best < 0 || ch[e] > ch[best])) best = e;
            }
            sel[t * K + k] = best;
            wt[t * K + k] = s[best];
            sum += s[best];
        }
        for (int k = 0; k < K; k++) {
            if (c->norm_topk_prob) wt[t * K + k] /= sum + 1e-20f;
            wt[t * K + k] *= (float)c->routed_scaling;
        }
    }
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
        for (int i = 0; i < ne; i++) memcpy(xe + (int64_t)i * H, x + tok[c0 + i] * H, sizeof(float) * (size_t)H);
        if (swiglu(f, L->eg[e], L->eu[e], L->ed[e], xe, ne, ye, err)) goto out;
        for (int i = 0; i < ne; i++) {
            float w = tw[c0 + i], *dst = y + tok[c0 + i] * H;
            const float *src = ye + (int64_t)i * H;
            for (int j = 0; j < H; j++) dst[j] += w * src[j];
        }
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
    for (int64_t i = 0; i < ntok; i++) {
        if (tokens[i] < 0 || tokens[i] >= V)
            return qt_err_set(err, "token id %d out of the vocabulary (%lld)", tokens[i], (long long)V);
        if (qt_tensor_read_f32(f->m, t, tokens[i], 1, h + i * H, err)) return QT_ERR;
    }
    return QT_OK;
}

int qt_fwd_layer(struct qt_fwd *f, int layer, float *h, int nseq, int seqlen, qt_err *err) {
    if (layer < 0 || layer >= f->n_layers) return qt_err_set(err, "layer %d out of range", layer);
    const struct qt_config *c = &f->m->cfg;
    const struct fwd_layer *L = &f->L[layer];
    if (f->gpu) {
        struct qt_cuda_layer G = {
            L->in_norm, L->post_norm, L->q, L->k, L->v, L->o, L->qb, L->kb, L->vb, L->ob, L->qn, L->kn,
            L->gate, L->up, L->down, L->router, L->router_bias, L->sgate, L->sup, L->sdown,
            L->eg, L->eu, L->ed, L->moe,
        };
        return qt_cuda_fwd_layer(f->gpu, &G, h, nseq, seqlen, err);
    }
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
    rmsnorm(h, x, nin, n, H, eps);
    if (linear(f, L->q, x, n, q, bq, err) || linear(f, L->k, x, n, k, bk, err) ||
        linear(f, L->v, x, n, v, bv, err))
        goto out;
    struct qkr_arg qa = {f, q, nq, nh, hd, seqlen, eps};
    qt_parallel_for(n, qkr_rows, &qa);
    struct qkr_arg ka = {f, k, nk, nkv, hd, seqlen, eps};
    qt_parallel_for(n, qkr_rows, &ka);
    if (attention(q, k, v, o, nseq, seqlen, nh, nkv, hd, err)) goto out;
    if (linear(f, L->o, o, n, y, bo, err)) goto out;
    for (int64_t i = 0; i < n * H; i++) h[i] += y[i];
    /* MLP */
    rmsnorm(h, x, npost, n, H, eps);
    if (L->moe) {
        if (moe(f, L, x, n, y, err)) goto out;
    } else if (swiglu(f, L->gate, L->up, L->down, x, n, y, err)) {
        goto out;
    }
    for (int64_t i = 0; i < n * H; i++) h[i] += y[i];
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
    if (f->gpu) return qt_cuda_fwd_final(f->gpu, f->final_norm, f->lm_head, h, ntok, logits, err);
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
    rmsnorm(h, x, nw, ntok, H, (float)f->m->cfg.rms_eps);
    int rc = linear(f, f->lm_head, x, ntok, logits, NULL, err);
    free(x);
    free(nw);
    return rc;
}

int qt_fwd_run(struct qt_fwd *f, const int32_t *tokens, int nseq, int seqlen, float *logits, qt_err *err) {
    int64_t n = (int64_t)nseq * seqlen;
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
