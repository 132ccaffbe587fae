/* test_gguf_eval.c — llama.cpp's activation arithmetic for a GGUF file's
 * evaluation (--ggml-arith), by known answers of ggml's semantics: the
 * vec_dot_type each weight type converts a matmul's input to (ggml-cpu's
 * type_traits_cpu), quantize_row_q8_0 (d = amax/127 stored as fp16,
 * q = x * 127/amax rounded half to even, the AVX path), quantize_row_q8_K
 * (iscale = -127/max with the sign of the largest magnitude, d = 1/iscale
 * kept in fp32) and fp32 -> bf16 (round to nearest even). */
#include <stdint.h>

#include "eval/gguf_eval.h"
#include "quant/ggml_quants.h"
#include "tu.h"

TU_TEST(act_of_type_is_vec_dot_type) {
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_Q8_0) == QT_FWD_ACT_GGML_Q8_0);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_Q4_0) == QT_FWD_ACT_GGML_Q8_0);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_Q5_0) == QT_FWD_ACT_GGML_Q8_0);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_IQ4_NL) == QT_FWD_ACT_GGML_Q8_0);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_Q2_K) == QT_FWD_ACT_GGML_Q8_K);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_Q4_K) == QT_FWD_ACT_GGML_Q8_K);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_Q6_K) == QT_FWD_ACT_GGML_Q8_K);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_IQ4_XS) == QT_FWD_ACT_GGML_Q8_K);
    /* the read-only types (ggml-cpu.c type_traits_cpu of llama.cpp 0.5.0-dev) */
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_Q1_0) == QT_FWD_ACT_GGML_Q8_0);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_Q2_0) == QT_FWD_ACT_GGML_Q8_0);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_MXFP4) == QT_FWD_ACT_GGML_Q8_0);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_NVFP4) == QT_FWD_ACT_GGML_Q8_0);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_TQ1_0) == QT_FWD_ACT_GGML_Q8_K);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_TQ2_0) == QT_FWD_ACT_GGML_Q8_K);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_BF16) == QT_FWD_ACT_GGML_BF16);
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_F16) == QT_FWD_ACT_GGML_F16);
    /* F32 weights (the router, kept F32 in every llama.cpp ftype) take f32 inputs */
    TU_CHECK(qt_gguf_act_of_type(QT_GGML_F32) == QT_FWD_ACT_NONE);
}

TU_TEST(act_q8_0_known_answers) {
    float x[96] = {0};   /* (1, 96): three blocks of 32 */
    /* block 0: amax 127, d = 1 (exact in fp16): ties go to the even code,
     * where the scalar reference's roundf would give 3, 4, -3, 1, 2, -127 */
    x[0] = 127, x[1] = 2.5f, x[2] = 3.5f, x[3] = -2.5f, x[4] = 0.5f, x[5] = 1.5f, x[6] = -126.5f;
    /* block 1: amax 1, d = fp16(1/127) = 0.00787353515625 */
    x[32] = 1, x[33] = 0.5f, x[34] = -0.25f, x[35] = 1.0f / 254, x[36] = 0.3f;
    /* block 2: all zero (id 0) stays zero */
    qt_fwd_act_quant(QT_FWD_ACT_GGML_Q8_0, x, 1, 96);
    const float want0[7] = {127, 2, 4, -2, 0, 2, -126};
    for (int j = 0; j < 7; j++) TU_CHECKF(x[j] == want0[j], "x[%d] = %.9g, want %.9g", j, x[j], want0[j]);
    TU_CHECK(x[32] == 0.99993896484375f);   /* 127 * d */
    TU_CHECK(x[33] == 0.50390625f);         /* 63.5 -> 64 */
    TU_CHECK(x[34] == -0.251953125f);       /* -31.75 -> -32 */
    TU_CHECK(x[35] == 0.0f);                /* exactly 0.5 -> 0 */
    TU_CHECK(x[36] == 0.2991943359375f);    /* 38.1 -> 38 */
    for (int j = 64; j < 96; j++) TU_CHECK(x[j] == 0);
}

TU_TEST(act_q8_k_known_answers) {
    float x[512] = {0};   /* (1, 512): two blocks of 256 */
    /* block 0: the largest magnitude is -127: iscale 1, d 1 */
    x[0] = -127, x[1] = 2.5f, x[2] = -3.5f, x[3] = 127;
    /* block 1: the largest magnitude is +2: iscale -63.5, d = 1/-63.5 */
    x[256] = 2, x[257] = 1, x[258] = 0.3f;
    qt_fwd_act_quant(QT_FWD_ACT_GGML_Q8_K, x, 1, 512);
    TU_CHECK(x[0] == -127 && x[1] == 2 && x[2] == -4 && x[3] == 127);
    const float d = 1.0f / -63.5f;
    TU_CHECK(x[256] == -127 * d && x[256] == 2.0f);
    TU_CHECK(x[257] == -64 * d);   /* -63.5 -> -64 */
    TU_CHECK(x[257] == 1.0078740119934082f);
    TU_CHECK(x[258] == -19 * d);   /* -19.05 -> -19 */
}

TU_TEST(act_bf16_rounds_half_to_even) {
    float x[4] = {1.00390625f, 1.01171875f, -1.00390625f, 3.0f};   /* 1 + 2^-8 and 1 + 3*2^-8: ties */
    qt_fwd_act_quant(QT_FWD_ACT_GGML_BF16, x, 1, 4);
    TU_CHECK(x[0] == 1.0f && x[1] == 1.015625f && x[2] == -1.0f && x[3] == 3.0f);
}

int main(void) {
    TU_RUN(act_of_type_is_vec_dot_type);
    TU_RUN(act_q8_0_known_answers);
    TU_RUN(act_q8_k_known_answers);
    TU_RUN(act_bf16_rounds_half_to_even);
    return TU_END();
}
