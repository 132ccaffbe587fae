/* test_ggml_quants.c — qtune's ggml block quantizers against known answers
 * made by ggml itself (tests/refs/ggml_kat.bin, see tests/refs/README.md):
 * the same input and importance weights must give the same bytes, and the
 * dequantizers the same floats. */
#include <stdint.h>

#include "tu.h"
#include "quant/ggml_quants.h"

struct kat_input { uint32_t nrows, ncols; float *x, *im; };

static uint8_t *blob;
static size_t blob_n, pos;

static int rd(void *dst, size_t n) {
    if (pos + n > blob_n) return -1;
    memcpy(dst, blob + pos, n);
    pos += n;
    return 0;
}
static uint32_t rd32(void) { uint32_t v = 0; rd(&v, 4); return v; }

static int load(void) {
    FILE *f = fopen(tu_path("tests/refs/ggml_kat.bin"), "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    blob_n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    blob = malloc(blob_n);
    size_t got = fread(blob, 1, blob_n, f);
    fclose(f);
    return got == blob_n && !memcmp(blob, "QTGGKAT1", 8) ? 0 : -1;
}

static int seen[QT_GGML_TYPE_COUNT][2];

TU_TEST(ggml_known_answers) {
    TU_CHECK(load() == 0);
    if (!blob) return;
    pos = 8;
    uint32_t ni = rd32();
    TU_CHECK(ni == 2);
    struct kat_input in[2];
    for (uint32_t i = 0; i < ni && i < 2; i++) {
        in[i].nrows = rd32(); in[i].ncols = rd32();
        size_t n = (size_t)in[i].nrows * in[i].ncols;
        in[i].x = malloc(n * 4); in[i].im = malloc(in[i].ncols * 4);
        rd(in[i].x, n * 4); rd(in[i].im, in[i].ncols * 4);
    }
    uint32_t nc = rd32();
    int bad_q = 0, bad_d = 0;
    for (uint32_t c = 0; c < nc; c++) {
        uint32_t ii = rd32(), ty = rd32(), use_im = rd32(), nb = rd32();
        TU_CHECK(ii < 2 && ty < QT_GGML_TYPE_COUNT);
        if (ii >= 2 || ty >= QT_GGML_TYPE_COUNT) return;
        size_t n = (size_t)in[ii].nrows * in[ii].ncols;
        uint8_t *want = malloc(nb), *got = calloc(1, nb);
        float *wd = malloc(n * 4), *gd = malloc(n * 4);
        rd(want, nb); rd(wd, n * 4);
        size_t w = qt_ggml_quantize((int)ty, in[ii].x, got, in[ii].nrows, in[ii].ncols, use_im ? in[ii].im : NULL);
        const struct qt_ggml_type_info *ti = qt_ggml_type_info((int)ty);
        TU_CHECKF(ti && w == (ti->write ? nb : 0), "%s: %zu bytes, want %u", qt_ggml_type_name((int)ty), w, ti && ti->write ? nb : 0);
        if (ti && ti->write && w == nb && memcmp(want, got, nb)) {
            size_t k = 0;
            while (want[k] == got[k]) k++;
            printf("  %s input %u imatrix %u: byte %zu of %u differs (%02x, want %02x; row %zu)\n",
                   qt_ggml_type_name((int)ty), ii, use_im, k, nb, got[k], want[k], k / (nb / in[ii].nrows));
            bad_q++;
        }
        TU_CHECK(qt_ggml_dequantize((int)ty, want, gd, (int64_t)n) == 0);
        if (memcmp(wd, gd, n * 4)) {
            printf("  %s: dequantized floats differ\n", qt_ggml_type_name((int)ty));
            bad_d++;
        }
        seen[ty][use_im] = 1;
        free(want); free(got); free(wd); free(gd);
    }
    TU_CHECK(bad_q == 0);
    TU_CHECK(bad_d == 0);
    const int must[] = {QT_GGML_F32, QT_GGML_F16, QT_GGML_BF16, QT_GGML_Q8_0, QT_GGML_Q4_0, QT_GGML_Q4_1,
                        QT_GGML_Q5_0, QT_GGML_Q5_1, QT_GGML_Q2_K, QT_GGML_Q3_K, QT_GGML_Q4_K, QT_GGML_Q5_K,
                        QT_GGML_Q6_K, QT_GGML_IQ4_NL, QT_GGML_IQ4_XS};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        TU_CHECKF(seen[must[i]][0] && seen[must[i]][1], "%s not covered", qt_ggml_type_name(must[i]));
    /* read only (llama-quantize's Q1_0, Q2_0, TQ1_0, TQ2_0, MXFP4_MOE files): the dequantizer */
    const int must_read[] = {QT_GGML_Q1_0, QT_GGML_Q2_0, QT_GGML_TQ1_0, QT_GGML_TQ2_0, QT_GGML_MXFP4, QT_GGML_NVFP4};
    for (size_t i = 0; i < sizeof must_read / sizeof must_read[0]; i++)
        TU_CHECKF(seen[must_read[i]][0] && seen[must_read[i]][1], "%s not covered", qt_ggml_type_name(must_read[i]));
    for (int i = 0; i < 2; i++) { free(in[i].x); free(in[i].im); }
    free(blob);
}

TU_TEST(ggml_type_table) {
    TU_CHECK(qt_ggml_type_parse("q4_k") == QT_GGML_Q4_K);
    TU_CHECK(qt_ggml_type_parse("IQ4_XS") == QT_GGML_IQ4_XS);
    TU_CHECK(qt_ggml_type_parse("Q4_K_M") == QT_GGML_NONE);
    TU_CHECK(qt_ggml_row_size(QT_GGML_Q4_K, 512) == 288);
    TU_CHECK(qt_ggml_row_size(QT_GGML_Q4_K, 128) == 0);
    TU_CHECK(qt_ggml_row_size(QT_GGML_Q8_0, 128) == 136);
    TU_NEAR(qt_ggml_bpw(QT_GGML_Q4_K), 4.5, 1e-9);
    TU_NEAR(qt_ggml_bpw(QT_GGML_Q6_K), 6.5625, 1e-9);
    float x[128] = {0};
    uint8_t b[512];
    TU_CHECK(qt_ggml_quantize(QT_GGML_Q4_K, x, b, 1, 128, NULL) == 0);   /* 128 is not a multiple of 256 */
    TU_CHECK(qt_ggml_quantize(QT_GGML_IQ2_XXS, x, b, 1, 256, NULL) == 0); /* not writable */
    TU_CHECK(qt_ggml_quantize(QT_GGML_Q1_0, x, b, 1, 128, NULL) == 0);    /* read only */
    TU_CHECK(qt_ggml_can_dequantize(QT_GGML_Q1_0) && qt_ggml_can_dequantize(QT_GGML_Q4_K));
    TU_CHECK(!qt_ggml_can_dequantize(QT_GGML_IQ2_XXS) && !qt_ggml_can_dequantize(QT_GGML_Q8_K) && !qt_ggml_can_dequantize(99));
    TU_CHECK(qt_ggml_dequantize(QT_GGML_IQ2_XXS, b, (float *)x, 256) == -1);
}

int main(void) {
    TU_RUN(ggml_known_answers);
    TU_RUN(ggml_type_table);
    return TU_END();
}
