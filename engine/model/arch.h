/* arch.h — architectures as table rows: how a config implies tensor names and
 * shapes, and how names map to roles.  Private to the model module and tests. */
#ifndef QT_ARCH_H
#define QT_ARCH_H
#include "model/model.h"

enum qt_attn_kind { QT_ATTN_GQA, QT_ATTN_MLA, QT_ATTN_MLA_DSA };
enum qt_moe_kind { QT_MOE_NONE, QT_MOE_GLM, QT_MOE_QWEN, QT_MOE_MIXTRAL };

struct qt_arch {
    const char *model_type;
    enum qt_attn_kind attn;
    int bias_default;          /* q/k/v bias when the config does not say */
    int qk_norm;               /* 0 never, 1 per config use_qk_norm, 2 always */
    enum qt_moe_kind moe;
    const char *experts_key;   /* config key of the routed-expert count */
    const char *moe_inter_key; /* config key of the expert width */
    const char *dense_key;     /* first_k_dense_replace or NULL */
    int has_mtp;               /* reads num_nextn_predict_layers */
    const char *cls;           /* transformers' class prefix ("Glm4Moe": Glm4MoeRMSNorm, ...),
                                  when config.json names no architecture */
};

const struct qt_arch *qt_arch_find(const char *model_type);

/* Parses config.json text into cfg; path is used in messages. */
int qt_config_parse(const char *path, const char *text, struct qt_config *cfg,
                    const struct qt_arch **arch, qt_err *err);

/* Role, layer and expert of a tensor name; returns the role (QT_ROLE_OTHER
 * when nothing matched). */
enum qt_role qt_classify(const char *name, int *layer, int *expert);

/* Appends the tensors a config implies to a growing array (metadata only). */
struct qt_tensor_list {
    struct qt_tensor *v;
    int n, cap;
};
int qt_arch_tensors(const struct qt_arch *a, const struct qt_config *c, struct qt_tensor_list *out, qt_err *err);
int qt_tensor_list_add(struct qt_tensor_list *l, const char *name, enum qt_dtype dt, int ndim,
                       int64_t d0, int64_t d1, int64_t d2);
/* Classifies, sorts and indexes m's tensors and builds its fused groups
 * (the last step of every way of opening a model). */
int qt_model_finish(struct qt_model *m, qt_err *err);
#endif
