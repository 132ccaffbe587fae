/* bench_forward.c — `qtune bench forward`: tokens/s and GFLOP/s of the
 * float32 forward on the tiny GLM-MoE fixture (4 sequences of 512
 * tokens, best of 3), against the GFLOP/s of a plain 2048³ OpenBLAS sgemm
 * run in the same process with OpenBLAS's own threads (the machine's
 * practical matmul peak).  On the CUDA backend the timed unit is a KL
 * evaluation's batch (tokens to per-position KL figures, all on the GPU);
 * QTUNE_FORWARD_BASELINE_MS (transformers eager, measured in the same run
 * by scripts/dev/bench_hf_forward.py) gives the ratio against it.  The forward's FLOPs count matmuls and causal
 * attention only (qt_fwd_flops). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "eval/forward.h"
#include "model/model.h"

static double sgemm_rate(int M, int N, int K, int reps) {
    float *a = malloc(sizeof(float) * (size_t)M * K), *b = malloc(sizeof(float) * (size_t)N * K);
    float *c = malloc(sizeof(float) * (size_t)M * N);
    if (!a || !b || !c) {
        free(a); free(b); free(c);
        return 0;
    }
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 17) * 0.01f;
    for (size_t i = 0; i < (size_t)N * K; i++) b[i] = (float)(i % 13) * 0.01f;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = qt_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        t = qt_now() - t;
        if (t < best) best = t;
    }
    free(a); free(b); free(c);
    return 2.0 * M * N * K / best / 1e9;
}

int qt_bench_forward(void **json_out, qt_err *err) {
    const char *root = getenv("QTUNE_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/share/models/tiny-glm-moe", root ? root : ".");
    /* QTUNE_BENCH_MODEL / _NSEQ / _SEQ / _REPS: another checkpoint and batch
     * (the GPU streaming runs of docs/cuda-notes.md) */
    const char *em = getenv("QTUNE_BENCH_MODEL");
    if (em && *em) snprintf(path, sizeof path, "%s", em);
    struct qt_model *m;
    if (qt_model_open(path, &m, err) != QT_OK) return QT_ERR;
    const char *ev;
    int nseq = 4, seq = 512, reps = 3;
    if ((ev = getenv("QTUNE_BENCH_NSEQ")) && atoi(ev) > 0) nseq = atoi(ev);
    if ((ev = getenv("QTUNE_BENCH_SEQ")) && atoi(ev) > 0) seq = atoi(ev);
    if ((ev = getenv("QTUNE_BENCH_REPS")) && atoi(ev) > 0) reps = atoi(ev);
    int64_t n = (int64_t)nseq * seq;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
    float *logits = malloc(sizeof(float) * (size_t)n * (size_t)m->cfg.vocab);
    struct qt_fwd *f = NULL;
    if (!tok || !logits || qt_fwd_init(m, NULL, &f, err) != QT_OK) {
        free(tok); free(logits); qt_model_free(m);
        return err->msg[0] ? QT_ERR : qt_err_set(err, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) tok[i] = (int32_t)((i * 7919 + 13) % m->cfg.vocab);
    double best = 1e30, best_logits = 0;
    int rc = QT_OK;
    /* On a device that keeps the hidden states (CUDA), the timed unit is
     * what `qtune eval` does per batch: tokens up, the layers, the logits and
     * the KL against base logits kept on the device (a second forward over
     * the same model, run once before timing), the per-position figures
     * down.  The logits never leave the device. */
    struct qt_fwd *fb = NULL;
    int res = qt_fwd_resident(f);
    int64_t per = n;
    double *kd = NULL;
    unsigned char *same = NULL;
    if (res) {
        kd = malloc(sizeof(double) * (size_t)per * 4);
        same = malloc((size_t)per);
        rc = kd && same ? qt_fwd_open(qt_fwd_backend_of(f), m, NULL, &fb, err) : qt_err_set(err, "out of memory");
        if (rc == QT_OK) rc = qt_fwd_embed_resident(fb, tok, n, err);
        for (int l = 0; rc == QT_OK && l < qt_fwd_n_layers(fb); l++) rc = qt_fwd_layer(fb, l, NULL, nseq, seq, err);
        if (rc == QT_OK) rc = qt_fwd_final_resident(fb, 0, n, NULL, err);
    }
    struct qt_be_kl_out ko = {kd, kd ? kd + per : NULL, kd ? kd + 2 * per : NULL, kd ? kd + 3 * per : NULL, same};
    double klsum = 0;
    for (int r = 0; r < reps + (res ? 2 : 0) && rc == QT_OK; r++) {
        double t = qt_now();
        if (res) {
            rc = qt_fwd_embed_resident(f, tok, n, err);
            for (int l = 0; rc == QT_OK && l < qt_fwd_n_layers(f); l++) rc = qt_fwd_layer(f, l, NULL, nseq, seq, err);
            if (rc == QT_OK) rc = qt_fwd_final_resident(f, 0, n, NULL, err);
            if (rc == QT_OK) rc = qt_fwd_kl(f, fb, tok, nseq, seq, 0, &ko, err);
        } else {
            rc = qt_fwd_run(f, tok, nseq, seq, logits, err);
        }
        t = qt_now() - t;
        if (res && r < 2) continue;     /* warm-ups: weights uploaded, buffers grown */
        if (t < best) best = t;
    }
    if (res && rc == QT_OK) {
        for (int64_t i = 0; i < per; i++) klsum += kd[i];
        /* the old unit too: the same forward with the logits brought down */
        best_logits = 1e30;
        for (int r = 0; r < 3 && rc == QT_OK; r++) {
            double t = qt_now();
            rc = qt_fwd_run(f, tok, nseq, seq, logits, err);
            t = qt_now() - t;
            if (t < best_logits) best_logits = t;
        }
    }
    qt_fwd_free(fb);
    free(kd);
    free(same);
    double flops = qt_fwd_flops(m, nseq, seq);
    struct qt_be_fwd_timing gt;
    int on_gpu = qt_fwd_gpu_stats(f, &gt);
    qt_fwd_free(f);
    free(tok);
    free(logits);
    if (rc != QT_OK) {
        qt_model_free(m);
        return QT_ERR;
    }
    int nt = qt_nthreads();
    openblas_set_num_threads(nt);
    double peak = sgemm_rate(2048, 2048, 2048, 3);
    double head = on_gpu ? 0 : sgemm_rate((int)n, m->cfg.vocab, m->cfg.hidden, 3);
    openblas_set_num_threads(1);   /* as the forward leaves it */
    double gf = flops / best / 1e9;
    cJSON *d;
    cJSON *j = cli_bench_result("forward", "forward GFLOP/s (tiny GLM-MoE, 4x512 tokens) vs OpenBLAS sgemm 2048^3", gf,
                                peak, peak > 0 ? gf / peak : 0, "GFLOP/s", &d);
    cJSON_AddNumberToObject(j, "tokens_per_s", (double)n / best);
    if (on_gpu) {
        cJSON *g = cJSON_AddObjectToObject(j, "gpu");
        cJSON_AddBoolToObject(g, "timed_with_kl", res);
        if (res) {
            cJSON_AddNumberToObject(g, "kl_mean_same_model", klsum / (double)per);
            cJSON_AddNumberToObject(g, "forward_logits_to_host_ms", best_logits * 1e3);
        }
        /* transformers eager on the same GPU, checkpoint and batch, measured
         * by scripts/dev/bench_hf_forward.py in the same run */
        const char *hb = getenv("QTUNE_FORWARD_BASELINE_MS");
        double hms = hb ? atof(hb) : 0;
        if (hms > 0) {
            cJSON_AddNumberToObject(g, "transformers_eager_ms", hms);
            cJSON_AddNumberToObject(g, "ratio_vs_transformers", hms / (best * 1e3));
        }
        cJSON_AddNumberToObject(g, "runs", reps);
        qt_fwd_timing_json(g, &gt);
        static const char *const gemm_names[] = QT_BE_GEMM_NAMES;
        cJSON_AddStringToObject(g, "gemm", gemm_names[gt.gemm_mode]);   /* QTUNE_CUDA_GEMM */
        cJSON_AddBoolToObject(g, "gemm_experts_one_by_one", gt.gemm_per_expert);
        cJSON_AddStringToObject(g, "attention", gt.attn_gemm ? "batched gemm" : "flash kernel");
        cJSON_AddNumberToObject(g, "model_gib", (double)qt_model_bytes(m, -1) / 1073741824.0);
        if (gt.profiled) {   /* QTUNE_CUDA_PROFILE=1: [device ms, host ms] per phase of the last batch */
            static const char *const names[] = QT_BE_PHASE_NAMES;
            cJSON *p = cJSON_AddObjectToObject(g, "profile_ms");
            double sd = 0, sh = 0;
            for (int k = 0; k < QT_BE_NPHASE; k++) {
                double v[2] = {gt.phase_dev[k] * 1e3, gt.phase_host[k] * 1e3};
                cJSON_AddItemToObject(p, names[k], cJSON_CreateDoubleArray(v, 2));
                sd += v[0];
                sh += v[1];
            }
            double v[2] = {sd, sh};
            cJSON_AddItemToObject(p, "total", cJSON_CreateDoubleArray(v, 2));
        }
    }
    cJSON_AddNumberToObject(j, "forward_ms", best * 1e3);
    cJSON_AddNumberToObject(d, "tokens_per_s", (double)n / best);
    cJSON_AddNumberToObject(d, "seconds", best);
    cJSON_AddNumberToObject(d, "gflop", flops / 1e9);
    cJSON_AddNumberToObject(d, "tokens", (double)n);
    cJSON_AddNumberToObject(d, "threads", nt);
    cJSON_AddNumberToObject(d, "sgemm_lm_head_shape_gflops", head);
    cJSON_AddStringToObject(d, "baseline_is", "cblas_sgemm 2048x2048x2048, OpenBLAS threads = threads");
    *json_out = j;
    qt_model_free(m);
    return QT_OK;
}
