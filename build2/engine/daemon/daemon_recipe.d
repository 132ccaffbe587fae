build2/engine/daemon/daemon_recipe.o: engine/daemon/daemon_recipe.c \
 engine/daemon/daemon_ops.h /usr/include/cjson/cJSON.h \
 engine/daemon/daemon.h engine/base/qt.h engine/daemon/proto.h \
 engine/recipe/deploy.h engine/model/model.h engine/base/dtype.h \
 engine/recipe/recipe.h engine/model/match.h engine/quant/scheme.h \
 engine/base/yamltree.h engine/recipe/edit.h engine/recipe/tree.h \
 engine/base/hmap.h engine/recipe/lint.h engine/io/report.h \
 engine/eval/eval.h engine/eval/forward.h engine/backend/cuda/cuda.h \
 engine/quant/quant.h engine/eval/sensitivity.h engine/eval/qplan.h \
 engine/io/writer.h sessions/session.h
engine/daemon/daemon_ops.h:
/usr/include/cjson/cJSON.h:
engine/daemon/daemon.h:
engine/base/qt.h:
engine/daemon/proto.h:
engine/recipe/deploy.h:
engine/model/model.h:
engine/base/dtype.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
engine/recipe/edit.h:
engine/recipe/tree.h:
engine/base/hmap.h:
engine/recipe/lint.h:
engine/io/report.h:
engine/eval/eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/quant/quant.h:
engine/eval/sensitivity.h:
engine/eval/qplan.h:
engine/io/writer.h:
sessions/session.h:
