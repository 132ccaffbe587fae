/* bench_gptq.c — `qtune bench gptq` (CUDA backend): GPTQ W4A16 of one
 * GLM-4.6-shaped MoE layer on the GPU — 160 experts, gate/up 1536 x 5120,
 * down 5120 x 1536, 50,000 calibration tokens routed top-8 — Hessians
 * accumulated from the routed rows, chol(H^-1) by cuSOLVER, the column loop
 * batched over the experts.  The baseline is a plain PyTorch GPTQ batched
 * over experts on the same GPU (scripts/dev/bench_gptq_torch.py), whose
 * seconds QTUNE_GPTQ_BASELINE_S passes in; without it the ratio is against
 * the whole-model target (45 minutes for GLM-4.6, extrapolated from this
 * layer: 89 MoE layers + 3 dense layers counted as one MoE layer each). */
#include <stdlib.h>

#include <cJSON.h>

#include "cli.h"
#include "backend/cuda/cuda.h"
#include "backend/select.h"
#include "quant/scheme.h"

int qt_bench_gptq(void **json_out, qt_err *err) {
    if (qt_backend_active() != QT_BACKEND_CUDA) return qt_err_set(err, "bench gptq: needs the CUDA backend (--backend cuda)");
    const int E = 160, topk = 8;
    const int64_t hidden = 5120, inter = 1536, ntok = 50000;
    struct qt_scheme s;
    qt_scheme_parse("int4-g128-sym", &s, NULL);
    struct qt_cuda_gptq_times t;
    double ge = 0, re = 0;
    if (qt_cuda_bench_gptq(E, hidden, inter, ntok, topk, &s, &t, &ge, &re, err) != QT_OK) return QT_ERR;
    const char *b = getenv("QTUNE_GPTQ_BASELINE_S");
    double base = b ? atof(b) : 0;
    double layers = 92, whole = t.total * layers;
    cJSON *d;
    cJSON *j = cli_bench_result("gptq", "seconds for GPTQ W4A16 of one GLM-4.6 MoE layer (160 experts, 50k tokens)", t.total, base > 0 ? base : 2700.0 / layers, base > 0 ? base / t.total : (2700.0 / layers) / t.total, "s", &d);
    cJSON_AddStringToObject(d, "baseline_is", base > 0 ? "PyTorch GPTQ batched over experts (QTUNE_GPTQ_BASELINE_S)"
                                                       : "45 min / 92 layers (the whole-model target)");
    cJSON_AddNumberToObject(d, "hessian_s", t.hessian);
    cJSON_AddNumberToObject(d, "cholesky_s", t.cholesky);
    cJSON_AddNumberToObject(d, "columns_s", t.columns);
    cJSON_AddNumberToObject(d, "glm46_whole_model_min", whole / 60);
    cJSON_AddNumberToObject(d, "expert0_gate_out_err_gptq", ge);
    cJSON_AddNumberToObject(d, "expert0_gate_out_err_rtn", re);
    *json_out = j;
    return QT_OK;
}
