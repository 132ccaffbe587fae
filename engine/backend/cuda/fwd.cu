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
    struct qt_be_fwd_cfg cfg;
    struct qt_be_fwd_cb cb;
    float *inv_freq_d;          /* (rot/2) device */
    float **wcache;             /* (n_tensors) device weights or NULL */
    int64_t resident;
    float *hw;                  /* host staging of one weight */
    size_t hw_cap;
    struct cu_buf stream_w;     /* a weight that is not cached, loaded synchronously */
    struct cu_buf stream_stage; /* its bf16 form */
    int streaming;              /* the cache is full: weights stream */
    int gemm_mode;              /* QT_BE_GEMM_*: QTUNE_CUDA_GEMM=f32|tf32|bf16 */
    int grouped_ex_off;         /* the grouped tensor-core GEMM was refused once: experts one by one */
    int att_gemm_off;           /* the batched attention GEMMs were refused once: the flash kernel */
    /* read once at init: QTUNE_CUDA_NO_GROUPED (experts one GEMM each),
     * QTUNE_CUDA_ATTN_FLASH (the flash kernel in every mode),
     * QTUNE_CUDA_ATTN_CHUNK (pairs per attention chunk, tests) */
    int no_grouped, attn_flash;
    int64_t attn_chunk;
    int readers;                /* QTUNE_CUDA_READERS: threads of the streaming copy (1-8, default 8) */
    int att_gemm_ran;           /* the last attention call ran as GEMMs */
    struct cu_buf att_s, att_p; /* scores of a chunk of (sequence, head) pairs; their pointer arrays */
    void **att_ph;              /* host copy of the pointer arrays */
    size_t att_ph_n;
    const void *att_key[6];     /* q, k, v, o, scores, (T, nseq) the arrays were built for */
    int64_t cache_cap;          /* bytes the cache may hold (QTUNE_CUDA_CACHE_MB), -1: what fits */
    int64_t streamed;           /* bytes uploaded by the streaming path */
    struct pf pf;
    struct cu_buf h, x, q, k, v, o, y, a, b, xe, ye, lg, sel, wt, tok, tw, xq, obs;
    struct cu_buf pos, cnt, gptr;   /* routing: slot positions (n*K), counts (E+1), expert pointers (8E) */
    int *hcnt;                      /* (E+1) pinned copy of cnt */
    void **hptr;                    /* (8E) pinned expert pointer arrays */
    int64_t h_ntok;                 /* rows of resident hidden states in h (0: none) */
    struct cu_buf hf, tokd, klb, lk;    /* host-final input; token ids; KL outputs; kept logits */
    int64_t lg_rows, lg_vocab;      /* logits kept in lk by the last final_at */
    void *emb_d;                    /* the embedding table on the GPU (raw BF16 or float32), or NULL */
    int emb_bf16, emb_ti;
    int64_t emb_bytes;
    double t_read, t_upload, t_compute, t_wait, t_layers;
    /* QTUNE_CUDA_PROFILE=1: events at phase boundaries (pmark), read back at
     * the end of each call (pflush); cur: this batch, last: the batch the
     * last KL call ended */
    int prof, pn;
    cudaEvent_t pev[48];
    int pph[48];
    double pht[48];
    double pcur_d[QT_BE_NPHASE], pcur_h[QT_BE_NPHASE], plast_d[QT_BE_NPHASE], plast_h[QT_BE_NPHASE];
    cudaEvent_t pend;               /* the end of the previous call: the gap to the next */
    double pend_h;
    int plast_set, pend_set;
};

/* Records a phase boundary: the phase ph ends here (-1: a call starts). */
static void pmark(struct qt_cuda_fwd *g, cudaStream_t st, int ph) {
    if (!g->prof || g->pn >= 48) return;
    if (ph < 0 && g->pn) return;
    cudaEventRecord(g->pev[g->pn], st);
    g->pph[g->pn] = ph;
    g->pht[g->pn] = qt_now();
    g->pn++;
}

/* The end of a call: waits for its last event and adds up the phases (the
 * time from the previous call's end to this call's start is between_calls:
 * host work outside the backend and launch latency). */
static void pflush(struct qt_cuda_fwd *g) {
    if (!g->prof || g->pn < 2) { if (g) g->pn = 0; return; }
    cudaEventSynchronize(g->pev[g->pn - 1]);
    float ms;
    if (g->pend_set && cudaEventElapsedTime(&ms, g->pend, g->pev[0]) == cudaSuccess) {
        g->pcur_d[QT_BE_PH_GAP] += ms * 1e-3;
        g->pcur_h[QT_BE_PH_GAP] += g->pht[0] - g->pend_h;
    }
    for (int i = 1; i < g->pn; i++) {
        if (cudaEventElapsedTime(&ms, g->pev[i - 1], g->pev[i]) != cudaSuccess) ms = 0;
        g->pcur_d[g->pph[i]] += ms * 1e-3;
        g->pcur_h[g->pph[i]] += g->pht[i] - g->pht[i - 1];
    }
    cudaEventRecord(g->pend, 0);
    cudaEventSynchronize(g->pend);
    g->pend_h = qt_now();
    g->pend_set = 1;
    g->pn = 0;
}

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

/* The same attention for head_dim HD (32, 64) with the keys spread over
 * the lanes instead of the dimensions: warp w of a block takes query i =
 * tile * 8 + w of one (sequence, head); the block stages key/value tiles of
 * 32 rows in shared memory (coalesced loads, rows padded to HD + 1 floats:
 * lane j reading row j is conflict-free), lane j runs its own online
 * softmax over keys j0 + j <= i of each tile (the query in registers), and
 * the 32 partial (max, sum, output) states are merged by a butterfly at the
 * end.  A first version read each lane's key row from global memory: ncu
 * showed it L1-bound (95% L1 throughput, 32 lines per load). */
template <int HD>
__global__ void __launch_bounds__(256) k_attn_lane(const float *q, const float *k, const float *v, float *o, int T,
                                                   int nh, int nkv, float scale) {
    __shared__ float Ks[32 * (HD + 1)], Vs[32 * (HD + 1)];
    int qtiles = (T + 7) / 8;
    int64_t bid = blockIdx.x;
    int qt = (int)(bid % qtiles), h = (int)((bid / qtiles) % nh);
    int64_t s = bid / qtiles / nh;
    int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int i = qt * 8 + w;
    int kh = h / (nh / nkv);
    int64_t qs = (int64_t)nh * HD, ks = (int64_t)nkv * HD;
    const float *Kb = k + (s * T) * ks + (int64_t)kh * HD, *Vb = v + (s * T) * ks + (int64_t)kh * HD;
    float qr[HD], acc[HD];
    const float *Q = q + (s * T + (i < T ? i : T - 1)) * qs + (int64_t)h * HD;
#pragma unroll
    for (int d = 0; d < HD; d++) {
        qr[d] = Q[d];
        acc[d] = 0.0f;
    }
    float m = -INFINITY, sum = 0.0f;
    int last = qt * 8 + 7 < T - 1 ? qt * 8 + 7 : T - 1;   /* keys 0..last are seen by some warp */
    for (int j0 = 0; j0 <= last; j0 += 32) {
        __syncthreads();
        for (int e = threadIdx.x; e < 32 * HD; e += 256) {
            int r = e / HD, d = e % HD;
            int ok = j0 + r <= last;
            Ks[r * (HD + 1) + d] = ok ? Kb[(int64_t)(j0 + r) * ks + d] : 0.0f;
            Vs[r * (HD + 1) + d] = ok ? Vb[(int64_t)(j0 + r) * ks + d] : 0.0f;
        }
        __syncthreads();
        int j = j0 + lane;
        if (i >= T || j > i) continue;
        const float *kr = Ks + lane * (HD + 1), *vr = Vs + lane * (HD + 1);
        float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
#pragma unroll
        for (int t = 0; t < HD; t += 4) {
            d0 = fmaf(qr[t], kr[t], d0);
            d1 = fmaf(qr[t + 1], kr[t + 1], d1);
            d2 = fmaf(qr[t + 2], kr[t + 2], d2);
            d3 = fmaf(qr[t + 3], kr[t + 3], d3);
        }
        float sc = ((d0 + d1) + (d2 + d3)) * scale;
        float mn = fmaxf(m, sc);
        float corr = expf(m - mn);          /* 0 for the lane's first key (m = -inf) */
        float p = expf(sc - mn);
        sum = sum * corr + p;
#pragma unroll
        for (int t = 0; t < HD; t++) acc[t] = fmaf(p, vr[t], acc[t] * corr);
        m = mn;
    }
    if (i >= T) return;
    for (int off = 16; off > 0; off >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, off), s2 = __shfl_xor_sync(0xffffffffu, sum, off);
        float mn = fmaxf(m, m2);
        float c1 = m == -INFINITY ? 0.0f : expf(m - mn), c2 = m2 == -INFINITY ? 0.0f : expf(m2 - mn);
        sum = sum * c1 + s2 * c2;
#pragma unroll
        for (int d = 0; d < HD; d++) {
            float a2 = __shfl_xor_sync(0xffffffffu, acc[d], off);
            acc[d] = acc[d] * c1 + a2 * c2;
        }
        m = mn;
    }
    if (lane) return;
    float inv = 1.0f / sum;
    float4 *O = (float4 *)(o + (s * T + i) * qs + (int64_t)h * HD);
#pragma unroll
    for (int t = 0; t < HD / 4; t++) O[t] = make_float4(acc[4 * t] * inv, acc[4 * t + 1] * inv, acc[4 * t + 2] * inv, acc[4 * t + 3] * inv);
}

/* Causal softmax over the score columns of attention_gemm: column c is
 * query i = c % T of one (sequence, head); keys 0..i are softmax(scale *
 * s), keys after i are 0 (so the P V product can run over all T keys).
 * One warp per column. */
__global__ void k_att_softmax(float *S, int T, int64_t ncol, float scale) {
    int64_t c = (int64_t)blockIdx.x * 8 + threadIdx.x / 32;
    if (c >= ncol) return;
    int lane = threadIdx.x & 31, i = (int)(c % T);
    float *s = S + c * T;
    float mx = -INFINITY;
    for (int j = lane; j <= i; j += 32) mx = fmaxf(mx, s[j]);
    for (int o = 16; o; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float sum = 0.0f;
    for (int j = lane; j <= i; j += 32) {
        float e = expf((s[j] - mx) * scale);
        s[j] = e;
        sum += e;
    }
    for (int o = 16; o; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    float inv = 1.0f / sum;
    for (int j = lane; j <= i; j += 32) s[j] *= inv;
    for (int j = i + 1 + lane; j < T; j += 32) s[j] = 0.0f;
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

/* Bucketing of the routed (token, slot) pairs by expert, on the GPU (no
 * host round trip of the routing): block e scans sel (nk = n * K) twice,
 * first counting the pairs of experts below e (its offset) and its own,
 * then placing its pairs in token order (stable, as the CPU's loop):
 * tok[off + r] = token, tw[off + r] = weight, pos[i] = off + r.  cnt (E + 1)
 * gets each expert's count and cnt[E] the pairs with no valid expert (NaN
 * router logits), counted by block 0. */
__global__ void k_bucket(const int *sel, const float *wt, int64_t nk, int K, int E, int64_t *tok, float *tw,
                         int *pos, int *cnt) {
    __shared__ int wsum[32];
    __shared__ int base_s;
    int e = blockIdx.x, lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    int below = 0, mine = 0, bad = 0;
    for (int64_t i = threadIdx.x; i < nk; i += blockDim.x) {
        int x = sel[i];
        below += x >= 0 && x < e;
        mine += x == e;
        bad += x < 0 || x >= E;
    }
    for (int o = 16; o > 0; o >>= 1) {
        below += __shfl_xor_sync(0xffffffffu, below, o);
        mine += __shfl_xor_sync(0xffffffffu, mine, o);
        bad += __shfl_xor_sync(0xffffffffu, bad, o);
    }
    __shared__ int sb[32], sm[32], sx[32];
    if (lane == 0) { sb[w] = below; sm[w] = mine; sx[w] = bad; }
    __syncthreads();
    if (threadIdx.x == 0) {
        int tb = 0, tm = 0, tx = 0;
        for (int k = 0; k < nw; k++) { tb += sb[k]; tm += sm[k]; tx += sx[k]; }
        base_s = tb;
        cnt[e] = tm;
        if (e == 0) cnt[E] = tx;
    }
    __syncthreads();
    int base = base_s;
    for (int64_t c0 = 0; c0 < nk; c0 += blockDim.x) {
        int64_t i = c0 + threadIdx.x;
        int f = i < nk && sel[i] == e;
        unsigned b = __ballot_sync(0xffffffffu, f);
        if (lane == 0) wsum[w] = __popc(b);
        __syncthreads();
        int before = 0, total = 0;
        for (int k = 0; k < nw; k++) {
            before += k < w ? wsum[k] : 0;
            total += wsum[k];
        }
        if (f) {
            int r = base + before + __popc(b & ((1u << lane) - 1u));
            tok[r] = i / K;
            tw[r] = wt[i];
            pos[i] = r;
        }
        base += total;
        __syncthreads();
    }
}

/* y[t] += Σ_k tw * ye[pos[t, k]] over token t's K slots, in ascending
 * expert order (the order the CPU adds its experts in).  One block per
 * token. */
__global__ void k_combine(float *y, int64_t dim, const int *sel, const int *pos, const float *tw, int K,
                          const float *ye) {
    int64_t t = blockIdx.x;
    int order[16];
    int nk = K < 16 ? K : 16;
    for (int k = 0; k < nk; k++) order[k] = k;
    for (int a = 1; a < nk; a++)
        for (int b = a; b > 0 && sel[t * K + order[b]] < sel[t * K + order[b - 1]]; b--) {
            int x = order[b];
            order[b] = order[b - 1];
            order[b - 1] = x;
        }
    float *yr = y + t * dim;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        float acc = yr[j];
        for (int k = 0; k < nk; k++) {
            int r = pos[t * K + order[k]];
            acc += tw[r] * ye[(int64_t)r * dim + j];
        }
        yr[j] = acc;
    }
}

/* xe (ne, dim) = embedding rows tok (ne) of emb (., dim), BF16 bits or
 * float32. */
__global__ void k_embed(const void *emb, int bf16, int64_t dim, const int32_t *tok, int64_t ne, float *xe) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < ne * dim; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / dim, c = i - r * dim, src = (int64_t)tok[r] * dim + c;
        xe[i] = bf16 ? __uint_as_float((uint32_t)((const uint16_t *)emb)[src] << 16) : ((const float *)emb)[src];
    }
}

/* The KL evaluation's per-position statistics (eval.c's kl_rows, in double
 * precision): row r of the n = nseq * (ctx - first) positions is position
 * first + r % per of sequence r / per; logits rows p = s * ctx + pos of lb
 * (base) and lq (quant), V columns.  One block per row. */
__global__ void k_kl(const float *lb, const float *lq, const int32_t *tok, int ctx, int first, int64_t V,
                     double *kl, double *nllb, double *nllq, double *dp, unsigned char *same) {
    int per = ctx - first;
    int64_t r = blockIdx.x, s = r / per;
    int pos = first + (int)(r % per);
    int64_t p = s * ctx + pos;
    const float *b = lb + p * V, *q = lq + p * V;
    __shared__ float smb[32], smq[32];
    __shared__ int sab[32], saq[32];
    __shared__ double sd1[32], sd2[32];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    /* max and the first index holding it */
    float mb = -INFINITY, mq = -INFINITY;
    int ab = 0x7fffffff, aq = 0x7fffffff;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
        if (b[v] > mb || ab == 0x7fffffff) { mb = b[v]; ab = (int)v; }
        if (q[v] > mq || aq == 0x7fffffff) { mq = q[v]; aq = (int)v; }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, mb, o);
        int a2 = __shfl_xor_sync(0xffffffffu, ab, o);
        if (m2 > mb || (m2 == mb && a2 < ab)) { mb = m2; ab = a2; }
        m2 = __shfl_xor_sync(0xffffffffu, mq, o);
        a2 = __shfl_xor_sync(0xffffffffu, aq, o);
        if (m2 > mq || (m2 == mq && a2 < aq)) { mq = m2; aq = a2; }
    }
    if (lane == 0) { smb[w] = mb; sab[w] = ab; smq[w] = mq; saq[w] = aq; }
    __syncthreads();
    mb = smb[0]; ab = sab[0]; mq = smq[0]; aq = saq[0];
    for (int k = 1; k < nw; k++) {
        if (smb[k] > mb || (smb[k] == mb && sab[k] < ab)) { mb = smb[k]; ab = sab[k]; }
        if (smq[k] > mq || (smq[k] == mq && saq[k] < aq)) { mq = smq[k]; aq = saq[k]; }
    }
    double dmb = mb, dmq = mq;
    double sb = 0, sq = 0;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
        sb += exp((double)b[v] - dmb);
        sq += exp((double)q[v] - dmq);
    }
    for (int o = 16; o > 0; o >>= 1) {
        sb += __shfl_xor_sync(0xffffffffu, sb, o);
        sq += __shfl_xor_sync(0xffffffffu, sq, o);
    }
    __syncthreads();
    if (lane == 0) { sd1[w] = sb; sd2[w] = sq; }
    __syncthreads();
    sb = 0; sq = 0;
    for (int k = 0; k < nw; k++) { sb += sd1[k]; sq += sd2[k]; }
    double lsb = dmb + log(sb), lsq = dmq + log(sq), acc = 0;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
        double bv = b[v];
        acc += exp(bv - dmb) * ((bv - lsb) - ((double)q[v] - lsq));
    }
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    __syncthreads();
    if (lane == 0) sd1[w] = acc;
    __syncthreads();
    if (threadIdx.x != 0) return;
    acc = 0;
    for (int k = 0; k < nw; k++) acc += sd1[k];
    acc /= sb;
    kl[r] = acc < 0 ? 0 : acc;
    same[r] = ab == aq;
    if (pos + 1 < ctx) {
        int t = tok[s * ctx + pos + 1];
        double lpb = (double)b[t] - lsb, lpq = (double)q[t] - lsq;
        nllb[r] = -lpb;
        nllq[r] = -lpq;
        dp[r] = exp(lpq) - exp(lpb);
    } else {
        nllb[r] = nllq[r] = dp[r] = NAN;
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

/* memcpy in slices on nt <= 8 threads of its own (g->readers,
 * QTUNE_CUDA_READERS): the streaming reader's copy out of the mmap'd shards
 * is bound by page faults and one core's bandwidth (7.3 s of reads against
 * 3.4 s of uploads on the H200 host with one thread).  Not the CPU pool: the
 * reader runs beside the caller, which may be using it. */
struct pc_job {
    char *dst;
    const char *src;
    size_t n;
};

static void *pc_main(void *arg) {
    struct pc_job *j = (struct pc_job *)arg;
    memcpy(j->dst, j->src, j->n);
    return NULL;
}

static void pcopy(void *dst, const void *src, size_t n, int nt) {
    if (nt <= 1 || n < (16u << 20)) {
        memcpy(dst, src, n);
        return;
    }
    struct pc_job jobs[8];
    pthread_t th[8];
    int started[8] = {0};
    size_t per = (n / (size_t)nt + 4095) & ~(size_t)4095;
    for (int k = 0; k < nt; k++) {
        size_t a = per * (size_t)k, b = a + per < n ? a + per : n;
        jobs[k] = (struct pc_job){(char *)dst + a, (const char *)src + a, a < n ? b - a : 0};
    }
    for (int k = 1; k < nt; k++) started[k] = jobs[k].n && pthread_create(&th[k], NULL, pc_main, &jobs[k]) == 0;
    pc_main(&jobs[0]);
    for (int k = 1; k < nt; k++) {
        if (started[k]) pthread_join(th[k], NULL);
        else if (jobs[k].n) pc_main(&jobs[k]);   /* no thread: copied here */
    }
}

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
        pcopy(buf, t->data, (size_t)qt_tensor_numel(t) * 2, g->readers);
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
/* C (m, n) = A^T B in cuBLAS's column-major view (A: k x m, lda; B: k x n,
 * ldb; C: ldc), float32 in and out.  QTUNE_CUDA_GEMM picks the arithmetic:
 * f32 (default) float32 throughout, no TF32: the CPU's logits to 1e-5;
 * tf32: tensor cores with both inputs rounded to TF32 (10-bit mantissa)
 * and float32 accumulation (a BF16 checkpoint's weights are exact in TF32,
 * so this is the BF16-weight forward with activations kept to 10 bits);
 * bf16: both inputs rounded to BF16, float32 accumulation, the arithmetic of
 * a BF16 forward's GEMMs (CUBLAS_COMPUTE_32F_FAST_16BF). */
static cublasComputeType_t gemm_compute(const struct qt_cuda_fwd *g) {
    return g->gemm_mode == QT_BE_GEMM_BF16   ? CUBLAS_COMPUTE_32F_FAST_16BF
           : g->gemm_mode == QT_BE_GEMM_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                             : CUBLAS_COMPUTE_32F;
}

static cublasStatus_t gemm_tn(const struct qt_cuda_fwd *g, struct cu_ctx *cx, int m, int n, int k, const float *A,
                              int lda, const float *B, int ldb, float *C, int ldc) {
    const float one = 1.0f, zero = 0.0f;
    if (g->gemm_mode == QT_BE_GEMM_F32)
        return cublasSgemm(cx->blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, A, lda, B, ldb, &zero, C, ldc);
    return cublasGemmEx(cx->blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb,
                        &zero, C, CUDA_R_32F, ldc, gemm_compute(g), CUBLAS_GEMM_DEFAULT);
}

/* The grouped form: ng problems of one group each, A^T B, pointer arrays
 * on the device (Ad, Bd, Cd) with their host copies (Ah, Bh, Ch).  In the
 * tensor-core modes cublasGemmGroupedBatchedEx; where this cuBLAS refuses
 * the compute type for grouped problems (it does for FAST_16BF), each
 * problem is one gemm_tn (the same arithmetic, one launch per expert), and
 * the refusal is remembered. */
static cublasStatus_t gemm_grouped_tn(struct qt_cuda_fwd *g, struct cu_ctx *cx, const cublasOperation_t *tA,
                                      const cublasOperation_t *tB, const int *m_, const int *n_, const int *k_,
                                      const float *alpha, const float *const *Ad, const float *const *Ah,
                                      const int *lda, const float *const *Bd, const float *const *Bh, const int *ldb,
                                      const float *beta, float *const *Cd, float *const *Ch, const int *ldc, int ng,
                                      const int *one_) {
    if (g->gemm_mode == QT_BE_GEMM_F32)
        return cublasSgemmGroupedBatched(cx->blas, tA, tB, m_, n_, k_, alpha, Ad, lda, Bd, ldb, beta, Cd, ldc, ng,
                                         one_);
    if (!g->grouped_ex_off) {
        cublasStatus_t bs = cublasGemmGroupedBatchedEx(
            cx->blas, tA, tB, m_, n_, k_, alpha, (const void *const *)Ad, CUDA_R_32F, lda, (const void *const *)Bd,
            CUDA_R_32F, ldb, beta, (void *const *)Cd, CUDA_R_32F, ldc, ng, one_, gemm_compute(g));
        if (bs != CUBLAS_STATUS_NOT_SUPPORTED && bs != CUBLAS_STATUS_INVALID_VALUE) return bs;
        g->grouped_ex_off = 1;
    }
    for (int k = 0; k < ng; k++) {
        cublasStatus_t bs = gemm_tn(g, cx, m_[k], n_[k], k_[k], Ah[k], lda[k], Bh[k], ldb[k], Ch[k], ldc[k]);
        if (bs != CUBLAS_STATUS_SUCCESS) return bs;
    }
    return CUBLAS_STATUS_SUCCESS;
}

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
    cublasStatus_t bs = gemm_tn(g, cx, (int)out, (int)n, (int)in, W, (int)in, x, (int)in, y, (int)out);
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

/* The routed experts' SwiGLU as three grouped GEMMs (cuBLAS grouped
 * batched sgemm: one call for every expert's gate, one for up, one for
 * down) over xe (n*K, H), the routed rows bucketed by expert (g->hcnt the
 * counts), into ye (n*K, H).  QT_ERR with an empty err when this layer must
 * take the per-expert path instead: a weight that is not resident, rows
 * that are observed, activation fake-quant modes that differ between
 * experts. */
static int grouped_experts(struct qt_cuda_fwd *g, struct cu_ctx *cx, const struct qt_be_layer *L, const float *xe,
                           float *ye, qt_err *err) {
    const struct qt_be_fwd_cfg *c = &g->cfg;
    int E = c->n_experts, H = c->hidden;
    const int *cnt = g->hcnt;
    if (g->cb.observe || !g->cb.cache_weights || g->streaming || g->no_grouped) return QT_ERR;
    int e0 = -1;
    for (int e = 0; e < E && e0 < 0; e++)
        if (cnt[e] > 0) e0 = e;
    if (e0 < 0) return QT_OK;
    int ni = (int)qt_tensor_rows(&g->m->tensors[L->eg[e0]]);
    int ag = g->cb.act ? g->cb.act(g->cb.ctx, L->eg[e0]) : 0, ad = g->cb.act ? g->cb.act(g->cb.ctx, L->ed[e0]) : 0;
    /* (8, E) pinned: gate, up, down weights; x rows, gate out, up out (the
     * first two GEMMs); mid rows, out rows (down) */
    const float **P = (const float **)g->hptr;
    int ng = 0;
    int64_t off = 0;
    int m_[1024], n_[1024], k_[1024], ld_w[1024], ld_o[1024], one_[1024];
    for (int e = 0; e < E; e++) {
        int ne = cnt[e];
        if (ne == 0) continue;
        const int tis[3] = {L->eg[e], L->eu[e], L->ed[e]};
        for (int j = 0; j < 3; j++) {
            int a = g->cb.act ? g->cb.act(g->cb.ctx, tis[j]) : 0;
            if (a != (j < 2 ? ag : ad) || qt_tensor_rows(&g->m->tensors[tis[j]]) != (j < 2 ? ni : H)) return QT_ERR;
            const float *W = dev_tensor(g, cx, tis[j], 1, err);
            if (!W) return QT_ERR;
            if (!g->wcache[tis[j]]) return QT_ERR;     /* the cache filled up: weights stream now */
            P[j * E + ng] = W;
        }
        n_[ng] = ne;
        off += ne;
        ng++;
    }
    if (need(&g->a, (size_t)off * ni * 4, "mlp gate", err) || need(&g->b, (size_t)off * ni * 4, "mlp up", err) ||
        need(&g->gptr, sizeof(void *) * (size_t)(8 * E), "expert pointers", err))
        return QT_ERR;
    if (ag && need(&g->xq, (size_t)off * H * 4, "activation copy", err)) return QT_ERR;
    float *a = (float *)g->a.p, *b = (float *)g->b.p;
    const float *xin = xe;
    if (ag) {
        CU_TRY(cudaMemcpyAsync(g->xq.p, xe, (size_t)off * H * 4, cudaMemcpyDeviceToDevice, cx->st), "copy");
        k_act_quant<<<(unsigned)off, 256, 0, cx->st>>>((float *)g->xq.p, H, ag);
        LAUNCHED("activation quant kernel");
        xin = (const float *)g->xq.p;
    }
    off = 0;
    for (int k = 0; k < ng; k++) {
        P[3 * E + k] = xin + off * H;                     /* x rows (gate and up) */
        P[4 * E + k] = a + off * ni;                      /* gate out, then mid */
        P[5 * E + k] = b + off * ni;                      /* up out */
        off += n_[k];
    }
    /* pointer arrays on the device; hptr is rewritten only after the next
     * layer's routing synchronizes the stream, so this copy has finished */
    const float **D = (const float **)g->gptr.p;
    off = 0;
    for (int k = 0; k < ng; k++) {
        P[6 * E + k] = a + off * ni;                      /* mid rows (down's input) */
        P[7 * E + k] = ye + off * H;                      /* down out */
        off += n_[k];
    }
    CU_TRY(cudaMemcpyAsync(D, P, sizeof(void *) * (size_t)(8 * E), cudaMemcpyHostToDevice, cx->st), "expert pointers");
    cublasOperation_t tA[1024], tB[1024];
    float alpha[1024], beta[1024];
    for (int k = 0; k < ng; k++) {
        tA[k] = CUBLAS_OP_T;
        tB[k] = CUBLAS_OP_N;
        alpha[k] = 1.0f;
        beta[k] = 0.0f;
        one_[k] = 1;
        m_[k] = ni;
        k_[k] = H;
        ld_w[k] = H;
        ld_o[k] = ni;
    }
    /* gate and up: (ni, ne) = W (ni, H) applied to x (ne, H), column-major views */
    float *const *Ph = (float *const *)P;
    cublasStatus_t bs = gemm_grouped_tn(g, cx, tA, tB, m_, n_, k_, alpha, D + 0 * E, P + 0 * E, ld_w, D + 3 * E,
                                        P + 3 * E, ld_w, beta, (float *const *)(D + 4 * E), Ph + 4 * E, ld_o, ng, one_);
    if (bs == CUBLAS_STATUS_SUCCESS)
        bs = gemm_grouped_tn(g, cx, tA, tB, m_, n_, k_, alpha, D + 1 * E, P + 1 * E, ld_w, D + 3 * E, P + 3 * E, ld_w,
                             beta, (float *const *)(D + 5 * E), Ph + 5 * E, ld_o, ng, one_);
    if (bs != CUBLAS_STATUS_SUCCESS) return cu_blas_fail(err, "grouped expert gemm", bs);
    k_silu_mul<<<blocks(cx, off * ni), 256, 0, cx->st>>>(a, b, off * ni);
    LAUNCHED("silu kernel");
    if (ad) {
        k_act_quant<<<(unsigned)off, 256, 0, cx->st>>>(a, ni, ad);
        LAUNCHED("activation quant kernel");
    }
    /* down: (H, ne) = Wd (H, ni) applied to mid (ne, ni), into ye rows */
    for (int k = 0; k < ng; k++) {
        m_[k] = H;
        k_[k] = ni;
        ld_w[k] = ni;
        ld_o[k] = H;
    }
    bs = gemm_grouped_tn(g, cx, tA, tB, m_, n_, k_, alpha, D + 2 * E, P + 2 * E, ld_w, D + 6 * E, P + 6 * E, ld_w,
                         beta, (float *const *)(D + 7 * E), Ph + 7 * E, ld_o, ng, one_);
    if (bs != CUBLAS_STATUS_SUCCESS) return cu_blas_fail(err, "grouped expert gemm", bs);
    return QT_OK;
}

static int moe(struct qt_cuda_fwd *g, struct cu_ctx *cx, const struct qt_be_layer *L, const float *x, int64_t n,
               float *y, qt_err *err) {
    const struct qt_be_fwd_cfg *c = &g->cfg;
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
    /* bucket the (token, slot) pairs by expert on the GPU; only the E + 1
     * counts come back (the grouped GEMMs' sizes) */
    if (need(&g->pos, (size_t)(n * K) * 4, "routing", err) || need(&g->cnt, (size_t)(E + 1) * 4, "routing", err))
        return QT_ERR;
    if (!g->hcnt) {
        if (cudaMallocHost((void **)&g->hcnt, sizeof(int) * (size_t)(E + 1)) != cudaSuccess ||
            cudaMallocHost((void **)&g->hptr, sizeof(void *) * (size_t)(8 * E)) != cudaSuccess) {
            cudaGetLastError();
            return qt_err_set(err, "out of pinned host memory (routing)");
        }
    }
    k_bucket<<<E, 256, 0, cx->st>>>((const int *)g->sel.p, (const float *)g->wt.p, n * K, K, E, (int64_t *)g->tok.p,
                                    (float *)g->tw.p, (int *)g->pos.p, (int *)g->cnt.p);
    LAUNCHED("bucket kernel");
    CU_TRY(cudaMemcpyAsync(g->hcnt, g->cnt.p, sizeof(int) * (size_t)(E + 1), cudaMemcpyDeviceToHost, cx->st),
           "routing");
    CU_TRY(cudaStreamSynchronize(cx->st), "routing");
    pmark(g, cx->st, QT_BE_PH_ROUTE);
    const int *cnt = g->hcnt;
    if (cnt[E] != 0) return qt_err_set(err, "CUDA: router picked no expert (NaN router logits?)");
    if (g->pf.started) {
        for (int e = 0; e < E; e++)
            if (cnt[e] > 0) {
                int plan[3] = {L->eg[e], L->eu[e], L->ed[e]};
                pf_plan(g, plan, 3);
            }
    }
    if (L->sgate >= 0) {
        if (swiglu(g, cx, L->sgate, L->sup, L->sdown, x, n, y, err)) return QT_ERR;
    } else {
        CU_TRY(cudaMemsetAsync(y, 0, (size_t)(n * H) * 4, cx->st), "clear");
    }
    pmark(g, cx->st, QT_BE_PH_SHARED);
    int64_t nk = n * K;
    if (need(&g->xe, (size_t)nk * H * 4 + 4, "expert rows", err) || need(&g->ye, (size_t)nk * H * 4 + 4, "expert rows", err))
        return QT_ERR;
    float *xe = (float *)g->xe.p, *ye = (float *)g->ye.p;
    k_gather<<<blocks(cx, nk * H), 256, 0, cx->st>>>(x, H, (const int64_t *)g->tok.p, nk, xe);
    LAUNCHED("gather kernel");
    /* grouped_experts says "take the per-expert path" with an empty err:
     * a message left in err by an earlier call (the caller's err is not
     * cleared on success) would read as a failure */
    err->msg[0] = 0;
    if (grouped_experts(g, cx, L, xe, ye, err) != QT_OK) {
        if (!err->msg[0]) {
            /* one expert at a time over its contiguous rows: weights that
             * stream, observed inputs, mixed activation modes */
            int64_t off = 0;
            for (int e = 0; e < E; e++) {
                int ne = cnt[e];
                if (ne > 0 && swiglu(g, cx, L->eg[e], L->eu[e], L->ed[e], xe + off * H, ne, ye + off * H, err))
                    return QT_ERR;
                off += ne;
            }
        } else {
            return QT_ERR;
        }
    }
    pmark(g, cx->st, QT_BE_PH_EXPERTS);
    k_combine<<<(unsigned)n, 256, 0, cx->st>>>(y, H, (const int *)g->sel.p, (const int *)g->pos.p,
                                               (const float *)g->tw.p, K, ye);
    LAUNCHED("combine kernel");
    return QT_OK;
}

/* Attention in the tensor-core modes (QTUNE_CUDA_GEMM=tf32|bf16): per
 * (sequence, head) S = K Q^T (T x T, one column per query), the causal
 * softmax in place, O = V S, as two batched cuBLAS GEMMs in the mode's
 * arithmetic (the P V product with P rounded like the inputs, as a BF16
 * flash attention does).  The scores are materialized for a chunk of pairs
 * at a time (ATT_WS bytes), and only while one pair's scores are at most
 * ATT_PAIR_MAX bytes (T <= 4096): longer contexts take the flash kernel.
 * Returns 1 where it does not apply or cuBLAS refused (nothing written to
 * o then, and a refusal is remembered), -1 on an error. */
enum { ATT_WS = 256 << 20, ATT_PAIR_MAX = 64 << 20 };

static int attention_gemm(struct qt_cuda_fwd *g, struct cu_ctx *cx, const float *q, const float *k, const float *v,
                          float *o, int nseq, int T, qt_err *err) {
    const struct qt_be_fwd_cfg *c = &g->cfg;
    if (g->gemm_mode == QT_BE_GEMM_F32 || g->att_gemm_off || g->attn_flash) return 1;
    size_t pair = (size_t)T * T * 4;
    if (pair > ATT_PAIR_MAX) return 1;
    int nh = c->n_heads, nkv = c->n_kv_heads, hd = c->head_dim;
    int64_t np = (int64_t)nseq * nh, chunk = (int64_t)(ATT_WS / pair);
    if (g->attn_chunk > 0 && g->attn_chunk < chunk) chunk = g->attn_chunk;
    if (chunk > np) chunk = np;
    if (need(&g->att_s, (size_t)chunk * pair, "attention scores", err) ||
        need(&g->att_p, (size_t)np * 6 * sizeof(void *), "attention pointers", err))
        return -1;
    float *S = (float *)g->att_s.p;
    void **P = (void **)g->att_p.p;
    const void *key[6] = {q, k, v, o, S, (const void *)(intptr_t)((int64_t)T << 32 | nseq)};
    if (memcmp(key, g->att_key, sizeof key)) {
        if (g->att_ph_n < (size_t)np * 6) {
            void **nph = (void **)realloc(g->att_ph, (size_t)np * 6 * sizeof(void *));
            if (!nph) return qt_err_set(err, "out of memory"), -1;
            g->att_ph = nph;
            g->att_ph_n = (size_t)np * 6;
        }
        int64_t qs = (int64_t)nh * hd, ks = (int64_t)nkv * hd;
        for (int64_t b = 0; b < np; b++) {
            int64_t s = b / nh;
            int h = (int)(b % nh), kh = h / (nh / nkv);
            float *Sb = S + (b % chunk) * (int64_t)T * T;
            g->att_ph[0 * np + b] = (void *)(k + s * T * ks + (int64_t)kh * hd);   /* GEMM 1: A = K, B = Q, C = S */
            g->att_ph[1 * np + b] = (void *)(q + s * T * qs + (int64_t)h * hd);
            g->att_ph[2 * np + b] = Sb;
            g->att_ph[3 * np + b] = (void *)(v + s * T * ks + (int64_t)kh * hd);   /* GEMM 2: A = V, B = S, C = O */
            g->att_ph[4 * np + b] = Sb;
            g->att_ph[5 * np + b] = o + s * T * qs + (int64_t)h * hd;
        }
        CU_TRY(cudaMemcpyAsync(P, g->att_ph, (size_t)np * 6 * sizeof(void *), cudaMemcpyHostToDevice, cx->st),
               "attention pointers");
        memcpy(g->att_key, key, sizeof key);
    }
    int ldq = nh * hd, ldk = nkv * hd;
    const float one = 1.0f, zero = 0.0f;
    cublasComputeType_t ct = gemm_compute(g);
    for (int64_t b0 = 0; b0 < np; b0 += chunk) {
        int nb = (int)(np - b0 < chunk ? np - b0 : chunk);
        cublasStatus_t bs = cublasGemmBatchedEx(cx->blas, CUBLAS_OP_T, CUBLAS_OP_N, T, T, hd, &one,
                                                (const void *const *)(P + 0 * np + b0), CUDA_R_32F, ldk,
                                                (const void *const *)(P + 1 * np + b0), CUDA_R_32F, ldq, &zero,
                                                (void *const *)(P + 2 * np + b0), CUDA_R_32F, T, nb, ct, CUBLAS_GEMM_DEFAULT);
        if (bs == CUBLAS_STATUS_SUCCESS) {
            int64_t ncol = (int64_t)nb * T;
            k_att_softmax<<<(unsigned)((ncol + 7) / 8), 256, 0, cx->st>>>(S, T, ncol, 1.0f / sqrtf((float)hd));
            LAUNCHED("attention softmax kernel");
            bs = cublasGemmBatchedEx(cx->blas, CUBLAS_OP_N, CUBLAS_OP_N, hd, T, T, &one,
                                     (const void *const *)(P + 3 * np + b0), CUDA_R_32F, ldk,
                                     (const void *const *)(P + 4 * np + b0), CUDA_R_32F, T, &zero,
                                     (void *const *)(P + 5 * np + b0), CUDA_R_32F, ldq, nb, ct, CUBLAS_GEMM_DEFAULT);
        }
        if (bs == CUBLAS_STATUS_NOT_SUPPORTED || bs == CUBLAS_STATUS_INVALID_VALUE) {
            g->att_gemm_off = 1;   /* o is rewritten whole by the flash kernel */
            return 1;
        }
        if (bs != CUBLAS_STATUS_SUCCESS) return cu_blas_fail(err, "attention gemm", bs), -1;
    }
    return 0;
}

static int attention(struct qt_cuda_fwd *g, struct cu_ctx *cx, const float *q, const float *k, const float *v,
                     float *o, int nseq, int T, qt_err *err) {
    const struct qt_be_fwd_cfg *c = &g->cfg;
    int hd = c->head_dim;
    int ag = attention_gemm(g, cx, q, k, v, o, nseq, T, err);
    g->att_gemm_ran = ag == 0;
    if (ag <= 0) return ag ? QT_ERR : QT_OK;
    static int old_attn = -1;
    if (old_attn < 0) old_attn = getenv("QTUNE_CUDA_OLD_ATTN") != NULL;   /* the k_attn figures of docs/bench.md */
    if (!old_attn && (hd == 32 || hd == 64)) {
        unsigned nbl = (unsigned)((int64_t)nseq * c->n_heads * ((T + 7) / 8));
        if (hd == 32)
            k_attn_lane<32><<<nbl, 256, 0, cx->st>>>(q, k, v, o, T, c->n_heads, c->n_kv_heads, 1.0f / sqrtf((float)hd));
        else
            k_attn_lane<64><<<nbl, 256, 0, cx->st>>>(q, k, v, o, T, c->n_heads, c->n_kv_heads, 1.0f / sqrtf((float)hd));
        LAUNCHED("attention kernel");
        return QT_OK;
    }
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

static int layer_locked(struct qt_cuda_fwd *g, struct cu_ctx *cx, const struct qt_be_layer *L, float *hh, int nseq,
                        int seqlen, qt_err *err) {
    const struct qt_be_fwd_cfg *c = &g->cfg;
    int64_t n = (int64_t)nseq * seqlen;
    int H = c->hidden, nh = c->n_heads, nkv = c->n_kv_heads, hd = c->head_dim;
    int64_t qd = (int64_t)nh * hd, kd = (int64_t)nkv * hd;
    if (!hh && g->h_ntok != n)
        return qt_err_set(err, "CUDA: %lld resident hidden states, the layer asks for %lld", (long long)g->h_ntok,
                          (long long)n);
    if ((hh && need(&g->h, (size_t)(n * H) * 4, "hidden states", err)) || need(&g->x, (size_t)(n * H) * 4, "normed", err) ||
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
    if (hh) {
        CU_TRY(cudaMemcpyAsync(h, hh, (size_t)(n * H) * 4, cudaMemcpyHostToDevice, cx->st), "upload hidden states");
        g->h_ntok = n;
    }
    const float *nin = dev_tensor(g, cx, L->in_norm, 0, err);
    const float *npost = nin ? dev_tensor(g, cx, L->post_norm, 0, err) : NULL;
    if (!npost) return QT_ERR;
    const float *nq = NULL, *nk = NULL;
    if (L->qn >= 0 && !(nq = dev_tensor(g, cx, L->qn, 0, err))) return QT_ERR;
    if (L->kn >= 0 && !(nk = dev_tensor(g, cx, L->kn, 0, err))) return QT_ERR;
    float eps = c->eps;
    pmark(g, cx->st, -1);
    k_rmsnorm<<<(unsigned)n, 256, 0, cx->st>>>(h, x, nin, H, eps);
    LAUNCHED("rmsnorm kernel");
    if (linear(g, cx, L->q, x, n, q, L->qb, err) || linear(g, cx, L->k, x, n, k, L->kb, err) ||
        linear(g, cx, L->v, x, n, v, L->vb, err))
        return QT_ERR;
    pmark(g, cx->st, QT_BE_PH_QKV);
    int64_t uq = n * nh, uk = n * nkv;
    k_qk_rope<<<(unsigned)((uq + 7) / 8), 256, 0, cx->st>>>(q, nq, nh, hd, c->rot, g->inv_freq_d, seqlen, eps, uq);
    k_qk_rope<<<(unsigned)((uk + 7) / 8), 256, 0, cx->st>>>(k, nk, nkv, hd, c->rot, g->inv_freq_d, seqlen, eps, uk);
    LAUNCHED("rope kernel");
    pmark(g, cx->st, QT_BE_PH_ROPE);
    if (attention(g, cx, q, k, v, o, nseq, seqlen, err)) return QT_ERR;
    pmark(g, cx->st, QT_BE_PH_ATTN);
    if (linear(g, cx, L->o, o, n, y, L->ob, err)) return QT_ERR;
    k_add<<<blocks(cx, n * H), 256, 0, cx->st>>>(h, y, n * H);
    k_rmsnorm<<<(unsigned)n, 256, 0, cx->st>>>(h, x, npost, H, eps);
    LAUNCHED("rmsnorm kernel");
    pmark(g, cx->st, QT_BE_PH_OPROJ);
    if (L->moe) {
        if (moe(g, cx, L, x, n, y, err)) return QT_ERR;
    } else if (swiglu(g, cx, L->gate, L->up, L->down, x, n, y, err)) {
        return QT_ERR;
    }
    k_add<<<blocks(cx, n * H), 256, 0, cx->st>>>(h, y, n * H);
    LAUNCHED("residual kernel");
    pmark(g, cx->st, L->moe ? QT_BE_PH_COMBINE : QT_BE_PH_MLP);
    if (!hh) return QT_OK;      /* resident: the next call on this stream orders after it */
    double t0 = qt_now();
    CU_TRY(cudaMemcpyAsync(hh, h, (size_t)(n * H) * 4, cudaMemcpyDeviceToHost, cx->st), "download hidden states");
    CU_TRY(cudaStreamSynchronize(cx->st), "layer");
    g->t_compute += qt_now() - t0;
    return QT_OK;
}

extern "C" int qt_cuda_fwd_init(const struct qt_model *m, const struct qt_be_fwd_cfg *cfg,
                                const struct qt_be_fwd_cb *cb, struct qt_cuda_fwd **out, qt_err *err) {
    *out = NULL;
    if (cfg->head_dim > 32 * ATT_MAXD)
        return qt_err_set(err, "CUDA: head_dim %d is above the attention kernel's %d", cfg->head_dim, 32 * ATT_MAXD);
    if (cfg->n_group > 64) return qt_err_set(err, "CUDA: n_group %d is above 64", cfg->n_group);
    if (cfg->top_k > 16) return qt_err_set(err, "CUDA: top_k %d is above 16", cfg->top_k);
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
        const char *gm = getenv("QTUNE_CUDA_GEMM");
        g->gemm_mode = !gm || !*gm || !strcmp(gm, "f32") ? QT_BE_GEMM_F32
                       : !strcmp(gm, "tf32")             ? QT_BE_GEMM_TF32
                       : !strcmp(gm, "bf16")             ? QT_BE_GEMM_BF16
                                                         : -1;
        if (g->gemm_mode < 0) rc = qt_err_set(err, "QTUNE_CUDA_GEMM=%.20s: unknown (f32, tf32 or bf16)", gm);
        g->no_grouped = getenv("QTUNE_CUDA_NO_GROUPED") != NULL;
        g->attn_flash = getenv("QTUNE_CUDA_ATTN_FLASH") != NULL;
        const char *ch = getenv("QTUNE_CUDA_ATTN_CHUNK");
        g->attn_chunk = ch && *ch ? atoll(ch) : 0;
        const char *rd = getenv("QTUNE_CUDA_READERS");
        g->readers = rd && *rd ? atoi(rd) : 8;
        if (g->readers < 1) g->readers = 1;
        if (g->readers > 8) g->readers = 8;
        const char *pr = getenv("QTUNE_CUDA_PROFILE");
        if (rc == QT_OK && pr && *pr == '1') {
            g->prof = 1;
            for (int i = 0; i < 48 && g->prof; i++) g->prof = cudaEventCreate(&g->pev[i]) == cudaSuccess;
            if (g->prof) g->prof = cudaEventCreate(&g->pend) == cudaSuccess;
            if (!g->prof) cudaGetLastError();
        }
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
    if (g->hcnt) cudaFreeHost(g->hcnt);
    if (g->hptr) cudaFreeHost(g->hptr);
    if (g->emb_d) cudaFree(g->emb_d);
    if (g->prof) {
        for (int i = 0; i < 48; i++) cudaEventDestroy(g->pev[i]);
        cudaEventDestroy(g->pend);
    }
    struct cu_buf *bufs[] = {&g->stream_w, &g->stream_stage, &g->h, &g->x, &g->q, &g->k, &g->v, &g->o, &g->y, &g->a, &g->b,
                             &g->xe, &g->ye, &g->lg, &g->sel, &g->wt, &g->tok, &g->tw, &g->xq, &g->obs,
                             &g->pos, &g->cnt, &g->gptr, &g->hf, &g->tokd, &g->klb, &g->lk, &g->att_s, &g->att_p};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cu_buf_free(bufs[i]);
    free(g->att_ph);
    cu_unlock();
    free(g);
}

extern "C" void qt_cuda_fwd_set_cb(struct qt_cuda_fwd *g, const struct qt_be_fwd_cb *cb) {
    cu_lock();
    g->cb = *cb;
    drop_cache(g);      /* other hooks, other weights */
    cu_unlock();
}

extern "C" int qt_cuda_fwd_layer(struct qt_cuda_fwd *g, const struct qt_be_layer *L, float *h, int nseq,
                                 int seqlen, qt_err *err) {
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    double t0 = qt_now();
    int rc = cx ? layer_locked(g, cx, L, h, nseq, seqlen, err) : QT_ERR;
    pflush(g);
    g->t_layers += qt_now() - t0;
    cu_unlock();
    return rc;
}

static int final_locked(struct qt_cuda_fwd *g, struct cu_ctx *cx, int norm_ti, int head_ti, const float *hh,
                        int64_t ntok, float *logits, qt_err *err) {
    int H = g->cfg.hidden;
    int64_t V = qt_tensor_rows(&g->m->tensors[head_ti]);
    if (need(&g->hf, (size_t)(ntok * H) * 4, "hidden states", err) || need(&g->x, (size_t)(ntok * H) * 4, "normed", err) ||
        need(&g->lg, (size_t)(ntok * V) * 4, "logits", err))
        return QT_ERR;
    pf_reset(g);
    pf_plan(g, &head_ti, 1);
    CU_TRY(cudaMemcpyAsync(g->hf.p, hh, (size_t)(ntok * H) * 4, cudaMemcpyHostToDevice, cx->st), "upload");
    const float *nw = dev_tensor(g, cx, norm_ti, 0, err);
    if (!nw) return QT_ERR;
    k_rmsnorm<<<(unsigned)ntok, 256, 0, cx->st>>>((const float *)g->hf.p, (float *)g->x.p, nw, H, g->cfg.eps);
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

extern "C" void qt_cuda_fwd_stats(struct qt_cuda_fwd *g, struct qt_be_fwd_timing *t) {
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
    t->gemm_mode = g->gemm_mode;
    t->gemm_per_expert = g->grouped_ex_off;
    t->attn_gemm = g->att_gemm_ran;
    if (g->plast_set) {
        t->profiled = 1;
        memcpy(t->phase_dev, g->plast_d, sizeof t->phase_dev);
        memcpy(t->phase_host, g->plast_h, sizeof t->phase_host);
    }
}

/* ---- resident hidden states, final logits kept on the GPU, KL ------------ */

extern "C" int qt_cuda_fwd_embed(struct qt_cuda_fwd *g, int emb_ti, const int32_t *tokens, int64_t ntok, qt_err *err) {
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    int rc = cx ? QT_OK : QT_ERR;
    const struct qt_tensor *t = &g->m->tensors[emb_ti];
    int64_t H = qt_tensor_cols(t), V = qt_tensor_rows(t);
    if (rc == QT_OK && H != g->cfg.hidden) rc = qt_err_set(err, "CUDA: %s is not hidden_size wide", t->name);
    if (rc == QT_OK && (need(&g->h, (size_t)(ntok * H) * 4, "hidden states", err) ||
                        need(&g->tokd, (size_t)ntok * 4, "token ids", err)))
        rc = QT_ERR;
    g->h_ntok = 0;
    /* the table on the GPU, raw BF16 (half the bytes) or float32; a table
     * above a quarter of the free memory is gathered on the host instead */
    size_t fr = 0, tot = 0;
    int bf = t->dtype == QT_DT_BF16 && t->data && t->scale < 0;
    size_t tb = (size_t)(V * H) * (bf ? 2 : 4);
    if (rc == QT_OK && g->emb_d && g->emb_ti != emb_ti) {
        cudaFree(g->emb_d);
        g->emb_d = NULL;
        g->resident -= g->emb_bytes;
    }
    if (rc == QT_OK && !g->emb_d) cudaMemGetInfo(&fr, &tot);   /* once: the table stays */
    if (rc == QT_OK && !g->emb_d && tb < fr / 4) {
        void *d = NULL;
        if (cu_alloc(&d, tb, t->name, err) != QT_OK) {
            rc = QT_ERR;
        } else if (bf) {
            cudaError_t e = cudaMemcpy(d, t->data, tb, cudaMemcpyHostToDevice);
            if (e != cudaSuccess) rc = cu_fail(err, "upload embedding", e);
        } else {
            float *hb = (float *)malloc(tb);
            rc = hb ? qt_tensor_read_f32(g->m, t, 0, V, hb, err) : qt_err_set(err, "out of memory");
            if (rc == QT_OK) {
                cudaError_t e = cudaMemcpy(d, hb, tb, cudaMemcpyHostToDevice);
                if (e != cudaSuccess) rc = cu_fail(err, "upload embedding", e);
            }
            free(hb);
        }
        if (rc == QT_OK) {
            g->emb_d = d;
            g->emb_ti = emb_ti;
            g->emb_bf16 = bf;
            g->emb_bytes = (int64_t)tb;
            g->resident += (int64_t)tb;
        } else if (d) {
            cudaFree(d);
        }
    }
    if (rc == QT_OK) pmark(g, cx->st, -1);
    if (rc == QT_OK && g->emb_d) {
        cudaError_t e = cudaMemcpyAsync(g->tokd.p, tokens, (size_t)ntok * 4, cudaMemcpyHostToDevice, cx->st);
        if (e == cudaSuccess) {
            k_embed<<<blocks(cx, ntok * H), 256, 0, cx->st>>>(g->emb_d, g->emb_bf16, H,
                                                             (const int32_t *)g->tokd.p, ntok, (float *)g->h.p);
            e = cudaGetLastError();
        }
        /* tokens is the caller's: it may change once we return */
        if (e == cudaSuccess) e = cudaStreamSynchronize(cx->st);
        if (e != cudaSuccess) rc = cu_fail(err, "embedding", e);
    } else if (rc == QT_OK) {
        float *hb = (float *)malloc((size_t)(ntok * H) * 4);
        rc = hb ? QT_OK : qt_err_set(err, "out of memory");
        for (int64_t i = 0; rc == QT_OK && i < ntok; i++) rc = qt_tensor_read_f32(g->m, t, tokens[i], 1, hb + i * H, err);
        if (rc == QT_OK) {
            cudaError_t e = cudaMemcpy(g->h.p, hb, (size_t)(ntok * H) * 4, cudaMemcpyHostToDevice);
            if (e != cudaSuccess) rc = cu_fail(err, "upload hidden states", e);
        }
        free(hb);
    }
    if (rc == QT_OK) g->h_ntok = ntok;
    if (rc == QT_OK) pmark(g, cx->st, QT_BE_PH_EMBED);
    pflush(g);
    cu_unlock();
    return rc;
}

extern "C" int qt_cuda_fwd_h(struct qt_cuda_fwd *g, float *h, int64_t ntok, int to_host, qt_err *err) {
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    int rc = cx ? QT_OK : QT_ERR;
    size_t bytes = (size_t)(ntok * g->cfg.hidden) * 4;
    if (rc == QT_OK && to_host && ntok > g->h_ntok)
        rc = qt_err_set(err, "CUDA: %lld hidden states asked, %lld resident", (long long)ntok, (long long)g->h_ntok);
    if (rc == QT_OK && !to_host) {
        g->h_ntok = 0;
        rc = need(&g->h, bytes, "hidden states", err);
    }
    if (rc == QT_OK) {
        cudaError_t e = to_host ? cudaMemcpyAsync(h, g->h.p, bytes, cudaMemcpyDeviceToHost, cx->st)
                                : cudaMemcpyAsync(g->h.p, h, bytes, cudaMemcpyHostToDevice, cx->st);
        if (e == cudaSuccess) e = cudaStreamSynchronize(cx->st);
        if (e != cudaSuccess) rc = cu_fail(err, to_host ? "download hidden states" : "upload hidden states", e);
    }
    if (rc == QT_OK && !to_host) g->h_ntok = ntok;
    cu_unlock();
    return rc;
}

extern "C" int qt_cuda_fwd_final_at(struct qt_cuda_fwd *g, int norm_ti, int head_ti, int64_t tok0, int64_t ntok,
                                    float *logits, qt_err *err) {
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    int rc = cx ? QT_OK : QT_ERR;
    int H = g->cfg.hidden;
    int64_t V = qt_tensor_rows(&g->m->tensors[head_ti]);
    g->lg_rows = 0;
    if (rc == QT_OK && (tok0 < 0 || tok0 + ntok > g->h_ntok))
        rc = qt_err_set(err, "CUDA: rows %lld..%lld of %lld resident hidden states", (long long)tok0,
                        (long long)(tok0 + ntok), (long long)g->h_ntok);
    if (rc == QT_OK && (need(&g->x, (size_t)(ntok * H) * 4, "normed", err) ||
                        need(&g->lk, (size_t)(ntok * V) * 4, "logits", err)))
        rc = QT_ERR;
    const float *nw = NULL;
    if (rc == QT_OK) {
        pf_reset(g);
        pf_plan(g, &head_ti, 1);
        if (!(nw = dev_tensor(g, cx, norm_ti, 0, err))) rc = QT_ERR;
    }
    if (rc == QT_OK) {
        pmark(g, cx->st, -1);
        k_rmsnorm<<<(unsigned)ntok, 256, 0, cx->st>>>((const float *)g->h.p + tok0 * H, (float *)g->x.p, nw, H,
                                                      g->cfg.eps);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) rc = cu_fail(err, "rmsnorm kernel", e);
    }
    if (rc == QT_OK) rc = linear(g, cx, head_ti, (const float *)g->x.p, ntok, (float *)g->lk.p, -1, err);
    if (rc == QT_OK && logits) {
        cudaError_t e = cudaMemcpyAsync(logits, g->lk.p, (size_t)(ntok * V) * 4, cudaMemcpyDeviceToHost, cx->st);
        if (e == cudaSuccess) e = cudaStreamSynchronize(cx->st);
        if (e != cudaSuccess) rc = cu_fail(err, "download logits", e);
    }
    if (rc == QT_OK) {
        g->lg_rows = ntok;
        g->lg_vocab = V;
        pmark(g, cx->st, QT_BE_PH_HEAD);
    }
    pflush(g);
    cu_unlock();
    return rc;
}

extern "C" int qt_cuda_fwd_kl(struct qt_cuda_fwd *gq, struct qt_cuda_fwd *gb, const int32_t *tokens, int nseq, int ctx,
                              int first, const struct qt_be_kl_out *out, qt_err *err) {
    cu_lock();
    struct cu_ctx *cx = cu_get(err);
    int rc = cx ? QT_OK : QT_ERR;
    int64_t rows = (int64_t)nseq * ctx, per = ctx - first, n = (int64_t)nseq * per, V = gq->lg_vocab;
    if (rc == QT_OK && (first < 0 || per < 1 || gq->lg_rows != rows || gb->lg_rows != rows || gb->lg_vocab != V))
        rc = qt_err_set(err, "CUDA: KL of %lld positions: logits kept for %lld and %lld rows", (long long)rows,
                        (long long)gq->lg_rows, (long long)gb->lg_rows);
    /* outputs packed in one device buffer: kl, nllb, nllq, dp (doubles), same (bytes) */
    if (rc == QT_OK && (need(&gq->klb, (size_t)n * 33, "KL", err) || need(&gq->tokd, (size_t)rows * 4, "token ids", err)))
        rc = QT_ERR;
    if (rc == QT_OK) {
        double *d = (double *)gq->klb.p;
        unsigned char *sm = (unsigned char *)(d + 4 * n);
        pmark(gq, cx->st, -1);
        cudaError_t e = cudaMemcpyAsync(gq->tokd.p, tokens, (size_t)rows * 4, cudaMemcpyHostToDevice, cx->st);
        if (e == cudaSuccess) {
            k_kl<<<(unsigned)n, 256, 0, cx->st>>>((const float *)gb->lk.p, (const float *)gq->lk.p,
                                                  (const int32_t *)gq->tokd.p, ctx, first, V, d, d + n, d + 2 * n,
                                                  d + 3 * n, sm);
            e = cudaGetLastError();
        }
        double *hs[4] = {out->kl, out->nllb, out->nllq, out->dp};
        for (int k = 0; k < 4 && e == cudaSuccess; k++)
            e = cudaMemcpyAsync(hs[k], d + k * n, (size_t)n * 8, cudaMemcpyDeviceToHost, cx->st);
        if (e == cudaSuccess) e = cudaMemcpyAsync(out->same, sm, (size_t)n, cudaMemcpyDeviceToHost, cx->st);
        if (e == cudaSuccess) e = cudaStreamSynchronize(cx->st);
        if (e != cudaSuccess) rc = cu_fail(err, "KL", e);
        pmark(gq, cx->st, QT_BE_PH_KL);
    }
    pflush(gq);
    if (gq->prof) {   /* a batch ends with its KL */
        memcpy(gq->plast_d, gq->pcur_d, sizeof gq->pcur_d);
        memcpy(gq->plast_h, gq->pcur_h, sizeof gq->pcur_h);
        memset(gq->pcur_d, 0, sizeof gq->pcur_d);
        memset(gq->pcur_h, 0, sizeof gq->pcur_h);
        gq->plast_set = 1;
    }
    cu_unlock();
    return rc;
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
