/* modtab.h — the table of llm-compressor modifier classes qtune knows: for
 * each class, the algorithm it runs, whether it carries quantization
 * arguments (llm-compressor's QuantizationMixin), and the fields its pydantic
 * model accepts (every llm-compressor Modifier forbids extra fields, and
 * compressed-tensors' QuantizationScheme / QuantizationArgs do too).  The
 * recipe parser refuses an unknown class or field by this table, naming the
 * nearest valid name, as llm-compressor would refuse the recipe. */
#ifndef QT_MODTAB_H
#define QT_MODTAB_H

#include "recipe/recipe.h"

struct qt_modclass {
    const char *name;         /* "GPTQModifier" */
    enum qt_algo algo;        /* what it runs; QT_ALGO_OTHER for classes qtune only names */
    int quant_args;           /* 1: takes config_groups / scheme / targets / ignore (QuantizationMixin) */
    const char *fields;       /* its own fields, space-separated (base and mixin fields implied) */
};

/* The row of class `name`, or NULL. */
const struct qt_modclass *qt_modclass_find(const char *name);
/* 1 when the space-separated list `names` holds the word w. */
int qt_name_in_list(const char *names, const char *w);

/* The name in the space-separated list `names` nearest to s by edit
 * distance, or NULL when none is close (at most 2 edits, or a third of s). */
const char *qt_nearest_name(const char *s, const char *names, char *buf, size_t cap);
/* The fields class mc accepts, space-separated, into buf (for suggestions). */
const char *qt_modclass_fields(const struct qt_modclass *mc, char *buf, size_t cap);
/* The fields of a config group / of QuantizationArgs, space-separated. */
const char *qt_scheme_fields(void);
const char *qt_qargs_fields(void);
/* Every known modifier class, space-separated, into buf (for suggestions). */
const char *qt_modclass_names(char *buf, size_t cap);

#endif
