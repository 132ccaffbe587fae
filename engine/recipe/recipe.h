/* recipe.h — llm-compressor recipes: YAML in and out, a parsed view of the
 * quantization they describe, resolution of every tensor of a model through
 * it, and the edits the TUI makes.
 *
 * The YAML tree (struct qt_yaml) is the source of truth: edits change the tree
 * and the parsed view (modifiers, groups, patterns) is rebuilt from it, so
 * arguments qtune does not model are written back unchanged.
 *
 * Accepted layouts (as llm-compressor accepts them):
 *   STAGE_stage: { GROUP_modifiers: { ModifierClass: {args} , ... } , ... }
 *   GROUP_modifiers: { ModifierClass: {args} }          (no stage)
 *   ModifierClass: {args}                               (one modifier)
 *   - ModifierClass: {args}                             (a list of modifiers)
 *
 * Quantization modifiers (QuantizationModifier, GPTQModifier, AWQModifier)
 * describe config groups in one of three forms (presets and schemes are
 * engine/scheme.h's):
 *   scheme: W4A16            + targets (default [Linear])
 *   scheme: {W4A16: [targets], W8A16: [targets]}
 *   config_groups: {group_0: {targets, weights: {QuantizationArgs},
 *                             input_activations: {QuantizationArgs}}}
 * plus `ignore` and `kv_cache_scheme`. */
/* Folder recipe/ (docs/architecture.md): what the user asks for — recipes
 * (parse, resolve, edit, the modifier table), the recipe tree and edit
 * intents, lint (what vLLM would refuse), deployment estimates, GGUF plans.
 * Works on descriptions only (no weights are read); includes base/, quant/,
 * model/ and backend/. */
#ifndef QT_RECIPE_H
#define QT_RECIPE_H
#include <stddef.h>

#include "model/match.h"
#include "model/model.h"
#include "base/qt.h"
#include "quant/scheme.h"
#include "base/yamltree.h"

/* What a modifier runs.  qtune previews every quantizing algorithm as
 * round-to-nearest until it implements it (qt_algo_runnable). */
enum qt_algo { QT_ALGO_NONE, QT_ALGO_RTN, QT_ALGO_GPTQ, QT_ALGO_AWQ, QT_ALGO_SMOOTHQUANT,
               QT_ALGO_SPARSEGPT, QT_ALGO_AUTOROUND, QT_ALGO_OTHER };

const char *qt_algo_name(enum qt_algo a);   /* "RTN", "GPTQ", ...; "none" */
int qt_algo_runnable(enum qt_algo a);       /* 1 when the preview runs it for real */
int qt_algo_quantize_runs(enum qt_algo a);  /* 1 when `qtune quantize` runs it */

/* One config group: a set of targets and the scheme they get. */
struct qt_rgroup {
    char *name;               /* config_groups key, or the preset name */
    int mod;                  /* index into recipe->mods */
    int n_targets;
    struct qt_pattern *targets;   /* (n_targets) */
    int *target_hits;             /* (n_targets) modules matched, set by resolve */
    struct qt_scheme s;       /* from its weights / input_activations QuantizationArgs
                                 (bf16 when the group quantizes no weights) */
    char actorder[16];        /* GPTQ activation order: "", "static", "group", "weight" */
    char scheme[QT_SCHEME_STR_MAX];  /* canonical string of s, e.g. "int8-ch-sym+aint8-tok" */
};

struct qt_modifier {
    char *stage;              /* "quant_stage", NULL when the recipe has no stages */
    char *list;               /* "quant_modifiers", NULL when absent */
    char *type;               /* "GPTQModifier" */
    enum qt_algo algo;
    int quantizes;            /* 1 for Quantization/GPTQ/AWQ modifiers */
    struct qt_yaml *args;     /* borrowed: the modifier's map in recipe->root */
    int n_ignore;
    struct qt_pattern *ignore;    /* (n_ignore) */
    int *ignore_hits;             /* (n_ignore) modules matched, set by resolve */
    int first_group, n_groups;    /* its groups in recipe->groups */
    int n_sparse_targets;         /* SparseGPTModifier targets */
    struct qt_pattern *sparse_targets;  /* (n_sparse_targets) */
    double sparsity;          /* SparseGPT: fraction of zeros */
    char mask[16];            /* SparseGPT: "2:4" or "" */
    double smoothing;         /* SmoothQuant smoothing_strength */
    int kv_bits;              /* kv_cache_scheme num_bits, 0 when absent */
    char kv_type[8];          /* kv_cache_scheme type ("float" | "int") */
    char kv_strategy[16];     /* kv_cache_scheme strategy ("tensor" when omitted) */
    int kv_sym;               /* kv_cache_scheme symmetric (1 when omitted) */
};

struct qt_recipe {
    char *path;               /* file it was loaded from / saved to, may be NULL */
    char *header;             /* lines written before the document ("" if none; the
                                 recipe's own comments are kept in root) */
    struct qt_yaml *root;     /* the document */
    int n_mods;
    struct qt_modifier *mods;     /* (n_mods) in file order */
    int n_groups;
    struct qt_rgroup *groups;     /* (n_groups) in file order */
};

/* Parses a recipe from text; fname names it in errors ("<fname>:<line>:<col>:
 * <why>").  Caller frees with qt_recipe_free. */
int qt_recipe_parse(const char *text, size_t len, const char *fname, struct qt_recipe **out,
                    qt_err *err);
int qt_recipe_load(const char *path, struct qt_recipe **out, qt_err *err);
/* An empty recipe: quant_stage / quant_modifiers / QuantizationModifier with
 * ignore: [lm_head] and no groups. */
int qt_recipe_new(struct qt_recipe **out, qt_err *err);
void qt_recipe_free(struct qt_recipe *r);

/* The recipe as YAML (header first, then the document with every comment
 * of the source that survived the edits); caller frees. */
char *qt_recipe_dump(const struct qt_recipe *r, size_t *len, qt_err *err);
/* Writes the recipe atomically (temp file, fsync, rename). */
int qt_recipe_save(const struct qt_recipe *r, const char *path, qt_err *err);

/* ---- edits (for the TUI); each keeps the recipe valid or fails unchanged ---- */

/* Gives the modules that `target` (a pattern) names the scheme S (a preset
 * such as W4A16 or a canonical scheme string; "bf16" = keep): removes target
 * from every group of the first quantization modifier, then adds it to a
 * config group with that scheme (creating "group_N") or, for bf16, to
 * `ignore`.  A modifier written with `scheme:` is rewritten as config_groups.
 * As in compressed-tensors, another ignore pattern that matches the modules
 * still wins; the resolution's ignored_by says which, for the TUI to show. */
int qt_recipe_set_scheme(struct qt_recipe *r, const char *target, const char *scheme, qt_err *err);
/* Same, and with the model: when a regex target would lose some of its
 * modules to another group's regex that compressed-tensors ranks first (at
 * equal strength the target text that sorts first wins), the target is
 * replaced by the exact names of the modules it matches, which beat every
 * regex.  For the TUI's node edits, so that an edit does what it says. */
int qt_recipe_set_scheme_on(struct qt_recipe *r, const struct qt_model *m, const char *target,
                            const char *scheme, qt_err *err);
/* Adds / removes an ignore pattern of the first quantization modifier.
 * Adding an existing pattern or removing a missing one is not an error. */
int qt_recipe_add_ignore(struct qt_recipe *r, const char *pattern, qt_err *err);
int qt_recipe_remove_ignore(struct qt_recipe *r, const char *pattern, qt_err *err);
/* Rebuilds the parsed view from r->root after a direct tree edit. */
int qt_recipe_reparse(struct qt_recipe *r, qt_err *err);

/* ---- resolution ---- */

/* What the recipe does to one tensor. */
struct qt_resolved {
    int quantized;            /* 1 when a config group's scheme applies */
    int group;                /* recipe->groups index, -1 when kept */
    int mod;                  /* recipe->mods index that chose it, -1 */
    enum qt_match_kind how;   /* strength of the winning target match */
    int target;               /* index of the winning target in its group, -1 */
    int ignored_by_mod;       /* modifier whose ignore list excluded it, -1 */
    int ignored_by;           /* index in that modifier's ignore list, -1 */
    int ambiguous_group;      /* another group matching at the same strength, -1 */
    enum qt_algo algo;        /* algorithm of the choosing modifier */
    enum qt_algo preview_algo;/* what qtune runs for it (RTN when algo is not runnable) */
    int sparse;               /* a SparseGPT modifier targets it */
    int sparse_mod;           /* the last such modifier (recipe->mods index), -1 */
    int named;                /* a quantizing target names it, not ignored, but it is not
                                 quantizable (the router): kept; lint QT004 reports it */
    const char *scheme;       /* canonical scheme, "bf16" when kept; points into recipe */
    const struct qt_scheme *s;/* the group's scheme, NULL when kept */
    const char *actorder;     /* the group's activation order, "" when kept */
};

struct qt_resolution {
    int n;                    /* model->n_tensors */
    struct qt_resolved *t;    /* (n) */
    int n_quantized;          /* tensors given a scheme */
};

/* Resolves every tensor of m through r.  Only quantizable tensors
 * (qt_tensor_quantizable: 2-D ".weight" of a Linear, embedding or unknown
 * module, never the router) can be quantized; the router, norms and biases
 * are matched (for pattern counts and lint) but always kept.  Within a
 * modifier, as compressed-tensors' match_targets: the strongest match wins
 * (exact > regex > class); at equal strength the target whose text sorts
 * first, and the same text in two groups goes to the later group;
 * ambiguous_group is set when another group matched at the same strength.
 * Across modifiers the later modifier wins.  Fills r's target_hits/ignore_hits
 * (modules matched per pattern).  Caller frees with qt_resolution_free. */
int qt_recipe_resolve(struct qt_recipe *r, const struct qt_model *m, struct qt_resolution *out,
                      qt_err *err);
void qt_resolution_free(struct qt_resolution *res);
/* Resolves tensor ti of m alone, as qt_recipe_resolve would (without
 * counting pattern hits), into o when o is not NULL.  Returns its scheme
 * ("bf16" when kept, or for an out-of-range ti); the string points into r
 * and lives until r is next edited.  For edits that check a few tensors. */
const char *qt_recipe_resolve_tensor(struct qt_recipe *r, const struct qt_model *m, int ti, struct qt_resolved *o);

#endif
