/* gguf_write.h — writing a model as a GGUF v3 file that llama.cpp loads
 * (architecture glm4moe), beside the compressed-tensors writer (writer.h).
 *
 * What is written (as convert_hf_to_gguf.py's Glm4MoeModel, then
 * llama-quantize, would write it):
 *   keys     general.* (architecture, type, name, file_type,
 *            quantization_version), glm4moe.* hyper-parameters incl.
 *            nextn_predict_layers, the tokenizer (gpt2 BPE: tokens, token
 *            types, merges, pre "glm4", bos/eos/eot/eom/unk/pad ids) and the
 *            chat template of tokenizer_config.json;
 *   tensors  llama.cpp's names (gguf.h), routed experts stacked into 3-D
 *            ffn_{gate,up,down}_exps, the MTP layer as blk.N.nextn.*, types
 *            from a plan (gguf_plan.h), importance-weighted when an imatrix
 *            is given.
 * Above max_split_bytes of tensor data the file is split the way gguf-split
 * does it: OUT-00001-of-0000N.gguf ..., the keys in the first, split.no /
 * split.count / split.tensors.count in each.
 * Every file is written as NAME.partial-XXXXXX and renamed when all are
 * complete; a failure or cancellation removes them and leaves OUT as it was. */
#ifndef QT_GGUF_WRITE_H
#define QT_GGUF_WRITE_H
#include <stdint.h>

#include <cJSON.h>

#include "base/qt.h"
#include "io/writer.h"
#include "model/model.h"
#include "recipe/gguf_plan.h"

/* Importance vectors by GGUF tensor name: for a tensor of row length K with
 * E stacked experts, E*K values (expert e's at e*K), as llama-quantize takes
 * them from an imatrix file. */
struct qt_imatrix {
    int n;
    char **name;              /* (n) GGUF tensor names */
    int64_t *len;             /* (n) values of each */
    float **v;                /* (n) the values (mean of x² per input column) */
    char *source;             /* file or "calibration" (reported) */
};
void qt_imatrix_free(struct qt_imatrix *im);
/* The values for a tensor, NULL when absent. */
const float *qt_imatrix_find(const struct qt_imatrix *im, const char *name, int64_t *len);
/* Reads llama.cpp's imatrix files: the legacy binary .dat (llama-imatrix
 * before the GGUF format: i32 n_entries, then per entry i32 name length,
 * name, i32 ncall, i32 nval, f32 values[nval] (sums divided by ncall), then
 * i32 chunks and the data set name), or the GGUF imatrix (general.type
 * "imatrix": per tensor NAME.in_sum2 F32 [ne0, n_mat] and NAME.counts F32
 * [1, n_mat]; value = in_sum2 / counts).  One-line errors on bad input. */
int qt_imatrix_load(const char *path, struct qt_imatrix *im, qt_err *err);

/* Importance vectors from qtune's calibration statistics (eval/calib.h:
 * E[x_j²] per input column, llama-imatrix's sum / count) for every
 * quantizable tensor of plan p; stacked experts get one slice per expert,
 * 1.0 for an expert no token was routed to (as llama.cpp reads a zero count).
 * Tensors without statistics (the output head) get none. */
struct qt_calib;
int qt_imatrix_from_calib(const struct qt_model *m, const struct qt_calib *c, const struct qt_gguf_plan *p,
                          struct qt_imatrix *im, qt_err *err);

struct qt_gguf_write_params {
    const char *out;              /* OUT.gguf */
    uint64_t max_split_bytes;     /* 0: one file */
    int force;                    /* replace existing output files */
    const struct qt_imatrix *imatrix;   /* NULL: none */
    const char *recipe_path;      /* recorded as qtune.recipe, may be NULL */
    qt_write_progress_fn progress;
    void *progress_ud;
    const volatile int *cancel;
    int threads;                  /* quantizing threads, 0: online CPUs (at most 8) */
};

/* Writes m under plan p.  res (may be NULL): n_quantized = tensors written
 * in a quantized type, n_kept = the others, n_shards = files, bytes.  On
 * error nothing is left behind and err says why in one line. */
int qt_gguf_write(const struct qt_model *m, const struct qt_gguf_plan *p, const struct qt_gguf_write_params *wp,
                  struct qt_write_result *res, qt_err *err);

/* The i-th file name of an n-file set for OUT ("x.gguf" -> "x-00002-of-00003.gguf";
 * n == 1: OUT itself). */
void qt_gguf_split_path(const char *out, int i, int n, char *buf, size_t len);

/* What a GGUF write did, as `qtune quantize --json` and the quantize job's
 * report give it: out (first, the file llama.cpp is given), format, ftype
 * (when not NULL), tensor counts, files, bytes, bpw, seconds.  The caller
 * owns the object. */
cJSON *qt_gguf_result_json(const char *first, const char *ftype, const struct qt_gguf_plan *p,
                           const struct qt_write_result *r);

#endif
