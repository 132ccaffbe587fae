/* match.h — compressed-tensors target/ignore matching.
 *
 * A pattern is one entry of a `targets` or `ignore` list:
 *   "re:REGEX"  a Python regex applied with re.match (anchored at the start
 *               only, not at the end) to the module name, i.e. the tensor name
 *               without ".weight";
 *   anything else: an exact module name, or a class name, which matches a
 *               module when it names any class in the module's MRO
 *               (qt_model_classes: "Linear" = every projection including
 *               lm_head and eh_proj, and the router where it is an nn.Linear
 *               (qwen3_moe, mixtral); "Glm4MoeRMSNorm", "Glm4MoeTopkRouter",
 *               "Embedding"; "Module" = everything; container classes such
 *               as Glm4MoeDecoderLayer hold no weight of their own and match
 *               no tensor, as in compressed-tensors, which gives them the
 *               scheme and quantizes nothing).
 * When several patterns match, exact name beats regex beats class: the match
 * functions return that strength so callers can rank groups. */
#ifndef QT_MATCH_H
#define QT_MATCH_H
#include <stddef.h>

#include "model/model.h"
#include "base/qt.h"

/* Strength of a match, higher wins. */
enum qt_match_kind { QT_MATCH_NONE = 0, QT_MATCH_CLASS = 1, QT_MATCH_REGEX = 2, QT_MATCH_EXACT = 3 };

struct qt_pattern {
    char *text;               /* as written, e.g. "re:.*mlp\.gate$" */
    int is_regex;
    void *code;               /* pcre2_code_8 *, NULL for non-regex */
    void *md;                 /* pcre2_match_data_8 * (not thread-safe: one matcher per thread) */
};

/* Compiles text into p.  An invalid regex fails with
 * "pattern 're:(x': <why> at offset N" where N is the offset in the regex
 * (the text after "re:").  Python-only syntax is translated (\Z -> \z;
 * (?P<name>...) is native PCRE2).  Free with qt_pattern_free. */
int qt_pattern_compile(const char *text, struct qt_pattern *p, qt_err *err);
void qt_pattern_free(struct qt_pattern *p);

/* Matches p against a module whose classes are cls (qt_model_classes).
 * Returns the strength of the match (QT_MATCH_NONE when it does not
 * match); for regex matches *end (if not NULL) gets the offset in module
 * where the match ended. */
enum qt_match_kind qt_pattern_match(const struct qt_pattern *p, const char *module,
                                    const struct qt_mclass *cls, size_t *end);

/* 1 when class name name is one of cls's classes (compressed-tensors'
 * _match_class: exact names along the MRO; vLLM's LinearBase counts as
 * Linear). */
int qt_class_in(const char *name, const struct qt_mclass *cls);

/* 1 when text names a class (starts with an upper-case letter and has no '.'),
 * i.e. is not meant as a module name. */
int qt_pattern_is_class(const char *text);

/* Module name of a tensor as compressed-tensors sees it: the name without
 * ".weight"/".bias", and the router's e_score_correction_bias belongs to the
 * router module.  Writes into buf (size n) and returns buf. */
char *qt_match_module(const struct qt_tensor *t, char *buf, size_t n);

/* A PCRE2 regex searched in names (preview's --filter, the filter of the
 * daemon's tensors and resolve ops).  re NULL: *out NULL, which matches
 * every name.  A bad regex fails with "<why> at offset N". */
struct qt_name_filter;
int qt_name_filter_open(const char *re, struct qt_name_filter **out, qt_err *err);
int qt_name_filter_match(const struct qt_name_filter *f, const char *name);
void qt_name_filter_free(struct qt_name_filter *f);

#endif
