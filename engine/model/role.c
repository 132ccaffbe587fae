/* role.c — the role table (model.h's QT_ROLES rows) and the one definition
 * of a quantizable tensor. */
#include <string.h>

#include "model/model.h"

static const struct qt_role_traits role_traits[QT_ROLE_COUNT] = {
#define QT_ROLE_ROW(id, nm, cls, tp, in, isc, flags) {nm, QT_CLS_##cls, QT_TP_##tp, QT_IN_##in, isc, flags},
    QT_ROLES(QT_ROLE_ROW)
#undef QT_ROLE_ROW
};

const struct qt_role_traits *qt_role_traits(enum qt_role r) {
    return &role_traits[(r >= 0 && r < QT_ROLE_COUNT) ? r : QT_ROLE_OTHER];
}

const char *qt_role_name(enum qt_role r) {
    return (r >= 0 && r < QT_ROLE_COUNT) ? role_traits[r].name : "?";
}

int qt_role_is_linear(enum qt_role r) {
    return (r >= 0 && r < QT_ROLE_COUNT) && role_traits[r].cls == QT_CLS_LINEAR;
}

int qt_role_has(enum qt_role r, int flags) {
    return (r >= 0 && r < QT_ROLE_COUNT) && (role_traits[r].flags & flags) == flags;
}

int qt_role_input_scale_class(enum qt_role r) { return qt_role_traits(r)->isc; }

int qt_tensor_quantizable(const struct qt_tensor *t) {
    return t->ndim == 2 && qt_role_has(t->role, QT_RF_QUANT) && qt_str_ends_with(t->name, ".weight");
}
