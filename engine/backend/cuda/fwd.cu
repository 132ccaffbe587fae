/* fwd.cu — one glm4_moe decoder layer on the GPU, the twin of
 * engine/eval/forward.c's qt_fwd_layer (same steps, same order, float32):
 *
 *   x = rmsnorm(h); q, k, v = x Wq^T + bq, …  (cuBLAS sgemm, no TF32)
 *   per-head q/k norm, partial NeoX RoPE      (k_qk_rope)
 *   o = causal GQA softmax(q k^T / sqrt(hd)) v (k_attn: flash-style, one
 *       pass over key tiles with an online softmax; no score matrix)
 *   h += o Wo^T; x = rmsnorm(h)
 *   dense SwiGLU, or MoE: router logits (sgemm), sigmoid + correction bias +
 *   group-limited top-k (k_route, the CPU's loop per token), the (token,
 *   slot) pairs bucketed by expert on the host (a few KB), the shared expert
 *   over every token, then each routed expert's SwiGLU over the rows it
 *   received (gather, two sgemms, silu*up, sgemm, weighted scatter-add in
 *   expert order, as the CPU adds them).
 *
 * Weights come through the caller's callback as float32 host rows and are
 * uploaded; with cache_weights they stay resident (until GPU memory runs
 * short: then the cache is dropped and weights stream one at a time). */
#include "backend/cuda/common.cuh"
#include "backend/cuda/qarith.cuh"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PF_FREE, PF_READING, PF_READY, PF_UPLOADING };

/* Streaming state: a reader thread fills two pinned slots with the planned
 * weights; uploads run on their own stream, one weight ahead of the GEMMs. */
struct pf {
    int started, quit;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int *list, n, list_cap;     /* planned tensor indices, in order of use */
    int next_read, next_use;
    int64_t cap;                /* elements per slot */
    void *host[2];              /* pinned */
    float *dev[2];
    void *stage[2];             /* bf16 before widening */
    int state[2], slot_ti[2], slot_bf16[2], slot_rc[2];
    qt_err err;
    cudaStream_t cs;
    cudaEvent_t up_start[2], up_done[2], used_done[2];
    double t_read, t_upload;    /* the reader's share (under mu) */
};

struct qt_cuda_fwd {
    const struct qt_model *m;
    struct qt_cuda_fwd_cfg cfg;
    struct qt_cuda_fwd_cb cb;
    float *inv_freq_d;          /* (rot/2) device */
    float **wcache;             /* (n_tensors) device weights or NULL */
    int64_t resident;
    float *hw;                  /* host staging of one weight */
    size_t hw_cap;
    struct cu_buf stream_w;     /* a weight that is not cached, loaded synchronously */
    struct cu_buf stream_stage; /* its bf16 form */
    int streaming;              /* the cache is full: weights stream */
    int64_t cache_cap;          /* bytes the cache may hold (QTUNE_CUDA_CACHE_MB), -1: what fits */
    int64_t streamed;           /* bytes uploaded by the streaming path */
    struct pf pf;
    struct cu_buf h, x, q, k, v, o, y, a, b, xe, ye, lg, sel, wt, tok, tw, xq, obs;
    double t_read, t_upload, t_compute, t_wait, t_layers;
};

/* ---- kernels ------------------------------------------------------------- */

/* y = w * (x / sqrt(mean(x^2) + eps)) per row; the sum in double as the CPU. */
__global__ void k_rmsnorm(const float *x, float *y, const float *w, int64_t dim, float eps) {
    const float *xr = x + (int64_t)blockIdx.x * dim;
    float *yr = y + (int64_t)blockIdx.x * dim;
    double ss = 0;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) ss += (double)xr[j] * xr[j];
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    __shared__ double sh[32];
    __shared__ float inv_s;
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = ss;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0;
        for (int k = 0; k < (int)(blockDim.x >> 5); k++) t += sh[k];
        float var = (float)(t / (double)dim);
        inv_s = 1.0f / sqrtf(var + eps);
    }
    __syncthreads();
    float inv = inv_s;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) yr[j] = w[j] * (xr[j] * inv);
}

/* Per (token, head): optional RMSNorm over hd with nw, then rotate pairs
 * (i, i + rot/2) of the first rot dims by pos * inv_freq[i].  One warp. */
__global__ void k_qk_rope(float *x, const float *nw, int nh, int hd, int rot, const float *inv_freq, int seqlen,
                          float eps, int64_t units) {
    int64_t u = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (u >= units) return;
    int lane = threadIdx.x & 31;
    int64_t tokn = u / nh;
    float *v = x + u * hd;
    if (nw) {
        double ss = 0;
        for (int j = lane; j < hd; j += 32) ss += (double)v[j] * v[j];
        for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        float var = (float)(ss / (double)hd);
        float inv = 1.0f / sqrtf(var + eps);
        __syncwarp();
        for (int j = lane; j < hd; j += 32) v[j] = nw[j] * (v[j] * inv);
        __syncwarp();
    }
    int half = rot / 2, pos = (int)(tokn % seqlen);
    for (int i = lane; i < half; i += 32) {
        float fr = (float)pos * inv_freq[i];
        float cs = cosf(fr), sn = sinf(fr);
        float a = v[i], b = v[i + half];
        v[i] = a * cs - b * sn;
        v[i + half] = b * cs + a * sn;
    }
}

/* Flash-style causal GQA attention.  A block of ATT_Q warps takes ATT_Q
 * consecutive queries of one (sequence, head); key/value tiles of ATT_K rows
 * go through shared memory; each warp keeps its query's running max, sum
 * and output (lane owns dims lane, lane+32, …). */
enum { ATT_Q = 8, ATT_K = 32, ATT_MAXD = 8 };   /* hd <= 32 * ATT_MAXD */

__global__ void __launch_bounds__(ATT_Q * 32) k_attn(const float *q, const float *k, const float *v, float *o,
                                                    int T, int nh, int nkv, int hd, float scale) {
    extern __shared__ float sm[];
    int ld = hd + 1;                        /* padded rows: no bank conflicts */
    float *Ks = sm, *Vs = Ks + ATT_K * ld, *Qs = Vs + ATT_K * ld;   /* (ATT_K, ld) (ATT_K, ld) (ATT_Q, hd) */
    int qtiles = (T + ATT_Q - 1) / ATT_Q;
    int64_t bid = blockIdx.x;
    int qt = (int)(bid % qtiles), h = (int)((bid / qtiles) % nh);
    int64_t s = bid / qtiles / nh;
    int kh = h / (nh / nkv);
    int64_t qs = (int64_t)nh * hd, ks = (int64_t)nkv * hd;
    int w = threadIdx.x / 32, lane = threadIdx.x & 31;
    int i = qt * ATT_Q + w;                 /* this warp's query position */
    const float *Q = q + (s * T) * qs + (int64_t)h * hd;
    const float *K = k + (s * T) * ks + (int64_t)kh * hd;
    const float *V = v + (s * T) * ks + (int64_t)kh * hd;
    if (i < T)
        for (int d = lane; d < hd; d += 32) Qs[w * hd + d] = Q[(int64_t)i * qs + d];
    float mx = -INFINITY, sum = 0.0f, acc[ATT_MAXD];
#pragma unroll
    for (int t = 0; t < ATT_MAXD; t++) acc[t] = 0.0f;
    int last = qt * ATT_Q + ATT_Q - 1;      /* keys 0..last are seen by some warp */
    if (last > T - 1) last = T - 1;
    for (int j0 = 0; j0 <= last; j0 += ATT_K) {
        __syncthreads();
        int nk = last + 1 - j0 < ATT_K ? last + 1 - j0 : ATT_K;
        for (int e = threadIdx.x; e < nk * hd; e += blockDim.x) {
            int r = e / hd, d = e - r * hd;
            Ks[r * ld + d] = K[(int64_t)(j0 + r) * ks + d];
            Vs[r * ld + d] = V[(int64_t)(j0 + r) * ks + d];
        }
        __syncthreads();
        if (i >= T) continue;
        /* lane j scores key j0 + j */
        float sc = -INFINITY;
        if (lane < nk && j0 + lane <= i) {
            float dot = 0.0f;
            const float *kr = Ks + lane * ld, *qr = Qs + w * hd;
            for (int d = 0; d < hd; d++) dot = fmaf(qr[d], kr[d], dot);
            sc = dot * scale;
        }
        float tmax = sc;
        for (int off = 16; off > 0; off >>= 1) tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, off));
        if (tmax == -INFINITY) continue;
        float nmx = fmaxf(mx, tmax);
        float corr = mx == -INFINITY ? 0.0f : expf(mx - nmx);
        float p = sc == -INFINITY ? 0.0f : expf(sc - nmx);
        float ps = p;
        for (int off = 16; off > 0; off >>= 1) ps += __shfl_xor_sync(0xffffffffu, ps, off);
        sum = sum * corr + ps;
#pragma unroll
        for (int t = 0; t < ATT_MAXD; t++) acc[t] *= corr;
        for (int j = 0; j < nk; j++) {
            float pj = __shfl_sync(0xffffffffu, p, j);
            if (pj == 0.0f) continue;
            const float *vr = Vs + j * ld;
#pragma unroll
            for (int t = 0; t < ATT_MAXD; t++) {
                int d = lane + 32 * t;
                if (d < hd) acc[t] = fmaf(pj, vr[d], acc[t]);
            }
        }
        mx = nmx;
    }
    if (i >= T) return;
    float inv = 1.0f / sum;
    float *O = o + (s * T + i) * qs + (int64_t)h * hd;
#pragma unroll
    for (int t = 0; t < ATT_MAXD; t++) {
        int d = lane + 32 * t;
        if (d < hd) O[d] = acc[t] * inv;
    }
}

__global__ void k_bias(float *y, const float *b, int64_t n, int64_t out) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n * out; i += (int64_t)gridDim.x * blockDim.x)
        y[i] += b[i % out];
}

__global__ void k_add(float *y, const float *x, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] += x[i];
}

__global__ void k_silu_mul(float *a, const float *b, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float x = a[i];
        a[i] = x / (1.0f + expf(-x)) * b[i];
    }
}

/* llama.cpp's activation types (forward.c's ggml_act_row), one row per
 * block: 5 BF16 and 6 F16 round each element; 3 Q8_0 (blocks of 32, one per
 * warp) and 4 Q8_K (blocks of 256, one per warp, 8 per lane) quantize whole
 * blocks and leave a partial last block as it is, as the CPU does. */
__device__ void act_ggml_row(float *r, int64_t cols, int mode) {
    if (mode == 5 || mode == 6) {
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
            float v = r[j];
            if (isnan(v)) continue;
            r[j] = mode == 5 ? d_rnd_bf16(v) : d_f16_to_f32(d_f32_to_f16(v));
        }
        return;
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (mode == 3) {
        for (int64_t b = w; (b + 1) * 32 <= cols; b += nw) {
            float v = r[b * 32 + lane], amax = fabsf(v);
            for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
            float d = d_f16_to_f32(d_f32_to_f16(amax / 127.f)), id = amax != 0.0f ? 127.f / amax : 0.0f;
            r[b * 32 + lane] = rintf(v * id) * d;
        }
        return;
    }
    for (int64_t b = w; (b + 1) * 256 <= cols; b += nw) {
        float *v = r + b * 256;
        /* amax and the value at the first index holding it (the CPU's strict >) */
        float amax = 0.0f;
        int at = 1 << 30;
        for (int k = 0; k < 8; k++) {
            int j = lane + 32 * k;
            float a = fabsf(v[j]);
            if (a > amax) { amax = a; at = j; }
        }
        for (int o = 16; o > 0; o >>= 1) {
            float a2 = __shfl_xor_sync(0xffffffffu, amax, o);
            int at2 = __shfl_xor_sync(0xffffffffu, at, o);
            if (a2 > amax || (a2 == amax && at2 < at)) { amax = a2; at = at2; }
        }
        if (amax == 0.0f) {
            for (int k = 0; k < 8; k++) v[lane + 32 * k] = 0.0f;
            continue;
        }
        float vmax = v[at];
        __syncwarp();   /* every lane has read v[at] before any writes */
        const float is = -127.f / vmax, d = 1 / is;
        for (int k = 0; k < 8; k++) {
            float q = rintf(is * v[lane + 32 * k]);
            v[lane + 32 * k] = (q > 127 ? 127 : q) * d;
        }
    }
}

/* Per-token fake quantization (forward.c's aq_rows): one block per row;
 * mode is enum qt_fwd_act (1 int8, 2 fp8, 3.. llama.cpp's types). */
__global__ void k_act_quant(float *x, int64_t cols, int mode) {
    float *r = x + (int64_t)blockIdx.x * cols;
    if (mode >= 3) {
        act_ggml_row(r, cols, mode);
        return;
    }
    float amax = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) amax = fmaxf(amax, fabsf(r[j]));
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    __shared__ float sh[32];
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = amax;
    __syncthreads();
    amax = 0.0f;
    for (int k = 0; k < (int)(blockDim.x >> 5); k++) amax = fmaxf(amax, sh[k]);
    if (mode == 1) {
        float s = amax / 127.5f;
        if (s == 0) s = FLT_EPSILON;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
            float q = rintf(__fdiv_rn(r[j], s));
            q = q < -128 ? -128 : q > 127 ? 127 : q;
            r[j] = q * s;
        }
    } else {
        float s = amax / 448.0f;
        if (s == 0) s = FLT_EPSILON;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
            float t = __fdiv_rn(r[j], s);
            t = t < -448 ? -448 : t > 448 ? 448 : t;
            r[j] = d_fp8e4m3_to_f32(d_f32_to_fp8e4m3(t)) * s;
        }
    }
}

/* The CPU's routing loop, one thread per token: sigmoid scores (written
 * over the logits), group-limited top-k by score + bias, weights. */
__global__ void k_route(float *logits, const float *bias, int64_t n, int E, int K, int G, int TG, int norm,
                        float scaling, int *sel, float *wt) {
    int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n) return;
    float *s = logits + t * E;
    int per = E / G;
    unsigned long long gmask = ~0ull;
    for (int e = 0; e < E; e++) s[e] = 1.0f / (1.0f + expf(-s[e]));
    if (G > 1 && TG < G) {
        float gs[64];
        for (int g = 0; g < G; g++) {
            float a = -INFINITY, b = -INFINITY;
            for (int e = g * per; e < (g + 1) * per; e++) {
                float ch = s[e] + bias[e];
                if (ch > a) { b = a; a = ch; }
                else if (ch > b) b = ch;
            }
            gs[g] = a + b;
        }
        gmask = 0;
        for (int k = 0; k < TG; k++) {
            int best = -1;
            for (int g = 0; g < G; g++)
                if (!((gmask >> g) & 1) && (best < 0 || gs[g] > gs[best])) best = g;
            gmask |= 1ull << best;
        }
    }
    float sum = 0;
    int *st = sel + t * K;
    float *wr = wt + t * K;
    for (int k = 0; k < K; k++) {
        int best = -1;
        float bch = 0;
        for (int e = 0; e < E; e++) {
            if (!((gmask >> (e / per)) & 1)) continue;
            int used = 0;
            for (int j = 0; j < k; j++) used |= st[j] == e;
            float ch = s[e] + bias[e];
            if (!used && (best < 0 || ch > bch)) { best = e; bch = ch; }
        }
        st[k] = best;
        wr[k] = s[best];
        sum += s[best];
    }
    for (int k = 0; k < K; k++) {
        if (norm) wr[k] /= sum + 1e-20f;
        wr[k] *= scaling;
    }
}

__global__ void k_gather(const float *x, int64_t dim, const int64_t *tok, int64_t ne, float *xe) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < ne * dim; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / dim;
        xe[i] = x[tok[r] * dim + (i - r * dim)];
    }
}

__global__ void k_scatter(float *y, int64_t dim, const int64_t *tok, const float *w, int64_t ne, const float *ye) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < ne * dim; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / dim;
        y[tok[r] * dim + (i - r * dim)] += w[r] * ye[i];
    }
}

/* ---- host side ----------------------------------------------------------- */

static int blocks(struct cu_ctx *cx, int64_t n) {
    int64_t g = (n + 255) / 256, cap = (int64_t)cx->prop.multiProcessorCount * 16;
    return (int)(g < 1 ? 1 : g > cap ? cap : g);
}

#define LAUNCHED(what) CU_TRY(cudaGetLastError(), what)

static int need(struct cu_buf *b, size_t bytes, const char *what, qt_err *err) {
    return cu_buf_need(b, bytes, what, err);
}

static void drop_cache(struct qt_cuda_fwd *g) {
    if (!g->wcache) return;
    for (int i = 0; i < g->m->n_tensors; i++)
        if (g->wcache[i]) {
            cudaFree(g->wcache[i]);
            g->wcache[i] = NULL;
        }
    g->resident = 0;
}

/* ---- weights: cache, synchronous loads, streaming with double buffering -- */

/* Host copy of tensor ti into buf (pinned, numel floats): a Linear weight
 * through the callback (a substitute, or 1: the model's own), else the
 * model's values.  The model's own BF16 weights are copied raw (half the
 * bytes; *bf16 = 1) and widened on the GPU.  Runs without the lock. */
static int fetch_host(struct qt_cuda_fwd *g, int ti, int weight, void *buf, int *bf16, qt_err *err) {
    const struct qt_tensor *t = &g->m->tensors[ti];
    *bf16 = 0;
    if (weight) {
        int rc = g->cb.weight(g->cb.ctx, ti, (float *)buf, err);
        if (rc != 1) return rc;
    }
    if (t->dtype == QT_DT_BF16 && t->data && t->scale < 0) {
        memcpy(buf, t->data, (size_t)qt_tensor_numel(t) * 2);
        *bf16 = 1;
        return QT_OK;
    }
    return qt_tensor_read_f32(g->m, t, 0, qt_tensor_rows(t), (float *)buf, err);
}

__global__ void k_widen(const uint16_t *s, float *d, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        d[i] = __uint_as_float((uint32_t)s[i] << 16);
}

/* Puts host data (n elements, bf16 or float) into dst (float, device) on
 * stream st; stage holds n bf16 for the widening. */
static int put(struct cu_ctx *cx, cudaStream_t cst, float *dst, void *stage, const void *host, int64_t n, int bf16,
               qt_err *err) {
    if (!bf16) {
        CU_TRY(cudaMemcpyAsync(dst, host, (size_t)n * 4, cudaMemcpyHostToDevice, cst), "upload weight");
        return QT_OK;
    }
    CU_TRY(cudaMemcpyAsync(stage, host, (size_t)n * 2, cudaMemcpyHostToDevice, cst), "upload weight");
    k_widen<<<blocks(cx, n), 256, 0, cst>>>((const uint16_t *)stage, dst, n);
    CU_TRY(cudaGetLastError(), "widen kernel");
    return QT_OK;
}

/* Whether a weight of bytes may join the cache (vectors always do). */
static int cache_room(struct qt_cuda_fwd *g, size_t bytes) {
    if (!g->cb.cache_weights || g->streaming) return 0;
    if (g->cache_cap >= 0 && g->resident + (int64_t)bytes > g->cache_cap) return 0;
    size_t fr = 0, tot = 0;
    cudaMemGetInfo(&fr, &tot);
    /* keep 1 GiB plus a quarter of the card for activations and streaming */
    return fr >= bytes + (1ull << 30) + tot / 4;
}

/* The streaming reader: fetches the planned weights into the two pinned
 * slots ahead of their use. */
static void *pf_main(void *arg) {
    struct qt_cuda_fwd *g = (struct qt_cuda_fwd *)arg;
    struct pf *P = &g->pf;
    pthread_mutex_lock(&P->mu);
    for (;;) {
        while (!P->quit && (P->next_read >= P->n || P->state[P->next_read % 2] == PF_READY))
            pthread_cond_wait(&P->cv, &P->mu);
        if (P->quit) break;
        int k = P->next_read, slot = k % 2, ti = P->list[k];
        if (P->state[slot] == PF_UPLOADING) {
            /* the pinned slot is free once its upload is done */
            pthread_mutex_unlock(&P->mu);
            cudaEventSynchronize(P->up_done[slot]);
            float ms = 0;
            cudaEventElapsedTime(&ms, P->up_start[slot], P->up_done[slot]);
            pthread_mutex_lock(&P->mu);
            P->t_upload += ms * 1e-3;
            P->state[slot] = PF_FREE;
        }
        P->state[slot] = PF_READING;
        pthread_mutex_unlock(&P->mu);
        double t0 = qt_now();
        qt_err e;
        e.msg[0] = 0;
        int bf = 0, rc = fetch_host(g, ti, 1, P->host[slot], &bf, &e);
        double dt = qt_now() - t0;
        pthread_mutex_lock(&P->mu);
        P->t_read += dt;
        P->slot_ti[slot] = ti;
        P->slot_bf16[slot] = bf;
        P->slot_rc[slot] = rc;
        if (rc != QT_OK) P->err = e;
        P->state[slot] = PF_READY;
        P->next_read++;
        pthread_cond_broadcast(&P->cv);
    }
    pthread_mutex_unlock(&P->mu);
    return NULL;
}

/* Starts streaming: slots sized for the largest Linear weight. */
static int pf_start(struct qt_cuda_fwd *g, struct cu_ctx *cx, qt_err *err) {
    struct pf *P = &g->pf;
    if (P->started) return QT_OK;
    int64_t mx = 0;
    for (int i = 0; i < g->m->n_tensors; i++)
        if (g->m->tensors[i].ndim == 2 && qt_tensor_numel(&g->m->tensors[i]) > mx) mx = qt_tensor_numel(&g->m->tensors[i]);
    P->cap = mx;
    for (int s = 0; s < 2; s++) {
        if (cudaMallocHost(&P->host[s], (size_t)mx * 4) != cudaSuccess) {
            P->host[s] = NULL;
            return qt_err_set(err, "out of pinned host memory (2 x %lld MiB of streaming buffers)", (long long)(mx * 4) >> 20);
        }
        if (cu_alloc((void **)&P->dev[s], (size_t)mx * 4, "streaming weight buffer", err) ||
            cu_alloc(&P->stage[s], (size_t)mx * 2, "streaming weight buffer", err))
            return QT_ERR;
        cudaEventCreateWithFlags(&P->used_done[s], cudaEventDisableTiming);
        cudaEventCreate(&P->up_start[s]);
        cudaEventCreate(&P->up_done[s]);
        cudaEventRecord(P->used_done[s], cx->st);
        P->state[s] = PF_FREE;
    }
    CU_TRY(cudaStreamCreateWithFlags(&P->cs, cudaStreamNonBlocking), "copy stream");
    pthread_mutex_init(&P->mu, NULL);
    pthread_cond_init(&P->cv, NULL);
    if (pthread_create(&P->th, NULL, pf_main, g) != 0) return qt_err_set(err, "cannot start the streaming thread");
    P->started = 1;
    return QT_OK;
}

/* Plans the next weights to use, in order (those not cached). */
static void pf_plan(struct qt_cuda_fwd *g, const int *tis, int n) {
    struct pf *P = &g->pf;
    if (!P->started) return;
    pthread_mutex_lock(&P->mu);
    for (int i = 0; i < n; i++) {
        if (tis[i] < 0 || (g->wcache && g->wcache[tis[i]])) continue;
        if (P->n == P->list_cap) {
            int c = P->list_cap ? 2 * P->list_cap : 256;
            int *l = (int *)realloc(P->list, sizeof(int) * (size_t)c);
            if (!l) break;     /* unplanned weights load synchronously */
            P->list = l;
            P->list_cap = c;
        }
        P->list[P->n++] = tis[i];
    }
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
}

/* Forgets what is planned once the reader is idle (between layers); the
 * caller holds the backend lock. */
static void pf_reset(struct qt_cuda_fwd *g) {
    struct pf *P = &g->pf;
    if (!P->started) return;
    pthread_mutex_lock(&P->mu);
    P->n = P->next_read;    /* no new reads */
    if (P->state[0] == PF_READING || P->state[1] == PF_READING) {
        /* the read in progress may need the GPU (the caller holds the lock) */
        cu_unlock();
        while (P->state[0] == PF_READING || P->state[1] == PF_READING) pthread_cond_wait(&P->cv, &P->mu);
        pthread_mutex_unlock(&P->mu);
        cu_lock();
        pthread_mutex_lock(&P->mu);
    }
    for (int s = 0; s < 2; s++)
        if (P->state[s] == PF_READY) P->state[s] = PF_FREE;    /* read, never used */
    P->n = P->next_read = P->next_use = 0;
    pthread_mutex_unlock(&P->mu);
}

/* The planned weight ti on the GPU (slot *slot_out); NULL when ti is not
 * the next planned weight (the caller loads it synchronously). */
static const float *pf_get(struct qt_cuda_fwd *g, struct cu_ctx *cx, int ti, int *slot_out, qt_err *err) {
    struct pf *P = &g->pf;
    if (!P->started) return NULL;
    pthread_mutex_lock(&P->mu);
    if (P->next_use >= P->n || P->list[P->next_use] != ti) {
        pthread_mutex_unlock(&P->mu);
        return NULL;
    }
    int slot = P->next_use % 2;
    double t0 = qt_now();
    cu_unlock();    /* the reader's callback may need the GPU */
    while (!(P->state[slot] == PF_READY && P->next_read > P->next_use)) pthread_cond_wait(&P->cv, &P->mu);
    pthread_mutex_unlock(&P->mu);
    cu_lock();
    g->t_wait += qt_now() - t0;
    pthread_mutex_lock(&P->mu);
    int rc = P->slot_rc[slot], bf = P->slot_bf16[slot];
    if (rc != QT_OK) {
        if (err) *err = P->err;
        P->state[slot] = PF_FREE;
        P->next_use++;
        pthread_cond_broadcast(&P->cv);
        pthread_mutex_unlock(&P->mu);
        return NULL;
    }
    pthread_mutex_unlock(&P->mu);
    int64_t n = qt_tensor_numel(&g->m->tensors[ti]);
    /* the device slot is free once the GEMM that last read it is done */
    cudaStreamWaitEvent(P->cs, P->used_done[slot], 0);
    cudaEventRecord(P->up_start[slot], P->cs);
    int prc = put(cx, P->cs, P->dev[slot], P->stage[slot], P->host[slot], n, bf, err);
    cudaEventRecord(P->up_done[slot], P->cs);
    cudaStreamWaitEvent(cx->st, P->up_done[slot], 0);
    pthread_mutex_lock(&P->mu);
    P->state[slot] = PF_UPLOADING;
    P->next_use++;
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
    if (prc != QT_OK) return NULL;
    g->streamed += (int64_t)n * (bf ? 2 : 4);
    *slot_out = slot;
    return P->dev[slot];
}

static void pf_stop(struct qt_cuda_fwd *g) {
    struct pf *P = &g->pf;
    if (!P->started) return;
    pthread_mutex_lock(&P->mu);
    P->quit = 1;
    pthread_cond_broadcast(&P->cv);
    pthread_mutex_unlock(&P->mu);
    pthread_join(P->th, NULL);
    cudaStreamSynchronize(P->cs);
    for (int s = 0; s < 2; s++) {
        cudaFreeHost(P->host[s]);
        cudaFree(P->dev[s]);
        cudaFree(P->stage[s]);
        cudaEventDestroy(P->used_done[s]);
        cudaEventDestroy(P->up_start[s]);
        cudaEventDestroy(P->up_done[s]);
    }
    cudaStreamDestroy(P->cs);
    pthread_mutex_destroy(&P->mu);
    pthread_cond_destroy(&P->cv);
    free(P->list);
    memset(P, 0, sizeof *P);
}

/* Device float32 of tensor ti (rows, cols): a Linear weight (weight = 1;
 * cached, streamed, or loaded into stream_w) or a vector read from the
 * model (norms, biases, router: always cached).  *slot gets the streaming
 * slot it came from (-1 otherwise): the caller records used_done after its
 * last use. */
static const float *dev_tensor_slot(struct qt_cuda_fwd *g, struct cu_ctx *cx, int ti, int weight, int *slot,
                                    qt_err *err) {
    *slot = -1;
    if (g->wcache && g->wcache[ti]) return g->wcache[ti];
    if (weight && g->streaming) {
        qt_err e2;
        e2.msg[0] = 0;
        const float *p = pf_get(g, cx, ti, slot, &e2);
        if (p) return p;
        if (e2.msg[0]) {
            if (err) *err = e2;
            return NULL;
        }
        pf_reset(g);    /* not planned: the reader must be idle before the callback runs here */
    }
    const struct qt_tensor *t = &g->m->tensors[ti];
    size_t n = (size_t)qt_tensor_numel(t), bytes = n * sizeof(float);
    if (n > g->hw_cap) {
        /* pinned staging: uploads at full PCIe speed */
        if (g->hw) cudaFreeHost(g->hw);
        g->hw = NULL;
        g->hw_cap = 0;
        if (cudaMallocHost((void **)&g->hw, bytes) != cudaSuccess) {
            g->hw = NULL;
            qt_err_set(err, "out of pinned host memory (%zu MiB for %s)", bytes >> 20, t->name);
            return NULL;
        }
        g->hw_cap = n;
    }
    double t0 = qt_now();
    /* The callback may quantize on the GPU itself (qplan's hooks call
     * qt_cuda_quant, from several threads): it runs without the lock. */
    cu_unlock();
    int bf = 0, rc = fetch_host(g, ti, weight, g->hw, &bf, err);
    cu_lock();
    if (rc != QT_OK) return NULL;
    double t1 = qt_now();
    g->t_read += t1 - t0;
    float *dst = NULL;
    int cache = 1;
    if (!weight) {
        if (cudaMalloc((void **)&dst, bytes) != cudaSuccess) {
            cudaGetLastError();
            qt_err_set(err, "CUDA: out of GPU memory: %s (asked %zu KiB)", t->name, bytes >> 10);
            return NULL;
        }
    } else if (!cache_room(g, bytes) || cudaMalloc((void **)&dst, bytes) != cudaSuccess) {
        cudaGetLastError();
        dst = NULL;
        cache = 0;
        /* from now on weights stream, one planned weight ahead */
        if (g->cb.cache_weights && !g->streaming && pf_start(g, cx, err) == QT_OK) g->streaming = 1;
    }
    if (!cache) {
        if (need(&g->stream_w, bytes, t->name, err) || need(&g->stream_stage, n * 2, t->name, err)) return NULL;
        dst = (float *)g->stream_w.p;
    } else if (bf && need(&g->stream_stage, n * 2, t->name, err)) {
        return NULL;
    }
    if (put(cx, cx->st, dst, g->stream_stage.p, g->hw, (int64_t)n, bf, err)) return NULL;
    cudaError_t se = cudaStreamSynchronize(cx->st);   /* hw and the stage are reused next call */
    if (se != cudaSuccess) {
        cu_fail(err, "upload weight", se);
        return NULL;
    }
    g->t_upload += qt_now() - t1;
    if (cache) {
        g->wcache[ti] = dst;
        g->resident += (int64_t)bytes;
    }
    return dst;
}

static const float *dev_tensor(struct qt_cuda_fwd *g, struct cu_ctx *cx, int ti, int weight, qt_err *err) {
    int slot;
    return dev_tensor_slot(g, cx, ti, weight, &slot, err);
}

/* y (n, out) = x (n, in) W^T + bias for Linear ti (activation fake-quant
 * and observation as forward.c's linear).  x may be rewritten only through
 * a copy. */
static int linear(struct qt_cuda_fwd *g, struct cu_ctx *cx, int ti, const float *x, int64_t n, float *y,
                  int bias_ti, qt_err *err) {
    const struct qt_tensor *t = &g->m->tensors[ti];
    int64_t out = qt_tensor_rows(t), in = qt_tensor_cols(t);
    if (n == 0) return QT_OK;
    int a = g->cb.act ? g->cb.act(g->cb.ctx, ti) : 0;
    if (a) {
        if (need(&g->xq, (size_t)(n * in) * 4, "activation copy", err)) return QT_ERR;
        CU_TRY(cudaMemcpyAsync(g->xq.p, x, (size_t)(n * in) * 4, cudaMemcpyDeviceToDevice, cx->st), "copy");
        k_act_quant<<<(unsigned)n, 256, 0, cx->st>>>((float *)g->xq.p, in, a);
        LAUNCHED("activation quant kernel");
        x = (const float *)g->xq.p;
    }
    if (g->cb.observe) {
        float *hx = (float *)malloc((size_t)(n * in) * 4);
        if (!hx) return qt_err_set(err, "out of memory");
        cudaError_t e = cudaMemcpyAsync(hx, x, (size_t)(n * in) * 4, cudaMemcpyDeviceToHost, cx->st);
        if (e == cudaSuccess) e = cudaStreamSynchronize(cx->st);
        if (e != cudaSuccess) {
            free(hx);
            return cu_fail(err, "download activations", e);
        }
        cu_unlock();    /* as the weight callback: it may use the GPU */
        g->cb.observe(g->cb.ctx, ti, hx, n, in);
        cu_lock();
        free(hx);
    }
    int slot;
    const float *W = dev_tensor_slot(g, cx, ti, 1, &slot, err);
    if (!W) return QT_ERR;
    double t0 = qt_now();
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t bs = cublasSgemm(cx->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)out, (int)n, (int)in, &one, W, (int)in, x,
                                    (int)in, &zero, y, (int)out);
    if (bs != CUBLAS_STATUS_SUCCESS) return cu_blas_fail(err, t->name, bs);
    if (bias_ti >= 0) {
        const float *b = dev_tensor(g, cx, bias_ti, 0, err);
        if (!b) return QT_ERR;
        k_bias<<<blocks(cx, n * out), 256, 0, cx->st>>>(y, b, n, out);
        LAUNCHED("bias kernel");
    }
    if (slot >= 0) CU_TRY(cudaEventRecord(g->pf.used_done[slot], cx->st), "linear");
    else if (!g->wcache || !g->wcache[ti]) CU_TRY(cudaStreamSynchronize(cx->st), "linear");   /* stream_w is reused */
    g->t_compute += qt_now() - t0;
    return QT_OK;
}

static int swiglu(struct qt_cuda_fwd *g, struct cu_ctx *cx, int gi, int ui, int di, const float *x, int64_t n,
                  float *y, qt_err *err) {
    int64_t ni = qt_tensor_rows(&g->m->tensors[gi]);
    if (need(&g->a, (size_t)(n * ni) * 4, "mlp gate", err) || need(&g->b, (size_t)(n * ni) * 4, "mlp up", err))
        return QT_ERR;
    float *a = (float *)g->a.p, *b = (float *)g->b.p;
    if (linear(g, cx, gi, x, n, a, -1, err) || linear(g, cx, ui, x, n, b, -1, err)) return QT_ERR;
    k_silu_mul<<<blocks(cx, n * ni), 256, 0, cx->st>>>(a, b, n * ni);
    LAUNCHED("silu kernel");
    return linear(g, cx, di, a, n, y, -1, err);
}

static int moe(struct qt_cuda_fwd *g, struct cu_ctx *cx, const struct qt_cuda_layer *L, const float *x, int64_t n,
               float *y, qt_err *err) {
    const struct qt_cuda_fwd_cfg *c = &g->cfg;
    int E = c->n_experts, K = c->top_k, H = c->hidden;
    if (need(&g->lg, (size_t)(n * E) * 4, "router logits", err) || need(&g->sel, (size_t)(n * K) * 4, "routing", err) ||
        need(&g->wt, (size_t)(n * K) * 4, "routing", err) || need(&g->tok, (size_t)(n * K) * 8, "routing", err) ||
        need(&g->tw, (size_t)(n * K) * 4, "routing", err))
        return QT_ERR;
    float *lg = (float *)g->lg.p;
    const float *Wr = dev_tensor(g, cx, L->router, 0, err);
    if (!Wr) return QT_ERR;
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t bs =
        cublasSgemm(cx->blas, CUBLAS_OP_T, CUBLAS_OP_N, E, (int)n, H, &one, Wr, H, x, H, &zero, lg, E);
    if (bs != CUBLAS_STATUS_SUCCESS) return cu_blas_fail(err, "router", bs);
    const float *bias = NULL;
    if (L->router_bias >= 0 && !(bias = dev_tensor(g, cx, L->router_bias, 0, err))) return QT_ERR;
    if (!bias) {
        if (need(&g->obs, (size_t)E * 4, "router bias", err)) return QT_ERR;
        CU_TRY(cudaMemsetAsync(g->obs.p, 0, (size_t)E * 4, cx->st), "clear");
        bias = (const float *)g->obs.p;
    }
    int G = c->n_group > 0 ? c->n_group : 1, TG = c->topk_group > 0 ? c->topk_group : G;
    k_route<<<(unsigned)((n + 127) / 128), 128, 0, cx->st>>>(lg, bias, n, E, K, G, TG, c->norm_topk_prob,
                                                             c->routed_scaling, (int *)g->sel.p, (float *)g->wt.p);
    LAUNCHED("router kernel");
    /* bucket (token, slot) pairs by expert on the host: n*K ints */
    int *sel = (int *)malloc((size_t)(n * K) * 4);
    float *wt = (float *)malloc((size_t)(n * K) * 4);
    int *cnt = (int *)calloc((size_t)E + 1, sizeof(int));
    int64_t *tok = (int64_t *)malloc((size_t)(n * K) * 8);
    float *tw = (float *)malloc((size_t)(n * K) * 4);
    int rc = QT_ERR;
    if (!sel || !wt || !cnt || !tok || !tw) {
        qt_err_set(err, "out of memory");
        goto out;
    }
    {
        cudaError_t e = cudaMemcpyAsync(sel, g->sel.p, (size_t)(n * K) * 4, cudaMemcpyDeviceToHost, cx->st);
        if (e == cudaSuccess) e = cudaMemcpyAsync(wt, g->wt.p, (size_t)(n * K) * 4, cudaMemcpyDeviceToHost, cx->st);
        if (e == cudaSuccess) e = cudaStreamSynchronize(cx->st);
        if (e != cudaSuccess) {
            cu_fail(err, "routing", e);
            goto out;
        }
    }
    for (int64_t i = 0; i < n * K; i++) {
        if (sel[i] < 0 || sel[i] >= E) {
            qt_err_set(err, "CUDA: router picked no expert (NaN router logits?)");
            goto out;
        }
        cnt[sel[i] + 1]++;
    }
    for (int e = 0; e < E; e++) cnt[e + 1] += cnt[e];
    {
        int *pos = (int *)malloc(sizeof(int) * (size_t)E);
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
    {
        cudaError_t e = cudaMemcpyAsync(g->tok.p, tok, (size_t)(n * K) * 8, cudaMemcpyHostToDevice, cx->st);
        if (e == cudaSuccess) e = cudaMemcpyAsync(g->tw.p, tw, (size_t)(n * K) * 4, cudaMemcpyHostToDevice, cx->st);
        if (e == cudaSuccess) e = cudaStreamSynchronize(cx->st);   /* tok/tw host buffers are freed below */
        if (e != cudaSuccess) {
            cu_fail(err, "routing upload", e);
            goto out;
        }
    }
    if (g->pf.started) {
        for (int e = 0; e < E; e++)
            if (cnt[e + 1] > cnt[e]) {
                int plan[3] = {L->eg[e], L->eu[e], L->ed[e]};
                pf_plan(g, plan, 3);
            }
    }
    if (L->sgate >= 0) {
        if (swiglu(g, cx, L->sgate, L->sup, L->sdown, x, n, y, err)) goto out;
    } else if (cudaMemsetAsync(y, 0, (size_t)(n * H) * 4, cx->st) != cudaSuccess) {
        qt_err_set(err, "CUDA: clear failed");
        goto out;
    }
    {
        int maxc = 0;
        for (int e = 0; e < E; e++) maxc = cnt[e + 1] - cnt[e] > maxc ? cnt[e + 1] - cnt[e] : maxc;
        if (need(&g->xe, (size_t)maxc * H * 4 + 4, "expert rows", err) ||
            need(&g->ye, (size_t)maxc * H * 4 + 4, "expert rows", err))
            goto out;
        float *xe = (float *)g->xe.p, *ye = (float *)g->ye.p;
        const int64_t *dtok = (const int64_t *)g->tok.p;
        const float *dtw = (const float *)g->tw.p;
        for (int e = 0; e < E; e++) {
            int c0 = cnt[e], ne = cnt[e + 1] - cnt[e];
            if (ne == 0) continue;
            k_gather<<<blocks(cx, (int64_t)ne * H), 256, 0, cx->st>>>(x, H, dtok + c0, ne, xe);
            if (cudaGetLastError() != cudaSuccess) { qt_err_set(err, "CUDA: gather kernel failed"); goto out; }
            if (swiglu(g, cx, L->eg[e], L->eu[e], L->ed[e], xe, ne, ye, err)) goto out;
            k_scatter<<<blocks(cx, (int64_t)ne * H), 256, 0, cx->st>>>(y, H, dtok + c0, dtw + c0, ne, ye);
            if (cudaGetLastError() != cudaSuccess) { qt_err_set(err, "CUDA: scatter kernel failed"); goto out; }
        }
    }
    rc = QT_OK;
out:
    free(sel);
    free(wt);
    free(cnt);
    free(tok);
    free(tw);
    return rc;
}

static int attention(struct qt_cuda_fwd *g, struct cu_ctx *cx, const float *q, const float *k, const float *v,
                     float *o, int nseq, int T, qt_err *err) {
    const struct qt_cuda_fwd_cfg *c = &g->cfg;
    int hd = c->head_dim;
    size_t smem = (size_t)(2 * ATT_K * (hd + 1) + ATT_Q * hd) * sizeof(float);
    static size_t smem_set;
    if (smem > 48 * 1024 && smem > smem_set) {
        CU_TRY(cudaFuncSetAttribute(k_attn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem), "attention");
        smem_set = smem;
    }
    int64_t nb = (int64_t)nseq * c->n_heads * ((T + ATT_Q - 1) / ATT_Q);
    k_attn<<<(unsigned)nb, ATT_Q * 32, smem, cx->st>>>(q, k, v, o, T, c->n_heads, c->n_kv_heads, hd,
                                                      1.0f / sqrtf((float)hd));
    LAUNCHED("attention kernel");
    return QT_OK;
}

static int layer_locked(struct qt_cuda_fwd *g, struct cu_ctx *cx, const struct qt_cuda_layer *L, float *hh, int nseq,
                        int seqlen, qt_err *err) {
    const struct qt_cuda_fwd_cfg *c = &g->cfg;
    int64_t n = (int64_t)nseq * seqlen;
    int H = c->hidden, nh = c->n_heads, nkv = c->n_kv_heads, hd = c->head_dim;
    int64_t qd = (int64_t)nh * hd, kd = (int64_t)nkv * hd;
    if (need(&g->h, (size_t)(n * H) * 4, "hidden states", err) || need(&g->x, (size_t)(n * H) * 4, "normed", err) ||
        need(&g->q, (size_t)(n * qd) * 4, "q", err) || need(&g->k, (size_t)(n * kd) * 4, "k", err) ||
        need(&g->v, (size_t)(n * kd) * 4, "v", err) || need(&g->o, (size_t)(n * qd) * 4, "attention out", err) ||
        need(&g->y, (size_t)(n * H) * 4, "layer out", err))
        return QT_ERR;
    float *h = (float *)g->h.p, *x = (float *)g->x.p, *q = (float *)g->q.p, *k = (float *)g->k.p;
    float *v = (float *)g->v.p, *o = (float *)g->o.p, *y = (float *)g->y.p;
    pf_reset(g);
    {
        int plan[7] = {L->q, L->k, L->v, L->o, L->moe ? L->sgate : L->gate, L->moe ? L->sup : L->up,
                       L->moe ? L->sdown : L->down};
        pf_plan(g, plan, 7);
    }
    CU_TRY(cudaMemcpyAsync(h, hh, (size_t)(n * H) * 4, cudaMemcpyHostToDevice, cx->st), "upload hidden states");
    const float *nin = dev_tensor(g, cx, L->in_norm, 0, err);
    const float *npost = nin ? dev_tensor(g, cx, L->post_norm, 0, err) : NULL;
    if (!npost) return QT_ERR;
    const float *nq = NULL, *nk = NULL;
    if (L->qn >= 0 && !(nq = dev_tensor(g, cx, L->qn, 0, err))) return QT_ERR;
    if (L->kn >= 0 && !(nk = dev_tensor(g, cx, L->kn, 0, err))) return QT_ERR;
    float eps = c->eps;
    k_rmsnorm<<<(unsigned)n, 256, 0, cx->st>>>(h, x, nin, H, eps);
    LAUNCHED("rmsnorm kernel");
    if (linear(g, cx, L->q, x, n, q, L->qb, err) || linear(g, cx, L->k, x, n, k, L->kb, err) ||
        linear(g, cx, L->v, x, n, v, L->vb, err))
        return QT_ERR;
    int64_t uq = n * nh, uk = n * nkv;
    k_qk_rope<<<(unsigned)((uq + 7) / 8), 256, 0, cx->st>>>(q, nq, nh, hd, c->rot, g->inv_freq_d, seqlen, eps, uq);
    k_qk_rope<<<(unsigned)((uk + 7) / 8), 256, 0, cx->st>>>(k, nk, nkv, hd, c->rot, g->inv_freq_d, seqlen, eps, uk);
    LAUNCHED("rope kernel");
    if (attention(g, cx, q, k, v, o, nseq, seqlen, err)) return QT_ERR;
    if (linear(g, cx, L->o, o, n, y, L->ob, err)) return QT_ERR;
    k_add<<<blocks(cx, n * H), 256, 0, cx->st>>>(h, y, n * H);
    k_rmsnorm<<<(unsigned)n, 256, 0, cx->st>>>(h, x, npost, H, eps);
    LAUNCHED("rmsnorm kernel");
    if (L->moe) {
        if (moe(g, cx, L, x, n, y, err)) return QT_ERR;
    } else if (swiglu(g, cx, L->gate, L->up, L->down, x, n, y, err)) {
        return QT_ERR;
    }
    k_add<<<blocks(cx, n * H), 256, 0, cx->st>>>(h, y, n * H);
    LAUNCHED("residual kernel");
    double t0 = qt_now();
    CU_TRY(cudaMemcpyAsync(hh, h, (size_t)(n * H) * 4, cudaMemcpyDeviceToHost, cx->st), "download hidden states");
    CU_TRY(cudaStreamSynchronize(cx->st), "layer");
    g->t_compute += qt_now() - t0;
    return QT_OK;
}

extern "C" int qt_cuda_fwd_init(const struct qt_model *m, const struct qt_cuda_fwd_cfg *cfg,
                                const struct qt_cuda_fwd_cb *cb, struct qt_cuda_fwd **out, qt_err *err) {
    *out = NULL;
    if (cfg->head_dim > 32 * ATT_MAXD)
        return qt_err_set(err, "CUDA: head_dim %d is above the attention kernel's %d", cfg->head_dim, 32 * ATT_MAXD);
    if (cfg->n_group > 64) return qt_err_set(err, "CUDA: n_group %d is above 64", cfg->n_group);
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    if (!cx) {
        cu_unlock();
        return QT_ERR;
    }
    struct qt_cuda_fwd *g = (struct qt_cuda_fwd *)calloc(1, sizeof *g);
    int rc = g ? QT_OK : qt_err_set(err, "out of memory");
    if (rc == QT_OK) {
        g->m = m;
        g->cfg = *cfg;
        g->cfg.inv_freq = NULL;
        g->cb = *cb;
        const char *cap = getenv("QTUNE_CUDA_CACHE_MB");
        g->cache_cap = cap && *cap ? (int64_t)atoll(cap) << 20 : -1;
        g->wcache = (float **)calloc((size_t)m->n_tensors, sizeof(float *));
        if (!g->wcache) rc = qt_err_set(err, "out of memory");
    }
    if (rc == QT_OK) rc = cu_alloc((void **)&g->inv_freq_d, (size_t)(cfg->rot / 2 + 1) * 4, "rope", err);
    if (rc == QT_OK && cfg->rot > 0) {
        cudaError_t e = cudaMemcpy(g->inv_freq_d, cfg->inv_freq, (size_t)(cfg->rot / 2) * 4, cudaMemcpyHostToDevice);
        if (e != cudaSuccess) rc = cu_fail(err, "rope upload", e);
    }
    cu_unlock();
    if (rc != QT_OK) {
        qt_cuda_fwd_free(g);
        return QT_ERR;
    }
    *out = g;
    return QT_OK;
}

extern "C" void qt_cuda_fwd_free(struct qt_cuda_fwd *g) {
    if (!g) return;
    pf_stop(g);
    cu_lock();
    drop_cache(g);
    free(g->wcache);
    if (g->inv_freq_d) cudaFree(g->inv_freq_d);
    if (g->hw) cudaFreeHost(g->hw);
    struct cu_buf *bufs[] = {&g->stream_w, &g->stream_stage, &g->h, &g->x, &g->q, &g->k, &g->v, &g->o, &g->y, &g->a, &g->b,
                             &g->xe, &g->ye, &g->lg, &g->sel, &g->wt, &g->tok, &g->tw, &g->xq, &g->obs};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cu_buf_free(bufs[i]);
    cu_unlock();
    free(g);
}

extern "C" void qt_cuda_fwd_set_cb(struct qt_cuda_fwd *g, const struct qt_cuda_fwd_cb *cb) {
    cu_lock();
    g->cb = *cb;
    drop_cache(g);      /* other hooks, other weights */
    cu_unlock();
}

extern "C" int qt_cuda_fwd_layer(struct qt_cuda_fwd *g, const struct qt_cuda_layer *L, float *h, int nseq,
                                 int seqlen, qt_err *err) {
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    double t0 = qt_now();
    int rc = cx ? layer_locked(g, cx, L, h, nseq, seqlen, err) : QT_ERR;
    g->t_layers += qt_now() - t0;
    cu_unlock();
    return rc;
}

static int final_locked(struct qt_cuda_fwd *g, struct cu_ctx *cx, int norm_ti, int head_ti, const float *hh,
                        int64_t ntok, float *logits, qt_err *err) {
    int H = g->cfg.hidden;
    int64_t V = qt_tensor_rows(&g->m->tensors[head_ti]);
    if (need(&g->h, (size_t)(ntok * H) * 4, "hidden states", err) || need(&g->x, (size_t)(ntok * H) * 4, "normed", err) ||
        need(&g->lg, (size_t)(ntok * V) * 4, "logits", err))
        return QT_ERR;
    pf_reset(g);
    pf_plan(g, &head_ti, 1);
    CU_TRY(cudaMemcpyAsync(g->h.p, hh, (size_t)(ntok * H) * 4, cudaMemcpyHostToDevice, cx->st), "upload");
    const float *nw = dev_tensor(g, cx, norm_ti, 0, err);
    if (!nw) return QT_ERR;
    k_rmsnorm<<<(unsigned)ntok, 256, 0, cx->st>>>((const float *)g->h.p, (float *)g->x.p, nw, H, g->cfg.eps);
    LAUNCHED("rmsnorm kernel");
    if (linear(g, cx, head_ti, (const float *)g->x.p, ntok, (float *)g->lg.p, -1, err)) return QT_ERR;
    CU_TRY(cudaMemcpyAsync(logits, g->lg.p, (size_t)(ntok * V) * 4, cudaMemcpyDeviceToHost, cx->st), "download logits");
    CU_TRY(cudaStreamSynchronize(cx->st), "final");
    return QT_OK;
}

extern "C" int qt_cuda_fwd_final(struct qt_cuda_fwd *g, int norm_ti, int head_ti, const float *h, int64_t ntok,
                                 float *logits, qt_err *err) {
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    int rc = cx ? final_locked(g, cx, norm_ti, head_ti, h, ntok, logits, err) : QT_ERR;
    cu_unlock();
    return rc;
}

extern "C" void qt_cuda_fwd_stats(struct qt_cuda_fwd *g, struct qt_cuda_fwd_timing *t) {
    memset(t, 0, sizeof *t);
    t->resident = g->resident;
    t->streamed = g->streamed;
    t->read = g->t_read;
    t->upload = g->t_upload;
    t->wait = g->t_wait;
    t->layers = g->t_layers;
    if (g->pf.started) {
        pthread_mutex_lock(&g->pf.mu);
        t->read += g->pf.t_read;
        t->upload += g->pf.t_upload;
        pthread_mutex_unlock(&g->pf.mu);
    }
    t->streaming = g->streaming;
}

extern "C" int qt_cuda_act_quant(int mode, float *x, int64_t n, int64_t cols, qt_err *err) {
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    int rc = cx ? QT_OK : QT_ERR;
    float *d = NULL;
    if (rc == QT_OK) rc = cu_alloc((void **)&d, (size_t)(n * cols) * 4, "activation test", err);
    if (rc == QT_OK) {
        cudaError_t e = cudaMemcpy(d, x, (size_t)(n * cols) * 4, cudaMemcpyHostToDevice);
        if (e == cudaSuccess) {
            k_act_quant<<<(unsigned)n, 256, 0, cx->st>>>(d, cols, mode);
            e = cudaGetLastError();
        }
        if (e == cudaSuccess) e = cudaStreamSynchronize(cx->st);
        if (e == cudaSuccess) e = cudaMemcpy(x, d, (size_t)(n * cols) * 4, cudaMemcpyDeviceToHost);
        if (e != cudaSuccess) rc = cu_fail(err, "activation test", e);
    }
    if (d) cudaFree(d);
    cu_unlock();
    return rc;
}
