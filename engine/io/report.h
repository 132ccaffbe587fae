/* report.h — the JSON of engine results, built once for every front end:
 * `qtune ... --json` (cli/), the daemon's replies (engine/daemon_*.c) and
 * its jobs' report.json (engine/job_*.c).  Field names and order are the
 * contract of DESIGN §10 and docs/protocol.md.
 *
 * Each builder takes `into`: an object to add the fields to (the caller
 * may have put fields of its own first), or NULL for a new object.  It
 * returns `into` (or the new object); the caller owns it and frees it with
 * cJSON_Delete (or hands it on to a parent). */
#ifndef QT_REPORT_H
#define QT_REPORT_H
#include <cJSON.h>

#include "recipe/deploy.h"
#include "eval/eval.h"
#include "recipe/lint.h"
#include "eval/plan.h"
#include "eval/sensitivity.h"
#include "io/writer.h"

/* KL evaluation (qtune eval --json): kld{mean, stderr, median, p90, p99,
 * p999, max}, same_top_p, ppl_base, ppl_q, ln_ppl_ratio, rms_dp, positions,
 * tensors_quantized, backend ("cpu" | "cuda": where the forward ran). */
cJSON *qt_eval_json(cJSON *into, const struct qt_kl_stats *st);
/* Adds "arith" to an eval's JSON: the arithmetic mode (quant.h: "f32" |
 * "bf16") the evaluated weights were rounded in -- the mode in force for a
 * recipe or a scheme (ckpt NULL), a written checkpoint's own (the "arith"
 * of its qtune-report.json), null when the checkpoint does not say (not
 * written by qtune) or is a GGUF file (ggml's quantizers). */
void qt_eval_json_arith(cJSON *j, const char *ckpt, int gguf);

/* Sensitivity scan: by, ctx, chunks, units[{rank, name, kind, layer,
 * tensors, params, dkl, dkl_stderr, kld_p99, same_top_p, ln_ppl_ratio}]
 * (ranked), sum_dkl, all (qt_eval_json of everything quantized). */
cJSON *qt_sens_json(cJSON *into, const struct qt_sens_result *r, enum qt_sens_by by);

/* Tensor i of m, as `qtune inspect --json` and the daemon's tensors op
 * list it: name, shape, dtype, role, layer, expert, mtp (bool), group
 * (null when not fused), source (when the on-disk name differs), scheme,
 * format, config_group (a quantized module of a compressed-tensors
 * checkpoint), params, bytes. */
cJSON *qt_tensor_json(cJSON *into, const struct qt_model *m, int i);

/* Lint findings of a recipe on m: findings[{code, severity, message,
 * tensors[] (names)}], errors, warnings.  L NULL: no findings (an empty
 * recipe). */
cJSON *qt_lint_json(cJSON *into, const struct qt_model *m, const struct qt_lint *L);

/* Every target and ignore pattern of r with the number of modules it
 * matches (r resolved, so its hit counts are filled), as a new array of
 * {pattern, kind: target|ignore, modifier, group, scheme, matches}.  An
 * ignore row has no group or scheme: with null_absent they are written as
 * null (the daemon's resolve, docs/protocol.md), without it left out
 * (qtune lint --json).  r NULL: an empty array. */
cJSON *qt_patterns_json(const struct qt_recipe *r, int null_absent);

/* Serving estimate d on gpu g: weights_bytes, mtp_bytes,
 * weights_bytes_without_mtp, replicated_bytes, active_bytes_per_token,
 * kv_bytes_per_token, kv_element_bytes, kv_layout, per_gpu[{tp,
 * weights_bytes, kv_bytes_per_token, max_tokens, max_ctx, fits}],
 * gpu{name, memory_bytes, bandwidth_bytes_s, price_hour}, gpus_needed, tp,
 * ctx, batch, util, tok_s_bound, tok_s_bound_ctx, cost_per_hour,
 * cost_per_mtok.  The same for qtune deploy --json and the daemon's deploy. */
cJSON *qt_deploy_json(cJSON *into, const struct qt_deploy *d, const struct qt_gpu *g);

/* A written checkpoint (qtune quantize --json, the quantize job's report):
 * out, modules_quantized, tensors_kept, shards, bytes_source,
 * bytes_written, seconds, backend ("cpu" | "cuda": where it quantized). */
cJSON *qt_write_json(cJSON *into, const char *out, const struct qt_write_result *wr);

/* The planner (qtune plan --json, the plan job's report): fixed_bytes,
 * planned_params, min_bytes, max_bytes, kappa, candidates[], units[{name,
 * kind, layer, params}], plan{bytes, bpw, sum_dkl, predicted_kl,
 * lower_bound_sum_dkl, units[{name, kind, layer, scheme, bytes, dkl}]}
 * (sol NULL: none), curve[{bytes, bpw, sum_dkl, predicted_kl[, choice[]]}],
 * uniform[{bytes, bpw, sum_dkl, predicted_kl, scheme,
 * measured_kl_dkl_text}] (cv NULL: none), dkl{the ΔKL table,
 * qt_plan_dkl_json}.  choices: add each curve point's candidate index per
 * unit. */
cJSON *qt_plan_json(cJSON *into, const struct qt_plan *p, const struct qt_plan_solution *sol,
                    const struct qt_plan_curve *cv, int choices);

#endif
