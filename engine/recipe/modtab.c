/* modtab.c — llm-compressor's modifier classes and their fields (read from
 * llm-compressor's pydantic models: Modifier, QuantizationMixin and each
 * class's own fields; deprecated fields older releases accepted are kept so
 * that their recipes still load). */
#include "recipe/modtab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Modifier's own fields (llm-compressor modifiers/modifier.py) */
static const char BASE_FIELDS[] = "index group start end update requires_calibration_data";
/* QuantizationMixin (modifiers/quantization/quantization/mixin.py) */
static const char QMIX_FIELDS[] =
    "config_groups targets ignore scheme kv_cache_scheme weight_observer input_observer "
    "output_observer observer bypass_divisibility_checks";

static const struct qt_modclass CLASSES[] = {
    {"QuantizationModifier", QT_ALGO_RTN, 1, ""},
    {"GPTQModifier", QT_ALGO_GPTQ, 1,
     "block_size dampening_frac actorder offload_hessians sequential_targets sequential_update"},
    /* the transform (mappings, duo_scaling, n_grid) and, in the older one-modifier
     * form, quantization arguments; clip_search is qtune's (llm-awq's clipping), search_samples
     * too (the calibration samples the scale search scores) */
    {"AWQModifier", QT_ALGO_AWQ, 1, "mappings offload_device duo_scaling n_grid sequential_targets clip_search search_samples"},
    {"AutoRoundModifier", QT_ALGO_AUTOROUND, 1,
     "iters enable_torch_compile batch_size lr device_ids disable_opt_rtn sequential_targets"},
    {"SmoothQuantModifier", QT_ALGO_SMOOTHQUANT, 0,
     "smoothing_strength mappings ignore num_calibration_steps calibration_function"},
    {"SparseGPTModifier", QT_ALGO_SPARSEGPT, 0,
     "sparsity sparsity_profile mask_structure owl_m owl_lmbda sequential_update targets ignore block_size "
     "dampening_frac preserve_sparsity_mask offload_hessians sequential_targets"},
    {"WandaPruningModifier", QT_ALGO_OTHER, 0,
     "sparsity sparsity_profile mask_structure owl_m owl_lmbda sequential_update targets ignore sequential_targets"},
    {"MagnitudePruningModifier", QT_ALGO_OTHER, 0,
     "targets init_sparsity final_sparsity update_scheduler scheduler_args mask_structure leave_enabled apply_globally"},
    {"ConstantPruningModifier", QT_ALGO_OTHER, 0, "targets"},
    {"REAPPruningModifier", QT_ALGO_OTHER, 0, "sparsity ignore report_path"},
    {"LogarithmicEqualizationModifier", QT_ALGO_OTHER, 0,
     "smoothing_strength mappings ignore num_calibration_steps calibration_function"},
    {"QuIPModifier", QT_ALGO_OTHER, 0,
     "rotations transform_type targets randomize learnable precision transform_block_size ignore transform_config"},
    {"SpinQuantModifier", QT_ALGO_OTHER, 0,
     "rotations transform_type randomize learnable precision transform_block_size mappings norm_mappings "
     "transform_config"},
};
#define N_CLASSES (sizeof CLASSES / sizeof CLASSES[0])

/* compressed-tensors QuantizationScheme and QuantizationArgs */
static const char SCHEME_FIELDS[] = "targets weights input_activations output_activations format";
static const char QARGS_FIELDS[] =
    "num_bits type symmetric group_size strategy block_structure dynamic actorder observer observer_kwargs "
    "scale_dtype zp_dtype";

int qt_name_in_list(const char *list, const char *w) {
    size_t n = strlen(w);
    for (const char *p = list; *p;) {
        while (*p == ' ') p++;
        const char *e = p;
        while (*e && *e != ' ') e++;
        if ((size_t)(e - p) == n && n && !memcmp(p, w, n)) return 1;
        p = e;
    }
    return 0;
}

const struct qt_modclass *qt_modclass_find(const char *name) {
    for (size_t i = 0; i < N_CLASSES; i++)
        if (!strcmp(CLASSES[i].name, name)) return &CLASSES[i];
    return NULL;
}

const char *qt_modclass_fields(const struct qt_modclass *mc, char *buf, size_t cap) {
    snprintf(buf, cap, "%s %s %s", BASE_FIELDS, mc->quant_args ? QMIX_FIELDS : "", mc->fields);
    return buf;
}

const char *qt_scheme_fields(void) { return SCHEME_FIELDS; }
const char *qt_qargs_fields(void) { return QARGS_FIELDS; }

const char *qt_modclass_names(char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < N_CLASSES && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? " " : "", CLASSES[i].name);
    return buf;
}

/* Levenshtein distance of a[0..na) and b[0..nb), case-insensitive, capped at 64. */
static int edit_distance(const char *a, size_t na, const char *b, size_t nb) {
    if (na > 64 || nb > 64) return 99;
    int row[65];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int ca = a[i - 1] | 0x20, cb = b[j - 1] | 0x20;
            int best = diag + (ca != cb);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[nb];
}

const char *qt_nearest_name(const char *s, const char *names, char *buf, size_t cap) {
    size_t ns = strlen(s);
    int best = 99;
    const char *bp = NULL;
    size_t bn = 0;
    for (const char *p = names; *p;) {
        while (*p == ' ') p++;
        const char *e = p;
        while (*e && *e != ' ') e++;
        if (e > p) {
            int d = edit_distance(s, ns, p, (size_t)(e - p));
            if (d < best) { best = d; bp = p; bn = (size_t)(e - p); }
        }
        p = e;
    }
    int limit = (int)ns / 3 > 2 ? (int)ns / 3 : 2;
    if (!bp || best > limit || !cap) return NULL;
    snprintf(buf, cap, "%.*s", (int)bn, bp);
    return buf;
}
