/* ct_read.h — reading compressed-tensors checkpoints (what qtune quantize and
 * llm-compressor write): each quantized module P (P.weight_packed /
 * P.weight_scale / P.weight_shape / P.weight_zero_point, or an I8 / F8
 * P.weight with P.weight_scale) appears to the rest of the engine as one
 * logical tensor P.weight of its original shape and the scale dtype, whose
 * rows qt_tensor_read_f32 returns dequantized exactly as the quantizer
 * computes w' = rnd((q - zp) · s).  The stored parts are hidden. */
#ifndef QT_CT_READ_H
#define QT_CT_READ_H
#include <stdint.h>

#include "model/arch.h"
#include "model/model.h"
#include "base/qt.h"

/* Called by the loader on the raw tensor list before roles and sorting: when
 * config.json (cfg_path) has a compressed-tensors quantization_config,
 * replaces each quantized module's parts with its logical weight and stores
 * the module table in m->ct.  No-op for other models. */
int qt_ct_attach(struct qt_model *m, struct qt_tensor_list *l, const char *cfg_path, qt_err *err);
void qt_ct_free(void *ct);

/* Rows [row0, row0+nrows) of a logical tensor (t->ct != 0), dequantized. */
int qt_ct_read_f32(const struct qt_model *m, const struct qt_tensor *t, int64_t row0, int64_t nrows,
                   float *out, qt_err *err);

/* What the checkpoint says about t: its canonical scheme string
 * ("int4-g128-sym", ...), its compressed-tensors format and config group;
 * returns 0 when t is not a quantized module's weight. */
int qt_ct_info(const struct qt_model *m, const struct qt_tensor *t, const char **scheme,
               const char **format, const char **group);

/* The checkpoint's top-level format ("pack-quantized", "mixed-precision"...)
 * or NULL when m is not a compressed-tensors checkpoint. */
const char *qt_ct_format(const struct qt_model *m);

#endif
