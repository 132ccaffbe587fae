/* test_forward.c — the float32 forward against transformers' logits. */
#include <stdint.h>

#include "eval/forward.h"
#include "model/model.h"
#include "tu.h"

enum { NSEQ = 4, SEQ = 64, VOCAB = 8192 };

static struct qt_model *open_tiny(void) {
    struct qt_model *m = NULL;
    qt_err err;
    if (qt_model_open(tu_path("share/models/tiny-glm-moe"), &m, &err) != QT_OK) {
        printf("  %s\n", err.msg);
        return NULL;
    }
    return m;
}

/* tests/refs/forward_logits.bin: int32 tokens[4][64], float32 logits[4][64][8192]. */
static int read_ref(int32_t *tokens, float *logits) {
    FILE *fp = fopen(tu_path("tests/refs/forward_logits.bin"), "rb");
    if (!fp) return -1;
    size_t a = fread(tokens, sizeof(int32_t), NSEQ * SEQ, fp);
    size_t b = fread(logits, sizeof(float), (size_t)NSEQ * SEQ * VOCAB, fp);
    fclose(fp);
    return a == NSEQ * SEQ && b == (size_t)NSEQ * SEQ * VOCAB ? 0 : -1;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Compares each sequence: relative Frobenius error < 1e-4, same argmax. */
static void check_logits(const float *ours, const float *ref) {
    for (int s = 0; s < NSEQ; s++) {
        double e2 = 0, r2 = 0;
        int mism = 0;
        for (int t = 0; t < SEQ; t++) {
            const float *a = ours + ((size_t)s * SEQ + t) * VOCAB, *b = ref + ((size_t)s * SEQ + t) * VOCAB;
            for (int v = 0; v < VOCAB; v++) {
                double d = (double)a[v] - b[v];
                e2 += d * d;
                r2 += (double)b[v] * b[v];
            }
            mism += argmax(a, VOCAB) != argmax(b, VOCAB);
        }
        double rel = sqrt(e2 / r2);
        printf("  sequence %d: rel %.3g, argmax mismatches %d\n", s, rel, mism);
        TU_CHECKF(rel < 1e-4, "sequence %d rel %g", s, rel);
        TU_CHECK(mism == 0);
    }
}

static int32_t g_tokens[NSEQ * SEQ];
static float *g_ref;

/* The whole batch at once (layer-major), as eval runs it. */
TU_TEST(forward_matches_reference) {
    struct qt_model *m = open_tiny();
    TU_CHECK(m != NULL);
    if (!m) return;
    struct qt_fwd *f = NULL;
    qt_err err;
    TU_CHECK(qt_fwd_init(m, NULL, &f, &err) == QT_OK);
    float *out = malloc(sizeof(float) * (size_t)NSEQ * SEQ * VOCAB);
    int rc = f ? qt_fwd_run(f, g_tokens, NSEQ, SEQ, out, &err) : QT_ERR;
    TU_CHECKF(rc == QT_OK, "%s", err.msg);
    if (rc == QT_OK) check_logits(out, g_ref);
    free(out);
    qt_fwd_free(f);
    qt_model_free(m);
}

/* One sequence at a time through embed / layer / final gives the same
 * logits as the batch; a restart from captured hidden states too. */
static int calls;
static int count_weight(void *ctx, int ti, float *out, qt_err *err) {
    (void)ctx; (void)ti; (void)out; (void)err;
    calls++;
    return 1;
}

TU_TEST(forward_pieces_and_restart) {
    struct qt_model *m = open_tiny();
    if (!m) { TU_CHECK(0); return; }
    struct qt_fwd_hooks hk = {.weight = count_weight};
    struct qt_fwd *f = NULL;
    qt_err err;
    TU_CHECK(qt_fwd_init(m, &hk, &f, &err) == QT_OK);
    if (!f) { qt_model_free(m); return; }
    int H = m->cfg.hidden, L = qt_fwd_n_layers(f);
    float *h = malloc(sizeof(float) * SEQ * H), *h2 = malloc(sizeof(float) * SEQ * (size_t)H * (L + 1));
    float *out = malloc(sizeof(float) * (size_t)SEQ * VOCAB);
    float *all = malloc(sizeof(float) * (size_t)NSEQ * SEQ * VOCAB);
    for (int s = 0; s < NSEQ; s++) {
        TU_CHECK(qt_fwd_embed(f, g_tokens + s * SEQ, SEQ, h, &err) == QT_OK);
        for (int l = 0; l < L; l++) {
            memcpy(h2 + (size_t)l * SEQ * H, h, sizeof(float) * SEQ * H);   /* state entering layer l */
            TU_CHECK(qt_fwd_layer(f, l, h, 1, SEQ, &err) == QT_OK);
        }
        TU_CHECK(qt_fwd_final(f, h, SEQ, all + (size_t)s * SEQ * VOCAB, &err) == QT_OK);
    }
    check_logits(all, g_ref);
    TU_CHECK(calls > 0);
    /* restart the last sequence from the state entering layer 2 */
    memcpy(h, h2 + (size_t)2 * SEQ * H, sizeof(float) * SEQ * H);
    for (int l = 2; l < L; l++) TU_CHECK(qt_fwd_layer(f, l, h, 1, SEQ, &err) == QT_OK);
    TU_CHECK(qt_fwd_final(f, h, SEQ, out, &err) == QT_OK);
    TU_CHECK(memcmp(out, all + (size_t)(NSEQ - 1) * SEQ * VOCAB, sizeof(float) * SEQ * VOCAB) == 0);
    /* the same restart by halves: the attention block, then the MLP block */
    if (qt_fwd_parts(f)) {
        memcpy(h, h2 + (size_t)2 * SEQ * H, sizeof(float) * SEQ * H);
        for (int l = 2; l < L; l++) {
            TU_CHECK(qt_fwd_layer_part(f, l, QT_FWD_ATTN, h, 1, SEQ, &err) == QT_OK);
            TU_CHECK(qt_fwd_layer_part(f, l, QT_FWD_MLP, h, 1, SEQ, &err) == QT_OK);
        }
        TU_CHECK(qt_fwd_final(f, h, SEQ, out, &err) == QT_OK);
        TU_CHECK(memcmp(out, all + (size_t)(NSEQ - 1) * SEQ * VOCAB, sizeof(float) * SEQ * VOCAB) == 0);
        TU_CHECK(qt_fwd_layer_part(f, 2, 0, h, 1, SEQ, &err) == QT_ERR && strstr(err.msg, "bad layer part"));
    }
    int32_t bad = 1 << 20;
    TU_CHECK(qt_fwd_embed(f, &bad, 1, h, &err) == QT_ERR && strstr(err.msg, "out of the vocabulary"));
    free(h); free(h2); free(out); free(all);
    qt_fwd_free(f);
    qt_model_free(m);
}

TU_TEST(act_quant_per_token) {
    float x[2][4] = {{1.0f, -0.5f, 0.25f, 0.001f}, {0, 0, 0, 0}};
    qt_fwd_act_quant(QT_FWD_ACT_INT8_TOK, &x[0][0], 2, 4);
    float s = 1.0f / 127.5f;
    TU_NEAR(x[0][0], 127 * s, 1e-7);        /* 127.5 rounds to 128, clamps to 127 */
    TU_NEAR(x[0][1], -64 * s, 1e-7);        /* -63.75 -> -64 */
    TU_NEAR(x[0][3], 0, 1e-7);
    TU_CHECK(x[1][0] == 0);
    float y[4] = {448.0f, -1.0f, 0.3f, 0.0f};
    qt_fwd_act_quant(QT_FWD_ACT_FP8_TOK, y, 1, 4);
    TU_NEAR(y[0], 448.0f, 1e-4);
    TU_NEAR(y[2], 0.3f, 0.3f * 0.07);        /* e4m3: 3 mantissa bits */
}

TU_TEST(refuses_config_only) {
    struct qt_model *m = NULL;
    qt_err err;
    TU_CHECK(qt_model_open(tu_path("share/models/meta/GLM-4.5-Air.config.json"), &m, &err) == QT_OK);
    struct qt_fwd *f = NULL;
    TU_CHECK(m && qt_fwd_init(m, NULL, &f, &err) == QT_ERR && strstr(err.msg, "weights"));
    qt_model_free(m);
}

int main(void) {
    g_ref = malloc(sizeof(float) * (size_t)NSEQ * SEQ * VOCAB);
    if (read_ref(g_tokens, g_ref) != 0) {
        printf("FAIL read_ref (tests/refs/forward_logits.bin)\n");
        return 1;
    }
    TU_RUN(forward_matches_reference);
    TU_RUN(forward_pieces_and_restart);
    TU_RUN(act_quant_per_token);
    TU_RUN(refuses_config_only);
    free(g_ref);
    return TU_END();
}
